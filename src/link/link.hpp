// The link layer: interfaces (loopback, Ethernet ports), Ethernet framing, the ARP
// neighbour cache, and multicast group membership with its IGMP reports.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <span>
#include <sys/uio.h>

#include "buf/packet.hpp"
#include "core/deadline.hpp"
#include "wire/icmp.hpp"
#include "usnet/types.hpp"

namespace usnet {
class StackImpl;
}
namespace usnet::udp {
struct DirectRx;
}

namespace usnet::link {

// Where an Ethernet interface's frames go (a simulated wire, a switch, a TAP device).
struct Port {
    virtual ~Port() = default;
    virtual void transmit(buf::PacketPtr frame) = 0;
    // A port that can take a frame as its headers and the program's payload buffers, copied
    // once into the wire (see Link::output_parts); csum_partial as meta.csum_partial.
    bool takes_parts = false;
    virtual void transmit_parts(const uint8_t* /*hdr*/, uint32_t /*hlen*/, std::span<const iovec> /*payload*/,
                                uint32_t /*plen*/, bool /*csum_partial*/) {}
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
    Deadline timer;  // next retry (Incomplete) or when reachability lapses (Reachable)
    Time used = 0;
    Time updated = 0;     // last change of state (neigh->updated), for the forced GC
    buf::Queue pending;   // packets (head at IP header) waiting for resolution
    uint32_t pending_bytes = 0;
};

// MCAST_EXCLUDE / MCAST_INCLUDE, as the socket API numbers them (and as sf_count indexes).
constexpr int kMcExclude = 0, kMcInclude = 1;

// One source named by some joining socket's filter: how many sockets of each mode name it.
struct McSource {
    Ip4 addr;
    int count[2] = {0, 0};
};

// The interface's membership of a group (struct ip_mc_list): the sockets that joined, how
// many of them filter in each mode, and the union of their source lists.
struct McGroup {
    Ip4 group;
    int users = 0;
    int sf_count[2] = {0, 0};
    std::vector<McSource> sources;
    // The interface's filter (RFC 3376 3.2): EXCLUDE while any socket excludes, with the
    // sources every excluding socket excludes and no including socket includes; else
    // INCLUDE, with every source some socket includes. Sorted.
    bool exclude() const { return sf_count[kMcExclude] > 0; }
    void filter(std::vector<Ip4>* out) const;
    // ip_check_mc_rcu: does the filter let a datagram from src in (src 0: yes)?
    bool allows(Ip4 src) const;
};

// One record of an IGMPv3 report, its sources held (for a retransmission).
struct McRecord {
    uint8_t type = 0;
    Ip4 group;
    std::vector<uint32_t> sources;  // host order
};
struct McRetransmit {
    Deadline due;
    Ip4 group;
    std::vector<McRecord> recs;
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
    // 224.0.0.1 is joined by every interface when it comes up (ip_mc_up), in EXCLUDE mode.
    std::vector<McGroup> mc{McGroup{Ip4(224, 0, 0, 1), 1, {1, 0}, {}}};
    std::vector<McRetransmit> mc_rtx;  // state-change reports still to be sent again
    Deadline mc_query_due;             // when the answer to a query goes out
    bool mc_query_general = false;     // it covers every group, else mc_query_groups
    std::vector<Ip4> mc_query_groups;
    bool in_group(Ip4 g) const;
    // What SIOCSIFFLAGS may change (dev->flags' IFF_DEBUG ... IFF_AUTOMEDIA, gflags'
    // IFF_PROMISC/IFF_ALLMULTI); -1: the device's defaults (IFF_MULTICAST on Ethernet).
    int user_flags = -1;
    uint32_t txqlen = 1000;  // dev->tx_queue_len (DEFAULT_TX_QUEUE_LEN)
    const McGroup* group(Ip4 g) const;
    // ip_check_mc_rcu: joined, and the source passes the interface's filter.
    bool mc_allows(Ip4 g, Ip4 src) const {
        const McGroup* m = group(g);
        return m && m->allows(src);
    }
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
// IGMPv3's unsolicited report interval (IGMP_V3_UNSOLICITED_REPORT_INTERVAL, 1 s).
constexpr Time kIgmpUnsolicitedInterval = 1 * kSec;

class Link {
public:
    explicit Link(StackImpl& s) : s_(s) {}

