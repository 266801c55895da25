// The shared-memory fabric, the topology text, and `usnet switch` with hosts attached as
// they are under `usnet run --switch` (here several worlds in one process stand for the
// programs; each has its own lock, as each program would).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "../sim_helpers.hpp"
#include "link/shm.hpp"
#include "wire/checksum.hpp"
#include "wire/udp.hpp"

using namespace usnet;
using namespace usnet::test;
namespace shm = usnet::link::shm;

namespace {

// --- the fabric ---

// A fabric with ports 0 (the switch), 1 and 2 in use.
bool three_ports(shm::Fabric& f) {
    if (f.create() < 0) return false;
    for (uint32_t p : {0u, 1u, 2u}) {
        f.reset_ring(p);
        f.region()->hdr.ports[p].used = 1;
    }
    return true;
}

TEST(Fabric, FramesGoToThePortTheirMacNames) {
    shm::Fabric f;
    ASSERT_TRUE(three_ports(f));
    uint8_t frame[60] = {};
    const Mac to2 = shm::port_mac(2);
    std::memcpy(frame, to2.b.data(), 6);
    frame[20] = 42;
    EXPECT_EQ(f.send(1, frame, sizeof frame), 0u);
    EXPECT_FALSE(f.pending(0));
    EXPECT_FALSE(f.pending(1));
    ASSERT_TRUE(f.pending(2));
    uint32_t seen_from = 99, seen_len = 0;
    uint8_t seen_byte = 0;
    EXPECT_EQ(f.drain(2, [&](uint32_t from, const uint8_t* d, uint32_t len, uint16_t) {
        seen_from = from;
        seen_len = len;
        seen_byte = d[20];
    }), 1u);
    EXPECT_EQ(seen_from, 1u);
    EXPECT_EQ(seen_len, sizeof frame);
    EXPECT_EQ(seen_byte, 42);
    // Any other unicast MAC is behind port 0 (the switch and its gateway).
    const Mac other{{0x02, 0, 0, 0, 0, 1}};
    std::memcpy(frame, other.b.data(), 6);
    f.send(1, frame, sizeof frame);
    EXPECT_TRUE(f.pending(0));
    // Broadcast floods every used port but the sender's.
    f.drain(0, [](uint32_t, const uint8_t*, uint32_t, uint16_t) {});
    std::memset(frame, 0xff, 6);
    EXPECT_EQ(f.send(1, frame, sizeof frame), 0u);
    EXPECT_TRUE(f.pending(0));
    EXPECT_FALSE(f.pending(1));
    EXPECT_TRUE(f.pending(2));
}

// A UDP checksum left partial stays so only on the direct path to one host (flagged, the
// receiver trusts it as Linux trusts CHECKSUM_PARTIAL over a veth); towards the switch (it
// may capture or pass the frame to an uplink) and in a flood it is finished first.
TEST(Fabric, PartialChecksumOnlyOnTheDirectPath) {
    shm::Fabric f;
    ASSERT_TRUE(three_ports(f));
    // Ethernet + IPv4 (ihl 5) + UDP + 4 bytes; the checksum field holds a pseudo-header sum.
    uint8_t frame[14 + 20 + 8 + 4] = {};
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[14 + 9] = 17;
    frame[34 + 5] = 12;                 // UDP length
    frame[34 + 6] = 0x12;               // partial sum
    frame[34 + 7] = 0x34;
    std::memcpy(frame + 42, "data", 4);
    const uint32_t start = wire::frame_udp_start(frame, sizeof frame);
    ASSERT_EQ(start, 34u);
    uint8_t finished[sizeof frame];
    std::memcpy(finished, frame, sizeof frame);
    wire::complete_partial_checksum(finished, sizeof finished, start, 6);
    ASSERT_NE(std::memcmp(finished, frame, sizeof frame), 0);
    auto take = [&](uint32_t port, uint16_t* flags, uint8_t* out) {
        return f.drain(port, [&](uint32_t, const uint8_t* d, uint32_t len, uint16_t fl) {
            *flags = fl;
            std::memcpy(out, d, len);
        });
    };
    uint8_t got[sizeof frame];
    uint16_t flags = 99;
    // Host to host: as sent, flagged.
    uint8_t copy[sizeof frame];
    std::memcpy(copy, frame, sizeof frame);
    const Mac to2 = shm::port_mac(2);
    std::memcpy(copy, to2.b.data(), 6);
    ASSERT_EQ(f.send(1, copy, sizeof copy, start), 0u);
    ASSERT_EQ(take(2, &flags, got), 1u);
    EXPECT_EQ(flags, shm::kSlotCsumPartial);
    EXPECT_EQ(std::memcmp(got + 6, frame + 6, sizeof frame - 6), 0);
    // To a MAC behind port 0: finished, not flagged.
    std::memcpy(copy, frame, sizeof frame);
    const Mac other{{0x02, 0, 0, 0, 0, 1}};
    std::memcpy(copy, other.b.data(), 6);
    ASSERT_EQ(f.send(1, copy, sizeof copy, start), 0u);
    ASSERT_EQ(take(0, &flags, got), 1u);
    EXPECT_EQ(flags, 0);
    EXPECT_EQ(std::memcmp(got + 6, finished + 6, sizeof frame - 6), 0);
    // A flood: finished for every port.
    std::memcpy(copy, frame, sizeof frame);
    std::memset(copy, 0xff, 6);
    ASSERT_EQ(f.send(1, copy, sizeof copy, start), 0u);
    for (uint32_t p : {0u, 2u}) {
        ASSERT_EQ(take(p, &flags, got), 1u);
        EXPECT_EQ(flags, 0);
        EXPECT_EQ(std::memcmp(got + 6, finished + 6, sizeof frame - 6), 0);
    }
    // Everything through the switch (faults or capture on): finished, even host to host.
    f.region()->hdr.via_switch = 1;
    std::memcpy(copy, frame, sizeof frame);
    std::memcpy(copy, to2.b.data(), 6);
    ASSERT_EQ(f.send(1, copy, sizeof copy, start), 0u);
    ASSERT_EQ(take(0, &flags, got), 1u);
    EXPECT_EQ(flags, 0);
    EXPECT_EQ(std::memcmp(got + 6, finished + 6, sizeof frame - 6), 0);
}

TEST(Fabric, AFullRingRefusesAndCounts) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    uint8_t frame[64] = {};
    for (uint32_t i = 0; i < shm::kSlots; ++i) ASSERT_TRUE(f.push(1, 0, frame, sizeof frame));
    EXPECT_FALSE(f.push(1, 0, frame, sizeof frame));
    EXPECT_EQ(f.region()->rings[1].full_drops.load(), 1u);
    EXPECT_EQ(f.drain(1, [](uint32_t, const uint8_t*, uint32_t, uint16_t) {}, shm::kSlots), shm::kSlots);
    EXPECT_TRUE(f.push(1, 0, frame, sizeof frame));
    // Unused ports and oversized frames are refused too.
    EXPECT_FALSE(f.push(3, 0, frame, sizeof frame));
    static uint8_t big[shm::kMaxFrame + 1];
    EXPECT_FALSE(f.push(1, 0, big, sizeof big));
}

