// Ethernet II frames and ARP for IPv4 over Ethernet (RFC 826).
#pragma once
#include <cstdint>
#include <span>

#include "usnet/types.hpp"

namespace usnet::wire {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthArp = 0x0806;
constexpr uint32_t kEthHeaderLen = 14;

struct EthernetRepr {
    Mac dst, src;
    uint16_t ethertype = 0;
    static bool parse(std::span<const uint8_t> b, EthernetRepr* out);
    void emit(uint8_t* p) const;
};

constexpr uint16_t kArpRequest = 1, kArpReply = 2;
constexpr uint32_t kArpLen = 28;

struct ArpRepr {
    uint16_t op = 0;
    Mac sha, tha;
    Ip4 spa, tpa;
    // Rejects anything but Ethernet/IPv4 ARP, like arp_rcv's checks.
    static bool parse(std::span<const uint8_t> b, ArpRepr* out);
    void emit(uint8_t* p) const;
};

}  // namespace usnet::wire
