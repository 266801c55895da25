#include <bit>
#include <cstdio>
#include <cstring>

#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet {

bool Ip4::parse(const std::string& s, Ip4* out) {
    unsigned a, b, c, d;
    char tail;
    if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
    if (a > 255 || b > 255 || c > 255 || d > 255) return false;
    *out = Ip4(uint8_t(a), uint8_t(b), uint8_t(c), uint8_t(d));
    return true;
}

std::string Ip4::str() const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
    return buf;
}

std::string Mac::str() const {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    return buf;
}

namespace wire {

// One's-complement sums do not depend on byte order (RFC 1071, 2(B)): the data is summed as
// native-order 64-bit words with the carries added back in (a datagram's checksum is a few
// dozen adds), folded, and the 16-bit result swapped into network order before the
// caller's (host-order) partial sum is added.
namespace {
inline uint64_t add_carry(uint64_t a, uint64_t b) {
    const uint64_t s = a + b;
    return s + (s < b);
}
}  // namespace

uint32_t checksum_add(uint32_t acc, const uint8_t* p, size_t n) {
    uint64_t s0 = 0, s1 = 0;  // two chains, so the adds of one iteration do not wait on each other
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint64_t a, b;
        std::memcpy(&a, p + i, 8);
        std::memcpy(&b, p + i + 8, 8);
        s0 = add_carry(s0, a);
        s1 = add_carry(s1, b);
    }
    uint64_t sum = add_carry(s0, s1);
    if (i + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        sum = add_carry(sum, w);
        i += 8;
    }
    if (i + 4 <= n) {
        uint32_t w;
        std::memcpy(&w, p + i, 4);
        sum = add_carry(sum, w);
        i += 4;
    }
    if (i + 2 <= n) {
        uint16_t w;
        std::memcpy(&w, p + i, 2);
        sum = add_carry(sum, w);
        i += 2;
    }
    if (i < n) {
        // A trailing odd byte is the high byte of a zero-padded word in network order.
        uint8_t last[2] = {p[i], 0};
        uint16_t w;
        std::memcpy(&w, last, 2);
        sum = add_carry(sum, w);
    }
    sum = (sum & 0xffffffff) + (sum >> 32);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t folded = uint16_t(sum);
    if constexpr (std::endian::native == std::endian::little) folded = __builtin_bswap16(folded);
    uint32_t a = acc;
    while (a >> 16) a = (a & 0xffff) + (a >> 16);
    return a + folded;
}

// (memcpy: a byte loop through uint8_t pointers, which may alias anything, stays a loop.)
static Mac load_mac(const uint8_t* p) {
    Mac m;
    std::memcpy(m.b.data(), p, 6);
    return m;
}
static void store_mac(uint8_t* p, const Mac& m) { std::memcpy(p, m.b.data(), 6); }

bool EthernetRepr::parse(std::span<const uint8_t> b, EthernetRepr* out) {
    if (b.size() < kEthHeaderLen) return false;
    out->dst = load_mac(b.data());
    out->src = load_mac(b.data() + 6);
    out->ethertype = load16(b.data() + 12);
    return true;
}

void EthernetRepr::emit(uint8_t* p) const {
    store_mac(p, dst);
    store_mac(p + 6, src);
    store16(p + 12, ethertype);
}

bool ArpRepr::parse(std::span<const uint8_t> b, ArpRepr* out) {
    if (b.size() < kArpLen) return false;
    const uint8_t* p = b.data();
    if (load16(p) != 1 || load16(p + 2) != kEthIpv4 || p[4] != 6 || p[5] != 4) return false;
    out->op = load16(p + 6);
    out->sha = load_mac(p + 8);
    out->spa = Ip4(load32(p + 14));
    out->tha = load_mac(p + 18);
    out->tpa = Ip4(load32(p + 24));
    return out->op == kArpRequest || out->op == kArpReply;
}

void ArpRepr::emit(uint8_t* p) const {
    store16(p, 1);
    store16(p + 2, kEthIpv4);
    p[4] = 6;
    p[5] = 4;
    store16(p + 6, op);
    store_mac(p + 8, sha);
    store32(p + 14, spa.v);
    store_mac(p + 18, tha);
    store32(p + 24, tpa.v);
}

Ipv4Error Ipv4Repr::parse(std::span<const uint8_t> b, Ipv4Repr* out, bool verify_checksum) {
    if (b.size() < kIpv4HeaderLen) return Ipv4Error::Truncated;
    const uint8_t* p = b.data();
    if ((p[0] >> 4) != 4) return Ipv4Error::Version;
    const uint32_t hl = uint32_t(p[0] & 15) * 4;
    if (hl < kIpv4HeaderLen) return Ipv4Error::HeaderLength;
    if (b.size() < hl) return Ipv4Error::Truncated;
    const uint16_t total = load16(p + 2);
    if (total < hl || total > b.size()) return Ipv4Error::TotalLength;
    if (verify_checksum && checksum(p, hl) != 0) return Ipv4Error::Checksum;
    out->header_len = uint8_t(hl);
    out->tos = p[1];
    out->total_len = total;
    out->id = load16(p + 4);
    out->frag = load16(p + 6);
    out->ttl = p[8];
    out->proto = p[9];
    out->src = Ip4(load32(p + 12));
    out->dst = Ip4(load32(p + 16));
    return Ipv4Error::Ok;
}

