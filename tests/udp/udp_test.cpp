// UDP layer: port choice, SO_REUSEPORT distribution, receive accounting and counters,
// checksums on the wire.
#include <linux/filter.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "../sim_helpers.hpp"
#include "udp/udp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

const Ip4 kHost(10, 0, 2, 15), kGw(10, 0, 2, 2), kLo(127, 0, 0, 1);

TEST(Truesize, MatchesLinuxSizeClasses) {
    // Boundaries measured on Linux 6.x over lo (SO_MEMINFO after one datagram).
    EXPECT_EQ(udp::truesize_for(0), 832u);
    EXPECT_EQ(udp::truesize_for(197), 832u);
    EXPECT_EQ(udp::truesize_for(198), 1280u);
    EXPECT_EQ(udp::truesize_for(645), 1280u);
    EXPECT_EQ(udp::truesize_for(646), 2304u);
    EXPECT_EQ(udp::truesize_for(1669), 2304u);
    EXPECT_EQ(udp::truesize_for(1670), 4352u);
    EXPECT_EQ(udp::truesize_for(3718), 8448u);
    EXPECT_EQ(udp::truesize_for(7814), 16640u);
    EXPECT_EQ(udp::truesize_for(16005), 16837u);
    EXPECT_EQ(udp::truesize_for(65507), 66339u);
}

TEST(EphemeralPorts, RandomDistinctAndInRange) {
    auto w = sim::make_default_world(3);
    std::set<int> ports;
    int ascending = 0, prev = -1;
    for (int i = 0; i < 800; ++i) {
        const int fd = w.host->socket(AF_INET, SOCK_DGRAM, 0);
        ASSERT_GE(fd, 0);
        const sockaddr_in dst = sin4(kLo, 9);
        ASSERT_EQ(w.host->connect(fd, sa(dst), sizeof dst), 0);
        sockaddr_in me{};
        socklen_t len = sizeof me;
        ASSERT_EQ(w.host->getsockname(fd, sa(me), &len), 0);
        const int p = ntohs(me.sin_port);
        EXPECT_GE(p, 32768);
        EXPECT_LE(p, 60999);
        ports.insert(p);
        if (prev >= 0 && p == prev + 1) ++ascending;
        prev = p;
    }
    EXPECT_EQ(ports.size(), 800u);  // no port handed out twice
    EXPECT_LT(ascending, 20);       // not a sequential allocator
    EXPECT_LT(*ports.begin(), 36000);
    EXPECT_GT(*ports.rbegin(), 57000);
}

TEST(Reuseport, FlowsSpreadAcrossTheGroupAndStick) {
    auto w = sim::make_default_world(5);
    Stack& h = *w.host;
    int fds[4];
    for (int& fd : fds) {
        fd = h.socket(AF_INET, SOCK_DGRAM, 0);
        const int one = 1;
        ASSERT_EQ(h.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
        const sockaddr_in a = sin4(Ip4(), 7000);
        ASSERT_EQ(h.bind(fd, sa(a), sizeof a), 0);
    }
    const sockaddr_in dst = sin4(kHost, 7000);
    std::map<int, int> got;
    for (int flow = 0; flow < 200; ++flow) {
        const int g = w.gateway->socket(AF_INET, SOCK_DGRAM, 0);
        const sockaddr_in src = sin4(kGw, uint16_t(20000 + flow));
        ASSERT_EQ(w.gateway->bind(g, sa(src), sizeof src), 0);
        // Two datagrams per flow: both must reach the same member.
        ASSERT_EQ(w.gateway->sendto(g, "a", 1, 0, sa(dst), sizeof dst), 1);
        ASSERT_EQ(w.gateway->sendto(g, "b", 1, 0, sa(dst), sizeof dst), 1);
        w.net->run_for(kMs);
        int owner = -1;
        for (int i = 0; i < 4; ++i) {
            char buf[4];
            int n = 0;
            while (h.recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) == 1) ++n;
            if (n) {
                EXPECT_EQ(n, 2) << "flow " << flow << " split across members";
                EXPECT_EQ(owner, -1);
                owner = i;
            }
        }
        ASSERT_NE(owner, -1);
        ++got[owner];
        w.gateway->close(g);
    }
    ASSERT_EQ(got.size(), 4u);
    for (auto& [member, n] : got) EXPECT_GT(n, 20) << "member " << member;
}

