// UDP (net/ipv4/udp.c): bind conflicts, demux, receive accounting, ICMP errors, output.
#include "udp/udp.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "core/stack_impl.hpp"
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

bool PortTable::conflicts(const DgramSock* sk, uint16_t port, bool* join_group) const {
    for (DgramSock* s = buckets_[port & kMask]; s; s = s->port_next) {
        if (s == sk || s->num != port) continue;
        if (s->reuseaddr && sk->reuseaddr) continue;
        if (ident_mode) return true;
        if (s->bound_dev_if && sk->bound_dev_if && s->bound_dev_if != sk->bound_dev_if) continue;
        if (!addrs_overlap(sk, s)) continue;
        // Both SO_REUSEPORT (same owner): Linux stops looking at the first such socket.
        if (s->reuseport && sk->reuseport) {
            *join_group = true;
            return false;
        }
        return true;
    }
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

bool PortTable::get_port(DgramSock* sk, uint16_t snum, uint16_t lo, uint16_t hi, uint64_t rnd) {
    bool join = false;
    if (snum) {
        if (conflicts(sk, snum, &join)) return false;
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

static uint32_t flow_hash(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, uint64_t secret) {
    uint64_t x = (uint64_t(saddr.v) << 32 | daddr.v) ^ (uint64_t(sport) << 16 | dport) * 0x9e3779b97f4a7c15ull ^ secret;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return uint32_t(x);
}

DgramSock* Udp::lookup(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif) {
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
                // reuseport_select_sock: a hash of the flow picks one member of the group.
                DgramSock* members[64];
                int n = 0;
                ports.for_port(dport, [&](DgramSock* m) {
                    if (m->reuseport_group == s->reuseport_group && n < 64) members[n++] = m;
                });
                std::sort(members, members + n, [](auto* a, auto* b) { return a->bind_seq < b->bind_seq; });
                const uint32_t h = flow_hash(saddr, sport, daddr, dport, s_.cfg.seed);
                found = members[uint64_t(h) * uint32_t(n) >> 32];
                return;
            }
            best = s;
            badness = sc;
        });
        if (found) return found;
        if (best) return best;
        if (want.any()) break;
    }
    return nullptr;
}

bool Udp::enqueue(DgramSock* sk, buf::PacketPtr pkt, bool count_udp) {
    const uint32_t ts = pkt->meta.truesize ? pkt->meta.truesize : truesize_for(pkt->size());
    const uint32_t rcvbuf = uint32_t(sk->rcvbuf);
    // __udp_enqueue_schedule_skb: drop when it does not fit, but always accept one
    // datagram into an empty queue.
    if (sk->rmem + ts > rcvbuf && (rcvbuf > uint32_t(INT_MAX >> 1) || sk->rmem)) {
        ++sk->drops;
        if (count_udp) {
            ++s_.ctr.udp.RcvbufErrors;
            ++s_.ctr.udp.InErrors;
        }
        s_.drop(DropReason::RcvbufFull, pkt->meta.src, pkt->meta.sport, pkt->meta.dst, pkt->meta.dport);
        return false;
    }
    pkt->meta.truesize = ts;
    pkt->meta.drops = sk->drops;
    sk->rmem += ts;
    sk->rx.push(std::move(pkt));
    ++sk->wakeups;
    return true;
}

