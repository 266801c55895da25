// setsockopt/getsockopt: sk_setsockopt (SOL_SOCKET), do_ip_setsockopt (SOL_IP) and
// udp_lib_setsockopt (SOL_UDP), with Linux's length rules and clamping.
#include <linux/net_tstamp.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#ifndef IP_PROTOCOL
#define IP_PROTOCOL 52  // linux/in.h; older glibc headers lack it
#endif

#include <algorithm>
#include <climits>
#include <cstring>

#include "socket/socket_layer.hpp"

namespace usnet::sock {

namespace {


int sol_socket_set(StackImpl& s, DgramSock* sk, int name, const void* val, socklen_t len) {
    const char* call = "setsockopt";
    if (name == SO_BINDTODEVICE) {
        if (int(len) < 0) return fail(Err::OptValue, call, sk->fd);
        char ifname[IFNAMSIZ] = {};
        if (len) std::memcpy(ifname, val, std::min<size_t>(len, IFNAMSIZ - 1));
        int idx = 0;
        if (ifname[0]) {
            for (auto& i : s.ifaces)
                if (i->name == ifname) idx = i->ifindex;
            if (!idx) return fail(Err::OptNoDevice, call, sk->fd);
        }
        sk->bound_dev_if = idx;
        sk->dst_genid = 0;
        sk->dst_cache.dev = nullptr;  // sk_dst_reset
        return 0;
    }
    if (name == SO_LINGER) {
        if (len < sizeof(linger)) return fail(Err::OptLen, call, sk->fd);
        linger l;
        std::memcpy(&l, val, sizeof l);
        // sk_setsockopt: turning it off keeps the time; the time is kept in jiffies, a
        // negative one (as unsigned long) saturating at MAX_SCHEDULE_TIMEOUT.
        sk->linger_onoff = l.l_onoff ? 1 : 0;
        if (l.l_onoff) {
            const uint64_t secs = uint64_t(int64_t(l.l_linger));
            const uint64_t hz = uint64_t(s.cfg.hz);
            sk->lingertime = secs >= uint64_t(INT64_MAX) / hz ? INT64_MAX : int64_t(secs * hz);
        }
        return 0;
    }
    if (len < sizeof(int)) return fail(Err::OptLen, call, sk->fd);
    int v;
    std::memcpy(&v, val, sizeof v);
    const bool b = v != 0;
    switch (name) {
        case SO_ATTACH_FILTER: {
            // copy_bpf_fprog_from_user, then sk_attach_filter -> __get_filter.
            if (len != sizeof(sock_fprog)) return fail(Err::OptValue, call, sk->fd);
            sock_fprog fp;
            std::memcpy(&fp, val, sizeof fp);
            if (sk->filter_locked) return fail(Err::FilterLocked, call, sk->fd);
            if (!fp.filter || fp.len == 0 || fp.len > BPF_MAXINSNS) return fail(Err::FilterInvalid, call, sk->fd);
            if (!filter_valid(fp.filter, fp.len)) return fail(Err::FilterInvalid, call, sk->fd);
            sk->filter.assign(fp.filter, fp.filter + fp.len);
            return 0;
        }
        case SO_DETACH_FILTER:
            if (sk->filter_locked) return fail(Err::FilterLocked, call, sk->fd);
            if (sk->filter.empty()) return fail(Err::FilterNone, call, sk->fd);
            sk->filter.clear();
            sk->filter.shrink_to_fit();
            return 0;
        case SO_LOCK_FILTER:
            if (sk->filter_locked && !b) return fail(Err::FilterLocked, call, sk->fd);
            sk->filter_locked = b;
            return 0;
        case SO_REUSEADDR: sk->reuseaddr = b; return 0;
        case SO_REUSEPORT: sk->reuseport = b; return 0;
        case SO_BROADCAST: sk->broadcast = b; return 0;
        case SO_NO_CHECK: sk->no_check = b; return 0;
        case SO_PRIORITY:
            if ((v < 0 || v > 6) && !s.cfg.privileged) return fail(Err::OptPermission, call, sk->fd);
            sk->priority = v;
            return 0;
        case SO_RCVBUF:
        case SO_RCVBUFFORCE: {
            if (name == SO_RCVBUFFORCE && !s.cfg.privileged) return fail(Err::OptPermission, call, sk->fd);
            // Clamp to rmem_max (as unsigned, so negatives clamp too), then double; a negative
            // forced value counts as 0.
            uint32_t u = name == SO_RCVBUFFORCE ? uint32_t(std::max(v, 0)) : uint32_t(v);
            if (name == SO_RCVBUF) u = std::min(u, s.cfg.rmem_max);
            u = std::min<uint32_t>(u, INT_MAX / 2);
            sk->rcvbuf = std::max<int>(int(u) * 2, kMinRcvbuf);
            return 0;
        }
        case SO_SNDBUF:
        case SO_SNDBUFFORCE: {
            if (name == SO_SNDBUFFORCE && !s.cfg.privileged) return fail(Err::OptPermission, call, sk->fd);
            uint32_t u = name == SO_SNDBUFFORCE ? uint32_t(std::max(v, 0)) : uint32_t(v);
            if (name == SO_SNDBUF) u = std::min(u, s.cfg.wmem_max);
            u = std::min<uint32_t>(u, INT_MAX / 2);
            sk->sndbuf = std::max<int>(int(u) * 2, kMinSndbuf);
            return 0;
        }
        case SO_RCVTIMEO_OLD:
        case SO_SNDTIMEO_OLD: {
            // sock_set_timeout: kept in jiffies, rounded up; {0,0} is forever, negative is 0.
            if (len < sizeof(timeval)) return fail(Err::OptLen, call, sk->fd);
            timeval tv;
            std::memcpy(&tv, val, sizeof tv);
            if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return fail(Err::OptTimeoutDomain, call, sk->fd);
            int64_t j = -1;
            if (tv.tv_sec < 0) j = 0;
            else if (tv.tv_sec || tv.tv_usec) {
                const int64_t hz = s.cfg.hz, per = 1000000 / hz;
                j = int64_t(tv.tv_sec) * hz + (int64_t(tv.tv_usec) + per - 1) / per;
            }
            (name == SO_RCVTIMEO_OLD ? sk->rcvtimeo : sk->sndtimeo) = j;
            return 0;
        }
        case SO_BINDTOIFINDEX:
            // sock_bindtoindex does not check that the interface exists.
            if (v < 0) return fail(Err::OptValue, call, sk->fd);
            sk->bound_dev_if = v;
            sk->dst_genid = 0;
            sk->dst_cache.dev = nullptr;  // sk_dst_reset
            return 0;
        // Accepted and stored by Linux with no effect on a UDP socket.
        case SO_DEBUG: sk->opt_debug = b; return 0;
        case SO_KEEPALIVE: sk->opt_keepalive = b; return 0;
        case SO_OOBINLINE: sk->opt_oobinline = b; return 0;
        case SO_DONTROUTE: sk->opt_dontroute = b; return 0;
        case SO_RXQ_OVFL: sk->rxq_ovfl = b; return 0;
        case SO_TIMESTAMP_OLD:
        case SO_TIMESTAMP_NEW:
        case SO_TIMESTAMPNS_OLD:
        case SO_TIMESTAMPNS_NEW:
            // __sock_set_timestamps: on sets the layout (new or old, ns or not); off clears both.
            if (b) {
                sk->tstamp_new = name == SO_TIMESTAMP_NEW || name == SO_TIMESTAMPNS_NEW;
                sk->rcvtstampns = name == SO_TIMESTAMPNS_OLD || name == SO_TIMESTAMPNS_NEW;
                sk->rcvtstamp = true;
            } else {
                sk->rcvtstamp = sk->rcvtstampns = false;
            }
            return 0;
        case SO_TIMESTAMPING_OLD:
        case SO_TIMESTAMPING_NEW: {
            // An int, or struct so_timestamping {flags, bind_phc} (sock_set_timestamping).
            int flags = v, phc = 0;
            if (len == 2 * sizeof(int)) std::memcpy(&phc, static_cast<const char*>(val) + sizeof(int), sizeof phc);
            constexpr int kMask = (SOF_TIMESTAMPING_LAST - 1) | SOF_TIMESTAMPING_LAST;
            if (flags & ~kMask) return fail(Err::OptValue, call, sk->fd);
            if ((flags & SOF_TIMESTAMPING_OPT_STATS) && !(flags & SOF_TIMESTAMPING_OPT_TSONLY))
                return fail(Err::OptValue, call, sk->fd);
            // No PTP clock to bind to (sock_timestamping_bind_phc finds none).
            if (flags & SOF_TIMESTAMPING_BIND_PHC) return fail(Err::OptValue, call, sk->fd);
            (void)phc;
            sk->tsflags = flags;
            sk->tstamp_new = name == SO_TIMESTAMPING_NEW;
            return 0;
        }
        case SO_SELECT_ERR_QUEUE: sk->select_err_queue = b; return 0;
        case SO_PEEK_OFF:
            // sk_setsockopt: only protocols with set_peek_off (udp_set_peek_off) take it.
            if (sk->proto != Proto::Udp) return fail(Err::PeekOffUnsupported, call, sk->fd);
            sk->peek_off = v;
            return 0;
        case SO_MARK:
            if (!s.cfg.privileged) return fail(Err::OptPermission, call, sk->fd);
            sk->mark = v;
            return 0;
        case SO_RCVLOWAT: sk->rcvlowat = v < 0 ? INT_MAX : std::max(v, 1); return 0;
        case SO_BUSY_POLL:
            if (v < 0) return fail(Err::OptValue, call, sk->fd);
            sk->busy_poll = v;
            return 0;
        case SO_PASSCRED: return fail(Err::OptUnixOnly, call, sk->fd);
        case SO_TYPE:
        case SO_PROTOCOL:
        case SO_DOMAIN:
        case SO_ERROR:
        case SO_ACCEPTCONN:
        default: return fail(Err::OptUnknown, call, sk->fd);
    }
}

// Values for SOL_IP: an int if optlen >= 4, a byte if >= 1, and 0 if optlen is 0.
int ip_int_value(const void* val, socklen_t len) {
    if (len >= sizeof(int)) {
        int v;
        std::memcpy(&v, val, sizeof v);
        return v;
    }
    if (len >= 1) return *static_cast<const unsigned char*>(val);
    return 0;
}

// do_ip_setsockopt reads an int option's value before anything else; the others check
// their length first (mcast.cpp, IP_MULTICAST_IF).
bool ip_int_option(int name) {
    switch (name) {
        case IP_TTL: case IP_TOS: case IP_RECVERR: case IP_PKTINFO: case IP_RECVTTL: case IP_RECVTOS:
        case IP_MULTICAST_TTL: case IP_MULTICAST_LOOP: case IP_MULTICAST_ALL: case IP_MTU_DISCOVER:
        case IP_RECVOPTS: case IP_RETOPTS: case IP_FREEBIND: case IP_BIND_ADDRESS_NO_PORT:
        case IP_RECVORIGDSTADDR: case IP_MINTTL: case IP_HDRINCL: case IP_NODEFRAG: case IP_TRANSPARENT:
            return true;
        default: return false;
    }
}

int sol_ip_set(StackImpl& s, DgramSock* sk, int name, const void* val, socklen_t len) {
    const char* call = "setsockopt";
    if (is_membership_option(name)) return mc_setsockopt(s, sk, name, val, len);
    if (len > 0 && !val && (ip_int_option(name) || (name == IP_MULTICAST_IF && len >= sizeof(in_addr))))
        return fail(Err::Fault, call, sk->fd);
    const int v = val ? ip_int_value(val, len) : 0;
    switch (name) {
        case IP_TTL:
            if (len < 1) return fail(Err::OptValue, call, sk->fd);
            if (v != -1 && (v < 1 || v > 255)) return fail(Err::OptValue, call, sk->fd);
            sk->ttl = v;
            return 0;
        case IP_TOS: {
            sk->tos = uint8_t(v);
            // rt_tos2priority: the TOS bits also set SO_PRIORITY.
            static const int kTos2Prio[4] = {0, 2, 6, 4};
            sk->priority = kTos2Prio[(v >> 3) & 3];
            return 0;
        }
        case IP_RECVERR:
            sk->recverr = v != 0;
            if (!v) sk->errq.clear();
            return 0;
        case IP_PKTINFO: sk->pktinfo = v != 0; return 0;
        case IP_RECVTTL: sk->recvttl = v != 0; return 0;
        case IP_RECVTOS: sk->recvtos = v != 0; return 0;
        case IP_MULTICAST_TTL: {
            if (len < 1) return fail(Err::OptValue, call, sk->fd);
            int t = v == -1 ? 1 : v;
            if (t < 0 || t > 255) return fail(Err::OptValue, call, sk->fd);
            sk->mc_ttl = t;
            return 0;
        }
        case IP_MULTICAST_LOOP:
            if (len < 1) return fail(Err::OptValue, call, sk->fd);
            sk->mc_loop = v != 0;
            return 0;
        case IP_MULTICAST_ALL:
            if (len < 1) return fail(Err::OptValue, call, sk->fd);
            if (v != 0 && v != 1) return fail(Err::OptValue, call, sk->fd);
            sk->mc_all = v;
            return 0;
        case IP_MTU_DISCOVER:
            if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT) return fail(Err::OptValue, call, sk->fd);
            sk->pmtudisc = v;
            return 0;
        case IP_MULTICAST_IF: {
            if (len < sizeof(in_addr)) return fail(Err::OptValue, call, sk->fd);
            ip_mreqn m{};
            if (len >= sizeof(ip_mreqn)) std::memcpy(&m, val, sizeof m);
            else if (len >= sizeof(ip_mreq)) std::memcpy(&m, val, sizeof(ip_mreq));
            else std::memcpy(&m.imr_address, val, sizeof(in_addr));
            if (!m.imr_ifindex) {
                if (!m.imr_address.s_addr) {
                    sk->mc_index = 0;
                    sk->mc_addr = Ip4();
                    return 0;
                }
            }
            link::Interface* dev = nullptr;
            if (m.imr_ifindex) dev = s.iface(m.imr_ifindex);
            else {
                ip_mreqn probe = m;
                probe.imr_multiaddr.s_addr = 0;
                dev = mc_find_dev(s, &probe);
                if (dev) m.imr_ifindex = dev->ifindex;
            }
            if (!dev) return fail(Err::McastAddrNotAvail, call, sk->fd);
            if (sk->bound_dev_if && m.imr_ifindex != sk->bound_dev_if) return fail(Err::OptValue, call, sk->fd);
            sk->mc_index = m.imr_ifindex;
            sk->mc_addr = Ip4::from_net(m.imr_address.s_addr);
            return 0;
        }
        case IP_RECVOPTS: sk->opt_recvopts = v != 0; return 0;
        case IP_RETOPTS: sk->opt_retopts = v != 0; return 0;
        case IP_FREEBIND:
            if (len < 1) return fail(Err::OptValue, call, sk->fd);
            sk->opt_freebind = v != 0;
            return 0;
        case IP_PASSSEC: sk->passsec = v != 0; return 0;
        case IP_CHECKSUM: sk->opt_checksum = v != 0; return 0;  // no CHECKSUM_COMPLETE here: no cmsg
        case IP_RECVERR_RFC4884:
            if (v < 0 || v > 1) return fail(Err::OptValue, call, sk->fd);
            sk->recverr_rfc4884 = v != 0;
            return 0;
        case IP_BIND_ADDRESS_NO_PORT: sk->bind_address_no_port = v != 0; return 0;
        case IP_RECVORIGDSTADDR: sk->origdstaddr = v != 0; return 0;
        case IP_MINTTL:
            if (len < 1 || v < 0 || v > 255) return fail(Err::OptValue, call, sk->fd);
            sk->minttl = v;
            return 0;
        case IP_OPTIONS:
            // IP options are not generated; clearing them (an empty list) is fine.
            if (len == 0) return 0;
            return fail(Err::OptNotSupported, call, sk->fd);
        case IP_HDRINCL:
        case IP_NODEFRAG: return fail(Err::OptUnknown, call, sk->fd);  // raw sockets only
        case IP_UNICAST_IF: {
            // do_ip_setsockopt: the index comes in network byte order; not with a bound device.
            if (len != sizeof(int)) return fail(Err::OptValue, call, sk->fd);
            const int idx = int(ntohl(uint32_t(v)));
            if (idx == 0) {
                sk->uc_index = 0;
                return 0;
            }
            if (!s.iface(idx)) return fail(Err::UnicastIfNoDevice, call, sk->fd);
            if (sk->bound_dev_if) return fail(Err::OptValue, call, sk->fd);
            sk->uc_index = idx;
            return 0;
        }
        case IP_TRANSPARENT:
            if (v && !s.cfg.privileged) return fail(Err::OptPermission, call, sk->fd);
            if (len < 1) return fail(Err::OptValue, call, sk->fd);  // after the permission check
            sk->transparent = v != 0;
            return 0;
        default: return fail(Err::OptUnknown, call, sk->fd);
    }
}

// sk_getsockopt's ending: copy min(len, sizeof value) bytes and report that length.
int put_value(void* val, socklen_t* len, const void* v, socklen_t lv) {
    const socklen_t n = std::min(*len, lv);
    if (n) std::memcpy(val, v, n);
    *len = n;
    return 0;
}

int sol_socket_get(StackImpl& s, DgramSock* sk, int name, void* val, socklen_t* len) {
    const char* call = "getsockopt";
    int v = 0;
    switch (name) {
        case SO_TYPE: v = SOCK_DGRAM; break;
        case SO_PROTOCOL: v = sk->proto == Proto::Udp ? IPPROTO_UDP : IPPROTO_ICMP; break;
        case SO_DOMAIN: v = AF_INET; break;
        case SO_ERROR: v = sk->sk_err; sk->sk_err = 0; break;
        case SO_REUSEADDR: v = sk->reuseaddr; break;
        case SO_REUSEPORT: v = sk->reuseport; break;
        case SO_BROADCAST: v = sk->broadcast; break;
        case SO_NO_CHECK: v = sk->no_check; break;
        case SO_PRIORITY: v = sk->priority; break;
        case SO_RCVBUF: v = sk->rcvbuf; break;
        case SO_SNDBUF: v = sk->sndbuf; break;
        case SO_DEBUG: v = sk->opt_debug; break;
        case SO_KEEPALIVE: v = sk->opt_keepalive; break;
        case SO_OOBINLINE: v = sk->opt_oobinline; break;
        case SO_DONTROUTE: v = sk->opt_dontroute; break;
        case SO_ACCEPTCONN: v = 0; break;
        case SO_RCVLOWAT: v = sk->rcvlowat; break;
        case SO_RXQ_OVFL: v = sk->rxq_ovfl; break;
        case SO_SELECT_ERR_QUEUE: v = sk->select_err_queue; break;
        case SO_PEEK_OFF:
            if (sk->proto != Proto::Udp) return fail(Err::PeekOffUnsupported, call, sk->fd);
            v = sk->peek_off;
            break;
        case SO_MARK: v = sk->mark; break;
        case SO_BUSY_POLL: v = sk->busy_poll; break;
        // sk_getsockopt: each reports its own layout only.
        case SO_TIMESTAMP_OLD: v = sk->rcvtstamp && !sk->tstamp_new && !sk->rcvtstampns; break;
        case SO_TIMESTAMP_NEW: v = sk->rcvtstamp && sk->tstamp_new; break;  // (the ns layout too, as Linux)
        case SO_TIMESTAMPNS_OLD: v = sk->rcvtstampns && !sk->tstamp_new; break;
        case SO_TIMESTAMPNS_NEW: v = sk->rcvtstampns && sk->tstamp_new; break;
        case SO_TIMESTAMPING_OLD:
        case SO_TIMESTAMPING_NEW: {
            int ts[2] = {0, 0};  // struct so_timestamping: flags, bind_phc
            if (name == SO_TIMESTAMPING_OLD || sk->tstamp_new) ts[0] = sk->tsflags;
            return put_value(val, len, ts, sizeof ts);
        }
        case SO_PASSCRED: return fail(Err::OptUnixOnly, call, sk->fd);
        case SO_SNDLOWAT: v = 1; break;
        case SO_BINDTOIFINDEX: v = sk->bound_dev_if; break;
        case SO_RCVTIMEO_OLD:
        case SO_SNDTIMEO_OLD: {
            const int64_t j = name == SO_RCVTIMEO_OLD ? sk->rcvtimeo : sk->sndtimeo;
            timeval tv{};
            if (j > 0) {
                tv.tv_sec = j / s.cfg.hz;
                tv.tv_usec = (j % s.cfg.hz) * 1000000 / s.cfg.hz;
            }
            return put_value(val, len, &tv, sizeof tv);
        }
        case SO_LOCK_FILTER: v = sk->filter_locked; break;
        case SO_GET_FILTER: {
            // sk_get_filter: the length is counted in instructions; 0 asks for the count.
            const socklen_t n = socklen_t(sk->filter.size());
            if (n && *len) {
                if (*len < n) return fail(Err::FilterRoom, call, sk->fd);
                if (!val) return fail(Err::Fault, call, sk->fd);
                std::memcpy(val, sk->filter.data(), n * sizeof(sock_filter));
            }
            *len = n;
            return 0;
        }
        case SO_LINGER: {
            linger l{sk->linger_onoff, int(sk->lingertime / s.cfg.hz)};
            return put_value(val, len, &l, sizeof l);
        }
        case SO_BINDTODEVICE: {
            if (!sk->bound_dev_if) {
                *len = 0;
                return 0;
            }
            if (*len < IFNAMSIZ) return fail(Err::OptValue, call, sk->fd);
            link::Interface* d = s.iface(sk->bound_dev_if);
            // sock_getbindtodevice: an index SO_BINDTOIFINDEX took unchecked has no name.
            if (!d) return fail(Err::OptNoDevice, call, sk->fd);
            const std::string n = d->name;
            std::memcpy(val, n.c_str(), n.size() + 1);
            *len = socklen_t(n.size() + 1);
            return 0;
        }
        default: return fail(Err::OptUnknown, call, sk->fd);
    }
    return put_value(val, len, &v, sizeof v);
}

int sol_ip_get(StackImpl& s, DgramSock* sk, int name, void* val, socklen_t* len) {
    const char* call = "getsockopt";
    int v = 0;
    switch (name) {
        case IP_MSFILTER:
        case MCAST_MSFILTER: return mc_getsockopt(s, sk, name, val, len);
        case IP_TTL: v = sk->ttl < 0 ? s.cfg.default_ttl : sk->ttl; break;
        case IP_TOS: v = sk->tos; break;
        case IP_RECVERR: v = sk->recverr; break;
        case IP_PKTINFO: v = sk->pktinfo; break;
        case IP_RECVTTL: v = sk->recvttl; break;
        case IP_RECVTOS: v = sk->recvtos; break;
        case IP_MULTICAST_TTL: v = sk->mc_ttl; break;
        case IP_MULTICAST_LOOP: v = sk->mc_loop; break;
        case IP_MULTICAST_ALL: v = sk->mc_all; break;
        case IP_MTU_DISCOVER: v = sk->pmtudisc; break;
        case IP_RECVOPTS: v = sk->opt_recvopts; break;
        case IP_RETOPTS: v = sk->opt_retopts; break;
        case IP_FREEBIND: v = sk->opt_freebind; break;
        case IP_BIND_ADDRESS_NO_PORT: v = sk->bind_address_no_port; break;
        case IP_TRANSPARENT: v = sk->transparent; break;
        case IP_RECVORIGDSTADDR: v = sk->origdstaddr; break;
        case IP_MINTTL: v = sk->minttl; break;
        case IP_PROTOCOL: v = sk->num; break;  // do_ip_getsockopt reports inet_num
        case IP_UNICAST_IF: v = int(htonl(uint32_t(sk->uc_index))); break;
        case IP_HDRINCL: v = 0; break;
        case IP_NODEFRAG: v = 0; break;
        case IP_CHECKSUM: v = sk->opt_checksum; break;
        case IP_PASSSEC: v = sk->passsec; break;
        case IP_RECVERR_RFC4884: v = sk->recverr_rfc4884; break;
        case IP_OPTIONS: *len = 0; return 0;
        case IP_MTU:
            // sk_dst_get: only a connected socket caches a route. A route made stale by a
            // change of the tables stays cached until a send checks it (sk_dst_check), and
            // dst_mtu reads its device's MTU as it is now.
            if (!sk->established || !sk->dst_cache.dev) return fail(Err::NotConnected, call, sk->fd);
            v = int(sk->dst_genid == s.ip.genid ? sk->dst_cache.mtu : std::min<uint32_t>(sk->dst_cache.dev->mtu, 0xffff));
            break;
        case IP_MULTICAST_IF: {
            in_addr a{sk->mc_addr.net()};
            return put_value(val, len, &a, sizeof a);
        }
        default: return fail(Err::OptUnknown, call, sk->fd);
    }
    // do_ip_getsockopt: a short buffer gets one byte when the value fits in one.
    if (*len < socklen_t(sizeof(int)) && *len > 0 && v >= 0 && v <= 255) {
        *static_cast<unsigned char*>(val) = uint8_t(v);
        *len = 1;
        return 0;
    }
    return put_value(val, len, &v, sizeof v);
}

}  // namespace

