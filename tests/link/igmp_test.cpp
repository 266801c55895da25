// IGMPv3 state-change reports (RFC 3376 4.2, 5.1) as the link layer puts them on the wire:
// every byte of a report for an any-source join, then the record each later change of the
// interface's filter earns (block, allow, mode change, leave), nothing for 224.0.0.1, and
// a report split at the interface MTU; the second copy of each change (robustness 2),
// and the answers to IGMPv3 queries.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <vector>

#include "../sim_helpers.hpp"
#include "link/link.hpp"
#include "wire/checksum.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

// Keeps every frame the interface sends instead of putting it on the segment.
struct CapturePort : link::Port {
    std::vector<std::vector<uint8_t>> frames;
    void transmit(buf::PacketPtr f) override { frames.emplace_back(f->data(), f->data() + f->size()); }
};

struct Record {
    uint8_t type;
    Ip4 group;
    std::vector<Ip4> sources;
};

// Checks the Ethernet, IPv4 (with Router Alert) and IGMPv3 headers of one report and
// returns its records.
std::vector<Record> parse_report(const std::vector<uint8_t>& f, Ip4 src) {
    std::vector<Record> out;
    EXPECT_GE(f.size(), 14u + 24 + 8);
    if (f.size() < 14 + 24 + 8) return out;
    const uint8_t mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x16};  // 224.0.0.22
    EXPECT_TRUE(std::equal(mac, mac + 6, f.begin()));
    EXPECT_EQ(f[12], 0x08);
    EXPECT_EQ(f[13], 0x00);
    const uint8_t* ip = f.data() + 14;
    EXPECT_EQ(ip[0], 0x46);  // 24-byte header: the Router Alert option
    EXPECT_EQ(ip[1], 0xc0);  // TOS: internetwork control
    const size_t total = size_t(ip[2]) << 8 | ip[3];
    EXPECT_EQ(total, f.size() - 14);
    EXPECT_EQ(ip[6], 0x40);  // DF
    EXPECT_EQ(ip[7], 0x00);
    EXPECT_EQ(ip[8], 1);  // TTL 1
    EXPECT_EQ(ip[9], 2);  // IGMP
    EXPECT_EQ(wire::checksum(ip, 24), 0);
    EXPECT_EQ(Ip4(ip[12], ip[13], ip[14], ip[15]), src);
    EXPECT_EQ(Ip4(ip[16], ip[17], ip[18], ip[19]), Ip4(224, 0, 0, 22));
    EXPECT_EQ(ip[20], 0x94);
    EXPECT_EQ(ip[21], 0x04);
    EXPECT_EQ(ip[22], 0);
    EXPECT_EQ(ip[23], 0);
    const uint8_t* g = ip + 24;
    const size_t glen = total - 24;
    EXPECT_EQ(g[0], 0x22);
    EXPECT_EQ(g[1], 0);
    EXPECT_EQ(wire::checksum(g, glen), 0);
    EXPECT_EQ(g[4], 0);
    EXPECT_EQ(g[5], 0);
    const size_t n = size_t(g[6]) << 8 | g[7];
    size_t off = 8;
    for (size_t i = 0; i < n && off + 8 <= glen; ++i) {
        Record r;
        r.type = g[off];
        EXPECT_EQ(g[off + 1], 0);  // no auxiliary data
        const size_t ns = size_t(g[off + 2]) << 8 | g[off + 3];
        r.group = Ip4(g[off + 4], g[off + 5], g[off + 6], g[off + 7]);
        off += 8;
        for (size_t k = 0; k < ns && off + 4 <= glen; ++k, off += 4)
            r.sources.push_back(Ip4(g[off], g[off + 1], g[off + 2], g[off + 3]));
        out.push_back(r);
    }
    EXPECT_EQ(off, glen);
    return out;
}

struct Host {
    Pair p{31};
    CapturePort cap;
    Host() { p.b.impl().iface(p.ib)->port = &cap; }
    int setopt(int fd, int name, const void* v, socklen_t l) { return p.b.setsockopt(fd, SOL_IP, name, v, l); }
    int source(int fd, int name, Ip4 group, Ip4 src) {
        ip_mreq_source m{};
        m.imr_multiaddr.s_addr = group.net();
        m.imr_interface.s_addr = Pair::kB.net();
        m.imr_sourceaddr.s_addr = src.net();
        return setopt(fd, name, &m, sizeof m);
    }
    int member(int fd, int name, Ip4 group) {
        ip_mreq m{};
        m.imr_multiaddr.s_addr = group.net();
        m.imr_interface.s_addr = Pair::kB.net();
        return setopt(fd, name, &m, sizeof m);
    }
    // The records of the one report sent since the last call.
    std::vector<Record> report() {
        EXPECT_EQ(cap.frames.size(), 1u);
        if (cap.frames.size() != 1) return {};
        auto r = parse_report(cap.frames[0], Pair::kB);
        cap.frames.clear();
        return r;
    }
};

