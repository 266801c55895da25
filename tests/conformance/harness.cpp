#include "harness.hpp"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <time.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace conformance {

int64_t Api::realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int Api::kernel_socket(int, int) {
    errno = ENOSYS;
    return -1;
}

std::vector<Scenario>& registry() {
    static std::vector<Scenario> r;
    return r;
}

sockaddr_in addr(const char* ip, uint16_t port, sa_family_t fam) {
    sockaddr_in a{};
    a.sin_family = fam;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static const sockaddr* sa(const sockaddr_in& a) { return reinterpret_cast<const sockaddr*>(&a); }

std::string T::fmt_addr(const sockaddr_in& a, socklen_t len) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    const unsigned port = ntohs(a.sin_port);
    std::ostringstream o;
    if (a.sin_family != AF_INET) o << "family=" << a.sin_family << " ";
    o << ip << ":";
    if (port >= 32768 && port <= 60999) o << "EPH";
    else o << port;
    if (len != sizeof(sockaddr_in)) o << " len=" << len;
    return o.str();
}

static std::string quote(const char* p, size_t n) {
    std::ostringstream o;
    o << '"';
    for (size_t i = 0; i < n && i < 48; ++i) {
        const unsigned char c = static_cast<unsigned char>(p[i]);
        if (c >= 32 && c < 127 && c != '"' && c != '\\') o << c;
        else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            o << b;
        }
    }
    if (n > 48) o << "...(" << n << ")";
    o << '"';
    return o.str();
}

static std::string msg_flags(int f) {
    std::string s;
    auto add = [&](int bit, const char* name) {
        if (f & bit) {
            s += s.empty() ? "" : "|";
            s += name;
            f &= ~bit;
        }
    };
    add(MSG_TRUNC, "TRUNC");
    add(MSG_CTRUNC, "CTRUNC");
    add(MSG_ERRQUEUE, "ERRQUEUE");
    add(MSG_EOR, "EOR");
    if (f) s += (s.empty() ? "" : "|") + std::to_string(f);
    return s.empty() ? "0" : s;
}

std::string T::result(long r) {
    if (r >= 0) return std::to_string(r);
    const char* n = strerrorname_np(errno);
    return std::string("-1 ") + (n ? n : std::to_string(errno).c_str());
}

void T::log(const std::string& call, long r, const std::string& extra) {
    trace.push_back(call + " = " + result(r) + (extra.empty() ? "" : " " + extra));
}

bool T::autobound_ping(int fd) const {
    const auto it = ping_fds_.find(fd);
    return it != ping_fds_.end() && !it->second;
}

int T::socket(int domain, int type, int proto, Host h) {
    errno = 0;
    int r = api_.socket(h, domain, type, proto);
    if (r >= 0 && proto == IPPROTO_ICMP) ping_fds_[r] = false;
    else if (r >= 0) ping_fds_.erase(r);
    const std::string call = std::string(h == kGw ? "gw." : "") + "socket(" + std::to_string(domain) + "," +
                             std::to_string(type) + "," + std::to_string(proto) + ")";
    trace.push_back(call + " = " + (r >= 0 ? "fd" : result(r)));
    return r;
}

int T::kernel_socket(int domain, int type) {
    errno = 0;
    int r = api_.kernel_socket(domain, type);
    trace.push_back("ksocket(" + std::to_string(domain) + "," + std::to_string(type) + ") = " + (r >= 0 ? "fd" : result(r)));
    return r;
}

int T::bind(int fd, const sockaddr_in& a, socklen_t len) {
    int r = api_.bind(fd, sa(a), len);
    if (r == 0 && a.sin_port && ping_fds_.count(fd)) ping_fds_[fd] = true;
    log("bind(" + fmt_addr(a, len) + ")", r);
    return r;
}

int T::connect(int fd, const sockaddr_in& a, socklen_t len) {
    int r = api_.connect(fd, sa(a), len);
    log("connect(" + fmt_addr(a, len) + ")", r);
    return r;
}

