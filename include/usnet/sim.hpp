// A simulated network: hosts (Stacks), Ethernet segments (a wire is a two-port segment,
// a switch any number), a virtual clock, seeded faults, and pcap capture. Everything is
// deterministic: the same seed and the same calls give a byte-identical run.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "usnet/call_lock.hpp"
#include "usnet/env.hpp"
#include "usnet/stack.hpp"
#include "usnet/tap.hpp"

namespace usnet::sim {

class ExternalPort;

struct LinkParams {
    Time latency = 50 * 1000;  // one way, per hop
    Time jitter = 0;           // uniform extra delay in [0, jitter]
    double loss = 0;           // probability a frame is dropped
    double duplicate = 0;      // probability a frame is delivered twice
    double reorder = 0;        // probability a frame is held back by an extra latency
};

// For a signal handler wrapper (usnet run's): a handler is running on this thread. A call
// of this thread blocked in a real-time world then ends as interrupted (EINTR, or a restart
// under SA_RESTART), even if the handler ran just before the call went to sleep.
void note_signal_handler() noexcept;

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

    // Ports whose hosts live in other processes (the hosts of a `usnet switch`): frames
    // the segment delivers to one go to its deliver(); frames it sent come in by inject().
    int add_external(int segment, const Mac& mac, ExternalPort* out);
    // A port for a link to another segment (a TAP, a VXLAN remote): the segment becomes a
    // learning bridge. Unicast frames for a MAC no host here has go to the uplink that MAC
    // was last seen behind, or to every uplink while unknown; broadcasts reach uplinks too.
    // Uplinks of one non-zero horizon (a VXLAN mesh) never forward to each other. Frames
    // from it come in by inject(local_only false); local_only frames still reach uplinks.
    int add_uplink(int segment, ExternalPort* out, int horizon = 0);
    void remove_external(int id);
    // local_only: reach this process's hosts only (the sender reached the others itself).
    void inject(int id, const uint8_t* frame, uint32_t len, bool local_only);
    // When the next frame in flight or timer is due (kNever: none).
    Time next_event() const;

    // Attach `host` to the `usnet switch` listening on the Unix socket `path`, as interface
    // ifname. Returns the ifindex, or -1 with *err saying why. At most one per network.
    int attach_switch(Stack& host, const std::string& path, const std::string& ifname, uint32_t mtu, Ip4 addr,
                      std::string* err);
    // Attach `host` to the TAP device o.name as interface ifname (mtu 0: the device's), a
    // link to this machine's kernel. The MAC is o.mac, or one derived from the device and
    // addr. Returns the ifindex, or -1 with *err saying why (missing, busy, not permitted).
    // At most one switch or TAP per network.
    int attach_tap(Stack& host, const TapOptions& o, const std::string& ifname, uint32_t mtu, Ip4 addr,
                   std::string* err);
    // Sleep, without the lock, until a frame arrives from the switch (or TAP) or timeout ns
    // pass.
    void wait_switch(Time timeout);
    // Attached to a switch or a TAP device: a link outside the process.
    bool has_switch() const;
    // The loop body of a thread that keeps a real-time world on a switch or TAP going while
    // no call runs (ARP, pings, timers): takes frames in and runs what is due, unless a call
    // holds the lock, then sleeps up to max_wait (less if a timer is due sooner). It never
    // sleeps on the link, so a receiving call is not raced for each frame. Call it without
    // the lock: while (!stop) net.pump(10 * kMs);
    void pump(Time max_wait);
    // In a forked child: the port stays the parent's. The child's switch interface goes
    // down (its sends fail with ENETUNREACH, as with a link down); loopback keeps working.
    void detach_switch();
    // The descriptors the switch or TAP link holds (a process that keeps the stack after
    // fork closes the program's others).
    std::vector<int> link_fds() const;

    Time now() const override;
    Time coarse_now() const override;
    void poll_input() override;
    Offered offer_input(const udp::DirectRx& want) override;
    // Follow real time instead of virtual time. Blocking calls then wait for real: with mu
    // (the lock every caller holds around its socket calls) they release it while they wait,
    // so other threads can send; without it, a call nothing could wake returns at once.
    void set_realtime(usnet::CallLock* mu);
    // In real time with mu: a blocked call looks for up to ns nanoseconds (0: never), without
    // the lock, before it sleeps (as Linux's SO_BUSY_POLL). Only on a switch or without an
    // outside link, and only with more than one CPU.
    void set_busy_poll(Time ns);
    // Busy polling before a wait outside the stack (the shim's epoll_wait, which then sleeps
    // in the kernel on the sockets' tokens): with the callers' lock held once, looks (the
    // lock let go) for up to `budget` ns, the busy-poll setting at most, until a frame waits,
    // another thread's call changed something or a (wrapped) signal handler ran, then
    // settles. Returns whether a handler ran. Only in real time, on a link cheap to look at.
    bool busy_wait_input(Time budget);
    bool run_until(FnRef<bool()> ready, Time deadline) override;
    bool run_until_input(FnRef<bool()> ready, Time deadline) override;
    bool take_interrupt() override;
    void settle_now() override;
    void run_for(Time d);

