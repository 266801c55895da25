// IPv4: routing (longest prefix, route types, source choice), fragmentation and
// reassembly (with reordering, duplication and timeout), ICMP echo through a ping socket,
// ICMP error rate limiting, and input validation counters.
#include <gtest/gtest.h>
#include <netinet/ip.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "../sim_helpers.hpp"
#include "wire/icmp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

// A host with two Ethernet interfaces on two segments.
struct TwoNets {
    TwoNets() : h(net.add_host("h")) {
        s1 = net.add_segment("net1");
        s2 = net.add_segment("net2");
        e0 = net.attach(h, s1, "eth0");
        e1 = net.attach(h, s2, "eth1");
        EXPECT_EQ(h.add_address(e0, Ip4(192, 168, 1, 10), 24), 0);
        EXPECT_EQ(h.add_address(e1, Ip4(192, 168, 2, 10), 24), 0);
    }
    usnet::ip::RouteResult route(Ip4 dst, Err* err = nullptr) {
        usnet::ip::Flow fl;
        fl.daddr = dst;
        usnet::ip::RouteResult rt;
        const Err e = h.impl().ip.route_output(fl, &rt);
        if (err) *err = e;
        return rt;
    }
    // connect() + getsockname(): the source address the stack picks, or -errno.
    int connect_src(Ip4 dst, Ip4* src) {
        const int fd = h.socket(AF_INET, SOCK_DGRAM, 0);
        const auto d = sin4(dst, 53);
        int r = h.connect(fd, sa(d), sizeof d);
        if (r != 0) r = -errno;
        sockaddr_in me{};
        socklen_t l = sizeof me;
        h.getsockname(fd, sa(me), &l);
        *src = Ip4::from_net(me.sin_addr.s_addr);
        h.close(fd);
        return r;
    }
    sim::Network net;
    Stack& h;
    int s1 = 0, s2 = 0, e0 = 0, e1 = 0;
};

RouteSpec via(Ip4 dst, int len, Ip4 gw, uint32_t metric = 0) {
    RouteSpec r;
    r.dst = dst;
    r.prefix_len = len;
    r.gateway = gw;
    r.metric = metric;
    return r;
}

TEST(Routing, LongestPrefixMatch) {
    TwoNets t;
    ASSERT_EQ(t.h.add_route(via(Ip4(10, 0, 0, 0), 8, Ip4(192, 168, 1, 1))), 0);
    ASSERT_EQ(t.h.add_route(via(Ip4(10, 1, 0, 0), 16, Ip4(192, 168, 2, 1))), 0);
    ASSERT_EQ(t.h.add_route(via(Ip4(10, 1, 2, 0), 24, Ip4(192, 168, 1, 254))), 0);
    ASSERT_EQ(t.h.add_route(via(Ip4(10, 1, 2, 128), 25, Ip4(192, 168, 2, 254))), 0);

    struct Case { Ip4 dst, nexthop, src; int dev; };
    const Case cases[] = {
        {Ip4(10, 9, 9, 9), Ip4(192, 168, 1, 1), Ip4(192, 168, 1, 10), t.e0},
        {Ip4(10, 1, 9, 9), Ip4(192, 168, 2, 1), Ip4(192, 168, 2, 10), t.e1},
        {Ip4(10, 1, 2, 3), Ip4(192, 168, 1, 254), Ip4(192, 168, 1, 10), t.e0},
        {Ip4(10, 1, 2, 200), Ip4(192, 168, 2, 254), Ip4(192, 168, 2, 10), t.e1},
        {Ip4(192, 168, 2, 77), Ip4(192, 168, 2, 77), Ip4(192, 168, 2, 10), t.e1},  // on-link
    };
    for (const auto& c : cases) {
        Err e;
        const auto rt = t.route(c.dst, &e);
        ASSERT_EQ(e, Err::None) << c.dst.str();
        ASSERT_NE(rt.dev, nullptr);
        EXPECT_EQ(rt.dev->ifindex, c.dev) << c.dst.str();
        EXPECT_EQ(rt.nexthop, c.nexthop) << c.dst.str();
        EXPECT_EQ(rt.src, c.src) << c.dst.str();
        EXPECT_EQ(rt.dst, c.dst);
        EXPECT_EQ(rt.mtu, 1500u);
        EXPECT_EQ(rt.flags, 0);
    }

    // No default route yet: ENETUNREACH (and OutNoRoutes).
    Ip4 src;
    EXPECT_EQ(t.connect_src(Ip4(8, 8, 8, 8), &src), -ENETUNREACH);
    EXPECT_EQ(t.h.counters().ip.OutNoRoutes, 1u);
    // A default route catches the rest; the longer prefixes still win.
    ASSERT_EQ(t.h.add_route(via(Ip4(), 0, Ip4(192, 168, 2, 1))), 0);
    EXPECT_EQ(t.route(Ip4(8, 8, 8, 8)).nexthop, Ip4(192, 168, 2, 1));
    EXPECT_EQ(t.route(Ip4(10, 1, 2, 3)).nexthop, Ip4(192, 168, 1, 254));
    // Deleting the /24 exposes the /16.
    ASSERT_EQ(t.h.del_route(Ip4(10, 1, 2, 0), 24), 0);
    EXPECT_EQ(t.route(Ip4(10, 1, 2, 3)).nexthop, Ip4(192, 168, 2, 1));
    EXPECT_EQ(t.h.del_route(Ip4(10, 1, 2, 0), 24), -ESRCH);
}

