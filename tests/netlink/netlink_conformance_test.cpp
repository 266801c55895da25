// NETLINK_ROUTE against the kernel: the same requests go to the kernel, in a private
// network namespace set up like usnet's default world (lo, eth0 10.0.2.15/24 on a veth
// whose peer 10.0.2.2 is in a second namespace, default via 10.0.2.2, IPv6 off since usnet
// has none), and to usnet's netlink sockets on the default world. Each side's answers are
// parsed into lines of stable fields (names, indexes, flags, mtu, addresses, prefixes,
// scopes, routes of every table, error codes, message framing); the lines must be equal.
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/fib_rules.h>
#include <linux/if_arp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "usnet/sim.hpp"
#include "usnet/stack.hpp"

namespace {

// The calls, on the kernel or on a usnet stack; failures return -errno.
struct Calls {
    std::function<int(int, int, int)> socket;
    std::function<int(int, const sockaddr*, socklen_t)> bind;
    std::function<int(int, sockaddr*, socklen_t*)> getsockname;
    std::function<ssize_t(int, const void*, size_t, int, const sockaddr*, socklen_t)> sendto;
    std::function<ssize_t(int, msghdr*, int)> recvmsg;
    std::function<int(int, int, int, const void*, socklen_t)> setsockopt;
    std::function<int(int, int, int, void*, socklen_t*)> getsockopt;
    std::function<short(int)> poll_in;
    std::function<int(int)> close;
};

template <class R>
R neg(R r) {
    return r < 0 ? R(-errno) : r;
}

Calls kernel_calls() {
    Calls c;
    c.socket = [](int d, int t, int p) { return neg(::socket(d, t, p)); };
    c.bind = [](int fd, const sockaddr* a, socklen_t l) { return neg(::bind(fd, a, l)); };
    c.getsockname = [](int fd, sockaddr* a, socklen_t* l) { return neg(::getsockname(fd, a, l)); };
    c.sendto = [](int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) { return neg(::sendto(fd, b, n, f, a, l)); };
    c.recvmsg = [](int fd, msghdr* m, int f) { return neg(::recvmsg(fd, m, f)); };
    c.setsockopt = [](int fd, int lv, int n, const void* v, socklen_t l) { return neg(::setsockopt(fd, lv, n, v, l)); };
    c.getsockopt = [](int fd, int lv, int n, void* v, socklen_t* l) { return neg(::getsockopt(fd, lv, n, v, l)); };
    c.poll_in = [](int fd) {
        pollfd p{fd, POLLIN | POLLOUT, 0};
        ::poll(&p, 1, 0);
        return p.revents;
    };
    c.close = [](int fd) { return neg(::close(fd)); };
    return c;
}

Calls usnet_calls(usnet::Stack& s) {
    Calls c;
    c.socket = [&s](int d, int t, int p) { return neg(s.socket(d, t, p)); };
    c.bind = [&s](int fd, const sockaddr* a, socklen_t l) { return neg(s.bind(fd, a, l)); };
    c.getsockname = [&s](int fd, sockaddr* a, socklen_t* l) { return neg(s.getsockname(fd, a, l)); };
    c.sendto = [&s](int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) { return neg(s.sendto(fd, b, n, f, a, l)); };
    c.recvmsg = [&s](int fd, msghdr* m, int f) { return neg(s.recvmsg(fd, m, f)); };
    c.setsockopt = [&s](int fd, int lv, int n, const void* v, socklen_t l) { return neg(s.setsockopt(fd, lv, n, v, l)); };
    c.getsockopt = [&s](int fd, int lv, int n, void* v, socklen_t* l) { return neg(s.getsockopt(fd, lv, n, v, l)); };
    c.poll_in = [&s](int fd) {
        pollfd p{fd, POLLIN | POLLOUT, 0};
        s.poll(&p, 1, 0);
        return p.revents;
    };
    c.close = [&s](int fd) { return neg(s.close(fd)); };
    return c;
}

std::string ip(const void* p) {
    char b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, p, b, sizeof b);
    return b;
}

// A request: header, family header, attributes.
struct Request {
    std::vector<uint8_t> b;
    template <class T>
    Request(uint16_t type, uint16_t flags, const T& fam, uint32_t seq) {
        nlmsghdr h{};
        h.nlmsg_type = type;
        h.nlmsg_flags = uint16_t(flags | NLM_F_REQUEST);
        h.nlmsg_seq = seq;
        put(&h, sizeof h);
        put(&fam, sizeof fam);
    }
    void put(const void* p, size_t n) {
        const auto* c = static_cast<const uint8_t*>(p);
        b.insert(b.end(), c, c + n);
        b.resize(NLMSG_ALIGN(b.size()), 0);
    }
    void attr(uint16_t type, const void* p, size_t n) {
        rtattr a{uint16_t(RTA_LENGTH(n)), type};
        put(&a, sizeof a);
        put(p, n);
    }
    void attr_u32(uint16_t type, uint32_t v) { attr(type, &v, 4); }
    void attr_ip(uint16_t type, const char* a) {
        in_addr x{};
        inet_pton(AF_INET, a, &x);
        attr(type, &x, 4);
    }
    void attr_str(uint16_t type, const char* s) { attr(type, s, std::strlen(s) + 1); }
    const std::vector<uint8_t>& done() {
        const uint32_t len = uint32_t(b.size());
        std::memcpy(b.data(), &len, 4);
        return b;
    }
};

