// The simulated network: determinism, seeded loss/duplication/reordering with the expected
// statistics, partitions, and pcap captures that Wireshark's tshark reads cleanly.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "../sim_helpers.hpp"
#include "wire/icmp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

std::string temp_path(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "/usnet_" + info->name() + "_" + tag + "_" + std::to_string(::getpid()) + ".pcap";
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string counters_text(const Stack& s) {
    std::string out;
    for_each_counter(s.counters(), [&](const char* sec, const char* name, uint64_t v) {
        out += std::string(sec) + "." + name + "=" + std::to_string(v) + "\n";
    });
    return out;
}

uint32_t seq_of(const char* p) {
    uint32_t s;
    std::memcpy(&s, p, sizeof s);
    return s;
}

struct RunResult {
    std::string pcap, counters, received;
    uint64_t delivered = 0, dropped = 0;
};

// A busy little scenario on a faulty link: ARP, datagrams of many sizes (some fragmented),
// a ping, and errors; everything that could depend on randomness does.
RunResult scenario(uint64_t seed, int variant, const std::string& path) {
    sim::LinkParams lp;
    lp.latency = 40 * 1000;
    lp.jitter = 30 * 1000;
    lp.loss = 0.05;
    lp.duplicate = 0.05;
    lp.reorder = 0.2;
    Pair p(seed, lp);
    RunResult r;
    if (!p.net.capture(p.seg, path)) return r;
    const int rx = udp_bound(p.b, Pair::kB, 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Pair::kB, 7000);
    std::vector<char> msg(4000);
    for (int i = 0; i < 150 + variant; ++i) {
        const size_t n = 16 + size_t(i) * 37 % 3000;
        for (size_t k = 0; k < n; ++k) msg[k] = char(i + k);
        std::memcpy(msg.data(), &i, sizeof i);
        p.a.sendto(tx, msg.data(), n, 0, sa(d), sizeof d);
        p.net.run_for(15 * 1000);
        char in[4000];
        ssize_t got;
        while ((got = p.b.recv(rx, in, sizeof in, MSG_DONTWAIT)) >= 0)
            r.received += std::to_string(seq_of(in)) + ":" + std::to_string(got) + " ";
    }
    const int ping = p.a.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    uint8_t echo[16] = {wire::kIcmpEcho, 0, 0, 0, 0, 0, 0, 1, 'd', 'e', 't', 'e', 'r', 'm', uint8_t(variant), 0};
    p.a.sendto(ping, echo, sizeof echo, 0, sa(d), sizeof d);
    const auto closed = sin4(Pair::kB, 9);
    p.a.sendto(tx, "nobody", 6, 0, sa(closed), sizeof closed);
    p.net.run_for(2 * kSec);
    char in[4000];
    ssize_t got;
    while ((got = p.b.recv(rx, in, sizeof in, MSG_DONTWAIT)) >= 0)
        r.received += std::to_string(seq_of(in)) + ":" + std::to_string(got) + " ";
    r.counters = counters_text(p.a) + counters_text(p.b);
    r.delivered = p.net.frames_delivered();
    r.dropped = p.net.frames_dropped();
    r.pcap = read_file(path);
    return r;
}

TEST(Determinism, SameSeedSameBytes) {
    const std::string f1 = temp_path("1"), f2 = temp_path("2"), f3 = temp_path("3"), f4 = temp_path("4");
    const RunResult a = scenario(99, 0, f1);
    const RunResult b = scenario(99, 0, f2);
    ASSERT_GT(a.pcap.size(), 24u + 100u * 60u);
    EXPECT_GT(a.dropped, 0u);  // the faults did something
    EXPECT_FALSE(a.received.empty());
    EXPECT_TRUE(a.pcap == b.pcap) << "pcap bytes differ between identical runs";
    EXPECT_EQ(a.counters, b.counters);
    EXPECT_EQ(a.received, b.received);
    EXPECT_EQ(a.delivered, b.delivered);
    EXPECT_EQ(a.dropped, b.dropped);

    // Different traffic (one more datagram, a different ping payload): different capture.
    const RunResult c = scenario(99, 1, f3);
    EXPECT_FALSE(a.pcap == c.pcap);
    EXPECT_NE(a.counters, c.counters);
    // A different seed: different faults, so a different run.
    const RunResult d = scenario(100, 0, f4);
    EXPECT_FALSE(a.pcap == d.pcap);
    EXPECT_NE(a.received, d.received);
    for (const auto& f : {f1, f2, f3, f4}) std::remove(f.c_str());
}

// Warm ARP on a clean link, then switch the link's faults on.
struct Faulty {
    Faulty(uint64_t seed, sim::LinkParams lp) : p(seed, {}, {}, big()) {
        rx = udp_bound(p.b, Pair::kB, 7000);
        tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
        d = sin4(Pair::kB, 7000);
        p.a.sendto(tx, "warm", 4, 0, sa(d), sizeof d);
        p.net.run_for(1 * kMs);
        char buf[8];
        EXPECT_EQ(p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT), 4);
        p.net.set_params(p.seg, lp);
    }
    static StackConfig big() {
        StackConfig c;
        c.rmem_default = c.rmem_max = 64u << 20;
        return c;
    }
    void send(uint32_t seq) { p.a.sendto(tx, &seq, sizeof seq, 0, sa(d), sizeof d); }
    template <class F> void drain(F&& f) {
        char buf[16];
        while (p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT) == 4) f(seq_of(buf));
    }
    Pair p;
    int rx = -1, tx = -1;
    sockaddr_in d{};
};

