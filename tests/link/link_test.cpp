// Link layer: ARP resolution and its counters, failure after three probes reported through
// IP_RECVERR, the bounded queue of packets awaiting resolution, and loopback delivery.
#include <gtest/gtest.h>
#include <linux/errqueue.h>
#include <netinet/ip.h>

#include <cerrno>

#include "../sim_helpers.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

const link::Neighbour* neigh(Stack& s, int ifindex, Ip4 ip) {
    link::Interface* ifc = s.impl().iface(ifindex);
    if (!ifc) return nullptr;
    for (const auto& n : ifc->neigh)
        if (n.ip == ip) return &n;
    return nullptr;
}

TEST(Arp, ResolvesBetweenTwoHosts) {
    Pair p(11);
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx, 0);
    ASSERT_GE(tx, 0);
    const auto dst = sin4(Pair::kB, 7000);
    ASSERT_EQ(p.a.sendto(tx, "hi", 2, 0, sa(dst), sizeof dst), 2);

    // Before any time passes: a request is out, the datagram waits.
    const link::Neighbour* n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Incomplete);
    EXPECT_EQ(n->pending.size(), 1u);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 1u);

    timeval tv{1, 0};
    ASSERT_EQ(p.b.setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[8];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ASSERT_EQ(p.b.recvfrom(rx, buf, sizeof buf, 0, sa(from), &fl), 2);
    EXPECT_EQ(std::memcmp(buf, "hi", 2), 0);
    EXPECT_EQ(Ip4::from_net(from.sin_addr.s_addr), Pair::kA);
    // One request/reply exchange, within one round trip of virtual time.
    EXPECT_LT(p.net.now(), 1 * kMs);

    n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Reachable);
    EXPECT_EQ(n->mac, mac_of(p.b, p.ib));
    EXPECT_TRUE(n->pending.empty());
    // b learnt a from the request addressed to it (arp_process creates the entry).
    const link::Neighbour* nb = neigh(p.b, p.ib, Pair::kA);
    ASSERT_NE(nb, nullptr);
    EXPECT_EQ(nb->mac, mac_of(p.a, p.ia));

    const Counters& ca = p.a.counters();
    const Counters& cb = p.b.counters();
    EXPECT_EQ(ca.link.ArpRequestsSent, 1u);
    EXPECT_EQ(ca.link.ArpRepliesSent, 0u);
    EXPECT_EQ(cb.link.ArpRequestsSent, 0u);
    EXPECT_EQ(cb.link.ArpRepliesSent, 1u);
    EXPECT_EQ(ca.link.TxFrames, 2u);  // request + datagram
    EXPECT_EQ(cb.link.RxFrames, 2u);
    EXPECT_EQ(cb.link.TxFrames, 1u);  // the reply

    // Later datagrams (both directions) need no more ARP.
    ASSERT_EQ(p.a.sendto(tx, "again", 5, 0, sa(dst), sizeof dst), 5);
    ASSERT_EQ(p.b.recv(rx, buf, sizeof buf, 0), 5);
    ASSERT_EQ(p.b.sendto(rx, "back", 4, 0, sa(from), fl), 4);
    tv = {1, 0};
    ASSERT_EQ(p.a.setsockopt(tx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ASSERT_EQ(p.a.recv(tx, buf, sizeof buf, 0), 4);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 1u);
    EXPECT_EQ(p.b.counters().link.ArpRequestsSent, 0u);
    EXPECT_EQ(p.b.counters().link.ArpRepliesSent, 1u);
}

TEST(Arp, RequestForOtherAddressIsNotAnswered) {
    Pair p(12);
    // A third address on the segment that nobody owns: b sees the broadcast request but
    // neither answers nor learns the sender (it was not the target).
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto dst = sin4(Ip4(10, 0, 0, 77), 9);
    ASSERT_EQ(p.a.sendto(tx, "x", 1, 0, sa(dst), sizeof dst), 1);
    p.net.run_for(500 * kMs);
    EXPECT_EQ(p.b.counters().link.RxFrames, 1u);
    EXPECT_EQ(p.b.counters().link.ArpRepliesSent, 0u);
    EXPECT_EQ(neigh(p.b, p.ib, Pair::kA), nullptr);
}

