// Multicast membership options of a socket, as net/ipv4/igmp.c and ip_sockglue.c keep them:
// joins and leaves (ip_mc_join_group, ip_mc_leave_group), source filters (ip_mc_source,
// ip_mc_msfilter) and reading them back (ip_mc_msfget, ip_mc_gsfget), in both the IPv4
// (ip_mreq*, ip_msfilter) and the protocol-independent (group_req, group_filter) layouts.
// The interface side (counts, the interface's filter, IGMPv3 reports) is the link layer's.
#include <netinet/in.h>

#include <cstring>

#include "socket/socket_layer.hpp"

namespace usnet::sock {

namespace {

// net.core.optmem_max as Linux 6.x sets it by default; option values longer than this are
// refused with ENOBUFS before they are read.
constexpr socklen_t kOptmemMax = 131072;
// IP_MSFILTER_SIZE(0) and GROUP_FILTER_SIZE(0): the fixed parts.
constexpr socklen_t kMsfHead = 16, kGfHead = 144, kSsLen = 128;

Ip4 in4_at(const void* p, size_t off) {
    uint32_t v;
    std::memcpy(&v, static_cast<const char*>(p) + off, 4);
    return Ip4::from_net(v);
}
uint32_t u32_at(const void* p, size_t off) {
    uint32_t v;
    std::memcpy(&v, static_cast<const char*>(p) + off, 4);
    return v;
}
sa_family_t family_at(const void* p, size_t off) {
    sa_family_t f;
    std::memcpy(&f, static_cast<const char*>(p) + off, sizeof f);
    return f;
}

Membership* find(DgramSock* sk, Ip4 group, int ifindex) {
    for (auto& m : sk->mc_list)
        if (m.group == group && m.ifindex == ifindex) return &m;
    return nullptr;
}

// __ip_mc_join_group.
Err join_group(StackImpl& s, DgramSock* sk, ip_mreqn* imr, int mode) {
    const Ip4 group = Ip4::from_net(imr->imr_multiaddr.s_addr);
    if (!group.is_multicast()) return Err::McastNotMulticast;
    link::Interface* dev = mc_find_dev(s, imr);
    if (!dev) return Err::McastNoDevice;
    if (find(sk, group, imr->imr_ifindex)) return Err::McastAlreadyMember;
    if (sk->mc_list.size() >= s.cfg.igmp_max_memberships) return Err::McastNoBufs;
    // inet->mc_list is a list with the newest first; leaves match in that order.
    Membership m;
    m.group = group;
    m.ifindex = imr->imr_ifindex;
    m.addr = Ip4::from_net(imr->imr_address.s_addr);
    m.sfmode = mode;
    sk->mc_list.insert(sk->mc_list.begin(), m);
    s.link.mc_join(*dev, group, mode);
    return Err::None;
}

// ip_mc_leave_group: the interface found from the hints (not the membership's) is the one
// whose count drops, as in Linux.
Err leave_group(StackImpl& s, DgramSock* sk, ip_mreqn* imr) {
    const Ip4 group = Ip4::from_net(imr->imr_multiaddr.s_addr);
    link::Interface* dev = mc_find_dev(s, imr);
    if (!imr->imr_ifindex && !imr->imr_address.s_addr && !dev) return Err::McastNoDevice;
    for (size_t i = 0; i < sk->mc_list.size(); ++i) {
        Membership& ms = sk->mc_list[i];
        if (ms.group != group) continue;
        if (imr->imr_ifindex) {
            if (ms.ifindex != imr->imr_ifindex) continue;
        } else if (imr->imr_address.s_addr && Ip4::from_net(imr->imr_address.s_addr) != ms.addr) {
            continue;
        }
        if (dev) s.link.mc_leave(*dev, group, ms.sfmode, ms.sources);
        sk->mc_list.erase(sk->mc_list.begin() + long(i));
        return Err::None;
    }
    return Err::McastNotMember;
}

// ip_mc_source: add or remove one source of a membership whose filter is in mode omode.
Err source(StackImpl& s, DgramSock* sk, bool add, int omode, Ip4 group, Ip4 ifaddr, Ip4 src, int ifindex) {
    if (!group.is_multicast()) return Err::McastNotMulticast;
    ip_mreqn imr{};
    imr.imr_multiaddr.s_addr = group.net();
    imr.imr_address.s_addr = ifaddr.net();
    imr.imr_ifindex = ifindex;
    link::Interface* dev = mc_find_dev(s, &imr);
    if (!dev) return Err::McastNoDevice;
    Membership* pmc = find(sk, group, imr.imr_ifindex);
    if (!pmc) return Err::McastNoPriorJoin;
    if (pmc->sflist) {
        if (pmc->sfmode != omode) return Err::McastFilterMode;
    } else if (pmc->sfmode != omode) {
        // An empty filter may switch modes.
        s.link.mc_change(*dev, group, pmc->sfmode, {}, omode, {});
        pmc->sfmode = omode;
    }
    auto& l = pmc->sources;
    size_t i = 0;
    while (i < l.size() && l[i] != src) ++i;
    const std::vector<Ip4> old = l;
    if (!add) {
        if (!pmc->sflist || i == l.size()) return Err::McastSourceMissing;
        // Leaving the last source of an include filter is leaving the group.
        if (l.size() == 1 && omode == MCAST_INCLUDE) return leave_group(s, sk, &imr);
        l.erase(l.begin() + long(i));
        s.link.mc_change(*dev, group, omode, old, omode, l);
        return Err::None;
    }
    if (pmc->sflist && l.size() >= s.cfg.igmp_max_msf) return Err::McastTooManySources;
    pmc->sflist = true;
    if (i < l.size()) return Err::McastSourceExists;
    l.push_back(src);
    s.link.mc_change(*dev, group, omode, old, omode, l);
    return Err::None;
}

// ip_mc_msfilter: replace a membership's whole filter.
Err msfilter(StackImpl& s, DgramSock* sk, Ip4 group, Ip4 ifaddr, uint32_t fmode, std::vector<Ip4> srcs, int ifindex) {
    if (!group.is_multicast()) return Err::McastNotMulticast;
    if (fmode != MCAST_INCLUDE && fmode != MCAST_EXCLUDE) return Err::McastBadFilterMode;
    ip_mreqn imr{};
    imr.imr_multiaddr.s_addr = group.net();
    imr.imr_address.s_addr = ifaddr.net();
    imr.imr_ifindex = ifindex;
    link::Interface* dev = mc_find_dev(s, &imr);
    if (!dev) return Err::McastNoDevice;
    // (INCLUDE, empty) is leaving the group.
    if (fmode == MCAST_INCLUDE && srcs.empty()) return leave_group(s, sk, &imr);
    Membership* pmc = find(sk, group, imr.imr_ifindex);
    if (!pmc) return Err::McastNoPriorJoin;
    s.link.mc_change(*dev, group, pmc->sfmode, pmc->sources, int(fmode), srcs);
    pmc->sflist = !srcs.empty();
    pmc->sources = std::move(srcs);
    pmc->sfmode = int(fmode);
    return Err::None;
}

// The fail() of a membership call that returned e.
int result(Err e, DgramSock* sk, const char* call) { return e == Err::None ? 0 : fail(e, call, sk->fd); }

}  // namespace

link::Interface* mc_find_dev(StackImpl& s, ip_mreqn* m) {
    // ip_mc_find_dev: by index, else by address, else by the route to the group.
    if (m->imr_ifindex) return s.iface(m->imr_ifindex);
    if (m->imr_address.s_addr) {
        const Ip4 a = Ip4::from_net(m->imr_address.s_addr);
        for (auto& i : s.ifaces)
            for (auto& x : i->addrs)
                if (x.addr == a) {
                    m->imr_ifindex = i->ifindex;
                    return i.get();
                }
        return nullptr;
    }
    ip::Flow fl;
    fl.daddr = Ip4::from_net(m->imr_multiaddr.s_addr);
    ip::RouteResult rt;
    if (s.ip.route_output(fl, &rt) != Err::None) return nullptr;
    m->imr_ifindex = rt.dev->ifindex;
    return rt.dev;
}

bool is_membership_option(int name) {
    switch (name) {
        case IP_ADD_MEMBERSHIP: case IP_DROP_MEMBERSHIP: case IP_MSFILTER:
        case IP_BLOCK_SOURCE: case IP_UNBLOCK_SOURCE: case IP_ADD_SOURCE_MEMBERSHIP: case IP_DROP_SOURCE_MEMBERSHIP:
        case MCAST_JOIN_GROUP: case MCAST_LEAVE_GROUP: case MCAST_JOIN_SOURCE_GROUP: case MCAST_LEAVE_SOURCE_GROUP:
        case MCAST_BLOCK_SOURCE: case MCAST_UNBLOCK_SOURCE: case MCAST_MSFILTER: return true;
        default: return false;
    }
}

// do_ip_setsockopt for the membership options: each checks its length before it reads the
// value (so a short value is EINVAL even from a bad pointer), then EFAULT.
int mc_setsockopt(StackImpl& s, DgramSock* sk, int name, const void* val, socklen_t len) {
    const char* call = "setsockopt";
    auto bad = [&](Err e) { return fail(e, call, sk->fd); };
    switch (name) {
        case IP_ADD_MEMBERSHIP:
        case IP_DROP_MEMBERSHIP: {
            if (len < sizeof(ip_mreq)) return bad(Err::OptValue);
            if (!val) return bad(Err::Fault);
            ip_mreqn m{};
            std::memcpy(&m, val, len >= sizeof(ip_mreqn) ? sizeof(ip_mreqn) : sizeof(ip_mreq));
            return result(name == IP_ADD_MEMBERSHIP ? join_group(s, sk, &m, MCAST_EXCLUDE) : leave_group(s, sk, &m), sk, call);
        }
        case IP_BLOCK_SOURCE:
        case IP_UNBLOCK_SOURCE:
        case IP_ADD_SOURCE_MEMBERSHIP:
        case IP_DROP_SOURCE_MEMBERSHIP: {
            if (len != sizeof(ip_mreq_source)) return bad(Err::OptValue);
            if (!val) return bad(Err::Fault);
            const Ip4 group = in4_at(val, 0), ifaddr = in4_at(val, 4), src = in4_at(val, 8);
            const bool include = name == IP_ADD_SOURCE_MEMBERSHIP || name == IP_DROP_SOURCE_MEMBERSHIP;
            const bool add = name == IP_BLOCK_SOURCE || name == IP_ADD_SOURCE_MEMBERSHIP;
            if (name == IP_ADD_SOURCE_MEMBERSHIP) {
                // ip_mc_join_group_ssm: joining in include mode; already joined is fine.
                ip_mreqn m{};
                m.imr_multiaddr.s_addr = group.net();
                m.imr_address.s_addr = ifaddr.net();
                const Err e = join_group(s, sk, &m, MCAST_INCLUDE);
                if (e != Err::None && e != Err::McastAlreadyMember) return bad(e);
            }
            return result(source(s, sk, add, include ? MCAST_INCLUDE : MCAST_EXCLUDE, group, ifaddr, src, 0), sk, call);
        }
        case MCAST_JOIN_GROUP:
        case MCAST_LEAVE_GROUP: {
            // ip_mcast_join_leave
            if (len < sizeof(group_req)) return bad(Err::OptValue);
            if (!val) return bad(Err::Fault);
            if (family_at(val, 8) != AF_INET) return bad(Err::McastGroupFamily);
            ip_mreqn m{};
            m.imr_multiaddr.s_addr = u32_at(val, 12);
            m.imr_ifindex = int(u32_at(val, 0));
            return result(name == MCAST_JOIN_GROUP ? join_group(s, sk, &m, MCAST_EXCLUDE) : leave_group(s, sk, &m), sk, call);
        }
        case MCAST_JOIN_SOURCE_GROUP:
        case MCAST_LEAVE_SOURCE_GROUP:
        case MCAST_BLOCK_SOURCE:
        case MCAST_UNBLOCK_SOURCE: {
            // do_mcast_group_source
            if (len != sizeof(group_source_req)) return bad(Err::OptValue);
            if (!val) return bad(Err::Fault);
            if (family_at(val, 8) != AF_INET || family_at(val, 8 + kSsLen) != AF_INET) return bad(Err::McastSourceFamily);
            const Ip4 group = in4_at(val, 12), src = in4_at(val, 8 + kSsLen + 4);
            int ifindex = int(u32_at(val, 0));
            if (name == MCAST_JOIN_SOURCE_GROUP) {
                ip_mreqn m{};
                m.imr_multiaddr.s_addr = group.net();
                m.imr_ifindex = ifindex;
                const Err e = join_group(s, sk, &m, MCAST_INCLUDE);
                if (e != Err::None && e != Err::McastAlreadyMember) return bad(e);
                ifindex = m.imr_ifindex;
            }
            const bool include = name == MCAST_JOIN_SOURCE_GROUP || name == MCAST_LEAVE_SOURCE_GROUP;
            const bool add = name == MCAST_JOIN_SOURCE_GROUP || name == MCAST_BLOCK_SOURCE;
            return result(source(s, sk, add, include ? MCAST_INCLUDE : MCAST_EXCLUDE, group, Ip4(), src, ifindex), sk, call);
        }
        case IP_MSFILTER: {
            if (len < kMsfHead) return bad(Err::OptValue);
            if (len > kOptmemMax) return bad(Err::McastTooManySources);
            if (!val) return bad(Err::Fault);
            const uint32_t n = u32_at(val, 12);
            if (n >= 0x3ffffffcU || n > s.cfg.igmp_max_msf) return bad(Err::McastTooManySources);
            if (kMsfHead + 4 * n > len) return bad(Err::OptValue);
            std::vector<Ip4> l;
            for (uint32_t i = 0; i < n; ++i) l.push_back(in4_at(val, kMsfHead + 4 * i));
            return result(msfilter(s, sk, in4_at(val, 0), in4_at(val, 4), u32_at(val, 8), std::move(l), 0), sk, call);
        }
        case MCAST_MSFILTER: {
            // ip_set_mcast_msfilter / set_mcast_msfilter
            if (len < kGfHead) return bad(Err::OptValue);
            if (len > kOptmemMax) return bad(Err::McastTooManySources);
            if (!val) return bad(Err::Fault);
            const uint32_t n = u32_at(val, 140);
            if (n >= 0x1ffffff || n > s.cfg.igmp_max_msf) return bad(Err::McastTooManySources);
            if (kGfHead + kSsLen * n > len) return bad(Err::OptValue);
            if (family_at(val, 8) != AF_INET) return bad(Err::McastSourceFamily);
            std::vector<Ip4> l;
            for (uint32_t i = 0; i < n; ++i) {
                if (family_at(val, kGfHead + kSsLen * i) != AF_INET) return bad(Err::McastSourceFamily);
                l.push_back(in4_at(val, kGfHead + kSsLen * i + 4));
            }
            return result(msfilter(s, sk, in4_at(val, 12), Ip4(), u32_at(val, 136), std::move(l), int(u32_at(val, 0))), sk, call);
        }
        default: return bad(Err::OptUnknown);
    }
}

// do_ip_getsockopt for IP_MSFILTER (ip_mc_msfget) and MCAST_MSFILTER (ip_get_mcast_msfilter):
// the caller's header says which group, and how many sources it has room for.
int mc_getsockopt(StackImpl& s, DgramSock* sk, int name, void* val, socklen_t* len) {
    const char* call = "getsockopt";
    auto bad = [&](Err e) { return fail(e, call, sk->fd); };
    char* out = static_cast<char*>(val);
    if (name == IP_MSFILTER) {
        if (*len < kMsfHead) return bad(Err::OptValue);
        if (!val) return bad(Err::Fault);
        const Ip4 group = in4_at(val, 0);
        if (!group.is_multicast()) return bad(Err::McastGetNotMulticast);
        ip_mreqn imr{};
        imr.imr_multiaddr.s_addr = group.net();
        imr.imr_address.s_addr = u32_at(val, 4);
        if (!mc_find_dev(s, &imr)) return bad(Err::McastNoDevice);
        const Membership* pmc = find(sk, group, imr.imr_ifindex);
        if (!pmc) return bad(Err::McastFilterNotJoined);
        const uint32_t count = uint32_t(pmc->sources.size());
        const uint32_t copy = std::min(count, u32_at(val, 12));
        const uint32_t mode = uint32_t(pmc->sfmode);
        std::memcpy(out + 8, &mode, 4);
        std::memcpy(out + 12, &count, 4);
        // As Linux, the sources the caller's imsf_numsrc has room for, whatever optlen says.
        for (uint32_t i = 0; i < copy; ++i) {
            const uint32_t a = pmc->sources[i].net();
            std::memcpy(out + kMsfHead + 4 * i, &a, 4);
        }
        *len = kMsfHead + 4 * copy;
        return 0;
    }
    // MCAST_MSFILTER
    if (*len < kGfHead) return bad(Err::OptValue);
    if (!val) return bad(Err::Fault);
    if (family_at(val, 8) != AF_INET) return bad(Err::McastGroupFamily);
    const Ip4 group = in4_at(val, 12);
    if (!group.is_multicast()) return bad(Err::McastGetNotMulticast);
    const Membership* pmc = find(sk, group, int(u32_at(val, 0)));
    if (!pmc) return bad(Err::McastFilterNotJoined);
    const uint32_t count = uint32_t(pmc->sources.size());
    const uint32_t copy = std::min(count, u32_at(val, 140));
    for (uint32_t i = 0; i < copy; ++i) {
        sockaddr_storage ss{};
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = pmc->sources[i].net();
        std::memcpy(out + kGfHead + kSsLen * i, &ss, kSsLen);
    }
    const uint32_t mode = uint32_t(pmc->sfmode);
    std::memcpy(out + 136, &mode, 4);
    std::memcpy(out + 140, &count, 4);
    *len = kGfHead + kSsLen * copy;
    return 0;
}

void drop_memberships(StackImpl& s, DgramSock* sk) {
    // ip_mc_drop_socket: each membership leaves the interface it was made on.
    for (const auto& ms : sk->mc_list)
        if (auto* d = s.iface(ms.ifindex)) s.link.mc_leave(*d, ms.group, ms.sfmode, ms.sources);
    sk->mc_list.clear();
}

}  // namespace usnet::sock