TEST(Counters, ReceiveBufferOverflowIsCountedNotSilent) {
    auto w = sim::make_default_world(1);
    Stack& h = *w.host;
    const int r = udp_bound(h, kLo, 5000);
    const int small = 1;  // doubled and raised to SOCK_MIN_RCVBUF: 2304 bytes
    ASSERT_EQ(h.setsockopt(r, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = sin4(kLo, 5000);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(h.sendto(s, "0123456789", 10, 0, sa(dst), sizeof dst), 10);
    int queued = 0;
    char buf[16];
    while (h.recv(r, buf, sizeof buf, MSG_DONTWAIT) == 10) ++queued;
    // 832 bytes each: two fit under 2304, a third would not.
    EXPECT_EQ(queued, 2);
    EXPECT_EQ(h.counters().udp.RcvbufErrors, 8u);
    EXPECT_EQ(h.counters().udp.InErrors, 8u);
    EXPECT_EQ(h.counters().udp.InDatagrams, 2u);
}

TEST(Counters, NoPortsAndIgnoredMulti) {
    auto w = sim::make_default_world(1);
    Stack& h = *w.host;
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in closed = sin4(kLo, 9);
    ASSERT_EQ(h.sendto(s, "x", 1, 0, sa(closed), sizeof closed), 1);
    EXPECT_EQ(h.counters().udp.NoPorts, 1u);
    EXPECT_EQ(h.counters().icmp.OutDestUnreachs, 1u);
    const int g = w.gateway->socket(AF_INET, SOCK_DGRAM, 0);
    const int one = 1;
    ASSERT_EQ(w.gateway->setsockopt(g, SOL_SOCKET, SO_BROADCAST, &one, sizeof one), 0);
    const sockaddr_in bcast = sin4(Ip4(10, 0, 2, 255), 9999);
    ASSERT_EQ(w.gateway->sendto(g, "b", 1, 0, sa(bcast), sizeof bcast), 1);
    w.net->run_for(kMs);
    EXPECT_EQ(h.counters().udp.IgnoredMulti, 1u);
    EXPECT_EQ(h.counters().udp.NoPorts, 1u);  // broadcasts never earn port unreachable
}

std::vector<uint8_t> host_frame(sim::DefaultWorld& w, const std::vector<uint8_t>& udp) {
    FrameSpec f;
    f.dst = mac_of(*w.host, w.host->ifindex_of("eth0"));
    f.ip_src = kGw;
    f.ip_dst = kHost;
    return ipv4_frame(f, udp);
}

TEST(Checksum, BadChecksumDroppedAndCountedZeroAccepted) {
    auto w = sim::make_default_world(1);
    Stack& h = *w.host;
    const int r = udp_bound(h, Ip4(), 6000);
    auto good = udp_datagram(kGw, kHost, 1234, 6000, {'o', 'k'});
    auto bad = good;
    bad[6] ^= 0x55;
    auto zero = good;
    zero[6] = zero[7] = 0;  // RFC 768: no checksum
    const int eth = h.ifindex_of("eth0");
    inject(h, eth, host_frame(w, bad));
    EXPECT_EQ(h.counters().udp.InCsumErrors, 1u);
    char buf[8];
    EXPECT_EQ(h.recv(r, buf, sizeof buf, MSG_DONTWAIT), -1);
    inject(h, eth, host_frame(w, zero));
    EXPECT_EQ(h.recv(r, buf, sizeof buf, MSG_DONTWAIT), 2);
    inject(h, eth, host_frame(w, good));
    EXPECT_EQ(h.recv(r, buf, sizeof buf, MSG_DONTWAIT), 2);
    EXPECT_EQ(h.counters().udp.InCsumErrors, 1u);
}

// The UDP checksum field of every UDP/IPv4 frame in a pcap file.
std::vector<uint16_t> udp_checksums(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), {});
    std::vector<uint16_t> out;
    for (size_t off = 24; off + 16 <= b.size();) {
        uint32_t incl;
        std::memcpy(&incl, &b[off + 8], 4);
        const uint8_t* fr = &b[off + 16];
        if (incl >= 42 && fr[12] == 0x08 && fr[13] == 0x00 && fr[14 + 9] == 17) {
            const uint32_t ihl = uint32_t(fr[14] & 15) * 4;
            out.push_back(uint16_t(fr[14 + ihl + 6] << 8 | fr[14 + ihl + 7]));
        }
        off += 16 + incl;
    }
    return out;
}