// net.ipv4.conf.*.arp_ignore=0 (the default): a host answers ARP for any of its addresses,
// whichever interface holds it (the weak host model), but not for 127/8.
TEST(Arp, AnswersForAddressesOfOtherInterfaces) {
    Pair p(21);
    const int seg2 = p.net.add_segment("other");
    const int ib2 = p.net.attach(p.b, seg2, "eth1");
    ASSERT_EQ(p.b.add_address(ib2, Ip4(192, 168, 2, 10), 24), 0);
    // a believes 192.168.2.0/24 is on its own link.
    RouteSpec r;
    r.dst = Ip4(192, 168, 2, 0);
    r.prefix_len = 24;
    r.ifindex = p.ia;
    ASSERT_EQ(p.a.add_route(r), 0);
    const int rx = udp_bound(p.b, Ip4(), 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Ip4(192, 168, 2, 10), 7000);
    ASSERT_EQ(p.a.sendto(tx, "weak", 4, 0, sa(d), sizeof d), 4);
    p.net.run_for(10 * kMs);
    EXPECT_EQ(p.b.counters().link.ArpRepliesSent, 1u);
    const link::Neighbour* n = neigh(p.a, p.ia, Ip4(192, 168, 2, 10));
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Reachable);
    EXPECT_EQ(n->mac, mac_of(p.b, p.ib));  // eth0's MAC answers for eth1's address
    char buf[8];
    EXPECT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 4);

    // A request for 127.0.0.1 arriving on eth0 gets no answer (a martian destination).
    std::vector<uint8_t> req(wire::kEthHeaderLen + wire::kArpLen);
    wire::EthernetRepr{Mac::broadcast(), mac_of(p.a, p.ia), wire::kEthArp}.emit(req.data());
    wire::ArpRepr{wire::kArpRequest, mac_of(p.a, p.ia), Mac{}, Pair::kA, Ip4(127, 0, 0, 1)}.emit(
        req.data() + wire::kEthHeaderLen);
    inject(p.b, p.ib, req);
    EXPECT_EQ(p.b.counters().link.ArpRepliesSent, 1u);
}

// Linux's neighbour states: REACHABLE lapses to STALE; using a STALE entry sends with the
// old address and enters DELAY; after delay_first_probe_time (5 s) PROBE sends ucast_probes
// (3) unicast requests a retrans_time (1 s) apart; an answer makes it REACHABLE again.
TEST(Arp, StaleEntryIsReconfirmedByUnicastProbe) {
    Pair p(13);
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto dst = sin4(Pair::kB, 7000);
    char buf[4];
    ASSERT_EQ(p.a.sendto(tx, "1", 1, 0, sa(dst), sizeof dst), 1);
    p.net.run_for(10 * kMs);
    ASSERT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 1);
    // Reachable lasts base_reachable_time/2 .. 3/2 (15..45 s); then stale.
    p.net.run_for(46 * kSec);
    const link::Neighbour* n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Stale);
    // Using it: the datagram goes at once, to the old address; no request yet.
    ASSERT_EQ(p.a.sendto(tx, "2", 1, 0, sa(dst), sizeof dst), 1);
    p.net.run_for(10 * kMs);
    ASSERT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 1);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 1u);
    n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Delay);
    // Five seconds later one unicast probe, answered: reachable again.
    p.net.run_for(4900 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 1u);
    p.net.run_for(200 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 2u);
    n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Reachable);
    EXPECT_EQ(p.b.counters().link.ArpRepliesSent, 2u);
    // The probe was unicast: b's port got it, a third host would not have.
    p.net.run_for(10 * kSec);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 2u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 0u);
}