// Runs the requests through `c` and renders what came back.
class Session {
public:
    explicit Session(Calls c) : c_(std::move(c)) {}

    std::string run() {
        fd_ = c_.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        line("socket " + std::to_string(fd_ >= 0 ? 0 : fd_));
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        line("bind short " + std::to_string(c_.bind(fd_, reinterpret_cast<sockaddr*>(&sa), 8)));
        sockaddr_in in{};
        in.sin_family = AF_INET;
        line("bind AF_INET " + std::to_string(c_.bind(fd_, reinterpret_cast<sockaddr*>(&in), sizeof in)));
        line("poll before " + std::to_string(c_.poll_in(fd_)));
        line("bind " + std::to_string(c_.bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa)));
        sockaddr_nl me{};
        socklen_t ml = sizeof me;
        const int gn = c_.getsockname(fd_, reinterpret_cast<sockaddr*>(&me), &ml);  // (before its results are read)
        line("getsockname " + std::to_string(gn) + " len " +
             std::to_string(ml) + " family " + std::to_string(me.nl_family) + " pid is getpid " +
             std::to_string(me.nl_pid == uint32_t(getpid())));
        pid_ = me.nl_pid;
        sockaddr_nl other{AF_NETLINK, 0, pid_, 0};
        const int fd2 = c_.socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
        line("bind taken pid " + std::to_string(c_.bind(fd2, reinterpret_cast<sockaddr*>(&other), sizeof other)));
        c_.close(fd2);
        line("socket NETLINK_ROUTE SOCK_STREAM " + std::to_string(c_.socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE)));
        const int one = 1;
        line("setsockopt EXT_ACK " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one)));
        line("setsockopt short " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, 2)));
        line("setsockopt unknown " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, 99, &one, sizeof one)));
        int v = -1;
        socklen_t vl = sizeof v;
        int rc = c_.getsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &v, &vl);
        line("getsockopt EXT_ACK " + std::to_string(rc) + " = " + std::to_string(v));
        vl = sizeof v;
        rc = c_.getsockopt(fd_, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
        line("getsockopt SO_PROTOCOL " + std::to_string(rc) + " = " + std::to_string(v));

        // Multicast groups are accepted (and listed) though usnet sends no notifications.
        const int grp = RTNLGRP_IPV4_IFADDR, bad_grp = 0;
        line("add membership " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof grp)));
        line("add membership 0 " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &bad_grp, sizeof bad_grp)));
        sockaddr_nl gs{};
        socklen_t gl = sizeof gs;
        rc = c_.getsockname(fd_, reinterpret_cast<sockaddr*>(&gs), &gl);
        line("getsockname groups " + std::to_string(rc) + " 0x" + std::to_string(gs.nl_groups));
        uint32_t groups[4] = {};
        socklen_t glen = sizeof groups;
        rc = c_.getsockopt(fd_, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &glen);
        line("list memberships " + std::to_string(rc) + " word0 " + std::to_string(groups[0]));
        line("drop membership " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &grp, sizeof grp)));

        // Dumps.
        ifinfomsg ifi{};
        dump("links", Request(RTM_GETLINK, NLM_F_DUMP, ifi, 10).done());
        ifaddrmsg ifa{};
        ifa.ifa_family = AF_INET;
        dump("addresses", Request(RTM_GETADDR, NLM_F_DUMP, ifa, 11).done());
        ifa.ifa_family = AF_INET6;
        dump("IPv6 addresses", Request(RTM_GETADDR, NLM_F_DUMP, ifa, 12).done());
        rtmsg rtm{};
        rtm.rtm_family = AF_INET;
        dump("routes", Request(RTM_GETROUTE, NLM_F_DUMP, rtm, 13).done());
        ndmsg nd{};
        nd.ndm_family = AF_INET;
        dump("neighbours", Request(RTM_GETNEIGH, NLM_F_DUMP, nd, 14).done());
        fib_rule_hdr frh{};
        frh.family = AF_INET;
        dump("rules", Request(RTM_GETRULE, NLM_F_DUMP, frh, 15).done());
        ifaddrmsg pkt{};
        pkt.ifa_family = AF_PACKET;
        dump("addresses of family AF_PACKET", Request(RTM_GETADDR, NLM_F_DUMP, pkt, 16).done());
        ndmsg nd6{};
        nd6.ndm_family = AF_INET6;
        dump("IPv6 neighbours", Request(RTM_GETNEIGH, NLM_F_DUMP, nd6, 17).done());

        // One device, by name and by index.
        {
            Request r(RTM_GETLINK, 0, ifi, 20);
            r.attr_str(IFLA_IFNAME, "eth0");
            dump("getlink eth0", r.done());
            ifinfomsg by{};
            by.ifi_index = 1;
            dump("getlink 1", Request(RTM_GETLINK, 0, by, 21).done());
            by.ifi_index = 99;
            dump("getlink 99", Request(RTM_GETLINK, 0, by, 22).done());
            Request n(RTM_GETLINK, 0, ifi, 23);
            n.attr_str(IFLA_IFNAME, "nosuch0");
            dump("getlink nosuch0", n.done());
        }

        // Changes, acked.
        ifaddrmsg add{};
        add.ifa_family = AF_INET;
        add.ifa_prefixlen = 24;
        add.ifa_index = 2;
        {
            Request r(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, add, 30);
            r.attr_ip(IFA_LOCAL, "10.0.2.20");
            r.attr_ip(IFA_ADDRESS, "10.0.2.20");
            dump("newaddr 10.0.2.20/24", r.done());
            dump("newaddr again", r.done());
        }
        ifa.ifa_family = AF_INET;
        dump("addresses after add", Request(RTM_GETADDR, NLM_F_DUMP, ifa, 31).done());
        dump("routes after add", Request(RTM_GETROUTE, NLM_F_DUMP, rtm, 32).done());
        {
            ifaddrmsg bad = add;
            bad.ifa_index = 99;
            Request r(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, bad, 33);
            r.attr_ip(IFA_LOCAL, "10.0.2.21");
            dump("newaddr on index 99", r.done());
            Request d(RTM_DELADDR, NLM_F_ACK, add, 34);
            d.attr_ip(IFA_LOCAL, "10.0.2.20");
            d.attr_ip(IFA_ADDRESS, "10.0.2.20");
            dump("deladdr 10.0.2.20", d.done());
            dump("deladdr again", d.done());
        }
        rtmsg nr{};
        nr.rtm_family = AF_INET;
        nr.rtm_dst_len = 16;
        nr.rtm_table = RT_TABLE_MAIN;
        nr.rtm_protocol = RTPROT_BOOT;
        nr.rtm_scope = RT_SCOPE_UNIVERSE;
        nr.rtm_type = RTN_UNICAST;
        {
            Request r(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, nr, 40);
            r.attr_ip(RTA_DST, "192.168.0.0");
            r.attr_ip(RTA_GATEWAY, "10.0.2.2");
            r.attr_u32(RTA_OIF, 2);
            r.attr_u32(RTA_PRIORITY, 7);
            dump("newroute 192.168.0.0/16", r.done());
            dump("newroute again", r.done());
            Request p(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, nr, 41);
            p.attr_ip(RTA_DST, "172.16.0.0");
            p.attr_ip(RTA_GATEWAY, "10.0.2.2");
            p.attr_ip(RTA_PREFSRC, "10.0.2.99");
            dump("newroute bad prefsrc", p.done());
            rtmsg bh = nr;
            bh.rtm_type = RTN_BLACKHOLE;
            Request b(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, bh, 42);
            b.attr_ip(RTA_DST, "10.8.0.0");
            dump("newroute blackhole", b.done());
        }
        {
            // The same prefix twice, metrics 7 and 20: a delete names which by metric or gateway.
            Request r(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, nr, 45);
            r.attr_ip(RTA_DST, "192.168.0.0");
            r.attr_ip(RTA_GATEWAY, "10.0.2.3");
            r.attr_u32(RTA_OIF, 2);
            r.attr_u32(RTA_PRIORITY, 20);
            dump("newroute 192.168.0.0/16 metric 20", r.done());
            rtmsg del = nr;
            del.rtm_protocol = 0;
            del.rtm_scope = RT_SCOPE_NOWHERE;
            del.rtm_type = 0;
            Request d(RTM_DELROUTE, NLM_F_ACK, del, 46);
            d.attr_ip(RTA_DST, "192.168.0.0");
            d.attr_ip(RTA_GATEWAY, "10.0.2.9");
            dump("delroute via another gateway", d.done());
            Request d2(RTM_DELROUTE, NLM_F_ACK, del, 47);
            d2.attr_ip(RTA_DST, "192.168.0.0");
            d2.attr_u32(RTA_PRIORITY, 8);
            dump("delroute metric 8", d2.done());
            Request d3(RTM_DELROUTE, NLM_F_ACK, del, 48);
            d3.attr_ip(RTA_DST, "192.168.0.0");
            d3.attr_u32(RTA_PRIORITY, 20);
            dump("delroute metric 20", d3.done());
        }
        dump("routes after newroute", Request(RTM_GETROUTE, NLM_F_DUMP, rtm, 43).done());
        {
            Request d(RTM_DELROUTE, NLM_F_ACK, nr, 44);
            d.attr_ip(RTA_DST, "192.168.0.0");
            dump("delroute", d.done());
            dump("delroute again", d.done());
        }
        {
            ifinfomsg set{};
            set.ifi_index = 2;
            Request m(RTM_NEWLINK, NLM_F_ACK, set, 50);
            m.attr_u32(IFLA_MTU, 1400);
            dump("setlink mtu 1400", m.done());
            Request bad(RTM_NEWLINK, NLM_F_ACK, set, 51);
            bad.attr_u32(IFLA_MTU, 60);
            dump("setlink mtu 60", bad.done());
            ifinfomsg down = set;
            down.ifi_change = IFF_UP;
            dump("setlink down", Request(RTM_NEWLINK, NLM_F_ACK, down, 52).done());
            dump("links after", Request(RTM_GETLINK, NLM_F_DUMP, ifi, 53).done());
            dump("routes after down", Request(RTM_GETROUTE, NLM_F_DUMP, rtm, 54).done());
            down.ifi_flags = IFF_UP;
            dump("setlink up", Request(RTM_NEWLINK, NLM_F_ACK, down, 55).done());
            ifinfomsg none{};
            Request c(RTM_NEWLINK, NLM_F_ACK, none, 56);
            c.attr_str(IFLA_IFNAME, "nosuch0");
            dump("newlink nosuch0", c.done());
        }
        // Requests the kernel refuses.
        dump("type beyond RTM_MAX", Request(RTM_MAX + 1, NLM_F_ACK, ifi, 60).done());
        dump("getaddr without dump", Request(RTM_GETADDR, 0, ifa, 61).done());
        line("setsockopt STRICT_CHK " + std::to_string(c_.setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one)));
        {
            ifinfomsg bad{};
            bad.ifi_index = 1;
            dump("strict link dump with an index", Request(RTM_GETLINK, NLM_F_DUMP, bad, 62).done());
            rtmsg byt{};
            byt.rtm_family = AF_INET;
            byt.rtm_table = RT_TABLE_MAIN;
            dump("strict route dump of main", Request(RTM_GETROUTE, NLM_F_DUMP, byt, 63).done());
            ifaddrmsg by2{};
            by2.ifa_family = AF_INET;
            by2.ifa_index = 1;
            dump("strict address dump of lo", Request(RTM_GETADDR, NLM_F_DUMP, by2, 64).done());
            ifaddrmsg badaddr{};
            badaddr.ifa_family = AF_INET;
            badaddr.ifa_prefixlen = 8;
            dump("strict address dump with a prefix", Request(RTM_GETADDR, NLM_F_DUMP, badaddr, 65).done());
            by2.ifa_index = 99;
            dump("strict address dump of index 99", Request(RTM_GETADDR, NLM_F_DUMP, by2, 66).done());
            rtmsg badrt{};
            badrt.rtm_family = AF_INET;
            badrt.rtm_dst_len = 8;
            dump("strict route dump with a prefix", Request(RTM_GETROUTE, NLM_F_DUMP, badrt, 67).done());
            rtmsg rtoif{};
            rtoif.rtm_family = AF_INET;
            Request ro(RTM_GETROUTE, NLM_F_DUMP, rtoif, 68);
            ro.attr_u32(RTA_OIF, 1);
            dump("strict route dump of lo", ro.done());
            Request rbad(RTM_GETROUTE, NLM_F_DUMP, rtoif, 69);
            rbad.attr_ip(RTA_GATEWAY, "10.0.2.2");
            dump("strict route dump with a gateway", rbad.done());
            ndmsg badnd{};
            badnd.ndm_family = AF_INET;
            badnd.ndm_state = NUD_REACHABLE;
            dump("strict neighbour dump with a state", Request(RTM_GETNEIGH, NLM_F_DUMP, badnd, 70).done());
            ifinfomsg li{};
            Request lbad(RTM_GETLINK, NLM_F_DUMP, li, 71);
            lbad.attr_u32(IFLA_MTU, 1500);
            dump("strict link dump with an mtu", lbad.done());
        }
        // Sizing a datagram as iproute2 does, and a short buffer.
        {
            send(Request(RTM_GETLINK, NLM_F_DUMP, ifi, 70).done());
            line("poll after request " + std::to_string(c_.poll_in(fd_)));
            iovec iov{nullptr, 0};
            msghdr m{};
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            const ssize_t want = c_.recvmsg(fd_, &m, MSG_PEEK | MSG_TRUNC);
            char small[64];
            iovec s{small, sizeof small};
            msghdr m2{};
            m2.msg_iov = &s;
            m2.msg_iovlen = 1;
            const ssize_t got = c_.recvmsg(fd_, &m2, 0);
            line("peek size matches " + std::to_string(want > 64 && want % 4 == 0) + ", short read " + std::to_string(got) +
                 " flags " + std::to_string(m2.msg_flags & MSG_TRUNC));
            drain();
        }
        line("recv empty nonblocking " + std::to_string(recv_raw(MSG_DONTWAIT, nullptr)));
        c_.close(fd_);
        return out_.str();
    }