void Ipv4Repr::emit(uint8_t* p) const {
    p[0] = 0x45;
    p[1] = tos;
    store16(p + 2, total_len);
    store16(p + 4, id);
    store16(p + 6, frag);
    p[8] = ttl;
    p[9] = proto;
    store32(p + 12, src.v);
    store32(p + 16, dst.v);
    // The header checksum from the field values (the same sum checksum(p, 20) would read back).
    uint32_t sum = (0x4500u | tos) + total_len + id + frag + ((uint32_t(ttl) << 8) | proto) + (src.v >> 16) +
                   (src.v & 0xffff) + (dst.v >> 16) + (dst.v & 0xffff);
    store16(p + 10, checksum_fold(sum));
}

bool IcmpRepr::parse(std::span<const uint8_t> b, IcmpRepr* out, bool verify_checksum) {
    if (b.size() < kIcmpHeaderLen) return false;
    if (verify_checksum && wire::checksum(b.data(), b.size()) != 0) return false;
    out->type = b[0];
    out->code = b[1];
    out->checksum = load16(b.data() + 2);
    out->rest = load32(b.data() + 4);
    return true;
}

void IcmpRepr::emit(uint8_t* p, uint32_t payload_len) const {
    p[0] = type;
    p[1] = code;
    store16(p + 2, 0);
    store32(p + 4, rest);
    store16(p + 2, wire::checksum(p, kIcmpHeaderLen + payload_len));
}

bool IgmpRepr::parse(std::span<const uint8_t> b, IgmpRepr* out) {
    if (b.size() < kIgmpLen) return false;
    if (checksum(b.data(), b.size()) != 0) return false;
    out->type = b[0];
    out->max_resp = b[1];
    out->group = load32(b.data() + 4);
    return true;
}

void IgmpRepr::emit(uint8_t* p) const {
    p[0] = type;
    p[1] = max_resp;
    store16(p + 2, 0);
    store32(p + 4, group);
    store16(p + 2, checksum(p, kIgmpLen));
}

uint32_t emit_igmpv3_report(uint8_t* p, std::span<const Igmpv3Record> records) {
    p[0] = kIgmpV3Report;
    p[1] = 0;
    store16(p + 2, 0);
    store16(p + 4, 0);
    store16(p + 6, uint16_t(records.size()));
    uint32_t off = kIgmpV3HeaderLen;
    for (const auto& r : records) {
        p[off] = r.type;
        p[off + 1] = 0;  // no auxiliary data
        store16(p + off + 2, uint16_t(r.sources.size()));
        store32(p + off + 4, r.group);
        off += kIgmpV3RecordLen;
        for (uint32_t s : r.sources) {
            store32(p + off, s);
            off += 4;
        }
    }
    store16(p + 2, checksum(p, off));
    return off;
}

UdpError UdpRepr::parse(std::span<const uint8_t> b, Ip4 src, Ip4 dst, UdpRepr* out, bool verify_checksum) {
    if (b.size() < kUdpHeaderLen) return UdpError::Truncated;
    const uint8_t* p = b.data();
    out->sport = load16(p);
    out->dport = load16(p + 2);
    out->len = load16(p + 4);
    out->checksum = load16(p + 6);
    if (out->len < kUdpHeaderLen || out->len > b.size()) return UdpError::Length;
    if (verify_checksum && out->checksum != 0) {
        uint32_t acc = pseudo_header_sum(src, dst, kProtoUdp, out->len);
        if (checksum_fold(checksum_add(acc, p, out->len)) != 0) return UdpError::Checksum;
    }
    return UdpError::Ok;
}

void UdpRepr::emit(uint8_t* p, Ip4 src, Ip4 dst, bool no_check) const {
    store16(p, sport);
    store16(p + 2, dport);
    store16(p + 4, len);
    store16(p + 6, 0);
    if (no_check) return;
    uint16_t c = checksum_fold(checksum_add(pseudo_header_sum(src, dst, kProtoUdp, len), p, len));
    store16(p + 6, c == 0 ? 0xffff : c);
}

void UdpRepr::emit_partial(uint8_t* p, Ip4 src, Ip4 dst) const {
    store16(p, sport);
    store16(p + 2, dport);
    store16(p + 4, len);
    // udp4_hwcsum: ~csum_tcpudp_magic(...), the folded sum not yet complemented.
    store16(p + 6, uint16_t(~checksum_fold(pseudo_header_sum(src, dst, kProtoUdp, len))));
}

}  // namespace wire
}  // namespace usnet
