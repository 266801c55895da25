// UDP header (RFC 768).
#pragma once
#include <cstdint>
#include <span>

#include "usnet/types.hpp"

namespace usnet::wire {

constexpr uint32_t kUdpHeaderLen = 8;

enum class UdpError { Ok, Truncated, Length, Checksum };

struct UdpRepr {
    uint16_t sport = 0, dport = 0;
    uint16_t len = 0;       // header + payload, from the header
    uint16_t checksum = 0;  // as on the wire; 0 means "not computed" (accepted, RFC 768)
    // b is the IP payload. Checks length against it (like __udp4_lib_rcv) and the checksum
    // when non-zero.
    static UdpError parse(std::span<const uint8_t> b, Ip4 src, Ip4 dst, UdpRepr* out,
                          bool verify_checksum = true);
    // Writes the header over p (payload follows in place); computes the checksum unless
    // no_check (SO_NO_CHECK), mapping a computed 0 to 0xffff.
    void emit(uint8_t* p, Ip4 src, Ip4 dst, bool no_check) const;
    // The header with only the pseudo-header sum in the checksum field, for a device that
    // finishes it over the datagram (CHECKSUM_PARTIAL, virtio NEEDS_CSUM).
    void emit_partial(uint8_t* p, Ip4 src, Ip4 dst) const;
};

}  // namespace usnet::wire
