// UDP (net/ipv4/udp.c): bind conflicts, demux, receive accounting, ICMP errors, output.
#include "udp/udp.hpp"

#include <linux/if_packet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "core/stack_impl.hpp"
#include "wire/bytes.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet::udp {

uint32_t truesize_for(uint32_t payload) {
    // Measured on Linux 6.x over lo: head = payload + 379 bytes of headers and
    // skb_shared_info, rounded up to the small-head cache (576) or a kmalloc size, plus
    // 256 for struct sk_buff; from 16 KiB on the data lives in page fragments.
    const uint32_t need = payload + 379;
    if (need <= 576) return 576 + 256;
    for (uint32_t cls = 1024; cls <= 8192; cls *= 2)
        if (need <= cls) return cls + 256;
    if (need < 16384) return 16384 + 256;
    return payload + 832;
}

// ---- port table (udp_lib_get_port / udp_lib_lport_inuse) ----

static bool addrs_overlap(const DgramSock* a, const DgramSock* b) {
    return a->rcv_saddr.any() || b->rcv_saddr.any() || a->rcv_saddr == b->rcv_saddr;
}

// udp_lib_lport_inuse's test of one other socket: 0 no overlap, 1 shares (both
// SO_REUSEPORT), 2 conflicts.
static int overlap_verdict(const DgramSock* sk, const DgramSock* s, bool ident_mode) {
    if (s->reuseaddr && sk->reuseaddr) return 0;
    if (ident_mode) return 2;
    if (s->bound_dev_if && sk->bound_dev_if && s->bound_dev_if != sk->bound_dev_if) return 0;
    if (!addrs_overlap(sk, s)) return 0;
    return s->reuseport && sk->reuseport ? 1 : 2;
}

// How a trace names another socket on the port: "fd 4 (127.0.0.1:7083 SO_REUSEPORT)".
static void trace_other(trace::Tracer* tr, const DgramSock* s, const char* verdict) {
    if (!tr) return;
    tr->step(trace::P::PortSocket, {tr->shown(s->fd), s->rcv_saddr, s->num,
                                    std::string(s->reuseaddr ? " SO_REUSEADDR" : "") + (s->reuseport ? " SO_REUSEPORT" : ""),
                                    s->bound_dev_if ? " dev " + std::to_string(s->bound_dev_if) : std::string(), verdict});
}

static const char* kVerdicts[] = {"no overlap", "both SO_REUSEPORT: shared",
                                  "overlaps -> in use"};

bool PortTable::conflicts(const DgramSock* sk, uint16_t port, bool* join_group, trace::Tracer* tr) const {
    if (!ident_mode && !sk->rcv_saddr.any()) {
        // udp_lib_get_port: a bind to a specific address on a crowded primary slot (more
        // than 10 sockets; inet_use_hash2_on_bind) searches the second hash instead: the
        // chain of sockets on this exact address first, then the wildcard chain, each
        // newest first and decided by its first overlapping socket. Linux's primary slot
        // also holds colliding ports and other namespaces' sockets; here it is the port.
        int count = 0;
        for_port(port, [&](const DgramSock*) { ++count; });
        if (count > 10) {
            if (tr) tr->step(trace::P::PortSecondary, {count, sk->rcv_saddr, port, port});
            trace::Indent in2(tr);
            for (const Ip4 want : {sk->rcv_saddr, Ip4()}) {
                const DgramSock* first = nullptr;
                for_port(port, [&](const DgramSock* s) {
                    if (s == sk || s->rcv_saddr != want || !overlap_verdict(sk, s, false)) return;
                    if (!first || s->lookup_seq > first->lookup_seq) first = s;
                });
                if (first) {
                    const int v = overlap_verdict(sk, first, false);
                    trace_other(tr, first, kVerdicts[v]);
                    if (v == 2) return true;
                    *join_group = true;
                    return false;
                }
            }
            return false;
        }
    }
    if (tr) {
        int others = 0;
        for_port(port, [&](const DgramSock* s) { others += s != sk; });
        tr->step(trace::P::PortPrimary, {others, port});
    }
    trace::Indent in2(tr);
    // Every socket on the port is looked at: one that shares (both SO_REUSEPORT) does not end
    // the walk, a plain owner further on still conflicts (as the 6.18 kernel this was checked
    // against does; some builds stop at the first REUSEPORT match).
    bool share = false;
    for (DgramSock* s = buckets_[port & kMask]; s; s = s->port_next) {
        if (s == sk || s->num != port) continue;
        const int v = overlap_verdict(sk, s, ident_mode);
        trace_other(tr, s, kVerdicts[v]);
        if (v == 2) return true;
        share |= v == 1;
    }
    *join_group = share;
    return false;
}

