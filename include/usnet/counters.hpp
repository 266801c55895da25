// Per-stack counters in the shape of /proc/net/snmp (Ip, Icmp, Udp) plus usnet's own
// link-layer counters. Names match the kernel's so `nstat`-style output reads the same.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace usnet {

#define USNET_IP_COUNTERS(X)                                                                       \
    X(InReceives) X(InHdrErrors) X(InAddrErrors) X(ForwDatagrams) X(InUnknownProtos) X(InDiscards) \
    X(InDelivers) X(OutRequests) X(OutDiscards) X(OutNoRoutes) X(ReasmTimeout) X(ReasmReqds)       \
    X(ReasmOKs) X(ReasmFails) X(FragOKs) X(FragFails) X(FragCreates) X(InCsumErrors) X(InTruncatedPkts)
#define USNET_ICMP_COUNTERS(X)                                                                      \
    X(InMsgs) X(InErrors) X(InCsumErrors) X(InDestUnreachs) X(InTimeExcds) X(InParmProbs)            \
    X(InSrcQuenchs) X(InRedirects) X(InEchos) X(InEchoReps) X(OutMsgs) X(OutErrors)                 \
    X(OutRateLimitGlobal) X(OutRateLimitHost) X(OutDestUnreachs) X(OutTimeExcds) X(OutEchos) X(OutEchoReps)
#define USNET_UDP_COUNTERS(X)                                                                      \
    X(InDatagrams) X(NoPorts) X(InErrors) X(OutDatagrams) X(RcvbufErrors) X(SndbufErrors)          \
    X(InCsumErrors) X(IgnoredMulti) X(MemErrors)
#define USNET_LINK_COUNTERS(X)                                                                     \
    X(RxFrames) X(TxFrames) X(RxDropped) X(ArpRequestsSent) X(ArpRepliesSent) X(ArpResolveFailed)  \
    X(ArpQueueDrops) X(IgmpReportsSent) X(IgmpLeavesSent) X(TxDropped) X(RxDirect) X(TxDirect)

// Why the stack dropped (or refused) a datagram it received or queued, beyond the snmp
// counters above: each has a count, and a sentence for `usnet run --explain`.
#define USNET_DROP_REASONS(X)                                                                      \
    X(NoSocket, "no socket is bound to the destination port; ICMP port unreachable sent")          \
    X(PeerFiltered, "the sockets on that port are connected to other peers; ICMP port unreachable sent") \
    X(RcvbufFull, "the socket's receive buffer (SO_RCVBUF) is full")                               \
    X(SocketFilter, "the socket's BPF filter (SO_ATTACH_FILTER) returned 0 for it")              \
    X(BadChecksum, "the UDP checksum does not match the data")                                    \
    X(BadIpHeader, "the IPv4 header is malformed or its checksum does not match")                 \
    X(NotForUs, "it is addressed to another host and forwarding is off (ip_error)")               \
    X(NotJoined, "it is for a multicast group this host has not joined")                          \
    X(ReassemblyTimeout, "its fragments did not all arrive within 30 s")                           \
    X(ArpFailed, "the next hop did not answer ARP; the sender got EHOSTUNREACH")                   \
    X(TtlExpired, "its TTL ran out here while being forwarded; ICMP time exceeded sent")          \
    X(Blackhole, "the route to its destination is a blackhole (forwarding)")                     \
    X(LinkDown, "it arrived on an interface that is down")                                         \
    X(RuntFrame, "the frame is shorter than an Ethernet header (eth_type_trans)")                  \
    X(OtherHost, "the frame is for another Ethernet address: not ours, not broadcast, not a joined group (PACKET_OTHERHOST)") \
    X(FrameTooLong, "the frame is longer than the interface's MTU allows")                         \
    X(UnknownEthertype, "the frame carries neither IPv4 nor ARP (no packet handler)")              \
    X(BadArp, "the ARP packet is malformed, not Ethernet/IPv4, or from a multicast or broadcast sender (arp_rcv, arp_process)") \
    X(TruncatedIp, "the IPv4 total length is longer than the frame (InTruncatedPkts)")            \
    X(Martian, "a martian: its source or destination cannot appear on this interface (ip_route_input_slow)") \
    X(BadFragment, "the fragment overlaps or repeats another, ends beyond 64 KiB, or its queue holds too many (ip_frag_queue)") \
    X(ReassemblyMemory, "reassembly memory is full (net.ipv4.ipfrag_high_thresh, ip_defrag)")     \
    X(UnknownProtocol, "no handler for its IP protocol; ICMP protocol unreachable sent")           \
    X(BadUdpHeader, "the UDP length field does not fit the datagram (__udp4_lib_rcv)")             \
    X(IgnoredMulti, "a broadcast or multicast datagram for a port no socket listens on (UdpIgnoredMulti)") \
    X(BadIcmp, "the ICMP message is truncated, quotes no valid header, or its checksum does not match (icmp_rcv)") \
    X(IcmpUnhandled, "an ICMP type this host does not act on (it answers echo and takes echo replies and errors)") \
    X(EchoIgnored, "an echo request to a broadcast or multicast address (net.ipv4.icmp_echo_ignore_broadcasts)") \
    X(IcmpNoSocket, "an ICMP error or echo reply that matches no socket of this host")            \
    X(NeighTableFull, "the neighbour table is full (gc_thresh3: 1024 entries an interface) and none could be reclaimed") \
    X(ArpQueueFull, "too much is waiting for ARP (unres_qlen_bytes a neighbour, 4 MiB an interface); the oldest went") \
    X(NoRouteBack, "an echo request from a sender this host has no route to: no reply can be sent (icmp_reply)")