TEST(Igmpv3, AnySourceJoinReportBytes) {
    Host h;
    const int fd = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(h.member(fd, IP_ADD_MEMBERSHIP, Ip4(239, 1, 2, 3)), 0);
    ASSERT_EQ(h.cap.frames.size(), 1u);
    const auto& f = h.cap.frames[0];
    // IGMP part, byte for byte: type 0x22, checksum, one record CHANGE_TO_EXCLUDE {}.
    ASSERT_EQ(f.size(), 14u + 24 + 16);
    const std::vector<uint8_t> igmp(f.begin() + 38, f.end());
    const std::vector<uint8_t> want = {0x22, 0x00, 0xe8, 0xf9, 0x00, 0x00, 0x00, 0x01,
                                       0x04, 0x00, 0x00, 0x00, 239,  1,    2,    3};
    EXPECT_EQ(igmp, want);
    const auto r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, 4);
    EXPECT_EQ(r[0].group, Ip4(239, 1, 2, 3));
    EXPECT_TRUE(r[0].sources.empty());
    EXPECT_EQ(h.p.b.counters().link.IgmpReportsSent, 1u);
}

TEST(Igmpv3, RecordsFollowTheInterfaceFilter) {
    Host h;
    const Ip4 g(239, 1, 2, 3), s1(10, 0, 0, 9), s2(10, 0, 0, 10);
    const int a = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    const int b = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    // 224.0.0.1 is never reported.
    ASSERT_EQ(h.member(a, IP_ADD_MEMBERSHIP, Ip4(224, 0, 0, 1)), 0);
    ASSERT_EQ(h.member(a, IP_DROP_MEMBERSHIP, Ip4(224, 0, 0, 1)), 0);
    EXPECT_TRUE(h.cap.frames.empty());

    ASSERT_EQ(h.member(a, IP_ADD_MEMBERSHIP, g), 0);
    EXPECT_EQ(h.report()[0].type, wire::kIgmpChangeToExclude);
    // EXCLUDE {} -> EXCLUDE {s1}: BLOCK {s1}.
    ASSERT_EQ(h.source(a, IP_BLOCK_SOURCE, g, s1), 0);
    auto r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpBlockOldSources);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s1});
    // A second socket including s1 takes it out of the exclude list: ALLOW {s1}.
    ASSERT_EQ(h.source(b, IP_ADD_SOURCE_MEMBERSHIP, g, s1), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpAllowNewSources);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s1});
    // The any-source socket leaves: the filter becomes INCLUDE {s1}, a mode change.
    ASSERT_EQ(h.member(a, IP_DROP_MEMBERSHIP, g), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpChangeToInclude);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s1});
    // INCLUDE {s1} -> INCLUDE {s1, s2}: ALLOW {s2}; then BLOCK {s1}.
    ASSERT_EQ(h.source(b, IP_ADD_SOURCE_MEMBERSHIP, g, s2), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpAllowNewSources);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s2});
    ASSERT_EQ(h.source(b, IP_DROP_SOURCE_MEMBERSHIP, g, s1), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpBlockOldSources);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s1});
    // The last source dropped leaves the group: BLOCK {s2}, counted as a leave.
    const auto leaves = h.p.b.counters().link.IgmpLeavesSent;
    ASSERT_EQ(h.source(b, IP_DROP_SOURCE_MEMBERSHIP, g, s2), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpBlockOldSources);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s2});
    EXPECT_EQ(h.p.b.counters().link.IgmpLeavesSent, leaves + 1);
    // A repeated join of a group the interface already has in the same state: no report.
    ASSERT_EQ(h.member(a, IP_ADD_MEMBERSHIP, g), 0);
    h.report();
    ASSERT_EQ(h.member(b, IP_ADD_MEMBERSHIP, g), 0);
    EXPECT_TRUE(h.cap.frames.empty());
    // Closing both: the last one out reports TO_IN {}.
    ASSERT_EQ(h.p.b.close(a), 0);
    EXPECT_TRUE(h.cap.frames.empty());
    ASSERT_EQ(h.p.b.close(b), 0);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpChangeToInclude);
    EXPECT_TRUE(r[0].sources.empty());
}

