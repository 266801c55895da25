// A VXLAN tunnel endpoint (RFC 7348) over a kernel UDP socket: Ethernet frames to and from
// a list of remote endpoints, all on one VNI. Received datagrams come in batches
// (recvmmsg); frames for several remotes (flooding) leave in one sendmmsg. Raw system
// calls throughout, as in tap.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>

#include "usnet/env.hpp"
#include "usnet/types.hpp"

namespace usnet::link {

struct VxlanRemote {
    Ip4 addr;
    uint16_t port = 4789;
};

struct VxlanOptions {
    std::vector<VxlanRemote> remotes;
    uint32_t vni = 0;         // 24 bits
    Ip4 local_addr;           // 0: any
    uint16_t local_port = 4789;
};

struct VxlanStats {
    uint64_t rx = 0, tx = 0;
    uint64_t rx_bad_header = 0;      // too short, or the I flag clear
    uint64_t rx_other_vni = 0;
    uint64_t rx_unknown_remote = 0;  // from an address not among the remotes
    uint64_t tx_too_big = 0;         // would exceed the underlay's path MTU (never fragmented)
    uint64_t tx_errors = 0;
};

class VxlanEndpoint {
public:
    // Outer IPv4 (20) + UDP (8) + VXLAN (8) + the inner Ethernet header (14): what a frame
    // costs beyond its IP packet, so an inner MTU is the underlay's less 50.
    static constexpr uint32_t kOverhead = 50;
    static constexpr uint32_t kBatch = 64;
    static constexpr uint32_t kMaxFrame = 2048;

    // Binds the socket and learns each remote's path MTU. Null with *err on failure.
    static std::unique_ptr<VxlanEndpoint> open(const VxlanOptions& o, std::string* err);
    ~VxlanEndpoint();
    VxlanEndpoint(const VxlanEndpoint&) = delete;
    VxlanEndpoint& operator=(const VxlanEndpoint&) = delete;

    const VxlanOptions& options() const { return o_; }
    // The largest inner IP packet every remote can take: the smallest underlay path MTU
    // less kOverhead (RFC 7348 4.3: endpoints must not fragment).
    uint32_t inner_mtu() const { return inner_mtu_; }
    const VxlanStats& stats() const { return stats_; }

    // Queues a frame for remote r; sent by flush() (or when the batch is full).
    void send(size_t r, const uint8_t* frame, uint32_t len);
    void flush();
    // Takes up to kBatch waiting datagrams; f(remote, frame, len) for each valid one.
    uint32_t receive(FnRef<void(size_t, const uint8_t*, uint32_t)> f);
    // Sleeps until a datagram waits or timeout ns pass.
    void wait(Time timeout);

private:
    VxlanEndpoint() = default;
    VxlanOptions o_;
    int fd_ = -1;
    uint32_t inner_mtu_ = 1450;
    VxlanStats stats_;
    std::vector<sockaddr_in> to_;                 // one per remote
    std::vector<uint8_t> tx_buf_, rx_buf_;        // kBatch slots of 8 + kMaxFrame bytes
    std::vector<uint32_t> tx_len_, tx_to_;
    uint32_t tx_n_ = 0;
};

// "REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]]", as `usnet switch --uplink vxlan:...` takes
// it (one remote a spec). False with *err naming what is wrong.
bool parse_vxlan_spec(const std::string& spec, VxlanOptions* o, std::string* err);

}  // namespace usnet::link
