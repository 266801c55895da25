// Multicast scenarios beyond the basics of scenarios_net.cpp: the all-hosts group every
// interface joins by itself, source-specific multicast (IP_*_SOURCE*, IP_MSFILTER and the
// protocol-independent MCAST_* options), delivery filtered by source, leaving by address
// or by index, looping back to the sender's own host, IP_PKTINFO on group datagrams, and
// which of EINVAL and EFAULT a short or null option value earns.
//
// The limits used (igmp_max_memberships 20, igmp_max_msf 10) are the per-namespace
// defaults of every fresh network namespace. Filter lengths stay far below 20480 bytes
// (net.core.optmem_max differs between 6.x builds above that).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "harness.hpp"

using namespace conformance;

namespace {

constexpr int kEth0 = 2;

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

uint32_t ip4(const char* a) {
    in_addr x{};
    inet_pton(AF_INET, a, &x);
    return x.s_addr;
}

int udp(T& t, Host h = kHost) { return t.socket(AF_INET, SOCK_DGRAM, 0, h); }

int bound(T& t, const char* a, uint16_t port, Host h = kHost) {
    int s = udp(t, h);
    t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(s, addr(a, port));
    return s;
}

// The gateway's socket, sending out of eth0 (it has no route to 224/4).
int gw_sender(T& t, const char* from = "10.0.2.2") {
    int g = udp(t, kGw);
    in_addr a{ip4(from)};
    t.setsockopt_raw(g, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    if (std::strcmp(from, "10.0.2.2") != 0) t.bind(g, addr(from, 0));
    return g;
}

int join(T& t, int fd, const char* group, const char* iface = "10.0.2.15", int name = IP_ADD_MEMBERSHIP) {
    ip_mreq m{};
    m.imr_multiaddr.s_addr = ip4(group);
    m.imr_interface.s_addr = ip4(iface);
    return t.setsockopt_raw(fd, SOL_IP, name, &m, sizeof m);
}

int joinn(T& t, int fd, const char* group, const char* address, int ifindex, int name = IP_ADD_MEMBERSHIP) {
    ip_mreqn m{};
    m.imr_multiaddr.s_addr = ip4(group);
    m.imr_address.s_addr = ip4(address);
    m.imr_ifindex = ifindex;
    return t.setsockopt_raw(fd, SOL_IP, name, &m, sizeof m);
}

int src_opt(T& t, int fd, int name, const char* group, const char* source, const char* iface = "10.0.2.15",
            socklen_t len = sizeof(ip_mreq_source)) {
    ip_mreq_source m{};
    m.imr_multiaddr.s_addr = ip4(group);
    m.imr_interface.s_addr = ip4(iface);
    m.imr_sourceaddr.s_addr = ip4(source);
    return t.setsockopt_raw(fd, SOL_IP, name, &m, len);
}

sockaddr_storage ss4(const char* a, sa_family_t fam = AF_INET) {
    sockaddr_storage ss{};
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = fam;
    s->sin_addr.s_addr = ip4(a);
    return ss;
}

int group_opt(T& t, int fd, int name, uint32_t ifindex, const char* group, sa_family_t fam = AF_INET,
              socklen_t len = sizeof(group_req)) {
    group_req g{};
    g.gr_interface = ifindex;
    g.gr_group = ss4(group, fam);
    return t.setsockopt_raw(fd, SOL_IP, name, &g, len);
}

int gsrc_opt(T& t, int fd, int name, uint32_t ifindex, const char* group, const char* source,
             sa_family_t gfam = AF_INET, sa_family_t sfam = AF_INET, socklen_t len = sizeof(group_source_req)) {
    group_source_req g{};
    g.gsr_interface = ifindex;
    g.gsr_group = ss4(group, gfam);
    g.gsr_source = ss4(source, sfam);
    return t.setsockopt_raw(fd, SOL_IP, name, &g, len);
}

// IP_MSFILTER with n sources (as many as listed unless numsrc says otherwise), `len` bytes.
int set_msf(T& t, int fd, const char* group, const char* iface, uint32_t mode, std::initializer_list<const char*> srcs,
            long numsrc = -1, long len = -1) {
    unsigned char buf[16 + 4 * 16] = {};
    ip_msfilter* m = reinterpret_cast<ip_msfilter*>(buf);
    m->imsf_multiaddr.s_addr = ip4(group);
    m->imsf_interface.s_addr = ip4(iface);
    m->imsf_fmode = mode;
    m->imsf_numsrc = numsrc >= 0 ? uint32_t(numsrc) : uint32_t(srcs.size());
    uint32_t i = 0;
    for (const char* s : srcs) {
        const uint32_t a = ip4(s);
        std::memcpy(buf + 16 + 4 * i++, &a, 4);
    }
    return t.setsockopt_raw(fd, SOL_IP, IP_MSFILTER, buf, socklen_t(len >= 0 ? len : 16 + 4 * long(srcs.size())));
}

// getsockopt(IP_MSFILTER) asking for room for `room` sources; logs mode, count and sources.
void get_msf(T& t, int fd, const char* group, const char* iface, uint32_t room, socklen_t len) {
    unsigned char buf[16 + 4 * 16] = {};
    ip_msfilter* m = reinterpret_cast<ip_msfilter*>(buf);
    m->imsf_multiaddr.s_addr = ip4(group);
    m->imsf_interface.s_addr = ip4(iface);
    m->imsf_numsrc = room;
    socklen_t l = len;
    errno = 0;
    const int r = t.api().getsockopt(fd, SOL_IP, IP_MSFILTER, buf, &l);
    std::string line = "getsockopt(IP_MSFILTER," + std::string(group) + ",room=" + std::to_string(room) +
                       ",len=" + std::to_string(len) + ") = ";
    if (r < 0) {
        t.trace.push_back(line + "-1 " + errname(errno));
        return;
    }
    line += "0 len=" + std::to_string(l) + " mode=" + std::to_string(m->imsf_fmode) + " numsrc=" + std::to_string(m->imsf_numsrc);
    for (uint32_t i = 0; i < std::min<uint32_t>(m->imsf_numsrc, room); ++i) {
        in_addr a;
        std::memcpy(&a, buf + 16 + 4 * i, 4);
        line += std::string(" ") + inet_ntoa(a);
    }
    t.trace.push_back(line);
}

// MCAST_MSFILTER, set: group_filter with the listed sources.
int set_gf(T& t, int fd, uint32_t ifindex, const char* group, uint32_t mode, std::initializer_list<const char*> srcs,
           sa_family_t sfam = AF_INET, long numsrc = -1, long len = -1) {
    static unsigned char buf[144 + 128 * 12];
    std::memset(buf, 0, sizeof buf);
    group_filter* g = reinterpret_cast<group_filter*>(buf);
    g->gf_interface = ifindex;
    g->gf_group = ss4(group);
    g->gf_fmode = mode;
    g->gf_numsrc = numsrc >= 0 ? uint32_t(numsrc) : uint32_t(srcs.size());
    uint32_t i = 0;
    for (const char* s : srcs) {
        const sockaddr_storage ss = ss4(s, sfam);
        std::memcpy(buf + 144 + 128 * i++, &ss, sizeof ss);
    }
    return t.setsockopt_raw(fd, SOL_IP, MCAST_MSFILTER, buf, socklen_t(len >= 0 ? len : 144 + 128 * long(srcs.size())));
}

void get_gf(T& t, int fd, uint32_t ifindex, const char* group, uint32_t room, socklen_t len, sa_family_t fam = AF_INET) {
    static unsigned char buf[144 + 128 * 12];
    std::memset(buf, 0, sizeof buf);
    group_filter* g = reinterpret_cast<group_filter*>(buf);
    g->gf_interface = ifindex;
    g->gf_group = ss4(group, fam);
    g->gf_numsrc = room;
    socklen_t l = len;
    errno = 0;
    const int r = t.api().getsockopt(fd, SOL_IP, MCAST_MSFILTER, buf, &l);
    std::string line = "getsockopt(MCAST_MSFILTER," + std::string(group) + ",if=" + std::to_string(ifindex) +
                       ",room=" + std::to_string(room) + ",len=" + std::to_string(len) + ") = ";
    if (r < 0) {
        t.trace.push_back(line + "-1 " + errname(errno));
        return;
    }
    line += "0 len=" + std::to_string(l) + " mode=" + std::to_string(g->gf_fmode) + " numsrc=" + std::to_string(g->gf_numsrc);
    for (uint32_t i = 0; i < std::min<uint32_t>(g->gf_numsrc, room); ++i) {
        sockaddr_in sin;
        std::memcpy(&sin, buf + 144 + 128 * i, sizeof sin);
        bool rest_zero = true;
        for (size_t k = sizeof sin; k < 128; ++k) rest_zero = rest_zero && buf[144 + 128 * i + k] == 0;
        line += " " + std::to_string(sin.sin_family) + ":" + inet_ntoa(sin.sin_addr) + (rest_zero ? "" : "+junk");
    }
    t.trace.push_back(line);
}

}  // namespace

// ======================= 224.0.0.1, joined by every interface =======================

SCENARIO(Mcast, AllHostsFromGatewayWithoutJoining) {
    int any = bound(t, "0.0.0.0", 7700);
    int allhosts = bound(t, "224.0.0.1", 7700);
    int notall = bound(t, "0.0.0.0", 7700);
    t.setsockopt_int(notall, SOL_IP, IP_MULTICAST_ALL, 0);
    int uni = bound(t, "10.0.2.15", 7700);
    int g = gw_sender(t);
    t.sendto(g, "all-hosts", addr("224.0.0.1", 7700));
    t.poll1(any, POLLIN, 2000);
    t.recv(any, 64, MSG_DONTWAIT);
    t.poll1(allhosts, POLLIN, 500);
    t.recv(allhosts, 64, MSG_DONTWAIT);
    t.recv(notall, 64, MSG_DONTWAIT);
    t.recv(uni, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, AllHostsLoopedBackOnHost) {
    int any = bound(t, "0.0.0.0", 7701);
    int allhosts = bound(t, "224.0.0.1", 7701);
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
    t.sendto(s, "looped", addr("224.0.0.1", 7701));
    t.poll1(any, POLLIN, 1000);
    t.recv(any, 64, MSG_DONTWAIT);
    t.poll1(allhosts, POLLIN, 500);
    t.recv(allhosts, 64, MSG_DONTWAIT);
    // The sender's own socket, bound to the port, gets its copy too.
    int self = bound(t, "0.0.0.0", 7702);
    t.sendto(self, "to-self", addr("224.0.0.1", 7702));
    t.poll1(self, POLLIN, 1000);
    t.recv(self, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP, 0);
    t.sendto(s, "not-looped", addr("224.0.0.1", 7701));
    t.poll1(any, POLLIN, 300);
    t.recv(any, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, AllHostsJoinDropAndStillReceive) {
    int r = bound(t, "0.0.0.0", 7703);
    join(t, r, "224.0.0.1");
    join(t, r, "224.0.0.1");
    joinn(t, r, "224.0.0.1", "0.0.0.0", 1);
    join(t, r, "224.0.0.1", "10.0.2.15", IP_DROP_MEMBERSHIP);
    join(t, r, "224.0.0.1", "10.0.2.15", IP_DROP_MEMBERSHIP);
    // Leaving does not take the interface out of the all-hosts group.
    int g = gw_sender(t);
    t.sendto(g, "still", addr("224.0.0.1", 7703));
    t.poll1(r, POLLIN, 2000);
    t.recv(r, 64, MSG_DONTWAIT);
    int s = udp(t);
    t.sendto(s, "local", addr("224.0.0.1", 7703));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, AllHostsWithPktinfo) {
    int r = bound(t, "0.0.0.0", 7704);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int g = gw_sender(t);
    t.sendto(g, "from-gw", addr("224.0.0.1", 7704));
    t.poll1(r, POLLIN, 2000);
    t.recv(r, 64, MSG_DONTWAIT);
    int s = udp(t);
    t.sendto(s, "from-host", addr("224.0.0.1", 7704));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
}

// ======================= joins, leaves, loop, pktinfo =======================

SCENARIO(Mcast, DropMembershipByAddressOrIndex) {
    int s = udp(t);
    joinn(t, s, "239.2.0.1", "0.0.0.0", kEth0);
    join(t, s, "239.2.0.1", "10.0.2.15", IP_DROP_MEMBERSHIP);  // the address names eth0's index
    join(t, s, "239.2.0.1", "10.0.2.15");
    joinn(t, s, "239.2.0.1", "0.0.0.0", kEth0, IP_DROP_MEMBERSHIP);
    joinn(t, s, "239.2.0.1", "0.0.0.0", 1);
    joinn(t, s, "239.2.0.1", "0.0.0.0", kEth0);
    join(t, s, "239.2.0.1", "0.0.0.0", IP_DROP_MEMBERSHIP);  // the route picks eth0
    join(t, s, "239.2.0.1", "0.0.0.0", IP_DROP_MEMBERSHIP);
    joinn(t, s, "239.2.0.1", "127.0.0.1", 0, IP_DROP_MEMBERSHIP);  // lo, by its address
    joinn(t, s, "239.2.0.1", "0.0.0.0", 1, IP_DROP_MEMBERSHIP);
    // A join recorded with an address no interface has (its index named the interface):
    // the same address finds it again.
    joinn(t, s, "239.2.0.2", "10.9.9.9", kEth0);
    join(t, s, "239.2.0.2", "10.9.9.8", IP_DROP_MEMBERSHIP);
    join(t, s, "239.2.0.2", "10.9.9.9", IP_DROP_MEMBERSHIP);
    join(t, s, "239.2.0.2", "10.9.9.9", IP_DROP_MEMBERSHIP);
    joinn(t, s, "239.2.0.3", "0.0.0.0", 99, IP_DROP_MEMBERSHIP);
}

SCENARIO(Mcast, LoopReachesHostSocketsSenderNotJoined) {
    int r = bound(t, "0.0.0.0", 7710);
    join(t, r, "239.2.1.1");
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int s = bound(t, "0.0.0.0", 7711);
    t.sendto(s, "one", addr("239.2.1.1", 7710));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
    // The sender's own port on the group: a copy for the sender (IP_MULTICAST_ALL).
    t.sendto(s, "self", addr("239.2.1.1", 7711));
    t.poll1(s, POLLIN, 1000);
    t.recv(s, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_ALL, 0);
    t.sendto(s, "self-no-all", addr("239.2.1.1", 7711));
    t.poll1(s, POLLIN, 300);
}

SCENARIO(Mcast, PktinfoOnGroupDatagramFromGateway) {
    int r = bound(t, "0.0.0.0", 7712);
    join(t, r, "239.2.1.2");
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int grp = bound(t, "239.2.1.2", 7712);
    t.setsockopt_int(grp, SOL_IP, IP_PKTINFO, 1);
    int g = gw_sender(t);
    t.sendto(g, "pkt", addr("239.2.1.2", 7712));
    t.poll1(r, POLLIN, 2000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.poll1(grp, POLLIN, 500);
    t.recv(grp, 64, MSG_DONTWAIT);
}

// ======================= source-specific multicast =======================

SCENARIO(Mcast, SourceOptionErrors) {
    int s = udp(t);
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "10.1.1.1", "10.0.2.2");
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.2", "10.0.2.15", 8);
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.2", "10.0.2.15", 16);
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.2", "10.9.9.9");
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "10.1.1.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.1", "10.0.2.2", "10.9.9.9");
    // An any-source join: blocking and unblocking.
    join(t, s, "239.3.0.1");
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.3");
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.0.1", "10.0.2.2");
    // The emptied exclude list still pins the mode.
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.1", "10.0.2.3");
    // An any-source join that never had a list may turn into a source join.
    join(t, s, "239.3.0.2");
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.2", "10.0.2.3");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.2", "10.0.2.4");
    // Source joins: adding, repeating, dropping down to none leaves the group.
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.2");
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.2");
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.3");
    join(t, s, "239.3.0.3");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.0.3", "10.0.2.4");
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.9");
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.2");
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.3");
    join(t, s, "239.3.0.3", "10.0.2.15", IP_DROP_MEMBERSHIP);
    src_opt(t, s, IP_DROP_SOURCE_MEMBERSHIP, "239.3.0.3", "10.0.2.3");
    // A source join on the all-hosts group.
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "224.0.0.1", "10.0.2.2");
    join(t, s, "224.0.0.1", "10.0.2.15", IP_DROP_MEMBERSHIP);
}