enum class DropReason : uint8_t {
#define USNET_DROP_ENUM(name, text) name,
    USNET_DROP_REASONS(USNET_DROP_ENUM)
#undef USNET_DROP_ENUM
        Count
};
const char* drop_name(DropReason r);
const char* drop_text(DropReason r);

#define USNET_COUNTER_FIELD(name) uint64_t name = 0;
struct IpCounters { USNET_IP_COUNTERS(USNET_COUNTER_FIELD) };
struct IcmpCounters { USNET_ICMP_COUNTERS(USNET_COUNTER_FIELD) };
struct UdpCounters { USNET_UDP_COUNTERS(USNET_COUNTER_FIELD) };
struct LinkCounters { USNET_LINK_COUNTERS(USNET_COUNTER_FIELD) };
#undef USNET_COUNTER_FIELD

struct Counters {
    IpCounters ip;
    IcmpCounters icmp;
    UdpCounters udp;
    LinkCounters link;
    uint64_t drops[size_t(DropReason::Count)] = {};
};

// nstat-style text: one "IpInReceives 12" line per non-zero counter, then the drop reasons.
std::string counters_text(const Counters& c);

// Calls f(section, name, value) for every counter, in /proc/net/snmp order.
template <class F>
void for_each_counter(const Counters& c, F&& f) {
#define USNET_VISIT(sec, obj, n) f(#sec, #n, c.obj.n);
#define USNET_V_IP(n) USNET_VISIT(Ip, ip, n)
#define USNET_V_ICMP(n) USNET_VISIT(Icmp, icmp, n)
#define USNET_V_UDP(n) USNET_VISIT(Udp, udp, n)
#define USNET_V_LINK(n) USNET_VISIT(Link, link, n)
    USNET_IP_COUNTERS(USNET_V_IP)
    USNET_ICMP_COUNTERS(USNET_V_ICMP)
    USNET_UDP_COUNTERS(USNET_V_UDP)
    USNET_LINK_COUNTERS(USNET_V_LINK)
#undef USNET_V_IP
#undef USNET_V_ICMP
#undef USNET_V_UDP
#undef USNET_V_LINK
#undef USNET_VISIT
}

}  // namespace usnet
