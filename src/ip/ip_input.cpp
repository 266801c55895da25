// IPv4 input: ip_rcv's validation, the input routing decision (local, broadcast,
// multicast, or not ours), reassembly (ip_defrag) and local delivery by protocol.
#include <algorithm>
#include <cstring>

#include "core/stack_impl.hpp"
#include "ip/ip.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"

namespace usnet::ip {

template <bool Tr>
void Ip::input_t(link::Interface& ifc, buf::PacketPtr pkt) {
    USNET_TRACER(s_);
    auto& c = s_.ctr.ip;
    ++c.InReceives;
    wire::Ipv4Repr h;
    // The addresses, when there are enough bytes to hold them, name a bad datagram.
    const bool addressed = pkt->size() >= wire::kIpv4HeaderLen;
    const Ip4 raw_src = addressed ? Ip4(wire::load32(pkt->data() + 12)) : Ip4();
    const Ip4 raw_dst = addressed ? Ip4(wire::load32(pkt->data() + 16)) : Ip4();
    switch (wire::Ipv4Repr::parse(pkt->bytes(), &h, !pkt->meta.csum_ok)) {
        case wire::Ipv4Error::Ok: break;
        case wire::Ipv4Error::TotalLength:
            if (addressed && wire::load16(pkt->data() + 2) > pkt->size()) {
                USNET_TRACE(tr_, IpTruncated, wire::load16(pkt->data() + 2), pkt->size());
                ++c.InTruncatedPkts;
                s_.drop(DropReason::TruncatedIp, raw_src, 0, raw_dst, 0);
                return;
            }
            USNET_TRACE(tr_, IpBadHdr);
            ++c.InHdrErrors;
            s_.drop(DropReason::BadIpHeader, raw_src, 0, raw_dst, 0);
            return;
        case wire::Ipv4Error::Checksum:
            USNET_TRACE(tr_, IpBadCsum);
            ++c.InCsumErrors;
            ++c.InHdrErrors;
            s_.drop(DropReason::BadIpHeader, raw_src, 0, raw_dst, 0);
            return;
        default:
            USNET_TRACE(tr_, IpBadHdr);
            ++c.InHdrErrors;
            s_.drop(DropReason::BadIpHeader, raw_src, 0, raw_dst, 0);
            return;
    }
    USNET_TRACE(tr_, IpRcv, h.src, h.dst, h.proto == wire::kProtoUdp ? "UDP" : h.proto == wire::kProtoIcmp ? "ICMP" : h.proto == wire::kProtoIgmp ? "IGMP" : std::to_string(h.proto),
                h.ttl, h.total_len);
    USNET_TRACE_INDENT(tr_);
    pkt->trim(h.total_len);
    // Martians (ip_route_input_slow / fib_validate_source): dropped without an Ip MIB count
    // (Linux only bumps rt_cache stats). From a real device, zero addresses are accepted only
    // for limited broadcast (a DHCP client's 0.0.0.0 -> 255.255.255.255), and a 127/8 or
    // zero-network destination is a martian (route_localnet=0); that check was missing, so
    // a remote host could reach sockets bound to 127.0.0.1. Looped-back packets keep their
    // output route in Linux and skip these checks.
    if (h.src.is_multicast() || h.src.is_lbcast()) {
        USNET_TRACE(tr_, IpMartian, h.src, h.dst);
        s_.drop(DropReason::Martian, h.src, 0, h.dst, 0);
        return;
    }
    if (!ifc.loopback) {
        const bool limited_bcast = h.dst.is_lbcast() || (h.src.any() && h.dst.any());
        if (h.src.is_loopback() || is_local_addr(h.src) ||
            (!limited_bcast && (h.src.is_zeronet() || h.dst.is_zeronet() || h.dst.is_loopback()))) {
            USNET_TRACE(tr_, IpMartian, h.src, h.dst);
            s_.drop(DropReason::Martian, h.src, 0, h.dst, 0);
            return;
        }
    }
    uint8_t flags = 0;
    if (h.dst.is_lbcast() || (h.dst.any() && !ifc.loopback)) {
        flags = kRtBroadcast | kRtLocal;
    } else if (h.dst.is_multicast()) {
        // ip_route_input_mc / ip_check_mc_rcu: joined on this interface (224.0.0.1 always
        // is), and the source passes the interface's filter (any source, for IGMP itself).
        const link::McGroup* g = ifc.group(h.dst);
        if (!ifc.loopback && (!g || (h.proto != wire::kProtoIgmp && !g->allows(h.src)))) {
            USNET_TRACE(tr_, IpNotJoined, h.dst, ifc.name);
            ++c.InAddrErrors;
            s_.drop(DropReason::NotJoined, h.src, 0, h.dst, 0);
            return;
        }
        flags = kRtMulticast | kRtLocal;
    } else {
        switch (addr_type(h.dst)) {
            case RouteType::Local: flags = kRtLocal; break;
            case RouteType::Broadcast: flags = kRtBroadcast | kRtLocal; break;
            default:
                if (s_.cfg.ip_forward && !ifc.loopback) {
                    USNET_TRACE(tr_, IpForward, h.src, h.dst);
                    forward(std::move(pkt), h);
                    return;
                }
                // Not ours. With forwarding off (the default) ip_error drops it silently.
                USNET_TRACE(tr_, IpNotOurs, h.dst);
                ++c.InAddrErrors;
                s_.drop(DropReason::NotForUs, h.src, 0, h.dst, 0);
                return;
        }
    }
    pkt->meta.route_flags = flags;
    USNET_TRACE(tr_, IpInputRoute, h.dst, (flags & kRtBroadcast) ? "RTN_BROADCAST" : (flags & kRtMulticast) ? "RTN_MULTICAST" : "RTN_LOCAL");
    // A looped-back broadcast/multicast is seen as arriving on the device it was sent on.
    pkt->meta.ifindex = pkt->meta.loop_dev ? pkt->meta.loop_dev : ifc.ifindex;
    pkt->meta.in_dev = ifc.ifindex;
    if (h.is_fragment()) {
        USNET_IF_TRACING(tr_) USNET_TRACE(tr_, IpDefrag, h.frag_offset(), h.total_len - h.header_len, h.mf() ? ", more fragments follow" : ", the last");
        pkt = reassemble(std::move(pkt));
        if (!pkt) return;
        wire::Ipv4Repr::parse(pkt->bytes(), &h, false);
    }
    pkt->meta.src = h.src;
    pkt->meta.dst = h.dst;
    pkt->meta.ttl = h.ttl;
    pkt->meta.tos = h.tos;
    pkt->meta.ip_id = h.id;
    pkt->meta.l3_off = pkt->head_offset();
    pkt->pull(h.header_len);
    local_deliver_t<Tr>(std::move(pkt));
}

void Ip::input(link::Interface& ifc, buf::PacketPtr pkt) {
    USNET_TRACED(s_, input_t, ifc, std::move(pkt));
}

bool Ip::input_direct(link::Interface& ifc, std::span<const uint8_t> p, bool csum_ok, const udp::DirectRx& want) {
    // input_t's case of a UDP datagram without options or fragment, for a local unicast
    // destination, from no martian source.
    wire::Ipv4Repr h;
    if (ifc.loopback || wire::Ipv4Repr::parse(p, &h, !csum_ok) != wire::Ipv4Error::Ok) return false;
    if (h.header_len != wire::kIpv4HeaderLen || h.is_fragment() || h.proto != wire::kProtoUdp) return false;
    if (h.src.is_multicast() || h.src.is_lbcast() || h.src.is_loopback() || h.src.is_zeronet() ||
        h.dst.is_zeronet() || h.dst.is_loopback())
        return false;
    if (addr_type(h.dst) != RouteType::Local || is_local_addr(h.src)) return false;
    if (!s_.udp.input_direct(ifc.ifindex, h.src, h.dst, p.subspan(h.header_len, h.total_len - h.header_len), csum_ok,
                             want))
        return false;
    ++s_.ctr.ip.InReceives;
    ++s_.ctr.ip.InDelivers;
    return true;
}

// ip_forward (net.ipv4.ip_forward=1): TTL, the route, and ICMP for what cannot go on.
void Ip::forward(buf::PacketPtr pkt, const wire::Ipv4Repr& h) {
    auto& c = s_.ctr.ip;
    pkt->meta.route_flags = 0;
    if (h.ttl <= 1) {
        // ip_forward: time exceeded in transit (code 0) back to the sender.
        s_.drop(DropReason::TtlExpired, h.src, 0, h.dst, 0);
        icmp_send_error(*pkt, wire::kIcmpTimeExceeded, 0, 0);
        return;
    }
    Flow fl;
    fl.daddr = h.dst;
    RouteResult rt;
    const Route* r = lookup(h.dst);
    if (r && r->spec.type == RouteType::Blackhole) {
        s_.drop(DropReason::Blackhole, h.src, 0, h.dst, 0);
        return;
    }
    if (!r || r->spec.type == RouteType::Unreachable || r->spec.type == RouteType::Prohibit ||
        route_output(fl, &rt) != Err::None || (rt.flags & (kRtLocal | kRtBroadcast))) {
        ++c.InAddrErrors;
        s_.drop(DropReason::NotForUs, h.src, 0, h.dst, 0);
        const uint8_t code = r && r->spec.type == RouteType::Prohibit ? 13 /*filtered*/
                             : r && r->spec.type == RouteType::Unreachable ? wire::kIcmpHostUnreach
                                                                            : wire::kIcmpNetUnreach;
        icmp_send_error(*pkt, wire::kIcmpDestUnreach, code, 0);
        return;
    }
    if (h.total_len > rt.mtu && h.df()) {
        // Fragmentation needed and DF set: tell the sender the next hop's MTU.
        icmp_send_error(*pkt, wire::kIcmpDestUnreach, wire::kIcmpFragNeeded, rt.mtu);
        return;
    }
    // ip_decrease_ttl: the checksum is patched incrementally (RFC 1624).
    uint8_t* p = pkt->data();
    p[8] = uint8_t(p[8] - 1);
    uint32_t sum = uint32_t(wire::load16(p + 10)) + 0x0100;
    sum = (sum & 0xffff) + (sum >> 16);
    wire::store16(p + 10, uint16_t(sum));
    ++c.ForwDatagrams;
    pkt->meta.csum_ok = false;
    if (pkt->meta.csum_partial) {
        // Leaving the host: the checksum the kernel left to us is finished first.
        wire::complete_partial_checksum(pkt->data(), pkt->size(), h.header_len, 6);
        pkt->meta.csum_partial = false;
    }
    if (h.total_len > rt.mtu) {
        fragment_out(std::move(pkt), rt, false);
        return;
    }
    send_to_dev(std::move(pkt), rt, false);
}

template <bool Tr>
void Ip::local_deliver_t(buf::PacketPtr pkt) {
    USNET_TRACER(s_);
    auto& c = s_.ctr.ip;
    const uint8_t proto = pkt->base()[pkt->meta.l3_off + 9];
    USNET_IF_TRACING(tr_) {
        if (proto == wire::kProtoUdp || proto == wire::kProtoIcmp || proto == wire::kProtoIgmp)
            USNET_TRACE(tr_, IpDeliver, proto, proto == wire::kProtoUdp ? "udp_rcv" : proto == wire::kProtoIcmp ? "icmp_rcv" : "igmp_rcv");
        else
            USNET_TRACE(tr_, IpDeliverNone, proto);
    }
    switch (proto) {
        case wire::kProtoUdp:
            ++c.InDelivers;
            s_.udp.input_t<Tr>(std::move(pkt));
            return;
        case wire::kProtoIcmp:
            ++c.InDelivers;
            icmp_input(std::move(pkt));
            return;
        case wire::kProtoIgmp:
            // igmp_rcv: queries are answered (link layer); reports are consumed (no router role).
            ++c.InDelivers;
            if (auto* ifc = s_.iface(pkt->meta.ifindex)) s_.link.igmp_input(*ifc, pkt->data(), pkt->size());
            return;
        default:
            ++c.InUnknownProtos;
            s_.drop(DropReason::UnknownProtocol, pkt->meta.src, 0, pkt->meta.dst, 0);
            if (!(pkt->meta.route_flags & (kRtBroadcast | kRtMulticast))) {
                pkt->set_head(pkt->meta.l3_off);
                icmp_send_error(*pkt, wire::kIcmpDestUnreach, wire::kIcmpProtUnreach, 0);
            }
            return;
    }
}

void Ip::local_deliver(buf::PacketPtr pkt) {
    USNET_TRACED(s_, local_deliver_t, std::move(pkt));
}

// ip_defrag: queues keyed by (src, dst, id, proto), memory bounded by ipfrag_high_thresh,
// overlapping fragments drop the whole queue (RFC 5722 style, as Linux does for IPv4 too).
buf::PacketPtr Ip::reassemble(buf::PacketPtr pkt) {
    auto& c = s_.ctr.ip;
    ++c.ReasmReqds;
    wire::Ipv4Repr h;
    wire::Ipv4Repr::parse(pkt->bytes(), &h, false);
    const uint32_t hl = h.header_len;
    const uint32_t off = h.frag_offset();
    const uint32_t len = pkt->size() - hl;
    const uint32_t end = off + len;
    auto bad = [&](DropReason r) {
        s_.drop(r, h.src, 0, h.dst, 0);
        return buf::PacketPtr();
    };
    if (end > 65535 - hl || (h.mf() && (len == 0 || (len & 7)))) {
        ++c.ReasmFails;
        return bad(DropReason::BadFragment);
    }
    FragQueue* q = nullptr;
    for (auto& f : frags_)
        if (f.src == h.src && f.dst == h.dst && f.id == h.id && f.proto == h.proto) q = &f;
    const uint32_t ts = pkt->capacity();
    if (!q) {
        if (frag_mem_ + ts > s_.cfg.ipfrag_high_thresh) {
            ++c.ReasmFails;
            return bad(DropReason::ReassemblyMemory);
        }
        auto data = s_.pool.alloc(65536, buf::kHeadroom);
        if (!data) {
            ++c.ReasmFails;
            return bad(DropReason::ReassemblyMemory);
        }
        frags_.push_back(FragQueue{h.src, h.dst, h.id, h.proto, std::move(data), 0, 0, 0, false,
                                   s_.now() + s_.cfg.ipfrag_time, {}});
        q = &frags_.back();
        q->truesize = uint32_t(buf::Pool::kLarge);
        frag_mem_ += q->truesize;
    }
    auto drop_queue = [&]() {
        frag_mem_ -= q->truesize;
        frags_.erase(frags_.begin() + (q - frags_.data()));
        ++c.ReasmFails;
    };
    // Like ip_frag_queue, compare a last fragment with the furthest end seen so far (q.len),
    // not with the bytes received: otherwise a fragment lying beyond the announced end lets
    // the byte count reach the total while a hole remains, and the hole's stale buffer
    // contents would be delivered as data.
    uint32_t max_end = 0;
    for (const auto& r : q->ranges) max_end = std::max(max_end, r.second);
    if (!h.mf()) {
        if ((q->total && q->total != end) || end < max_end) {
            drop_queue();
            return bad(DropReason::BadFragment);
        }
        q->total = end;
    } else if (q->total && end > q->total) {
        drop_queue();
        return bad(DropReason::BadFragment);
    }
    for (const auto& r : q->ranges) {
        if (off < r.second && end > r.first) {
            if (off == r.first && end == r.second) return bad(DropReason::BadFragment);  // exact duplicate: ignore
            drop_queue();
            return bad(DropReason::BadFragment);
        }
    }
    if (q->ranges.size() >= 64) {
        drop_queue();
        return bad(DropReason::BadFragment);
    }
    uint8_t* base = q->data->data();
    if (off == 0) {
        // The first fragment's header becomes the reassembled datagram's header.
        std::memcpy(base, pkt->data(), hl);
        q->first_seen = true;
        q->data->meta = pkt->meta;
    }
    std::memcpy(base + 60 + off, pkt->data() + hl, len);
    q->ranges.emplace_back(off, end);
    q->have += len;
    if (!q->first_seen || !q->total || q->have != q->total) return {};

    // Complete: move the first header so it sits right before the payload.
    buf::PacketPtr out = std::move(q->data);
    wire::Ipv4Repr fh;
    wire::Ipv4Repr::parse({base, 60}, &fh, false);
    const uint32_t fhl = fh.header_len;
    std::memmove(base + 60 - fhl, base, fhl);
    out->pull(60 - fhl);
    out->put(60 + q->total);
    out->trim(fhl + q->total);
    uint8_t* p = out->data();
    wire::store16(p + 2, uint16_t(fhl + q->total));
    wire::store16(p + 6, 0);
    p[10] = p[11] = 0;
    const uint16_t cs = wire::checksum(p, fhl);
    p[10] = uint8_t(cs >> 8);
    p[11] = uint8_t(cs);
    out->meta.truesize = q->have + uint32_t(q->ranges.size()) * 832;
    frag_mem_ -= q->truesize;
    frags_.erase(frags_.begin() + (q - frags_.data()));
    ++c.ReasmOKs;
    return out;
}

void Ip::timers(Time now) {
    for (size_t i = 0; i < frags_.size(); ++i) {
        FragQueue& q = frags_[i];
        if (q.expires > now) continue;
        trace::Event ev(s_.tracer, trace::EventKind::Timer,
                        s_.tracer ? "reassembly of " + q.src.str() + " -> " + q.dst.str() + " id " + std::to_string(q.id) : std::string(), 0);
        USNET_TRACE(s_.tracer, ReasmExpire, q.have);
        ++s_.ctr.ip.ReasmTimeout;
        ++s_.ctr.ip.ReasmFails;
        s_.drop(DropReason::ReassemblyTimeout, q.src, 0, q.dst, 0);
        // ip_expire: time exceeded (fragment reassembly) if the first fragment arrived.
        if (q.first_seen) {
            USNET_TRACE(s_.tracer, ReasmExpireIcmp);
            buf::Packet& d = *q.data;
            wire::Ipv4Repr fh;
            wire::Ipv4Repr::parse({d.data(), 60}, &fh, false);
            // Quote the first fragment as it arrived (its header, total length and checksum
            // untouched; icmp_send trims to 576 bytes), as Linux quotes the queue's head skb.
            // Quoting only 8 bytes under a rewritten total length left the quoted header's
            // checksum wrong and the message shorter than the kernel's.
            uint32_t first_len = 0;
            for (const auto& r : q.ranges)
                if (r.first == 0) first_len = r.second;
            std::memmove(d.data() + fh.header_len, d.data() + 60, first_len);
            d.put(fh.header_len + first_len);
            icmp_send_error(d, wire::kIcmpTimeExceeded, 1, 0);
        }
        frag_mem_ -= q.truesize;
        frags_.erase(frags_.begin() + long(i));
        --i;
    }
}

Time Ip::next_deadline() const {
    Time t = kNever;
    for (const auto& q : frags_) t = std::min(t, q.expires.get());
    return t;
}

// The copies other layers call.
template void Ip::input_t<true>(link::Interface&, buf::PacketPtr);
template void Ip::input_t<false>(link::Interface&, buf::PacketPtr);

}  // namespace usnet::ip
