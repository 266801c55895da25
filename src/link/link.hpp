// The link layer: interfaces (loopback, Ethernet ports), Ethernet framing, the ARP
// neighbour cache, and multicast group membership with its IGMP reports.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "buf/packet.hpp"
#include "usnet/types.hpp"

namespace usnet {
class StackImpl;
}

namespace usnet::link {

// Where an Ethernet interface's frames go (a simulated wire, a switch, a TAP device).
struct Port {
    virtual ~Port() = default;
    virtual void transmit(buf::PacketPtr frame) = 0;
};

struct IfAddr {
    Ip4 addr;
    int prefix = 0;
    Ip4 bcast;
    bool secondary = false;  // same subnet as an earlier (primary) address
    Ip4 ifa_broadcast;       // SIOCGIFBRDADDR and IFA_BROADCAST: 0 unless given (brd, SIOCSIFBRDADDR...)
};

// NUD_INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED: a used STALE entry goes to DELAY,
// then PROBE (unicast requests to the cached address), then REACHABLE or FAILED.
enum class NeighState : uint8_t { Incomplete, Reachable, Stale, Delay, Probe, Failed };

struct Neighbour {
    Ip4 ip;
    Mac mac;
    NeighState state = NeighState::Incomplete;
    int probes = 0;
    Time timer = kNever;  // next retry (Incomplete) or when reachability lapses (Reachable)
    Time used = 0;
    Time updated = 0;     // last change of state (neigh->updated), for the forced GC
    buf::Queue pending;   // packets (head at IP header) waiting for resolution
    uint32_t pending_bytes = 0;
};

struct McGroup {
    Ip4 group;
    int users = 0;
};

struct Interface {
    int ifindex = 0;
    std::string name;
    uint32_t mtu = 1500;
    bool up = true;
    bool loopback = false;
    Mac mac;
    std::vector<IfAddr> addrs;  // first is primary
    Port* port = nullptr;       // null for loopback
    bool tx_csum_offload = false;  // the port completes UDP checksums (meta.csum_partial)
    std::unique_ptr<Port> owned_port;
    std::vector<Neighbour> neigh;
    uint64_t pending_mem = 0;   // buffer bytes of every neighbour's pending packets
    std::vector<McGroup> mc;
    bool in_group(Ip4 g) const;
    // What SIOCSIFFLAGS may change (dev->flags' IFF_DEBUG ... IFF_AUTOMEDIA, gflags'
    // IFF_PROMISC/IFF_ALLMULTI); -1: the device's defaults (IFF_MULTICAST on Ethernet).
    int user_flags = -1;
    uint32_t txqlen = 1000;  // dev->tx_queue_len (DEFAULT_TX_QUEUE_LEN)
};

// Linux neighbour defaults (net.ipv4.neigh.default.*).
constexpr Time kArpRetrans = 1 * kSec;
constexpr int kArpMcastProbes = 3;
constexpr int kArpUcastProbes = 3;
constexpr Time kArpDelayFirstProbe = 5 * kSec;
constexpr Time kArpReachable = 30 * kSec;
constexpr Time kArpGcStale = 60 * kSec;
constexpr uint32_t kArpUnresQlenBytes = 212992;
// gc_thresh3: the table's hard limit; a full table first drops entries that failed or did
// not change for 5 s (neigh_forced_gc). Here per interface.
constexpr size_t kNeighMax = 1024;
constexpr Time kNeighGcAge = 5 * kSec;
// usnet's own bound on buffers waiting for ARP across an interface's neighbours, so that
// replies to many spoofed on-link senders cannot hold kNeighMax * unres_qlen_bytes.
constexpr uint64_t kArpUnresIfaceBytes = 4 << 20;

class Link {
public:
    explicit Link(StackImpl& s) : s_(s) {}

    // Down: a packet whose head is at the IPv4 header, for next hop `nexthop` on ifc.
    void output(Interface& ifc, Ip4 nexthop, buf::PacketPtr pkt, bool l2_broadcast);
    // Up: a frame arriving from ifc's port.
    void receive_frame(Interface& ifc, buf::PacketPtr frame);
    // Loopback transmit: queued like netif_rx and delivered by run_backlog().
    // dev_ifindex: the device a looped-back broadcast/multicast copy was sent on (dev_loopback_xmit).
    void loopback_xmit(buf::PacketPtr pkt, int dev_ifindex = 0);
    // Deliver what loopback queued (the kernel's softirq on return from the syscall).
    void run_backlog() {
        if (!draining_ && !backlog_.empty()) run_backlog_now();  // an inner call: the outer loop picks up what it queues
    }

    void timers(Time now);
    Time next_deadline() const;

    // Multicast membership of the interface (counted per joining socket); sends IGMPv2
    // reports on the first join and a leave on the last.
    void mc_join(Interface& ifc, Ip4 group);
    void mc_leave(Interface& ifc, Ip4 group);

    // The datagram path, compiled with and without its trace points (USNET_TRACED); each
    // copy calls the next layer's copy of the same kind.
    template <bool Tr> void output_t(Interface& ifc, Ip4 nexthop, buf::PacketPtr pkt, bool l2_broadcast);
    template <bool Tr> void receive_frame_t(Interface& ifc, buf::PacketPtr&& frame);
    template <bool Tr> void run_backlog_t();

private:
    void run_backlog_now();
    void arp_input(Interface& ifc, buf::PacketPtr pkt);
    void arp_send(Interface& ifc, uint16_t op, Ip4 tip, const Mac& tha, const Mac& dst, Ip4 sip);
    void neigh_fail(Interface& ifc, Neighbour& n);
    // A new entry, or null when the table is full and nothing can be reclaimed.
    Neighbour* neigh_create(Interface& ifc, Ip4 ip);
    void queue_pending(Interface& ifc, Neighbour& n, buf::PacketPtr pkt);
    buf::PacketPtr pop_pending(Interface& ifc, Neighbour& n);
    void frame_out(Interface& ifc, const Mac& dst, uint16_t ethertype, buf::PacketPtr pkt);
    void igmp_send(Interface& ifc, uint8_t type, Ip4 group);

    StackImpl& s_;
    buf::Queue backlog_;
    bool draining_ = false;
};

}  // namespace usnet::link
