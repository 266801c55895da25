// ICMP: echo replies, error generation with Linux's rate limits (icmp_send,
// icmpv4_xrlim_allow), and received errors handed to the protocol they quote.
#include <algorithm>
#include <cstring>

#include "core/stack_impl.hpp"
#include "ip/ip.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet::ip {

// ", ICMP_DEST_UNREACH" for a trace.
static std::string icmp_type_name(uint8_t t) {
    switch (t) {
        case wire::kIcmpEchoReply: return " (ICMP_ECHOREPLY)";
        case wire::kIcmpDestUnreach: return " (ICMP_DEST_UNREACH)";
        case wire::kIcmpSourceQuench: return " (ICMP_SOURCE_QUENCH)";
        case wire::kIcmpRedirect: return " (ICMP_REDIRECT)";
        case wire::kIcmpEcho: return " (ICMP_ECHO)";
        case wire::kIcmpTimeExceeded: return " (ICMP_TIME_EXCEEDED)";
        case wire::kIcmpParamProb: return " (ICMP_PARAMETERPROB)";
        default: return "";
    }
}

// icmp_global_allow (msgs_per_sec with a burst) then inet_peer_xrlim_allow (one per
// icmp_ratelimit ms per peer, bursts of 6). Errors to this host itself are never limited.
bool Ip::icmp_rate_allow(Ip4 dst) {
    if (is_local_addr(dst) || dst.is_loopback()) return true;
    const Time now = s_.now();
    const auto& cfg = s_.cfg;
    if (global_credit_ < 0) {
        global_credit_ = cfg.icmp_msgs_burst;
        global_stamp_ = now;
    }
    const int64_t refill = (now - global_stamp_) * int64_t(cfg.icmp_msgs_per_sec) / kSec;
    if (refill > 0) {
        global_credit_ = std::min<int64_t>(cfg.icmp_msgs_burst, global_credit_ + refill);
        global_stamp_ = now;
    }
    if (global_credit_ <= 0) {
        ++s_.ctr.icmp.OutRateLimitGlobal;
        return false;
    }
    --global_credit_;
    const int64_t timeout = int64_t(cfg.icmp_ratelimit_ms) * kMs;
    if (timeout == 0) return true;
    Bucket* b = nullptr;
    for (auto& x : peer_buckets_)
        if (x.peer == dst) b = &x;
    if (!b && peer_buckets_.size() >= kMaxPeerBuckets) {
        // The inet_peer pool is bounded too: the peer idle longest makes room (its next error
        // starts from a full burst, as a peer aged out of inet_peer would).
        b = &*std::min_element(peer_buckets_.begin(), peer_buckets_.end(),
                               [](const Bucket& x, const Bucket& y) { return x.last < y.last; });
        *b = Bucket{};
        b->peer = dst;
        b->tokens = 6 * timeout;
        b->last = now;
    }
    if (!b) {
        b = &peer_buckets_.emplace_back();
        b->peer = dst;
        b->tokens = 6 * timeout;
        b->last = now;
    }
    b->tokens = std::min<int64_t>(6 * timeout, b->tokens + (now - b->last));
    b->last = now;
    if (b->tokens >= timeout) {
        b->tokens -= timeout;
        return true;
    }
    ++s_.ctr.icmp.OutRateLimitHost;
    return false;
}

