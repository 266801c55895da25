// A simulated network: hosts (Stacks), Ethernet segments (a wire is a two-port segment,
// a switch any number), a virtual clock, seeded faults, and pcap capture. Everything is
// deterministic: the same seed and the same calls give a byte-identical run.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "usnet/env.hpp"
#include "usnet/stack.hpp"

namespace usnet::sim {

struct LinkParams {
    Time latency = 50 * 1000;  // one way, per hop
    Time jitter = 0;           // uniform extra delay in [0, jitter]
    double loss = 0;           // probability a frame is dropped
    double duplicate = 0;      // probability a frame is delivered twice
    double reorder = 0;        // probability a frame is held back by an extra latency
};

class Network : public Env {
public:
    explicit Network(uint64_t seed = 1);
    ~Network() override;
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    // A host with lo (127.0.0.1/8) already up.
    Stack& add_host(const std::string& name, StackConfig cfg = {});
    // A segment (switch). Frames reach the port whose MAC they name, or every port.
    int add_segment(const std::string& name, LinkParams p = {});
    // Attach host to segment as interface `ifname`; returns its ifindex.
    int attach(Stack& host, int segment, const std::string& ifname, uint32_t mtu = 1500);
    void set_params(int segment, LinkParams p);
    // Cut (or restore) one host's port on a segment: a partition.
    void set_partitioned(Stack& host, int segment, bool cut);
    // Write every frame on the segment to a pcap file (Ethernet link type).
    bool capture(int segment, const std::string& path);
    uint64_t frames_delivered() const;
    uint64_t frames_dropped() const;

    Time now() const override;
    // Follow real time instead of virtual time. Blocking calls then wait for real: with mu
    // (the lock every caller holds around its socket calls) they release it while they wait,
    // so other threads can send; without it, a call nothing could wake returns at once.
    void set_realtime(std::recursive_mutex* mu);
    bool run_until(FnRef<bool()> ready, Time deadline) override;
    void settle_now() override;
    void run_for(Time d);

    struct Impl;

private:
    bool run_until_realtime(FnRef<bool()> ready, Time deadline);
    std::unique_ptr<Impl> impl_;
};

// The ready-made world: host "host" with lo 127.0.0.1/8 and eth0 10.0.2.15/24 (mtu 1500),
// default route via 10.0.2.2; "gateway" 10.0.2.2 answers ARP and ping, answers UDP sent to
// itself with ICMP port unreachable, and drops what it would have to forward.
struct DefaultWorld {
    std::unique_ptr<Network> net;
    Stack* host = nullptr;
    Stack* gateway = nullptr;
    int segment = 0;
};
DefaultWorld make_default_world(uint64_t seed = 1, StackConfig host_cfg = {});

}  // namespace usnet::sim
