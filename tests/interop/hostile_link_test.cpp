// A hostile link: from the kernel side of the TAP (a raw AF_PACKET socket in the test's
// namespace) come malformed, truncated and oversized frames with every header field at its
// edges, then floods of fragments, ARP, ICMP and UDP. usnet keeps serving (a UDP echo still
// answers), its memory stays within the stated bounds, and every frame it drops is counted
// under a reason (checked exactly where the outcome is fixed).
#include <linux/if_packet.h>
#include <net/if.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>

#include "tap_world.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/udp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

using Bytes = std::vector<uint8_t>;
const Ip4 kL(10, 7, 0, 1), kU(10, 7, 0, 2);

// The kernel side's raw socket into tap0, counting what it sent.
struct Injector {
    std::unique_ptr<RawLink> link;
    Mac us, them;
    uint64_t sent = 0;
    bool open(Netns& ns) {
        link = std::make_unique<RawLink>(ns, "tap0");
        return link->ok();
    }
    void send(const Bytes& f) {
        if (link->send(f)) ++sent;
        else ADD_FAILURE() << "injecting a " << f.size() << "-byte frame: " << std::strerror(errno);
    }
};

Bytes eth(const Mac& dst, const Mac& src, uint16_t type, const Bytes& payload) {
    Bytes f(14 + payload.size());
    std::memcpy(f.data(), dst.b.data(), 6);
    std::memcpy(f.data() + 6, src.b.data(), 6);
    wire::store16(f.data() + 12, type);
    std::copy(payload.begin(), payload.end(), f.begin() + 14);
    return f;
}

// An IPv4 packet; edit changes the header (20 bytes, or more if it grows ihl) before the
// checksum is computed, unless keep_sum.
Bytes ipv4(Ip4 src, Ip4 dst, uint8_t proto, const Bytes& l4, const std::function<void(Bytes&)>& edit = {},
           bool keep_sum = false) {
    Bytes h(20);
    h[0] = 0x45;
    wire::store16(h.data() + 2, uint16_t(20 + l4.size()));
    wire::store16(h.data() + 4, 1);
    h[8] = 64;
    h[9] = proto;
    wire::store32(h.data() + 12, src.v);
    wire::store32(h.data() + 16, dst.v);
    if (edit) edit(h);
    if (!keep_sum) {
        h[10] = h[11] = 0;
        const size_t hl = std::min<size_t>(size_t(h[0] & 15) * 4, h.size());
        wire::store16(h.data() + 10, wire::checksum(h.data(), std::max<size_t>(hl, 20)));
    }
    Bytes p(h.size() + l4.size());
    std::copy(h.begin(), h.end(), p.begin());
    std::copy(l4.begin(), l4.end(), p.begin() + long(h.size()));
    return p;
}

Bytes udp(Ip4 src, Ip4 dst, uint16_t sport, uint16_t dport, const Bytes& data) {
    Bytes u(8 + data.size());
    std::copy(data.begin(), data.end(), u.begin() + 8);
    wire::UdpRepr{sport, dport, uint16_t(u.size()), 0}.emit(u.data(), src, dst, false);
    return u;
}

Bytes icmp(uint8_t type, uint8_t code, uint32_t rest, const Bytes& body) {
    Bytes m(8 + body.size());
    std::copy(body.begin(), body.end(), m.begin() + 8);
    wire::IcmpRepr{type, code, 0, rest}.emit(m.data(), uint32_t(body.size()));
    return m;
}

Bytes arp(uint16_t op, const Mac& sha, Ip4 spa, Ip4 tpa) {
    Bytes a(wire::kArpLen);
    wire::ArpRepr{op, sha, Mac(), spa, tpa}.emit(a.data());
    return a;
}