TEST(Checksum, SoNoCheckSendsZeroOthersComputeIt) {
    auto w = sim::make_default_world(1);
    const std::string path = ::testing::TempDir() + "/udp_nocheck.pcap";
    ASSERT_TRUE(w.net->capture(w.segment, path));
    Stack& h = *w.host;
    const int g = udp_bound(*w.gateway, kGw, 7777);
    const sockaddr_in dst = sin4(kGw, 7777);
    const int a = h.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(h.sendto(a, "with", 4, 0, sa(dst), sizeof dst), 4);
    const int b = h.socket(AF_INET, SOCK_DGRAM, 0);
    const int one = 1;
    ASSERT_EQ(h.setsockopt(b, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one), 0);
    ASSERT_EQ(h.sendto(b, "none", 4, 0, sa(dst), sizeof dst), 4);
    w.net->run_for(kMs);
    char buf[8];
    EXPECT_EQ(w.gateway->recv(g, buf, sizeof buf, MSG_DONTWAIT), 4);
    EXPECT_EQ(w.gateway->recv(g, buf, sizeof buf, MSG_DONTWAIT), 4);
    auto sums = udp_checksums(path);
    ASSERT_EQ(sums.size(), 2u);
    EXPECT_NE(sums[0], 0);
    EXPECT_EQ(sums[1], 0);
}

}  // namespace

namespace {

// Every drop reason is counted and reported to the observer with the datagram it concerns.
TEST(Drops, EveryReasonIsCountedAndExplained) {
    auto w = sim::make_default_world(1);
    Stack& h = *w.host;
    std::vector<std::pair<DropReason, std::string>> seen;
    h.set_drop_observer([&](DropReason r, const std::string& line) { seen.emplace_back(r, line); });
    auto saw = [&](DropReason r, const char* fragment) {
        for (auto& [rr, line] : seen)
            if (rr == r && line.find(fragment) != std::string::npos && line.find(drop_text(r)) != std::string::npos)
                return true;
        return false;
    };
    const int eth = h.ifindex_of("eth0");
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);

    const sockaddr_in closed = sin4(kLo, 9);
    ASSERT_EQ(h.sendto(s, "x", 1, 0, sa(closed), sizeof closed), 1);
    EXPECT_TRUE(saw(DropReason::NoSocket, "-> 127.0.0.1:9"));

    const int c = udp_bound(h, kLo, 7100);
    const sockaddr_in other = sin4(kLo, 7101);
    ASSERT_EQ(h.connect(c, sa(other), sizeof other), 0);
    const sockaddr_in to_c = sin4(kLo, 7100);
    ASSERT_EQ(h.sendto(s, "x", 1, 0, sa(to_c), sizeof to_c), 1);
    EXPECT_TRUE(saw(DropReason::PeerFiltered, "-> 127.0.0.1:7100"));

    const int r = udp_bound(h, kLo, 7200);
    const int one = 1;
    ASSERT_EQ(h.setsockopt(r, SOL_SOCKET, SO_RCVBUF, &one, sizeof one), 0);
    const sockaddr_in to_r = sin4(kLo, 7200);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(h.sendto(s, "data", 4, 0, sa(to_r), sizeof to_r), 4);
    EXPECT_TRUE(saw(DropReason::RcvbufFull, "-> 127.0.0.1:7200"));