SCENARIO(Mcast, SourceAndMembershipLimits) {
    int s = udp(t);
    join(t, s, "239.3.1.1");
    for (int i = 1; i <= 10; ++i) src_opt(t, s, IP_BLOCK_SOURCE, "239.3.1.1", ("10.5.0." + std::to_string(i)).c_str());
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.1.1", "10.5.0.11");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.1.1", "10.5.0.3");  // a repeat, at the limit
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.1.1", "10.5.0.3");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.1.1", "10.5.0.11");
    get_msf(t, s, "239.3.1.1", "10.0.2.15", 12, 16 + 4 * 12);
    int m = udp(t);
    for (int i = 1; i <= 20; ++i) group_opt(t, m, MCAST_JOIN_GROUP, kEth0, ("239.3.2." + std::to_string(i)).c_str());
    group_opt(t, m, MCAST_JOIN_GROUP, kEth0, "239.3.2.21");
    group_opt(t, m, MCAST_JOIN_GROUP, kEth0, "239.3.2.5");  // already a member: that comes first
    src_opt(t, m, IP_ADD_SOURCE_MEMBERSHIP, "239.3.2.30", "10.0.2.2");
    group_opt(t, m, MCAST_LEAVE_GROUP, kEth0, "239.3.2.1");
    src_opt(t, m, IP_ADD_SOURCE_MEMBERSHIP, "239.3.2.30", "10.0.2.2");
}

