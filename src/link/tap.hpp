// The TAP backend: frames between usnet and the Linux kernel through a TAP device
// (IFF_TAP | IFF_NO_PI; IFF_VNET_HDR for checksum offload; IFF_MULTI_QUEUE for several
// queues). Frames are read in batches, each straight into a pool buffer; a TAP takes one
// frame a write(2). Every call is a raw system call: inside `usnet run` the libc names
// are the shim's.
#pragma once
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "buf/packet.hpp"
#include "link/pcap.hpp"
#include "usnet/env.hpp"
#include "usnet/tap.hpp"

namespace usnet::link {

struct TapStats {
    uint64_t rx_frames = 0, tx_frames = 0;
    uint64_t rx_too_long = 0;  // frames that did not fit a buffer (cut short by the read)
    uint64_t tx_errors = 0;    // frames the kernel refused (device down, malformed)
};

class TapDevice {
public:
    static constexpr uint32_t kBatch = 64;      // frames a receive() takes at most
    static constexpr uint32_t kMaxQueues = 16;

    // Attaches to the device, creating it if it is missing and CAP_NET_ADMIN allows. Null
    // on failure, with *err a sentence naming the device and what would fix it, and *code
    // the errno (EPERM: not permitted, EBUSY: in use, ENODEV/ENOENT: missing, EINVAL:
    // not a TAP).
    static std::unique_ptr<TapDevice> open(const TapOptions& o, std::string* err, int* code = nullptr);
    ~TapDevice();
    TapDevice(const TapDevice&) = delete;
    TapDevice& operator=(const TapDevice&) = delete;

    const std::string& name() const { return name_; }
    bool created() const { return created_; }  // this open made the device (it goes with us)
    bool vnet_hdr() const { return vnet_; }
    uint32_t queues() const { return uint32_t(q_.size()); }
    uint32_t kernel_mtu() const { return kernel_mtu_; }
    Mac kernel_mac() const { return kernel_mac_; }
    const TapStats& stats() const { return stats_; }

    // Reads what waits, up to `max` frames over the queues in turn. Each goes to
    // f(frame, cut) with its head at the Ethernet header and meta.csum_ok set when the
    // kernel vouches for its checksums; cut: longer than a buffer for max_frame bytes (so
    // only its start was read). Returns the frames read.
    uint32_t receive(buf::Pool& pool, uint32_t max_frame, FnRef<void(buf::PacketPtr, bool)> f, uint32_t max = kBatch);
    // Writes one frame (head at the Ethernet header). With meta.csum_partial the UDP
    // checksum holds only the pseudo-header sum and the virtio header asks the kernel to
    // finish it. False (counted) if the kernel refused the frame.
    bool transmit(buf::Packet& frame);
    // A frame that cannot be pushed into (a switch's ring): complete checksums.
    bool transmit(const uint8_t* frame, uint32_t len);
    // Sleeps until a frame waits, ring() is called (if rung), or timeout ns pass (kNever:
    // no limit). Returns whether a signal handler ran meanwhile (the sleep then ends early).
    // unblock: the signal mask to sleep under, set atomically by ppoll (null: the thread's).
    bool wait(Time timeout, bool rung = true, const sigset_t* unblock = nullptr);
    // wait(rung) in two steps: arm counts a sleeper (ring() from then on is heard), and
    // wait_armed(rung) sleeps and uncounts it.
    void arm();
    bool wait_armed(Time timeout, bool rung, const sigset_t* unblock);
    // Wakes a thread sleeping in wait(); a system call only when one sleeps.
    void ring();
    // A forked child's copy: closes its descriptors and leaves the device, still the
    // parent's, as it is. Nothing is read or written after this.
    void forget();
    // The queues' descriptors and the bell's.
    std::vector<int> fds() const {
        std::vector<int> v = q_;
        v.push_back(bell_);
        return v;
    }

private:
    TapDevice() = default;
    void capture(const uint8_t* frame, uint32_t len, bool partial);

    std::string name_;
    std::vector<int> q_;  // one descriptor a queue
    int bell_ = -1;       // eventfd that ring() writes
    std::atomic<uint32_t> sleepers_{0};
    uint32_t next_q_ = 0;
    bool vnet_ = false, offload_ = false, created_ = false;
    uint32_t kernel_mtu_ = 1500;
    Mac kernel_mac_;
    TapStats stats_;
    PcapWriter pcap_;
};

}  // namespace usnet::link