    struct Impl;

private:
    bool run_until_realtime(FnRef<bool()> ready, Time deadline, bool leave_input = false);
    std::unique_ptr<Impl> impl_;
};

// The far end of an external port.
class ExternalPort {
public:
    virtual ~ExternalPort() = default;
    virtual void deliver(const uint8_t* frame, uint32_t len) = 0;
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

// The world of a program under `usnet run`, from a small topology text (a file, flags):
//   addr 10.0.2.15/24          eth0's address (more lines: more addresses)
//   gateway 10.0.2.2 | none    default route, and the simulated gateway host
//   mtu 1500                   eth0's mtu
//   route 192.168.0.0/16 via 10.0.2.9 | route 10.9.0.0/16 dev eth0 | route 10.8.0.0/16 blackhole
//   switch /path/to/socket     attach eth0 to a `usnet switch` instead of a private wire
//   tap NAME                   attach eth0 to the TAP device NAME (a real link to the kernel)
//   pcap FILE                  capture eth0's frames (private wire or TAP)
//   seed 7                     the simulation's seed (ARP/port randomness)
// '#' starts a comment. Without lines, the default world.
struct WorldSpec {
    std::vector<std::pair<Ip4, int>> addrs;  // empty: 10.0.2.15/24 (a TAP needs one)
    // 0: none. On a TAP there is no simulated gateway: the default route goes via gateway
    // only when it was asked for (gateway_set, which a gateway line sets).
    Ip4 gateway = Ip4(10, 0, 2, 2);
    bool gateway_set = false;
    uint32_t mtu = 1500;
    bool mtu_set = false;                    // on a TAP, without it eth0 takes the device's mtu
    std::vector<RouteSpec> routes;           // ifindex 0 here means eth0
    std::string switch_path;
    TapOptions tap;                          // tap.name empty: no TAP
    std::string pcap;
    uint64_t seed = 1;
};
// Adds the text's lines to spec; false with *err naming the bad line.
bool parse_world(const std::string& text, WorldSpec* spec, std::string* err);
// The subset of iproute2 that changes a running host, as `usnet ip PID ...` sends it:
//   route add [blackhole|unreachable|prohibit] NET/N [via G] [dev IF] [src A] [metric M]
//   route del NET/N | link set IF mtu N | link set IF up|down | addr add|del A/N dev IF
// Returns 0 on success, 1 if the stack refused, 2 if the command is not understood.
int ip_command(Stack& host, const std::string& args);
// Builds it: the host (and, without a switch, the gateway on a private segment). Returns a
// world with a null net and *err set if the switch cannot be reached.
DefaultWorld build_world(const WorldSpec& spec, StackConfig host_cfg, std::string* err);

// `usnet switch`: a virtual Ethernet switch for hosts in other processes (each a program
// under `usnet run --switch`), with a simulated gateway on it. Frames between hosts go
// directly between their processes unless faults, delay or capture are on; then each goes
// through the switch, which applies them.
struct SwitchOptions {
    std::string socket_path;
    LinkParams params{.latency = 0};
    std::string pcap;                  // capture every frame on the switch
    Ip4 gateway = Ip4(10, 0, 2, 2);    // the gateway host's address (0: no gateway)
    int prefix = 24;
    uint64_t seed = 1;
    // Links to outside the segment: "tap:NAME" (a TAP device of this network namespace) or
    // "vxlan:REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]]" (RFC 7348 over UDP; one remote a
    // spec, several specs with one local endpoint share its socket). The segment's MTU is
    // the smallest they carry (a VXLAN underlay's less 50 bytes); hosts may not exceed it.
    std::vector<std::string> uplinks;
};
// Serves until stop becomes true (looked at least every 100 ms). Returns false with *err
// set if it cannot start (*uplink_failed: because an uplink could not be opened). log gets
// one line per event (start, a host attached or left, each uplink's counters at the end).
bool run_switch(const SwitchOptions& opt, const std::atomic<bool>& stop, std::string* err,
                const std::function<void(const std::string&)>& log, bool* uplink_failed = nullptr);

}  // namespace usnet::sim