int T::connect_unspec(int fd) {
    sockaddr_in a{};
    a.sin_family = AF_UNSPEC;
    int r = api_.connect(fd, sa(a), sizeof a);
    log("connect(AF_UNSPEC)", r);
    return r;
}

int T::getsockname(int fd, socklen_t len) {
    sockaddr_storage ss{};
    socklen_t l = len;
    int r = api_.getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l);
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof a);
    std::string shown = r == 0 ? fmt_addr(a, l) : "";
    if (r == 0 && autobound_ping(fd) && a.sin_port) shown = shown.substr(0, shown.find(':')) + ":ID" + (l != sizeof a ? " len=" + std::to_string(l) : "");
    log("getsockname(len=" + std::to_string(len) + ")", r, shown);
    return r;
}

int T::getpeername(int fd, socklen_t len) {
    sockaddr_storage ss{};
    socklen_t l = len;
    int r = api_.getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &l);
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof a);
    log("getpeername(len=" + std::to_string(len) + ")", r, r == 0 ? fmt_addr(a, l) : "");
    return r;
}

sockaddr_in T::name_of(int fd) {
    sockaddr_in a{};
    socklen_t l = sizeof a;
    api_.getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    return a;
}

ssize_t T::sendmsg(int fd, const std::string& data, const sockaddr_in* to, const std::string& control, int flags) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in dst{};
    if (to) {
        dst = *to;
        m.msg_name = &dst;
        m.msg_namelen = sizeof dst;
    }
    std::string ctl = control;
    if (!ctl.empty()) {
        m.msg_control = ctl.data();
        m.msg_controllen = ctl.size();
    }
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("sendmsg(" + std::to_string(data.size()) + "B" + (to ? " to " + fmt_addr(*to) : "") +
            (control.empty() ? "" : " +cmsg") + " flags=" + std::to_string(flags) + ")",
        r);
    return r;
}

ssize_t T::sendto(int fd, const std::string& data, const sockaddr_in& to, int flags, socklen_t len) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in dst = to;
    m.msg_name = &dst;
    m.msg_namelen = len;
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("sendto(" + std::to_string(data.size()) + "B, " + fmt_addr(to, len) + ", flags=" + std::to_string(flags) + ")", r);
    return r;
}

ssize_t T::send(int fd, const std::string& data, int flags) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("send(" + std::to_string(data.size()) + "B, flags=" + std::to_string(flags) + ")", r);
    return r;
}