TEST(Routing, MetricBreaksTies) {
    TwoNets t;
    ASSERT_EQ(t.h.add_route(via(Ip4(172, 16, 0, 0), 12, Ip4(192, 168, 1, 1), 200)), 0);
    ASSERT_EQ(t.h.add_route(via(Ip4(172, 16, 0, 0), 12, Ip4(192, 168, 2, 1), 100)), 0);
    EXPECT_EQ(t.route(Ip4(172, 20, 1, 1)).nexthop, Ip4(192, 168, 2, 1));
}

TEST(Routing, GatewayMustBeOnLink) {
    TwoNets t;
    // `ip route add 10.0.0.0/8 via 203.0.113.1`: the gateway is not directly reachable.
    EXPECT_EQ(t.h.add_route(via(Ip4(10, 0, 0, 0), 8, Ip4(203, 0, 113, 1))), -ENETUNREACH);
    RouteSpec bad;
    bad.prefix_len = 33;
    EXPECT_EQ(t.h.add_route(bad), -EINVAL);
}

TEST(Routing, RouteTypesFailConnectAndSend) {
    TwoNets t;
    ASSERT_EQ(t.h.add_route(via(Ip4(), 0, Ip4(192, 168, 1, 1))), 0);
    struct Case { Ip4 net; RouteType type; int err; Err why; };
    const Case cases[] = {
        {Ip4(203, 0, 113, 0), RouteType::Blackhole, EINVAL, Err::RouteBlackhole},
        {Ip4(198, 51, 100, 0), RouteType::Unreachable, EHOSTUNREACH, Err::RouteUnreachable},
        {Ip4(192, 0, 2, 0), RouteType::Prohibit, EACCES, Err::RouteProhibit},
    };
    for (const auto& c : cases) {
        RouteSpec r;
        r.dst = c.net;
        r.prefix_len = 24;
        r.type = c.type;
        ASSERT_EQ(t.h.add_route(r), 0);
        const int fd = t.h.socket(AF_INET, SOCK_DGRAM, 0);
        const auto d = sin4(Ip4(c.net.v | 5), 9);
        EXPECT_EQ(t.h.connect(fd, sa(d), sizeof d), -1);
        EXPECT_EQ(errno, c.err);
        EXPECT_EQ(last_error(), c.why);
        EXPECT_EQ(t.h.sendto(fd, "x", 1, 0, sa(d), sizeof d), -1);
        EXPECT_EQ(errno, c.err);
        // Addresses just outside the /24 follow the default route.
        const auto outside = sin4(Ip4(c.net.v + 256), 9);
        EXPECT_EQ(t.h.connect(fd, sa(outside), sizeof outside), 0);
        t.h.close(fd);
    }
    EXPECT_EQ(t.h.counters().link.TxFrames, 0u);  // connect() sends nothing; refused sends neither
}

TEST(Routing, SourceAddressSelection) {
    TwoNets t;
    ASSERT_EQ(t.h.add_address(t.e0, Ip4(172, 16, 0, 5), 16), 0);
    ASSERT_EQ(t.h.add_route(via(Ip4(), 0, Ip4(192, 168, 1, 1))), 0);
    Ip4 src;
    // The address whose prefix covers the destination.
    ASSERT_EQ(t.connect_src(Ip4(172, 16, 9, 9), &src), 0);
    EXPECT_EQ(src, Ip4(172, 16, 0, 5));
    ASSERT_EQ(t.connect_src(Ip4(192, 168, 1, 77), &src), 0);
    EXPECT_EQ(src, Ip4(192, 168, 1, 10));
    // Via a gateway: the address on the gateway's subnet (the primary here).
    ASSERT_EQ(t.connect_src(Ip4(8, 8, 8, 8), &src), 0);
    EXPECT_EQ(src, Ip4(192, 168, 1, 10));
    // A route's preferred source wins.
    RouteSpec r = via(Ip4(198, 51, 100, 0), 24, Ip4(192, 168, 1, 1));
    r.prefsrc = Ip4(172, 16, 0, 5);
    ASSERT_EQ(t.h.add_route(r), 0);
    ASSERT_EQ(t.connect_src(Ip4(198, 51, 100, 1), &src), 0);
    EXPECT_EQ(src, Ip4(172, 16, 0, 5));
    // Local destinations: the address itself; 127/8 uses lo's 127.0.0.1.
    ASSERT_EQ(t.connect_src(Ip4(192, 168, 2, 10), &src), 0);
    EXPECT_EQ(src, Ip4(192, 168, 2, 10));
    ASSERT_EQ(t.connect_src(Ip4(127, 0, 0, 5), &src), 0);
    EXPECT_EQ(src, Ip4(127, 0, 0, 1));
    const auto lrt = t.route(Ip4(192, 168, 2, 10));
    ASSERT_NE(lrt.dev, nullptr);
    EXPECT_TRUE(lrt.dev->loopback);
    EXPECT_TRUE(lrt.flags & usnet::ip::kRtLocal);
    // Subnet broadcast is a broadcast route.
    EXPECT_TRUE(t.route(Ip4(192, 168, 1, 255)).flags & usnet::ip::kRtBroadcast);
    EXPECT_EQ(t.h.impl().ip.addr_type(Ip4(192, 168, 1, 255)), RouteType::Broadcast);
    EXPECT_EQ(t.h.impl().ip.addr_type(Ip4(192, 168, 1, 10)), RouteType::Local);
    EXPECT_EQ(t.h.impl().ip.addr_type(Ip4(192, 168, 1, 11)), RouteType::Unicast);
    // Removing the address removes its routes.
    ASSERT_EQ(t.h.del_address(t.e0, Ip4(172, 16, 0, 5), 16), 0);
    ASSERT_EQ(t.connect_src(Ip4(172, 16, 9, 9), &src), 0);
    EXPECT_EQ(src, Ip4(192, 168, 1, 10));  // now via the default route
    EXPECT_EQ(t.h.impl().ip.addr_type(Ip4(172, 16, 0, 5)), RouteType::Unicast);
}