SCENARIO(Mcast, MsfilterSetAndGet) {
    int s = udp(t);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {"10.0.2.2"});  // no join yet
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 4, 32);
    join(t, s, "239.3.3.1");
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 4, 32);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", 7, {"10.0.2.2"});
    set_msf(t, s, "10.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {"10.0.2.2"});
    set_msf(t, s, "239.3.3.1", "10.9.9.9", MCAST_EXCLUDE, {"10.0.2.2"});
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {}, 0, 15);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {"10.0.2.2", "10.0.2.3"}, 3);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {}, 11, 16 + 4 * 11);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {"10.0.2.4", "10.0.2.2", "10.0.2.3"});
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 8, 48);
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 1, 48);
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 0, 16);
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 0, 15);
    get_msf(t, s, "10.3.3.1", "10.0.2.15", 0, 16);
    get_msf(t, s, "239.3.3.2", "10.0.2.15", 0, 16);
    get_msf(t, s, "239.3.3.1", "10.9.9.9", 0, 16);
    // After a whole-filter set, single sources follow its mode.
    src_opt(t, s, IP_ADD_SOURCE_MEMBERSHIP, "239.3.3.1", "10.0.2.5");
    src_opt(t, s, IP_UNBLOCK_SOURCE, "239.3.3.1", "10.0.2.2");
    src_opt(t, s, IP_BLOCK_SOURCE, "239.3.3.1", "10.0.2.6");
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 8, 48);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_INCLUDE, {"10.0.2.7"});
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 8, 48);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_EXCLUDE, {});
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 8, 48);
    // (INCLUDE, none) is leaving; a second time there is nothing to leave.
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_INCLUDE, {});
    get_msf(t, s, "239.3.3.1", "10.0.2.15", 8, 48);
    set_msf(t, s, "239.3.3.1", "10.0.2.15", MCAST_INCLUDE, {});
}