void PortTable::insert(DgramSock* sk) {
    // New sockets go to the head of the chain: among equal matches the newest wins.
    auto& head = buckets_[sk->num & kMask];
    sk->port_next = head;
    head = sk;
    sk->bind_seq = ++seq_;
    sk->lookup_seq = sk->bind_seq;
    sk->reuseport_group = 0;
    if (!sk->reuseport) return;
    for (DgramSock* s = sk->port_next; s; s = s->port_next) {
        if (s->num == sk->num && s->reuseport && s->reuseport_group && s->rcv_saddr == sk->rcv_saddr &&
            s->bound_dev_if == sk->bound_dev_if) {
            sk->reuseport_group = s->reuseport_group;
            return;
        }
    }
    sk->reuseport_group = next_group_++;
}

bool PortTable::get_port(DgramSock* sk, uint16_t snum, uint16_t lo, uint16_t hi, uint64_t rnd, trace::Tracer* tr) {
    bool join = false;
    if (snum) {
        if (conflicts(sk, snum, &join, tr)) {
            if (tr) tr->step(trace::P::PortInUse, {snum});
            return false;
        }
        if (tr) tr->step(trace::P::PortFree, {snum, join ? " (shared under SO_REUSEPORT)" : ""});
        sk->num = snum;
        insert(sk);
        return true;
    }
    if (ident_mode) {
        // ping_get_port walks identifiers upward from a rover, skipping 0.
        for (uint32_t i = 0; i < 65536; ++i) {
            rover_ = uint16_t(rover_ + 1);
            if (!rover_) continue;
            if (!conflicts(sk, rover_, &join)) {
                sk->num = rover_;
                insert(sk);
                return true;
            }
        }
        return false;
    }
    const uint32_t remaining = uint32_t(hi) - lo + 1;
    const uint32_t start = uint32_t(rnd % remaining);
    for (uint32_t i = 0; i < remaining; ++i) {
        const uint16_t port = uint16_t(lo + (start + i) % remaining);
        join = false;
        if (!conflicts(sk, port, &join)) {
            sk->num = port;
            insert(sk);
            return true;
        }
    }
    return false;
}

void PortTable::unhash(DgramSock* sk) {
    if (!sk->num) return;
    DgramSock** pp = &buckets_[sk->num & kMask];
    while (*pp && *pp != sk) pp = &(*pp)->port_next;
    if (*pp) *pp = sk->port_next;
    sk->port_next = nullptr;
    sk->num = 0;
    sk->reuseport_group = 0;
}

// ---- demux ----

// compute_score: 2 for PF_INET, 4 each for a matching peer address, peer port and bound
// device. Linux adds 1 when the socket last ran on this CPU; with one CPU here that never
// tells sockets apart.
static int score(const DgramSock* s, Ip4 saddr, uint16_t sport, int dif) {
    int sc = 2;
    if (!s->daddr.any()) {
        if (s->daddr != saddr) return -1;
        sc += 4;
    }
    if (s->dport) {
        if (s->dport != sport) return -1;
        sc += 4;
    }
    if (s->bound_dev_if) {
        if (s->bound_dev_if != dif) return -1;
        sc += 4;
    }
    return sc;
}

