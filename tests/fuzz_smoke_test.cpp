// Runs each fuzz target's entry function over ~20k deterministic pseudo-random inputs, so
// builds without libFuzzer (g++ CI) still exercise them. Inputs are mutations of valid
// packets (bit flips, byte overwrites, truncation, extension, splices) and raw noise. The
// wire target reads its input from a buffer that ends at an inaccessible page.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../fuzz/fuzz_targets.hpp"
#include "guarded_buffer.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

using namespace usnet;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr int kInputs = 20000;

Bytes eth_header(uint16_t type) {
    Bytes b(wire::kEthHeaderLen);
    wire::EthernetRepr{Mac{{0x02, 0, 0, 0, 0, 1}}, Mac{{0x02, 0, 0, 0, 0, 2}}, type}.emit(b.data());
    return b;
}

Bytes ipv4(uint8_t proto, const Bytes& l4, uint16_t frag = 0, int ihl = 5, Ip4 src = Ip4(10, 0, 0, 2),
           Ip4 dst = Ip4(10, 0, 0, 1)) {
    const size_t hl = size_t(ihl) * 4;
    Bytes b(hl + l4.size());
    b[0] = uint8_t(0x40 | ihl);
    wire::store16(&b[2], uint16_t(b.size()));
    wire::store16(&b[4], 777);
    wire::store16(&b[6], frag);
    b[8] = 64;
    b[9] = proto;
    wire::store32(&b[12], src.v);
    wire::store32(&b[16], dst.v);
    for (size_t i = 20; i < hl; ++i) b[i] = 1;
    std::copy(l4.begin(), l4.end(), b.begin() + long(hl));
    wire::store16(&b[10], wire::checksum(b.data(), hl));
    return b;
}

Bytes udp(uint16_t dport, size_t payload, Ip4 src = Ip4(10, 0, 0, 2), Ip4 dst = Ip4(10, 0, 0, 1)) {
    Bytes u(wire::kUdpHeaderLen + payload, 0x61);
    wire::UdpRepr{5000, dport, uint16_t(u.size()), 0}.emit(u.data(), src, dst, false);
    return u;
}