SCENARIO(Mcast, ProtocolIndependentOptions) {
    int s = udp(t);
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "239.3.4.1", AF_INET6);
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "239.3.4.1", AF_INET, sizeof(group_req) - 1);
    group_opt(t, s, MCAST_JOIN_GROUP, 99, "239.3.4.1");
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "10.3.4.1");
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "239.3.4.1", AF_INET, sizeof(group_req) + 8);
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "239.3.4.1");
    join(t, s, "239.3.4.1");  // the same interface
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2", AF_INET6);
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2", AF_INET, AF_UNIX);
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2", AF_INET, AF_INET, sizeof(group_source_req) - 1);
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2", AF_INET, AF_INET, sizeof(group_source_req) + 1);
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2");
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, 0, "239.3.4.1", "10.0.2.3");  // the route names eth0
    gsrc_opt(t, s, MCAST_BLOCK_SOURCE, 1, "239.3.4.1", "10.0.2.3");  // no join on lo
    get_gf(t, s, kEth0, "239.3.4.1", 4, 144 + 128 * 4);
    get_gf(t, s, kEth0, "239.3.4.1", 1, 144 + 128 * 4);
    get_gf(t, s, 0, "239.3.4.1", 1, 144 + 128 * 4);  // no route lookup here
    get_gf(t, s, kEth0, "239.3.4.1", 1, 143);
    get_gf(t, s, kEth0, "239.3.4.1", 1, 144, AF_INET6);
    get_gf(t, s, kEth0, "10.3.4.1", 1, 144);
    gsrc_opt(t, s, MCAST_UNBLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2");
    gsrc_opt(t, s, MCAST_UNBLOCK_SOURCE, kEth0, "239.3.4.1", "10.0.2.2");
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, kEth0, "239.3.4.1", "10.0.2.2");
    group_opt(t, s, MCAST_LEAVE_GROUP, kEth0, "239.3.4.1");
    group_opt(t, s, MCAST_LEAVE_GROUP, kEth0, "239.3.4.1");
    // Source joins by index, and by route.
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, 99, "239.3.4.2", "10.0.2.2");
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, kEth0, "10.3.4.2", "10.0.2.2");
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, 0, "239.3.4.2", "10.0.2.2");
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, kEth0, "239.3.4.2", "10.0.2.3");
    gsrc_opt(t, s, MCAST_JOIN_SOURCE_GROUP, kEth0, "239.3.4.2", "10.0.2.3");
    get_gf(t, s, kEth0, "239.3.4.2", 4, 144 + 128 * 4);
    gsrc_opt(t, s, MCAST_LEAVE_SOURCE_GROUP, kEth0, "239.3.4.2", "10.0.2.9");
    gsrc_opt(t, s, MCAST_LEAVE_SOURCE_GROUP, kEth0, "239.3.4.2", "10.0.2.2");
    gsrc_opt(t, s, MCAST_LEAVE_SOURCE_GROUP, 0, "239.3.4.2", "10.0.2.3");
    get_gf(t, s, kEth0, "239.3.4.2", 4, 144 + 128 * 4);
    // MCAST_MSFILTER
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_EXCLUDE, {"10.0.2.2"});
    group_opt(t, s, MCAST_JOIN_GROUP, kEth0, "239.3.4.3");
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_EXCLUDE, {"10.0.2.2"}, AF_INET6);
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_EXCLUDE, {}, AF_INET, 0, 143);
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_EXCLUDE, {"10.0.2.2"}, AF_INET, 2);
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_EXCLUDE, {}, AF_INET, 11, 144 + 128 * 11);
    set_gf(t, s, kEth0, "239.3.4.3", 2, {"10.0.2.2"});
    set_gf(t, s, 99, "239.3.4.3", MCAST_EXCLUDE, {"10.0.2.2"});
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_INCLUDE, {"10.0.2.2", "10.0.2.3"});
    get_gf(t, s, kEth0, "239.3.4.3", 4, 144 + 128 * 4);
    set_gf(t, s, 0, "239.3.4.3", MCAST_EXCLUDE, {"10.0.2.4"});
    get_gf(t, s, kEth0, "239.3.4.3", 4, 144 + 128 * 4);
    set_gf(t, s, kEth0, "239.3.4.3", MCAST_INCLUDE, {});
    get_gf(t, s, kEth0, "239.3.4.3", 4, 144 + 128 * 4);
}