TEST(Arp, StaleEntryOfVanishedPeerFails) {
    Pair p(22);
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const int on = 1;
    ASSERT_EQ(p.a.setsockopt(tx, SOL_IP, IP_RECVERR, &on, sizeof on), 0);
    const auto dst = sin4(Pair::kB, 7000);
    char buf[64];
    ASSERT_EQ(p.a.sendto(tx, "1", 1, 0, sa(dst), sizeof dst), 1);
    p.net.run_for(10 * kMs);
    ASSERT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 1);
    p.net.run_for(46 * kSec);
    p.net.set_partitioned(p.b, p.seg, true);  // b is gone
    const uint64_t tx0 = p.a.counters().link.TxFrames;
    ASSERT_EQ(p.a.sendto(tx, "2", 1, 0, sa(dst), sizeof dst), 1);
    EXPECT_EQ(p.a.counters().link.TxFrames, tx0 + 1);  // sent to the stale address
    // DELAY 5 s, then unicast probes at +5, +6, +7 s, FAILED at +8 s.
    p.net.run_for(5500 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 2u);
    EXPECT_EQ(neigh(p.a, p.ia, Pair::kB)->state, link::NeighState::Probe);
    p.net.run_for(2 * kSec);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 4u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 0u);
    p.net.run_for(1 * kSec);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 1u);
    EXPECT_EQ(neigh(p.a, p.ia, Pair::kB)->state, link::NeighState::Failed);
    // Nothing was queued (a probing entry still transmits), so nothing is reported yet.
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT), -1);
    // The next datagram starts a fresh broadcast resolution, whose failure is reported.
    ASSERT_EQ(p.a.sendto(tx, "3", 1, 0, sa(dst), sizeof dst), 1);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 5u);
    p.net.run_for(3500 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 7u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 2u);
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT), 1);
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST(Arp, FailureAfterThreeProbesReportsHostUnreachable) {
    Pair p(14);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(tx, 0);
    const int on = 1;
    ASSERT_EQ(p.a.setsockopt(tx, SOL_IP, IP_RECVERR, &on, sizeof on), 0);
    const Ip4 nobody(10, 0, 0, 99);
    const auto dst = sin4(nobody, 5555);
    ASSERT_EQ(p.a.sendto(tx, "lost", 4, 0, sa(dst), sizeof dst), 4);

    // Probes at 0, 1 and 2 s; nothing is reported before the third retransmit timer.
    p.net.run_for(2500 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 3u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 0u);
    char buf[64];
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);

    p.net.run_for(1 * kSec);  // t = 3.5 s
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 3u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 1u);
    const link::Neighbour* n = neigh(p.a, p.ia, nobody);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->state, link::NeighState::Failed);
    EXPECT_TRUE(n->pending.empty());
    // The failure came back as an ICMP host unreachable from this host itself.
    EXPECT_EQ(p.a.counters().icmp.OutDestUnreachs, 1u);
    EXPECT_EQ(p.a.counters().icmp.InDestUnreachs, 1u);

    // The error queue holds EHOSTUNREACH with the original payload and destination.
    char data[64];
    alignas(cmsghdr) char ctl[256];
    sockaddr_in name{};
    iovec iov{data, sizeof data};
    msghdr m{};
    m.msg_name = &name;
    m.msg_namelen = sizeof name;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ASSERT_EQ(p.a.recvmsg(tx, &m, MSG_ERRQUEUE), 4);
    EXPECT_EQ(std::memcmp(data, "lost", 4), 0);
    EXPECT_TRUE(m.msg_flags & MSG_ERRQUEUE);
    EXPECT_EQ(Ip4::from_net(name.sin_addr.s_addr), nobody);
    EXPECT_EQ(ntohs(name.sin_port), 5555);
    cmsghdr* cm = CMSG_FIRSTHDR(&m);
    ASSERT_NE(cm, nullptr);
    EXPECT_EQ(cm->cmsg_level, SOL_IP);
    EXPECT_EQ(cm->cmsg_type, IP_RECVERR);
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(cm), sizeof ee);
    EXPECT_EQ(ee.ee_errno, uint32_t(EHOSTUNREACH));
    EXPECT_EQ(ee.ee_origin, SO_EE_ORIGIN_ICMP);
    EXPECT_EQ(ee.ee_type, 3);  // destination unreachable
    EXPECT_EQ(ee.ee_code, 1);  // host unreachable
    sockaddr_in off;
    std::memcpy(&off, reinterpret_cast<uint8_t*>(CMSG_DATA(cm)) + sizeof ee, sizeof off);
    EXPECT_EQ(Ip4::from_net(off.sin_addr.s_addr), Pair::kA);  // the offender is this host

    // Reading the last queued error clears the pending socket error too.
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_ERRQUEUE | MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);

    // A new attempt re-probes from scratch.
    ASSERT_EQ(p.a.sendto(tx, "more", 4, 0, sa(dst), sizeof dst), 4);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 4u);
    p.net.run_for(3500 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 6u);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 2u);
}