TEST(Routing, DownInterfaceIsUnreachable) {
    TwoNets t;
    ASSERT_EQ(t.h.set_link_up(t.e1, false), 0);
    Ip4 src;
    EXPECT_EQ(t.connect_src(Ip4(192, 168, 2, 50), &src), -ENETUNREACH);
}

// Default world plus a receiving socket on the host with a large buffer.
struct World {
    explicit World(uint64_t seed = 1) {
        StackConfig c;
        c.rmem_default = c.rmem_max = 64u << 20;
        w = sim::make_default_world(seed, c);
    }
    Stack& host() { return *w.host; }
    Stack& gw() { return *w.gateway; }
    sim::DefaultWorld w;
};

std::vector<char> pattern(size_t n, int seed) {
    std::vector<char> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = char((i * 131 + size_t(seed) * 7) & 0xff);
    return v;
}

TEST(Fragmentation, FourThousandBytesOverMtu1500) {
    World W(21);
    const int rx = udp_bound(W.gw(), Ip4(10, 0, 2, 2), 7000);
    const int tx = W.host().socket(AF_INET, SOCK_DGRAM, 0);
    const std::string cap = ::testing::TempDir() + "/usnet_frag_" + std::to_string(::getpid()) + ".pcap";
    ASSERT_TRUE(W.w.net->capture(W.w.segment, cap));
    const auto msg = pattern(4000, 1);
    const auto d = sin4(Ip4(10, 0, 2, 2), 7000);
    ASSERT_EQ(W.host().sendto(tx, msg.data(), msg.size(), 0, sa(d), sizeof d), 4000);
    // 4008 bytes of UDP in pieces of 1480: 1480 + 1480 + 1048.
    EXPECT_EQ(W.host().counters().ip.FragCreates, 3u);
    EXPECT_EQ(W.host().counters().ip.FragOKs, 1u);
    EXPECT_EQ(W.host().counters().ip.OutRequests, 1u);
    timeval tv{1, 0};
    ASSERT_EQ(W.gw().setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    std::vector<char> in(5000);
    ASSERT_EQ(W.gw().recv(rx, in.data(), in.size(), 0), 4000);
    EXPECT_TRUE(std::equal(msg.begin(), msg.end(), in.begin()));
    EXPECT_EQ(W.gw().counters().ip.ReasmReqds, 3u);
    EXPECT_EQ(W.gw().counters().ip.ReasmOKs, 1u);
    EXPECT_EQ(W.gw().counters().ip.ReasmFails, 0u);
    EXPECT_EQ(W.gw().counters().udp.InDatagrams, 1u);

    // On the wire: ARP request, reply, then three fragments with the same id, offsets
    // 0/185/370 in 8-byte units, MF on all but the last; sizes 1514, 1514, 1082.
    std::FILE* f = std::fopen(cap.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::vector<uint8_t> file(1 << 16);
    file.resize(std::fread(file.data(), 1, file.size(), f));
    std::fclose(f);
    std::remove(cap.c_str());
    size_t off = 24;
    std::vector<std::vector<uint8_t>> frames;
    while (off + 16 <= file.size()) {
        uint32_t incl;
        std::memcpy(&incl, &file[off + 8], 4);
        frames.emplace_back(file.begin() + long(off + 16), file.begin() + long(off + 16 + incl));
        off += 16 + incl;
    }
    ASSERT_EQ(frames.size(), 5u);
    const uint16_t id = wire::load16(&frames[2][14 + 4]);
    const uint16_t want_frag[3] = {wire::kIpMF | 0, wire::kIpMF | 185, 370};
    const size_t want_len[3] = {1514, 1514, 14 + 20 + 1048};
    for (int i = 0; i < 3; ++i) {
        const auto& fr = frames[size_t(2 + i)];
        EXPECT_EQ(fr.size(), want_len[i]);
        wire::Ipv4Repr h;
        ASSERT_EQ(wire::Ipv4Repr::parse({fr.data() + 14, fr.size() - 14}, &h), wire::Ipv4Error::Ok);
        EXPECT_EQ(h.id, id);
        EXPECT_EQ(h.frag, want_frag[i]);
        EXPECT_EQ(h.total_len, fr.size() - 14);
        EXPECT_EQ(h.proto, wire::kProtoUdp);
    }
}

TEST(Fragmentation, DontFragmentGivesEmsgsize) {
    World W(22);
    const int tx = W.host().socket(AF_INET, SOCK_DGRAM, 0);
    const int v = IP_PMTUDISC_DO;
    ASSERT_EQ(W.host().setsockopt(tx, SOL_IP, IP_MTU_DISCOVER, &v, sizeof v), 0);
    const auto msg = pattern(1473, 0);
    const auto d = sin4(Ip4(10, 0, 2, 2), 7000);
    EXPECT_EQ(W.host().sendto(tx, msg.data(), msg.size(), 0, sa(d), sizeof d), -1);
    EXPECT_EQ(errno, EMSGSIZE);
    EXPECT_EQ(W.host().sendto(tx, msg.data(), 1472, 0, sa(d), sizeof d), 1472);  // exactly fits
    EXPECT_EQ(W.host().counters().ip.FragCreates, 0u);
}

TEST(Reassembly, ReorderedAndDuplicatedFragments) {
    World W(23);
    Stack& g = W.gw();
    Stack& h = W.host();
    const int rx = udp_bound(h, Ip4(10, 0, 2, 15), 7000);
    const int tx = g.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Ip4(10, 0, 2, 15), 7000);
    // Resolve ARP first on a clean link.
    ASSERT_EQ(g.sendto(tx, "warm", 4, 0, sa(d), sizeof d), 4);
    W.w.net->run_for(10 * kMs);
    char small[8];
    ASSERT_EQ(h.recv(rx, small, sizeof small, MSG_DONTWAIT), 4);

    sim::LinkParams lp;
    lp.reorder = 0.5;
    lp.duplicate = 0.3;
    lp.jitter = 20 * 1000;
    W.w.net->set_params(W.w.segment, lp);
    // Few enough that every reassembly queue (charged 64 KiB each) fits ipfrag_high_thresh.
    constexpr int kN = 20;
    for (int i = 0; i < kN; ++i) {
        auto msg = pattern(4000 + size_t(i), i);
        std::memcpy(msg.data(), &i, sizeof i);
        ASSERT_EQ(g.sendto(tx, msg.data(), msg.size(), 0, sa(d), sizeof d), ssize_t(msg.size()));
    }
    EXPECT_EQ(g.counters().ip.FragCreates, uint64_t(3 * kN));
    W.w.net->run_for(100 * kMs);

    std::vector<int> order;
    std::vector<char> in(5000);
    for (;;) {
        const ssize_t n = h.recv(rx, in.data(), in.size(), MSG_DONTWAIT);
        if (n < 0) break;
        int i;
        std::memcpy(&i, in.data(), sizeof i);
        ASSERT_GE(i, 0);
        ASSERT_LT(i, kN);
        ASSERT_EQ(n, 4000 + i);
        auto want = pattern(4000 + size_t(i), i);
        std::memcpy(want.data(), &i, sizeof i);
        EXPECT_TRUE(std::equal(want.begin(), want.end(), in.begin())) << "datagram " << i;
        order.push_back(i);
    }
    // Every datagram exactly once, despite duplicated fragments.
    ASSERT_EQ(order.size(), size_t(kN));
    EXPECT_EQ(std::set<int>(order.begin(), order.end()).size(), size_t(kN));
    EXPECT_FALSE(std::is_sorted(order.begin(), order.end())) << "the link reordered nothing";
    const auto& c = h.counters().ip;
    EXPECT_EQ(c.ReasmOKs, uint64_t(kN));
    EXPECT_GT(c.ReasmReqds, uint64_t(3 * kN));  // duplicates arrived too
    EXPECT_EQ(h.counters().udp.InDatagrams, uint64_t(kN + 1));
}

TEST(Reassembly, TimeoutAfterThirtySeconds) {
    World W(24);
    Stack& h = W.host();
    Stack& g = W.gw();
    const int heth = h.ifindex_of("eth0");
    // Resolve the gateway so the ICMP error can leave without waiting on ARP.
    const int probe = h.socket(AF_INET, SOCK_DGRAM, 0);
    const auto gd = sin4(Ip4(10, 0, 2, 2), 9);
    ASSERT_EQ(h.sendto(probe, "x", 1, 0, sa(gd), sizeof gd), 1);
    W.w.net->run_for(10 * kMs);
    const Time t0 = W.w.net->now();

    // Only the first fragment of a datagram from the gateway ever arrives.
    FrameSpec f;
    f.dst = mac_of(h, heth);
    f.src = mac_of(g, g.ifindex_of("eth0"));
    f.ip_src = Ip4(10, 0, 2, 2);
    f.ip_dst = Ip4(10, 0, 2, 15);
    f.id = 4242;
    f.frag = wire::kIpMF;
    std::vector<uint8_t> l4(1480, 0x11);
    wire::store16(&l4[0], 5000);
    wire::store16(&l4[2], 7000);
    wire::store16(&l4[4], 3000);
    const auto first = ipv4_frame(f, l4);
    inject(h, heth, first);
    // And a middle fragment of another (no first fragment: no ICMP for that one).
    f.id = 4243;
    f.frag = wire::kIpMF | 185;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(1480, 0x22)));
    EXPECT_EQ(h.counters().ip.ReasmReqds, 2u);
    EXPECT_EQ(h.impl().ip.next_deadline(), t0 + 30 * kSec);

    const std::string cap = ::testing::TempDir() + "/usnet_expire_" + std::to_string(::getpid()) + ".pcap";
    ASSERT_TRUE(W.w.net->capture(W.w.segment, cap));
    W.w.net->run_for(29 * kSec);
    EXPECT_EQ(h.counters().ip.ReasmTimeout, 0u);
    EXPECT_EQ(h.counters().ip.ReasmFails, 0u);

    W.w.net->run_for(2 * kSec);
    const auto& c = h.counters();
    EXPECT_EQ(c.ip.ReasmTimeout, 2u);
    EXPECT_EQ(c.ip.ReasmFails, 2u);
    EXPECT_EQ(c.ip.ReasmOKs, 0u);
    EXPECT_EQ(c.icmp.OutTimeExcds, 1u);  // only for the queue whose first fragment came
    // The gateway got "fragment reassembly time exceeded" quoting its header + 8 bytes.
    EXPECT_EQ(g.counters().icmp.InTimeExcds, 1u);
    EXPECT_EQ(g.counters().icmp.InErrors, 1u);  // no socket sent it: __udp4_lib_err finds none
    EXPECT_EQ(h.impl().ip.next_deadline(), kNever);

    // On the wire (ip_expire -> icmp_send): the first fragment as it arrived, header intact,
    // truncated so the ICMP message fits 576 bytes: 20 + 8 + 548.
    std::FILE* fp = std::fopen(cap.c_str(), "rb");
    ASSERT_NE(fp, nullptr);
    std::vector<uint8_t> file(1 << 16);
    file.resize(std::fread(file.data(), 1, file.size(), fp));
    std::fclose(fp);
    std::remove(cap.c_str());
    std::vector<uint8_t> icmp_frame;
    for (size_t off = 24; off + 16 <= file.size();) {
        uint32_t incl;
        std::memcpy(&incl, &file[off + 8], 4);
        const uint8_t* fr = &file[off + 16];
        if (incl > 14 + 20 && fr[14 + 9] == wire::kProtoIcmp && fr[14 + 20] == wire::kIcmpTimeExceeded)
            icmp_frame.assign(fr, fr + incl);
        off += 16 + incl;
    }
    ASSERT_EQ(icmp_frame.size(), 14u + 576u);
    const uint8_t* icmp = icmp_frame.data() + 14 + 20;
    EXPECT_EQ(icmp[1], 1);  // fragment reassembly time exceeded
    EXPECT_EQ(wire::checksum(icmp, 556), 0);
    EXPECT_EQ(std::memcmp(icmp + 8, first.data() + 14, 548), 0);  // header and data as received
    wire::Ipv4Repr quoted;
    EXPECT_EQ(wire::Ipv4Repr::parse({icmp + 8, 548}, &quoted, true), wire::Ipv4Error::TotalLength);  // truncated
    EXPECT_EQ(wire::checksum(icmp + 8, 20), 0);  // the quoted header's checksum still holds
}