SCENARIO(Mcast, DeliveryFilteredBySource) {
    t.ip("addr add 10.0.2.3/24 dev eth0", kGw);
    int inc = bound(t, "0.0.0.0", 7720);
    src_opt(t, inc, IP_ADD_SOURCE_MEMBERSHIP, "239.3.5.1", "10.0.2.2");
    int exc = bound(t, "0.0.0.0", 7720);
    join(t, exc, "239.3.5.1");
    src_opt(t, exc, IP_BLOCK_SOURCE, "239.3.5.1", "10.0.2.2");
    int asm_ = bound(t, "0.0.0.0", 7720);
    join(t, asm_, "239.3.5.1");
    int all = bound(t, "0.0.0.0", 7720);
    int notall = bound(t, "0.0.0.0", 7720);
    t.setsockopt_int(notall, SOL_IP, IP_MULTICAST_ALL, 0);
    int g2 = gw_sender(t);
    int g3 = gw_sender(t, "10.0.2.3");
    t.sendto(g2, "from-2", addr("239.3.5.1", 7720));
    t.poll1(inc, POLLIN, 2000);
    t.sendto(g3, "from-3", addr("239.3.5.1", 7720));
    t.poll1(exc, POLLIN, 2000);
    for (int fd : {inc, exc, asm_, all, notall}) {
        t.recv(fd, 64, MSG_DONTWAIT);
        t.recv(fd, 64, MSG_DONTWAIT);
    }
    // Only a source join left: the interface now takes 10.0.2.2 alone, for every socket.
    join(t, exc, "239.3.5.1", "10.0.2.15", IP_DROP_MEMBERSHIP);
    join(t, asm_, "239.3.5.1", "10.0.2.15", IP_DROP_MEMBERSHIP);
    t.sendto(g3, "from-3-again", addr("239.3.5.1", 7720));
    t.sendto(g2, "from-2-again", addr("239.3.5.1", 7720));
    t.poll1(inc, POLLIN, 2000);
    t.poll1(all, POLLIN, 500);
    for (int fd : {inc, all}) {
        t.recv(fd, 64, MSG_DONTWAIT);
        t.recv(fd, 64, MSG_DONTWAIT);
    }
}