TEST(Arp, FailureWithoutRecverrOnlyCounts) {
    Pair p(15);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto dst = sin4(Ip4(10, 0, 0, 99), 5555);
    ASSERT_EQ(p.a.sendto(tx, "lost", 4, 0, sa(dst), sizeof dst), 4);
    p.net.run_for(4 * kSec);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 1u);
    // Unconnected, no IP_RECVERR: a soft error is not reported (RFC 1122 4.1.3.3).
    char buf[8];
    EXPECT_EQ(p.a.recv(tx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST(Arp, PendingQueueIsBounded) {
    StackConfig big;
    big.rmem_default = big.rmem_max = 64u << 20;
    Pair p(16, {}, {}, big);
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto dst = sin4(Pair::kB, 7000);
    // b cannot hear the requests yet.
    p.net.set_partitioned(p.b, p.seg, true);
    constexpr int kSent = 300, kPayload = 1000;
    constexpr uint32_t kIpLen = kPayload + 8 + 20;
    constexpr int kKept = int(link::kArpUnresQlenBytes / kIpLen);  // unres_qlen_bytes worth
    std::vector<char> msg(kPayload);
    for (int i = 0; i < kSent; ++i) {
        std::memcpy(msg.data(), &i, sizeof i);
        ASSERT_EQ(p.a.sendto(tx, msg.data(), msg.size(), 0, sa(dst), sizeof dst), kPayload);
    }
    EXPECT_EQ(p.a.counters().link.ArpQueueDrops, uint64_t(kSent - kKept));
    const link::Neighbour* n = neigh(p.a, p.ia, Pair::kB);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->pending.size(), uint32_t(kKept));
    EXPECT_LE(n->pending_bytes, link::kArpUnresQlenBytes);

    // Heal before the third probe; the retry resolves and the queue drains, newest kept.
    p.net.run_for(500 * kMs);
    p.net.set_partitioned(p.b, p.seg, false);
    p.net.run_for(1 * kSec);
    EXPECT_EQ(p.a.counters().link.ArpResolveFailed, 0u);
    int got = 0, first = -1, last = -1;
    char in[kPayload];
    while (p.b.recv(rx, in, sizeof in, MSG_DONTWAIT) == kPayload) {
        int seq;
        std::memcpy(&seq, in, sizeof seq);
        if (first < 0) first = seq;
        EXPECT_GT(seq, last);  // order preserved
        last = seq;
        ++got;
    }
    EXPECT_EQ(got, kKept);
    EXPECT_EQ(first, kSent - kKept);  // the oldest were dropped
    EXPECT_EQ(last, kSent - 1);
}

TEST(Loopback, LocalDestinationsNeverTouchTheWire) {
    Pair p(17);
    const int rx = udp_bound(p.a, Ip4(), 8000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx, 0);
    for (Ip4 to : {Ip4(127, 0, 0, 1), Pair::kA, Ip4(127, 1, 2, 3)}) {
        const auto d = sin4(to, 8000);
        ASSERT_EQ(p.a.sendto(tx, "loop", 4, 0, sa(d), sizeof d), 4) << to.str();
        char buf[8];
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        // Delivered synchronously, before any virtual time passes.
        ASSERT_EQ(p.a.recvfrom(rx, buf, sizeof buf, MSG_DONTWAIT, sa(from), &fl), 4) << to.str();
        EXPECT_EQ(std::memcmp(buf, "loop", 4), 0);
        // The source is the destination's own address (or lo's for 127/8).
        EXPECT_EQ(Ip4::from_net(from.sin_addr.s_addr), to == Pair::kA ? Pair::kA : Ip4(127, 0, 0, 1));
    }
    EXPECT_EQ(p.net.now(), 0);
    EXPECT_EQ(p.a.counters().link.TxFrames, 0u);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 0u);
    EXPECT_EQ(p.b.counters().link.RxFrames, 0u);
    EXPECT_EQ(p.a.counters().ip.InReceives, 3u);
    EXPECT_EQ(p.a.counters().udp.InDatagrams, 3u);
}