namespace {

// The option and its value as a trace shows them: "IP_TTL = 5", "SO_LINGER (8 bytes)".
std::string option_arg(int level, int name, const void* val, socklen_t len) {
    std::string o = option_name(level, name);
    if (val && len == sizeof(int)) {
        int v;
        std::memcpy(&v, val, sizeof v);
        return o + " = " + std::to_string(v);
    }
    return o + " (" + std::to_string(int(len)) + " bytes)";
}

// Which function of the kernel's option code a level goes to.
void trace_option_path(StackImpl& s, DgramSock* sk, int level, const std::string& what, bool set) {
    if (!s.tracer) return;
    const bool ping = sk->proto == Proto::Ping;
    if (level == SOL_SOCKET) {
        if (set) USNET_TRACE(s.tracer, SockoptSocket, what, "");
        else USNET_TRACE(s.tracer, GetsockoptSocket, what);
        return;
    }
    // ping_prot has no handlers of its own: its options are ip_setsockopt's.
    const char* handler = set ? (ping ? "ip_setsockopt" : "udp_setsockopt") : (ping ? "ip_getsockopt" : "udp_getsockopt");
    const char* inner = level == SOL_UDP && !ping ? (set ? "udp_lib_setsockopt" : "udp_lib_getsockopt")
                                                   : (set ? "do_ip_setsockopt" : "do_ip_getsockopt");
    const char* table = ping ? "ping_prot" : "udp_prot";
    if (set) USNET_TRACE(s.tracer, SockoptProto, handler, table, inner, level_name(level), what);
    else USNET_TRACE(s.tracer, GetsockoptProto, handler, table, inner, level_name(level) + " " + what);
}

}  // namespace

