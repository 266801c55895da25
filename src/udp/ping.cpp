// ICMP "ping" datagram sockets (net/ipv4/ping.c): the application writes echo requests,
// the kernel (here: usnet) stamps its identifier, and matching echo replies come back.
#include <cstring>

#include "core/stack_impl.hpp"
#include "udp/udp.hpp"
#include "wire/bytes.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"

namespace usnet::udp {

Err Udp::ping_output(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt) {
    uint8_t* p = pkt->data();
    wire::store16(p + 4, sk->num);  // the identifier is the socket's "port"
    USNET_TRACE(s_.tracer, SendPing, sk->num);
    wire::IcmpRepr ic{p[0], p[1], 0, wire::load32(p + 4)};
    ic.emit(p, pkt->size() - wire::kIcmpHeaderLen);
    ip::OutOpts o;
    o.proto = wire::kProtoIcmp;
    o.tos = sk->tos;
    o.ttl = rt.dst.is_multicast() ? uint8_t(sk->mc_ttl) : (sk->ttl < 0 ? s_.cfg.default_ttl : uint8_t(sk->ttl));
    o.df = sk->pmtudisc >= IP_PMTUDISC_WANT && sk->pmtudisc != IP_PMTUDISC_OMIT;
    o.mc_loop = sk->mc_loop;
    o.mark = uint32_t(sk->mark);
    ++s_.ctr.icmp.OutMsgs;
    ++s_.ctr.icmp.OutEchos;
    return s_.ip.output(std::move(pkt), rt, o);
}

static DgramSock* ping_lookup(PortTable& t, uint16_t ident, Ip4 daddr, int dif) {
    DgramSock* found = nullptr;
    t.for_port(ident, [&](DgramSock* s) {
        if (found) return;
        if (!s->rcv_saddr.any() && s->rcv_saddr != daddr) return;
        if (s->bound_dev_if && s->bound_dev_if != dif) return;
        found = s;
    });
    return found;
}

void Udp::ping_reply(buf::PacketPtr pkt, const wire::IcmpRepr& ic) {
    DgramSock* sk = ping_lookup(idents, ic.id(), pkt->meta.dst, pkt->meta.ifindex);
    if (s_.tracer) USNET_TRACE(s_.tracer, IcmpReply, ic.id(), sk ? "fd " + std::to_string(s_.tracer->shown(sk->fd)) : std::string("no socket -> dropped"));
    USNET_TRACE_INDENT(s_.tracer);
    if (!sk) {
        s_.drop(DropReason::IcmpNoSocket, pkt->meta.src, 0, pkt->meta.dst, 0);
        return;
    }
    pkt->meta.sport = 0;
    enqueue(sk, std::move(pkt), false);
}

void Udp::ping_err(const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info, Ip4 orig_src,
                   Ip4 orig_dst, std::span<const uint8_t> quoted) {
    DgramSock* sk = nullptr;
    if (quoted.size() >= 8 && quoted[0] == wire::kIcmpEcho)
        sk = ping_lookup(idents, wire::load16(quoted.data() + 4), orig_src, icmp.meta.ifindex);
    USNET_TRACE_INDENT(s_.tracer);
    if (!sk) {
        USNET_TRACE(s_.tracer, IcmpErrNoSock);
        s_.drop(DropReason::IcmpNoSocket, icmp.meta.src, 0, icmp.meta.dst, 0);
        return;
    }
    if (s_.tracer) USNET_TRACE(s_.tracer, IcmpErrSock, s_.tracer->shown(sk->fd));
    icmp_error_to_sock(sk, icmp, type, code, info, orig_dst, 0, quoted);
}

}  // namespace usnet::udp