TEST(Reassembly, OverlapDropsQueue) {
    World W(25);
    Stack& h = W.host();
    const int heth = h.ifindex_of("eth0");
    FrameSpec f;
    f.dst = mac_of(h, heth);
    f.ip_src = Ip4(10, 0, 2, 2);
    f.ip_dst = Ip4(10, 0, 2, 15);
    f.id = 99;
    f.frag = wire::kIpMF;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(16, 1)));
    f.frag = wire::kIpMF | 1;  // offset 8 overlaps [0,16)
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(16, 2)));
    EXPECT_EQ(h.counters().ip.ReasmFails, 1u);
    EXPECT_EQ(h.impl().ip.next_deadline(), kNever);  // queue gone
    // A non-final fragment whose length is not a multiple of 8 is rejected outright.
    f.id = 100;
    f.frag = wire::kIpMF;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(13, 1)));
    EXPECT_EQ(h.counters().ip.ReasmFails, 2u);
}

// A fragment beyond where the last fragment says the datagram ends must kill the queue
// (ip_frag_queue: end < q.len with LAST_IN); otherwise the byte count can reach the total
// while a hole remains, and the hole is delivered as stale buffer memory.
TEST(Reassembly, FragmentBeyondLastFragmentIsRejected) {
    World W(31);
    Stack& h = W.host();
    const int heth = h.ifindex_of("eth0");
    const int rx = udp_bound(h, Ip4(), 7000);
    // Fill a large pool buffer with a recognisable pattern first, so a hole would show.
    {
        const int lo_tx = h.socket(AF_INET, SOCK_DGRAM, 0);
        std::vector<char> junk(60000, 'J');
        const auto d = sin4(Ip4(127, 0, 0, 1), 7000);
        ASSERT_EQ(h.sendto(lo_tx, junk.data(), junk.size(), 0, sa(d), sizeof d), 60000);
        std::vector<char> in(65536);
        ASSERT_EQ(h.recv(rx, in.data(), in.size(), MSG_DONTWAIT), 60000);
    }
    FrameSpec f;
    f.dst = mac_of(h, heth);
    f.ip_src = Ip4(10, 0, 2, 2);
    f.ip_dst = Ip4(10, 0, 2, 15);
    f.id = 555;
    // The datagram: UDP header + 32 bytes, 40 bytes in all.
    auto whole = udp_datagram(f.ip_src, f.ip_dst, 5000, 7000, std::vector<uint8_t>(32, 'D'));
    ASSERT_EQ(whole.size(), 40u);
    whole[6] = whole[7] = 0;  // no UDP checksum: nothing above IP would notice a hole
    // A: bytes [40,48), MF: lies beyond the end the last fragment will announce.
    f.frag = wire::kIpMF | 5;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(8, 'X')));
    // B: the last fragment, bytes [16,40).
    f.frag = 2;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(whole.begin() + 16, whole.end())));
    // C: the first fragment, bytes [0,8). Bytes [8,16) never arrive.
    f.frag = wire::kIpMF | 0;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(whole.begin(), whole.begin() + 8)));
    std::vector<char> in(65536);
    EXPECT_EQ(h.recv(rx, in.data(), in.size(), MSG_DONTWAIT), -1) << "a datagram with a hole was delivered";
    EXPECT_EQ(h.counters().ip.ReasmOKs, 0u);
    EXPECT_GE(h.counters().ip.ReasmFails, 1u);
    // The mirror case: the last fragment first, then one that ends beyond it.
    f.id = 556;
    f.frag = 2;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(whole.begin() + 16, whole.end())));
    const uint64_t fails = h.counters().ip.ReasmFails;
    f.frag = wire::kIpMF | 5;
    inject(h, heth, ipv4_frame(f, std::vector<uint8_t>(8, 'X')));
    EXPECT_EQ(h.counters().ip.ReasmFails, fails + 1);
}