int do_setsockopt(StackImpl& s, DgramSock* sk, int level, int name, const void* val, socklen_t len) {
    if (int(len) < 0) return fail(Err::OptValue, "setsockopt", sk->fd);
    // SOL_IP checks a bad pointer per option (sol_ip_set), after the length where Linux does.
    if (len > 0 && !val && level != SOL_IP) return fail(Err::Fault, "setsockopt", sk->fd);
    trace_option_path(s, sk, level, s.tracer ? option_arg(level, name, val, len) : std::string(), true);
    USNET_TRACE_INDENT(s.tracer);
    if (level == SOL_SOCKET) return sol_socket_set(s, sk, name, val, len);
    if (level == SOL_IP) return sol_ip_set(s, sk, name, val, len);
    if (level == SOL_UDP && sk->proto == Proto::Udp) {
        if (len < sizeof(int)) return fail(Err::OptLen, "setsockopt", sk->fd);
        int v;
        std::memcpy(&v, val, sizeof v);
        switch (name) {
            case UDP_CORK:
                sk->corked = v != 0;
                if (!v && sk->cork) {
                    // Uncorking sends what was held (udp_push_pending_frames).
                    buf::PacketPtr p = std::move(sk->cork);
                    s.udp.output(sk, std::move(p), sk->cork_rt, sk->cork_daddr, sk->cork_dport);
                    s.settle();
                }
                return 0;
            case UDP_SEGMENT:
                if (v < 0 || v > 0xffff) return fail(Err::OptValue, "setsockopt", sk->fd);
                sk->gso_size = uint16_t(v);
                return 0;
            case UDP_GRO: sk->udp_gro = v != 0; return 0;
            case UDP_NO_CHECK6_TX: sk->no_check6_tx = v != 0; return 0;
            case UDP_NO_CHECK6_RX: sk->no_check6_rx = v != 0; return 0;
            case UDP_ENCAP:
                // udp_lib_setsockopt: a known type is stored; no tunnel consumes datagrams here.
                if (v != 0 && v != UDP_ENCAP_ESPINUDP && v != UDP_ENCAP_L2TPINUDP)
                    return fail(Err::UdpEncapType, "setsockopt", sk->fd);
                sk->encap_type = v;
                return 0;
            default: return fail(Err::OptUnknown, "setsockopt", sk->fd);
        }
    }
    return fail(Err::OptUnknown, "setsockopt", sk->fd);
}