TEST(Loopback, LargeDatagramIsNotFragmented) {
    sim::DefaultWorld w = sim::make_default_world(5);
    Stack& h = *w.host;
    const int rx = udp_bound(h, Ip4(127, 0, 0, 1), 8001);
    const int tx = h.socket(AF_INET, SOCK_DGRAM, 0);
    std::vector<char> big(60000, 'z');
    const auto d = sin4(Ip4(127, 0, 0, 1), 8001);
    ASSERT_EQ(h.sendto(tx, big.data(), big.size(), 0, sa(d), sizeof d), ssize_t(big.size()));
    std::vector<char> in(65536);
    ASSERT_EQ(h.recv(rx, in.data(), in.size(), MSG_DONTWAIT), ssize_t(big.size()));
    EXPECT_EQ(in[59999], 'z');
    EXPECT_EQ(h.counters().ip.FragCreates, 0u);  // lo mtu 65536
}

TEST(Link, FramesForOtherMacsAndBadFramesAreDropped) {
    Pair p(18);
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const auto l4 = udp_datagram(Pair::kA, Pair::kB, 1234, 7000, {1, 2, 3});
    FrameSpec f;
    f.ip_src = Pair::kA;
    f.ip_dst = Pair::kB;
    f.dst = Mac{{0x02, 0x99, 0, 0, 0, 9}};  // not b's
    inject(p.b, p.ib, ipv4_frame(f, l4));
    EXPECT_EQ(p.b.counters().link.RxDropped, 1u);
    inject(p.b, p.ib, std::vector<uint8_t>(10, 0xff));  // runt
    EXPECT_EQ(p.b.counters().link.RxDropped, 2u);
    auto other = ipv4_frame(f, l4);
    std::memcpy(other.data(), mac_of(p.b, p.ib).b.data(), 6);
    other[12] = 0x86;  // IPv6 ethertype
    other[13] = 0xdd;
    inject(p.b, p.ib, other);
    EXPECT_EQ(p.b.counters().link.RxDropped, 3u);
    EXPECT_EQ(p.b.counters().ip.InReceives, 0u);
    // The same datagram to b's MAC is accepted, and also to the broadcast MAC.
    f.dst = mac_of(p.b, p.ib);
    inject(p.b, p.ib, ipv4_frame(f, l4));
    f.dst = Mac::broadcast();
    inject(p.b, p.ib, ipv4_frame(f, l4));
    EXPECT_EQ(p.b.counters().link.RxFrames, 5u);
    char buf[8];
    EXPECT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 3);
    EXPECT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 3);
    EXPECT_EQ(p.b.counters().udp.InDatagrams, 2u);
}