TEST(Reassembly, FirstFragmentWithOptions) {
    World W(32);
    Stack& h = W.host();
    const int heth = h.ifindex_of("eth0");
    const int rx = udp_bound(h, Ip4(), 7000);
    const Ip4 src(10, 0, 2, 2), dst(10, 0, 2, 15);
    std::vector<uint8_t> payload(40);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t('a' + i % 26);
    const auto whole = udp_datagram(src, dst, 5000, 7000, payload);  // 48 bytes
    // First fragment with an 8-byte option area (ihl 7), second without options.
    auto frame = [&](int ihl, uint16_t frag, size_t from, size_t to) {
        std::vector<uint8_t> b(14 + size_t(ihl) * 4 + (to - from));
        wire::EthernetRepr{mac_of(h, heth), Mac{{2, 0xee, 0, 0, 0, 1}}, wire::kEthIpv4}.emit(b.data());
        uint8_t* ip = b.data() + 14;
        ip[0] = uint8_t(0x40 | ihl);
        wire::store16(ip + 2, uint16_t(b.size() - 14));
        wire::store16(ip + 4, 900);
        wire::store16(ip + 6, frag);
        ip[8] = 64;
        ip[9] = wire::kProtoUdp;
        wire::store32(ip + 12, src.v);
        wire::store32(ip + 16, dst.v);
        for (int i = 20; i < ihl * 4; ++i) ip[i] = 1;  // NOPs
        std::copy(whole.begin() + long(from), whole.begin() + long(to), ip + ihl * 4);
        wire::store16(ip + 10, wire::checksum(ip, size_t(ihl) * 4));
        return b;
    };
    inject(h, heth, frame(5, 3, 24, 48));               // last piece first
    inject(h, heth, frame(7, wire::kIpMF | 0, 0, 24));  // first, with options
    char in[128];
    ASSERT_EQ(h.recv(rx, in, sizeof in, MSG_DONTWAIT), 40);
    EXPECT_EQ(std::memcmp(in, payload.data(), 40), 0);
    EXPECT_EQ(h.counters().ip.ReasmOKs, 1u);
}

