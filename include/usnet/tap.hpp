// A TAP device as a usnet interface: frames between a usnet host and the Linux kernel of
// this machine (or whatever the kernel bridges the TAP to). See sim::Network::attach_tap,
// sim::WorldSpec::tap and `usnet run --tap`.
#pragma once
#include <cstdint>
#include <string>

#include "usnet/types.hpp"

namespace usnet {

struct TapOptions {
    // The device. A missing one is created (it lasts while it is open), which needs
    // CAP_NET_ADMIN; a persistent TAP made with `ip tuntap add dev NAME mode tap user U`
    // can be used by U without privileges.
    std::string name;
    // Queues to attach: more than one needs a multi_queue device (one that was created
    // multi_queue is attached that way whatever this says). Each queue is read in turn.
    uint32_t queues = 1;
    // IFF_VNET_HDR with checksum offload: the kernel hands over its own datagrams without
    // computing their UDP checksum (it vouches for them, as for its local sockets).
    bool vnet_hdr = true;
    // With vnet_hdr, usnet leaves its UDP checksums to the kernel too (CHECKSUM_PARTIAL, as
    // a virtio guest does), which saves computing them twice. Off by default: Linux then
    // quotes such a datagram in an ICMP error with the checksum unfinished, as it does for
    // its own offloaded traffic, and a capture shows that as a bad checksum.
    bool tx_checksum_offload = false;
    // usnet's address on the link; zero: derived from the device name and the host's
    // first address, so a program gets the same one every run (and neighbours' caches hold).
    Mac mac{};
    // Write every frame, both ways, to this pcap file (checksums completed as on the wire).
    std::string pcap;
};

}  // namespace usnet