    // Down: a packet whose head is at the IPv4 header, for next hop `nexthop` on ifc.
    void output(Interface& ifc, Ip4 nexthop, buf::PacketPtr pkt, bool l2_broadcast);
    // The datagram path's short cut, in two steps so that nothing changes unless it is
    // taken: the neighbour a unicast IPv4 packet to nexthop would go to at once, unchanged,
    // through a port that takes parts (null: output() must decide); then the frame out
    // through it, as output() would send it: h holds the IPv4 header and what follows it.
    Neighbour* parts_neighbour(Interface& ifc, Ip4 nexthop);
    void output_parts(Interface& ifc, Neighbour& n, buf::HeaderStack& h, std::span<const iovec> payload, uint32_t plen,
                      bool csum_partial);
    // Up: a frame arriving from ifc's port.
    void receive_frame(Interface& ifc, buf::PacketPtr frame);
    // receive_frame()'s short cut for a call receiving on a socket with nothing queued: the
    // frame, still in the port's memory, handed up to the call's buffers if receive_frame()
    // would queue it on that socket at once (Udp::input_direct). False, with nothing changed,
    // when receive_frame() must take it. csum_ok: as meta.csum_ok.
    bool input_direct(Interface& ifc, std::span<const uint8_t> frame, bool csum_ok, const udp::DirectRx& want);
    // Loopback transmit: queued like netif_rx and delivered by run_backlog().
    // dev_ifindex: the device a looped-back broadcast/multicast copy was sent on (dev_loopback_xmit).
    void loopback_xmit(buf::PacketPtr pkt, int dev_ifindex = 0);
    // skb_mac_header of a received IPv4 packet: the Ethernet header it came in with on dev
    // (lo's carries zero addresses), rebuilt in the headroom before its IPv4 header, since a
    // reassembled datagram's buffer does not hold its first fragment's. Null without room.
    const uint8_t* rx_mac_header(buf::Packet& p, const Interface* dev) const;
    // Deliver what loopback queued (the kernel's softirq on return from the syscall).
    void run_backlog() {
        if (!draining_ && !backlog_.empty()) run_backlog_now();  // an inner call: the outer loop picks up what it queues
    }

    void timers(Time now);
    Time next_deadline() const;

    // Multicast membership of the interface, counted per joining socket, each socket with
    // its filter mode and sources (ip_mc_inc_group + ip_mc_add_src, ip_mc_del_src +
    // ip_mc_dec_group). A change of the interface's filter sends an IGMPv3 state-change
    // report (RFC 3376 5.1; never for 224.0.0.1).
    void mc_join(Interface& ifc, Ip4 group, int mode = kMcExclude, std::span<const Ip4> srcs = {});
    void mc_leave(Interface& ifc, Ip4 group, int mode = kMcExclude, std::span<const Ip4> srcs = {});
    // One socket's filter changes from (old_mode, old_srcs) to (mode, srcs).
    void mc_change(Interface& ifc, Ip4 group, int old_mode, std::span<const Ip4> old_srcs, int mode,
                   std::span<const Ip4> srcs);
    // igmp_rcv: an IGMP message (from its header on) that arrived on ifc.
    void igmp_input(Interface& ifc, const uint8_t* p, size_t len);

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
    static Neighbour* neigh_find(Interface& ifc, Ip4 ip);
    // A new entry, or null when the table is full and nothing can be reclaimed.
    Neighbour* neigh_create(Interface& ifc, Ip4 ip);
    void queue_pending(Interface& ifc, Neighbour& n, buf::PacketPtr pkt);
    buf::PacketPtr pop_pending(Interface& ifc, Neighbour& n);
    void frame_out(Interface& ifc, const Mac& dst, uint16_t ethertype, buf::PacketPtr pkt);
    // The sockets' counts of one filter added (sign 1) or taken away (-1).
    static void mc_count(McGroup& g, int mode, std::span<const Ip4> srcs, int sign);
    // Reports the change from the filter (was_exclude, before) to g's (or INCLUDE {} once gone).
    void mc_report(Interface& ifc, Ip4 group, bool was_exclude, const std::vector<Ip4>& before, const McGroup* g);
    void igmpv3_send(Interface& ifc, std::span<const wire::Igmpv3Record> recs);
    void mc_send_records(Interface& ifc, const std::vector<McRecord>& recs);
    void mc_current_state(Interface& ifc);  // the answer to a query
    void mc_timers(Interface& ifc, Time now);

    StackImpl& s_;
    buf::Queue backlog_;
    bool draining_ = false;
};

}  // namespace usnet::link
