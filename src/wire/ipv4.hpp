// IPv4 header (RFC 791). Options are carried over by length and skipped, never interpreted.
#pragma once
#include <cstdint>
#include <span>

#include "usnet/types.hpp"

namespace usnet::wire {

constexpr uint8_t kProtoIcmp = 1, kProtoIgmp = 2, kProtoUdp = 17;
constexpr uint16_t kIpDF = 0x4000, kIpMF = 0x2000, kIpOffMask = 0x1fff;
constexpr uint32_t kIpv4HeaderLen = 20;

enum class Ipv4Error { Ok, Truncated, Version, HeaderLength, TotalLength, Checksum };

struct Ipv4Repr {
    uint8_t header_len = 20;  // bytes, including options
    uint8_t tos = 0;
    uint16_t total_len = 0;
    uint16_t id = 0;
    uint16_t frag = 0;  // flags and offset as on the wire (DF/MF bits + offset in 8-byte units)
    uint8_t ttl = 64;
    uint8_t proto = 0;
    Ip4 src, dst;

    bool df() const { return frag & kIpDF; }
    bool mf() const { return frag & kIpMF; }
    uint32_t frag_offset() const { return uint32_t(frag & kIpOffMask) * 8; }
    bool is_fragment() const { return (frag & (kIpMF | kIpOffMask)) != 0; }

    // Validates like ip_rcv_core: version, ihl >= 5, total length within the buffer, checksum.
    static Ipv4Error parse(std::span<const uint8_t> b, Ipv4Repr* out, bool verify_checksum = true);
    // Writes a 20-byte header (no options) with its checksum.
    void emit(uint8_t* p) const;
};

}  // namespace usnet::wire
