// Wire formats: parse/emit round trips, checksum vectors, and rejection of malformed input
// (every truncation of a valid packet is parsed without reading past the span).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "../guarded_buffer.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

using namespace usnet;
using namespace usnet::wire;
using Bytes = std::vector<uint8_t>;

namespace {

// A straightforward RFC 1071 reference: 16-bit big-endian words, end-around carry.
uint16_t ref_checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += uint32_t(p[i] << 8 | p[i + 1]);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if (n & 1) {
        sum += uint32_t(p[n - 1]) << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return uint16_t(~sum);
}

const Mac kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
const Mac kMacB{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};

// An IPv4 header of ihl words (options are NOPs) + payload, with a valid checksum.
Bytes make_ipv4(int ihl, const Bytes& payload, uint8_t proto = kProtoUdp) {
    const size_t hl = size_t(ihl) * 4;
    Bytes b(hl + payload.size(), 0);
    b[0] = uint8_t(0x40 | ihl);
    b[1] = 0x10;
    store16(&b[2], uint16_t(b.size()));
    store16(&b[4], 0x1234);
    store16(&b[6], kIpDF);
    b[8] = 33;
    b[9] = proto;
    store32(&b[12], Ip4(192, 0, 2, 1).v);
    store32(&b[16], Ip4(198, 51, 100, 7).v);
    for (size_t i = 20; i < hl; ++i) b[i] = 0x01;  // NOP options
    std::copy(payload.begin(), payload.end(), b.begin() + long(hl));
    store16(&b[10], checksum(b.data(), hl));
    return b;
}

TEST(Checksum, Rfc1071Example) {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement).
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(checksum_fold(checksum_add(0, d, sizeof d)), uint16_t(~0xddf2));
    EXPECT_EQ(checksum(d, sizeof d), 0x220d);
    // Incremental: summing in two even-aligned parts gives the same result.
    EXPECT_EQ(checksum_fold(checksum_add(checksum_add(0, d, 4), d + 4, 4)), 0x220d);
}

TEST(Checksum, KnownIpv4Header) {
    // The classic example header (checksum b861).
    uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_EQ(checksum(h, sizeof h), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    EXPECT_EQ(checksum(h, sizeof h), 0);  // a valid header sums to zero
}

TEST(Checksum, OddLengthAndCarries) {
    const uint8_t one[] = {0x01};
    EXPECT_EQ(checksum(one, 1), 0xfeff);  // odd byte padded with zero on the right
    EXPECT_EQ(checksum(nullptr, 0), 0xffff);
    std::vector<uint8_t> ff(65536, 0xff);
    EXPECT_EQ(checksum(ff.data(), ff.size()), 0x0000);  // all-ones words: negative zero
    EXPECT_EQ(checksum(ff.data(), 65535), ref_checksum(ff.data(), 65535));
}

TEST(Checksum, MatchesReferenceOnRandomData) {
    std::mt19937 rng(42);
    for (int iter = 0; iter < 2000; ++iter) {
        const size_t n = rng() % 300;
        Bytes b(n);
        // Every other round nearly all ones, so the 64-bit adds carry at every step.
        for (auto& x : b) x = (iter & 1) ? uint8_t(0xf0 | (rng() & 0x0f)) : uint8_t(rng());
        ASSERT_EQ(checksum(b.data(), n), ref_checksum(b.data(), n)) << "len " << n;
        // Incremental split at an even offset.
        const size_t cut = n ? (rng() % (n + 1)) & ~size_t(1) : 0;
        ASSERT_EQ(checksum_fold(checksum_add(checksum_add(0, b.data(), cut), b.data() + cut, n - cut)),
                  ref_checksum(b.data(), n));
    }
}

TEST(Checksum, PseudoHeader) {
    // Sum of 192.0.2.1 -> 198.51.100.7, UDP, length 12, by hand.
    const uint32_t s = pseudo_header_sum(Ip4(192, 0, 2, 1), Ip4(198, 51, 100, 7), kProtoUdp, 12);
    EXPECT_EQ(s, 0xc000u + 0x0201u + 0xc633u + 0x6407u + 17u + 12u);
}

TEST(Ethernet, RoundTrip) {
    EthernetRepr e{kMacB, kMacA, kEthArp};
    uint8_t buf[kEthHeaderLen];
    e.emit(buf);
    EXPECT_EQ(buf[12], 0x08);
    EXPECT_EQ(buf[13], 0x06);
    EXPECT_EQ(buf[0], 0x02);
    EXPECT_EQ(buf[5], 0x0b);
    EXPECT_EQ(buf[11], 0x0a);
    EthernetRepr p;
    ASSERT_TRUE(EthernetRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.dst, kMacB);
    EXPECT_EQ(p.src, kMacA);
    EXPECT_EQ(p.ethertype, kEthArp);
    EXPECT_FALSE(EthernetRepr::parse({buf, 13}, &p));
    EXPECT_FALSE(EthernetRepr::parse({}, &p));
}

TEST(Arp, RoundTrip) {
    ArpRepr a{kArpRequest, kMacA, Mac{}, Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2)};
    uint8_t buf[kArpLen];
    a.emit(buf);
    const uint8_t hdr[] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    EXPECT_EQ(std::memcmp(buf, hdr, sizeof hdr), 0);
    ArpRepr p;
    ASSERT_TRUE(ArpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.op, kArpRequest);
    EXPECT_EQ(p.sha, kMacA);
    EXPECT_EQ(p.tha, Mac{});
    EXPECT_EQ(p.spa, Ip4(10, 0, 0, 1));
    EXPECT_EQ(p.tpa, Ip4(10, 0, 0, 2));

    ArpRepr r{kArpReply, kMacB, kMacA, Ip4(10, 0, 0, 2), Ip4(10, 0, 0, 1)};
    r.emit(buf);
    ASSERT_TRUE(ArpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.op, kArpReply);
    EXPECT_EQ(p.sha, kMacB);
    EXPECT_EQ(p.tha, kMacA);
}

