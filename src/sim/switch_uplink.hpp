// A `usnet switch`'s links to outside its segment (--uplink): a TAP device (the kernel of
// this machine, and whatever it bridges) or a VXLAN segment over UDP (other switches, Linux
// vxlan devices). Each is one or more uplink ports of the switch's segment, which learns the
// MACs behind them; a thread of the switch waits on each and injects what arrives.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "usnet/sim.hpp"

namespace usnet::sim {

class SwitchUplink {
public:
    virtual ~SwitchUplink() = default;
    // "tap:tap0", "vxlan:192.0.2.7:4789,vni=42" (several remotes: one line each).
    virtual std::string name() const = 0;
    // The largest IP packet it carries: the segment's hosts may not use a larger MTU.
    virtual uint32_t mtu() const = 0;
    // Adds its ports to the segment (under the switch's lock).
    virtual void attach(Network& net, int segment) = 0;
    // Sleeps until something arrives or timeout ns pass (without the lock).
    virtual void wait(Time timeout) = 0;
    // Injects what arrived into the segment (under the lock).
    virtual void take_in(Network& net) = 0;
    // Sends what the segment queued for it (under the lock).
    virtual void flush() = 0;
    // Its counters in a line, for the switch's log.
    virtual std::string stats() const = 0;
};

// Opens each "tap:NAME" and "vxlan:REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]]"; vxlan specs
// with the same local endpoint share one socket (and must share the VNI). An empty result
// with *err on failure.
std::vector<std::unique_ptr<SwitchUplink>> open_uplinks(const std::vector<std::string>& specs, std::string* err);

}  // namespace usnet::sim