// The trace of a lookup: each chain udp4_lib_lookup2 walks, with every candidate's score.
static void trace_lookup(StackImpl& st, PortTable& ports, Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif) {
    trace::Tracer* tr = st.tracer;
    USNET_TRACE(st.tracer, UdpLookup, saddr, sport, daddr, dport, dif);
    USNET_TRACE_INDENT(st.tracer);
    for (const Ip4 want : {daddr, Ip4()}) {
        std::string none = " none";
        ports.for_port(dport, [&](DgramSock* s) { if (s->rcv_saddr == want) none.clear(); });
        USNET_TRACE(st.tracer, UdpLookup2, want, dport, none);
        USNET_TRACE_INDENT(st.tracer);
        bool any_match = false;
        ports.for_port(dport, [&](DgramSock* s) {
            if (s->rcv_saddr != want) return;
            const int sc = score(s, saddr, sport, dif);
            any_match = any_match || sc >= 0;
            std::string desc = s->rcv_saddr.str() + ":" + std::to_string(s->num);
            if (s->dport) desc += " connected to " + s->daddr.str() + ":" + std::to_string(s->dport);
            if (s->bound_dev_if) desc += " on device " + std::to_string(s->bound_dev_if);
            if (s->reuseport) desc += " SO_REUSEPORT";
            std::string why;
            if (sc < 0) {
                if (!s->daddr.any() && s->daddr != saddr) why = " (its peer " + s->daddr.str() + " is not the sender " + saddr.str() + ")";
                else if (s->dport && s->dport != sport) why = " (its peer port " + std::to_string(s->dport) + " is not the sender's " + std::to_string(sport) + ")";
                else why = " (bound to device " + std::to_string(s->bound_dev_if) + ", the datagram came in on " + std::to_string(dif) + ")";
            }
            tr->step(trace::P::UdpScore, {tr->shown(s->fd), desc, sc, why});
        });
        if (any_match && !want.any()) break;  // a match on the address's own chain ends the search
    }
}

static uint32_t flow_hash(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, uint64_t secret) {
    uint64_t x = (uint64_t(saddr.v) << 32 | daddr.v) ^ (uint64_t(sport) << 16 | dport) * 0x9e3779b97f4a7c15ull ^ secret;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return uint32_t(x);
}

// reuseport_select_sock: a hash of the flow picks one member of s's group, in the order
// they joined. (Out of line: its array would otherwise weigh on every lookup's frame.)
[[gnu::noinline]] static DgramSock* reuseport_pick(const PortTable& ports, DgramSock* s, uint32_t hash) {
    DgramSock* members[64];
    int n = 0;
    ports.for_port(s->num, [&](DgramSock* m) {
        if (m->reuseport_group == s->reuseport_group && n < 64) members[n++] = m;
    });
    std::sort(members, members + n, [](auto* a, auto* b) { return a->bind_seq < b->bind_seq; });
    return members[uint64_t(hash) * uint32_t(n) >> 32];
}

template <bool Tr>
DgramSock* Udp::lookup_t(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif) {
    USNET_TRACER(s_);
    USNET_IF_TRACING(tr_) trace_lookup(s_, ports, saddr, sport, daddr, dport, dif);
    // Sockets bound to the destination address first, then wildcard ones (udp4_lib_lookup2).
    for (int pass = 0; pass < 2; ++pass) {
        const Ip4 want = pass == 0 ? daddr : Ip4();
        DgramSock* best = nullptr;
        int badness = -1;
        DgramSock* found = nullptr;
        ports.for_port(dport, [&](DgramSock* s) {
            if (found || s->rcv_saddr != want) return;
            const int sc = score(s, saddr, sport, dif);
            if (sc < badness || sc < 0) return;
            if (sc == badness && best && best->lookup_seq > s->lookup_seq) return;
            if (s->reuseport_group && !s->established) {
                found = reuseport_pick(ports, s, flow_hash(saddr, sport, daddr, dport, s_.cfg.seed));
                return;
            }
            best = s;
            badness = sc;
        });
        if (found) {
            USNET_IF_TRACING(tr_) {
                int n = 0;
                ports.for_port(dport, [&](DgramSock* m) { n += m->reuseport_group == found->reuseport_group; });
                USNET_TRACE(tr_, UdpReuseport, tr_->shown(found->fd), std::min(n, 64));
            }
            return found;
        }
        if (best) return best;
        if (want.any()) break;
    }
    return nullptr;
}

DgramSock* Udp::lookup(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif) {
    return USNET_TRACED(s_, lookup_t, saddr, sport, daddr, dport, dif);
}