TEST(Icmp, PingSocketGetsEchoReplyFromGateway) {
    sim::DefaultWorld w = sim::make_default_world(26);
    Stack& h = *w.host;
    const int fd = h.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    ASSERT_GE(fd, 0);
    uint8_t req[8 + 16] = {wire::kIcmpEcho, 0, 0, 0, 0, 0, 0, 7};
    std::memcpy(req + 8, "usnet ping data!", 16);
    const auto d = sin4(Ip4(10, 0, 2, 2), 0);
    ASSERT_EQ(h.sendto(fd, req, sizeof req, 0, sa(d), sizeof d), ssize_t(sizeof req));
    sockaddr_in me{};
    socklen_t ml = sizeof me;
    ASSERT_EQ(h.getsockname(fd, sa(me), &ml), 0);
    const uint16_t ident = ntohs(me.sin_port);
    EXPECT_NE(ident, 0);

    timeval tv{1, 0};
    ASSERT_EQ(h.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    uint8_t rep[64];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ASSERT_EQ(h.recvfrom(fd, rep, sizeof rep, 0, sa(from), &fl), ssize_t(sizeof req));
    EXPECT_EQ(Ip4::from_net(from.sin_addr.s_addr), Ip4(10, 0, 2, 2));
    EXPECT_EQ(rep[0], wire::kIcmpEchoReply);
    EXPECT_EQ(rep[1], 0);
    EXPECT_EQ(wire::load16(rep + 4), ident);  // the kernel's identifier, not ours (0)
    EXPECT_EQ(wire::load16(rep + 6), 7);
    EXPECT_EQ(std::memcmp(rep + 8, "usnet ping data!", 16), 0);
    wire::IcmpRepr ic;
    EXPECT_TRUE(wire::IcmpRepr::parse({rep, sizeof req}, &ic));  // checksum intact
    EXPECT_EQ(w.gateway->counters().icmp.InEchos, 1u);
    EXPECT_EQ(w.gateway->counters().icmp.OutEchoReps, 1u);
    EXPECT_EQ(h.counters().icmp.OutEchos, 1u);
    EXPECT_EQ(h.counters().icmp.InEchoReps, 1u);
    // Only ICMP echo requests may be sent on a ping socket.
    uint8_t bad[8] = {wire::kIcmpEchoReply, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(h.sendto(fd, bad, sizeof bad, 0, sa(d), sizeof d), -1);
    EXPECT_EQ(errno, EINVAL);
}

TEST(Icmp, PortUnreachableIsRateLimitedPerHost) {
    sim::DefaultWorld w = sim::make_default_world(27);
    Stack& h = *w.host;
    Stack& g = *w.gateway;
    const int fd = h.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Ip4(10, 0, 2, 2), 9);  // nothing listens on the gateway
    constexpr int kN = 10;
    for (int i = 0; i < kN; ++i) ASSERT_EQ(h.sendto(fd, "x", 1, 0, sa(d), sizeof d), 1);
    w.net->run_for(100 * kMs);
    EXPECT_EQ(g.counters().udp.NoPorts, uint64_t(kN));
    // A burst of 6 per peer (inet_peer_xrlim_allow), then one per icmp_ratelimit (1 s).
    EXPECT_EQ(g.counters().icmp.OutDestUnreachs, 6u);
    EXPECT_EQ(g.counters().icmp.OutRateLimitHost, uint64_t(kN - 6));
    EXPECT_GT(g.counters().icmp.OutRateLimitHost, 0u);
    EXPECT_EQ(g.counters().icmp.OutRateLimitGlobal, 0u);
    EXPECT_EQ(h.counters().icmp.InDestUnreachs, 6u);
    // A second later one token has come back.
    w.net->run_for(1 * kSec);
    ASSERT_EQ(h.sendto(fd, "x", 1, 0, sa(d), sizeof d), 1);
    ASSERT_EQ(h.sendto(fd, "x", 1, 0, sa(d), sizeof d), 1);
    w.net->run_for(100 * kMs);
    EXPECT_EQ(g.counters().icmp.OutDestUnreachs, 7u);
    EXPECT_EQ(g.counters().icmp.OutRateLimitHost, uint64_t(kN - 6 + 1));
}

TEST(Icmp, ErrorsToThisHostAreNotLimited) {
    sim::DefaultWorld w = sim::make_default_world(28);
    Stack& h = *w.host;
    const int fd = h.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Ip4(127, 0, 0, 1), 9);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(h.sendto(fd, "x", 1, 0, sa(d), sizeof d), 1);
    EXPECT_EQ(h.counters().udp.NoPorts, 20u);
    EXPECT_EQ(h.counters().icmp.OutDestUnreachs, 20u);
    EXPECT_EQ(h.counters().icmp.OutRateLimitHost, 0u);
}