TEST(Arp, RejectsOtherHardwareProtocolsAndOps) {
    ArpRepr a{kArpRequest, kMacA, Mac{}, Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2)};
    uint8_t good[kArpLen];
    a.emit(good);
    ArpRepr p;
    auto mutated = [&](size_t i, uint8_t v) {
        uint8_t b[kArpLen];
        std::memcpy(b, good, sizeof b);
        b[i] = v;
        return ArpRepr::parse({b, sizeof b}, &p);
    };
    EXPECT_FALSE(mutated(1, 6));     // hardware type 6 (IEEE 802)
    EXPECT_FALSE(mutated(2, 0x86));  // protocol 0x86dd
    EXPECT_FALSE(mutated(4, 8));     // hlen
    EXPECT_FALSE(mutated(5, 16));    // plen
    EXPECT_FALSE(mutated(7, 3));     // op 3 (RARP request)
    EXPECT_FALSE(mutated(7, 0));
    EXPECT_FALSE(ArpRepr::parse({good, kArpLen - 1}, &p));
}

TEST(Ipv4, RoundTripNoOptions) {
    Ipv4Repr h;
    h.tos = 0xb8;
    h.total_len = 48;
    h.id = 0xbeef;
    h.frag = kIpMF | 3;
    h.ttl = 7;
    h.proto = kProtoIcmp;
    h.src = Ip4(10, 1, 2, 3);
    h.dst = Ip4(224, 0, 0, 251);
    uint8_t buf[48] = {};
    h.emit(buf);
    EXPECT_EQ(buf[0], 0x45);
    EXPECT_EQ(checksum(buf, 20), 0);
    Ipv4Repr p;
    ASSERT_EQ(Ipv4Repr::parse({buf, sizeof buf}, &p), Ipv4Error::Ok);
    EXPECT_EQ(p.header_len, 20);
    EXPECT_EQ(p.tos, 0xb8);
    EXPECT_EQ(p.total_len, 48);
    EXPECT_EQ(p.id, 0xbeef);
    EXPECT_EQ(p.frag, kIpMF | 3);
    EXPECT_TRUE(p.mf());
    EXPECT_FALSE(p.df());
    EXPECT_EQ(p.frag_offset(), 24u);
    EXPECT_TRUE(p.is_fragment());
    EXPECT_EQ(p.ttl, 7);
    EXPECT_EQ(p.proto, kProtoIcmp);
    EXPECT_EQ(p.src, Ip4(10, 1, 2, 3));
    EXPECT_EQ(p.dst, Ip4(224, 0, 0, 251));
}