// sk_filter_trim_cap: the socket's classic BPF program sees the datagram from its transport
// header (skb->data), with the network and link headers before it.
uint32_t Udp::run_filter(const DgramSock* sk, buf::Packet& p) {
    const uint32_t hdr = sk->proto == sock::Proto::Udp ? wire::kUdpHeaderLen : 0;
    sock::FilterInput in;
    in.data = p.data() - hdr;
    in.len = p.size() + hdr;
    in.net = p.base() + p.meta.l3_off;
    in.mark = p.meta.mark;
    in.random = uint32_t(s_.rng());
    // A copy dev_loopback_xmit looped back keeps the device it was sent on, its link
    // header is its network header, and its pkt_type is PACKET_LOOPBACK.
    const int dev_index = p.meta.mc_copy ? p.meta.loop_dev : p.meta.in_dev ? p.meta.in_dev : p.meta.ifindex;
    const link::Interface* dev = s_.iface(dev_index);
    in.ifindex = dev_index;
    in.hatype = dev && dev->loopback ? 772 : 1;  // ARPHRD_LOOPBACK, ARPHRD_ETHER
    const bool lo = !dev || dev->loopback;
    if (p.meta.mc_copy) {
        in.pkttype = PACKET_LOOPBACK;
        in.mac = in.net;
    } else {
        const bool bcast = p.meta.route_flags & ip::kRtBroadcast, mcast = p.meta.route_flags & ip::kRtMulticast;
        in.pkttype = lo ? PACKET_HOST : bcast ? PACKET_BROADCAST : mcast ? PACKET_MULTICAST : PACKET_HOST;
        in.mac = s_.link.rx_mac_header(p, dev);
    }
    in.mac_len = in.mac ? uint32_t(in.data + in.len - in.mac) : 0;
    const uint32_t r = sock::filter_run(sk->filter, in);
    if (r == 0) return 0;
    // pskb_trim to the program's length, never below the transport header (the cap).
    const uint32_t keep = std::max(r, hdr ? hdr : 1u);
    if (keep < in.len) p.trim(keep - hdr);
    return r;
}

template <bool Tr>
bool Udp::enqueue_t(DgramSock* sk, buf::PacketPtr pkt, bool count_udp) {
    USNET_TRACER(s_);
    if (__builtin_expect(!sk->filter.empty(), 0) && run_filter(sk, *pkt) == 0) {
        USNET_TRACE(tr_, UdpFiltered, tr_ ? tr_->shown(sk->fd) : 0);
        // udp_queue_rcv_one_skb counts it (UDP_MIB_INERRORS, sk_drops); sock_queue_rcv_skb,
        // for ping, drops it uncounted.
        if (count_udp) {
            ++sk->drops;
            ++s_.ctr.udp.InErrors;
        }
        s_.drop(DropReason::SocketFilter, pkt->meta.src, pkt->meta.sport, pkt->meta.dst, pkt->meta.dport);
        return false;
    }
    const uint32_t ts = pkt->meta.truesize ? pkt->meta.truesize : truesize_for(pkt->size());
    const uint32_t rcvbuf = uint32_t(sk->rcvbuf);
    // __udp_enqueue_schedule_skb: drop when it does not fit, but always accept one
    // datagram into an empty queue.
    USNET_IF_TRACING(tr_)
        USNET_TRACE(tr_, UdpEnqueue, tr_->shown(sk->fd), sk->rmem, ts, sk->rmem + ts > rcvbuf ? ">" : "<=", rcvbuf);
    USNET_TRACE_INDENT(tr_);
    if (sk->rmem + ts > rcvbuf && (rcvbuf > uint32_t(INT_MAX >> 1) || sk->rmem)) {
        ++sk->drops;
        USNET_TRACE(tr_, UdpDropped, sk->drops);
        if (count_udp) {
            ++s_.ctr.udp.RcvbufErrors;
            ++s_.ctr.udp.InErrors;
        }
        s_.drop(DropReason::RcvbufFull, pkt->meta.src, pkt->meta.sport, pkt->meta.dst, pkt->meta.dport);
        return false;
    }
    pkt->meta.truesize = ts;
    pkt->meta.drops = sk->drops;
    // skb->tstamp: taken on receive only while a socket wants stamps (net_enable_timestamp).
    pkt->meta.tstamp = __builtin_expect(sk->rcvtstamp | sk->stamp_sock | (sk->tsflags != 0), 0) ? s_.wall_now() : 0;
    sk->rmem += ts;
    sk->rx.push(std::move(pkt));
    ++sk->wakeups;
    USNET_TRACE(tr_, UdpQueued, sk->rx.size());
    return true;
}