private:
    void line(const std::string& s) { out_ << s << "\n"; }

    void send(const std::vector<uint8_t>& b) {
        sockaddr_nl k{};
        k.nl_family = AF_NETLINK;
        const ssize_t r = c_.sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&k), sizeof k);
        if (r != ssize_t(b.size())) line("sendto " + std::to_string(r));
    }

    ssize_t recv_raw(int flags, std::vector<uint8_t>* out) {
        std::vector<uint8_t> buf(65536);
        iovec iov{buf.data(), buf.size()};
        sockaddr_nl from{};
        msghdr m{};
        m.msg_name = &from;
        m.msg_namelen = sizeof from;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        const ssize_t r = c_.recvmsg(fd_, &m, flags);
        if (r >= 0 && out) {
            buf.resize(size_t(r));
            *out = std::move(buf);
            if (m.msg_namelen != sizeof from || from.nl_pid != 0) line("  from: unexpected address");
        }
        return r;
    }

    void drain() {
        std::vector<uint8_t> b;
        while (recv_raw(MSG_DONTWAIT, &b) > 0) {
        }
    }

    // Sends one request and renders every message of the answer until it ends (NLMSG_DONE,
    // NLMSG_ERROR, or a single reply).
    void dump(const std::string& what, const std::vector<uint8_t>& req) {
        line("## " + what);
        send(req);
        nlmsghdr rq;
        std::memcpy(&rq, req.data(), sizeof rq);
        const bool multi = (rq.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
        for (bool end = false; !end;) {
            std::vector<uint8_t> b;
            const ssize_t r = recv_raw(MSG_DONTWAIT, &b);
            if (r < 0) {
                line("recv " + std::to_string(r));
                break;
            }
            int len = int(r);
            for (auto* h = reinterpret_cast<nlmsghdr*>(b.data()); NLMSG_OK(h, unsigned(len)); h = NLMSG_NEXT(h, len)) {
                if (h->nlmsg_seq != rq.nlmsg_seq || h->nlmsg_pid != pid_) line("  seq/pid mismatch");
                render(h);
                if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR || !multi) end = true;
            }
        }
        drain();
    }

    void render(const nlmsghdr* h) {
        std::ostringstream o;
        const unsigned fl = h->nlmsg_flags;
        o << "  type " << h->nlmsg_type << " flags 0x" << std::hex << fl << std::dec;
        const auto* d = static_cast<const uint8_t*>(NLMSG_DATA(h));
        if (h->nlmsg_type == NLMSG_ERROR) {
            nlmsgerr e;
            std::memcpy(&e, d, sizeof e);
            o << " error " << e.error << " echoes type " << e.msg.nlmsg_type << " seq " << e.msg.nlmsg_seq;
            // The request's payload comes back unless capped; the extended ack's text after it.
            const size_t echo = (h->nlmsg_flags & NLM_F_CAPPED) ? 0 : NLMSG_ALIGN(e.msg.nlmsg_len - NLMSG_HDRLEN);
            o << " payload " << echo;
            tlv_msg(o, h, NLMSG_HDRLEN + sizeof e + echo);
        } else if (h->nlmsg_type == NLMSG_DONE) {
            int e;
            std::memcpy(&e, d, sizeof e);
            o << " done " << e;
            tlv_msg(o, h, NLMSG_HDRLEN + sizeof e);
        } else if (h->nlmsg_type == RTM_NEWLINK) {
            ifinfomsg m;
            std::memcpy(&m, d, sizeof m);
            const unsigned keep = IFF_UP | IFF_BROADCAST | IFF_LOOPBACK | IFF_RUNNING | IFF_NOARP | IFF_MULTICAST | IFF_LOWER_UP;
            o << " link " << m.ifi_index << " type " << m.ifi_type << " flags 0x" << std::hex << (m.ifi_flags & keep)
              << std::dec;
            attrs(o, reinterpret_cast<const rtattr*>(d + NLMSG_ALIGN(sizeof m)), int(IFLA_PAYLOAD(h)), [&](const rtattr* a, std::ostringstream& x) {
                const void* p = RTA_DATA(a);
                uint32_t u = 0;
                if (RTA_PAYLOAD(a) >= 4) std::memcpy(&u, p, 4);
                switch (a->rta_type) {
                    case IFLA_IFNAME: x << " name " << static_cast<const char*>(p); break;
                    case IFLA_MTU: x << " mtu " << u; break;
                    case IFLA_MIN_MTU: x << " min_mtu " << u; break;
                    case IFLA_MAX_MTU: x << " max_mtu " << u; break;
                    case IFLA_TXQLEN: x << " txqlen " << u; break;
                    case IFLA_OPERSTATE: x << " operstate " << int(*static_cast<const uint8_t*>(p)); break;
                    case IFLA_CARRIER: x << " carrier " << int(*static_cast<const uint8_t*>(p)); break;
                    case IFLA_ADDRESS: x << " addrlen " << RTA_PAYLOAD(a); break;
                    case IFLA_BROADCAST: x << " brdlen " << RTA_PAYLOAD(a); break;
                    case IFLA_STATS64: x << " stats64 " << (RTA_PAYLOAD(a) == sizeof(rtnl_link_stats64)); break;
                    case IFLA_STATS: x << " stats " << (RTA_PAYLOAD(a) == sizeof(rtnl_link_stats)); break;
                    default: break;
                }
            });
        } else if (h->nlmsg_type == RTM_NEWADDR) {
            ifaddrmsg m;
            std::memcpy(&m, d, sizeof m);
            o << " addr index " << m.ifa_index << "/" << int(m.ifa_prefixlen) << " flags 0x" << std::hex << int(m.ifa_flags)
              << std::dec << " scope " << int(m.ifa_scope);
            attrs(o, reinterpret_cast<const rtattr*>(d + NLMSG_ALIGN(sizeof m)), int(IFA_PAYLOAD(h)), [&](const rtattr* a, std::ostringstream& x) {
                const void* p = RTA_DATA(a);
                switch (a->rta_type) {
                    case IFA_ADDRESS: x << " address " << ip(p); break;
                    case IFA_LOCAL: x << " local " << ip(p); break;
                    case IFA_BROADCAST: x << " broadcast " << ip(p); break;
                    case IFA_LABEL: x << " label " << static_cast<const char*>(p); break;
                    case IFA_FLAGS: {
                        uint32_t u;
                        std::memcpy(&u, p, 4);
                        x << " ifa_flags 0x" << std::hex << u << std::dec;
                        break;
                    }
                    case IFA_CACHEINFO: {
                        ifa_cacheinfo ci;
                        std::memcpy(&ci, p, sizeof ci);
                        x << " valid " << ci.ifa_valid << " preferred " << ci.ifa_prefered;
                        break;
                    }
                    default: break;
                }
            });
        } else if (h->nlmsg_type == RTM_NEWROUTE) {
            rtmsg m;
            std::memcpy(&m, d, sizeof m);
            o << " route /" << int(m.rtm_dst_len) << " table " << int(m.rtm_table) << " proto " << int(m.rtm_protocol)
              << " scope " << int(m.rtm_scope) << " type " << int(m.rtm_type);
            attrs(o, reinterpret_cast<const rtattr*>(d + NLMSG_ALIGN(sizeof m)), int(RTM_PAYLOAD(h)), [&](const rtattr* a, std::ostringstream& x) {
                const void* p = RTA_DATA(a);
                uint32_t u = 0;
                if (RTA_PAYLOAD(a) >= 4) std::memcpy(&u, p, 4);
                switch (a->rta_type) {
                    case RTA_TABLE: x << " RTA_TABLE " << u; break;
                    case RTA_DST: x << " dst " << ip(p); break;
                    case RTA_GATEWAY: x << " via " << ip(p); break;
                    case RTA_OIF: x << " oif " << u; break;
                    case RTA_PREFSRC: x << " src " << ip(p); break;
                    case RTA_PRIORITY: x << " metric " << u; break;
                    default: break;
                }
            });
        } else if (h->nlmsg_type == RTM_NEWRULE) {
            fib_rule_hdr m;
            std::memcpy(&m, d, sizeof m);
            o << " rule family " << int(m.family) << " table " << int(m.table) << " action " << int(m.action);
            int len = int(h->nlmsg_len - NLMSG_LENGTH(sizeof m));
            for (auto* a = reinterpret_cast<const rtattr*>(d + NLMSG_ALIGN(sizeof m)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                uint32_t u = 0;
                std::memcpy(&u, RTA_DATA(a), std::min<size_t>(4, RTA_PAYLOAD(a)));
                if (a->rta_type == FRA_TABLE) o << " FRA_TABLE " << u;
                if (a->rta_type == FRA_PRIORITY) o << " pref " << u;
                if (a->rta_type == FRA_PROTOCOL) o << " proto " << (u & 0xff);
            }
        } else if (h->nlmsg_type == RTM_NEWNEIGH) {
            ndmsg m;
            std::memcpy(&m, d, sizeof m);
            o << " neigh " << m.ndm_ifindex << " state 0x" << std::hex << m.ndm_state << std::dec;
        }
        line(o.str());
    }

    // NLMSGERR_ATTR_MSG among the attributes from byte `off` of the message.
    static void tlv_msg(std::ostringstream& o, const nlmsghdr* h, size_t off) {
        if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || off >= h->nlmsg_len) return;
        int len = int(h->nlmsg_len - off);
        for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(h) + off); RTA_OK(a, len); a = RTA_NEXT(a, len))
            if (a->rta_type == NLMSGERR_ATTR_MSG) o << " msg \"" << static_cast<const char*>(RTA_DATA(a)) << "\"";
    }

    template <class F>
    void attrs(std::ostringstream& o, const rtattr* a, int len, F f) {
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) f(a, o);
    }

    Calls c_;
    int fd_ = -1;
    uint32_t pid_ = 0;
    std::ostringstream out_;
};