TEST(Faults, LossRateMatchesParameter) {
    sim::LinkParams lp;
    lp.loss = 0.3;
    Faulty f(5, lp);
    const uint64_t dropped0 = f.p.net.frames_dropped();
    constexpr int kN = 4000;
    std::vector<int> seen(kN, 0);
    int got = 0;
    for (int i = 0; i < kN; ++i) {
        f.send(uint32_t(i));
        if (i % 100 == 99) {
            f.p.net.run_for(1 * kMs);
            f.drain([&](uint32_t s) { ++seen[s]; ++got; });
        }
    }
    f.p.net.run_for(1 * kMs);
    f.drain([&](uint32_t s) { ++seen[s]; ++got; });
    ::testing::Test::RecordProperty("received", got);
    // Binomial(4000, 0.7): mean 2800, sd 29; allow 5 sd.
    EXPECT_GT(got, 2800 - 145);
    EXPECT_LT(got, 2800 + 145);
    EXPECT_EQ(f.p.net.frames_dropped() - dropped0, uint64_t(kN - got));
    for (int s : seen) EXPECT_LE(s, 1);
    EXPECT_EQ(f.p.b.counters().udp.InDatagrams, uint64_t(got + 1));
}

TEST(Faults, DuplicationRateMatchesParameter) {
    sim::LinkParams lp;
    lp.duplicate = 0.25;
    Faulty f(6, lp);
    constexpr int kN = 4000;
    std::vector<int> seen(kN, 0);
    int got = 0;
    for (int i = 0; i < kN; ++i) {
        f.send(uint32_t(i));
        if (i % 100 == 99) {
            f.p.net.run_for(1 * kMs);
            f.drain([&](uint32_t s) { ++seen[s]; ++got; });
        }
    }
    f.p.net.run_for(1 * kMs);
    f.drain([&](uint32_t s) { ++seen[s]; ++got; });
    int twice = 0;
    for (int s : seen) {
        EXPECT_GE(s, 1);  // nothing lost
        EXPECT_LE(s, 2);
        twice += s == 2;
    }
    ::testing::Test::RecordProperty("duplicated", twice);
    EXPECT_EQ(got, kN + twice);
    // Binomial(4000, 0.25): mean 1000, sd 27; allow 5 sd.
    EXPECT_GT(twice, 1000 - 137);
    EXPECT_LT(twice, 1000 + 137);
    EXPECT_EQ(f.p.net.frames_dropped(), 0u);
}