TEST(Ipv4, FragmentFlags) {
    Ipv4Repr h;
    h.frag = kIpDF;
    EXPECT_TRUE(h.df());
    EXPECT_FALSE(h.is_fragment());
    h.frag = 0x1fff;  // last fragment at the largest offset
    EXPECT_TRUE(h.is_fragment());
    EXPECT_FALSE(h.mf());
    EXPECT_EQ(h.frag_offset(), 0x1fffu * 8);
}

TEST(Ipv4, OptionsAreParsedAndSkipped) {
    const Bytes payload = {0xde, 0xad, 0xbe, 0xef};
    for (int ihl = 5; ihl <= 15; ++ihl) {
        Bytes b = make_ipv4(ihl, payload);
        Ipv4Repr p;
        ASSERT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Ok) << "ihl " << ihl;
        EXPECT_EQ(p.header_len, ihl * 4);
        EXPECT_EQ(p.total_len, b.size());
        EXPECT_EQ(p.id, 0x1234);
        EXPECT_TRUE(p.df());
        EXPECT_EQ(p.ttl, 33);
        EXPECT_EQ(p.src, Ip4(192, 0, 2, 1));
        EXPECT_EQ(p.dst, Ip4(198, 51, 100, 7));
        // The payload begins right after the options.
        EXPECT_EQ(b[p.header_len], 0xde);
        EXPECT_EQ(b[p.total_len - 1], 0xef);
        // The checksum covers the options too.
        b[20 < p.header_len ? 20 : 19] ^= 0x40;
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Checksum);
        EXPECT_EQ(Ipv4Repr::parse(b, &p, false), Ipv4Error::Ok);
    }
}

TEST(Ipv4, Rejections) {
    const Bytes good = make_ipv4(5, Bytes(12, 0x55));
    Ipv4Repr p;
    auto fix = [](Bytes& b) {
        const size_t hl = size_t(b[0] & 15) * 4;
        b[10] = b[11] = 0;
        if (hl >= 20 && hl <= b.size()) store16(&b[10], checksum(b.data(), hl));
    };
    {
        Bytes b = good;
        b[0] = 0x65;  // version 6
        fix(b);
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Version);
    }
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        Bytes b = good;
        b[0] = uint8_t(0x40 | ihl);
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::HeaderLength) << int(ihl);
    }
    {
        Bytes b = good;  // 32 bytes: too short for ihl 15 (60 bytes)
        b[0] = 0x4f;
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Truncated);
    }
    {
        Bytes b = good;
        store16(&b[2], 19);  // total length shorter than the header
        fix(b);
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::TotalLength);
        store16(&b[2], uint16_t(b.size() + 1));  // longer than the buffer
        fix(b);
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::TotalLength);
        store16(&b[2], 20);  // just the header: fine, trailing bytes are link padding
        fix(b);
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Ok);
        EXPECT_EQ(p.total_len, 20);
    }
    {
        Bytes b = good;
        b[11] ^= 1;
        EXPECT_EQ(Ipv4Repr::parse(b, &p), Ipv4Error::Checksum);
    }
    EXPECT_EQ(Ipv4Repr::parse({good.data(), 19}, &p), Ipv4Error::Truncated);
    EXPECT_EQ(Ipv4Repr::parse({}, &p), Ipv4Error::Truncated);
}