TEST(Igmpv3, ReportSplitAtTheMtu) {
    Host h;
    h.p.b.impl().iface(h.p.ib)->mtu = 68;  // room for 7 sources a record
    const int fd = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    const Ip4 g(239, 1, 2, 5);
    ASSERT_EQ(h.member(fd, IP_ADD_MEMBERSHIP, g), 0);
    h.cap.frames.clear();
    unsigned char buf[16 + 4 * 10] = {};
    ip_msfilter* m = reinterpret_cast<ip_msfilter*>(buf);
    m->imsf_multiaddr.s_addr = g.net();
    m->imsf_interface.s_addr = Pair::kB.net();
    m->imsf_fmode = MCAST_INCLUDE;
    m->imsf_numsrc = 10;
    std::vector<Ip4> want;
    for (int i = 0; i < 10; ++i) {
        const Ip4 s(10, 0, 1, uint8_t(i + 1));
        want.push_back(s);
        const uint32_t n = s.net();
        std::memcpy(buf + 16 + 4 * i, &n, 4);
    }
    ASSERT_EQ(h.setopt(fd, IP_MSFILTER, buf, sizeof buf), 0);
    ASSERT_EQ(h.cap.frames.size(), 2u);
    std::vector<Ip4> got;
    for (const auto& f : h.cap.frames) {
        EXPECT_LE(f.size(), 14u + 68);
        const auto r = parse_report(f, Pair::kB);
        ASSERT_EQ(r.size(), 1u);
        EXPECT_EQ(r[0].type, wire::kIgmpChangeToInclude);
        got.insert(got.end(), r[0].sources.begin(), r[0].sources.end());
    }
    EXPECT_EQ(h.cap.frames[0].size(), 14u + 68);  // 7 sources fill the first
    EXPECT_EQ(got, want);
}

// An IGMPv3 query from 10.0.0.1 (the other host) for `group` (0: a general query), with a
// Max Resp Code of 100 (10 s).
std::vector<uint8_t> query(Ip4 group) {
    std::vector<uint8_t> q = {0x11, 100, 0, 0, uint8_t(group.v >> 24), uint8_t(group.v >> 16), uint8_t(group.v >> 8),
                              uint8_t(group.v), 0x02, 125, 0, 0};
    const uint16_t c = wire::checksum(q.data(), q.size());
    q[2] = uint8_t(c >> 8);
    q[3] = uint8_t(c);
    FrameSpec f;
    f.dst = Mac{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
    f.ip_src = Pair::kA;
    f.ip_dst = Ip4(224, 0, 0, 1);
    f.proto = wire::kProtoIgmp;
    f.ttl = 1;
    return ipv4_frame(f, q);
}

TEST(Igmpv3, EachChangeIsSentTwice) {
    Host h;
    const int fd = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(h.member(fd, IP_ADD_MEMBERSHIP, Ip4(239, 1, 2, 3)), 0);
    EXPECT_EQ(h.report()[0].type, wire::kIgmpChangeToExclude);
    h.p.net.run_for(1 * kSec + 1 * kMs);
    const auto r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpChangeToExclude);
    EXPECT_EQ(r[0].group, Ip4(239, 1, 2, 3));
    h.p.net.run_for(5 * kSec);
    EXPECT_TRUE(h.cap.frames.empty());
}

TEST(Igmpv3, QueriesAreAnsweredWithTheCurrentState) {
    Host h;
    const Ip4 g1(239, 1, 2, 3), g2(239, 1, 2, 4), s1(10, 0, 0, 9), s2(10, 0, 0, 10);
    const int a = h.p.b.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(h.member(a, IP_ADD_MEMBERSHIP, g1), 0);
    ASSERT_EQ(h.source(a, IP_BLOCK_SOURCE, g1, s1), 0);
    ASSERT_EQ(h.source(a, IP_ADD_SOURCE_MEMBERSHIP, g2, s2), 0);
    h.p.net.run_for(2 * kSec);
    h.cap.frames.clear();
    // A general query: one report, after a delay within Max Resp Time, with every group but 224.0.0.1.
    inject(h.p.b, h.p.ib, query(Ip4()));
    EXPECT_TRUE(h.cap.frames.empty());
    h.p.net.run_for(10 * kSec + 1 * kMs);
    auto r = h.report();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].type, wire::kIgmpModeIsExclude);
    EXPECT_EQ(r[0].group, g1);
    EXPECT_EQ(r[0].sources, std::vector<Ip4>{s1});
    EXPECT_EQ(r[1].type, wire::kIgmpModeIsInclude);
    EXPECT_EQ(r[1].group, g2);
    EXPECT_EQ(r[1].sources, std::vector<Ip4>{s2});
    // A group-specific query: that group alone; one for a group not joined: nothing.
    inject(h.p.b, h.p.ib, query(g2));
    inject(h.p.b, h.p.ib, query(Ip4(239, 9, 9, 9)));
    h.p.net.run_for(10 * kSec + 1 * kMs);
    r = h.report();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].type, wire::kIgmpModeIsInclude);
    EXPECT_EQ(r[0].group, g2);
}

}  // namespace