struct Injector {
    explicit Injector(uint64_t seed) : w(sim::make_default_world(seed)), h(*w.host), eth(h.ifindex_of("eth0")) {
        spec.dst = mac_of(h, eth);
        spec.ip_src = Ip4(10, 0, 2, 2);
        spec.ip_dst = Ip4(10, 0, 2, 15);
    }
    std::vector<uint8_t> good(uint16_t dport = 7000) {
        return ipv4_frame(spec, udp_datagram(spec.ip_src, spec.ip_dst, 5000, dport, {1, 2, 3, 4}));
    }
    static void fix_ip_csum(std::vector<uint8_t>& f) {
        uint8_t* ip = f.data() + 14;
        const size_t hl = size_t(ip[0] & 15) * 4;
        ip[10] = ip[11] = 0;
        wire::store16(ip + 10, wire::checksum(ip, hl));
    }
    void send(const std::vector<uint8_t>& f) { inject(h, eth, f); }
    sim::DefaultWorld w;
    Stack& h;
    int eth;
    FrameSpec spec;
};

TEST(Input, MalformedHeadersAreCounted) {
    Injector I(29);
    const int rx = udp_bound(I.h, Ip4(), 7000);
    const auto& c = I.h.counters().ip;

    I.send(I.good());  // baseline: accepted
    char buf[16];
    ASSERT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 4);
    EXPECT_EQ(c.InReceives, 1u);
    EXPECT_EQ(c.InDelivers, 1u);

    auto f = I.good();
    f[14 + 10] ^= 0x01;  // bad header checksum
    I.send(f);
    EXPECT_EQ(c.InCsumErrors, 1u);
    EXPECT_EQ(c.InHdrErrors, 1u);

    f = I.good();
    f[14] = 0x65;  // version 6
    Injector::fix_ip_csum(f);
    I.send(f);
    EXPECT_EQ(c.InHdrErrors, 2u);

    f = I.good();
    f[14] = 0x44;  // ihl 4
    I.send(f);
    EXPECT_EQ(c.InHdrErrors, 3u);

    f = I.good();
    wire::store16(&f[14 + 2], 19);  // total length below the header length
    Injector::fix_ip_csum(f);
    I.send(f);
    EXPECT_EQ(c.InHdrErrors, 4u);

    f = I.good();
    wire::store16(&f[14 + 2], uint16_t(f.size() - 14 + 1));  // claims more than arrived
    Injector::fix_ip_csum(f);
    I.send(f);
    EXPECT_EQ(c.InTruncatedPkts, 1u);
    EXPECT_EQ(c.InHdrErrors, 4u);

    f = I.good();
    f.resize(14 + 12);  // not even a full header
    I.send(f);
    EXPECT_EQ(c.InHdrErrors, 5u);

    EXPECT_EQ(c.InCsumErrors, 1u);
    EXPECT_EQ(c.InReceives, 7u);
    EXPECT_EQ(c.InDelivers, 1u);
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), -1);

    // Link padding after total_len is trimmed, not delivered.
    f = I.good();
    f.resize(f.size() + 10, 0xee);
    I.send(f);
    ASSERT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 4);
}