TEST(Multicast, MembershipSendsIgmpAndFiltersFrames) {
    Pair p(20);
    const Ip4 group(239, 1, 2, 3);
    const int r1 = udp_bound(p.b, Ip4(), 7000);
    const int r2 = udp_bound(p.b, Ip4(), 7001);
    ip_mreqn m{};
    m.imr_multiaddr.s_addr = group.net();
    m.imr_ifindex = p.ib;
    ASSERT_EQ(p.b.setsockopt(r1, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), 0);
    EXPECT_EQ(p.b.counters().link.IgmpReportsSent, 1u);
    ASSERT_EQ(p.b.setsockopt(r2, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), 0);
    EXPECT_EQ(p.b.counters().link.IgmpReportsSent, 1u);  // the interface already is a member
    p.net.run_for(1 * kMs);
    // a is not a member: the report (to 224.0.0.22's MAC) is filtered by a's link layer.
    EXPECT_EQ(p.a.counters().link.RxFrames, 1u);
    EXPECT_EQ(p.a.counters().link.RxDropped, 1u);

    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    ip_mreqn mi{};
    mi.imr_ifindex = p.ia;
    ASSERT_EQ(p.a.setsockopt(tx, SOL_IP, IP_MULTICAST_IF, &mi, sizeof mi), 0);
    const auto to = sin4(group, 7000);
    ASSERT_EQ(p.a.sendto(tx, "m1", 2, 0, sa(to), sizeof to), 2);
    const auto other = sin4(Ip4(239, 1, 2, 4), 7000);
    ASSERT_EQ(p.a.sendto(tx, "m2", 2, 0, sa(other), sizeof other), 2);
    p.net.run_for(1 * kMs);
    EXPECT_EQ(p.a.counters().link.ArpRequestsSent, 0u);  // multicast MACs need no ARP
    char buf[8];
    EXPECT_EQ(p.b.recv(r1, buf, sizeof buf, MSG_DONTWAIT), 2);
    EXPECT_EQ(std::memcmp(buf, "m1", 2), 0);
    EXPECT_EQ(p.b.recv(r1, buf, sizeof buf, MSG_DONTWAIT), -1);  // 239.1.2.4 never got through
    EXPECT_EQ(p.b.recv(r2, buf, sizeof buf, MSG_DONTWAIT), -1);  // other port
    EXPECT_EQ(p.b.counters().link.RxDropped, 1u);                // the frame for 239.1.2.4

    // Leaving: the last socket out sends the leave, and the group's frames stop.
    ASSERT_EQ(p.b.setsockopt(r1, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m), 0);
    EXPECT_EQ(p.b.counters().link.IgmpLeavesSent, 0u);
    ASSERT_EQ(p.b.setsockopt(r2, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m), 0);
    EXPECT_EQ(p.b.counters().link.IgmpLeavesSent, 1u);
    ASSERT_EQ(p.a.sendto(tx, "m3", 2, 0, sa(to), sizeof to), 2);
    p.net.run_for(1 * kMs);
    EXPECT_EQ(p.b.recv(r1, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(p.b.counters().link.RxDropped, 2u);
}

TEST(Link, DownInterfaceDropsInput) {
    Pair p(19);
    ASSERT_EQ(p.b.set_link_up(p.ib, false), 0);
    FrameSpec f;
    f.dst = mac_of(p.b, p.ib);
    f.ip_src = Pair::kA;
    f.ip_dst = Pair::kB;
    inject(p.b, p.ib, ipv4_frame(f, udp_datagram(Pair::kA, Pair::kB, 1, 2, {})));
    EXPECT_EQ(p.b.counters().link.RxDropped, 1u);
    EXPECT_EQ(p.b.counters().ip.InReceives, 0u);
}

}  // namespace