TEST(Icmp, EchoRoundTrip) {
    uint8_t buf[kIcmpHeaderLen + 5];
    std::memcpy(buf + kIcmpHeaderLen, "hello", 5);
    IcmpRepr e{kIcmpEcho, 0, 0, (uint32_t(0x1234) << 16) | 0x0007};
    e.emit(buf, 5);
    EXPECT_EQ(checksum(buf, sizeof buf), 0);
    IcmpRepr p;
    ASSERT_TRUE(IcmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.type, kIcmpEcho);
    EXPECT_EQ(p.code, 0);
    EXPECT_EQ(p.id(), 0x1234);
    EXPECT_EQ(p.seq(), 7);
    EXPECT_EQ(p.checksum, load16(buf + 2));
    EXPECT_FALSE(p.is_error());
    buf[9] ^= 0xff;  // corrupt the payload: the checksum covers it
    EXPECT_FALSE(IcmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_TRUE(IcmpRepr::parse({buf, sizeof buf}, &p, false));
    EXPECT_FALSE(IcmpRepr::parse({buf, kIcmpHeaderLen - 1}, &p, false));
}

TEST(Icmp, ErrorTypes) {
    for (uint8_t t : {kIcmpDestUnreach, kIcmpSourceQuench, kIcmpRedirect, kIcmpTimeExceeded, kIcmpParamProb}) {
        IcmpRepr r{t, 0, 0, 0};
        EXPECT_TRUE(r.is_error()) << int(t);
    }
    for (uint8_t t : {kIcmpEcho, kIcmpEchoReply, uint8_t(13), uint8_t(14)}) {
        IcmpRepr r{t, 0, 0, 0};
        EXPECT_FALSE(r.is_error()) << int(t);
    }
    // Frag needed carries the next-hop MTU in the low half of `rest`.
    uint8_t buf[kIcmpHeaderLen];
    IcmpRepr fn{kIcmpDestUnreach, kIcmpFragNeeded, 0, 1400};
    fn.emit(buf, 0);
    IcmpRepr p;
    ASSERT_TRUE(IcmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.code, kIcmpFragNeeded);
    EXPECT_EQ(p.rest, 1400u);
}

TEST(Igmp, RoundTrip) {
    uint8_t buf[kIgmpLen];
    IgmpRepr r{kIgmpV2Report, 0, Ip4(239, 1, 2, 3).v};
    r.emit(buf);
    EXPECT_EQ(buf[0], 0x16);
    EXPECT_EQ(checksum(buf, sizeof buf), 0);
    IgmpRepr p;
    ASSERT_TRUE(IgmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.type, kIgmpV2Report);
    EXPECT_EQ(p.max_resp, 0);
    EXPECT_EQ(p.group, Ip4(239, 1, 2, 3).v);
    IgmpRepr q{kIgmpQuery, 100, 0};
    q.emit(buf);
    ASSERT_TRUE(IgmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_EQ(p.type, kIgmpQuery);
    EXPECT_EQ(p.max_resp, 100);
    buf[7] ^= 1;
    EXPECT_FALSE(IgmpRepr::parse({buf, sizeof buf}, &p));
    EXPECT_FALSE(IgmpRepr::parse({buf, 7}, &p));
}

TEST(Udp, RoundTrip) {
    const Ip4 src(10, 0, 0, 1), dst(10, 0, 0, 2);
    uint8_t buf[kUdpHeaderLen + 11];
    std::memcpy(buf + kUdpHeaderLen, "hello world", 11);
    UdpRepr u{5353, 53, uint16_t(sizeof buf), 0};
    u.emit(buf, src, dst, false);
    EXPECT_EQ(load16(buf), 5353);
    EXPECT_EQ(load16(buf + 2), 53);
    EXPECT_EQ(load16(buf + 4), sizeof buf);
    EXPECT_NE(load16(buf + 6), 0);
    // Verify by hand: pseudo header + datagram sums to zero.
    EXPECT_EQ(checksum_fold(checksum_add(pseudo_header_sum(src, dst, kProtoUdp, sizeof buf), buf, sizeof buf)), 0);
    UdpRepr p;
    ASSERT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Ok);
    EXPECT_EQ(p.sport, 5353);
    EXPECT_EQ(p.dport, 53);
    EXPECT_EQ(p.len, sizeof buf);
    EXPECT_EQ(p.checksum, load16(buf + 6));
    // Different addresses: the pseudo header no longer matches.
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, Ip4(10, 0, 0, 3), &p), UdpError::Checksum);
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, Ip4(10, 0, 0, 3), &p, false), UdpError::Ok);
    buf[12] ^= 0x20;
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Checksum);
}