void Udp::input(buf::PacketPtr pkt) {
    auto& c = s_.ctr.udp;
    wire::UdpRepr u;
    const auto& m = pkt->meta;
    switch (wire::UdpRepr::parse(pkt->bytes(), m.src, m.dst, &u, !m.csum_ok)) {
        case wire::UdpError::Ok: break;
        case wire::UdpError::Checksum:
            ++c.InCsumErrors;
            ++c.InErrors;
            s_.drop(DropReason::BadChecksum, m.src, 0, m.dst, 0);
            return;
        default:
            ++c.InErrors;
            s_.drop(DropReason::BadUdpHeader, m.src, 0, m.dst, 0);
            return;
    }
    pkt->trim(u.len);
    pkt->pull(wire::kUdpHeaderLen);
    pkt->meta.sport = u.sport;
    pkt->meta.dport = u.dport;
    if (pkt->meta.route_flags & (ip::kRtBroadcast | ip::kRtMulticast)) {
        mcast_deliver(std::move(pkt));
        return;
    }
    DgramSock* sk = lookup(m.src, u.sport, m.dst, u.dport, m.ifindex);
    if (sk) {
        enqueue(sk, std::move(pkt), true);
        return;
    }
    ++c.NoPorts;
    {
        bool any = false;  // a socket on the port that only wants another peer
        ports.for_port(u.dport, [&](DgramSock*) { any = true; });
        s_.drop(any ? DropReason::PeerFiltered : DropReason::NoSocket, m.src, u.sport, m.dst, u.dport);
    }
    pkt->set_head(pkt->meta.l3_off);
    s_.ip.icmp_send_error(*pkt, wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, 0);
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
            // ip_mc_sf_allow: a member of the group on that interface, or IP_MULTICAST_ALL.
            bool member = false;
            for (const auto& ms : s->mc_list) member = member || (ms.group == m.dst && ms.ifindex == m.ifindex);
            if (!member && !s->mc_all) return;
        }
        match[n++] = s;
    });
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
    if (!sk->recverr) {
        // RFC 1122 4.1.3.3: without IP_RECVERR only hard errors on connected sockets count.
        if (!hard || !sk->established) return;
    } else {
        queue_error(sk, err, 2 /*SO_EE_ORIGIN_ICMP*/, type, code, info, &icmp.meta, orig_dst, dport, payload);
    }
    sk->sk_err = err;
    ++sk->wakeups;
}

void Udp::err(const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info, Ip4 orig_src, Ip4 orig_dst,
              uint16_t sport, uint16_t dport, std::span<const uint8_t> payload) {
    DgramSock* sk = lookup(orig_dst, dport, orig_src, sport, icmp.meta.ifindex);
    if (!sk) {
        ++s_.ctr.icmp.InErrors;
        s_.drop(DropReason::IcmpNoSocket, icmp.meta.src, 0, icmp.meta.dst, 0);
        return;
    }
    icmp_error_to_sock(sk, icmp, type, code, info, orig_dst, dport, payload);
}

// ---- output ----

Err Udp::output(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt, Ip4 daddr, uint16_t dport,
                int ttl_override, int tos_override) {
    const uint32_t len = pkt->size() + wire::kUdpHeaderLen;
    uint8_t* h = pkt->push(wire::kUdpHeaderLen);
    wire::UdpRepr u{sk->num, dport, uint16_t(len), 0};
    // Loopback needs no checksum (the kernel leaves it to CHECKSUM_PARTIAL and never checks).
    // A device that finishes checksums (a TAP with a virtio header) gets the pseudo-header
    // sum only, as udp4_hwcsum leaves it; a datagram that will be fragmented gets it all.
    if (rt.dev->tx_csum_offload && !sk->no_check && len + wire::kIpv4HeaderLen <= rt.mtu) {
        u.emit_partial(h, rt.src, daddr);
        pkt->meta.csum_partial = true;
    } else {
        u.emit(h, rt.src, daddr, sk->no_check || rt.dev->loopback);
    }
    ip::OutOpts o;
    o.proto = wire::kProtoUdp;
    o.tos = sk->tos;
    if (daddr.is_multicast()) o.ttl = uint8_t(sk->mc_ttl);
    else o.ttl = sk->ttl < 0 ? s_.cfg.default_ttl : uint8_t(sk->ttl);
    o.df = sk->pmtudisc == IP_PMTUDISC_DO || sk->pmtudisc == IP_PMTUDISC_WANT || sk->pmtudisc == IP_PMTUDISC_PROBE;
    o.mc_loop = sk->mc_loop;
    if (ttl_override >= 0) o.ttl = uint8_t(ttl_override);
    if (tos_override >= 0) o.tos = uint8_t(tos_override);
    if (!sk->daddr.any()) {
        o.have_id = true;
        o.id = ++sk->inet_id;
    }
    ++s_.ctr.udp.OutDatagrams;
    return s_.ip.output(std::move(pkt), rt, o);
}

}  // namespace usnet::udp
