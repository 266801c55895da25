// Every frame the host drops on the way in is counted under a reason, one count a frame,
// and reported to the drop observer; the tables a hostile link could grow stay bounded.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "../sim_helpers.hpp"
#include "wire/icmp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

const Ip4 kHost(10, 0, 2, 15), kGw(10, 0, 2, 2);

struct Host {
    explicit Host(StackConfig cfg = {}) : w(sim::make_default_world(1, cfg)), h(*w.host), eth(h.ifindex_of("eth0")) {
        h.set_drop_observer([this](DropReason r, const std::string& line) { lines.emplace_back(r, line); });
    }
    // Runs f and expects exactly one more drop, under r, and nothing counted elsewhere.
    void expect_one(DropReason r, const std::function<void()>& f) {
        const Counters before = h.counters();
        lines.clear();
        f();
        const Counters& after = h.counters();
        for (size_t i = 0; i < size_t(DropReason::Count); ++i)
            EXPECT_EQ(after.drops[i] - before.drops[i], DropReason(i) == r ? 1u : 0u)
                << "expected one " << drop_name(r) << ", counted " << drop_name(DropReason(i));
        ASSERT_EQ(lines.size(), 1u) << drop_name(r);
        EXPECT_EQ(lines[0].first, r);
        EXPECT_NE(lines[0].second.find(drop_text(r)), std::string::npos) << lines[0].second;
    }
    FrameSpec to_us() {
        FrameSpec f;
        f.dst = mac_of(h, eth);
        f.ip_src = kGw;
        f.ip_dst = kHost;
        return f;
    }
    void in(const std::vector<uint8_t>& frame) { inject(h, eth, frame); }
    sim::DefaultWorld w;
    Stack& h;
    int eth;
    std::vector<std::pair<DropReason, std::string>> lines;
};

std::vector<uint8_t> icmp_msg(uint8_t type, uint8_t code, uint32_t rest, const std::vector<uint8_t>& body) {
    std::vector<uint8_t> m(wire::kIcmpHeaderLen + body.size());
    std::copy(body.begin(), body.end(), m.begin() + wire::kIcmpHeaderLen);
    wire::IcmpRepr{type, code, 0, rest}.emit(m.data(), uint32_t(body.size()));
    return m;
}

TEST(FrameDrops, LinkLayer) {
    Host t;
    const Mac us = mac_of(t.h, t.eth);
    t.expect_one(DropReason::RuntFrame, [&] { t.in(std::vector<uint8_t>(10, 0xff)); });
    auto other = ipv4_frame(t.to_us(), udp_datagram(kGw, kHost, 1, 7, {'x'}));
    other[5] ^= 0x40;  // another unicast MAC
    t.expect_one(DropReason::OtherHost, [&] { t.in(other); });
    FrameSpec f = t.to_us();
    t.expect_one(DropReason::FrameTooLong, [&] { t.in(ipv4_frame(f, std::vector<uint8_t>(1500, 0))); });
    auto v6 = ipv4_frame(f, udp_datagram(kGw, kHost, 1, 7, {'x'}));
    v6[12] = 0x86, v6[13] = 0xdd;
    t.expect_one(DropReason::UnknownEthertype, [&] { t.in(v6); });
    std::vector<uint8_t> arp(14 + wire::kArpLen);
    wire::EthernetRepr{Mac::broadcast(), Mac{{2, 0xee, 0, 0, 0, 1}}, wire::kEthArp}.emit(arp.data());
    wire::ArpRepr{wire::kArpRequest, Mac{{2, 0xee, 0, 0, 0, 1}}, Mac(), kGw, kHost}.emit(arp.data() + 14);
    arp[14 + 1] = 6;  // hardware type 6 (IEEE 802), not Ethernet
    t.expect_one(DropReason::BadArp, [&] { t.in(arp); });
    // The same frames on a downed interface: dropped before anything looks at them.
    ASSERT_EQ(t.h.set_link_up(t.eth, false), 0);
    t.expect_one(DropReason::LinkDown, [&] { t.in(ipv4_frame(f, udp_datagram(kGw, kHost, 1, 7, {'x'}))); });
    ASSERT_EQ(t.h.set_link_up(t.eth, true), 0);
    (void)us;
}