SCENARIO(Mcast, LoopbackCopyFollowsTheHostsFilter) {
    // A source join for another source: the host's own datagrams are not looped back.
    int r = bound(t, "0.0.0.0", 7721);
    src_opt(t, r, IP_ADD_SOURCE_MEMBERSHIP, "239.3.6.1", "10.0.2.2");
    int s = udp(t);
    t.sendto(s, "own", addr("239.3.6.1", 7721));
    t.poll1(r, POLLIN, 300);
    // Including the host's address lets them through.
    src_opt(t, r, IP_ADD_SOURCE_MEMBERSHIP, "239.3.6.1", "10.0.2.15");
    t.sendto(s, "own-included", addr("239.3.6.1", 7721));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
    // An exclude filter naming the host's address on another socket.
    int e = bound(t, "0.0.0.0", 7722);
    join(t, e, "239.3.6.2");
    src_opt(t, e, IP_BLOCK_SOURCE, "239.3.6.2", "10.0.2.15");
    t.sendto(s, "blocked", addr("239.3.6.2", 7722));
    t.poll1(e, POLLIN, 300);
    src_opt(t, e, IP_UNBLOCK_SOURCE, "239.3.6.2", "10.0.2.15");
    t.sendto(s, "unblocked", addr("239.3.6.2", 7722));
    t.poll1(e, POLLIN, 1000);
    t.recv(e, 64, MSG_DONTWAIT);
}

