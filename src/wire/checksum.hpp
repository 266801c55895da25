// The Internet checksum (RFC 1071), incrementally: sum() accumulates, fold() finishes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "usnet/types.hpp"
#include "wire/bytes.hpp"
#include "wire/ethernet.hpp"

namespace usnet::wire {

uint32_t checksum_add(uint32_t acc, const uint8_t* p, size_t n);
inline uint16_t checksum_fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc);
}
inline uint16_t checksum(const uint8_t* p, size_t n) { return checksum_fold(checksum_add(0, p, n)); }
// Sum of the IPv4 pseudo header used by UDP (RFC 768).
inline uint32_t pseudo_header_sum(Ip4 src, Ip4 dst, uint8_t proto, uint16_t len) {
    return (src.v >> 16) + (src.v & 0xffff) + (dst.v >> 16) + (dst.v & 0xffff) + proto + len;
}

// Finishes a checksum left partial (CHECKSUM_PARTIAL, virtio NEEDS_CSUM): the 16-bit
// field at start+offset holds the pseudo-header sum; the result covers [start, len).
// UDP's computed zero is sent as all ones (RFC 768).
inline void complete_partial_checksum(uint8_t* p, uint32_t len, uint32_t start, uint32_t offset) {
    if (start + offset + 2 > len) return;
    uint16_t c = checksum(p + start, len - start);
    if (c == 0) c = 0xffff;
    p[start + offset] = uint8_t(c >> 8);
    p[start + offset + 1] = uint8_t(c);
}

// Where a UDP checksum left partial starts in an Ethernet frame (the end of its IPv4
// header), or 0 when the frame is not IPv4 or too short to hold a UDP header there.
inline uint32_t frame_udp_start(const uint8_t* frame, uint32_t len) {
    if (len < kEthHeaderLen + 20 || load16(frame + 12) != kEthIpv4) return 0;
    const uint32_t start = kEthHeaderLen + uint32_t(frame[kEthHeaderLen] & 15) * 4;
    return start + 8 <= len ? start : 0;
}

}  // namespace usnet::wire