struct Hostile : TapWorld {
    Injector inj;
    int echo_fd = -1;
    std::atomic<uint64_t> echoed{0};
    std::atomic<bool> echo_stop{false};
    std::thread echo;
    ~Hostile() {
        echo_stop = true;
        if (echo.joinable()) echo.join();
    }
    // A UDP echo on 10.7.0.2:7, served by a thread of its own as a program would.
    void start_echo() {
        echo_fd = usock(SOCK_DGRAM, 0, kU, 7, true);
        timeval tv{0, 50000};
        call([&](Stack& s) { return s.setsockopt(echo_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); });
        echo = std::thread([this] {
            uint8_t buf[2048];
            while (!echo_stop) {
                sockaddr_in from{};
                socklen_t fl = sizeof from;
                std::lock_guard<usnet::CallLock> g(mu);
                const ssize_t n = host().recvfrom(echo_fd, buf, sizeof buf, 0, sap(from), &fl);
                if (n >= 0 && host().sendto(echo_fd, buf, size_t(n), 0, sap(from), fl) == n) ++echoed;
            }
        });
    }
    // Whether the echo answers a datagram from a Linux socket.
    bool echo_answers(const std::string& what) {
        const int k = ksock(SOCK_DGRAM, 0, kLinux, 0);
        sockaddr_in to = addr4(kUsnet, 7);
        char buf[64];
        const bool ok = ::sendto(k, what.data(), what.size(), 0, sap(to), sizeof to) == ssize_t(what.size()) &&
                        ::recv(k, buf, sizeof buf, 0) == ssize_t(what.size()) && std::string(buf, what.size()) == what;
        ::close(k);
        return ok;
    }
    uint64_t rx_frames() {
        return call([](Stack& s) { return s.counters().link.RxFrames; });
    }
    // Until usnet has taken in at least `target` frames and, when quiet, nothing more has
    // arrived for 100 ms.
    bool settle(uint64_t target, bool quiet) {
        uint64_t last = rx_frames();
        auto since = std::chrono::steady_clock::now();
        const auto limit = since + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < limit) {
            const uint64_t now = rx_frames();
            if (now != last) {
                last = now;
                since = std::chrono::steady_clock::now();
            } else if (now >= target && (!quiet || std::chrono::steady_clock::now() - since > std::chrono::milliseconds(100))) {
                return true;
            }
            usleep(500);
        }
        return false;
    }
    // Sends the frames in chunks the TAP's queue holds (500), each taken in before the next.
    void inject_all(const std::vector<Bytes>& frames) {
        uint64_t target = rx_frames();
        for (size_t i = 0; i < frames.size(); i += 250) {
            const size_t end = std::min(frames.size(), i + 250);
            for (size_t k = i; k < end; ++k) inj.send(frames[k]);
            target += end - i;
            ASSERT_TRUE(settle(target, end == frames.size())) << "usnet took in " << rx_frames() << ", expected " << target;
        }
    }
};

#define HOSTILE_OR_SKIP(t)                                                                         \
    Hostile t;                                                                                     \
    if (const std::string why = t.make(); !why.empty()) {                                          \
        if (!g_netns_unavailable.empty() || t.skippable) GTEST_SKIP() << why;                      \
        FAIL() << why;                                                                             \
    }                                                                                              \
    ASSERT_TRUE(t.inj.open(*t.ns));                                                                \
    t.inj.us = t.usnet_mac();                                                                      \
    t.inj.them = t.kernel_mac_bytes();                                                             \
    t.start_echo();                                                                                \
    ASSERT_TRUE(t.echo_answers("before"))

using Expect = std::map<DropReason, uint64_t>;

long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
}

