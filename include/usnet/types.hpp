// Basic value types shared by the public API: addresses, time.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace usnet {

// An IPv4 address in host byte order (so comparisons and prefixes read naturally).
struct Ip4 {
    uint32_t v = 0;
    constexpr Ip4() = default;
    constexpr explicit Ip4(uint32_t host_order) : v(host_order) {}
    constexpr Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
        : v((uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | d) {}
    constexpr bool any() const { return v == 0; }
    constexpr bool is_multicast() const { return (v & 0xf0000000u) == 0xe0000000u; }
    constexpr bool is_lbcast() const { return v == 0xffffffffu; }
    constexpr bool is_zeronet() const { return (v & 0xff000000u) == 0; }
    constexpr bool is_loopback() const { return (v & 0xff000000u) == 0x7f000000u; }
    // Network byte order, as stored in sockaddr_in.s_addr.
    uint32_t net() const { return __builtin_bswap32(v); }
    static Ip4 from_net(uint32_t n) { return Ip4(__builtin_bswap32(n)); }
    static bool parse(const std::string& s, Ip4* out);
    std::string str() const;
    friend constexpr bool operator==(Ip4 a, Ip4 b) { return a.v == b.v; }
    friend constexpr bool operator!=(Ip4 a, Ip4 b) { return a.v != b.v; }
};

constexpr uint32_t prefix_mask(int len) { return len <= 0 ? 0 : (len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1)); }

struct Mac {
    std::array<uint8_t, 6> b{};
    bool is_broadcast() const { return b == std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; }
    bool is_multicast() const { return b[0] & 1; }
    static Mac broadcast() { return Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
    std::string str() const;
    friend bool operator==(const Mac& a, const Mac& b) { return a.b == b.b; }
};

// Time is nanoseconds on the stack's clock (virtual in a simulation, monotonic otherwise).
using Time = int64_t;
constexpr Time kNever = INT64_MAX;
constexpr Time kUs = 1000;
constexpr Time kMs = 1000000;
constexpr Time kSec = 1000000000;

}  // namespace usnet