// The consumer only reads slots (a slot's lines then cross cores once a frame); producers
// learn what is free from the tail.
TEST(Fabric, TheConsumerLeavesSlotsAsWritten) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    uint8_t frame[100];
    for (uint32_t i = 0; i < 8; ++i) {
        std::memset(frame, int(i), sizeof frame);
        ASSERT_TRUE(f.push(1, 0, frame, sizeof frame));
    }
    std::vector<uint8_t> before(sizeof(shm::Slot) * 8);
    std::memcpy(before.data(), &f.region()->rings[1].slots[0], before.size());
    EXPECT_EQ(f.drain(1, [](uint32_t, const uint8_t*, uint32_t, uint16_t) {}), 8u);
    EXPECT_EQ(std::memcmp(before.data(), &f.region()->rings[1].slots[0], before.size()), 0);
    EXPECT_EQ(f.region()->rings[1].tail.load(), 8u);
}

// A new owner's ring starts empty where the old one's positions stopped: frames left
// behind are never read, and a producer's remembered tail stays below the real one (a
// producer in another process may have remembered it long ago).
TEST(Fabric, AResetRingDropsWhatWasLeftAndKeepsItsPositions) {
    shm::Fabric f, other;
    const int memfd = f.create();
    ASSERT_GE(memfd, 0);
    ASSERT_TRUE(other.map(memfd));
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    uint32_t n = 0;
    auto push = [&](shm::Fabric& by) { return by.push(1, 2, reinterpret_cast<const uint8_t*>(&n), sizeof n) && ++n; };
    for (uint32_t i = 0; i < 300; ++i) ASSERT_TRUE(push(other));
    EXPECT_EQ(f.drain(1, [](uint32_t, const uint8_t*, uint32_t, uint16_t) {}, 300), 300u);
    for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(push(f));  // left for the next owner
    f.reset_ring(1);
    EXPECT_FALSE(f.pending(1));
    const uint32_t first = n;
    for (uint32_t i = 0; i < shm::kSlots; ++i) ASSERT_TRUE(push(i % 2 ? f : other)) << i;
    EXPECT_FALSE(push(other));
    EXPECT_FALSE(push(f));
    uint32_t expect = first, wrong = 0;
    EXPECT_EQ(f.drain(1, [&](uint32_t, const uint8_t* d, uint32_t, uint16_t) {
                  uint32_t v;
                  std::memcpy(&v, d, sizeof v);
                  wrong += v != expect++;
              }, shm::kSlots + 1), shm::kSlots);
    EXPECT_EQ(wrong, 0u);
    EXPECT_TRUE(push(other));
    close(memfd);
}

// A process killed while it slept on its ring leaves itself counted as a sleeper; the
// port's next owner must not inherit that (each frame would ring the futex).
TEST(Fabric, AResetRingForgetsSleepersOfTheOldOwner) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    (void)f.arm(1);  // and never sleep(): killed
    EXPECT_EQ(f.region()->rings[1].sleepers.load(), 1u);
    f.reset_ring(1);
    EXPECT_EQ(f.region()->rings[1].sleepers.load(), 0u);
    const uint32_t bell = f.region()->rings[1].bell.load();
    uint8_t frame[60] = {};
    ASSERT_TRUE(f.push(1, 0, frame, sizeof frame));
    EXPECT_EQ(f.region()->rings[1].bell.load(), bell);  // nobody to wake: not rung
}