TEST(FrameDrops, IpLayer) {
    StackConfig cfg;
    cfg.ipfrag_high_thresh = 66000;  // room for one reassembly queue (64 KiB reserved each)
    Host t(cfg);
    FrameSpec f = t.to_us();
    auto trunc = ipv4_frame(f, udp_datagram(kGw, kHost, 1, 7, std::vector<uint8_t>(40, 1)));
    trunc.resize(trunc.size() - 10);
    t.expect_one(DropReason::TruncatedIp, [&] { t.in(trunc); });
    auto ihl = ipv4_frame(f, udp_datagram(kGw, kHost, 1, 7, {'x'}));
    ihl[14] = 0x44;  // header length 16 bytes
    t.expect_one(DropReason::BadIpHeader, [&] { t.in(ihl); });
    FrameSpec m = f;
    m.ip_src = Ip4(127, 0, 0, 1);
    t.expect_one(DropReason::Martian, [&] { t.in(ipv4_frame(m, udp_datagram(m.ip_src, kHost, 1, 7, {'x'}))); });
    FrameSpec p = f;
    p.proto = 99;
    t.expect_one(DropReason::UnknownProtocol, [&] { t.in(ipv4_frame(p, std::vector<uint8_t>(8, 0))); });

    // Fragments: an overlap drops the arriving fragment (and its queue); memory is bounded.
    FrameSpec a = f;
    a.id = 500;
    a.frag = wire::kIpMF;
    t.in(ipv4_frame(a, std::vector<uint8_t>(64, 1)));
    FrameSpec b = a;
    b.frag = wire::kIpMF | 4;  // offset 32: inside the first fragment's bytes
    t.expect_one(DropReason::BadFragment, [&] { t.in(ipv4_frame(b, std::vector<uint8_t>(64, 2))); });
    t.in(ipv4_frame(a, std::vector<uint8_t>(64, 1)));  // a new queue with the same key
    FrameSpec c = a;
    c.id = 501;  // a second queue does not fit
    t.expect_one(DropReason::ReassemblyMemory, [&] { t.in(ipv4_frame(c, std::vector<uint8_t>(64, 3))); });
    EXPECT_LE(t.h.impl().ip.reassembly_memory(), cfg.ipfrag_high_thresh);
}

TEST(FrameDrops, UdpAndIcmp) {
    Host t;
    FrameSpec f = t.to_us();
    auto len = udp_datagram(kGw, kHost, 1, 7, {'x', 'y'});
    len[5] = 200;  // UDP length beyond the datagram
    t.expect_one(DropReason::BadUdpHeader, [&] { t.in(ipv4_frame(f, len)); });
    FrameSpec bc = f;
    bc.dst = Mac::broadcast();
    bc.ip_dst = Ip4(10, 0, 2, 255);
    t.expect_one(DropReason::IgnoredMulti,
                 [&] { t.in(ipv4_frame(bc, udp_datagram(kGw, bc.ip_dst, 1, 4444, {'b'}))); });

    FrameSpec ic = f;
    ic.proto = wire::kProtoIcmp;
    auto badsum = icmp_msg(wire::kIcmpEcho, 0, 0x12340001, {1, 2, 3});
    badsum[2] ^= 1;
    t.expect_one(DropReason::BadIcmp, [&] { t.in(ipv4_frame(ic, badsum)); });
    t.expect_one(DropReason::BadIcmp, [&] {
        t.in(ipv4_frame(ic, icmp_msg(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, 0, {0x45, 0})));
    });
    t.expect_one(DropReason::IcmpUnhandled, [&] { t.in(ipv4_frame(ic, icmp_msg(13, 0, 0, std::vector<uint8_t>(12)))); });
    FrameSpec icb = bc;
    icb.proto = wire::kProtoIcmp;
    t.expect_one(DropReason::EchoIgnored, [&] { t.in(ipv4_frame(icb, icmp_msg(wire::kIcmpEcho, 0, 1, {1}))); });
    t.expect_one(DropReason::IcmpNoSocket,
                 [&] { t.in(ipv4_frame(ic, icmp_msg(wire::kIcmpEchoReply, 0, 0x77770001, {1}))); });
    // A port unreachable quoting a datagram no socket here sent.
    FrameSpec quoted;
    quoted.ip_src = kHost;
    quoted.ip_dst = kGw;
    auto inner = ipv4_frame(quoted, udp_datagram(kHost, kGw, 40000, 9, {'q'}));
    inner.erase(inner.begin(), inner.begin() + 14);
    t.expect_one(DropReason::IcmpNoSocket,
                 [&] { t.in(ipv4_frame(ic, icmp_msg(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, 0, inner))); });
}