void Ip::icmp_send_error(const buf::Packet& orig, uint8_t type, uint8_t code, uint32_t info) {
    wire::Ipv4Repr h;
    if (wire::Ipv4Repr::parse(orig.bytes(), &h, false) != wire::Ipv4Error::Ok) return;
    USNET_TRACE_INDENT(s_.tracer);
    // Never about broadcasts, multicasts, later fragments, or ICMP errors (RFC 1122 3.2.2).
    auto not_sent = [&](const char* why) { USNET_TRACE(s_.tracer, IcmpSendNot, why); };
    if ((orig.meta.route_flags & (kRtBroadcast | kRtMulticast)) || h.dst.is_multicast() || h.dst.is_lbcast())
        return not_sent("never about a broadcast or multicast, RFC 1122 3.2.2");
    if (h.frag & wire::kIpOffMask) return not_sent("never about a later fragment");
    if (h.src.is_zeronet() || h.src.is_multicast() || h.src.is_lbcast()) return not_sent("the source cannot be answered");
    if (h.proto == wire::kProtoIcmp) {
        const uint8_t* in = orig.data() + h.header_len;
        if (orig.size() < h.header_len + 1u) return;
        const uint8_t t = in[0];
        if (t != wire::kIcmpEcho && t != wire::kIcmpEchoReply && t != 13 && t != 14)
            return not_sent("never about an ICMP error");
    }
    if (!icmp_rate_allow(h.src)) return not_sent("rate limited: icmp_msgs_per_sec or icmp_ratelimit");
    Flow fl;
    fl.daddr = h.src;
    // __icmp_send: a datagram routed to this host (RTCF_LOCAL, e.g. 127.0.0.2 by the local
    // 127/8 route) is answered from the address it was sent to.
    if ((orig.meta.route_flags & kRtLocal) || is_local_addr(h.dst)) fl.saddr = h.dst;
    RouteResult rt;
    if (route_output(fl, &rt) != Err::None) {
        ++s_.ctr.icmp.OutErrors;
        return not_sent("no route back to the sender");
    }
    if (s_.tracer)
        USNET_TRACE(s_.tracer, IcmpSend, type == wire::kIcmpDestUnreach ? "ICMP_DEST_UNREACH" : type == wire::kIcmpTimeExceeded ? "ICMP_TIME_EXCEEDED" : std::to_string(type),
                    code, h.src, h.dst.str() + " (protocol " + std::to_string(h.proto) + ")", "dev " + rt.dev->name);
    // Quote as much of the original as fits in 576 bytes (icmp_send's room).
    const uint32_t quote = std::min<uint32_t>(h.total_len, 576 - 20 - 8);
    auto pkt = s_.pool.alloc(wire::kIcmpHeaderLen + quote);
    if (!pkt) return;
    uint8_t* p = pkt->put(wire::kIcmpHeaderLen + quote);
    std::memcpy(p + wire::kIcmpHeaderLen, orig.data(), std::min<uint32_t>(quote, orig.size()));
    if (orig.meta.csum_partial && h.proto == wire::kProtoUdp && quote >= h.header_len + wire::kUdpHeaderLen) {
        // The kernel left this datagram's checksum to us (NEEDS_CSUM on a TAP): quote it
        // finished, as it would have been on a wire.
        const uint8_t* udp = orig.data() + h.header_len;
        const uint32_t ulen = std::min<uint32_t>(wire::load16(udp + 4), orig.size() - h.header_len);
        const uint16_t c = wire::checksum(udp, ulen);  // the field holds the pseudo-header sum
        wire::store16(p + wire::kIcmpHeaderLen + h.header_len + 6, c ? c : 0xffff);
    }
    wire::IcmpRepr ic{type, code, 0, info};
    ic.emit(p, quote);
    ++s_.ctr.icmp.OutMsgs;
    if (type == wire::kIcmpDestUnreach) ++s_.ctr.icmp.OutDestUnreachs;
    if (type == wire::kIcmpTimeExceeded) ++s_.ctr.icmp.OutTimeExcds;
    OutOpts o;
    o.ttl = s_.cfg.default_ttl;
    o.tos = uint8_t((h.tos & 0x1e) | 0xc0);
    o.proto = wire::kProtoIcmp;
    output(std::move(pkt), rt, o);
}