TEST(Fabric, ASlotWithAnImpossibleLengthIsSkippedNotRead) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    uint8_t frame[60] = {};
    ASSERT_TRUE(f.push(1, 0, frame, sizeof frame));
    ASSERT_TRUE(f.push(1, 0, frame, sizeof frame));
    f.region()->rings[1].slots[0].len = 0xfffffff0;  // a buggy or hostile process wrote this
    int seen = 0;
    EXPECT_EQ(f.drain(1, [&](uint32_t, const uint8_t*, uint32_t len, uint16_t) { seen += len == sizeof frame; }), 2u);
    EXPECT_EQ(seen, 1);
    EXPECT_EQ(f.region()->rings[1].bad_frames.load(), 1u);
}

TEST(Fabric, ManyProducersOneConsumerLoseNothing) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    constexpr int kPerThread = 20000;
    std::atomic<uint64_t> refused{0};
    std::vector<std::thread> producers;
    for (uint32_t t = 0; t < 3; ++t)
        producers.emplace_back([&, t] {
            for (uint32_t i = 0; i < kPerThread;) {
                uint32_t v[2] = {t, i};
                if (f.push(1, t + 2, reinterpret_cast<uint8_t*>(v), sizeof v)) ++i;
                else refused.fetch_add(1);
            }
        });
    uint32_t next[3] = {0, 0, 0};
    bool in_order = true;
    int got = 0;
    while (got < 3 * kPerThread) {
        got += int(f.drain(1, [&](uint32_t from, const uint8_t* d, uint32_t, uint16_t) {
            uint32_t v[2];
            std::memcpy(v, d, sizeof v);
            in_order &= from == v[0] + 2 && v[1] == next[v[0]];
            ++next[v[0]];
        }));
    }
    for (auto& t : producers) t.join();
    EXPECT_TRUE(in_order);  // each producer's frames arrive whole and in order
    EXPECT_EQ(refused.load(), f.region()->rings[1].full_drops.load());
}

TEST(Fabric, ASleeperWakesWhenAFrameArrives) {
    shm::Fabric f;
    ASSERT_GE(f.create(), 0);
    f.reset_ring(1);
    f.region()->hdr.ports[1].used = 1;
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        uint8_t frame[60] = {};
        f.push(1, 0, frame, sizeof frame);
    });
    const auto t0 = std::chrono::steady_clock::now();
    f.wait(1, 5 * kSec);
    const auto waited = std::chrono::steady_clock::now() - t0;
    t.join();
    EXPECT_TRUE(f.pending(1));
    EXPECT_LT(waited, std::chrono::seconds(4));  // woken, not timed out
}

// --- the topology text ---

TEST(World, ParsesEveryKindOfLine) {
    sim::WorldSpec w;
    std::string err;
    ASSERT_TRUE(sim::parse_world("# a comment\naddr 10.0.3.5/24\naddr 10.0.3.6/24  # second\ngateway 10.0.3.1\n"
                                 "mtu 1400\nroute 192.168.0.0/16 via 10.0.3.254\nroute 10.8.0.0/16 blackhole\n"
                                 "route 10.9.0.0/16 dev eth0\nswitch /tmp/s.sock\nseed 7\n",
                                 &w, &err))
        << err;
    ASSERT_EQ(w.addrs.size(), 2u);
    EXPECT_EQ(w.addrs[0].first, Ip4(10, 0, 3, 5));
    EXPECT_EQ(w.addrs[0].second, 24);
    EXPECT_EQ(w.gateway, Ip4(10, 0, 3, 1));
    EXPECT_EQ(w.mtu, 1400u);
    ASSERT_EQ(w.routes.size(), 3u);
    EXPECT_EQ(w.routes[0].gateway, Ip4(10, 0, 3, 254));
    EXPECT_EQ(w.routes[1].type, RouteType::Blackhole);
    EXPECT_EQ(w.switch_path, "/tmp/s.sock");
    EXPECT_EQ(w.seed, 7u);
}

TEST(World, BadLinesAreNamed) {
    for (const char* bad : {"addr 10.0.3.5", "addr 300.1.1.1/24", "mtu 10", "gateway x", "route 10.0.0.0/8 via",
                            "route 10.0.0.0/8 dev eth1", "frobnicate 1", "addr 10.0.0.1/33"}) {
        sim::WorldSpec w;
        std::string err;
        EXPECT_FALSE(sim::parse_world(std::string("\n") + bad, &w, &err)) << bad;
        EXPECT_NE(err.find("line 2"), std::string::npos) << err;
    }
}

