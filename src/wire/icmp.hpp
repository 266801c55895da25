// ICMPv4 (RFC 792) and IGMPv2 (RFC 2236) messages.
#pragma once
#include <cstdint>
#include <span>

namespace usnet::wire {

constexpr uint8_t kIcmpEchoReply = 0, kIcmpDestUnreach = 3, kIcmpSourceQuench = 4, kIcmpRedirect = 5,
                  kIcmpEcho = 8, kIcmpTimeExceeded = 11, kIcmpParamProb = 12;
// Destination unreachable codes.
constexpr uint8_t kIcmpNetUnreach = 0, kIcmpHostUnreach = 1, kIcmpProtUnreach = 2, kIcmpPortUnreach = 3,
                  kIcmpFragNeeded = 4, kIcmpNrUnreach = 15;
constexpr uint32_t kIcmpHeaderLen = 8;

struct IcmpRepr {
    uint8_t type = 0, code = 0;
    uint16_t checksum = 0;
    uint32_t rest = 0;  // id/seq for echo, next-hop mtu for frag-needed, pointer for param problem
    uint16_t id() const { return uint16_t(rest >> 16); }
    uint16_t seq() const { return uint16_t(rest); }
    bool is_error() const {
        return type == kIcmpDestUnreach || type == kIcmpSourceQuench || type == kIcmpRedirect ||
               type == kIcmpTimeExceeded || type == kIcmpParamProb;
    }
    // Requires 8 bytes; verifies the checksum over the whole message when asked.
    static bool parse(std::span<const uint8_t> b, IcmpRepr* out, bool verify_checksum = true);
    // Writes the header and the checksum over header + payload (payload already in place after it).
    void emit(uint8_t* p, uint32_t payload_len) const;
};

constexpr uint8_t kIgmpQuery = 0x11, kIgmpV1Report = 0x12, kIgmpV2Report = 0x16, kIgmpLeave = 0x17;
constexpr uint32_t kIgmpLen = 8;

struct IgmpRepr {
    uint8_t type = 0, max_resp = 0;
    uint32_t group = 0;  // host order
    static bool parse(std::span<const uint8_t> b, IgmpRepr* out);
    void emit(uint8_t* p) const;
};

// IGMPv3 (RFC 3376 4.2): a membership report to 224.0.0.22 carrying group records.
constexpr uint8_t kIgmpV3Report = 0x22;
constexpr uint8_t kIgmpModeIsInclude = 1, kIgmpModeIsExclude = 2, kIgmpChangeToInclude = 3,
                  kIgmpChangeToExclude = 4, kIgmpAllowNewSources = 5, kIgmpBlockOldSources = 6;
constexpr uint32_t kIgmpV3HeaderLen = 8, kIgmpV3RecordLen = 8;

struct Igmpv3Record {
    uint8_t type = 0;
    uint32_t group = 0;                   // host order
    std::span<const uint32_t> sources;    // host order
    uint32_t size() const { return kIgmpV3RecordLen + 4 * uint32_t(sources.size()); }
};

// Writes a report holding `records` (sum of their size() after the 8-byte header) and its checksum.
uint32_t emit_igmpv3_report(uint8_t* p, std::span<const Igmpv3Record> records);

}  // namespace usnet::wire