// Every malformed frame is dropped under the reason named for it, and nothing else is.
TEST(HostileLink, MalformedFramesAreEachDroppedUnderTheirReason) {
    HOSTILE_OR_SKIP(t);
    const Mac us = t.inj.us, them = t.inj.them;
    std::vector<Bytes> frames;
    Expect want;
    uint64_t held = 0;  // frames kept (a first fragment) and later dropped with their queue
    auto add = [&](DropReason r, Bytes f) {
        frames.push_back(std::move(f));
        ++want[r];
    };
    auto to_us = [&](const Bytes& ip) { return eth(us, them, wire::kEthIpv4, ip); };
    const Bytes echo_dgram = udp(kL, kU, 5000, 7, {'h', 'i'});

    // Ethernet: other hosts' frames, protocols we do not speak, frames beyond the MTU (the
    // kernel side's MTU is raised so it can send them; two are longer than any buffer).
    add(DropReason::OtherHost, eth(Mac{{2, 0, 0, 0, 0, 0x99}}, them, wire::kEthIpv4, ipv4(kL, kU, 17, echo_dgram)));
    add(DropReason::OtherHost, eth(Mac{{1, 0, 0x5e, 0x7f, 0, 1}}, them, wire::kEthIpv4, ipv4(kL, kU, 17, echo_dgram)));
    for (uint16_t type : {0x86dd, 0x8100, 0x0000, 0x88cc, 0xffff})
        add(DropReason::UnknownEthertype, eth(us, them, type, Bytes(46, 0)));
    ASSERT_EQ(t.ns->sh("ip link set tap0 mtu 9000"), 0);
    for (size_t size : {1501ul, 2000ul, 9000ul}) {
        Bytes data(size - 28, 'L');
        add(DropReason::FrameTooLong, to_us(ipv4(kL, kU, 17, udp(kL, kU, 5000, 7, data))));
    }
    // ARP: every field that arp_rcv checks, at a wrong value; a truncated one; a sender
    // address that cannot be one.
    const Bytes good_arp = arp(wire::kArpRequest, them, kL, kU);
    for (auto [off, val] : std::vector<std::pair<size_t, uint8_t>>{{1, 6}, {2, 0x86}, {4, 8}, {5, 16}, {7, 0}, {7, 3}}) {
        Bytes a = good_arp;
        a[off] = val;
        add(DropReason::BadArp, eth(us, them, wire::kEthArp, a));
    }
    add(DropReason::BadArp, eth(us, them, wire::kEthArp, Bytes(good_arp.begin(), good_arp.begin() + 20)));
    add(DropReason::BadArp, eth(Mac::broadcast(), them, wire::kEthArp, arp(wire::kArpRequest, them, Ip4(224, 0, 0, 5), kU)));
    add(DropReason::BadArp, eth(Mac::broadcast(), them, wire::kEthArp, arp(wire::kArpRequest, them, Ip4(0xffffffff), kU)));

    // IPv4 header: every version but 4, every header length below 5, a total length below
    // the header, a bad checksum, a header cut short; lengths beyond the frame.
    for (uint8_t v = 0; v < 16; ++v)
        if (v != 4) add(DropReason::BadIpHeader, to_us(ipv4(kL, kU, 17, echo_dgram, [v](Bytes& h) { h[0] = uint8_t(v << 4 | 5); })));
    for (uint8_t ihl = 0; ihl < 5; ++ihl)
        add(DropReason::BadIpHeader, to_us(ipv4(kL, kU, 17, echo_dgram, [ihl](Bytes& h) { h[0] = uint8_t(0x40 | ihl); })));
    add(DropReason::BadIpHeader, to_us(ipv4(kL, kU, 17, echo_dgram, [](Bytes& h) { wire::store16(h.data() + 2, 10); })));
    add(DropReason::BadIpHeader, to_us(ipv4(kL, kU, 17, echo_dgram, [](Bytes& h) { h[10] ^= 0xff; }, true)));
    add(DropReason::BadIpHeader, eth(us, them, wire::kEthIpv4, Bytes{0x45, 0, 0, 40, 0, 1, 0, 0, 64, 17}));
    add(DropReason::TruncatedIp, to_us(ipv4(kL, kU, 17, echo_dgram, [](Bytes& h) { wire::store16(h.data() + 2, 0xffff); })));
    add(DropReason::TruncatedIp, to_us(ipv4(kL, kU, 17, echo_dgram, [](Bytes& h) { wire::store16(h.data() + 2, 20 + 10 + 1); })));
    // Addresses that cannot appear here (martians), and ones that are not ours.
    for (Ip4 src : {Ip4(0, 0, 0, 0), Ip4(127, 0, 0, 1), Ip4(224, 0, 0, 1), Ip4(0xffffffff), kU})
        add(DropReason::Martian, to_us(ipv4(src, kU, 17, udp(src, kU, 5000, 7, {'m'}))));
    for (Ip4 dst : {Ip4(127, 0, 0, 1), Ip4(0, 1, 2, 3)}) add(DropReason::Martian, to_us(ipv4(kL, dst, 17, udp(kL, dst, 5000, 7, {'m'}))));
    add(DropReason::NotForUs, to_us(ipv4(kL, Ip4(10, 7, 0, 99), 17, udp(kL, Ip4(10, 7, 0, 99), 5000, 7, {'n'}))));
    add(DropReason::NotJoined, to_us(ipv4(kL, Ip4(239, 9, 9, 9), 17, udp(kL, Ip4(239, 9, 9, 9), 5000, 7, {'n'}))));
    for (uint8_t proto : {132, 255}) add(DropReason::UnknownProtocol, to_us(ipv4(kL, kU, proto, Bytes(16, 0))));
    // Fragments: ending beyond 64 KiB, an odd-sized middle one, a repeat, an overlap.
    add(DropReason::BadFragment, to_us(ipv4(kL, kU, 17, Bytes(64, 1), [](Bytes& h) { wire::store16(h.data() + 6, 0x1fff); })));
    add(DropReason::BadFragment, to_us(ipv4(kL, kU, 17, Bytes(7, 1), [](Bytes& h) { wire::store16(h.data() + 6, 0x2000 | 4); })));
    auto frag = [&](uint16_t id, uint16_t off8, size_t n) {
        return to_us(ipv4(kL, kU, 17, Bytes(n, 2), [=](Bytes& h) {
            wire::store16(h.data() + 4, id);
            wire::store16(h.data() + 6, uint16_t(0x2000 | off8));
        }));
    };
    frames.push_back(frag(900, 0, 64));  // held, then dropped with its queue by the overlap
    ++held;
    add(DropReason::BadFragment, frag(900, 0, 64));  // the same again
    add(DropReason::BadFragment, frag(900, 4, 64));  // bytes 32..95 over bytes 0..63
    // UDP: lengths that do not fit, a wrong checksum, a closed port, a broadcast nobody hears.
    for (uint16_t len : {4, 200}) {
        Bytes u = echo_dgram;
        wire::store16(u.data() + 4, len);
        add(DropReason::BadUdpHeader, to_us(ipv4(kL, kU, 17, u)));
    }
    Bytes bad_sum = echo_dgram;
    bad_sum[6] ^= 0x5a;
    add(DropReason::BadChecksum, to_us(ipv4(kL, kU, 17, bad_sum)));
    add(DropReason::NoSocket, to_us(ipv4(kL, kU, 17, udp(kL, kU, 5000, 9, {'c'}))));
    add(DropReason::IgnoredMulti, eth(Mac::broadcast(), them, wire::kEthIpv4,
                                      ipv4(kL, Ip4(10, 7, 0, 255), 17, udp(kL, Ip4(10, 7, 0, 255), 5000, 9, {'b'}))));
    // ICMP: a bad checksum, too short, an error quoting too little, types we do not act on,
    // a broadcast echo, replies and errors for no socket of ours.
    Bytes bad_icmp = icmp(wire::kIcmpEcho, 0, 0x10001, {1, 2, 3, 4});
    bad_icmp[2] ^= 1;
    add(DropReason::BadIcmp, to_us(ipv4(kL, kU, 1, bad_icmp)));
    add(DropReason::BadIcmp, to_us(ipv4(kL, kU, 1, Bytes{8, 0, 0xf7, 0xff})));
    add(DropReason::BadIcmp, to_us(ipv4(kL, kU, 1, icmp(3, 3, 0, Bytes(10, 0x45)))));
    for (uint8_t type : {13, 255}) add(DropReason::IcmpUnhandled, to_us(ipv4(kL, kU, 1, icmp(type, 0, 0, Bytes(12, 0)))));
    add(DropReason::EchoIgnored, eth(Mac::broadcast(), them, wire::kEthIpv4,
                                     ipv4(kL, Ip4(10, 7, 0, 255), 1, icmp(wire::kIcmpEcho, 0, 0x10001, {1}))));
    add(DropReason::IcmpNoSocket, to_us(ipv4(kL, kU, 1, icmp(wire::kIcmpEchoReply, 0, 0x77770001, {1}))));
    add(DropReason::IcmpNoSocket, to_us(ipv4(kL, kU, 1, icmp(3, 3, 0, ipv4(kU, kL, 17, udp(kU, kL, 40000, 9, {'q'}))))));
    add(DropReason::IcmpNoSocket, to_us(ipv4(kL, kU, 1, icmp(3, 3, 0, ipv4(kU, kL, 6, Bytes(20, 0))))));

    const Counters before = t.counters();
    t.inject_all(frames);
    const Counters after = t.counters();
    uint64_t dropped = 0;
    for (size_t i = 0; i < size_t(DropReason::Count); ++i) {
        const DropReason r = DropReason(i);
        const uint64_t d = after.drops[i] - before.drops[i];
        dropped += d;
        EXPECT_EQ(d, want.count(r) ? want[r] : 0) << drop_name(r);
    }
    // Each frame is accounted for: dropped under a reason, or held by reassembly.
    EXPECT_EQ(dropped + held, frames.size());
    EXPECT_EQ(t.inj.sent, frames.size());
    EXPECT_TRUE(t.echo_answers("after malformed frames"));
}