TEST(World, BuiltWorldHasTheAddressesRoutesAndMtu) {
    sim::WorldSpec spec;
    std::string err;
    ASSERT_TRUE(sim::parse_world("addr 10.0.3.5/24\ngateway 10.0.3.1\nmtu 1400\nroute 192.168.0.0/16 via 10.0.3.254\n", &spec, &err));
    auto w = sim::build_world(spec, {}, &err);
    ASSERT_TRUE(w.net);
    Stack& h = *w.host;
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in far = sin4(Ip4(8, 8, 8, 8), 53);
    ASSERT_EQ(h.connect(s, sa(far), sizeof far), 0);
    sockaddr_in me{};
    socklen_t l = sizeof me;
    h.getsockname(s, sa(me), &l);
    EXPECT_EQ(ntohl(me.sin_addr.s_addr), Ip4(10, 0, 3, 5).v);
    int mtu = 0;
    socklen_t ml = sizeof mtu;
    ASSERT_EQ(h.getsockopt(s, IPPROTO_IP, IP_MTU, &mtu, &ml), 0);
    EXPECT_EQ(mtu, 1400);
    // Without a gateway there is no default route.
    sim::WorldSpec none;
    ASSERT_TRUE(sim::parse_world("gateway none", &none, &err));
    auto w2 = sim::build_world(none, {}, &err);
    const int s2 = w2.host->socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_EQ(w2.host->connect(s2, sa(far), sizeof far), -1);
    EXPECT_EQ(errno, ENETUNREACH);
}

TEST(World, ARouteTheStackRefusesIsReported) {
    sim::WorldSpec spec;
    std::string err;
    ASSERT_TRUE(sim::parse_world("route 10.0.2.0/24 dev eth0", &spec, &err));  // the connected route
    EXPECT_FALSE(sim::build_world(spec, {}, &err).net);
    EXPECT_NE(err.find("route 10.0.2.0/24: File exists"), std::string::npos) << err;
}

TEST(World, IpCommandsChangeARunningHostAndNeverThrow) {
    auto w = sim::make_default_world(1);
    Stack& h = *w.host;
    EXPECT_EQ(sim::ip_command(h, "route add blackhole 192.0.2.0/24"), 0);
    EXPECT_EQ(sim::ip_command(h, "route add unreachable 192.0.2.0/24"), 1);  // EEXIST
    EXPECT_EQ(sim::ip_command(h, "route add 192.0.2.0/24 via 10.0.2.2 metric 7"), 0);
    EXPECT_EQ(sim::ip_command(h, "link set eth0 mtu 1400"), 0);
    for (const char* bad : {"link set eth0 mtu x", "link set eth0 mtu -1", "route add 10.0.0.0/99 via 10.0.2.2",
                            "route add 10.0.0.0/abc via 10.0.2.2", "route add 10.0.0.0/8 via 10.0.2.2 metric 1e9",
                            "addr add 10.0.0.1/ dev eth0"})
        EXPECT_EQ(sim::ip_command(h, bad), 1) << bad;
    EXPECT_EQ(sim::ip_command(h, "frobnicate"), 2);
    EXPECT_EQ(sim::ip_command(h, ""), 2);
}

// --- the switch ---

struct SwitchFixture : ::testing::Test {
    std::string dir, path;
    std::atomic<bool> stop{false};
    std::thread server;
    std::string err;