// Frames sent 10 us apart over a 50 us link; a held-back frame (extra 50 us) is overtaken
// by the next four unless they are all held back too.
double late_fraction(double reorder, int* total) {
    sim::LinkParams lp;
    lp.latency = 50 * 1000;
    lp.reorder = reorder;
    Faulty f(7, lp);
    constexpr int kN = 4000;
    int late = 0, got = 0;
    int64_t max_seen = -1;
    std::vector<int> seen(kN, 0);
    auto take = [&](uint32_t s) {
        ++got;
        ++seen[s];
        if (int64_t(s) < max_seen) ++late;
        max_seen = std::max<int64_t>(max_seen, s);
    };
    for (int i = 0; i < kN; ++i) {
        f.send(uint32_t(i));
        f.p.net.run_for(10 * 1000);
        f.drain(take);
    }
    f.p.net.run_for(1 * kMs);
    f.drain(take);
    for (int s : seen) EXPECT_EQ(s, 1);
    *total = got;
    return double(late) / kN;
}

TEST(Faults, ReorderRateMatchesParameter) {
    int total = 0;
    const double late = late_fraction(0.3, &total);
    EXPECT_EQ(total, 4000);
    ::testing::Test::RecordProperty("late_permille", int(late * 1000));
    // Expected 0.3 * (1 - 0.3^4) = 0.2976; sd about 0.0072.
    EXPECT_GT(late, 0.26);
    EXPECT_LT(late, 0.34);
    EXPECT_EQ(late_fraction(0.0, &total), 0.0);  // control: a clean link keeps order
    EXPECT_EQ(total, 4000);
}

TEST(Faults, JitterDelaysWithinBound) {
    sim::LinkParams lp;
    lp.latency = 100 * 1000;
    lp.jitter = 400 * 1000;
    Faulty f(8, lp);
    // Send one datagram and measure arrival time by stepping the clock.
    Time min_d = kNever, max_d = 0;
    for (int i = 0; i < 300; ++i) {
        const Time t0 = f.p.net.now();
        f.send(uint32_t(i));
        bool got = false;
        const bool ok = f.p.net.run_until([&] {
            f.drain([&](uint32_t) { got = true; });
            return got;
        }, t0 + 1 * kSec);
        ASSERT_TRUE(ok);
        const Time dt = f.p.net.now() - t0;
        min_d = std::min(min_d, dt);
        max_d = std::max(max_d, dt);
    }
    ::testing::Test::RecordProperty("min_delay_ns", int(min_d));
    ::testing::Test::RecordProperty("max_delay_ns", int(max_d));
    EXPECT_GE(min_d, 100 * 1000);
    EXPECT_LE(max_d, 500 * 1000);
    EXPECT_GT(max_d - min_d, 300 * 1000);  // the jitter spans most of its range
}

