// Per-stack counters in the shape of /proc/net/snmp (Ip, Icmp, Udp) plus usnet's own
// link-layer counters. Names match the kernel's so `nstat`-style output reads the same.
#pragma once
#include <cstdint>

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
    X(ArpQueueDrops) X(IgmpReportsSent) X(IgmpLeavesSent)

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
};

// Calls f(section, name, value) for every counter, in /proc/net/snmp order.
template <class F>
void for_each_counter(const Counters& c, F&& f) {
#define USNET_VISIT(sec, field) f(#sec, #field, c.field);
#define USNET_V_IP(n) USNET_VISIT(Ip, ip.n)
#define USNET_V_ICMP(n) USNET_VISIT(Icmp, icmp.n)
#define USNET_V_UDP(n) USNET_VISIT(Udp, udp.n)
#define USNET_V_LINK(n) USNET_VISIT(Link, link.n)
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