static std::string decode_cmsgs_t(T* t, msghdr& m) {
    std::string out;
    if (!m.msg_control) return out;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        std::ostringstream o;
        const size_t dlen = c->cmsg_len - CMSG_LEN(0);
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TTL && dlen >= sizeof(int)) {
            int v;
            std::memcpy(&v, CMSG_DATA(c), sizeof v);
            o << "TTL=" << v;
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS && dlen >= 1) {
            o << "TOS=" << int(*CMSG_DATA(c));
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO && dlen >= sizeof(in_pktinfo)) {
            in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            char a[16], b[16];
            inet_ntop(AF_INET, &pi.ipi_addr, a, sizeof a);
            inet_ntop(AF_INET, &pi.ipi_spec_dst, b, sizeof b);
            o << "PKTINFO(ifindex=" << (pi.ipi_ifindex == 1 ? "lo" : "eth") << ",addr=" << a << ",spec_dst=" << b << ")";
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR && dlen >= sizeof(sock_extended_err)) {
            sock_extended_err ee;
            std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
            o << "RECVERR(errno=" << (strerrorname_np(int(ee.ee_errno)) ? strerrorname_np(int(ee.ee_errno)) : "?")
              << ",origin=" << int(ee.ee_origin) << ",type=" << int(ee.ee_type) << ",code=" << int(ee.ee_code)
              << ",info=" << ee.ee_info << ",data=" << ee.ee_data;
            if (dlen >= sizeof ee + sizeof(sockaddr_in)) {
                sockaddr_in off;
                std::memcpy(&off, CMSG_DATA(c) + sizeof ee, sizeof off);
                o << ",offender=" << T::fmt_addr(off);
            }
            o << ")";
        } else if (c->cmsg_level == SOL_SOCKET && (c->cmsg_type == SO_TIMESTAMP_OLD || c->cmsg_type == SO_TIMESTAMP_NEW ||
                                                   c->cmsg_type == SO_TIMESTAMPNS_OLD || c->cmsg_type == SO_TIMESTAMPNS_NEW) &&
                   dlen == 16) {
            // timeval / timespec (old and new layouts are both two 64-bit fields here).
            int64_t v[2];
            std::memcpy(v, CMSG_DATA(c), sizeof v);
            const bool us = c->cmsg_type == SO_TIMESTAMP_OLD || c->cmsg_type == SO_TIMESTAMP_NEW;
            const bool sub_ok = v[1] >= 0 && v[1] < (us ? 1000000 : 1000000000);
            o << (c->cmsg_type == SO_TIMESTAMP_OLD ? "TIMESTAMP_OLD" : c->cmsg_type == SO_TIMESTAMP_NEW ? "TIMESTAMP_NEW"
                  : c->cmsg_type == SO_TIMESTAMPNS_OLD ? "TIMESTAMPNS_OLD" : "TIMESTAMPNS_NEW")
              << "(len=" << c->cmsg_len << "," << (sub_ok ? t->stamp_window(v[0] * 1000000000 + v[1] * (us ? 1000 : 1)) : "bad-fraction") << ")";
        } else if (c->cmsg_level == SOL_SOCKET && (c->cmsg_type == SO_TIMESTAMPING_OLD || c->cmsg_type == SO_TIMESTAMPING_NEW) &&
                   dlen == 48) {
            int64_t v[6];
            std::memcpy(v, CMSG_DATA(c), sizeof v);
            o << (c->cmsg_type == SO_TIMESTAMPING_OLD ? "TIMESTAMPING_OLD" : "TIMESTAMPING_NEW") << "(len=" << c->cmsg_len
              << ",sw=" << t->stamp_window(v[0] * 1000000000 + v[1]) << ",hw=" << v[2] << "." << v[3] << "," << v[4] << "."
              << v[5] << ")";
        } else {
            o << "cmsg(" << c->cmsg_level << "," << c->cmsg_type << "," << dlen << "B)";
        }
        out += (out.empty() ? "" : ",") + o.str();
    }
    return out;
}

