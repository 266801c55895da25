// Fuzz target: the wire parsers (Ethernet, ARP, IPv4, ICMP, IGMP, UDP). Nothing may read
// outside the input, and anything a parser accepts must survive emit -> parse unchanged.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_targets.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet::fuzz {

namespace {

using namespace usnet::wire;

void transport(std::span<const uint8_t> l4, Ip4 src, Ip4 dst) {
    UdpRepr u;
    for (bool verify : {true, false}) {
        const UdpError r = UdpRepr::parse(l4, src, dst, &u, verify);
        if (r != UdpError::Ok) continue;
        USNET_FUZZ_CHECK(u.len >= kUdpHeaderLen && u.len <= l4.size());
        USNET_FUZZ_CHECK(u.sport == load16(l4.data()) && u.dport == load16(l4.data() + 2));
        // Re-emitting with a computed checksum always verifies, and keeps the ports.
        std::vector<uint8_t> copy(l4.begin(), l4.begin() + u.len);
        UdpRepr{u.sport, u.dport, u.len, 0}.emit(copy.data(), src, dst, false);
        UdpRepr again;
        USNET_FUZZ_CHECK(UdpRepr::parse(copy, src, dst, &again) == UdpError::Ok);
        USNET_FUZZ_CHECK(again.sport == u.sport && again.dport == u.dport && again.len == u.len);
        USNET_FUZZ_CHECK(again.checksum != 0);
    }
    IcmpRepr ic;
    if (IcmpRepr::parse(l4, &ic)) {
        USNET_FUZZ_CHECK(l4.size() >= kIcmpHeaderLen);
        USNET_FUZZ_CHECK(checksum(l4.data(), l4.size()) == 0);
        std::vector<uint8_t> copy(l4.begin(), l4.end());
        IcmpRepr{ic.type, ic.code, 0, ic.rest}.emit(copy.data(), uint32_t(copy.size() - kIcmpHeaderLen));
        IcmpRepr again;
        USNET_FUZZ_CHECK(IcmpRepr::parse(copy, &again));
        USNET_FUZZ_CHECK(again.type == ic.type && again.code == ic.code && again.rest == ic.rest);
        // 0x0000 and 0xffff are the same one's complement sum; otherwise it is the same field.
        USNET_FUZZ_CHECK(again.checksum == ic.checksum || (again.checksum | ic.checksum) == 0xffff);
    }
    IcmpRepr raw;
    USNET_FUZZ_CHECK(IcmpRepr::parse(l4, &raw, false) == (l4.size() >= kIcmpHeaderLen));
    IgmpRepr ig;
    if (IgmpRepr::parse(l4, &ig)) {
        USNET_FUZZ_CHECK(l4.size() >= kIgmpLen);
        uint8_t out[kIgmpLen];
        ig.emit(out);
        IgmpRepr again;
        USNET_FUZZ_CHECK(IgmpRepr::parse({out, sizeof out}, &again));
        USNET_FUZZ_CHECK(again.type == ig.type && again.max_resp == ig.max_resp && again.group == ig.group);
        if (l4.size() == kIgmpLen)
            USNET_FUZZ_CHECK(std::memcmp(out, l4.data(), 2) == 0 && std::memcmp(out + 4, l4.data() + 4, 4) == 0);
    }
}

void network(std::span<const uint8_t> b) {
    Ipv4Repr h;
    const Ipv4Error r = Ipv4Repr::parse(b, &h);
    Ipv4Repr loose;
    const Ipv4Error rl = Ipv4Repr::parse(b, &loose, false);
    // Skipping the checksum can only turn a checksum failure into success.
    USNET_FUZZ_CHECK(r == rl || (r == Ipv4Error::Checksum && rl == Ipv4Error::Ok));
    if (b.size() < kIpv4HeaderLen) USNET_FUZZ_CHECK(r == Ipv4Error::Truncated);
    if (r != Ipv4Error::Ok) return;
    USNET_FUZZ_CHECK(h.header_len >= kIpv4HeaderLen && h.header_len <= 60 && h.header_len % 4 == 0);
    USNET_FUZZ_CHECK(h.header_len <= h.total_len && h.total_len <= b.size());
    USNET_FUZZ_CHECK(checksum(b.data(), h.header_len) == 0);
    if (h.header_len == kIpv4HeaderLen) {
        uint8_t out[kIpv4HeaderLen];
        h.emit(out);
        // The checksum is recomputed; 0x0000 and 0xffff are equivalent encodings.
        USNET_FUZZ_CHECK(std::memcmp(out, b.data(), 10) == 0 && std::memcmp(out + 12, b.data() + 12, 8) == 0);
        Ipv4Repr again;
        USNET_FUZZ_CHECK(Ipv4Repr::parse({out, sizeof out}, &again) == Ipv4Error::TotalLength ||
                         h.total_len == kIpv4HeaderLen);
    }
    transport(b.subspan(h.header_len, h.total_len - h.header_len), h.src, h.dst);
}

}  // namespace

int wire_one(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> b(data, size);
    EthernetRepr e;
    const bool eth = EthernetRepr::parse(b, &e);
    USNET_FUZZ_CHECK(eth == (size >= kEthHeaderLen));
    if (eth) {
        uint8_t out[kEthHeaderLen];
        e.emit(out);
        USNET_FUZZ_CHECK(std::memcmp(out, data, kEthHeaderLen) == 0);
        const auto l3 = b.subspan(kEthHeaderLen);
        ArpRepr a;
        if (ArpRepr::parse(l3, &a)) {
            uint8_t arp[kArpLen];
            a.emit(arp);
            USNET_FUZZ_CHECK(std::memcmp(arp, l3.data(), kArpLen) == 0);
        }
        network(l3);
    }
    // The same bytes as a bare IP packet and as a bare transport header.
    network(b);
    transport(b, Ip4(10, 0, 0, 1), Ip4(10, 0, 0, 2));
    ArpRepr a;
    if (ArpRepr::parse(b, &a)) USNET_FUZZ_CHECK(a.op == kArpRequest || a.op == kArpReply);
    return 0;
}

}  // namespace usnet::fuzz

#ifdef USNET_FUZZ_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return usnet::fuzz::wire_one(data, size);
}
#endif