    void start(sim::SwitchOptions o) {
        char tmpl[] = "/tmp/usnet-switch-test-XXXXXX";
        dir = mkdtemp(tmpl);
        path = dir + "/sw.sock";
        o.socket_path = path;
        std::atomic<int> state{0};
        server = std::thread([this, o, &state] {
            const bool ok = sim::run_switch(o, stop, &err, [&state](const std::string& line) {
                if (line.find("listening") != std::string::npos) state = 1;
            });
            if (!ok) state = 2;
        });
        while (state == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_EQ(state, 1) << err;
    }
    void TearDown() override {
        stop = true;
        if (server.joinable()) server.join();
        if (!dir.empty()) std::system(("rm -rf " + dir).c_str());
    }

    // A program's world on the switch.
    struct Host {
        usnet::CallLock mu;
        sim::DefaultWorld w;
    };
    std::unique_ptr<Host> host(const std::string& addr) {
        auto h = std::make_unique<Host>();
        sim::WorldSpec spec;
        std::string e;
        EXPECT_TRUE(sim::parse_world("switch " + path + "\naddr " + addr, &spec, &e)) << e;
        h->w = sim::build_world(spec, {}, &e);
        EXPECT_TRUE(h->w.net) << e;
        if (h->w.net) h->w.net->set_realtime(&h->mu);
        return h;
    }
    // Hosts a (10.0.2.16) and b (10.0.2.17), held by the test's thread, with a socket each
    // bound to port 7000 (ra, rb), whose receives wait up to 2 s. (Locks go before hosts.)
    struct Met {
        std::unique_ptr<Host> a, b;
        std::unique_lock<usnet::CallLock> ga, gb;
        int ra = -1, rb = -1;
    };
    // One datagram b -> a: both learn each other's MAC (ARP both ways).
    bool meet(Met* m) {
        m->a = host("10.0.2.16/24");
        m->b = host("10.0.2.17/24");
        if (!m->a->w.net || !m->b->w.net) return false;
        m->ga = std::unique_lock<usnet::CallLock>(m->a->mu);
        m->gb = std::unique_lock<usnet::CallLock>(m->b->mu);
        Stack& ha = *m->a->w.host;
        Stack& hb = *m->b->w.host;
        Host& b = *m->b;
        const int ra = m->ra = udp_bound(ha, Ip4(0, 0, 0, 0), 7000);
        const int rb = m->rb = udp_bound(hb, Ip4(0, 0, 0, 0), 7000);
        const sockaddr_in to_a = sin4(Ip4(10, 0, 2, 16), 7000);
        if (hb.sendto(rb, "hi", 2, 0, sa(to_a), sizeof to_a) != 2) return false;
        timeval tv{2, 0};
        ha.setsockopt(ra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        hb.setsockopt(rb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        // (Each side's calls drive the other: a's receive waits while b answers a's ARP.)
        std::thread drive_b([&] {
            for (int i = 0; i < 50 && hb.unresolved_packets(); ++i) {
                b.w.net->poll_input();
                hb.poll_timers();
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
        char buf[8];
        const bool got = ha.recv(ra, buf, sizeof buf, 0) == 2;
        drive_b.join();
        return got;
    }
    // A socket of h, bound to `port` if not 0, whose receives wait at most `ms`.
    static int udp_waiting(Host& h, uint16_t port, int ms) {
        std::lock_guard<usnet::CallLock> g(h.mu);
        Stack& st = *h.w.host;
        const int fd = port ? udp_bound(st, Ip4(0, 0, 0, 0), port) : st.socket(AF_INET, SOCK_DGRAM, 0);
        timeval tv{ms / 1000, (ms % 1000) * 1000};
        st.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }
};

TEST_F(SwitchFixture, TwoHostsExchangeDatagramsAndReachTheGateway) {
    start({});
    auto a = host("10.0.2.16/24");
    auto b = host("10.0.2.17/24");
    ASSERT_TRUE(a->w.net && b->w.net);
    const int rb = udp_waiting(*b, 7000, 2000);
    std::thread sender([&] {
        std::lock_guard<usnet::CallLock> g(a->mu);
        Stack& h = *a->w.host;
        const int s = udp_waiting(*a, 0, 2000);
        const sockaddr_in to = sin4(Ip4(10, 0, 2, 17), 7000);
        EXPECT_EQ(h.sendto(s, "over the switch", 15, 0, sa(to), sizeof to), 15);
        // The gateway answers a closed port with ICMP port unreachable: ECONNREFUSED.
        const sockaddr_in gw = sin4(Ip4(10, 0, 2, 2), 9);
        const int c = udp_waiting(*a, 0, 2000);
        ASSERT_EQ(h.connect(c, sa(gw), sizeof gw), 0);
        EXPECT_EQ(h.send(c, "x", 1, 0), 1);
        char buf[4];
        EXPECT_EQ(h.recv(c, buf, sizeof buf, 0), -1);
        EXPECT_EQ(errno, ECONNREFUSED);
        // Waiting for b's answer keeps a's stack going: b's ARP reply may come after the
        // gateway's ICMP error (a program that stopped calling would rely on the shim's pump).
        EXPECT_EQ(h.recv(s, buf, sizeof buf, 0), 3);
    });
    char buf[64];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n;
    {
        std::lock_guard<usnet::CallLock> g(b->mu);
        n = b->w.host->recvfrom(rb, buf, sizeof buf, 0, sa(from), &fl);
        if (n > 0) b->w.host->sendto(rb, "ack", 3, 0, sa(from), fl);
    }
    sender.join();
    ASSERT_EQ(n, 15) << "a:\n" << counters_text(a->w.host->counters()) << "b:\n" << counters_text(b->w.host->counters());
    EXPECT_EQ(std::string(buf, 15), "over the switch");
    EXPECT_EQ(ntohl(from.sin_addr.s_addr), Ip4(10, 0, 2, 16).v);
}

TEST_F(SwitchFixture, FramesForAFullRingAreDroppedAndCounted) {
    start({});
    Met m;
    ASSERT_TRUE(meet(&m));
    Stack& ha = *m.a->w.host;
    Stack& hb = *m.b->w.host;
    const int ra = m.ra, rb = m.rb;
    const sockaddr_in to_b = sin4(Ip4(10, 0, 2, 17), 7000);
    char buf[64];
    // b now sleeps: a's frames fill b's ring (512), the rest are refused and counted.
    const uint64_t before = ha.counters().link.TxDropped;
    for (int i = 0; i < 600; ++i) ASSERT_EQ(ha.sendto(ra, "x", 1, 0, sa(to_b), sizeof to_b), 1);
    EXPECT_EQ(ha.counters().link.TxDropped - before, 600u - shm::kSlots);
    int got = 0;
    while (hb.recv(rb, buf, sizeof buf, MSG_DONTWAIT) == 1) ++got;
    EXPECT_EQ(uint64_t(got) + hb.counters().udp.RcvbufErrors, shm::kSlots);
}

TEST_F(SwitchFixture, LossDuplicationAndCaptureApplyOnTheSwitch) {
    sim::SwitchOptions o;
    o.params.duplicate = 1.0;
    char tmpl[] = "/tmp/usnet-pcap-XXXXXX";
    const std::string pdir = mkdtemp(tmpl);
    o.pcap = pdir + "/sw.pcap";
    start(o);
    auto a = host("10.0.2.16/24");
    auto b = host("10.0.2.17/24");
    ASSERT_TRUE(a->w.net && b->w.net);
    const int rb = udp_waiting(*b, 7000, 300);
    // The sender waits in a receive meanwhile, which keeps its stack going (ARP).
    std::thread sender([&] {
        std::lock_guard<usnet::CallLock> g(a->mu);
        Stack& h = *a->w.host;
        const int s = udp_waiting(*a, 0, 300);
        const sockaddr_in to = sin4(Ip4(10, 0, 2, 17), 7000);
        EXPECT_EQ(h.sendto(s, "twice", 5, 0, sa(to), sizeof to), 5);
        char buf[8];
        EXPECT_EQ(h.recv(s, buf, sizeof buf, 0), -1);
    });
    int copies = 0;
    for (;;) {
        std::lock_guard<usnet::CallLock> g(b->mu);
        char buf[16];
        if (b->w.host->recv(rb, buf, sizeof buf, 0) != 5) break;
        ++copies;
    }
    sender.join();
    EXPECT_EQ(copies, 2);
    std::ifstream pcap(o.pcap, std::ios::binary);
    uint32_t magic = 0;
    pcap.read(reinterpret_cast<char*>(&magic), 4);
    EXPECT_EQ(magic, 0xa1b23c4du);
    pcap.seekg(0, std::ios::end);
    EXPECT_GT(pcap.tellg(), 24 + 4 * (16 + 42));  // ARP both ways and the datagram
    std::system(("rm -rf " + pdir).c_str());
}

// Every record of a pcap file (the frames, in order).
std::vector<std::string> pcap_frames(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<std::string> out;
    f.seekg(24);
    for (;;) {
        uint32_t rec[4];
        if (!f.read(reinterpret_cast<char*>(rec), sizeof rec)) break;
        std::string frame(rec[2], '\0');
        if (!f.read(frame.data(), std::streamsize(frame.size()))) break;
        out.push_back(frame);
    }
    return out;
}

// A datagram sent on the short cut (Udp::output_parts: headers and the program's bytes
// copied straight into the ring) leaves as the same frame as through the layers (which a
// tracer makes it take), and is counted the same by each layer.
TEST_F(SwitchFixture, TheShortCutSendsTheFrameTheLayersWould) {
    sim::SwitchOptions o;
    char tmpl[] = "/tmp/usnet-pcap-XXXXXX";
    const std::string pdir = mkdtemp(tmpl);
    o.pcap = pdir + "/sw.pcap";  // (every frame then goes through the switch)
    start(o);
    Met met;
    ASSERT_TRUE(meet(&met));
    Stack& ha = *met.a->w.host;
    Stack& hb = *met.b->w.host;
    const int ra = met.ra, rb = met.rb;
    const Counters before = ha.counters();
    const sockaddr_in to_b = sin4(Ip4(10, 0, 2, 17), 7000);
    // Two iovecs, as sendmsg gives them: the short cut gathers them.
    char p1[] = "same ", p2[] = "bytes";
    iovec iov[2] = {{p1, 5}, {p2, 5}};
    msghdr m{};
    m.msg_name = const_cast<sockaddr*>(sa(to_b));
    m.msg_namelen = sizeof to_b;
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    ASSERT_EQ(ha.sendmsg(ra, &m, 0), 10);
    std::string trace;
    ha.set_tracer([&](const std::string& t) { trace += t; });
    ASSERT_EQ(ha.sendmsg(ra, &m, 0), 10);
    ha.set_tracer(nullptr);
    EXPECT_NE(trace.find("ip_finish_output2"), std::string::npos) << trace;  // the layers' path
    const Counters after = ha.counters();
    EXPECT_EQ(after.udp.OutDatagrams - before.udp.OutDatagrams, 2u);
    EXPECT_EQ(after.ip.OutRequests - before.ip.OutRequests, 2u);
    EXPECT_EQ(after.link.TxFrames - before.link.TxFrames, 2u);
    EXPECT_EQ(after.link.TxDirect - before.link.TxDirect, 1u);  // (the first)
    char buf[16];
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(hb.recv(rb, buf, sizeof buf, 0), 10);
        EXPECT_EQ(std::string(buf, 10), "same bytes");
    }
    std::vector<std::string> sent;
    for (const std::string& f : pcap_frames(o.pcap))
        if (f.size() == 14 + 20 + 8 + 10 && f.compare(f.size() - 10, 10, "same bytes") == 0) sent.push_back(f);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0], sent[1]);  // (an unconnected socket's DF datagrams carry IP id 0)
    const auto* ip = reinterpret_cast<const uint8_t*>(sent[0].data()) + 14;
    EXPECT_EQ(wire::checksum(ip, 20), 0);
    wire::UdpRepr u;  // finished for the switch, as through the layers
    EXPECT_EQ(wire::UdpRepr::parse({ip + 20, 18}, Ip4(10, 0, 2, 16), Ip4(10, 0, 2, 17), &u, true), wire::UdpError::Ok);
    std::system(("rm -rf " + pdir).c_str());
}

// What a receive gave: its result, bytes, flags and sender, and what the stack counted.
struct Received {
    ssize_t ret = 0;
    int err = 0;
    std::string bytes;
    int flags = 0;
    socklen_t namelen = 0;
    std::string from;
    uint64_t rx_frames = 0, in_receives = 0, in_delivers = 0, in_datagrams = 0, in_errors = 0, direct = 0;
    bool operator==(const Received&) const = default;
};

std::ostream& operator<<(std::ostream& o, const Received& r) {
    return o << "ret " << r.ret << " errno " << r.err << " bytes '" << r.bytes << "' flags " << r.flags << " from " << r.from
             << " (" << r.namelen << ") counted " << r.rx_frames << "/" << r.in_receives << "/" << r.in_delivers << "/"
             << r.in_datagrams << "/" << r.in_errors << " direct " << r.direct;
}

// recvmsg on fd into iovecs of the given sizes (a null buffer for size -1), and the counts it made.
Received receive_counted(Stack& h, int fd, std::vector<int> sizes, int flags) {
    const Counters c0 = h.counters();
    std::vector<std::string> bufs;
    std::vector<iovec> iov;
    for (int n : sizes) bufs.emplace_back(size_t(std::max(n, 0)), '\0');
    for (size_t i = 0; i < sizes.size(); ++i)
        iov.push_back({sizes[i] < 0 ? nullptr : bufs[i].data(), size_t(sizes[i] < 0 ? 8 : sizes[i])});
    sockaddr_in from{};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = iov.data();
    m.msg_iovlen = iov.size();
    Received r;
    r.ret = h.recvmsg(fd, &m, flags);
    r.err = r.ret < 0 ? errno : 0;
    for (size_t i = 0, left = r.ret > 0 ? size_t(r.ret) : 0; i < bufs.size() && left; ++i) {
        const size_t n = std::min(left, bufs[i].size());
        r.bytes += bufs[i].substr(0, n);
        left -= n;
    }
    r.flags = r.ret < 0 ? -1 : m.msg_flags;
    r.namelen = r.ret < 0 ? 0 : m.msg_namelen;
    if (r.ret >= 0) r.from = Ip4::from_net(from.sin_addr.s_addr).str() + ":" + std::to_string(ntohs(from.sin_port));
    const Counters c1 = h.counters();
    r.rx_frames = c1.link.RxFrames - c0.link.RxFrames;
    r.in_receives = c1.ip.InReceives - c0.ip.InReceives;
    r.in_delivers = c1.ip.InDelivers - c0.ip.InDelivers;
    r.in_datagrams = c1.udp.InDatagrams - c0.udp.InDatagrams;
    r.in_errors = c1.udp.InErrors - c0.udp.InErrors;
    r.direct = c1.link.RxDirect - c0.link.RxDirect;
    return r;
}

// One way to receive, made on the same datagram through the short cut (no tracer) and
// through the layers (a tracer set): the same result, bytes, flags, sender and counts.
struct RecvCase {
    const char* what;
    std::vector<int> sizes;
    int flags;
    bool direct;  // whether the short cut may take it
};
void same_receives(SwitchFixture::Met& met, const RecvCase& c) {
    SCOPED_TRACE(c.what);
    Stack& ha = *met.a->w.host;
    Stack& hb = *met.b->w.host;
    const int ra = met.ra, rb = met.rb;
    const sockaddr_in to_a = sin4(Ip4(10, 0, 2, 16), 7000);
    Received got[2];
    for (int traced = 0; traced < 2; ++traced) {
        ASSERT_EQ(hb.sendto(rb, "0123456789", 10, 0, sa(to_a), sizeof to_a), 10);
        std::string trace;
        if (traced) ha.set_tracer([&](const std::string& t) { trace += t; });
        got[traced] = receive_counted(ha, ra, c.sizes, c.flags);
        ha.set_tracer(nullptr);
        if (c.flags & MSG_PEEK) {
            ASSERT_EQ(ha.recv(ra, nullptr, 0, MSG_DONTWAIT), 0);  // (the peeked one)
        }
    }
    EXPECT_EQ(got[0].direct, c.direct ? 1u : 0u) << got[0];
    EXPECT_EQ(got[1].direct, 0u) << got[1];
    got[0].direct = got[1].direct = 0;
    EXPECT_EQ(got[0], got[1]);
    EXPECT_EQ(got[0].rx_frames, 1u) << got[0];
}

TEST_F(SwitchFixture, TheShortCutReceivesWhatTheLayersWould) {
    start({});
    Met met;
    ASSERT_TRUE(meet(&met));
    const RecvCase cases[] = {
        {"one buffer", {64}, 0, true},
        {"two buffers", {3, 61}, MSG_DONTWAIT, true},
        {"truncated", {4}, 0, true},
        {"MSG_TRUNC asks the full length", {4}, MSG_TRUNC, true},
        {"MSG_PEEK", {64}, MSG_PEEK, false},
        {"a bad buffer: EFAULT, the datagram dropped", {-1}, 0, false},
    };
    for (const RecvCase& c : cases) same_receives(met, c);
    Stack& ha = *met.a->w.host;
    Stack& hb = *met.b->w.host;
    const int ra = met.ra, rb = met.rb;
    const sockaddr_in to_a = sin4(Ip4(10, 0, 2, 16), 7000);
    // A frame for another socket first: the layers take both in, each to its socket.
    const int rc = udp_bound(ha, Ip4(0, 0, 0, 0), 7001);
    const sockaddr_in to_c = sin4(Ip4(10, 0, 2, 16), 7001);
    ASSERT_EQ(hb.sendto(rb, "for c", 5, 0, sa(to_c), sizeof to_c), 5);
    ASSERT_EQ(hb.sendto(rb, "for a", 5, 0, sa(to_a), sizeof to_a), 5);
    Received r = receive_counted(ha, ra, {64}, 0);
    EXPECT_EQ(r.bytes, "for a");
    EXPECT_EQ(r.rx_frames, 2u);
    EXPECT_EQ(r.direct, 0u);
    char buf[8];
    EXPECT_EQ(ha.recv(rc, buf, sizeof buf, MSG_DONTWAIT), 5);
    // Receive options that read a datagram's metadata take the layers' path.
    const int one = 1;
    ASSERT_EQ(ha.setsockopt(ra, IPPROTO_IP, IP_PKTINFO, &one, sizeof one), 0);
    ASSERT_EQ(hb.sendto(rb, "info", 4, 0, sa(to_a), sizeof to_a), 4);
    r = receive_counted(ha, ra, {64}, 0);
    EXPECT_EQ(r.bytes, "info");
    EXPECT_EQ(r.direct, 0u);
}

TEST_F(SwitchFixture, TheShortCutChecksAChecksumTheSwitchFinished) {
    sim::SwitchOptions o;
    char tmpl[] = "/tmp/usnet-pcap-XXXXXX";
    const std::string pdir = mkdtemp(tmpl);
    o.pcap = pdir + "/sw.pcap";  // (every frame through the switch, which finishes checksums)
    start(o);
    Met met;
    ASSERT_TRUE(meet(&met));
    same_receives(met, {"a whole checksum", {64}, 0, true});
    std::system(("rm -rf " + pdir).c_str());
}

TEST_F(SwitchFixture, ABlockedReceiveTakesTheDatagramThatWokeIt) {
    start({});
    Met met;
    ASSERT_TRUE(meet(&met));
    Stack& ha = *met.a->w.host;
    const int ra = met.ra;
    // b sends from another thread while a waits (b's lock is its own, a's is let go).
    met.gb.unlock();
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<usnet::CallLock> g(met.b->mu);
        const sockaddr_in to_a = sin4(Ip4(10, 0, 2, 16), 7000);
        met.b->w.host->sendto(met.rb, "late", 4, 0, sa(to_a), sizeof to_a);
    });
    const Received r = receive_counted(ha, ra, {64}, 0);
    sender.join();
    EXPECT_EQ(r.ret, 4);
    EXPECT_EQ(r.bytes, "late");
    EXPECT_EQ(r.from, "10.0.2.17:7000");
    EXPECT_EQ(r.direct, 1u);
    EXPECT_EQ(r.in_datagrams, 1u);
}

TEST_F(SwitchFixture, EveryFrameLostMeansNothingArrives) {
    sim::SwitchOptions o;
    o.params.loss = 1.0;
    start(o);
    auto a = host("10.0.2.16/24");
    ASSERT_TRUE(a->w.net);
    std::lock_guard<usnet::CallLock> g(a->mu);
    Stack& h = *a->w.host;
    const int c = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in gw = sin4(Ip4(10, 0, 2, 2), 9);
    timeval tv{0, 200000};
    h.setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ASSERT_EQ(h.connect(c, sa(gw), sizeof gw), 0);
    EXPECT_EQ(h.send(c, "x", 1, 0), 1);  // queued behind ARP, which is lost
    char buf[4];
    EXPECT_EQ(h.recv(c, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);  // no ICMP error: the gateway never saw it
}

TEST_F(SwitchFixture, GarbageOnTheControlSocketIsRefusedAndTheSwitchServesOn) {
    start({});
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    for (const std::string& junk : {std::string(), std::string("hello?"), std::string(200, '\xff')}) {
        const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        if (!junk.empty()) {
            ASSERT_EQ(::write(c, junk.data(), junk.size()), ssize_t(junk.size()));
        }
        ::shutdown(c, SHUT_WR);
        char buf[256];
        EXPECT_LE(::read(c, buf, sizeof buf), 0);  // closed without a welcome (or a memfd)
        ::close(c);
    }
    // A well-formed hello with a bad version is refused too.
    shm::Hello h;
    h.version = 99;
    const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::write(c, &h, sizeof h), ssize_t(sizeof h));
    char buf[256];
    EXPECT_LE(::read(c, buf, sizeof buf), 0);
    ::close(c);
    auto ok = host("10.0.2.16/24");
    EXPECT_TRUE(ok->w.net);  // still serving
}

TEST_F(SwitchFixture, ASecondSwitchOnTheSameSocketIsRefusedAndAMissingOneIsReported) {
    start({});
    std::atomic<bool> stop2{false};
    std::string err2;
    sim::SwitchOptions o;
    o.socket_path = path;
    EXPECT_FALSE(sim::run_switch(o, stop2, &err2, [](const std::string&) {}));
    EXPECT_NE(err2.find("already listening"), std::string::npos) << err2;
    sim::WorldSpec spec;
    std::string e;
    ASSERT_TRUE(sim::parse_world("switch " + dir + "/nothing.sock", &spec, &e));
    auto w = sim::build_world(spec, {}, &e);
    EXPECT_FALSE(w.net);
    EXPECT_NE(e.find("cannot reach a switch"), std::string::npos) << e;
}

}  // namespace