bool Udp::enqueue(DgramSock* sk, buf::PacketPtr pkt, bool count_udp) {
    return USNET_TRACED(s_, enqueue_t, sk, std::move(pkt), count_udp);
}

template <bool Tr>
void Udp::input_t(buf::PacketPtr pkt) {
    USNET_TRACER(s_);
    auto& c = s_.ctr.udp;
    wire::UdpRepr u;
    const auto& m = pkt->meta;
    switch (wire::UdpRepr::parse(pkt->bytes(), m.src, m.dst, &u, !m.csum_ok)) {
        case wire::UdpError::Ok: break;
        case wire::UdpError::Checksum:
            USNET_TRACE(tr_, UdpBadCsum);
            ++c.InCsumErrors;
            ++c.InErrors;
            s_.drop(DropReason::BadChecksum, m.src, 0, m.dst, 0);
            return;
        default:
            USNET_TRACE(tr_, UdpBadLen);
            ++c.InErrors;
            s_.drop(DropReason::BadUdpHeader, m.src, 0, m.dst, 0);
            return;
    }
    USNET_TRACE(tr_, UdpRcv, u.sport, u.dport, u.len, m.csum_partial ? ", checksum not checked (left partial by a trusted sender: CHECKSUM_PARTIAL)"
                : m.csum_ok ? ", checksum not checked (loopback)" : u.checksum ? ", checksum ok" : ", no checksum");
    USNET_TRACE_INDENT(tr_);
    pkt->trim(u.len);
    pkt->pull(wire::kUdpHeaderLen);
    pkt->meta.sport = u.sport;
    pkt->meta.dport = u.dport;
    if (pkt->meta.route_flags & (ip::kRtBroadcast | ip::kRtMulticast)) {
        mcast_deliver(std::move(pkt));
        return;
    }
    DgramSock* sk = lookup_t<Tr>(m.src, u.sport, m.dst, u.dport, m.ifindex);
    if (sk) {
        USNET_IF_TRACING(tr_) USNET_TRACE(tr_, UdpFound, tr_->shown(sk->fd));
        enqueue_t<Tr>(sk, std::move(pkt), true);
        return;
    }
    USNET_TRACE(tr_, UdpNoPort);
    ++c.NoPorts;
    {
        bool any = false;  // a socket on the port that only wants another peer
        ports.for_port(u.dport, [&](DgramSock*) { any = true; });
        s_.drop(any ? DropReason::PeerFiltered : DropReason::NoSocket, m.src, u.sport, m.dst, u.dport);
    }
    pkt->set_head(pkt->meta.l3_off);
    s_.ip.icmp_send_error(*pkt, wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, 0);
}

void Udp::input(buf::PacketPtr pkt) {
    USNET_TRACED(s_, input_t, std::move(pkt));
}

bool Udp::input_direct(int ifindex, Ip4 src, Ip4 dst, std::span<const uint8_t> u, bool csum_ok, const DirectRx& want) {
    wire::UdpRepr h;
    if (wire::UdpRepr::parse(u, src, dst, &h, !csum_ok) != wire::UdpError::Ok) return false;
    // input_t's unicast case, ending in enqueue_t's: no filter, and an empty queue always
    // takes one datagram.
    DgramSock* sk = want.sk;
    if (!sk->filter.empty() || !sk->rx.empty() || sk->rmem) return false;
    if (lookup_t<false>(src, h.sport, dst, h.dport, ifindex) != sk) return false;
    if (!want.take(u.subspan(wire::kUdpHeaderLen, h.len - wire::kUdpHeaderLen), src, h.sport)) return false;
    ++sk->wakeups;  // (an edge for epoll, as a queued datagram's)
    ++s_.ctr.udp.InDatagrams;
    return true;
}

