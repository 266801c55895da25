// IPv4 output: header, fragmentation (ip_fragment), and the choice of device path:
// loopback for local destinations, a looped-back copy of broadcasts and of multicasts the
// host itself joined (ip_mc_output), and the link layer for the rest.
#include <cstring>

#include "core/stack_impl.hpp"
#include "ip/ip.hpp"
#include "wire/ipv4.hpp"

namespace usnet::ip {

static buf::PacketPtr copy_packet(buf::Pool& pool, const buf::Packet& p) {
    auto c = pool.alloc(p.size());
    if (!c) return c;
    std::memcpy(c->put(p.size()), p.data(), p.size());
    c->meta = p.meta;
    return c;
}

wire::Ipv4Repr Ip::out_header(uint32_t total, const RouteResult& rt, const OutOpts& o) {
    wire::Ipv4Repr h;
    h.tos = o.tos;
    h.ttl = o.ttl;
    h.proto = o.proto;
    h.src = rt.src;
    h.dst = rt.dst;
    h.total_len = uint16_t(total);
    h.frag = (o.df && total <= rt.mtu) ? wire::kIpDF : 0;
    // ip_select_ident: connected sockets count their own ids; DF datagrams of others carry 0.
    if (o.have_id) h.id = o.id;
    else if (h.frag & wire::kIpDF) h.id = 0;
    else h.id = next_id_++;
    return h;
}

bool Ip::output_parts(const RouteResult& rt, const OutOpts& o, buf::HeaderStack& h, std::span<const iovec> payload,
                      uint32_t plen, bool csum_partial) {
    // send_to_dev's last case only: a unicast route through an Ethernet device, unfragmented.
    const uint32_t total = wire::kIpv4HeaderLen + h.size() + plen;
    if ((rt.flags & (kRtLocal | kRtBroadcast | kRtMulticast)) || rt.dev->loopback || total > rt.mtu) return false;
    link::Neighbour* n = s_.link.parts_neighbour(*rt.dev, rt.nexthop);
    if (!n) return false;
    out_header(total, rt, o).emit(h.push(wire::kIpv4HeaderLen));
    ++s_.ctr.ip.OutRequests;
    s_.link.output_parts(*rt.dev, *n, h, payload, plen, csum_partial);
    return true;
}

template <bool Tr>
Err Ip::output_t(buf::PacketPtr pkt, const RouteResult& rt, const OutOpts& o) {
    USNET_TRACER(s_);
    const uint32_t total = pkt->size() + wire::kIpv4HeaderLen;
    const bool fits = total <= rt.mtu;
    const wire::Ipv4Repr h = out_header(total, rt, o);
    h.emit(pkt->push(wire::kIpv4HeaderLen));
    pkt->meta.csum_ok = false;
    pkt->meta.mark = o.mark;
    ++s_.ctr.ip.OutRequests;
    USNET_TRACE(tr_, IpOutput, h.src, h.dst, h.proto == wire::kProtoUdp ? "UDP" : h.proto == wire::kProtoIcmp ? "ICMP" : "?",
                h.ttl, h.id, total, (h.frag & wire::kIpDF) ? ", DF" : "");
    USNET_TRACE_INDENT(tr_);
    if (!fits) {
        fragment_out(std::move(pkt), rt, o.mc_loop);
        return Err::None;
    }
    send_to_dev_t<Tr>(std::move(pkt), rt, o.mc_loop);
    return Err::None;
}

Err Ip::output(buf::PacketPtr pkt, const RouteResult& rt, const OutOpts& o) {
    return USNET_TRACED(s_, output_t, std::move(pkt), rt, o);
}

template <bool Tr>
void Ip::send_to_dev_t(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop) {
    USNET_TRACER(s_);
    link::Interface& dev = *rt.dev;
    if (dev.loopback && !(rt.flags & (kRtBroadcast | kRtMulticast))) {
        USNET_TRACE(tr_, DevLoopback);
        s_.link.loopback_xmit(std::move(pkt), rt.local_dev);
        return;
    }
    if (dev.loopback) {
        USNET_TRACE(tr_, DevLoopback);
        s_.link.loopback_xmit(std::move(pkt));
        return;
    }
    if (rt.flags & kRtBroadcast) {
        USNET_TRACE(tr_, DevLoopCopy);
        if (auto copy = copy_packet(s_.pool, *pkt)) {
            copy->meta.mc_copy = true;
            s_.link.loopback_xmit(std::move(copy), dev.ifindex);
        }
        s_.link.output_t<Tr>(dev, rt.nexthop, std::move(pkt), true);
        return;
    }
    if (rt.flags & kRtMulticast) {
        if ((rt.flags & kRtLocal) && mc_loop) {
            USNET_TRACE(tr_, DevLoopCopy);
            if (auto copy = copy_packet(s_.pool, *pkt)) {
            copy->meta.mc_copy = true;
            s_.link.loopback_xmit(std::move(copy), dev.ifindex);
        }
        }
        if (pkt->data()[8] == 0) return;  // TTL 0 multicast stays on the host
        s_.link.output_t<Tr>(dev, rt.dst, std::move(pkt), false);
        return;
    }
    if (rt.flags & kRtLocal) {
        USNET_TRACE(tr_, DevLoopback);
        s_.link.loopback_xmit(std::move(pkt), rt.local_dev);
        return;
    }
    s_.link.output_t<Tr>(dev, rt.nexthop, std::move(pkt), false);
}

void Ip::send_to_dev(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop) {
    USNET_TRACED(s_, send_to_dev_t, std::move(pkt), rt, mc_loop);
}

// ip_fragment: pieces of (mtu - header) rounded down to 8 bytes; each a fresh packet.
void Ip::fragment_out(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop) {
    wire::Ipv4Repr h;
    if (wire::Ipv4Repr::parse(pkt->bytes(), &h, false) != wire::Ipv4Error::Ok) return;
    const uint32_t hl = h.header_len;
    const uint32_t payload = pkt->size() - hl;
    const uint32_t chunk = ((rt.mtu > hl + 8 ? rt.mtu : hl + 8) - hl) & ~7u;
    USNET_TRACE(s_.tracer, IpFragment, pkt->size(), rt.mtu, (payload + chunk - 1) / chunk);
    USNET_TRACE_INDENT(s_.tracer);
    for (uint32_t off = 0; off < payload; off += chunk) {
        const uint32_t n = std::min(chunk, payload - off);
        auto f = s_.pool.alloc(n + hl);
        if (!f) {
            ++s_.ctr.ip.FragFails;
            return;
        }
        wire::Ipv4Repr fh = h;
        fh.total_len = uint16_t(hl + n);
        fh.frag = uint16_t(((off / 8) & wire::kIpOffMask) | ((off + n < payload) ? wire::kIpMF : 0));
        fh.emit(f->put(wire::kIpv4HeaderLen));
        std::memcpy(f->put(n), pkt->data() + hl + off, n);
        f->meta = pkt->meta;
        ++s_.ctr.ip.FragCreates;
        send_to_dev(std::move(f), rt, mc_loop);
    }
    ++s_.ctr.ip.FragOKs;
}

// The copies other layers call.
template Err Ip::output_t<true>(buf::PacketPtr, const RouteResult&, const OutOpts&);
template Err Ip::output_t<false>(buf::PacketPtr, const RouteResult&, const OutOpts&);

}  // namespace usnet::ip