// ======================= null and short values =======================

SCENARIO(Mcast, NullAndShortOptionValues) {
    int s = udp(t);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, nullptr, 4);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, nullptr, 8);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, nullptr, 7);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, nullptr, 12);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_SOURCE_MEMBERSHIP, nullptr, 8);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_SOURCE_MEMBERSHIP, nullptr, 12);
    t.setsockopt_raw(s, SOL_IP, IP_BLOCK_SOURCE, nullptr, 13);
    t.setsockopt_raw(s, SOL_IP, IP_MSFILTER, nullptr, 8);
    t.setsockopt_raw(s, SOL_IP, IP_MSFILTER, nullptr, 16);
    t.setsockopt_raw(s, SOL_IP, IP_MSFILTER, nullptr, 200000);
    t.setsockopt_raw(s, SOL_IP, MCAST_JOIN_GROUP, nullptr, 8);
    t.setsockopt_raw(s, SOL_IP, MCAST_JOIN_GROUP, nullptr, sizeof(group_req));
    t.setsockopt_raw(s, SOL_IP, MCAST_LEAVE_SOURCE_GROUP, nullptr, 8);
    t.setsockopt_raw(s, SOL_IP, MCAST_LEAVE_SOURCE_GROUP, nullptr, sizeof(group_source_req));
    t.setsockopt_raw(s, SOL_IP, MCAST_MSFILTER, nullptr, 100);
    t.setsockopt_raw(s, SOL_IP, MCAST_MSFILTER, nullptr, 144);
    t.setsockopt_raw(s, SOL_IP, MCAST_MSFILTER, nullptr, 200000);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, nullptr, 2);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, nullptr, 4);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_TTL, nullptr, 4);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_LOOP, nullptr, 1);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_LOOP, nullptr, 0);
    t.setsockopt_raw(s, SOL_IP, 9999, nullptr, 4);
    for (int name : {IP_MSFILTER, MCAST_MSFILTER}) {
        for (socklen_t len : {socklen_t(0), socklen_t(8), socklen_t(200)}) {
            socklen_t l = len;
            errno = 0;
            const int r = t.api().getsockopt(s, SOL_IP, name, nullptr, &l);
            t.trace.push_back("getsockopt(" + std::to_string(name) + ",NULL,len=" + std::to_string(len) +
                              ") = " + (r < 0 ? "-1 " + errname(errno) : std::to_string(r)));
        }
    }
}