TEST(Udp, ZeroChecksumIsAcceptedAndNoCheckEmitsZero) {
    const Ip4 src(10, 0, 0, 1), dst(10, 0, 0, 2);
    uint8_t buf[kUdpHeaderLen + 4] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    UdpRepr u{1000, 2000, uint16_t(sizeof buf), 0};
    u.emit(buf, src, dst, true);  // SO_NO_CHECK
    EXPECT_EQ(load16(buf + 6), 0);
    buf[9] = 0x77;  // any payload passes: the sender computed no checksum
    UdpRepr p;
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Ok);
    EXPECT_EQ(p.checksum, 0);
}

TEST(Udp, ComputedZeroIsSentAsAllOnes) {
    const Ip4 src(10, 0, 0, 1), dst(10, 0, 0, 2);
    // Choose the last payload word so that the checksum comes out 0: with that word zero
    // the checksum is c = ~S; putting c in it makes the sum S + ~S = 0xffff, checksum 0.
    uint8_t buf[kUdpHeaderLen + 6] = {0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0};
    store16(buf, 4000);
    store16(buf + 2, 5000);
    store16(buf + 4, sizeof buf);
    const uint16_t c =
        checksum_fold(checksum_add(pseudo_header_sum(src, dst, kProtoUdp, sizeof buf), buf, sizeof buf));
    store16(buf + 12, c);
    ASSERT_EQ(checksum_fold(checksum_add(pseudo_header_sum(src, dst, kProtoUdp, sizeof buf), buf, sizeof buf)), 0);
    UdpRepr u{4000, 5000, uint16_t(sizeof buf), 0};
    u.emit(buf, src, dst, false);
    EXPECT_EQ(load16(buf + 6), 0xffff);  // RFC 768: a computed zero is transmitted as all ones
    UdpRepr p;
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Ok);
    EXPECT_EQ(p.checksum, 0xffff);
}

TEST(Udp, LengthRejections) {
    const Ip4 src(10, 0, 0, 1), dst(10, 0, 0, 2);
    uint8_t buf[kUdpHeaderLen + 8] = {};
    UdpRepr u{1, 2, uint16_t(sizeof buf), 0};
    u.emit(buf, src, dst, false);
    UdpRepr p;
    EXPECT_EQ(UdpRepr::parse({buf, 7}, src, dst, &p), UdpError::Truncated);
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf - 1}, src, dst, &p), UdpError::Length);
    store16(buf + 4, 7);  // shorter than the header
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Length);
    // A length shorter than the IP payload is fine (the rest is trimmed as padding).
    store16(buf + 4, 8);
    store16(buf + 6, 0);
    EXPECT_EQ(UdpRepr::parse({buf, sizeof buf}, src, dst, &p), UdpError::Ok);
    EXPECT_EQ(p.len, 8);
}