Bytes icmp(uint8_t type, uint8_t code, const Bytes& body) {
    Bytes m(wire::kIcmpHeaderLen + body.size());
    std::copy(body.begin(), body.end(), m.begin() + wire::kIcmpHeaderLen);
    wire::IcmpRepr{type, code, 0, 0x00010001}.emit(m.data(), uint32_t(body.size()));
    return m;
}

Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Valid frames (Ethernet + payload) of every kind the stack handles.
std::vector<Bytes> seeds() {
    std::vector<Bytes> s;
    Bytes arp(wire::kArpLen);
    wire::ArpRepr{wire::kArpRequest, Mac{{0x02, 0, 0, 0, 0, 2}}, Mac{}, Ip4(10, 0, 0, 2), Ip4(10, 0, 0, 1)}.emit(arp.data());
    s.push_back(cat(eth_header(wire::kEthArp), arp));
    wire::ArpRepr{wire::kArpReply, Mac{{0x02, 0, 0, 0, 0, 2}}, Mac{}, Ip4(10, 0, 0, 2), Ip4(10, 0, 0, 1)}.emit(arp.data());
    s.push_back(cat(eth_header(wire::kEthArp), arp));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoUdp, udp(7000, 20))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoUdp, udp(9, 3))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoUdp, udp(7000, 0), 0, 9)));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoIcmp, icmp(wire::kIcmpEcho, 0, Bytes(24, 7)))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoIcmp, icmp(wire::kIcmpEchoReply, 0, Bytes(8, 1)))));
    // ICMP errors quoting a datagram the host sent (to the connected socket's peer).
    const Bytes quoted = ipv4(wire::kProtoUdp, udp(9, 4, Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2)), 0, 5,
                              Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2));
    s.push_back(cat(eth_header(wire::kEthIpv4),
                    ipv4(wire::kProtoIcmp, icmp(wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, quoted))));
    s.push_back(cat(eth_header(wire::kEthIpv4),
                    ipv4(wire::kProtoIcmp, icmp(wire::kIcmpDestUnreach, wire::kIcmpFragNeeded, quoted))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoIcmp, icmp(wire::kIcmpTimeExceeded, 0, quoted))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoIcmp, icmp(wire::kIcmpParamProb, 0, quoted))));
    // Fragments: first, middle and last pieces of a datagram.
    const Bytes big = udp(7000, 40);
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoUdp, Bytes(big.begin(), big.begin() + 16), wire::kIpMF)));
    s.push_back(cat(eth_header(wire::kEthIpv4),
                    ipv4(wire::kProtoUdp, Bytes(big.begin() + 16, big.begin() + 32), wire::kIpMF | 2)));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoUdp, Bytes(big.begin() + 32, big.end()), 4)));
    // IGMP query, a multicast and a broadcast datagram, an unknown protocol.
    Bytes igmp(wire::kIgmpLen);
    wire::IgmpRepr{wire::kIgmpQuery, 100, 0}.emit(igmp.data());
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(wire::kProtoIgmp, igmp, 0, 5, Ip4(10, 0, 0, 2), Ip4(224, 0, 0, 1))));
    s.push_back(cat(eth_header(wire::kEthIpv4),
                    ipv4(wire::kProtoUdp, udp(7000, 5, Ip4(10, 0, 0, 2), Ip4(239, 1, 1, 1)), 0, 5, Ip4(10, 0, 0, 2),
                         Ip4(239, 1, 1, 1))));
    s.push_back(cat(eth_header(wire::kEthIpv4),
                    ipv4(wire::kProtoUdp, udp(7000, 5, Ip4(10, 0, 0, 2), Ip4(10, 0, 0, 255)), 0, 5, Ip4(10, 0, 0, 2),
                         Ip4(10, 0, 0, 255))));
    s.push_back(cat(eth_header(wire::kEthIpv4), ipv4(99, Bytes(12, 0))));
    return s;
}

Bytes mutate(std::mt19937_64& rng, const std::vector<Bytes>& corpus) {
    const uint64_t kind = rng() % 10;
    if (kind == 0) {  // raw noise
        Bytes b(rng() % 200);
        for (auto& x : b) x = uint8_t(rng());
        return b;
    }
    Bytes b = corpus[rng() % corpus.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
        switch (rng() % 6) {
            case 0: if (!b.empty()) b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8)); break;
            case 1: if (!b.empty()) b[rng() % b.size()] = uint8_t(rng()); break;
            case 2: b.resize(rng() % (b.size() + 1)); break;
            case 3: b.resize(b.size() + rng() % 64, uint8_t(rng())); break;
            case 4: {  // interesting values in the IP/UDP header area
                static const uint8_t vals[] = {0, 1, 4, 5, 8, 0x0f, 0x40, 0x45, 0x4f, 0x7f, 0x80, 0xff};
                if (b.size() > 14) b[14 + rng() % std::min<size_t>(b.size() - 14, 36)] = vals[rng() % sizeof vals];
                break;
            }
            default: {  // splice in a piece of another seed
                const Bytes& o = corpus[rng() % corpus.size()];
                if (o.empty() || b.empty()) break;
                const size_t at = rng() % b.size(), from = rng() % o.size();
                const size_t n = std::min(o.size() - from, b.size() - at);
                std::copy(o.begin() + long(from), o.begin() + long(from + n), b.begin() + long(at));
            }
        }
    }
    return b;
}