void Ip::icmp_input(buf::PacketPtr pkt) {
    auto& c = s_.ctr.icmp;
    ++c.InMsgs;
    wire::IcmpRepr ic;
    auto bad = [&](DropReason r) { s_.drop(r, pkt->meta.src, 0, pkt->meta.dst, 0); };
    if (!wire::IcmpRepr::parse(pkt->bytes(), &ic, !pkt->meta.csum_ok)) {
        USNET_TRACE(s_.tracer, IcmpBad);
        if (pkt->size() >= wire::kIcmpHeaderLen) ++c.InCsumErrors;
        ++c.InErrors;
        bad(DropReason::BadIcmp);
        return;
    }
    USNET_TRACE(s_.tracer, IcmpRcv, ic.type, ic.code, icmp_type_name(ic.type));
    USNET_TRACE_INDENT(s_.tracer);
    switch (ic.type) {
        case wire::kIcmpEcho: {
            ++c.InEchos;
            if ((pkt->meta.route_flags & (kRtBroadcast | kRtMulticast)) && s_.cfg.icmp_echo_ignore_broadcasts) {
                USNET_TRACE(s_.tracer, IcmpEchoBcast);
                bad(DropReason::EchoIgnored);
                return;
            }
            USNET_TRACE(s_.tracer, IcmpEcho, pkt->meta.src);
            Flow fl;
            fl.daddr = pkt->meta.src;
            if (pkt->meta.route_flags & kRtLocal && !(pkt->meta.route_flags & (kRtBroadcast | kRtMulticast)))
                fl.saddr = pkt->meta.dst;
            RouteResult rt;
            if (route_output(fl, &rt) != Err::None) {
                bad(DropReason::NoRouteBack);
                return;
            }
            // Reply in place: same identifier, sequence and payload.
            uint8_t* p = pkt->data();
            wire::IcmpRepr rep{wire::kIcmpEchoReply, 0, 0, ic.rest};
            rep.emit(p, pkt->size() - wire::kIcmpHeaderLen);
            const uint8_t tos = pkt->meta.tos;
            pkt->meta = buf::Meta{};
            ++c.OutMsgs;
            ++c.OutEchoReps;
            OutOpts o;
            o.ttl = s_.cfg.default_ttl;
            o.tos = tos;
            o.proto = wire::kProtoIcmp;
            output(std::move(pkt), rt, o);
            return;
        }
        case wire::kIcmpEchoReply:
            ++c.InEchoReps;
            s_.udp.ping_reply(std::move(pkt), ic);
            return;
        case wire::kIcmpDestUnreach: ++c.InDestUnreachs; break;
        case wire::kIcmpTimeExceeded: ++c.InTimeExcds; break;
        case wire::kIcmpParamProb: ++c.InParmProbs; break;
        case wire::kIcmpSourceQuench: ++c.InSrcQuenchs; break;
        case wire::kIcmpRedirect: ++c.InRedirects; break;
        default: bad(DropReason::IcmpUnhandled); return;
    }
    // An error: it must quote the original header and 8 bytes of its payload.
    auto inner = pkt->bytes().subspan(wire::kIcmpHeaderLen);
    wire::Ipv4Repr ih;
    if (inner.size() < wire::kIpv4HeaderLen) {
        ++c.InErrors;
        bad(DropReason::BadIcmp);
        return;
    }
    const uint32_t ihl = uint32_t(inner[0] & 15) * 4;
    if ((inner[0] >> 4) != 4 || ihl < 20 || inner.size() < ihl + 8) {
        ++c.InErrors;
        bad(DropReason::BadIcmp);
        return;
    }
    ih.header_len = uint8_t(ihl);
    ih.proto = inner[9];
    ih.src = Ip4(wire::load32(inner.data() + 12));
    ih.dst = Ip4(wire::load32(inner.data() + 16));
    auto l4 = inner.subspan(ihl);
    if (ih.proto == wire::kProtoUdp) {
        const uint16_t sport = wire::load16(l4.data()), dport = wire::load16(l4.data() + 2);
        s_.udp.err(*pkt, ic.type, ic.code, ic.rest, ih.src, ih.dst, sport, dport, l4.subspan(8));
    } else if (ih.proto == wire::kProtoIcmp) {
        USNET_TRACE(s_.tracer, IcmpErr, "ping_err", ih.src, 0, ih.dst, 0);
        s_.udp.ping_err(*pkt, ic.type, ic.code, ic.rest, ih.src, ih.dst, l4);
    } else {
        bad(DropReason::IcmpNoSocket);  // about a protocol with no sockets here
    }
}

}  // namespace usnet::ip
