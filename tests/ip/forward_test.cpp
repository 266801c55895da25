// Forwarding (net.ipv4.ip_forward=1): a router between two segments decrements TTL, sends
// time exceeded when it runs out, drops into blackhole routes, and says fragmentation
// needed for DF datagrams too big for the next hop.
#include <gtest/gtest.h>
#include <linux/errqueue.h>
#include <netinet/ip.h>

#include "../sim_helpers.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

struct Routed {
    sim::Network net{11};
    Stack& a = net.add_host("a");
    Stack& b = net.add_host("b");
    Stack& r;
    int left, right;
    static StackConfig router_cfg() {
        StackConfig c;
        c.ip_forward = true;
        return c;
    }
    Routed() : r(net.add_host("router", router_cfg())) {
        left = net.add_segment("left");
        right = net.add_segment("right");
        const int ia = net.attach(a, left, "eth0");
        const int ral = net.attach(r, left, "eth0");
        const int rar = net.attach(r, right, "eth1", 1280);
        const int ib = net.attach(b, right, "eth0");
        a.add_address(ia, Ip4(10, 1, 0, 2), 24);
        r.add_address(ral, Ip4(10, 1, 0, 1), 24);
        r.add_address(rar, Ip4(10, 2, 0, 1), 24);
        b.add_address(ib, Ip4(10, 2, 0, 2), 24);
        RouteSpec da;
        da.gateway = Ip4(10, 1, 0, 1);
        a.add_route(da);
        RouteSpec db;
        db.gateway = Ip4(10, 2, 0, 1);
        b.add_route(db);
        RouteSpec hole;
        hole.dst = Ip4(192, 0, 2, 0);
        hole.prefix_len = 24;
        hole.type = RouteType::Blackhole;
        r.add_route(hole);
    }
};

int errqueue_type(Stack& s, int fd) {
    char data[64], ctl[256];
    iovec iov{data, sizeof data};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    if (s.recvmsg(fd, &m, MSG_ERRQUEUE) < 0) return -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
            sock_extended_err ee;
            std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
            return ee.ee_type;
        }
    }
    return -2;
}

TEST(Forwarding, RouterCarriesDatagramsAndDecrementsTtl) {
    Routed n;
    const int rb = udp_bound(n.b, Ip4(), 4000);
    const int one = 1;
    ASSERT_EQ(n.b.setsockopt(rb, SOL_IP, IP_RECVTTL, &one, sizeof one), 0);
    const int s = n.a.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = sin4(Ip4(10, 2, 0, 2), 4000);
    ASSERT_EQ(n.a.sendto(s, "hop", 3, 0, sa(dst), sizeof dst), 3);
    n.net.run_for(10 * kMs);
    char buf[8], ctl[64];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ASSERT_EQ(n.b.recvmsg(rb, &m, MSG_DONTWAIT), 3);
    int ttl = 0;
    std::memcpy(&ttl, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof ttl);
    EXPECT_EQ(ttl, 63);  // one hop
    EXPECT_EQ(n.r.counters().ip.ForwDatagrams, 1u);
}

TEST(Forwarding, TtlRunsOutAtTheRouter) {
    Routed n;
    std::vector<std::string> lines;
    n.r.set_drop_observer([&](DropReason, const std::string& l) { lines.push_back(l); });
    const int s = n.a.socket(AF_INET, SOCK_DGRAM, 0);
    const int one = 1;
    ASSERT_EQ(n.a.setsockopt(s, SOL_IP, IP_TTL, &one, sizeof one), 0);
    ASSERT_EQ(n.a.setsockopt(s, SOL_IP, IP_RECVERR, &one, sizeof one), 0);
    const sockaddr_in dst = sin4(Ip4(10, 2, 0, 2), 4000);
    ASSERT_EQ(n.a.sendto(s, "x", 1, 0, sa(dst), sizeof dst), 1);
    n.net.run_for(10 * kMs);
    EXPECT_EQ(n.r.counters().drops[size_t(DropReason::TtlExpired)], 1u);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find(drop_text(DropReason::TtlExpired)), std::string::npos);
    EXPECT_EQ(errqueue_type(n.a, s), 11);  // ICMP time exceeded reached the sender
}

TEST(Forwarding, BlackholeRouteDropsAndDfTooBigGetsFragNeeded) {
    Routed n;
    const int s = n.a.socket(AF_INET, SOCK_DGRAM, 0);
    const int one = 1;
    ASSERT_EQ(n.a.setsockopt(s, SOL_IP, IP_RECVERR, &one, sizeof one), 0);
    const sockaddr_in hole = sin4(Ip4(192, 0, 2, 9), 4000);
    ASSERT_EQ(n.a.sendto(s, "x", 1, 0, sa(hole), sizeof hole), 1);
    n.net.run_for(10 * kMs);
    EXPECT_EQ(n.r.counters().drops[size_t(DropReason::Blackhole)], 1u);
    EXPECT_EQ(errqueue_type(n.a, s), -1);  // a blackhole answers nothing
    // 1400 bytes fit a's mtu 1500 (DF set by default) but not the router's 1280 link.
    const int d = n.a.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(n.a.setsockopt(d, SOL_IP, IP_RECVERR, &one, sizeof one), 0);
    const sockaddr_in dst = sin4(Ip4(10, 2, 0, 2), 4000);
    std::string big(1400, 'b');
    ASSERT_EQ(n.a.sendto(d, big.data(), big.size(), 0, sa(dst), sizeof dst), 1400);
    n.net.run_for(10 * kMs);
    EXPECT_EQ(errqueue_type(n.a, d), 3);  // destination unreachable (fragmentation needed)
}

}  // namespace