    const int fl = udp_bound(h, kLo, 7201);
    sock_filter drop_all{BPF_RET | BPF_K, 0, 0, 0};
    sock_fprog fp{1, &drop_all};
    ASSERT_EQ(h.setsockopt(fl, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp), 0);
    const sockaddr_in to_fl = sin4(kLo, 7201);
    ASSERT_EQ(h.sendto(s, "data", 4, 0, sa(to_fl), sizeof to_fl), 4);
    EXPECT_TRUE(saw(DropReason::SocketFilter, "-> 127.0.0.1:7201"));

    auto bad = udp_datagram(kGw, kHost, 1, 7300, {'z'});
    bad[6] ^= 0xff;
    inject(h, eth, host_frame(w, bad));
    EXPECT_TRUE(saw(DropReason::BadChecksum, "10.0.2.2 -> 10.0.2.15"));

    auto good = udp_datagram(kGw, Ip4(10, 0, 2, 77), 1, 7300, {'z'});
    FrameSpec f;
    f.dst = mac_of(h, eth);
    f.ip_src = kGw;
    f.ip_dst = Ip4(10, 0, 2, 77);
    inject(h, eth, ipv4_frame(f, good));
    EXPECT_TRUE(saw(DropReason::NotForUs, "-> 10.0.2.77"));

    f.ip_dst = Ip4(239, 1, 2, 3);
    f.dst = Mac{{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}};
    inject(h, eth, ipv4_frame(f, udp_datagram(kGw, f.ip_dst, 1, 7300, {'m'})));
    EXPECT_EQ(h.counters().drops[size_t(DropReason::NotJoined)], 0u);  // filtered by MAC first
    f.dst = mac_of(h, eth);
    inject(h, eth, ipv4_frame(f, udp_datagram(kGw, f.ip_dst, 1, 7300, {'m'})));
    EXPECT_TRUE(saw(DropReason::NotJoined, "-> 239.1.2.3"));

    auto ipbad = host_frame(w, udp_datagram(kGw, kHost, 1, 7300, {'z'}));
    ipbad[14 + 10] ^= 0x55;  // IPv4 header checksum
    inject(h, eth, ipbad);
    EXPECT_EQ(h.counters().drops[size_t(DropReason::BadIpHeader)], 1u);

    FrameSpec frag;
    frag.dst = mac_of(h, eth);
    frag.ip_src = kGw;
    frag.ip_dst = kHost;
    frag.id = 77;
    frag.frag = wire::kIpMF;  // a first fragment whose rest never comes
    inject(h, eth, ipv4_frame(frag, std::vector<uint8_t>(64, 1)));
    w.net->run_for(31 * kSec);
    EXPECT_TRUE(saw(DropReason::ReassemblyTimeout, "10.0.2.2 -> 10.0.2.15"));

    const int a = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in nobody = sin4(Ip4(10, 0, 2, 99), 9);
    ASSERT_EQ(h.sendto(a, "x", 1, 0, sa(nobody), sizeof nobody), 1);
    w.net->run_for(4 * kSec);
    EXPECT_TRUE(saw(DropReason::ArpFailed, "10.0.2.15 -> 10.0.2.99"));

    // Every reason but the forwarding ones (tests/ip/forward_test.cpp has those: a router)
    // and those of malformed frames and full tables (tests/link/frame_drops_test.cpp).
    for (size_t i = 0; i < size_t(DropReason::Count); ++i) {
        if (DropReason(i) == DropReason::TtlExpired || DropReason(i) == DropReason::Blackhole) continue;
        if (DropReason(i) >= DropReason::LinkDown) continue;
        EXPECT_GT(h.counters().drops[i], 0u) << drop_name(DropReason(i));
    }
    const std::string text = counters_text(h.counters());
    EXPECT_NE(text.find("UdpNoPorts 2"), std::string::npos) << text;
    EXPECT_NE(text.find("UsnetDropRcvbufFull"), std::string::npos) << text;
}

}  // namespace