// Header fields at edges Linux accepts: each datagram reaches the echo, nothing is dropped.
TEST(HostileLink, ValidEdgeValuesAreServed) {
    HOSTILE_OR_SKIP(t);
    const Mac us = t.inj.us, them = t.inj.them;
    auto to_us = [&](const Bytes& ip) { return eth(us, them, wire::kEthIpv4, ip); };
    const Bytes dgram = udp(kL, kU, 5000, 7, {'e', 'd', 'g', 'e'});
    std::vector<Bytes> frames;
    for (uint8_t ttl : {0, 1, 255}) frames.push_back(to_us(ipv4(kL, kU, 17, dgram, [ttl](Bytes& h) { h[8] = ttl; })));
    frames.push_back(to_us(ipv4(kL, kU, 17, dgram, [](Bytes& h) { h[1] = 0xff; })));                         // TOS
    for (uint16_t id : {0, 0xffff}) frames.push_back(to_us(ipv4(kL, kU, 17, dgram, [id](Bytes& h) { wire::store16(h.data() + 4, id); })));
    frames.push_back(to_us(ipv4(kL, kU, 17, dgram, [](Bytes& h) { wire::store16(h.data() + 6, 0x4000); })));  // DF
    frames.push_back(to_us(ipv4(kL, kU, 17, dgram, [](Bytes& h) {  // 60-byte header of no-op options
        h.resize(60, 0x01);
        h[0] = 0x4f;
        wire::store16(h.data() + 2, uint16_t(60 + 12));
    })));
    Bytes no_sum = dgram;
    no_sum[6] = no_sum[7] = 0;  // RFC 768: no checksum
    frames.push_back(to_us(ipv4(kL, kU, 17, no_sum)));
    frames.push_back(to_us(ipv4(kL, kU, 17, udp(kL, kU, 5000, 7, {}))));                   // empty
    frames.push_back(to_us(ipv4(kL, kU, 17, udp(kL, kU, 5000, 7, Bytes(1472, 'M')))));     // the MTU exactly
    Bytes padded = to_us(ipv4(kL, kU, 17, dgram));
    padded.resize(60, 0);  // Ethernet padding after the datagram
    frames.push_back(padded);
    const Counters before = t.counters();
    const uint64_t echoed = t.echoed;
    t.inject_all(frames);
    for (int i = 0; i < 200 && t.echoed - echoed < frames.size(); ++i) usleep(5000);
    EXPECT_EQ(t.echoed - echoed, frames.size());
    const Counters after = t.counters();
    for (size_t i = 0; i < size_t(DropReason::Count); ++i)
        EXPECT_EQ(after.drops[i], before.drops[i]) << drop_name(DropReason(i));
}

