#include "link/link.hpp"

#include <algorithm>

#include "core/stack_impl.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"

namespace usnet::link {

bool Interface::in_group(Ip4 g) const { return group(g) != nullptr; }

const McGroup* Interface::group(Ip4 g) const {
    for (const auto& m : mc)
        if (m.group == g) return &m;
    return nullptr;
}

// The kernel's name of a neighbour state.
static const char* nud_name(NeighState s) {
    switch (s) {
        case NeighState::Incomplete: return "NUD_INCOMPLETE";
        case NeighState::Reachable: return "NUD_REACHABLE";
        case NeighState::Stale: return "NUD_STALE";
        case NeighState::Delay: return "NUD_DELAY";
        case NeighState::Probe: return "NUD_PROBE";
        case NeighState::Failed: return "NUD_FAILED";
    }
    return "?";
}

Neighbour* Link::neigh_find(Interface& ifc, Ip4 ip) {
    for (auto& n : ifc.neigh)
        if (n.ip == ip) return &n;
    return nullptr;
}

// The states in which neigh_output sends at once (to the cached address); the others queue.
static bool sends_now(NeighState s) {
    return s == NeighState::Reachable || s == NeighState::Stale || s == NeighState::Delay || s == NeighState::Probe;
}

static Mac multicast_mac(Ip4 g) {
    // RFC 1112 6.4: 01:00:5e + low 23 bits of the group.
    return Mac{{0x01, 0x00, 0x5e, uint8_t((g.v >> 16) & 0x7f), uint8_t(g.v >> 8), uint8_t(g.v)}};
}

void Link::frame_out(Interface& ifc, const Mac& dst, uint16_t ethertype, buf::PacketPtr pkt) {
    if (!ifc.port || !ifc.up) return;
    wire::EthernetRepr eth{dst, ifc.mac, ethertype};
    eth.emit(pkt->push(wire::kEthHeaderLen));
    ++s_.ctr.link.TxFrames;
    ifc.port->transmit(std::move(pkt));
}

const uint8_t* Link::rx_mac_header(buf::Packet& p, const Interface* dev) const {
    if (p.meta.l3_off < wire::kEthHeaderLen) return nullptr;
    Mac dst{}, src{};
    if (dev && !dev->loopback) {
        src = p.meta.src_mac;
        if (p.meta.route_flags & ip::kRtBroadcast) dst = Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
        else if (p.meta.route_flags & ip::kRtMulticast) dst = multicast_mac(p.meta.dst);
        else dst = dev->mac;
    }
    uint8_t* m = p.base() + p.meta.l3_off - wire::kEthHeaderLen;
    wire::EthernetRepr{dst, src, wire::kEthIpv4}.emit(m);
    return m;
}

void Link::loopback_xmit(buf::PacketPtr pkt, int dev_ifindex) {
    pkt->meta.csum_ok = true;
    pkt->meta.loop_dev = dev_ifindex;
    backlog_.push(std::move(pkt));
}

template <bool Tr>
void Link::run_backlog_t() {
    USNET_TRACER(s_);
    if (draining_ || backlog_.empty()) return;  // an inner call: the outer loop picks up what it queues
    draining_ = true;
    Interface* lo = s_.loopback();
    while (auto pkt = backlog_.pop()) {
        if (!lo) continue;
        trace::Event ev(tr_, trace::EventKind::Loopback, lo->name, long(pkt->size()));
        USNET_TRACE(tr_, RxBacklog);
        pkt->meta.ifindex = lo->ifindex;
        s_.ip.input_t<Tr>(*lo, std::move(pkt));
    }
    draining_ = false;
}

void Link::run_backlog_now() {
    USNET_TRACED(s_, run_backlog_t, );
}

template <bool Tr>
void Link::output_t(Interface& ifc, Ip4 nexthop, buf::PacketPtr pkt, bool l2_broadcast) {
    USNET_TRACER(s_);
    if (ifc.loopback) {
        loopback_xmit(std::move(pkt));
        return;
    }
    if (!ifc.up || !ifc.port) {
        USNET_TRACE(tr_, DevDown, ifc.name);
        return;
    }
    if (l2_broadcast) {
        USNET_TRACE(tr_, DevBroadcast, ifc.name);
        frame_out(ifc, Mac::broadcast(), wire::kEthIpv4, std::move(pkt));
        return;
    }
    if (nexthop.is_multicast()) {
        USNET_TRACE(tr_, DevMulticast, nexthop, multicast_mac(nexthop).str(), ifc.name);
        frame_out(ifc, multicast_mac(nexthop), wire::kEthIpv4, std::move(pkt));
        return;
    }
    USNET_TRACE(tr_, NeighOutput, ifc.name, nexthop);
    USNET_TRACE_INDENT(tr_);
    const Time now = s_.coarse_now();
    if (Neighbour* found = neigh_find(ifc, nexthop)) {
        Neighbour& n = *found;
        n.used = now;
        if (sends_now(n.state)) {
            USNET_IF_TRACING(tr_) {
                if (n.state == NeighState::Stale) USNET_TRACE(tr_, NeighStale, nexthop, n.mac.str());
                else USNET_TRACE(tr_, NeighHit, nexthop, nud_name(n.state), n.mac.str(), ifc.name);
            }
            if (n.state == NeighState::Stale) {
                // __neigh_event_send: a used STALE entry enters DELAY (probing starts after
                // delay_first_probe_time unless confirmed), still sending to the old address.
                // (A single immediate probe used to be sent, and an unanswered one left the
                // entry STALE for ever, so a vanished neighbour was never detected.)
                n.state = NeighState::Delay;
                n.probes = 0;
                n.timer = now + kArpDelayFirstProbe;
            }
            frame_out(ifc, n.mac, wire::kEthIpv4, std::move(pkt));
            return;
        }
        USNET_IF_TRACING(tr_)
            USNET_TRACE(tr_, NeighQueue, nexthop, nud_name(n.state), n.pending.size() + 1,
                        n.state == NeighState::Failed ? "; a new resolution starts" : "; resolution in progress");
        if (n.state == NeighState::Failed) {
            // A fresh attempt, as a new neighbour lookup would start.
            n.state = NeighState::Incomplete;
            n.probes = 1;
            n.timer = now + kArpRetrans;
            arp_send(ifc, wire::kArpRequest, nexthop, Mac(), Mac::broadcast(), Ip4());
        }
        // Incomplete: queue, bounded like unres_qlen_bytes (oldest dropped first).
        queue_pending(ifc, n, std::move(pkt));
        return;
    }
    Neighbour* n = neigh_create(ifc, nexthop);
    USNET_TRACE(tr_, NeighNew, nexthop);
    if (!n) {
        // __neigh_create failed (table full): ip_finish_output2 drops the packet.
        ++s_.ctr.ip.OutDiscards;
        s_.drop(DropReason::NeighTableFull, Ip4(wire::load32(pkt->data() + 12)), 0, nexthop, 0);
        return;
    }
    n->state = NeighState::Incomplete;
    n->probes = 1;
    n->timer = now + kArpRetrans;
    USNET_TRACE(tr_, NeighQueue, nexthop, "NUD_INCOMPLETE", 1, "");
    queue_pending(ifc, *n, std::move(pkt));
    arp_send(ifc, wire::kArpRequest, nexthop, Mac(), Mac::broadcast(), Ip4());
}

Neighbour* Link::parts_neighbour(Interface& ifc, Ip4 nexthop) {
    if (!ifc.up || !ifc.port || !ifc.port->takes_parts || ifc.loopback || nexthop.is_multicast()) return nullptr;
    Neighbour* n = neigh_find(ifc, nexthop);
    // Where output_t sends without a change of state (a used STALE entry enters DELAY).
    return n && sends_now(n->state) && n->state != NeighState::Stale && !n->mac.is_multicast() ? n : nullptr;
}

void Link::output_parts(Interface& ifc, Neighbour& n, buf::HeaderStack& h, std::span<const iovec> payload,
                        uint32_t plen, bool csum_partial) {
    n.used = s_.coarse_now();
    wire::EthernetRepr{n.mac, ifc.mac, wire::kEthIpv4}.emit(h.push(wire::kEthHeaderLen));
    ++s_.ctr.link.TxFrames;
    ++s_.ctr.link.TxDirect;
    ifc.port->transmit_parts(h.data(), h.size(), payload, plen, csum_partial);
}

void Link::output(Interface& ifc, Ip4 nexthop, buf::PacketPtr pkt, bool l2_broadcast) {
    USNET_TRACED(s_, output_t, ifc, nexthop, std::move(pkt), l2_broadcast);
}

Neighbour* Link::neigh_create(Interface& ifc, Ip4 ip) {
    const Time now = s_.now();
    if (ifc.neigh.size() >= kNeighMax) {
        // neigh_forced_gc: entries that failed, or did not change for 5 s, and hold nothing.
        std::erase_if(ifc.neigh, [&](const Neighbour& n) {
            const bool idle = n.state == NeighState::Stale || n.state == NeighState::Reachable;
            return n.pending.empty() && (n.state == NeighState::Failed || (idle && now - n.updated > kNeighGcAge));
        });
        if (ifc.neigh.size() >= kNeighMax) return nullptr;
    }
    Neighbour& n = ifc.neigh.emplace_back();
    n.ip = ip;
    n.used = now;
    n.updated = now;
    return &n;
}

void Link::queue_pending(Interface& ifc, Neighbour& n, buf::PacketPtr pkt) {
    n.pending_bytes += pkt->size();
    ifc.pending_mem += pkt->capacity();
    n.pending.push(std::move(pkt));
    while ((n.pending_bytes > kArpUnresQlenBytes || ifc.pending_mem > kArpUnresIfaceBytes) && n.pending.size() > 1) {
        auto old = pop_pending(ifc, n);
        ++s_.ctr.link.ArpQueueDrops;
        s_.drop(DropReason::ArpQueueFull, Ip4(wire::load32(old->data() + 12)), 0, n.ip, 0);
    }
    if (ifc.pending_mem > kArpUnresIfaceBytes) {
        // The interface's bound, reached through other neighbours' queues: this one's only
        // packet goes too (an entry's own queue always keeps its newest otherwise).
        auto last = pop_pending(ifc, n);
        ++s_.ctr.link.ArpQueueDrops;
        s_.drop(DropReason::ArpQueueFull, Ip4(wire::load32(last->data() + 12)), 0, n.ip, 0);
    }
}

buf::PacketPtr Link::pop_pending(Interface& ifc, Neighbour& n) {
    auto p = n.pending.pop();
    if (p) {
        n.pending_bytes -= p->size();
        ifc.pending_mem -= p->capacity();
    }
    return p;
}

void Link::arp_send(Interface& ifc, uint16_t op, Ip4 tip, const Mac& tha, const Mac& dst, Ip4 sip) {
    if (sip.any()) sip = s_.ip.select_addr(&ifc, tip, ip::Scope::Link);
    auto pkt = s_.pool.alloc(wire::kArpLen);
    if (!pkt) return;
    wire::ArpRepr arp{op, ifc.mac, tha, sip, tip};
    arp.emit(pkt->put(wire::kArpLen));
    if (op == wire::kArpRequest) USNET_TRACE(s_.tracer, ArpSolicit, tip, sip, dst.is_broadcast() ? "broadcast" : dst.str());
    if (op == wire::kArpRequest) ++s_.ctr.link.ArpRequestsSent;
    else ++s_.ctr.link.ArpRepliesSent;
    frame_out(ifc, dst, wire::kEthArp, std::move(pkt));
}

template <bool Tr>
void Link::receive_frame_t(Interface& ifc, buf::PacketPtr&& frame) {
    USNET_TRACER(s_);
    ++s_.ctr.link.RxFrames;
    frame->meta.mark = 0;  // skb_scrub_packet: a mark does not cross into another host
    trace::Event ev(tr_, trace::EventKind::Frame, ifc.name, long(frame->size()));
    wire::EthernetRepr eth;
    if (!ifc.up || !wire::EthernetRepr::parse(frame->bytes(), &eth)) {
        ++s_.ctr.link.RxDropped;
        s_.drop_frame(ifc.up ? DropReason::RuntFrame : DropReason::LinkDown, frame->data(), frame->size());
        return;
    }
    USNET_IF_TRACING(tr_) {
        const char* type = eth.ethertype == wire::kEthIpv4 ? "IPv4" : eth.ethertype == wire::kEthArp ? "ARP" : "other";
        USNET_TRACE(tr_, RxFrame, eth.src.str(), eth.dst.str(), type);
    }
    // Accept frames for us, broadcast, and multicast groups we joined (224.0.0.1 always).
    if (!(eth.dst == ifc.mac) && !eth.dst.is_broadcast()) {
        bool ok = false;
        if (eth.dst.is_multicast()) {
            ok = eth.dst == multicast_mac(Ip4(224, 0, 0, 1));
            for (const auto& m : ifc.mc) ok = ok || eth.dst == multicast_mac(m.group);
        }
        if (!ok) {
            USNET_TRACE(tr_, RxNotForUs, eth.dst.str(), ifc.mac.str());
            ++s_.ctr.link.RxDropped;
            s_.drop_frame(DropReason::OtherHost, frame->data(), frame->size());
            return;
        }
    }
    // A frame longer than the device's MTU is refused, as veth's is_skb_forwardable does.
    if (frame->size() > ifc.mtu + wire::kEthHeaderLen) {
        ++s_.ctr.link.RxDropped;
        s_.drop_frame(DropReason::FrameTooLong, frame->data(), frame->size());
        return;
    }
    frame->pull(wire::kEthHeaderLen);
    frame->meta.ifindex = ifc.ifindex;
    frame->meta.src_mac = eth.src;
    if (eth.ethertype == wire::kEthIpv4) {
        s_.ip.input_t<Tr>(ifc, std::move(frame));
        run_backlog_t<Tr>();
    } else if (eth.ethertype == wire::kEthArp) {
        arp_input(ifc, std::move(frame));
    } else {
        ++s_.ctr.link.RxDropped;
        frame->push(wire::kEthHeaderLen);
        s_.drop_frame(DropReason::UnknownEthertype, frame->data(), frame->size());
    }
}

void Link::receive_frame(Interface& ifc, buf::PacketPtr frame) {
    USNET_TRACED(s_, receive_frame_t, ifc, std::move(frame));
}

bool Link::input_direct(Interface& ifc, std::span<const uint8_t> frame, bool csum_ok, const udp::DirectRx& want) {
    // receive_frame_t's unicast IPv4 case, with nothing looped back waiting to go first.
    // (The parsers read each field once: the frame lies where other processes can write.)
    wire::EthernetRepr eth;
    if (!ifc.up || !backlog_.empty() || !wire::EthernetRepr::parse(frame, &eth) || !(eth.dst == ifc.mac) ||
        eth.ethertype != wire::kEthIpv4 || frame.size() > ifc.mtu + wire::kEthHeaderLen)
        return false;
    if (!s_.ip.input_direct(ifc, frame.subspan(wire::kEthHeaderLen), csum_ok, want)) return false;
    ++s_.ctr.link.RxFrames;
    ++s_.ctr.link.RxDirect;
    return true;
}

// arp_process: answer requests for our addresses; learn the sender when the packet is for us
// or when we already track it.
void Link::arp_input(Interface& ifc, buf::PacketPtr pkt) {
    wire::ArpRepr arp;
    if (!wire::ArpRepr::parse(pkt->bytes(), &arp) || arp.spa.is_multicast() || arp.spa.is_lbcast()) {
        ++s_.ctr.link.RxDropped;
        pkt->push(wire::kEthHeaderLen);
        s_.drop_frame(DropReason::BadArp, pkt->data(), pkt->size());
        return;
    }
    // arp_ignore=0 (Linux's default): answer for any address of this host, whichever
    // interface holds it (ip_route_input gives RTN_LOCAL: the weak host model), but not for
    // 127/8 arriving on a real device (a martian destination there). Checking only this
    // interface's addresses left requests for the host's other addresses unanswered.
    const bool for_us = !arp.tpa.is_loopback() && s_.ip.addr_type(arp.tpa) == RouteType::Local;
    if (s_.tracer)
        USNET_TRACE(s_.tracer, ArpRcv, arp.op == wire::kArpRequest ? "request" : "reply", arp.spa, arp.sha.str(),
                    arp.op == wire::kArpRequest ? "who-has " + arp.tpa.str() : arp.spa.str() + " is-at " + arp.sha.str());
    USNET_TRACE_INDENT(s_.tracer);
    const Time now = s_.now();
    Neighbour* n = neigh_find(ifc, arp.spa);
    // (A full table learns nothing, but the request is still answered, as arp_process does.)
    if (!n && for_us && !arp.spa.any()) n = neigh_create(ifc, arp.spa);
    if (n && !arp.spa.any()) {
        if (s_.tracer)
            USNET_TRACE(s_.tracer, ArpLearn, arp.spa, arp.sha.str(),
                        n->pending.empty() ? std::string() : "; " + std::to_string(n->pending.size()) + " queued skb(s) sent");
        n->mac = arp.sha;
        n->state = NeighState::Reachable;
        n->probes = 0;
        n->updated = now;
        n->timer = now + kArpReachable / 2 + Time(s_.random() % uint64_t(kArpReachable));
        while (auto p = pop_pending(ifc, *n)) frame_out(ifc, n->mac, wire::kEthIpv4, std::move(p));
    }
    if (arp.op == wire::kArpRequest && for_us) {
        USNET_TRACE(s_.tracer, ArpReply, arp.tpa, arp.tpa, ifc.mac.str());
        arp_send(ifc, wire::kArpReply, arp.spa, arp.sha, arp.sha, arp.tpa);
    } else if (!n) {
        USNET_TRACE(s_.tracer, ArpIgnored);
    }
}

// arp_error_report -> ipv4_link_failure: each queued packet earns an ICMP host unreachable
// addressed to its (local) sender, which reaches the socket through the ICMP error path.
void Link::neigh_fail(Interface& ifc, Neighbour& n) {
    USNET_TRACE(s_.tracer, NeighFailed, n.pending.size());
    USNET_TRACE_INDENT(s_.tracer);
    n.state = NeighState::Failed;
    n.updated = s_.now();
    // Let the garbage collection below look at it (with kNever a failed entry stayed forever).
    n.timer = s_.now() + kArpGcStale;
    ++s_.ctr.link.ArpResolveFailed;
    while (auto p = pop_pending(ifc, n)) {
        s_.drop(DropReason::ArpFailed, Ip4(wire::load32(p->data() + 12)), 0, Ip4(wire::load32(p->data() + 16)), 0);
        s_.ip.icmp_send_error(*p, wire::kIcmpDestUnreach, wire::kIcmpHostUnreach, 0);
    }
    run_backlog();
}

void Link::timers(Time now) {
    for (auto& ifc : s_.ifaces)
        if (ifc->mc_query_due <= now || !ifc->mc_rtx.empty()) mc_timers(*ifc, now);
    for (auto& ifc : s_.ifaces) {
        auto& v = ifc->neigh;
        for (size_t i = 0; i < v.size(); ++i) {
            Neighbour& n = v[i];
            if (n.timer > now) continue;
            trace::Event ev(s_.tracer, trace::EventKind::Timer,
                            s_.tracer ? "neighbour " + n.ip.str() + " on " + ifc->name : std::string(), 0);
            if (s_.tracer) {
                const bool retry = n.state == NeighState::Incomplete || n.state == NeighState::Delay || n.state == NeighState::Probe;
                USNET_TRACE(s_.tracer, NeighTimer, n.ip, std::string(nud_name(n.state)) + (retry ? ", " + std::to_string(n.probes) + " probe(s) sent" : ""));
            }
            USNET_TRACE_INDENT(s_.tracer);
            if (n.state == NeighState::Incomplete) {
                if (n.probes >= kArpMcastProbes) {
                    neigh_fail(*ifc, n);
                } else {
                    ++n.probes;
                    n.timer = now + kArpRetrans;
                    arp_send(*ifc, wire::kArpRequest, n.ip, Mac(), Mac::broadcast(), Ip4());
                }
            } else if (n.state == NeighState::Delay || n.state == NeighState::Probe) {
                // neigh_timer_handler: DELAY -> PROBE; ucast_probes unicast requests to the
                // cached address (target hardware address zero, as arp_solicit sends), then
                // FAILED. Nothing is queued meanwhile, so nothing is reported on failure.
                if (n.state == NeighState::Probe && n.probes >= kArpUcastProbes) {
                    neigh_fail(*ifc, n);
                } else {
                    n.state = NeighState::Probe;
                    ++n.probes;
                    n.timer = now + kArpRetrans;
                    arp_send(*ifc, wire::kArpRequest, n.ip, Mac(), n.mac, Ip4());
                }
            } else if (n.state == NeighState::Reachable) {
                n.state = NeighState::Stale;
                n.updated = now;
                n.probes = 0;
                n.timer = now + kArpGcStale;
            } else {
                // Stale or failed and unused: garbage collect.
                if (now - n.used >= kArpGcStale) {
                    v.erase(v.begin() + long(i));
                    --i;
                } else {
                    n.timer = n.used + kArpGcStale;
                }
            }
        }
    }
}

Time Link::next_deadline() const {
    Time t = kNever;
    for (const auto& ifc : s_.ifaces) {
        for (const auto& n : ifc->neigh) t = std::min(t, n.timer.get());
        t = std::min(t, ifc->mc_query_due.get());
        for (const auto& r : ifc->mc_rtx) t = std::min(t, r.due.get());
    }
    return t;
}

void Link::igmpv3_send(Interface& ifc, std::span<const wire::Igmpv3Record> recs) {
    // igmpv3_newpack: to 224.0.0.22, TTL 1, TOS 0xc0, DF, with the Router Alert option.
    const Ip4 dst(224, 0, 0, 22);
    const Ip4 src = s_.ip.select_addr(&ifc, dst, ip::Scope::Link);
    const uint32_t room = ifc.mtu - 24;
    auto pkt = s_.pool.alloc(room);
    if (!pkt) return;
    const uint32_t len = wire::emit_igmpv3_report(pkt->put(wire::kIgmpV3HeaderLen + [&] {
        uint32_t n = 0;
        for (const auto& r : recs) n += r.size();
        return n;
    }()), recs);
    uint8_t* h = pkt->push(24);
    wire::Ipv4Repr ip;
    ip.tos = 0xc0;
    ip.total_len = uint16_t(24 + len);
    ip.frag = wire::kIpDF;
    ip.ttl = 1;
    ip.proto = wire::kProtoIgmp;
    ip.src = src;
    ip.dst = dst;
    ip.emit(h);  // writes a 20-byte header; widen it to carry the Router Alert option
    h[0] = 0x46;
    h[20] = 0x94; h[21] = 0x04; h[22] = 0; h[23] = 0;
    h[10] = h[11] = 0;
    uint16_t c = wire::checksum(h, 24);
    h[10] = uint8_t(c >> 8);
    h[11] = uint8_t(c);
    frame_out(ifc, multicast_mac(dst), wire::kEthIpv4, std::move(pkt));
}

void McGroup::filter(std::vector<Ip4>* out) const {
    out->clear();
    for (const auto& x : sources) {
        const bool in = exclude() ? x.count[kMcExclude] == sf_count[kMcExclude] && x.count[kMcInclude] == 0
                                  : x.count[kMcInclude] > 0;
        if (in) out->push_back(x.addr);
    }
    std::sort(out->begin(), out->end(), [](Ip4 a, Ip4 b) { return a.v < b.v; });
}

bool McGroup::allows(Ip4 src) const {
    if (src.any()) return true;  // unspecified source: tentatively allowed
    for (const auto& x : sources)
        if (x.addr == src) return x.count[kMcInclude] > 0 || x.count[kMcExclude] != sf_count[kMcExclude];
    return sf_count[kMcExclude] != 0;
}

void Link::mc_count(McGroup& g, int mode, std::span<const Ip4> srcs, int sign) {
    g.sf_count[mode] += sign;
    for (Ip4 a : srcs) {
        auto it = std::find_if(g.sources.begin(), g.sources.end(), [&](const McSource& x) { return x.addr == a; });
        if (it == g.sources.end()) it = g.sources.insert(g.sources.end(), McSource{a, {0, 0}});
        it->count[mode] += sign;
        if (!it->count[0] && !it->count[1]) g.sources.erase(it);
    }
}

void Link::mc_send_records(Interface& ifc, const std::vector<McRecord>& recs) {
    // Split at the MTU: records that fit share a report; a record too long for one report
    // goes out in pieces of the same type (add_grec starts a new packet).
    const uint32_t room = ifc.mtu - 24 - wire::kIgmpV3HeaderLen;
    const uint32_t per = (room - wire::kIgmpV3RecordLen) / 4;
    std::vector<wire::Igmpv3Record> batch;
    uint32_t used = 0;
    for (const auto& rec : recs) {
        std::span<const uint32_t> rest = rec.sources;
        do {
            const size_t take = std::min<size_t>(rest.size(), per);
            wire::Igmpv3Record piece{rec.type, rec.group.v, rest.first(take)};
            if (used + piece.size() > room) {
                igmpv3_send(ifc, batch);
                batch.clear();
                used = 0;
            }
            batch.push_back(piece);
            used += piece.size();
            rest = rest.subspan(take);
        } while (!rest.empty());
    }
    if (!batch.empty()) igmpv3_send(ifc, batch);
}

void Link::mc_report(Interface& ifc, Ip4 group, bool was_exclude, const std::vector<Ip4>& before, const McGroup* g) {
    if (ifc.loopback || !ifc.port || group == Ip4(224, 0, 0, 1)) return;  // all-hosts is never reported
    std::vector<Ip4> after;
    const bool now_exclude = g && g->exclude();
    if (g) g->filter(&after);
    if (was_exclude == now_exclude && before == after) return;
    auto minus = [](const std::vector<Ip4>& a, const std::vector<Ip4>& b) {
        std::vector<uint32_t> r;
        for (Ip4 x : a)
            if (!std::binary_search(b.begin(), b.end(), x, [](Ip4 p, Ip4 q) { return p.v < q.v; })) r.push_back(x.v);
        return r;
    };
    // RFC 3376 5.1: a mode change reports TO_EX/TO_IN with the new list; otherwise the
    // sources that became allowed and those that became blocked.
    std::vector<McRecord> recs;
    if (was_exclude != now_exclude) {
        McRecord r{now_exclude ? wire::kIgmpChangeToExclude : wire::kIgmpChangeToInclude, group, {}};
        for (Ip4 x : after) r.sources.push_back(x.v);
        recs.push_back(std::move(r));
    } else {
        auto allowed = now_exclude ? minus(before, after) : minus(after, before);
        auto blocked = now_exclude ? minus(after, before) : minus(before, after);
        if (!allowed.empty()) recs.push_back({wire::kIgmpAllowNewSources, group, std::move(allowed)});
        if (!blocked.empty()) recs.push_back({wire::kIgmpBlockOldSources, group, std::move(blocked)});
    }
    if (!now_exclude && after.empty()) ++s_.ctr.link.IgmpLeavesSent;
    else ++s_.ctr.link.IgmpReportsSent;
    mc_send_records(ifc, recs);
    // Robustness (igmp_qrv 2): the change goes out once more, at a random time within the
    // unsolicited report interval (1 s for IGMPv3); a newer change of the group replaces it.
    auto& rtx = ifc.mc_rtx;
    for (size_t i = 0; i < rtx.size(); ++i)
        if (rtx[i].group == group) {
            rtx.erase(rtx.begin() + long(i));
            break;
        }
    rtx.push_back({s_.now() + Time(s_.random() % uint64_t(kIgmpUnsolicitedInterval)) + 1, group, std::move(recs)});
}

// igmp_heard_query (IGMPv3 queries only): answer with the current state of every group
// (a general query) or of the one asked about, at a random time within Max Resp Time.
void Link::igmp_input(Interface& ifc, const uint8_t* p, size_t len) {
    if (ifc.loopback || len < 12 || p[0] != wire::kIgmpQuery) return;  // reports; IGMPv1/v2 queries
    if (wire::checksum(p, len) != 0) return;
    const uint8_t code = p[1];
    // RFC 3376 4.1.1: below 128 in tenths of a second, above in a floating-point form.
    const uint64_t tenths = code < 128 ? code : uint64_t((code & 0x0f) | 0x10) << (((code >> 4) & 7) + 3);
    const Time delay = Time(s_.random() % std::max<uint64_t>(1, tenths * uint64_t(100 * kMs))) + 1;
    const Ip4 group(p[4], p[5], p[6], p[7]);
    if (!group.any() && !ifc.in_group(group)) return;
    const Time due = s_.now() + delay;
    if (ifc.mc_query_due <= due && (ifc.mc_query_general || !group.any())) {
        // An answer already due sooner covers it (for a group, add it to the list).
        if (!group.any() && !ifc.mc_query_general) ifc.mc_query_groups.push_back(group);
        return;
    }
    ifc.mc_query_due = std::min(ifc.mc_query_due.get(), due);
    if (group.any()) {
        ifc.mc_query_general = true;
        ifc.mc_query_groups.clear();
    } else if (!ifc.mc_query_general) {
        ifc.mc_query_groups.push_back(group);
    }
}

void Link::mc_current_state(Interface& ifc) {
    std::vector<McRecord> recs;
    std::vector<Ip4> f;
    for (const auto& g : ifc.mc) {
        if (g.group == Ip4(224, 0, 0, 1)) continue;
        if (!ifc.mc_query_general &&
            std::find(ifc.mc_query_groups.begin(), ifc.mc_query_groups.end(), g.group) == ifc.mc_query_groups.end())
            continue;
        g.filter(&f);
        if (!g.exclude() && f.empty()) continue;
        McRecord r{g.exclude() ? wire::kIgmpModeIsExclude : wire::kIgmpModeIsInclude, g.group, {}};
        for (Ip4 x : f) r.sources.push_back(x.v);
        recs.push_back(std::move(r));
    }
    ifc.mc_query_due = kNever;
    ifc.mc_query_general = false;
    ifc.mc_query_groups.clear();
    if (recs.empty()) return;
    ++s_.ctr.link.IgmpReportsSent;
    mc_send_records(ifc, recs);
}

void Link::mc_timers(Interface& ifc, Time now) {
    if (ifc.mc_query_due <= now) mc_current_state(ifc);
    auto& rtx = ifc.mc_rtx;
    for (size_t i = 0; i < rtx.size();) {
        if (rtx[i].due > now) {
            ++i;
            continue;
        }
        const auto recs = std::move(rtx[i].recs);
        rtx.erase(rtx.begin() + long(i));
        if (ifc.port && ifc.up) mc_send_records(ifc, recs);
    }
}

void Link::mc_join(Interface& ifc, Ip4 group, int mode, std::span<const Ip4> srcs) {
    McGroup* g = nullptr;
    for (auto& m : ifc.mc)
        if (m.group == group) g = &m;
    std::vector<Ip4> before;
    bool was_exclude = false;
    if (g) {
        was_exclude = g->exclude();
        g->filter(&before);
    } else {
        ifc.mc.push_back({group, 0, {0, 0}, {}});
        g = &ifc.mc.back();
    }
    ++g->users;
    mc_count(*g, mode, srcs, 1);
    mc_report(ifc, group, was_exclude, before, g);
}

void Link::mc_leave(Interface& ifc, Ip4 group, int mode, std::span<const Ip4> srcs) {
    for (size_t i = 0; i < ifc.mc.size(); ++i) {
        McGroup& g = ifc.mc[i];
        if (g.group != group) continue;
        std::vector<Ip4> before;
        const bool was_exclude = g.exclude();
        g.filter(&before);
        mc_count(g, mode, srcs, -1);
        const McGroup* now = &g;
        if (--g.users == 0) {
            ifc.mc.erase(ifc.mc.begin() + long(i));
            now = nullptr;
        }
        mc_report(ifc, group, was_exclude, before, now);
        return;
    }
}

void Link::mc_change(Interface& ifc, Ip4 group, int old_mode, std::span<const Ip4> old_srcs, int mode,
                     std::span<const Ip4> srcs) {
    for (auto& g : ifc.mc) {
        if (g.group != group) continue;
        std::vector<Ip4> before;
        const bool was_exclude = g.exclude();
        g.filter(&before);
        mc_count(g, mode, srcs, 1);
        mc_count(g, old_mode, old_srcs, -1);
        mc_report(ifc, group, was_exclude, before, &g);
        return;
    }
}

// The copies other layers call.
template void Link::output_t<true>(Interface&, Ip4, buf::PacketPtr, bool);
template void Link::output_t<false>(Interface&, Ip4, buf::PacketPtr, bool);

}  // namespace usnet::link