// Every prefix of a valid packet is rejected (or, for the full length, accepted) without
// reading beyond the prefix: the byte after it is an inaccessible page.
TEST(Truncation, EveryPrefixIsSafe) {
    test::GuardedBuffer g(70000);
    const Ip4 src(192, 0, 2, 1), dst(198, 51, 100, 7);

    // Ethernet + ARP frame.
    Bytes frame(kEthHeaderLen + kArpLen);
    EthernetRepr{Mac::broadcast(), kMacA, kEthArp}.emit(frame.data());
    ArpRepr{kArpRequest, kMacA, Mac{}, Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2)}.emit(frame.data() + kEthHeaderLen);
    for (size_t n = 0; n <= frame.size(); ++n) {
        auto s = g.place(frame.data(), n);
        EthernetRepr e;
        EXPECT_EQ(EthernetRepr::parse(s, &e), n >= kEthHeaderLen) << n;
        if (n >= kEthHeaderLen) {
            ArpRepr a;
            EXPECT_EQ(ArpRepr::parse(s.subspan(kEthHeaderLen), &a), n == frame.size()) << n;
        }
    }

    // UDP datagram.
    Bytes udp(kUdpHeaderLen + 37);
    for (size_t i = kUdpHeaderLen; i < udp.size(); ++i) udp[i] = uint8_t(i * 7 + 1);
    UdpRepr{7, 9, uint16_t(udp.size()), 0}.emit(udp.data(), src, dst, false);
    for (size_t n = 0; n <= udp.size(); ++n) {
        UdpRepr u;
        const UdpError r = UdpRepr::parse(g.place(udp.data(), n), src, dst, &u);
        if (n < kUdpHeaderLen) EXPECT_EQ(r, UdpError::Truncated) << n;
        else if (n < udp.size()) EXPECT_EQ(r, UdpError::Length) << n;
        else EXPECT_EQ(r, UdpError::Ok);
    }

    // IPv4 with every header length, carrying the UDP datagram.
    for (int ihl = 5; ihl <= 15; ++ihl) {
        const Bytes ip = make_ipv4(ihl, udp);
        for (size_t n = 0; n <= ip.size(); ++n) {
            Ipv4Repr h;
            const Ipv4Error r = Ipv4Repr::parse(g.place(ip.data(), n), &h);
            if (n < size_t(ihl) * 4) EXPECT_EQ(r, Ipv4Error::Truncated) << ihl << "/" << n;
            else if (n < ip.size()) EXPECT_EQ(r, Ipv4Error::TotalLength) << ihl << "/" << n;
            else EXPECT_EQ(r, Ipv4Error::Ok) << ihl;
        }
    }

    // ICMP echo and IGMP.
    Bytes icmp(kIcmpHeaderLen + 21, 0x5a);
    IcmpRepr{kIcmpEcho, 0, 0, 0x00010002}.emit(icmp.data(), uint32_t(icmp.size() - kIcmpHeaderLen));
    for (size_t n = 0; n <= icmp.size(); ++n) {
        IcmpRepr ic;
        const bool ok = IcmpRepr::parse(g.place(icmp.data(), n), &ic);
        if (n < kIcmpHeaderLen) {
            EXPECT_FALSE(ok) << n;
        }
        if (n == icmp.size()) {
            EXPECT_TRUE(ok);
        }
        EXPECT_EQ(IcmpRepr::parse(g.place(icmp.data(), n), &ic, false), n >= kIcmpHeaderLen) << n;
    }
    Bytes igmp(kIgmpLen);
    IgmpRepr{kIgmpV2Report, 0, Ip4(239, 0, 0, 9).v}.emit(igmp.data());
    for (size_t n = 0; n <= igmp.size(); ++n) {
        IgmpRepr ig;
        EXPECT_EQ(IgmpRepr::parse(g.place(igmp.data(), n), &ig), n == igmp.size()) << n;
    }

    // The largest IPv4 datagram, right up to the guard.
    Bytes big = make_ipv4(5, Bytes(65535 - 20, 0xa5));
    Ipv4Repr h;
    EXPECT_EQ(Ipv4Repr::parse(g.place(big.data(), big.size()), &h), Ipv4Error::Ok);
    EXPECT_EQ(h.total_len, 65535);
    EXPECT_EQ(Ipv4Repr::parse(g.place(big.data(), big.size() - 1), &h), Ipv4Error::TotalLength);
}

TEST(Addresses, Ip4AndMacText) {
    Ip4 a;
    ASSERT_TRUE(Ip4::parse("10.0.2.15", &a));
    EXPECT_EQ(a, Ip4(10, 0, 2, 15));
    EXPECT_EQ(a.str(), "10.0.2.15");
    EXPECT_EQ(a.net(), 0x0f02000au);
    EXPECT_EQ(Ip4::from_net(a.net()), a);
    EXPECT_FALSE(Ip4::parse("10.0.2.256", &a));
    EXPECT_FALSE(Ip4::parse("10.0.2", &a));
    EXPECT_FALSE(Ip4::parse("10.0.2.1x", &a));
    EXPECT_EQ(kMacA.str(), "02:00:00:00:00:0a");
    EXPECT_TRUE(Mac::broadcast().is_broadcast());
    EXPECT_TRUE(Mac::broadcast().is_multicast());
    EXPECT_FALSE(kMacA.is_multicast());
    EXPECT_EQ(prefix_mask(0), 0u);
    EXPECT_EQ(prefix_mask(24), 0xffffff00u);
    EXPECT_EQ(prefix_mask(32), 0xffffffffu);
    EXPECT_TRUE(Ip4(224, 0, 0, 1).is_multicast());
    EXPECT_TRUE(Ip4(127, 9, 9, 9).is_loopback());
}

}  // namespace
