// The receive short cut (Link/Ip/Udp::input_direct) against the layers (receive_frame):
// random mutations of valid frames, each offered to the short cut for a socket and then
// given to the layers. Whatever the short cut takes, the layers must queue on that same
// socket, as the same bytes from the same sender, counted alike; whatever it declines, it
// must leave untouched.
#include <gtest/gtest.h>

#include <random>

#include "../sim_helpers.hpp"
#include "udp/udp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

struct Taken {
    bool took = false;
    std::vector<uint8_t> payload;
    Ip4 src;
    uint16_t sport = 0;
};

// Counters as the comparison sees them: all but the short cut's own.
std::vector<uint64_t> counted(const Stack& s) {
    Counters c = s.counters();
    c.link.RxDirect = 0;
    std::vector<uint64_t> v;
    for_each_counter(c, [&](const char*, const char*, uint64_t n) { v.push_back(n); });
    return v;
}

// The frame through the layers, as SwitchLink::poll hands it in.
void layers(StackImpl& im, int ifindex, const std::vector<uint8_t>& f, bool csum_ok) {
    auto pkt = im.pool.alloc(uint32_t(f.size()));
    ASSERT_TRUE(pkt);
    if (!f.empty()) std::memcpy(pkt->put(uint32_t(f.size())), f.data(), f.size());
    pkt->meta.csum_ok = pkt->meta.csum_partial = csum_ok;
    im.link.receive_frame(*im.iface(ifindex), std::move(pkt));
}

TEST(DirectRx, TakesOnlyWhatTheLayersWouldQueueAsItIs) {
    Pair p;
    Stack& a = p.a;
    StackImpl& im = a.impl();
    // An unconnected socket on 7000, and one on 7001 bound to a's address and connected to
    // b:9 (a datagram from anyone else is not its).
    const int s1 = udp_bound(a, Ip4(0, 0, 0, 0), 7000);
    const int s2 = udp_bound(a, Pair::kA, 7001);
    const sockaddr_in peer = sin4(Pair::kB, 9);
    ASSERT_EQ(a.connect(s2, sa(peer), sizeof peer), 0);
    const Mac mac = mac_of(a, p.ia);
    std::mt19937_64 rng(20261207);
    int took = 0, declined = 0;
    for (int round = 0; round < 20000; ++round) {
        const bool to_s2 = rng() & 1;
        std::vector<uint8_t> payload(rng() % 80);
        for (auto& b : payload) b = uint8_t(rng());
        FrameSpec fs;
        fs.dst = mac;
        fs.ip_src = Pair::kB;
        fs.ip_dst = Pair::kA;
        std::vector<uint8_t> f =
            ipv4_frame(fs, udp_datagram(fs.ip_src, fs.ip_dst, to_s2 ? 9 : 5000, to_s2 ? 7001 : 7000, payload));
        // Mutations, mostly in the headers; some rounds none.
        const int n = int(rng() % 4);
        for (int i = 0; i < n; ++i) {
            const size_t at = rng() % std::min<size_t>(f.size(), 14 + 20 + 8 + 4);
            switch (rng() % 4) {
                case 0: f[at] ^= uint8_t(1u << (rng() % 8)); break;
                case 1: f[at] = uint8_t(rng()); break;
                case 2: f.resize(rng() % (f.size() + 1)); break;
                default: f.resize(f.size() + rng() % 8, uint8_t(rng())); break;
            }
            if (f.empty()) break;
        }
        const bool csum_ok = rng() % 3 == 0;
        const int fd = to_s2 ? s2 : s1;
        sock::DgramSock* sk = im.sock_of(fd);
        ASSERT_TRUE(sk && sk->rx.empty());
        const auto c0 = counted(a);
        const uint64_t wake0 = sk->wakeups, direct0 = a.counters().link.RxDirect;
        Taken t;
        auto take = [&](std::span<const uint8_t> d, Ip4 src, uint16_t sport) {
            t = {true, {d.begin(), d.end()}, src, sport};
            return true;
        };
        const udp::DirectRx want{sk, take};
        const bool direct = im.link.input_direct(*im.iface(p.ia), f, csum_ok, want);
        ASSERT_EQ(direct, t.took);
        const auto c1 = counted(a);
        if (!direct) {
            ++declined;
            ASSERT_EQ(c1, c0) << "round " << round;  // declined: nothing changed
            ASSERT_EQ(sk->wakeups, wake0);
            ASSERT_EQ(a.counters().link.RxDirect, direct0);
        } else {
            ++took;
            ASSERT_EQ(a.counters().link.RxDirect, direct0 + 1);
        }
        // The layers, then a read of what they queued there.
        layers(im, p.ia, f, csum_ok);
        std::vector<uint8_t> buf(200);
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t r = a.recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, sa(from), &fl);
        if (direct) {
            ASSERT_EQ(r, ssize_t(t.payload.size())) << "round " << round << ": the layers did not queue it on the socket";
            buf.resize(size_t(r));
            ASSERT_EQ(buf, t.payload) << "round " << round;
            ASSERT_EQ(Ip4::from_net(from.sin_addr.s_addr), t.src);
            ASSERT_EQ(ntohs(from.sin_port), t.sport);
            // What the short cut counted (with its receive) is what the layers and the read count.
            const auto c2 = counted(a);
            for (size_t i = 0; i < c0.size(); ++i) ASSERT_EQ(c1[i] - c0[i], c2[i] - c1[i]) << "round " << round << " counter " << i;
        }
        // (Anything else the layers queued, on either socket, goes.)
        for (int s : {s1, s2})
            while (a.recv(s, buf.data(), buf.size(), MSG_DONTWAIT) >= 0) {
            }
        p.net.run_for(kMs);  // (ICMP errors the layers sent, out of the way)
    }
    // Both outcomes were met often (the mutations are not all fatal, nor all harmless).
    std::printf("took %d, declined %d\n", took, declined);
    EXPECT_GT(took, 2000);
    EXPECT_GT(declined, 2000);
}

}  // namespace