static ssize_t do_recv(T& t, Api& api, int fd, size_t cap, int flags, size_t control, const char* name,
                       std::vector<std::string>& trace, std::function<std::string(long)> result) {
    std::string buf(cap, '\0');
    iovec iov{buf.data(), cap};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in from{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    std::string ctl(control, '\0');
    if (control) {
        m.msg_control = ctl.data();
        m.msg_controllen = control;
    }
    ssize_t r = api.recvmsg(fd, &m, flags);
    std::string extra;
    if (r >= 0 && t.autobound_ping(fd)) {
        // An echo reply (or a quoted request) carries the identifier the kernel chose, and a
        // checksum over it.
        for (size_t i = 2; i < 6 && i < std::min<size_t>(size_t(r), cap); ++i) buf[i] = '?';
    }
    if (r >= 0) {
        extra = "data=" + [&] {
            std::string q;
            const size_t n = std::min<size_t>(size_t(r), cap);
            std::ostringstream o;
            o << '"';
            for (size_t i = 0; i < n && i < 48; ++i) {
                const unsigned char c = static_cast<unsigned char>(buf[i]);
                if (c >= 32 && c < 127 && c != '"' && c != '\\') o << c;
                else {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\x%02x", c);
                    o << b;
                }
            }
            if (n > 48) o << "...";
            o << '"';
            return o.str();
        }();
        extra += " from=" + (m.msg_namelen ? T::fmt_addr(from, m.msg_namelen) : std::string("none"));
        extra += " flags=" + msg_flags(m.msg_flags);
        const std::string c = decode_cmsgs_t(&t, m);
        if (!c.empty()) extra += " cmsg=[" + c + "]";
    }
    trace.push_back(std::string(name) + "(cap=" + std::to_string(cap) + ",flags=" + std::to_string(flags) + ") = " +
                    result(r) + (extra.empty() ? "" : " " + extra));
    return r;
}

ssize_t T::recv(int fd, size_t cap, int flags, size_t control) {
    return do_recv(*this, api_, fd, cap, flags, control, "recvmsg", trace, [this](long r) { return result(r); });
}

ssize_t T::recv_errqueue(int fd, size_t cap, int flags) {
    return do_recv(*this, api_, fd, cap, flags | MSG_ERRQUEUE, 512, "recvmsg_errqueue", trace,
                   [this](long r) { return result(r); });
}

int T::setsockopt_int(int fd, int level, int name, int v, socklen_t len) {
    int r = api_.setsockopt(fd, level, name, &v, len);
    log("setsockopt(" + std::to_string(level) + "," + std::to_string(name) + "," + std::to_string(v) +
            ",len=" + std::to_string(len) + ")",
        r);
    return r;
}

int T::setsockopt_raw(int fd, int level, int name, const void* v, socklen_t len) {
    int r = api_.setsockopt(fd, level, name, v, len);
    log("setsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",raw,len=" + std::to_string(len) + ")", r);
    return r;
}

int T::getsockopt_int(int fd, int level, int name, socklen_t len) {
    unsigned char buf[64] = {};
    socklen_t l = len;
    int r = api_.getsockopt(fd, level, name, buf, &l);
    std::string extra;
    if (r == 0) {
        int v = 0;
        std::memcpy(&v, buf, std::min<size_t>(l, sizeof v));
        extra = "value=" + std::to_string(v) + " len=" + std::to_string(l);
    }
    log("getsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",len=" + std::to_string(len) + ")", r, extra);
    return r == 0 ? [&] { int v = 0; std::memcpy(&v, buf, std::min<size_t>(l, sizeof v)); return v; }() : -1;
}

int T::getsockopt_raw(int fd, int level, int name, socklen_t len) {
    unsigned char buf[256] = {};
    socklen_t l = len;
    int r = api_.getsockopt(fd, level, name, buf, &l);
    std::string extra;
    if (r == 0) extra = "len=" + std::to_string(l) + " bytes=" + quote(reinterpret_cast<char*>(buf), l);
    log("getsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",raw,len=" + std::to_string(len) + ")", r,
        extra);
    return r;
}

int T::set_rcvtimeo(int fd, int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    int r = api_.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    log("setsockopt(SO_RCVTIMEO," + std::to_string(ms) + "ms)", r);
    return r;
}

int T::shutdown(int fd, int how) {
    int r = api_.shutdown(fd, how);
    log("shutdown(" + std::to_string(how) + ")", r);
    return r;
}

int T::close(int fd) {
    int r = api_.close(fd);
    if (r == 0) ping_fds_.erase(fd);
    log("close", r);
    return r;
}

int T::ioctl_int(int fd, unsigned long req, const char* name) {
    int v = -12345;
    int r = api_.ioctl(fd, req, &v);
    log(std::string("ioctl(") + name + ")", r, r == 0 ? "value=" + std::to_string(v) : "");
    return r == 0 ? v : -1;
}

std::string T::stamp_window(int64_t ns) {
    const int64_t hi = api_.realtime_ns(), slack = 1000000;
    if (window_lo_ == 0) return "no-window";
    if (ns >= window_lo_ - slack && ns <= hi + slack) return "in-window";
    return ns < window_lo_ ? "early-by-" + std::to_string((window_lo_ - ns) / 1000) + "us"
                           : "late-by-" + std::to_string((ns - hi) / 1000) + "us";
}