TEST(Partition, CutAndHeal) {
    Faulty f(9, {});
    const uint64_t delivered0 = f.p.net.frames_delivered();
    const uint64_t dropped0 = f.p.net.frames_dropped();
    f.p.net.set_partitioned(f.p.b, f.p.seg, true);
    for (uint32_t i = 0; i < 5; ++i) f.send(i);
    f.p.net.run_for(100 * kMs);
    int got = 0;
    f.drain([&](uint32_t) { ++got; });
    EXPECT_EQ(got, 0);
    EXPECT_EQ(f.p.net.frames_delivered(), delivered0);
    EXPECT_EQ(f.p.net.frames_dropped(), dropped0 + 5);
    // The cut host cannot send either.
    const auto back = sin4(Pair::kA, 7001);
    const int arx = udp_bound(f.p.a, Pair::kA, 7001);
    ASSERT_EQ(f.p.b.sendto(f.rx, "rev", 3, 0, sa(back), sizeof back), 3);
    f.p.net.run_for(100 * kMs);
    char buf[8];
    EXPECT_EQ(f.p.a.recv(arx, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(f.p.net.frames_dropped(), dropped0 + 6);

    // Heal: traffic flows both ways again, with the ARP entries learnt before.
    f.p.net.set_partitioned(f.p.b, f.p.seg, false);
    for (uint32_t i = 10; i < 15; ++i) f.send(i);
    ASSERT_EQ(f.p.b.sendto(f.rx, "rev", 3, 0, sa(back), sizeof back), 3);
    f.p.net.run_for(100 * kMs);
    std::vector<uint32_t> seqs;
    f.drain([&](uint32_t s) { seqs.push_back(s); });
    EXPECT_EQ(seqs, (std::vector<uint32_t>{10, 11, 12, 13, 14}));
    EXPECT_EQ(f.p.a.recv(arx, buf, sizeof buf, MSG_DONTWAIT), 3);
}

TEST(Partition, FramesInFlightWhenCutAreLost) {
    Faulty f(10, {});
    f.send(1);  // in flight for 50 us
    f.p.net.set_partitioned(f.p.b, f.p.seg, true);
    const uint64_t dropped0 = f.p.net.frames_dropped();
    f.p.net.run_for(1 * kMs);
    EXPECT_EQ(f.p.net.frames_dropped(), dropped0 + 1);
    int got = 0;
    f.drain([&](uint32_t) { ++got; });
    EXPECT_EQ(got, 0);
}

TEST(Partition, ThreeHostsOnASwitch) {
    sim::Network net(12);
    Stack& a = net.add_host("a");
    Stack& b = net.add_host("b");
    Stack& c = net.add_host("c");
    const int sw = net.add_segment("switch");
    const int ia = net.attach(a, sw, "eth0"), ib = net.attach(b, sw, "eth0"), ic = net.attach(c, sw, "eth0");
    a.add_address(ia, Ip4(10, 9, 0, 1), 24);
    b.add_address(ib, Ip4(10, 9, 0, 2), 24);
    c.add_address(ic, Ip4(10, 9, 0, 3), 24);
    const int rb = udp_bound(b, Ip4(), 7000), rc = udp_bound(c, Ip4(), 7000);
    net.set_partitioned(c, sw, true);
    const int tx = a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto tb = sin4(Ip4(10, 9, 0, 2), 7000), tc = sin4(Ip4(10, 9, 0, 3), 7000);
    ASSERT_EQ(a.sendto(tx, "b", 1, 0, sa(tb), sizeof tb), 1);
    ASSERT_EQ(a.sendto(tx, "c", 1, 0, sa(tc), sizeof tc), 1);
    net.run_for(5 * kSec);
    char buf[4];
    EXPECT_EQ(b.recv(rb, buf, sizeof buf, MSG_DONTWAIT), 1);  // b is still reachable
    EXPECT_EQ(c.recv(rc, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(a.counters().link.ArpResolveFailed, 1u);        // c never answered
    EXPECT_EQ(c.counters().link.RxFrames, 0u);
    // Broadcast ARP requests reached b only.
    EXPECT_EQ(b.counters().link.RxFrames, 1u + 3u + 1u);
}

// ---- pcap ----

struct PcapFile {
    uint32_t magic = 0, linktype = 0, snaplen = 0;
    uint16_t vmaj = 0, vmin = 0;
    std::vector<std::pair<uint64_t, std::string>> frames;  // (ns timestamp, bytes)
    bool ok = false;
};

PcapFile parse_pcap(const std::string& b) {
    PcapFile f;
    if (b.size() < 24) return f;
    std::memcpy(&f.magic, b.data(), 4);
    std::memcpy(&f.vmaj, b.data() + 4, 2);
    std::memcpy(&f.vmin, b.data() + 6, 2);
    std::memcpy(&f.snaplen, b.data() + 16, 4);
    std::memcpy(&f.linktype, b.data() + 20, 4);
    size_t off = 24;
    while (off + 16 <= b.size()) {
        uint32_t rec[4];
        std::memcpy(rec, b.data() + off, 16);
        if (rec[2] != rec[3] || rec[1] >= 1000000000u || off + 16 + rec[2] > b.size()) return f;
        f.frames.emplace_back(uint64_t(rec[0]) * 1000000000u + rec[1], b.substr(off + 16, rec[2]));
        off += 16 + rec[2];
    }
    f.ok = off == b.size();
    return f;
}

// Traffic of every kind the stack emits: ARP, UDP, fragments, ICMP echo and errors, IGMP.
std::string capture_everything(uint64_t seed, const std::string& path) {
    Pair p(seed);
    EXPECT_TRUE(p.net.capture(p.seg, path));
    const int rx = udp_bound(p.b, Ip4(), 7000);
    const int tx = p.a.socket(AF_INET, SOCK_DGRAM, 0);
    const auto d = sin4(Pair::kB, 7000);
    EXPECT_EQ(p.a.sendto(tx, "hello", 5, 0, sa(d), sizeof d), 5);
    std::vector<char> big(5000, 'F');
    EXPECT_EQ(p.a.sendto(tx, big.data(), big.size(), 0, sa(d), sizeof d), 5000);
    const auto closed = sin4(Pair::kB, 9);
    EXPECT_EQ(p.a.sendto(tx, "x", 1, 0, sa(closed), sizeof closed), 1);
    const int ping = p.a.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    uint8_t echo[12] = {wire::kIcmpEcho, 0, 0, 0, 0, 0, 0, 1, 'a', 'b', 'c', 'd'};
    EXPECT_EQ(p.a.sendto(ping, echo, sizeof echo, 0, sa(d), sizeof d), 12);
    ip_mreqn m{};
    m.imr_multiaddr.s_addr = Ip4(239, 1, 2, 3).net();
    m.imr_ifindex = p.ib;
    EXPECT_EQ(p.b.setsockopt(rx, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), 0);
    const auto g = sin4(Ip4(239, 1, 2, 3), 7000);
    const int ifx = p.ia;
    ip_mreqn mi{};
    mi.imr_ifindex = ifx;
    EXPECT_EQ(p.a.setsockopt(tx, SOL_IP, IP_MULTICAST_IF, &mi, sizeof mi), 0);
    EXPECT_EQ(p.a.sendto(tx, "group", 5, 0, sa(g), sizeof g), 5);
    const int on = 1;
    EXPECT_EQ(p.a.setsockopt(tx, SOL_SOCKET, SO_BROADCAST, &on, sizeof on), 0);
    const auto bc = sin4(Ip4(10, 0, 0, 255), 7000);
    EXPECT_EQ(p.a.sendto(tx, "bcast", 5, 0, sa(bc), sizeof bc), 5);
    p.net.run_for(10 * kMs);
    EXPECT_EQ(p.b.setsockopt(rx, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m), 0);
    p.net.run_for(10 * kMs);
    char buf[6000];
    int got = 0;
    while (p.b.recv(rx, buf, sizeof buf, MSG_DONTWAIT) > 0) ++got;
    EXPECT_EQ(got, 4);  // hello, the big one, group, bcast
    return read_file(path);
}

TEST(Pcap, FormatIsClassicNanosecondEthernet) {
    const std::string path = temp_path("fmt");
    const PcapFile f = parse_pcap(capture_everything(31, path));
    std::remove(path.c_str());
    ASSERT_TRUE(f.ok);
    EXPECT_EQ(f.magic, 0xa1b23c4du);
    EXPECT_EQ(f.vmaj, 2);
    EXPECT_EQ(f.vmin, 4);
    EXPECT_EQ(f.linktype, 1u);
    EXPECT_GE(f.snaplen, 65535u);
    // ARP req+rep, hello, 4 fragments, udp to 9, port unreachable, echo, echo reply,
    // IGMP report, group datagram, broadcast, IGMP leave.
    EXPECT_EQ(f.frames.size(), 15u);
    uint64_t last = 0;
    std::map<uint16_t, int> ethertypes;
    for (const auto& [t, bytes] : f.frames) {
        EXPECT_GE(t, last);  // virtual timestamps never go back
        last = t;
        ASSERT_GE(bytes.size(), 14u);
        EXPECT_LE(bytes.size(), 1514u);
        ++ethertypes[wire::load16(reinterpret_cast<const uint8_t*>(bytes.data()) + 12)];
    }
    EXPECT_EQ(ethertypes[wire::kEthArp], 2);
    EXPECT_EQ(ethertypes[wire::kEthIpv4], 13);
}

bool have_tshark() { return ::access("/usr/bin/tshark", X_OK) == 0; }

// Runs tshark with the given arguments; returns its exit status, stdout and stderr (minus
// the notice it prints when run as root).
int tshark(const std::string& args, std::string* out, std::string* err) {
    const std::string o = temp_path("out") + ".txt", e = temp_path("err") + ".txt";
    const std::string cmd = "/usr/bin/tshark " + args + " >" + o + " 2>" + e;
    const int rc = std::system(cmd.c_str());
    *out = read_file(o);
    std::string raw = read_file(e);
    err->clear();
    std::istringstream ls(raw);
    for (std::string line; std::getline(ls, line);) {
        const auto pos = line.find("Running as user \"root\"");
        if (pos != std::string::npos) line.erase(pos, line.find("dangerous.", pos) + 10 - pos);
        if (!line.empty()) *err += line + "\n";
    }
    std::remove(o.c_str());
    std::remove(e.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Pcap, TsharkReadsCaptureWithoutWarnings) {
    if (!have_tshark()) GTEST_SKIP() << "/usr/bin/tshark is not installed; cannot cross-check the pcap";
    const std::string path = temp_path("tshark");
    const std::string bytes = capture_everything(32, path);
    const PcapFile f = parse_pcap(bytes);
    ASSERT_TRUE(f.ok);
    std::string out, err;
    // 1. It reads the file, every frame, with nothing on stderr.
    ASSERT_EQ(tshark("-n -r " + path, &out, &err), 0) << err;
    EXPECT_EQ(err, "");
    EXPECT_EQ(size_t(std::count(out.begin(), out.end(), '\n')), f.frames.size()) << out;
    // 2. No expert info at warning level or above, with checksum validation on.
    ASSERT_EQ(tshark("-n -r " + path +
                         " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE"
                         " -q -z expert,warn",
                     &out, &err),
              0)
        << err;
    EXPECT_EQ(err, "");
    EXPECT_EQ(out.find("Warnings ("), std::string::npos) << out;
    EXPECT_EQ(out.find("Errors ("), std::string::npos) << out;
    // 3. It decodes what we meant to send.
    ASSERT_EQ(tshark("-n -r " + path + " -T fields -e _ws.col.Protocol -e _ws.col.Info", &out, &err), 0);
    EXPECT_NE(out.find("ARP"), std::string::npos) << out;
    EXPECT_NE(out.find("ICMP"), std::string::npos) << out;
    EXPECT_NE(out.find("Echo (ping) request"), std::string::npos) << out;
    EXPECT_NE(out.find("Echo (ping) reply"), std::string::npos) << out;
    EXPECT_NE(out.find("Destination unreachable (Port unreachable)"), std::string::npos) << out;
    // IGMPv3 reports (force_igmp_version=0): a join for any source, and the leave.
    EXPECT_NE(out.find("IGMPv3\tMembership Report / Join group 239.1.2.3 for any sources"), std::string::npos) << out;
    EXPECT_NE(out.find("IGMPv3\tMembership Report / Leave group 239.1.2.3"), std::string::npos) << out;
    EXPECT_NE(out.find("Fragmented IP protocol"), std::string::npos) << out;
    EXPECT_NE(out.find("UDP"), std::string::npos) << out;
    // The fragmented datagram is reassembled by tshark into one 5008-byte UDP datagram.
    ASSERT_EQ(tshark("-n -r " + path + " -Y udp.length==5008 -T fields -e udp.length", &out, &err), 0);
    EXPECT_EQ(out, "5008\n");
    std::remove(path.c_str());
}

}  // namespace