// __udp4_lib_mcast_deliver: a copy to every socket that matches (__udp_is_mcast_sock).
void Udp::mcast_deliver(buf::PacketPtr pkt) {
    const auto& m = pkt->meta;
    DgramSock* match[64];
    int n = 0;
    ports.for_port(m.dport, [&](DgramSock* s) {
        if (n == 64) return;
        if (!s->daddr.any() && s->daddr != m.src) return;
        if (s->dport && s->dport != m.sport) return;
        if (!s->rcv_saddr.any() && s->rcv_saddr != m.dst) return;
        if (s->bound_dev_if && s->bound_dev_if != m.ifindex) return;
        if (m.dst.is_multicast()) {
            // ip_mc_sf_allow: the socket's own membership on that interface decides through its
            // source filter; with none, IP_MULTICAST_ALL does.
            const sock::Membership* pmc = nullptr;
            for (const auto& ms : s->mc_list)
                if (ms.group == m.dst && ms.ifindex == m.ifindex) {
                    pmc = &ms;
                    break;
                }
            if (!pmc) {
                if (!s->mc_all) return;
            } else {
                bool listed = false;
                for (Ip4 a : pmc->sources) listed = listed || a == m.src;
                if (listed == (pmc->sfmode == MCAST_EXCLUDE)) return;
            }
        }
        match[n++] = s;
    });
    if (s_.tracer) {
        std::string fds;
        for (int i = n - 1; i >= 0; --i) fds += (fds.empty() ? ": fd " : ", fd ") + std::to_string(s_.tracer->shown(match[i]->fd));
        if (n) USNET_TRACE(s_.tracer, UdpMcast, n, m.dport, fds + ", each a copy");
        else USNET_TRACE(s_.tracer, UdpMcastNone, m.dport);
    }
    USNET_TRACE_INDENT(s_.tracer);
    if (n == 0) {
        ++s_.ctr.udp.IgnoredMulti;
        s_.drop(DropReason::IgnoredMulti, m.src, m.sport, m.dst, m.dport);
        return;
    }
    // Oldest socket first, like the kernel's chain walk; each but the last gets a copy.
    std::reverse(match, match + n);
    for (int i = 0; i < n; ++i) {
        if (i + 1 == n) {
            enqueue(match[i], std::move(pkt), true);
            return;
        }
        auto copy = s_.pool.alloc(pkt->size());
        if (!copy) {
            ++s_.ctr.udp.MemErrors;
            continue;
        }
        std::memcpy(copy->put(pkt->size()), pkt->data(), pkt->size());
        copy->meta = pkt->meta;
        enqueue(match[i], std::move(copy), true);
    }
}

// ---- errors ----

// The kernel's names of the destination-unreachable codes.
static std::string icmp_unreach_name(uint8_t code) {
    static const char* const names[] = {"ICMP_NET_UNREACH",  "ICMP_HOST_UNREACH", "ICMP_PROT_UNREACH",
                                        "ICMP_PORT_UNREACH", "ICMP_FRAG_NEEDED",  "ICMP_SR_FAILED",
                                        "ICMP_NET_UNKNOWN",  "ICMP_HOST_UNKNOWN", "ICMP_HOST_ISOLATED",
                                        "ICMP_NET_ANO",      "ICMP_HOST_ANO",     "ICMP_NET_UNR_TOS",
                                        "ICMP_HOST_UNR_TOS", "ICMP_PKT_FILTERED", "ICMP_PREC_VIOLATION",
                                        "ICMP_PREC_CUTOFF"};
    return code < 16 ? names[code] : std::to_string(code);
}

struct IcmpErrConv {
    int err;
    bool fatal;
};
// icmp_err_convert[]: errno and hard/soft for each destination-unreachable code.
static const IcmpErrConv kUnreach[16] = {
    {ENETUNREACH, false}, {EHOSTUNREACH, false}, {ENOPROTOOPT, true}, {ECONNREFUSED, true},
    {EMSGSIZE, false},    {EOPNOTSUPP, false},   {ENETUNREACH, true}, {EHOSTDOWN, true},
    {ENONET, true},       {ENETUNREACH, true},   {EHOSTUNREACH, true}, {ENETUNREACH, false},
    {EHOSTUNREACH, false}, {EHOSTUNREACH, true}, {EHOSTUNREACH, true}, {EHOSTUNREACH, true},
};