// Floods of fragments, ARP, ICMP and UDP: every frame answered, held or dropped under a
// reason; the tables stop at their bounds and the pool stays within them; the echo answers.
TEST(HostileLink, FloodsStayBoundedAndCounted) {
    HOSTILE_OR_SKIP(t);
    const Mac us = t.inj.us, them = t.inj.them;
    auto to_us = [&](const Bytes& ip) { return eth(us, them, wire::kEthIpv4, ip); };
    auto delta = [](const Counters& a, const Counters& b, DropReason r) { return b.drops[size_t(r)] - a.drops[size_t(r)]; };
    const uint64_t pool_before = t.call([](Stack& s) { return s.impl().pool.bytes(); });
    const long rss_before = rss_kib();
    const uint64_t kLargeSlot = buf::Pool::kLarge + 64;

    // 3000 first fragments of distinct datagrams: about 64 queues fit ipfrag_high_thresh, the
    // rest are refused.
    {
        std::vector<Bytes> frames;
        for (uint16_t id = 1; id <= 3000; ++id)
            frames.push_back(to_us(ipv4(kL, kU, 17, Bytes(64, 3), [id](Bytes& h) {
                wire::store16(h.data() + 4, id);
                wire::store16(h.data() + 6, 0x2000);
            })));
        const Counters a = t.counters();
        t.inject_all(frames);
        const Counters b = t.counters();
        const uint64_t mem = t.call([](Stack& s) { return s.impl().ip.reassembly_memory(); });
        const uint32_t thresh = t.call([](Stack& s) { return s.config().ipfrag_high_thresh; });
        EXPECT_LE(mem, uint64_t(thresh) + kLargeSlot);
        const uint64_t queues = b.ip.ReasmReqds - a.ip.ReasmReqds - (b.ip.ReasmFails - a.ip.ReasmFails);
        EXPECT_GT(queues, 0u);
        EXPECT_EQ(delta(a, b, DropReason::ReassemblyMemory) + queues, frames.size());
    }
    // An ICMP storm: echo requests from Linux (answered), from 240 on-link addresses nobody
    // holds (answers wait for ARP, within the bound), and errors quoting datagrams we never sent.
    {
        std::vector<Bytes> frames;
        for (uint16_t i = 0; i < 2000; ++i) frames.push_back(to_us(ipv4(kL, kU, 1, icmp(wire::kIcmpEcho, 0, 0x4242u << 16 | i, Bytes(56, 'p')))));
        for (uint16_t i = 0; i < 3000; ++i) {
            const Ip4 src(10, 7, 0, uint8_t(10 + i % 240));
            frames.push_back(to_us(ipv4(src, kU, 1, icmp(wire::kIcmpEcho, 0, 0x4343u << 16 | i, Bytes(1400, 's')))));
        }
        for (uint16_t i = 0; i < 2000; ++i)
            frames.push_back(to_us(ipv4(kL, kU, 1, icmp(3, 3, 0, ipv4(kU, kL, 17, udp(kU, kL, uint16_t(20000 + i), 9, {'q'}))))));
        const Counters a = t.counters();
        t.inject_all(frames);
        const Counters b = t.counters();
        EXPECT_EQ(b.icmp.OutEchoReps - a.icmp.OutEchoReps, 5000u);
        EXPECT_EQ(delta(a, b, DropReason::IcmpNoSocket), 2000u);
        const auto [neigh, pending] = t.call([](Stack& s) {
            const link::Interface& i = *s.impl().iface(s.ifindex_of("eth0"));
            return std::pair<size_t, uint64_t>(i.neigh.size(), i.pending_mem);
        });
        EXPECT_LE(neigh, link::kNeighMax);
        EXPECT_LE(pending, link::kArpUnresIfaceBytes);
        RecordProperty("arp_pending_bytes", std::to_string(pending));
        RecordProperty("arp_queue_full", std::to_string(delta(a, b, DropReason::ArpQueueFull)));
        // Replies beyond the interface's ARP-pending bound are counted (the oldest go).
        EXPECT_GT(delta(a, b, DropReason::ArpQueueFull), 0u);
    }
    // 3000 ARP requests for us from as many senders: each answered, the table bounded.
    {
        std::vector<Bytes> frames;
        for (uint32_t i = 0; i < 3000; ++i) {
            const Mac sha{{2, 0xbb, 0, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)}};
            frames.push_back(eth(Mac::broadcast(), sha, wire::kEthArp, arp(wire::kArpRequest, sha, Ip4(10, 8, uint8_t(i >> 8), uint8_t(i)), kU)));
        }
        const Counters a = t.counters();
        t.inject_all(frames);
        const Counters b = t.counters();
        EXPECT_EQ(b.link.ArpRepliesSent - a.link.ArpRepliesSent, frames.size());
        EXPECT_LE(t.call([](Stack& s) { return s.impl().iface(s.ifindex_of("eth0"))->neigh.size(); }), link::kNeighMax);
    }
    // UDP: a flood at the echo port (what the socket cannot hold is counted), and datagrams
    // to closed ports from 3000 spoofed senders (ICMP errors rate limited, per peer bounded).
    {
        std::vector<Bytes> frames;
        for (uint16_t i = 0; i < 3000; ++i) frames.push_back(to_us(ipv4(kL, kU, 17, udp(kL, kU, uint16_t(30000 + i), 7, Bytes(512, 'f')))));
        for (uint16_t i = 0; i < 3000; ++i) {
            const Ip4 src(10, 9, uint8_t(i >> 8), uint8_t(i));
            frames.push_back(to_us(ipv4(src, kU, 17, udp(src, kU, 5000, 9, {'c'}))));
        }
        const Counters a = t.counters();
        const uint64_t echoed0 = t.echoed;
        t.inject_all(frames);
        usleep(200000);  // the echo thread empties its queue
        const Counters b = t.counters();
        EXPECT_EQ(delta(a, b, DropReason::NoSocket), 3000u);
        EXPECT_GT(b.icmp.OutRateLimitGlobal + b.icmp.OutRateLimitHost, a.icmp.OutRateLimitGlobal + a.icmp.OutRateLimitHost);
        const uint64_t queued = t.call([&](Stack& s) { return s.impl().sock_of(t.echo_fd)->rx.size(); });
        EXPECT_EQ(t.echoed - echoed0 + delta(a, b, DropReason::RcvbufFull) + queued, 3000u);
    }
    EXPECT_TRUE(t.echo_answers("after the floods"));
    // The pool grew by at most what the bounds allow: reassembly (ipfrag_high_thresh and a
    // queue), ARP-pending buffers, a socket's receive buffer, and a batch in flight.
    const uint64_t pool_after = t.call([](Stack& s) { return s.impl().pool.bytes(); });
    EXPECT_LE(pool_after - pool_before, uint64_t(16) << 20) << pool_after - pool_before;
    RecordProperty("pool_growth_bytes", std::to_string(pool_after - pool_before));
    RecordProperty("rss_growth_kib", std::to_string(rss_kib() - rss_before));
    EXPECT_LE(rss_kib() - rss_before, 64 * 1024);
}

}  // namespace