int do_getsockopt(StackImpl& s, DgramSock* sk, int level, int name, void* val, socklen_t* len) {
    if (!len) return fail(Err::Fault, "getsockopt", sk->fd);
    if (int(*len) < 0) return fail(Err::OptValue, "getsockopt", sk->fd);
    if (*len > 0 && !val && !(level == SOL_IP && (name == IP_MSFILTER || name == MCAST_MSFILTER)) &&
        !(level == SOL_SOCKET && name == SO_GET_FILTER))
        return fail(Err::Fault, "getsockopt", sk->fd);
    trace_option_path(s, sk, level, s.tracer ? option_name(level, name) : std::string(), false);
    USNET_TRACE_INDENT(s.tracer);
    if (level == SOL_SOCKET) return sol_socket_get(s, sk, name, val, len);
    if (level == SOL_IP) return sol_ip_get(s, sk, name, val, len);
    if (level == SOL_UDP && sk->proto == Proto::Udp) {
        int v;
        switch (name) {
            case UDP_CORK: v = sk->corked; break;
            case UDP_SEGMENT: v = sk->gso_size; break;
            case UDP_GRO: v = sk->udp_gro; break;
            case UDP_NO_CHECK6_TX: v = sk->no_check6_tx; break;
            case UDP_NO_CHECK6_RX: v = sk->no_check6_rx; break;
            case UDP_ENCAP: v = sk->encap_type; break;
            // UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV: a UDP socket reads full coverage, 0
            // (udp_lib_getsockopt), though it cannot set them.
            case 10:
            case 11: v = 0; break;
            default: return fail(Err::OptUnknown, "getsockopt", sk->fd);
        }
        return put_value(val, len, &v, sizeof v);
    }
    // do_ip_getsockopt: any other level is EOPNOTSUPP (setsockopt says ENOPROTOOPT); a ping
    // socket's SOL_UDP goes there too (ping_prot has no udp_getsockopt).
    return fail(Err::OptLevelUnsupported, "getsockopt", sk->fd);
}

}  // namespace usnet::sock