// The kernel's answers, from a child in a namespace set up like the default world.
std::string kernel_side(std::string* why) {
    int p[2];
    if (pipe(p) != 0) return *why = "pipe", "";
    const pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        auto sh = [](const std::string& c) { return std::system(c.c_str()) == 0; };
        std::string text;
        if (unshare(CLONE_NEWNET) != 0) {
            text = "SKIP unshare";
        } else {
            sh("echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6");
            int ready[2];
            if (pipe(ready) != 0) _exit(1);
            const pid_t gw = fork();
            if (gw == 0) {
                close(ready[0]);
                if (unshare(CLONE_NEWNET) != 0) _exit(1);
                (void)!write(ready[1], "x", 1);
                pause();
                _exit(0);
            }
            close(ready[1]);
            char x;
            const bool gw_ok = read(ready[0], &x, 1) == 1;
            const std::string g = std::to_string(gw);
            const bool ok = gw_ok && sh("ip link set lo up") && sh("ip link add eth0 type veth peer name eth0 netns " + g) &&
                            sh("ip addr add 10.0.2.15/24 dev eth0") && sh("ip link set eth0 up") &&
                            sh("nsenter -t " + g + " -n sh -c 'ip link set lo up && ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up'") &&
                            sh("ip route add default via 10.0.2.2");
            // Carrier and operstate settle a moment after both ends are up.
            for (int i = 0; i < 200 && ok && !sh("ip -o link show eth0 | grep -q 'state UP'"); ++i) usleep(10000);
            text = ok ? Session(kernel_calls()).run() : "SKIP the namespace could not be set up (ip, veth, nsenter)";
            kill(gw, SIGKILL);
            waitpid(gw, nullptr, 0);
        }
        for (size_t off = 0; off < text.size();) {
            const ssize_t n = write(p[1], text.data() + off, text.size() - off);
            if (n <= 0) break;
            off += size_t(n);
        }
        _exit(0);
    }
    close(p[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    close(p[0]);
    waitpid(child, nullptr, 0);
    return text;
}

TEST(NetlinkConformance, SameAnswersAsTheKernel) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    std::string why;
    const std::string k = kernel_side(&why);
    if (k.rfind("SKIP", 0) == 0 || k.empty()) GTEST_SKIP() << (k.empty() ? why : k);
    usnet::sim::DefaultWorld w = usnet::sim::make_default_world();
    const std::string u = Session(usnet_calls(*w.host)).run();
    if (std::getenv("USNET_NETLINK_SHOW")) std::fputs(u.c_str(), stdout);  // the answers, for a reader
    // Line by line, for a readable failure.
    std::istringstream ks(k), us(u);
    std::string kl, ul;
    int n = 0;
    while (true) {
        const bool kg = bool(std::getline(ks, kl)), ug = bool(std::getline(us, ul));
        if (!kg && !ug) break;
        ++n;
        EXPECT_EQ(kg ? kl : "(end)", ug ? ul : "(end)") << "line " << n;
    }
    EXPECT_GT(n, 60);
    // Some answers must be what they are, not only equal.
    EXPECT_NE(u.find("name eth0 txqlen 1000 operstate 6 mtu 1500"), std::string::npos);
    EXPECT_NE(u.find("local 10.0.2.20 label eth0"), std::string::npos);
    EXPECT_NE(u.find("error -17"), std::string::npos);  // EEXIST
}

}  // namespace

