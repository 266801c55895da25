// Classic BPF socket filters (SO_ATTACH_FILTER): the checker Linux runs when a program is
// attached (bpf_check_classic) and an interpreter with the semantics of the kernel's
// classic-to-eBPF translation (net/core/filter.c), run on each datagram a socket receives.
#pragma once
#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace usnet::sock {

using FilterProg = std::vector<sock_filter>;

// bpf_check_classic (with bpf_check_basics_ok): whether Linux accepts the program.
bool filter_valid(const sock_filter* insns, size_t n);

// What a program sees of one datagram: skb->data (the transport header) and skb->len, the
// network and link headers for SKF_NET_OFF/SKF_LL_OFF loads, and the ancillary values.
struct FilterInput {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    const uint8_t* net = nullptr;  // IPv4 header; it runs up to data + len
    const uint8_t* mac = nullptr;  // link header (skb_mac_header), or null
    uint32_t mac_len = 0;          // bytes from mac to data + len
    uint16_t protocol = 0x0800;    // ntohs(skb->protocol)
    uint8_t pkttype = 0;           // PACKET_HOST, PACKET_BROADCAST, ...
    int ifindex = 0;               // skb->dev
    uint16_t hatype = 0;           // skb->dev->type (ARPHRD_*)
    uint32_t mark = 0;
    uint32_t random = 0;           // SKF_AD_RANDOM's value for this run
};

// The program's return value: 0 drops the datagram, n keeps its first n bytes.
uint32_t filter_run(const FilterProg& prog, const FilterInput& in);

}  // namespace usnet::sock