void Udp::queue_error(DgramSock* sk, int err, uint8_t origin, uint8_t type, uint8_t code, uint32_t info,
                      const buf::Meta* icmp, Ip4 daddr, uint16_t dport, std::span<const uint8_t> payload) {
    auto e = s_.pool.alloc(uint32_t(payload.size()));
    if (!e) return;
    if (!payload.empty()) std::memcpy(e->put(uint32_t(payload.size())), payload.data(), payload.size());
    auto& m = e->meta;
    m.ee_errno = err;
    m.ee_origin = origin;
    m.ee_type = type;
    m.ee_code = code;
    m.ee_info = info;
    if (icmp) {
        m.offender = icmp->src;
        m.ifindex = icmp->ifindex;
        m.dst = icmp->dst;
        m.ttl = icmp->ttl;
        m.tos = icmp->tos;
    }
    m.src = daddr;
    m.sport = dport;
    m.truesize = truesize_for(uint32_t(payload.size()));
    // sock_queue_err_skb: refused once the receive buffer is full.
    if (sk->rmem + m.truesize >= uint32_t(sk->rcvbuf)) return;
    sk->rmem += m.truesize;
    sk->errq.push(std::move(e));
    ++sk->wakeups;
}

void Udp::icmp_error_to_sock(DgramSock* sk, const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info,
                             Ip4 orig_dst, uint16_t dport, std::span<const uint8_t> payload) {
    int err = 0;
    bool hard = false;
    switch (type) {
        case wire::kIcmpSourceQuench: return;
        case wire::kIcmpRedirect: return;
        case wire::kIcmpParamProb: err = EPROTO; hard = true; break;
        case wire::kIcmpDestUnreach:
            if (code == wire::kIcmpFragNeeded) {
                if (sk->pmtudisc == IP_PMTUDISC_DONT) return;
                err = EMSGSIZE;
                hard = true;
                info &= 0xffff;
                break;
            }
            err = EHOSTUNREACH;
            if (code <= wire::kIcmpNrUnreach) {
                err = kUnreach[code].err;
                hard = kUnreach[code].fatal;
            }
            break;
        default: err = EHOSTUNREACH; break;  // time exceeded and unknown types
    }
    if (s_.tracer) {
        const std::string what = type == wire::kIcmpDestUnreach ? icmp_unreach_name(code) : "type " + std::to_string(type);
        USNET_TRACE(s_.tracer, IcmpConvert, what, strerrorname_np(err), hard ? ", a hard error" : ", a soft error");
    }
    if (!sk->recverr) {
        // RFC 1122 4.1.3.3: without IP_RECVERR only hard errors on connected sockets count.
        if (!hard || !sk->established) {
            USNET_TRACE(s_.tracer, IcmpIgnored, !hard ? "a soft error" : "the socket is not connected");
            return;
        }
    } else {
        USNET_TRACE(s_.tracer, IcmpQueued);
        queue_error(sk, err, 2 /*SO_EE_ORIGIN_ICMP*/, type, code, info, &icmp.meta, orig_dst, dport, payload);
    }
    if (s_.tracer) USNET_TRACE(s_.tracer, IcmpToSock, strerrorname_np(err));
    sk->sk_err = err;
    ++sk->wakeups;
}

void Udp::err(const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info, Ip4 orig_src, Ip4 orig_dst,
              uint16_t sport, uint16_t dport, std::span<const uint8_t> payload) {
    USNET_TRACE(s_.tracer, IcmpErr, "udp_err", orig_src, sport, orig_dst, dport);
    USNET_TRACE_INDENT(s_.tracer);
    DgramSock* sk = lookup(orig_dst, dport, orig_src, sport, icmp.meta.ifindex);
    if (!sk) {
        USNET_TRACE(s_.tracer, IcmpErrNoSock);
        ++s_.ctr.icmp.InErrors;
        s_.drop(DropReason::IcmpNoSocket, icmp.meta.src, 0, icmp.meta.dst, 0);
        return;
    }
    if (s_.tracer) USNET_TRACE(s_.tracer, IcmpErrSock, s_.tracer->shown(sk->fd));
    icmp_error_to_sock(sk, icmp, type, code, info, orig_dst, dport, payload);
}

// ---- output ----

static std::string hex16(uint16_t v) {
    char b[8];
    std::snprintf(b, sizeof b, "%04x", v);
    return b;
}