// ARP for us from ever more senders: the table stops at kNeighMax; an address that then
// needs an entry is refused (counted) until old entries may be reclaimed (5 s unchanged).
TEST(FrameDrops, NeighbourTableIsBounded) {
    Host t;
    const Mac us = mac_of(t.h, t.eth);
    for (uint32_t i = 0; i < link::kNeighMax + 50; ++i) {
        std::vector<uint8_t> arp(14 + wire::kArpLen);
        const Mac sha{{2, 0xaa, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i), 1}};
        wire::EthernetRepr{us, sha, wire::kEthArp}.emit(arp.data());
        wire::ArpRepr{wire::kArpRequest, sha, Mac(), Ip4(10, 1, uint8_t(i >> 8), uint8_t(i)), kHost}.emit(arp.data() + 14);
        const uint64_t replies = t.h.counters().link.ArpRepliesSent;
        t.in(arp);
        EXPECT_EQ(t.h.counters().link.ArpRepliesSent, replies + 1);  // answered even when not learned
    }
    link::Interface& ifc = *t.h.impl().iface(t.eth);
    EXPECT_EQ(ifc.neigh.size(), link::kNeighMax);
    const int s = t.h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in to = sin4(Ip4(10, 0, 2, 77), 9);
    t.expect_one(DropReason::NeighTableFull, [&] { ASSERT_EQ(t.h.sendto(s, "x", 1, 0, sa(to), sizeof to), 1); });
    t.w.net->run_for(6 * kSec);
    ASSERT_EQ(t.h.sendto(s, "x", 1, 0, sa(to), sizeof to), 1);
    EXPECT_EQ(t.h.counters().drops[size_t(DropReason::NeighTableFull)], 1u);
    EXPECT_LE(ifc.neigh.size(), link::kNeighMax);
}

// Datagrams to many unresolved neighbours: each queue keeps its bound and the interface
// holds at most kArpUnresIfaceBytes of buffers, the rest counted as ArpQueueFull.
TEST(FrameDrops, ArpPendingIsBounded) {
    Host t;
    const int s = t.h.socket(AF_INET, SOCK_DGRAM, 0);
    const std::vector<char> data(1400, 'p');
    uint64_t sent = 0;
    for (int host = 100; host < 130; ++host) {
        const sockaddr_in to = sin4(Ip4(10, 0, 2, uint8_t(host)), 9);
        for (int i = 0; i < 160; ++i, ++sent) ASSERT_EQ(t.h.sendto(s, data.data(), data.size(), 0, sa(to), sizeof to), 1400);
    }
    link::Interface& ifc = *t.h.impl().iface(t.eth);
    EXPECT_LE(ifc.pending_mem, link::kArpUnresIfaceBytes);
    const uint64_t dropped = t.h.counters().drops[size_t(DropReason::ArpQueueFull)];
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(dropped, t.h.counters().link.ArpQueueDrops);
    EXPECT_EQ(t.h.unresolved_packets() + dropped, sent);
}

}  // namespace
