// Routing: the local and main tables, inet_addr_type, ip_route_output, inet_select_addr.
#include <algorithm>
#include <cstring>

#include "core/stack_impl.hpp"
#include "ip/ip.hpp"

namespace usnet::ip {

const char* rtn_name(RouteType t) {
    switch (t) {
        case RouteType::Unicast: return "RTN_UNICAST";
        case RouteType::Local: return "RTN_LOCAL";
        case RouteType::Broadcast: return "RTN_BROADCAST";
        case RouteType::Multicast: return "RTN_MULTICAST";
        case RouteType::Blackhole: return "RTN_BLACKHOLE";
        case RouteType::Unreachable: return "RTN_UNREACHABLE";
        case RouteType::Prohibit: return "RTN_PROHIBIT";
    }
    return "?";
}

static Scope addr_scope(Ip4 a) { return a.is_loopback() ? Scope::Host : Scope::Universe; }

void Ip::add_route(const Route& r) {
    for (const auto& x : routes)
        if (x.local_table == r.local_table && x.spec.dst == r.spec.dst && x.spec.prefix_len == r.spec.prefix_len &&
            x.spec.type == r.spec.type && x.spec.ifindex == r.spec.ifindex && x.spec.metric == r.spec.metric)
            return;
    routes.push_back(r);
    ++genid;
}

bool Ip::del_route(Ip4 dst, int len, bool local_table) {
    for (size_t i = 0; i < routes.size(); ++i) {
        const auto& r = routes[i];
        if (r.local_table == local_table && r.spec.dst == dst && r.spec.prefix_len == len) {
            routes.erase(routes.begin() + long(i));
            ++genid;
            return true;
        }
    }
    return false;
}

// fib_add_ifaddr: a local route for the address, the prefix route, and the subnet broadcast.
void Ip::add_ifaddr_routes(link::Interface& ifc, const link::IfAddr& a) {
    // A secondary address gets only its local route, with the primary as preferred source.
    Ip4 prim = a.addr;
    if (a.secondary)
        for (const auto& x : ifc.addrs)
            if (!x.secondary && x.prefix == a.prefix && ((x.addr.v ^ a.addr.v) & prefix_mask(a.prefix)) == 0) prim = x.addr;
    constexpr uint8_t kKernel = 2;  // RTPROT_KERNEL
    Route local{{a.addr, 32, RouteType::Local, ifc.ifindex, Ip4(), prim, 0, kKernel}, true, Scope::Host};
    add_route(local);
    if (a.secondary) return;
    const Ip4 prefix(a.addr.v & prefix_mask(a.prefix));
    if (a.prefix < 32 && !prefix.is_zeronet()) {
        if (ifc.loopback)
            add_route({{prefix, a.prefix, RouteType::Local, ifc.ifindex, Ip4(), a.addr, 0, kKernel}, true, Scope::Host});
        else
            add_route({{prefix, a.prefix, RouteType::Unicast, ifc.ifindex, Ip4(), a.addr, 0, kKernel}, false, Scope::Link});
        if (a.prefix < 31)
            add_route({{a.bcast, 32, RouteType::Broadcast, ifc.ifindex, Ip4(), a.addr, 0, kKernel}, true, Scope::Link});
    }
}

void Ip::del_ifaddr_routes(link::Interface& ifc, const link::IfAddr& a) {
    std::erase_if(routes, [&](const Route& r) {
        return r.spec.ifindex == ifc.ifindex && (r.spec.prefsrc == a.addr || (r.local_table && r.spec.dst == a.addr));
    });
    ++genid;
}

void Ip::flush_dev_routes(int ifindex, bool force) {
    // fib_sync_down_dev: host-scoped (local) routes survive a link going down.
    std::erase_if(routes, [&](const Route& r) {
        return r.spec.ifindex == ifindex && (force || r.spec.type != RouteType::Local);
    });
    ++genid;
}

static const Route* lpm(const std::vector<Route>& routes, Ip4 dst, bool local_table, int oif, bool onlink = false) {
    const Route* best = nullptr;
    for (const auto& r : routes) {
        if (r.local_table != local_table) continue;
        if (onlink && !r.spec.gateway.any()) continue;
        if ((dst.v & prefix_mask(r.spec.prefix_len)) != (r.spec.dst.v & prefix_mask(r.spec.prefix_len))) continue;
        // fib_lookup_good_nhc: an output device skips routes through other devices, local
        // ones too (a socket bound to eth0 does not reach 127.0.0.1 through lo).
        if (oif && r.spec.ifindex && r.spec.ifindex != oif) continue;
        if (!best || r.spec.prefix_len > best->spec.prefix_len ||
            (r.spec.prefix_len == best->spec.prefix_len && r.spec.metric < best->spec.metric))
            best = &r;
    }
    return best;
}

const Route* Ip::lookup(Ip4 dst) const {
    if (const Route* r = lpm(routes, dst, true, 0)) return r;
    return lpm(routes, dst, false, 0);
}

RouteType Ip::addr_type(Ip4 a) const {
    // Since Linux 5.3 only 0.0.0.0 itself (not all of 0/8) counts as broadcast here.
    if (a.any() || a.is_lbcast()) return RouteType::Broadcast;
    if (a.is_multicast()) return RouteType::Multicast;
    // Input asks this for every datagram, nearly always about the same address.
    if (type_cache_gen_ == genid && type_cache_addr_ == a) return type_cache_;
    const Route* r = lpm(routes, a, true, 0);
    type_cache_ = r ? r->spec.type : RouteType::Unicast;
    type_cache_addr_ = a;
    type_cache_gen_ = genid;
    return type_cache_;
}

link::Interface* Ip::dev_of_local(Ip4 a) const {
    const Route* r = lpm(routes, a, true, 0);
    if (!r || r->spec.type != RouteType::Local) return nullptr;
    return s_.iface(r->spec.ifindex);
}

bool Ip::is_local_addr(Ip4 a) const {
    for (const auto& ifc : s_.ifaces)
        for (const auto& x : ifc->addrs)
            if (x.addr == a) return true;
    return false;
}

Ip4 Ip::select_addr(const link::Interface* dev, Ip4 dst, Scope scope) const {
    Ip4 first;
    if (dev) {
        for (const auto& a : dev->addrs) {
            if (a.secondary || uint8_t(addr_scope(a.addr)) > uint8_t(scope)) continue;
            if (dst.any() || ((a.addr.v ^ dst.v) & prefix_mask(a.prefix)) == 0) return a.addr;
            if (first.any()) first = a.addr;
        }
        if (!first.any()) return first;
    }
    // No suitable address on dev: any non-host-scoped address of another device.
    for (const auto& ifc : s_.ifaces)
        for (const auto& a : ifc->addrs)
            if (uint8_t(addr_scope(a.addr)) <= uint8_t(scope) && addr_scope(a.addr) != Scope::Host) return a.addr;
    return Ip4();
}

static Err route_error(RouteType t) {
    switch (t) {
        case RouteType::Unreachable: return Err::RouteUnreachable;
        case RouteType::Prohibit: return Err::RouteProhibit;
        case RouteType::Blackhole: return Err::RouteBlackhole;
        default: return Err::None;
    }
}

// ip_route_output_key_hash_rcu, for the cases a datagram socket meets.
Err Ip::route_output(const Flow& fl, RouteResult* out) {
    Ip4 daddr = fl.daddr, saddr = fl.saddr;
    link::Interface* dev = nullptr;
    RouteType type = RouteType::Unicast;
    Ip4 gw;
    int local_dev = 0;
    if (!saddr.any()) {
        if (saddr.is_multicast() || saddr.is_lbcast() || saddr.is_zeronet()) return Err::BadSource;
        if (!fl.oif && (daddr.is_multicast() || daddr.is_lbcast())) {
            // Multicast and limited broadcast leave by the device that owns the source address.
            dev = dev_of_local(saddr);
            if (!dev) return Err::NetUnreachable;
            type = daddr.is_lbcast() ? RouteType::Broadcast : RouteType::Multicast;
            goto make_route;
        }
        if (!fl.any_src && addr_type(saddr) != RouteType::Local) return Err::NetUnreachable;
    }
    if (fl.oif) {
        dev = s_.iface(fl.oif);
        if (!dev) return Err::OptNoDevice;
        if (!dev->up) return Err::DeviceDown;
        if (daddr.is_lbcast() || daddr.is_multicast()) {
            if (saddr.any()) saddr = select_addr(dev, Ip4(), Scope::Link);
            type = daddr.is_lbcast() ? RouteType::Broadcast : RouteType::Multicast;
            USNET_TRACE(s_.tracer, RouteOif, fl.oif, dev->name, daddr.is_lbcast() ? "a limited broadcast" : "a multicast", saddr);
            goto make_route;
        }
        // No destination either: the source is the device's own address (host scope), and
        // that address is the destination below.
        if (saddr.any() && daddr.any()) saddr = select_addr(dev, Ip4(), Scope::Host);
    }
    if (daddr.any()) {
        // A zero destination means this host (ip_route_output: "daddr = saddr or loopback").
        daddr = saddr;
        if (daddr.any()) daddr = saddr = Ip4(127, 0, 0, 1);
        dev = s_.loopback();
        type = RouteType::Local;
        USNET_TRACE(s_.tracer, RouteZero, saddr);
        goto make_route;
    }
    {
        const Route* r = lpm(routes, daddr, true, fl.oif);
        if (!r) r = lpm(routes, daddr, false, fl.oif, fl.onlink);
        if (!r) {
            if (fl.oif) {
                // With an output interface, a destination without a route is assumed on-link.
                if (saddr.any()) saddr = select_addr(dev, Ip4(), Scope::Link);
                USNET_TRACE(s_.tracer, RouteOif, fl.oif, dev->name, "with no route, the destination", saddr);
                goto make_route;
            }
            ++s_.ctr.ip.OutNoRoutes;
            USNET_TRACE(s_.tracer, RouteNone, daddr);
            return Err::NetUnreachable;
        }
        if (Err e = route_error(r->spec.type); e != Err::None) {
            if (e == Err::RouteUnreachable) ++s_.ctr.ip.OutNoRoutes;
            if (s_.tracer) USNET_TRACE(s_.tracer, RouteType, daddr, rtn_name(r->spec.type), strerrorname_np(to_errno(e)));
            return e;
        }
        type = r->spec.type;
        if (type == RouteType::Local) {
            if (saddr.any()) saddr = r->spec.prefsrc.any() ? daddr : r->spec.prefsrc;
            dev = s_.loopback();
            // The packet is seen as arriving on the device that owns the local route (orig_oif).
            local_dev = r->spec.ifindex;
            USNET_TRACE(s_.tracer, RouteLocal, daddr, saddr);
            goto make_route;
        }
        if (!dev) dev = s_.iface(r->spec.ifindex);
        if (!dev) return Err::NetUnreachable;
        if (!dev->up) return Err::NetUnreachable;
        gw = r->spec.gateway;
        if (saddr.any())
            saddr = !r->spec.prefsrc.any() ? r->spec.prefsrc
                                           : select_addr(dev, gw.any() ? daddr : gw, gw.any() ? Scope::Link : Scope::Universe);
        if (s_.tracer) {
            const std::string prefix = r->spec.prefix_len == 0 ? std::string("default")
                                                                : r->spec.dst.str() + "/" + std::to_string(r->spec.prefix_len);
            USNET_TRACE(s_.tracer, RouteFound, prefix, gw.any() ? std::string("scope link") : "via " + gw.str(),
                        "dev " + dev->name, saddr, std::min<uint32_t>(dev->mtu, 0xffff));
        }
    }
make_route:
    if (!dev) return Err::NetUnreachable;
    // __mkroute_output: a 127/8 source never leaves through a real device.
    if (saddr.is_loopback() && !dev->loopback) return Err::BadSource;
    out->dev = dev;
    out->src = saddr;
    out->dst = daddr;
    out->nexthop = gw.any() ? daddr : gw;
    out->mtu = std::min<uint32_t>(dev->mtu, 0xffff);  // ipv4_mtu caps at IP_MAX_MTU
    out->flags = 0;
    out->local_dev = local_dev;
    if (daddr.is_lbcast()) type = RouteType::Broadcast;
    else if (daddr.is_multicast()) type = RouteType::Multicast;
    if (dev->loopback || type == RouteType::Local) out->flags |= kRtLocal;
    if (type == RouteType::Broadcast) out->flags |= kRtBroadcast | kRtLocal;
    if (type == RouteType::Multicast) {
        out->flags |= kRtMulticast;
        // __mkroute_output: a local copy only if the host is a member that takes this source.
        if (dev->mc_allows(daddr, saddr)) out->flags |= kRtLocal;
    }
    return Err::None;
}

}  // namespace usnet::ip