namespace {

// usnet alone (no kernel needed): a dump larger than one datagram comes in several, each
// whole messages of at most NLMSG_GOODSIZE, NLMSG_DONE alone last; the program's sockets
// reach each other by port id; a blocking receive that nothing can satisfy fails with
// EDEADLK in a simulation.
TEST(NetlinkUsnet, LongDumpSplitsAndUnicastAndBlocking) {
    usnet::sim::DefaultWorld w = usnet::sim::make_default_world();
    usnet::Stack& h = *w.host;
    for (int i = 0; i < 100; ++i) {
        usnet::RouteSpec r;
        r.dst = usnet::Ip4(172, 16, uint8_t(i), 0);
        r.prefix_len = 24;
        r.gateway = usnet::Ip4(10, 0, 2, 2);
        r.ifindex = 2;
        ASSERT_EQ(h.add_route(r), 0);
    }
    const int fd = h.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    ASSERT_GE(fd, 0);
    rtmsg rtm{};
    rtm.rtm_family = AF_INET;
    Request rq(RTM_GETROUTE, NLM_F_DUMP, rtm, 5);
    const auto& req = rq.done();
    ASSERT_EQ(h.send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
    int datagrams = 0, routes = 0;
    bool done_alone = false;
    for (;;) {
        char buf[65536];
        const ssize_t n = h.recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        ASSERT_GT(n, 0);
        ++datagrams;
        EXPECT_LE(n, 3776);
        int len = int(n), here = 0;
        bool done = false;
        for (auto* m = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(m, unsigned(len)); m = NLMSG_NEXT(m, len)) {
            ++here;
            if (m->nlmsg_type == RTM_NEWROUTE) ++routes;
            if (m->nlmsg_type == NLMSG_DONE) done = true;
        }
        EXPECT_EQ(len, 0) << "a datagram holds whole messages";
        if (done) {
            done_alone = here == 1;
            break;
        }
    }
    EXPECT_EQ(routes, 100 + 2 + 5);  // ours, default and prefix route, the local table's five
    EXPECT_GE(datagrams, 3);  // two of routes (over 6 KB), then NLMSG_DONE
    EXPECT_TRUE(done_alone);

    // Port ids: the first socket autobinds to the process id, the next below -4096.
    sockaddr_nl a{};
    socklen_t al = sizeof a;
    ASSERT_EQ(h.getsockname(fd, reinterpret_cast<sockaddr*>(&a), &al), 0);
    EXPECT_EQ(a.nl_pid, uint32_t(getpid()));
    const int fd2 = h.socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_ROUTE);
    const char hello[] = "hello";
    ASSERT_EQ(h.sendto(fd2, hello, sizeof hello, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), ssize_t(sizeof hello));
    char got[16] = {};
    EXPECT_EQ(h.recv(fd, got, sizeof got, 0), ssize_t(sizeof hello));
    EXPECT_STREQ(got, "hello");
    sockaddr_nl b{};
    socklen_t bl = sizeof b;
    ASSERT_EQ(h.getsockname(fd2, reinterpret_cast<sockaddr*>(&b), &bl), 0);
    EXPECT_LE(int32_t(b.nl_pid), -4096);

    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(h.poll(&p, 1, 0), 0);
    EXPECT_EQ(h.recv(fd2, got, sizeof got, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(h.recv(fd, got, sizeof got, 0), -1);
    EXPECT_EQ(errno, EDEADLK);  // nothing in the simulation could ever answer
    EXPECT_EQ(h.close(fd), 0);
    EXPECT_EQ(h.close(fd2), 0);
    EXPECT_FALSE(h.is_socket(fd));
}

}  // namespace

namespace {

// Mutated requests (bit flips, overwritten bytes, lengths that lie, truncation, several
// messages in one datagram) never crash the stack and are always answered in whole messages.
TEST(NetlinkUsnet, MutatedRequestsAreSafe) {
    usnet::sim::DefaultWorld w = usnet::sim::make_default_world();
    usnet::Stack& h = *w.host;
    const int fd = h.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
    ASSERT_GE(fd, 0);
    const int one = 1;
    std::vector<std::vector<uint8_t>> seeds;
    ifinfomsg ifi{};
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    rtmsg rtm{};
    rtm.rtm_family = AF_INET;
    ndmsg nd{};
    seeds.push_back(Request(RTM_GETLINK, NLM_F_DUMP, ifi, 1).done());
    seeds.push_back(Request(RTM_GETADDR, NLM_F_DUMP, ifa, 2).done());
    seeds.push_back(Request(RTM_GETROUTE, NLM_F_DUMP, rtm, 3).done());
    seeds.push_back(Request(RTM_GETNEIGH, NLM_F_DUMP, nd, 4).done());
    {
        ifaddrmsg a = ifa;
        a.ifa_prefixlen = 24;
        a.ifa_index = 2;
        Request r(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE, a, 5);
        r.attr_ip(IFA_LOCAL, "10.0.2.30");
        seeds.push_back(r.done());
        rtmsg m = rtm;
        m.rtm_dst_len = 16;
        m.rtm_type = RTN_UNICAST;
        Request rr(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE, m, 6);
        rr.attr_ip(RTA_DST, "192.168.0.0");
        rr.attr_ip(RTA_GATEWAY, "10.0.2.2");
        rr.attr_u32(RTA_OIF, 2);
        seeds.push_back(rr.done());
        Request g(RTM_GETROUTE, 0, rtm, 7);
        g.attr_ip(RTA_DST, "10.0.2.2");
        seeds.push_back(g.done());
        ifinfomsg l{};
        l.ifi_index = 2;
        Request s(RTM_SETLINK, NLM_F_ACK, l, 8);
        s.attr_u32(IFLA_MTU, 1400);
        seeds.push_back(s.done());
    }
    std::mt19937 rng(7);
    int answered = 0;
    for (int i = 0; i < 4000; ++i) {
        if (i % 1000 == 0) h.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
        std::vector<uint8_t> b = seeds[rng() % seeds.size()];
        if (rng() % 4 == 0) {
            const auto& more = seeds[rng() % seeds.size()];
            b.insert(b.end(), more.begin(), more.end());
        }
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            switch (rng() % 4) {
                case 0: b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8)); break;
                case 1: b[rng() % b.size()] = uint8_t(rng()); break;
                case 2: b.resize(1 + rng() % b.size()); break;
                default: {
                    const uint32_t len = rng() % 128;  // the first message's length
                    if (b.size() >= 4) std::memcpy(b.data(), &len, 4);
                }
            }
        }
        ASSERT_EQ(h.send(fd, b.data(), b.size(), 0), ssize_t(b.size()));
        std::vector<uint8_t> buf(65536);
        for (ssize_t n; (n = h.recv(fd, buf.data(), buf.size(), 0)) > 0;) {
            int len = int(n);
            for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, unsigned(len)); m = NLMSG_NEXT(m, len)) {
            }
            ASSERT_EQ(len, 0) << "iteration " << i;
            ++answered;
        }
        ASSERT_EQ(errno, EAGAIN);
    }
    EXPECT_GT(answered, 1000);
    EXPECT_EQ(h.close(fd), 0);
}

}  // namespace