template <bool Tr>
Err Udp::output_t(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt, Ip4 daddr, uint16_t dport,
                int ttl_override, int tos_override) {
    USNET_TRACER(s_);
    const uint32_t len = pkt->size() + wire::kUdpHeaderLen;
    uint8_t* h = pkt->push(wire::kUdpHeaderLen);
    wire::UdpRepr u{sk->num, dport, uint16_t(len), 0};
    // Loopback needs no checksum (the kernel leaves it to CHECKSUM_PARTIAL and never checks).
    // A device that finishes checksums (a TAP with a virtio header) gets the pseudo-header
    // sum only, as udp4_hwcsum leaves it; a datagram that will be fragmented gets it all.
    if (rt.dev->tx_csum_offload && !sk->no_check && len + wire::kIpv4HeaderLen <= rt.mtu) {
        u.emit_partial(h, rt.src, daddr);
        pkt->meta.csum_partial = true;
        USNET_TRACE(tr_, SendUdpOffload, sk->num, dport, len);
    } else {
        u.emit(h, rt.src, daddr, sk->no_check || rt.dev->loopback);
        USNET_IF_TRACING(tr_) {
            if (sk->no_check) USNET_TRACE(tr_, SendUdpNoCsum, sk->num, dport, len);
            else if (rt.dev->loopback) USNET_TRACE(tr_, SendUdpPartial, sk->num, dport, len);
            else USNET_TRACE(tr_, SendUdp, sk->num, dport, len, hex16(wire::load16(h + 6)));
        }
    }
    ip::OutOpts o = out_opts(sk, daddr, ttl_override, tos_override);
    if (o.have_id) sk->inet_id = o.id;
    ++s_.ctr.udp.OutDatagrams;
    return s_.ip.output_t<Tr>(std::move(pkt), rt, o);
}

ip::OutOpts Udp::out_opts(const DgramSock* sk, Ip4 daddr, int ttl_override, int tos_override) const {
    ip::OutOpts o;
    o.proto = wire::kProtoUdp;
    o.tos = sk->tos;
    if (daddr.is_multicast()) o.ttl = uint8_t(sk->mc_ttl);
    else o.ttl = sk->ttl < 0 ? s_.cfg.default_ttl : uint8_t(sk->ttl);
    o.df = sk->pmtudisc == IP_PMTUDISC_DO || sk->pmtudisc == IP_PMTUDISC_WANT || sk->pmtudisc == IP_PMTUDISC_PROBE;
    o.mc_loop = sk->mc_loop;
    o.mark = uint32_t(sk->mark);
    if (ttl_override >= 0) o.ttl = uint8_t(ttl_override);
    if (tos_override >= 0) o.tos = uint8_t(tos_override);
    if (!sk->daddr.any()) {
        o.have_id = true;
        o.id = uint16_t(sk->inet_id + 1);
    }
    return o;
}

bool Udp::output_parts(DgramSock* sk, std::span<const iovec> payload, uint32_t len, const ip::RouteResult& rt,
                       Ip4 daddr, uint16_t dport, int ttl_override, int tos_override) {
    // output()'s offloaded case only: the device finishes the checksum (partial here).
    const uint32_t ulen = len + wire::kUdpHeaderLen;
    if (!rt.dev->tx_csum_offload || sk->no_check || ulen + wire::kIpv4HeaderLen > rt.mtu) return false;
    buf::HeaderStack h;
    wire::UdpRepr{sk->num, dport, uint16_t(ulen), 0}.emit_partial(h.push(wire::kUdpHeaderLen), rt.src, daddr);
    const ip::OutOpts o = out_opts(sk, daddr, ttl_override, tos_override);
    if (!s_.ip.output_parts(rt, o, h, payload, len, true)) return false;
    if (o.have_id) sk->inet_id = o.id;
    ++s_.ctr.udp.OutDatagrams;
    return true;
}

Err Udp::output(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt, Ip4 daddr, uint16_t dport,
                int ttl_override, int tos_override) {
    return USNET_TRACED(s_, output_t, sk, std::move(pkt), rt, daddr, dport, ttl_override, tos_override);
}

// The copies other layers call.
template Err Udp::output_t<true>(DgramSock*, buf::PacketPtr, const ip::RouteResult&, Ip4, uint16_t, int, int);
template Err Udp::output_t<false>(DgramSock*, buf::PacketPtr, const ip::RouteResult&, Ip4, uint16_t, int, int);
template void Udp::input_t<true>(buf::PacketPtr);
template void Udp::input_t<false>(buf::PacketPtr);

}  // namespace usnet::udp