static std::string hex(const unsigned char* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

int T::ioctl_ifreq(int fd, unsigned long req, const char* reqname, const std::string& name, const std::string& data, bool null) {
    ifreq ifr;
    std::memset(&ifr, 0, sizeof ifr.ifr_name);
    std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof ifr.ifr_name));
    unsigned char* u = reinterpret_cast<unsigned char*>(&ifr) + IFNAMSIZ;
    const size_t ulen = sizeof ifr - IFNAMSIZ;
    std::memset(u, 0xa5, ulen);
    std::memcpy(u, data.data(), std::min(data.size(), ulen));
    errno = 0;
    int r = api_.ioctl(fd, req, null ? nullptr : &ifr);
    const int e = errno;
    std::string extra;
    if (!null) {
        // A MAC address differs run to run (veth's is random): masked, its length kept.
        if (req == SIOCGIFHWADDR && r == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) std::memset(u + 2, 0xee, 6);
        extra = "ifr=" + quote(ifr.ifr_name, IFNAMSIZ) + ":" + hex(u, ulen);
    }
    errno = e;
    log(std::string("ioctl(") + reqname + "," + quote(name.data(), name.size()) + (null ? ",NULL" : "") + ")", r, extra);
    return r;
}

int T::ioctl_ifconf(int fd, int len, bool null_buf, bool null) {
    std::vector<unsigned char> buf(size_t(std::max(len, 0)) + 64, 0xa5);
    ifconf ifc{};
    ifc.ifc_len = len;
    ifc.ifc_buf = null_buf ? nullptr : reinterpret_cast<char*>(buf.data());
    errno = 0;
    int r = api_.ioctl(fd, SIOCGIFCONF, null ? nullptr : &ifc);
    const int e = errno;
    std::ostringstream o;
    if (!null) {
        o << "ifc_len=" << ifc.ifc_len;
        if (r == 0 && !null_buf) {
            for (int off = 0; off + int(sizeof(ifreq)) <= ifc.ifc_len && off + int(sizeof(ifreq)) <= len; off += int(sizeof(ifreq))) {
                ifreq x;
                std::memcpy(&x, buf.data() + off, sizeof x);
                o << " [" << quote(x.ifr_name, IFNAMSIZ) << ":" << hex(buf.data() + off + IFNAMSIZ, sizeof x - IFNAMSIZ) << "]";
            }
            size_t untouched = 0;
            for (size_t i = size_t(std::max(ifc.ifc_len, 0)); i < buf.size(); ++i) untouched += buf[i] == 0xa5;
            o << " tail_untouched=" << (untouched == buf.size() - size_t(std::max(ifc.ifc_len, 0)) ? "yes" : "no");
        }
    }
    errno = e;
    log("ioctl(SIOCGIFCONF,len=" + std::to_string(len) + (null_buf ? ",buf=NULL" : "") + (null ? ",NULL" : "") + ")", r, o.str());
    return r;
}

int T::ioctl_stamp(int fd, unsigned long req, const char* reqname, bool null) {
    int64_t v[2] = {-7, -7};
    errno = 0;
    int r = api_.ioctl(fd, req, null ? nullptr : v);
    const int e = errno;
    std::string extra;
    if (r == 0) {
        const bool us = std::string(reqname).find("NS") == std::string::npos;
        const bool sub_ok = v[1] >= 0 && v[1] < (us ? 1000000 : 1000000000);
        extra = sub_ok ? stamp_window(v[0] * 1000000000 + v[1] * (us ? 1000 : 1)) : "bad-fraction";
    }
    errno = e;
    log(std::string("ioctl(") + reqname + (null ? ",NULL" : "") + ")", r, extra);
    return r;
}

int T::fcntl(int fd, int cmd, long arg, const char* name) {
    int r = api_.fcntl(fd, cmd, arg);
    log(std::string("fcntl(") + name + "," + std::to_string(arg) + ")", r);
    return r;
}

int T::poll1(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    int r = api_.poll(&p, 1, timeout_ms);
    log("poll(events=" + std::to_string(events) + ",timeout=" + std::to_string(timeout_ms) + ")", r,
        r >= 0 ? "revents=" + std::to_string(p.revents) : "");
    return r >= 0 ? p.revents : -1;
}

int T::ip(const std::string& args, Host h) {
    int r = api_.ip(h, args);
    trace.push_back(std::string(h == kGw ? "gw." : "") + "ip " + args + " = " + std::to_string(r));
    return r;
}

}  // namespace conformance