TEST(Input, AddressAndProtocolErrors) {
    Injector I(30);
    const auto& c = I.h.counters();
    // Not for us (forwarding is off): dropped silently.
    I.spec.ip_dst = Ip4(10, 0, 2, 99);
    I.send(I.good());
    EXPECT_EQ(c.ip.InAddrErrors, 1u);
    // Martian source: our own address, or loopback, arriving on eth0: never delivered.
    const int rx = udp_bound(I.h, Ip4(), 7000);
    I.spec.ip_dst = Ip4(10, 0, 2, 15);
    I.spec.ip_src = Ip4(10, 0, 2, 15);
    I.send(I.good());
    I.spec.ip_src = Ip4(127, 0, 0, 1);
    I.send(I.good());
    I.spec.ip_src = Ip4(224, 0, 0, 5);
    I.send(I.good());
    char buf[8];
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(c.ip.InDelivers, 0u);
    EXPECT_EQ(c.ip.InReceives, 4u);
    // An unknown protocol is answered with protocol unreachable.
    I.spec.ip_src = Ip4(10, 0, 2, 2);
    I.spec.proto = 200;
    I.send(ipv4_frame(I.spec, {1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(c.ip.InUnknownProtos, 1u);
    EXPECT_EQ(c.icmp.OutDestUnreachs, 1u);
    // A bad UDP checksum is counted by UDP.
    I.spec.proto = wire::kProtoUdp;
    auto f = I.good();
    f.back() ^= 0x5a;
    I.send(f);
    EXPECT_EQ(c.udp.InCsumErrors, 1u);
    EXPECT_EQ(c.udp.InErrors, 1u);
    // A bad ICMP checksum is counted by ICMP.
    I.spec.proto = wire::kProtoIcmp;
    std::vector<uint8_t> echo(12, 0);
    wire::IcmpRepr{wire::kIcmpEcho, 0, 0, 0x00010001}.emit(echo.data(), 4);
    echo[9] ^= 1;
    I.send(ipv4_frame(I.spec, echo));
    EXPECT_EQ(c.icmp.InCsumErrors, 1u);
    EXPECT_EQ(c.icmp.InErrors, 1u);
    EXPECT_EQ(c.icmp.OutEchoReps, 0u);
}

TEST(Icmp, EchoToBroadcastIsIgnored) {
    Injector I(33);
    I.spec.dst = Mac::broadcast();
    I.spec.ip_dst = Ip4(10, 0, 2, 255);
    I.spec.proto = wire::kProtoIcmp;
    std::vector<uint8_t> echo(16, 0x33);
    wire::IcmpRepr{wire::kIcmpEcho, 0, 0, 0x00050001}.emit(echo.data(), 8);
    I.send(ipv4_frame(I.spec, echo));
    EXPECT_EQ(I.h.counters().icmp.InEchos, 1u);
    EXPECT_EQ(I.h.counters().icmp.OutEchoReps, 0u);  // net.ipv4.icmp_echo_ignore_broadcasts=1
    // The same request to the unicast address is answered.
    I.spec.dst = mac_of(I.h, I.eth);
    I.spec.ip_dst = Ip4(10, 0, 2, 15);
    I.send(ipv4_frame(I.spec, echo));
    EXPECT_EQ(I.h.counters().icmp.InEchos, 2u);
    EXPECT_EQ(I.h.counters().icmp.OutEchoReps, 1u);
}

}  // namespace

namespace {

// ip_route_input_slow's martian checks for packets from a real device: a loopback or
// zero-network destination is never delivered (route_localnet=0), a zero source is accepted
// only for broadcasts (DHCP), and none of these count in the Ip MIB.
TEST(Input, MartianDestinationsAreNotDelivered) {
    Injector I(34);
    const auto& c = I.h.counters();
    const int rx = udp_bound(I.h, Ip4(), 7000);
    const int lo_rx = udp_bound(I.h, Ip4(127, 0, 0, 1), 7001);
    char buf[16];
    // To 127.0.0.1 from the wire: a remote host must not reach loopback-bound services.
    I.spec.ip_dst = Ip4(127, 0, 0, 1);
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 5000, 7001, {1, 2, 3})));
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 5000, 7000, {1, 2, 3})));
    EXPECT_EQ(I.h.recv(lo_rx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), -1);
    // To 0.1.2.3 (zero network) and to 0.0.0.0 from a non-zero source.
    I.spec.ip_dst = Ip4(0, 1, 2, 3);
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 5000, 7000, {1})));
    I.spec.ip_dst = Ip4();
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 5000, 7000, {1})));
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), -1);
    // From 0.0.0.0 to our unicast address: a martian source.
    I.spec.ip_src = Ip4();
    I.spec.ip_dst = Ip4(10, 0, 2, 15);
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 68, 7000, {1})));
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(c.ip.InDelivers, 0u);
    EXPECT_EQ(c.udp.NoPorts, 0u);
    EXPECT_EQ(c.icmp.OutMsgs, 0u);
    EXPECT_EQ(c.ip.InAddrErrors, 0u);  // martians are dropped without an Ip MIB count
    EXPECT_EQ(c.ip.InHdrErrors, 0u);
    // From 0.0.0.0 to 255.255.255.255 (a DHCP client) is a broadcast and is delivered,
    // as is 0.0.0.0 -> 0.0.0.0.
    I.spec.dst = Mac::broadcast();
    I.spec.ip_dst = Ip4(255, 255, 255, 255);
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 68, 7000, {4, 2})));
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 2);
    I.spec.ip_dst = Ip4();
    I.send(ipv4_frame(I.spec, udp_datagram(I.spec.ip_src, I.spec.ip_dst, 68, 7000, {4, 2})));
    EXPECT_EQ(I.h.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 2);
}

}  // namespace