// USNET_FUZZ_SEEDS=DIR writes the seed frames as a starting corpus for libFuzzer:
// DIR/wire/seed_N (frames) and DIR/stack/seed_N (control byte + frame); create both first.
TEST(FuzzSmoke, ExportSeedsWhenAsked) {
    const char* dir = std::getenv("USNET_FUZZ_SEEDS");
    if (!dir) GTEST_SKIP() << "set USNET_FUZZ_SEEDS=DIR to export the seed corpus";
    const auto corpus = seeds();
    for (size_t i = 0; i < corpus.size(); ++i) {
        for (const char* kind : {"wire", "stack"}) {
            const std::string path = std::string(dir) + "/" + kind + "/seed_" + std::to_string(i);
            std::FILE* f = std::fopen(path.c_str(), "wb");
            ASSERT_NE(f, nullptr) << path;
            if (kind[0] == 's') std::fputc(0x01, f);  // repair on, no time passing
            std::fwrite(corpus[i].data(), 1, corpus[i].size(), f);
            std::fclose(f);
        }
    }
}

TEST(FuzzSmoke, WireParsers) {
    std::mt19937_64 rng(0x5eed1);
    const auto corpus = seeds();
    test::GuardedBuffer g(70000);
    size_t total = 0;
    for (int i = 0; i < kInputs; ++i) {
        Bytes in = mutate(rng, corpus);
        // Also present the network-layer view directly (without the Ethernet header).
        if ((i & 3) == 0 && in.size() > wire::kEthHeaderLen) in.erase(in.begin(), in.begin() + wire::kEthHeaderLen);
        const auto s = g.place(in.data(), in.size());
        ASSERT_EQ(fuzz::wire_one(s.data(), s.size()), 0);
        total += in.size();
    }
    // The seeds themselves, whole and at every truncation.
    for (const Bytes& b : corpus)
        for (size_t n = 0; n <= b.size(); ++n) {
            const auto s = g.place(b.data(), n);
            ASSERT_EQ(fuzz::wire_one(s.data(), s.size()), 0);
        }
    EXPECT_GT(total, size_t(kInputs) * 20);
}

TEST(FuzzSmoke, StackFrames) {
    std::mt19937_64 rng(0x5eed2);
    const auto corpus = seeds();
    const Counters before = fuzz::stack_counters();
    for (int i = 0; i < kInputs; ++i) {
        Bytes frame = mutate(rng, corpus);
        // Half the inputs are repaired (valid checksums etc.), one in 64 lets 61 s pass.
        uint8_t ctl = uint8_t(rng());
        ctl = uint8_t((ctl & 0x0f) | ((i % 64 == 63) ? 0x30 : (ctl & 0x10)));
        frame.insert(frame.begin(), ctl);
        const Bytes& in = frame;
        ASSERT_EQ(fuzz::stack_one(in.data(), in.size()), 0);
    }
    const Counters& c = fuzz::stack_counters();
    // Every input was received (plus the peer's replies to some of them).
    EXPECT_GE(c.link.RxFrames - before.link.RxFrames, uint64_t(kInputs));
    // The generator reaches every layer, not only the first checks.
    EXPECT_GT(c.link.RxDropped, before.link.RxDropped);
    EXPECT_GT(c.link.ArpRepliesSent, 0u);
    EXPECT_GT(c.ip.InHdrErrors, 0u);
    EXPECT_GT(c.ip.InDelivers, 100u);
    EXPECT_GT(c.ip.ReasmReqds, 0u);
    EXPECT_GT(c.ip.ReasmFails, 0u);
    EXPECT_GT(c.udp.InDatagrams, 100u);
    EXPECT_GT(c.udp.NoPorts, 0u);
    EXPECT_GT(c.udp.InCsumErrors, 0u);
    EXPECT_GT(c.icmp.InEchos, 0u);
    EXPECT_GT(c.icmp.OutEchoReps, 0u);
    EXPECT_GT(c.icmp.InDestUnreachs, 0u);
    EXPECT_GT(c.icmp.OutDestUnreachs, 0u);
}

}  // namespace
