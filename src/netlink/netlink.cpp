// NETLINK_ROUTE on the usnet stack: the socket (af_netlink.c's bind, sendmsg, recvmsg,
// options) and the rtnetlink requests (rtnetlink.c, devinet.c, fib_frontend.c,
// neighbour.c) a program's `ip`, getifaddrs and if_nameindex make. Requests are answered
// within sendmsg: a dump is queued whole, one datagram per NLMSG_GOODSIZE of messages and
// NLMSG_DONE alone last, as netlink_dump sends it to a reader that keeps up.
#include "netlink/netlink.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/fib_rules.h>
#include <linux/if_arp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack_impl.hpp"
#include "socket/socket_layer.hpp"
#include "wire/netlink.hpp"

namespace usnet::netlink {

namespace {

using wire::NlMsg;
using wire::NlWriter;
using wire::Rta;

// NLMSG_GOODSIZE on 4 KiB pages: a dump datagram holds messages up to this many bytes.
constexpr size_t kGoodSize = 4096 - 320;
constexpr uint32_t kInfinity = 0xffffffffu;  // INFINITY_LIFE_TIME

int fail(Err e, const char* call, int fd) { return sock::fail(e, call, fd); }

// The answers to one request, and where they go.
struct Reply {
    NlSock& n;
    uint32_t seq;
    std::vector<std::vector<uint8_t>> msgs;  // each a whole message
    uint16_t answer_flags = 0;               // NLM_F_DUMP_FILTERED for a filtered dump
};

// Queues a datagram on the socket, as __netlink_sendskb (a reader's wakeup).
void deliver(NlSock& n, std::vector<uint8_t> skb) {
    n.rx.push_back(std::move(skb));
    ++n.wakeups;
}

// Queues a dump: the messages packed into datagrams of up to kGoodSize, then NLMSG_DONE
// with `done_err` in a datagram of its own (netlink_dump puts it in the next skb).
void send_dump(Reply& r, int done_err, const char* ext_msg) {
    std::vector<uint8_t> skb;
    for (auto& m : r.msgs) {
        if (!skb.empty() && skb.size() + m.size() > kGoodSize) deliver(r.n, std::move(skb)), skb.clear();
        skb.insert(skb.end(), m.begin(), m.end());
    }
    if (!skb.empty()) deliver(r.n, std::move(skb));
    std::vector<uint8_t> done;
    NlWriter w(done);
    const bool tlv = r.n.ext_ack && ext_msg;  // netlink_dump_done: the reason of a failed dump
    w.begin(NLMSG_DONE, uint16_t(NLM_F_MULTI | r.answer_flags | (tlv ? NLM_F_ACK_TLVS : 0)), r.seq, r.n.portid);
    w.fam(int32_t(done_err));
    if (tlv) w.attr_str(NLMSGERR_ATTR_MSG, ext_msg);
    w.end();
    deliver(r.n, std::move(done));
}

// netlink_ack: NLMSG_ERROR with the request's header, and its payload too on an error
// unless NETLINK_CAP_ACK (then NLM_F_CAPPED).
void send_ack(NlSock& n, const NlMsg& req, int err, const char* ext_msg) {
    std::vector<uint8_t> b;
    NlWriter w(b);
    const bool whole = err != 0 && !n.cap_ack;
    // NETLINK_EXT_ACK: the reason, as NL_SET_ERR_MSG gives it, in an attribute.
    const bool tlv = n.ext_ack && err && ext_msg;
    w.begin(NLMSG_ERROR, uint16_t((whole ? 0 : NLM_F_CAPPED) | (tlv ? NLM_F_ACK_TLVS : 0)), req.h.nlmsg_seq, n.portid);
    nlmsgerr e{};
    e.error = err;
    e.msg = req.h;
    w.fam(e);
    if (whole) w.bytes(req.payload.data(), req.payload.size());
    if (tlv) w.attr_str(NLMSGERR_ATTR_MSG, ext_msg);
    w.end();
    deliver(n, std::move(b));
}

// ---------------- what the stack holds, as rtnetlink messages ----------------

unsigned if_flags(const link::Interface& i) {
    unsigned f = i.loopback ? IFF_LOOPBACK : (IFF_BROADCAST | IFF_MULTICAST);
    if (i.up) f |= IFF_UP | IFF_RUNNING | IFF_LOWER_UP;  // the carrier is on while up
    return f;
}

// rtnl_fill_ifinfo's attributes, in its order (statistics are not kept per device: zeros).
void fill_link(NlWriter& w, const link::Interface& i, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid) {
    w.begin(type, flags, seq, pid);
    ifinfomsg m{};
    m.ifi_family = AF_UNSPEC;
    m.ifi_type = i.loopback ? ARPHRD_LOOPBACK : ARPHRD_ETHER;
    m.ifi_index = i.ifindex;
    m.ifi_flags = if_flags(i);
    w.fam(m);
    w.attr_str(IFLA_IFNAME, i.name.c_str());
    w.attr_u32(IFLA_TXQLEN, 1000);
    // IF_OPER_UNKNOWN for lo (no carrier notion), UP/DOWN for an Ethernet port.
    w.attr_u8(IFLA_OPERSTATE, uint8_t(!i.up ? IF_OPER_DOWN : i.loopback ? IF_OPER_UNKNOWN : IF_OPER_UP));
    w.attr_u8(IFLA_LINKMODE, 0);
    w.attr_u32(IFLA_MTU, i.mtu);
    w.attr_u32(IFLA_MIN_MTU, i.loopback ? 0 : 68);
    w.attr_u32(IFLA_MAX_MTU, i.loopback ? 0 : 65535);
    w.attr_u32(IFLA_GROUP, 0);
    w.attr_u32(IFLA_PROMISCUITY, 0);
    w.attr_u32(IFLA_NUM_TX_QUEUES, 1);
    w.attr_u32(IFLA_NUM_RX_QUEUES, 1);
    w.attr_u8(IFLA_CARRIER, i.up ? 1 : 0);
    w.attr_str(IFLA_QDISC, "noqueue");
    w.attr_u32(IFLA_CARRIER_CHANGES, 0);
    w.attr_u8(IFLA_PROTO_DOWN, 0);
    const Mac bcast = i.loopback ? Mac{} : Mac::broadcast();
    w.attr(IFLA_ADDRESS, i.mac.b.data(), 6);
    w.attr(IFLA_BROADCAST, bcast.b.data(), 6);
    rtnl_link_stats64 s64{};
    w.attr(IFLA_STATS64, &s64, sizeof s64);
    rtnl_link_stats s32{};
    w.attr(IFLA_STATS, &s32, sizeof s32);
    w.end();
}

uint8_t addr_scope(Ip4 a) { return a.is_loopback() ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE; }

// inet_fill_ifaddr's attributes, in its order.
void fill_addr(StackImpl& s, NlWriter& w, const link::Interface& i, const link::IfAddr& a, uint16_t type,
               uint16_t flags, uint32_t seq, uint32_t pid) {
    w.begin(type, flags, seq, pid);
    ifaddrmsg m{};
    m.ifa_family = AF_INET;
    m.ifa_prefixlen = uint8_t(a.prefix);
    const uint32_t fl = IFA_F_PERMANENT | (a.secondary ? IFA_F_SECONDARY : 0);
    m.ifa_flags = uint8_t(fl);
    m.ifa_scope = addr_scope(a.addr);
    m.ifa_index = uint32_t(i.ifindex);
    w.fam(m);
    w.attr_in(IFA_ADDRESS, a.addr.v);
    w.attr_in(IFA_LOCAL, a.addr.v);
    if (a.ifa_broadcast.v) w.attr_in(IFA_BROADCAST, a.ifa_broadcast.v);
    w.attr_str(IFA_LABEL, i.name.c_str());
    w.attr_u32(IFA_FLAGS, fl);
    ifa_cacheinfo ci{kInfinity, kInfinity, 0, 0};
    ci.cstamp = ci.tstamp = uint32_t(s.now() / (10 * kMs));  // hundredths of a second
    w.attr(IFA_CACHEINFO, &ci, sizeof ci);
    w.end();
}

uint8_t rtn_of(RouteType t) {
    switch (t) {
        case RouteType::Unicast: return RTN_UNICAST;
        case RouteType::Local: return RTN_LOCAL;
        case RouteType::Broadcast: return RTN_BROADCAST;
        case RouteType::Multicast: return RTN_MULTICAST;
        case RouteType::Blackhole: return RTN_BLACKHOLE;
        case RouteType::Unreachable: return RTN_UNREACHABLE;
        case RouteType::Prohibit: return RTN_PROHIBIT;
    }
    return RTN_UNSPEC;
}

uint8_t table_of(const ip::Route& r) { return r.local_table ? RT_TABLE_LOCAL : RT_TABLE_MAIN; }

// fib_dump_info's attributes, in its order.
void fill_route(NlWriter& w, const ip::Route& r, uint16_t flags, uint32_t seq, uint32_t pid) {
    w.begin(RTM_NEWROUTE, flags, seq, pid);
    rtmsg m{};
    m.rtm_family = AF_INET;
    m.rtm_dst_len = uint8_t(r.spec.prefix_len);
    m.rtm_table = table_of(r);
    m.rtm_protocol = r.spec.protocol;
    const bool reject = r.spec.type == RouteType::Blackhole || r.spec.type == RouteType::Unreachable ||
                        r.spec.type == RouteType::Prohibit;
    m.rtm_scope = reject ? uint8_t(RT_SCOPE_UNIVERSE) : uint8_t(r.scope);
    m.rtm_type = rtn_of(r.spec.type);
    w.fam(m);
    w.attr_u32(RTA_TABLE, table_of(r));
    if (r.spec.prefix_len) w.attr_in(RTA_DST, r.spec.dst.v);
    if (r.spec.metric) w.attr_u32(RTA_PRIORITY, r.spec.metric);
    if (!r.spec.prefsrc.any()) w.attr_in(RTA_PREFSRC, r.spec.prefsrc.v);
    if (!r.spec.gateway.any()) w.attr_in(RTA_GATEWAY, r.spec.gateway.v);
    if (r.spec.ifindex) w.attr_u32(RTA_OIF, uint32_t(r.spec.ifindex));
    w.end();
}

uint16_t nud_of(link::NeighState st) {
    switch (st) {
        case link::NeighState::Incomplete: return NUD_INCOMPLETE;
        case link::NeighState::Reachable: return NUD_REACHABLE;
        case link::NeighState::Stale: return NUD_STALE;
        case link::NeighState::Delay: return NUD_DELAY;
        case link::NeighState::Probe: return NUD_PROBE;
        case link::NeighState::Failed: return NUD_FAILED;
    }
    return NUD_NONE;
}

// neigh_fill_info's attributes, in its order.
void fill_neigh(StackImpl& s, NlWriter& w, const link::Interface& i, const link::Neighbour& nb, uint16_t flags,
                uint32_t seq, uint32_t pid) {
    w.begin(RTM_NEWNEIGH, flags, seq, pid);
    ndmsg m{};
    m.ndm_family = AF_INET;
    m.ndm_ifindex = i.ifindex;
    m.ndm_state = nud_of(nb.state);
    m.ndm_type = RTN_UNICAST;
    w.fam(m);
    w.attr_in(NDA_DST, nb.ip.v);
    // NUD_VALID
    if (m.ndm_state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)) w.attr(NDA_LLADDR, nb.mac.b.data(), 6);
    auto ago = [&](Time t) { return uint32_t(std::max<Time>(0, s.now() - t) / kMs); };
    nda_cacheinfo ci{ago(nb.updated), ago(nb.used), ago(nb.updated), 0};
    w.attr(NDA_CACHEINFO, &ci, sizeof ci);
    w.attr_u32(NDA_PROBES, uint32_t(nb.probes));
    w.end();
}

// ---------------- requests ----------------

// The request as rtnetlink sees it.
struct Req {
    Stack& st;
    StackImpl& s;
    NlSock& n;
    const NlMsg& m;
    uint8_t family;
    bool strict;  // NETLINK_GET_STRICT_CHK: dump headers and attributes are checked
    const char* ext_msg = nullptr;  // the kernel's extended-ack message for the error
};

int err_msg(Req& q, int err, const char* msg) {
    q.ext_msg = msg;
    return err;
}

template <class F>
std::vector<uint8_t> one(Req&, F&& f) {
    std::vector<uint8_t> b;
    NlWriter w(b);
    f(w);
    return b;
}

link::Interface* dev_by_name(StackImpl& s, std::span<const uint8_t> name) {
    std::string nm(reinterpret_cast<const char*>(name.data()), name.size());
    nm = nm.substr(0, nm.find('\0'));
    for (auto& i : s.ifaces)
        if (i->name == nm) return i.get();
    return nullptr;
}

// rtnl_dump_ifinfo (rtnl_valid_dump_ifinfo_req when strict).
int dump_links(Req& q, Reply& r) {
    if (q.strict) {
        ifinfomsg h{};
        if (!q.m.fam(&h)) return err_msg(q, -EINVAL, "Invalid header for link dump");
        if (h.__ifi_pad || h.ifi_type || h.ifi_flags || h.ifi_change)
            return err_msg(q, -EINVAL, "Invalid values in header for link dump request");
        if (h.ifi_index) return err_msg(q, -EINVAL, "Filter by device index not supported for link dumps");
        std::vector<Rta> tb;
        if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, IFLA_MAX) != wire::RtaError::Ok) return -EINVAL;
        for (uint16_t t = 0; t <= IFLA_MAX; ++t)
            if (tb[t].type && t != IFLA_EXT_MASK && t != IFLA_TARGET_NETNSID && t != IFLA_MASTER && t != IFLA_LINKINFO)
                return err_msg(q, -EINVAL, "Unsupported attribute in link dump request");
    }
    for (auto& i : q.s.ifaces)
        r.msgs.push_back(one(q, [&](NlWriter& w) { fill_link(w, *i, RTM_NEWLINK, NLM_F_MULTI, r.seq, q.n.portid); }));
    return 0;
}

// inet_dump_ifaddr (inet_valid_dump_ifaddr_req when strict).
int dump_addrs(Req& q, Reply& r) {
    int ifindex = 0;
    if (q.strict) {
        ifaddrmsg h{};
        if (!q.m.fam(&h)) return err_msg(q, -EINVAL, "ipv4: Invalid header for address dump request");
        if (h.ifa_prefixlen || h.ifa_flags || h.ifa_scope)
            return err_msg(q, -EINVAL, "ipv4: Invalid values in header for address dump request");
        std::vector<Rta> tb;
        if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, IFA_MAX) != wire::RtaError::Ok) return -EINVAL;
        for (uint16_t t = 1; t <= IFA_MAX; ++t)
            if (tb[t].type && t != IFA_TARGET_NETNSID) return err_msg(q, -EINVAL, "ipv4: Unsupported attribute in dump request");
        ifindex = int(h.ifa_index);
        if (ifindex) {
            r.answer_flags = NLM_F_DUMP_FILTERED;
            if (!q.s.iface(ifindex)) return -ENODEV;
        }
    }
    if (q.family == AF_INET6) return 0;  // no IPv6 addresses: an empty dump
    for (auto& i : q.s.ifaces) {
        if (ifindex && i->ifindex != ifindex) continue;
        for (auto& a : i->addrs)
            r.msgs.push_back(one(q, [&](NlWriter& w) {
                fill_addr(q.s, w, *i, a, RTM_NEWADDR, uint16_t(NLM_F_MULTI | r.answer_flags), r.seq, q.n.portid);
            }));
    }
    return 0;
}

// inet_dump_fib (ip_valid_fib_dump_req when strict): tables by id (main 254, then local
// 255), each in its trie's order (by destination; a longer prefix first).
int dump_routes(Req& q, Reply& r) {
    int table = 0, oif = 0, proto = 0;
    if (q.strict) {
        rtmsg h{};
        if (!q.m.fam(&h)) return err_msg(q, -EINVAL, "Invalid header for FIB dump request");
        if (h.rtm_dst_len || h.rtm_src_len || h.rtm_tos || h.rtm_scope || h.rtm_type)
            return err_msg(q, -EINVAL, "Invalid values in header for FIB dump request");
        if (h.rtm_flags & ~(RTM_F_CLONED | RTM_F_PREFIX)) return err_msg(q, -EINVAL, "Invalid flags for FIB dump request");
        table = h.rtm_table;
        proto = h.rtm_protocol;
        std::vector<Rta> tb;
        if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, RTA_MAX) != wire::RtaError::Ok) return -EINVAL;
        for (uint16_t t = 1; t <= RTA_MAX; ++t) {
            if (!tb[t].type) continue;
            uint32_t v = 0;
            if (t == RTA_TABLE && tb[t].u32(&v)) table = int(v);
            else if (t == RTA_OIF && tb[t].u32(&v)) oif = int(v);
            else return err_msg(q, -EINVAL, "Unsupported attribute in dump request");
        }
        if (oif && !q.s.iface(oif)) return -ENODEV;
        if (table || oif || proto) r.answer_flags = NLM_F_DUMP_FILTERED;
        if (h.rtm_flags & RTM_F_CLONED) return 0;  // only cached routes asked for: none here
    }
    if (q.family == AF_INET6) return 0;
    std::vector<const ip::Route*> v;
    for (const auto& rt : q.s.ip.routes)
        if ((!table || table_of(rt) == table) && (!oif || rt.spec.ifindex == oif) && (!proto || rt.spec.protocol == proto))
            v.push_back(&rt);
    std::stable_sort(v.begin(), v.end(), [](const ip::Route* a, const ip::Route* b) {
        if (a->local_table != b->local_table) return !a->local_table;
        if (a->spec.dst.v != b->spec.dst.v) return a->spec.dst.v < b->spec.dst.v;
        if (a->spec.prefix_len != b->spec.prefix_len) return a->spec.prefix_len > b->spec.prefix_len;
        return a->spec.metric < b->spec.metric;
    });
    for (const ip::Route* rt : v)
        r.msgs.push_back(one(q, [&](NlWriter& w) { fill_route(w, *rt, uint16_t(NLM_F_MULTI | r.answer_flags), r.seq, q.n.portid); }));
    return 0;
}

// neigh_dump_info (neigh_valid_dump_req when strict).
int dump_neigh(Req& q, Reply& r) {
    int ifindex = 0;
    if (q.strict) {
        ndmsg h{};
        if (!q.m.fam(&h)) return err_msg(q, -EINVAL, "Invalid header for neighbor dump request");
        if (h.ndm_pad1 || h.ndm_pad2 || h.ndm_state || h.ndm_type)
            return err_msg(q, -EINVAL, "Invalid values in header for neighbor dump request");
        if (h.ndm_flags & ~NTF_PROXY) return err_msg(q, -EINVAL, "Invalid flags in header for neighbor dump request");
        std::vector<Rta> tb;
        if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, NDA_MAX) != wire::RtaError::Ok) return -EINVAL;
        for (uint16_t t = 1; t <= NDA_MAX; ++t) {
            if (!tb[t].type) continue;
            uint32_t v = 0;
            if (t == NDA_IFINDEX && tb[t].u32(&v)) ifindex = int(v);
            else if (t != NDA_MASTER) return err_msg(q, -EINVAL, "Unsupported attribute in neighbor dump request");
        }
        if (ifindex) r.answer_flags = NLM_F_DUMP_FILTERED;
        if (h.ndm_flags & NTF_PROXY) return 0;  // proxy entries: none
    }
    if (q.family != AF_INET && q.family != AF_UNSPEC) return 0;  // the ARP table only
    for (auto& i : q.s.ifaces) {
        if (ifindex && i->ifindex != ifindex) continue;
        for (const auto& nb : i->neigh)
            r.msgs.push_back(one(q, [&](NlWriter& w) {
                fill_neigh(q.s, w, *i, nb, uint16_t(NLM_F_MULTI | r.answer_flags), r.seq, q.n.portid);
            }));
    }
    return 0;
}

// fib_nl_dumprule: the three rules of a fresh namespace (usnet has no others): lookup
// local at 0, main at 32766, default at 32767.
int dump_rules(Req& q, Reply& r) {
    if (q.family == AF_INET6) return 0;
    const std::pair<uint32_t, uint8_t> rules[] = {{0, RT_TABLE_LOCAL}, {32766, RT_TABLE_MAIN}, {32767, RT_TABLE_DEFAULT}};
    for (const auto& rule : rules) {
        const uint32_t pref = rule.first;  // (not structured bindings: clang before 16 cannot capture them)
        const uint8_t table = rule.second;
        r.msgs.push_back(one(q, [&](NlWriter& w) {
            w.begin(RTM_NEWRULE, uint16_t(NLM_F_MULTI | r.answer_flags), r.seq, q.n.portid);
            fib_rule_hdr h{};
            h.family = AF_INET;
            h.table = table;
            h.action = FR_ACT_TO_TBL;
            w.fam(h);
            w.attr_u32(FRA_TABLE, table);
            w.attr_u32(FRA_SUPPRESS_PREFIXLEN, 0xffffffffu);
            w.attr_u8(FRA_PROTOCOL, RTPROT_KERNEL);
            if (pref) w.attr_u32(FRA_PRIORITY, pref);
            w.end();
        }));
    }
    return 0;
}

// rtnl_getlink: one device, by index or IFLA_IFNAME.
int get_link(Req& q, std::vector<uint8_t>* out) {
    ifinfomsg h{};
    if (!q.m.fam(&h)) return -EINVAL;
    if (q.strict && (h.__ifi_pad || h.ifi_flags || h.ifi_change)) return -EINVAL;
    std::vector<Rta> tb;
    if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, IFLA_MAX) != wire::RtaError::Ok) return -EINVAL;
    link::Interface* i = nullptr;
    if (h.ifi_index > 0) i = q.s.iface(h.ifi_index);
    else if (tb[IFLA_IFNAME].type || tb[IFLA_ALT_IFNAME].type)
        i = dev_by_name(q.s, tb[IFLA_IFNAME].type ? tb[IFLA_IFNAME].data : tb[IFLA_ALT_IFNAME].data);
    else return -EINVAL;
    if (!i) return -ENODEV;
    NlWriter w(*out);
    fill_link(w, *i, RTM_NEWLINK, 0, q.m.h.nlmsg_seq, q.n.portid);
    return 0;
}

// rtnl_newlink / rtnl_setlink on an existing device (usnet creates none): mtu, then
// IFF_UP as do_setlink applies them.
int set_link(Req& q) {
    ifinfomsg h{};
    if (!q.m.fam(&h)) return -EINVAL;
    std::vector<Rta> tb;
    if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, IFLA_MAX) != wire::RtaError::Ok) return -EINVAL;
    link::Interface* i = nullptr;
    if (h.ifi_index > 0) i = q.s.iface(h.ifi_index);
    else if (tb[IFLA_IFNAME].type) i = dev_by_name(q.s, tb[IFLA_IFNAME].data);
    const uint16_t f = q.m.h.nlmsg_flags;
    if (!i) {
        if (q.m.h.nlmsg_type == RTM_NEWLINK && (f & NLM_F_CREATE)) return -EOPNOTSUPP;  // no device kinds here
        return -ENODEV;
    }
    if (q.m.h.nlmsg_type == RTM_NEWLINK && (f & NLM_F_EXCL)) return -EEXIST;
    if (tb[IFLA_ADDRESS].type || tb[IFLA_LINKINFO].type) return -EOPNOTSUPP;  // usnet: fixed addresses, no kinds
    if (h.ifi_index > 0 && tb[IFLA_IFNAME].type && dev_by_name(q.s, tb[IFLA_IFNAME].data) != i) return -EOPNOTSUPP;
    if (tb[IFLA_MTU].type) {
        uint32_t mtu = 0;
        if (!tb[IFLA_MTU].u32(&mtu)) return -EINVAL;
        // dev_validate_mtu (lo has no bounds of its own; usnet keeps IPv4's 68).
        if (mtu < 68 && !i->loopback) return err_msg(q, -EINVAL, "mtu less than device minimum");
        if (mtu > 65535 && !i->loopback) return err_msg(q, -EINVAL, "mtu greater than device maximum");
        if (const int rc = q.st.set_mtu(i->ifindex, mtu); rc < 0) return rc;
    }
    if (h.ifi_flags || h.ifi_change) {
        // rtnl_dev_combine_flags: ifi_change 0 means every bit.
        unsigned flags = h.ifi_flags;
        if (h.ifi_change) flags = (flags & h.ifi_change) | (if_flags(*i) & ~h.ifi_change);
        if (const int rc = q.st.set_link_up(i->ifindex, flags & IFF_UP); rc < 0) return rc;
    }
    return 0;
}

Ip4 in_attr(const Rta& a) {
    uint32_t v = 0;
    a.u32(&v);
    return Ip4::from_net(v);
}

// inet_rtm_newaddr / inet_rtm_deladdr.
int change_addr(Req& q) {
    ifaddrmsg h{};
    if (!q.m.fam(&h)) return -EINVAL;
    std::vector<Rta> tb;
    if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, IFA_MAX) != wire::RtaError::Ok) return -EINVAL;
    for (uint16_t t : {IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST})
        if (tb[t].type && tb[t].data.size() < 4) return -EINVAL;
    link::Interface* i = q.s.iface(int(h.ifa_index));
    if (q.m.h.nlmsg_type == RTM_DELADDR) {
        if (!i) return -ENODEV;
        for (const auto& a : i->addrs) {
            if (tb[IFA_LOCAL].type && a.addr != in_attr(tb[IFA_LOCAL])) continue;
            if (tb[IFA_LABEL].type && std::string(reinterpret_cast<const char*>(tb[IFA_LABEL].data.data())) != i->name) continue;
            if (tb[IFA_ADDRESS].type &&
                (h.ifa_prefixlen != a.prefix || ((in_attr(tb[IFA_ADDRESS]).v ^ a.addr.v) & prefix_mask(a.prefix))))
                continue;
            return q.st.del_address(i->ifindex, a.addr, a.prefix);
        }
        return err_msg(q, -EADDRNOTAVAIL, "ipv4: Address not found");
    }
    // inet_rtm_to_ifa: IFA_LOCAL, else IFA_ADDRESS.
    const Rta& local = tb[IFA_LOCAL].type ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (h.ifa_prefixlen > 32 || !local.type) return -EINVAL;
    if (!i) return err_msg(q, -ENODEV, "ipv4: Device not found");
    const Ip4 a = in_attr(local);
    for (auto& x : i->addrs)
        if (x.addr == a && x.prefix == h.ifa_prefixlen) {
            const uint16_t f = q.m.h.nlmsg_flags;
            if ((f & NLM_F_EXCL) || !(f & NLM_F_REPLACE)) return err_msg(q, -EEXIST, "ipv4: Address already assigned");
            return 0;  // a replace only renews lifetimes, which are forever here
        }
    if (const int rc = q.st.add_address(i->ifindex, a, h.ifa_prefixlen); rc < 0) return rc;
    for (auto& x : i->addrs)
        if (x.addr == a && tb[IFA_BROADCAST].type) x.ifa_broadcast = in_attr(tb[IFA_BROADCAST]);
    return 0;
}

// fib_table_delete: among the routes of that prefix (lowest metric first), the first that
// matches every field given (a metric given must be the route's).
int delete_route(Req& q, const rtmsg& h, const std::vector<Rta>& tb, Ip4 dst) {
    auto& routes = q.s.ip.routes;
    std::vector<size_t> cand;
    for (size_t i = 0; i < routes.size(); ++i)
        if (!routes[i].local_table && routes[i].spec.prefix_len == h.rtm_dst_len &&
            routes[i].spec.dst.v == (dst.v & prefix_mask(h.rtm_dst_len)))
            cand.push_back(i);
    std::stable_sort(cand.begin(), cand.end(), [&](size_t a, size_t b) { return routes[a].spec.metric < routes[b].spec.metric; });
    uint32_t prio = 0, oif = 0;
    if (tb[RTA_PRIORITY].type) tb[RTA_PRIORITY].u32(&prio);
    if (tb[RTA_OIF].type) tb[RTA_OIF].u32(&oif);
    for (size_t i : cand) {
        const ip::Route& r = routes[i];
        if (tb[RTA_PRIORITY].type && r.spec.metric != prio) continue;
        const bool reject = r.spec.type == RouteType::Blackhole || r.spec.type == RouteType::Unreachable ||
                            r.spec.type == RouteType::Prohibit;
        const uint8_t scope = reject ? uint8_t(RT_SCOPE_UNIVERSE) : uint8_t(r.scope);
        if (h.rtm_type && rtn_of(r.spec.type) != h.rtm_type) continue;
        if (h.rtm_scope != RT_SCOPE_NOWHERE && scope != h.rtm_scope) continue;
        if (h.rtm_protocol && r.spec.protocol != h.rtm_protocol) continue;
        if (tb[RTA_PREFSRC].type && r.spec.prefsrc != in_attr(tb[RTA_PREFSRC])) continue;
        if (oif && r.spec.ifindex != int(oif)) continue;
        if (tb[RTA_GATEWAY].type && r.spec.gateway != in_attr(tb[RTA_GATEWAY])) continue;
        routes.erase(routes.begin() + long(i));
        ++q.s.ip.genid;
        return 0;
    }
    return -ESRCH;
}

// inet_rtm_newroute / inet_rtm_delroute on the main table.
int change_route(Req& q) {
    rtmsg h{};
    if (!q.m.fam(&h)) return -EINVAL;
    std::vector<Rta> tb;
    if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, RTA_MAX) != wire::RtaError::Ok) return -EINVAL;
    for (uint16_t t : {RTA_DST, RTA_GATEWAY, RTA_PREFSRC, RTA_OIF, RTA_PRIORITY, RTA_TABLE})
        if (tb[t].type && tb[t].data.size() < 4) return -EINVAL;
    if (h.rtm_dst_len > 32) return -EINVAL;
    uint32_t table = h.rtm_table;
    if (tb[RTA_TABLE].type) tb[RTA_TABLE].u32(&table);
    if (table == RT_TABLE_UNSPEC) table = RT_TABLE_MAIN;
    const Ip4 dst = tb[RTA_DST].type ? in_attr(tb[RTA_DST]) : Ip4();
    const bool del = q.m.h.nlmsg_type == RTM_DELROUTE;
    if (table != RT_TABLE_MAIN) return del ? -ESRCH : -EOPNOTSUPP;  // usnet: the main table only
    if (del) return delete_route(q, h, tb, dst);
    if (tb[RTA_MULTIPATH].type || tb[RTA_ENCAP].type || tb[RTA_NH_ID].type) return -EOPNOTSUPP;
    RouteSpec r;
    r.dst = dst;
    r.prefix_len = h.rtm_dst_len;
    r.protocol = h.rtm_protocol;
    switch (h.rtm_type) {
        case RTN_UNICAST: r.type = RouteType::Unicast; break;
        case RTN_BLACKHOLE: r.type = RouteType::Blackhole; break;
        case RTN_UNREACHABLE: r.type = RouteType::Unreachable; break;
        case RTN_PROHIBIT: r.type = RouteType::Prohibit; break;
        default: return h.rtm_type > RTN_MAX ? -EINVAL : -EOPNOTSUPP;  // local, broadcast...: usnet's own
    }
    uint32_t v = 0;
    if (tb[RTA_OIF].type && tb[RTA_OIF].u32(&v)) r.ifindex = int(v);
    if (r.ifindex && !q.s.iface(r.ifindex)) return -ENODEV;
    if (tb[RTA_GATEWAY].type) r.gateway = in_attr(tb[RTA_GATEWAY]);
    if (tb[RTA_PREFSRC].type) {
        r.prefsrc = in_attr(tb[RTA_PREFSRC]);
        if (!q.s.ip.is_local_addr(r.prefsrc)) return err_msg(q, -EINVAL, "Invalid prefsrc address");  // fib_create_info
    }
    if (tb[RTA_PRIORITY].type) tb[RTA_PRIORITY].u32(&r.metric);
    if (r.type == RouteType::Unicast && !r.ifindex && r.gateway.any()) return -ENODEV;
    const uint16_t f = q.m.h.nlmsg_flags;
    if ((f & NLM_F_REPLACE) && !(f & NLM_F_EXCL)) {
        bool found = false;
        for (auto it = q.s.ip.routes.begin(); it != q.s.ip.routes.end(); ++it)
            if (!it->local_table && it->spec.dst.v == (dst.v & prefix_mask(r.prefix_len)) &&
                it->spec.prefix_len == r.prefix_len && it->spec.metric == r.metric) {
                q.s.ip.routes.erase(it);
                ++q.s.ip.genid;
                found = true;
                break;
            }
        // fib_table_insert: `ip route change` (a replace without NLM_F_CREATE) needs the route.
        if (!found && !(f & NLM_F_CREATE)) return -ENOENT;
    }
    return q.st.add_route(r);
}

// inet_rtm_getroute: the route a datagram from this host to RTA_DST takes.
int get_route(Req& q, std::vector<uint8_t>* out) {
    rtmsg h{};
    if (!q.m.fam(&h)) return -EINVAL;
    std::vector<Rta> tb;
    if (wire::parse_attrs(q.m.attrs(sizeof h), &tb, RTA_MAX) != wire::RtaError::Ok) return -EINVAL;
    if (tb[RTA_IIF].type) return -EOPNOTSUPP;  // usnet: output routes only
    ip::Flow fl;
    if (tb[RTA_DST].type) fl.daddr = in_attr(tb[RTA_DST]);
    if (tb[RTA_SRC].type) fl.saddr = in_attr(tb[RTA_SRC]);
    uint32_t oif = 0;
    if (tb[RTA_OIF].type && tb[RTA_OIF].u32(&oif)) fl.oif = int(oif);
    if (fl.oif && !q.s.iface(fl.oif)) return -ENODEV;
    ip::RouteResult rt;
    if (const Err e = q.s.ip.route_output(fl, &rt); e != Err::None) return -to_errno(e);
    NlWriter w(*out);
    w.begin(RTM_NEWROUTE, 0, q.m.h.nlmsg_seq, q.n.portid);
    rtmsg m{};
    m.rtm_family = AF_INET;
    m.rtm_dst_len = 32;
    m.rtm_src_len = tb[RTA_SRC].type ? 32 : 0;
    const bool local = rt.flags & ip::kRtLocal;
    m.rtm_table = RT_TABLE_MAIN;
    m.rtm_type = local ? RTN_LOCAL : (rt.flags & ip::kRtBroadcast) ? RTN_BROADCAST
                                   : (rt.flags & ip::kRtMulticast) ? RTN_MULTICAST : RTN_UNICAST;
    // rt_fill_info: the route cache flags ride in the upper half (RTCF_LOCAL: "cache <local>").
    m.rtm_flags = RTM_F_CLONED | (local ? 0x80000000u : 0) | ((rt.flags & ip::kRtBroadcast) ? 0x10000000u : 0) |
                  ((rt.flags & ip::kRtMulticast) ? 0x20000000u : 0);
    w.fam(m);
    w.attr_u32(RTA_TABLE, m.rtm_table);
    w.attr_in(RTA_DST, fl.daddr.v);
    if (m.rtm_src_len) w.attr_in(RTA_SRC, fl.saddr.v);
    if (rt.dev) w.attr_u32(RTA_OIF, uint32_t(rt.dev->ifindex));
    w.attr_in(RTA_PREFSRC, rt.src.v);
    if (rt.nexthop != rt.dst && !rt.nexthop.any()) w.attr_in(RTA_GATEWAY, rt.nexthop.v);
    w.attr_u32(RTA_UID, uint32_t(getuid()));
    w.end();
    return 0;
}

// rtnetlink_rcv_msg for one request: a dump (queued, no ack), or a doit whose error (or
// 0 with NLM_F_ACK) is acked. Returns the error to ack, or 1 when nothing is to be acked.
int rtnetlink(Req& q) {
    const uint16_t type = q.m.h.nlmsg_type;
    if (type > RTM_MAX) return -EOPNOTSUPP;
    if (q.m.payload.empty()) return 0;  // shorter than rtgenmsg: ignored
    const int kind = (type - RTM_BASE) & 3;
    if (kind != 2 && !q.s.cfg.privileged) return -EPERM;
    const bool v4 = q.family == AF_INET;
    if (kind == 2 && (q.m.h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
        Reply r{q.n, q.m.h.nlmsg_seq, {}, 0};
        int rc;
        switch (type) {
            case RTM_GETLINK: rc = dump_links(q, r); break;
            // Another family falls back to PF_UNSPEC's rtnl_dump_all: every family's (IPv4's).
            case RTM_GETADDR: rc = dump_addrs(q, r); break;
            case RTM_GETROUTE: rc = dump_routes(q, r); break;
            case RTM_GETNEIGH: rc = dump_neigh(q, r); break;
            case RTM_GETRULE: rc = dump_rules(q, r); break;
            default: return -EOPNOTSUPP;  // usnet: rules, qdiscs, netconf... are not modelled
        }
        // A dump that fails (a header the strict check refuses too: the dumpit checks it)
        // ends with the error in NLMSG_DONE.
        if (rc < 0) r.msgs.clear();
        send_dump(r, rc, rc < 0 ? q.ext_msg : nullptr);
        return 1;
    }
    std::vector<uint8_t> reply;
    int rc;
    switch (type) {
        case RTM_GETLINK: rc = get_link(q, &reply); break;
        case RTM_NEWLINK:
        case RTM_SETLINK: rc = set_link(q); break;
        case RTM_NEWADDR:
        case RTM_DELADDR: if (!v4) return -EOPNOTSUPP; rc = change_addr(q); break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE: if (!v4) return -EOPNOTSUPP; rc = change_route(q); break;
        case RTM_GETROUTE: if (!v4) return -EOPNOTSUPP; rc = get_route(q, &reply); break;
        default: return -EOPNOTSUPP;  // DELLINK, neighbours, rules...: not through usnet
    }
    if (!reply.empty()) deliver(q.n, std::move(reply));
    return rc;
}

std::vector<NlSock*> all(StackImpl& s) {
    std::vector<NlSock*> v;
    for (auto& p : s.nl_fds)
        if (p) v.push_back(p.get());
    return v;
}

bool portid_taken(StackImpl& s, uint32_t id) {
    for (NlSock* o : all(s))
        if (o->bound && o->portid == id) return true;
    return false;
}

// netlink_autobind: the process id first, then negative ids from -4096 down.
void autobind(StackImpl& s, NlSock& n) {
    if (n.bound) return;
    static int32_t rover = -4096;
    uint32_t id = uint32_t(getpid());
    while (portid_taken(s, id)) {
        id = uint32_t(rover--);
        if (rover > -4096) rover = -4096;
    }
    n.portid = id;
    n.bound = true;
}

}  // namespace

// ---------------- the socket ----------------

int socket(StackImpl& s, int type, int protocol) {
    const int flags = type & ~0xf;
    if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return fail(Err::SocketTypeInvalid, "socket", -1);
    type &= 0xf;
    if (type >= 11) return fail(Err::SocketTypeInvalid, "socket", -1);
    if (type != SOCK_RAW && type != SOCK_DGRAM) return fail(Err::NetlinkType, "socket", -1);
    if (protocol < 0 || protocol >= 32) return fail(Err::NetlinkProtocol, "socket", -1);  // MAX_LINKS
    if (protocol != NETLINK_ROUTE) return fail(Err::NetlinkProtocol, "socket", -1);
    int fd = 3;
    while (s.fd_used(fd)) ++fd;
    if (fd >= s.cfg.max_fds) return fail(Err::TooManyFiles, "socket", -1);
    if (size_t(fd) >= s.nl_fds.size()) s.nl_fds.resize(size_t(fd) + 1);
    auto n = std::make_unique<NlSock>();
    n->fd = fd;
    n->type = type;
    n->rcvbuf = int(s.cfg.rmem_default);
    n->sndbuf = int(s.cfg.wmem_default);
    n->nonblock = flags & SOCK_NONBLOCK;
    n->cloexec = flags & SOCK_CLOEXEC;
    s.nl_fds[size_t(fd)] = std::move(n);
    sock::clear_error();
    return fd;
}

int close(StackImpl& s, int fd) {
    s.nl_fds[size_t(fd)].reset();
    sock::clear_error();
    return 0;
}

int bind(StackImpl& s, NlSock& n, const sockaddr* a, socklen_t len) {
    if (int(len) < 0 || len > sizeof(sockaddr_storage)) return fail(Err::AddrLenRange, "bind", n.fd);
    if (len > 0 && !a) return fail(Err::Fault, "bind", n.fd);
    if (len < sizeof(sockaddr_nl)) return fail(Err::NetlinkAddr, "bind", n.fd);
    sockaddr_nl nl;
    std::memcpy(&nl, a, sizeof nl);
    if (nl.nl_family != AF_NETLINK) return fail(Err::NetlinkAddr, "bind", n.fd);
    if (n.bound && nl.nl_pid != n.portid) return fail(Err::NetlinkBound, "bind", n.fd);
    if (!n.bound) {
        if (nl.nl_pid) {
            if (portid_taken(s, nl.nl_pid)) return fail(Err::NetlinkPortInUse, "bind", n.fd);
            n.portid = nl.nl_pid;
            n.bound = true;
        } else {
            autobind(s, n);
        }
    }
    n.groups = nl.nl_groups;
    sock::clear_error();
    return 0;
}

int connect(StackImpl& s, NlSock& n, const sockaddr* a, socklen_t len) {
    if (int(len) < 0 || len > sizeof(sockaddr_storage)) return fail(Err::AddrLenRange, "connect", n.fd);
    if (len > 0 && !a) return fail(Err::Fault, "connect", n.fd);
    if (len < sizeof(sa_family_t)) return fail(Err::NetlinkAddr, "connect", n.fd);
    if (a->sa_family == AF_UNSPEC) {
        n.dst_portid = n.dst_group = 0;
        sock::clear_error();
        return 0;
    }
    if (a->sa_family != AF_NETLINK || len < sizeof(sockaddr_nl)) return fail(Err::NetlinkAddr, "connect", n.fd);
    sockaddr_nl nl;
    std::memcpy(&nl, a, sizeof nl);
    autobind(s, n);
    n.dst_portid = nl.nl_pid;
    n.dst_group = nl.nl_groups ? uint32_t(__builtin_ffs(int(nl.nl_groups))) : 0;
    sock::clear_error();
    return 0;
}

int getsockname(StackImpl&, NlSock& n, sockaddr* a, socklen_t* len, bool peer) {
    const char* call = peer ? "getpeername" : "getsockname";
    if (!len) return fail(Err::Fault, call, n.fd);
    if (int(*len) < 0) return fail(Err::AddrLenNegative, call, n.fd);
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = peer ? n.dst_portid : n.portid;
    nl.nl_groups = peer ? (n.dst_group ? 1u << (n.dst_group - 1) : 0) : n.groups;
    if (*len && !a) return fail(Err::Fault, call, n.fd);
    std::memcpy(a, &nl, std::min<size_t>(*len, sizeof nl));
    *len = sizeof nl;
    sock::clear_error();
    return 0;
}

ssize_t sendmsg(Stack& st, NlSock& n, const msghdr* m, int flags, const char* call) {
    StackImpl& s = st.impl();
    if (!m) return fail(Err::Fault, call, n.fd);
    if (m->msg_iovlen > 1024) return fail(Err::IovTooMany, call, n.fd);
    if (m->msg_iovlen && !m->msg_iov) return fail(Err::Fault, call, n.fd);
    if (flags & MSG_OOB) return fail(Err::SendOob, call, n.fd);
    uint32_t dst_pid = n.dst_portid;
    if (m->msg_name && m->msg_namelen) {
        if (int(m->msg_namelen) < 0 || m->msg_namelen > sizeof(sockaddr_storage)) return fail(Err::AddrLenRange, call, n.fd);
        if (m->msg_namelen < sizeof(sockaddr_nl)) return fail(Err::NetlinkAddr, call, n.fd);
        sockaddr_nl nl;
        std::memcpy(&nl, m->msg_name, sizeof nl);
        if (nl.nl_family != AF_NETLINK) return fail(Err::NetlinkAddr, call, n.fd);
        dst_pid = nl.nl_pid;
    }
    size_t total = 0;
    for (size_t i = 0; i < m->msg_iovlen; ++i) {
        if (m->msg_iov[i].iov_len && !m->msg_iov[i].iov_base) return fail(Err::Fault, call, n.fd);
        total += m->msg_iov[i].iov_len;
    }
    autobind(s, n);
    if (total > size_t(n.sndbuf) - 32) return fail(Err::NetlinkMsgSize, call, n.fd);
    std::vector<uint8_t> data;
    data.reserve(total);
    for (size_t i = 0; i < m->msg_iovlen; ++i) {
        const auto* p = static_cast<const uint8_t*>(m->msg_iov[i].iov_base);
        data.insert(data.end(), p, p + m->msg_iov[i].iov_len);
    }
    if (dst_pid) {
        // netlink_unicast to another of the program's netlink sockets.
        for (NlSock* o : all(s))
            if (o->bound && o->portid == dst_pid) {
                deliver(*o, std::move(data));
                sock::clear_error();
                return ssize_t(total);
            }
        return fail(Err::NetlinkNoPeer, call, n.fd);
    }
    // netlink_rcv_skb: each request in turn.
    wire::NlMsgIter it({data.data(), data.size()});
    NlMsg msg;
    while (it.next(&msg)) {
        int err = 0;
        const char* ext_msg = nullptr;
        if ((msg.h.nlmsg_flags & NLM_F_REQUEST) && msg.h.nlmsg_type >= NLMSG_MIN_TYPE) {
            Req q{st, s, n, msg, msg.payload.empty() ? uint8_t(0) : msg.payload[0], n.strict_chk};
            err = rtnetlink(q);
            ext_msg = q.ext_msg;
            if (err == 1) continue;  // a dump: no ack
        }
        if ((msg.h.nlmsg_flags & NLM_F_ACK) || err) send_ack(n, msg, err, err ? ext_msg : nullptr);
    }
    s.settle();
    sock::clear_error();
    return ssize_t(total);
}

ssize_t recvmsg(StackImpl& s, NlSock& n, msghdr* m, int flags, const char* call) {
    if (!m) return fail(Err::Fault, call, n.fd);
    if (m->msg_iovlen > 1024) return fail(Err::IovTooMany, call, n.fd);
    if (flags & MSG_OOB) return fail(Err::SendOob, call, n.fd);
    if (n.rx.empty()) {
        if (n.nonblock || (flags & MSG_DONTWAIT)) return fail(Err::WouldBlock, call, n.fd);
        // Only another thread's request (or another socket's unicast) can fill the queue:
        // no notifications are sent. Waits as a blocking recv does (in real time under
        // usnet run; a simulation that nothing can wake fails with EDEADLK).
        const int fd = n.fd;
        const bool ready = s.env->run_until([&] { return !s.nl_of(fd) || !s.nl_of(fd)->rx.empty(); }, kNever);
        if (!s.nl_of(fd)) return fail(Err::BadFd, call, fd);
        if (!ready && s.env->take_interrupt()) return fail(Err::Interrupted, call, fd);
        if (!ready) return fail(Err::WouldBlockForever, call, fd);
    }
    const std::vector<uint8_t>& skb = n.rx.front();
    size_t copied = 0;
    for (size_t i = 0; i < m->msg_iovlen && copied < skb.size(); ++i) {
        const size_t k = std::min(m->msg_iov[i].iov_len, skb.size() - copied);
        if (k && !m->msg_iov[i].iov_base) return fail(Err::Fault, call, n.fd);
        if (k) std::memcpy(m->msg_iov[i].iov_base, skb.data() + copied, k);
        copied += k;
    }
    m->msg_flags = copied < skb.size() ? MSG_TRUNC : 0;
    if (m->msg_name) {
        sockaddr_nl nl{};
        nl.nl_family = AF_NETLINK;  // from the kernel: port id 0, no group
        std::memcpy(m->msg_name, &nl, std::min<size_t>(m->msg_namelen, sizeof nl));
        m->msg_namelen = sizeof nl;
    }
    size_t ctl = 0;
    if (n.pktinfo && m->msg_control && m->msg_controllen >= CMSG_SPACE(sizeof(nl_pktinfo))) {
        cmsghdr* c = CMSG_FIRSTHDR(m);
        c->cmsg_level = SOL_NETLINK;
        c->cmsg_type = NETLINK_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(nl_pktinfo));
        nl_pktinfo pi{0};
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
        ctl = CMSG_SPACE(sizeof(nl_pktinfo));
    } else if (n.pktinfo && m->msg_control) {
        m->msg_flags |= MSG_CTRUNC;
    }
    m->msg_controllen = ctl;
    const size_t len = skb.size();
    if (!(flags & MSG_PEEK)) n.rx.pop_front();
    sock::clear_error();
    return ssize_t((flags & MSG_TRUNC) ? len : copied);
}

int setsockopt(StackImpl& s, NlSock& n, int level, int name, const void* v, socklen_t len) {
    if (level == SOL_SOCKET) {
        if (int(len) < int(sizeof(int))) return fail(Err::OptLen, "setsockopt", n.fd);
        if (!v) return fail(Err::Fault, "setsockopt", n.fd);
        int val;
        std::memcpy(&val, v, sizeof val);
        const int64_t want = std::max(val, 0);
        switch (name) {
            // sk_setsockopt: doubled (room for struct sk_buff), at least the minimum.
            case SO_RCVBUF: n.rcvbuf = int(std::max<int64_t>(sock::kMinRcvbuf, std::min<int64_t>(want, s.cfg.rmem_max) * 2)); break;
            case SO_SNDBUF: n.sndbuf = int(std::max<int64_t>(sock::kMinSndbuf, std::min<int64_t>(want, s.cfg.wmem_max) * 2)); break;
            case SO_RCVBUFFORCE:
            case SO_SNDBUFFORCE:
                if (!s.cfg.privileged) return fail(Err::OptPermission, "setsockopt", n.fd);
                (name == SO_RCVBUFFORCE ? n.rcvbuf : n.sndbuf) =
                    int(std::max<int64_t>(name == SO_RCVBUFFORCE ? sock::kMinRcvbuf : sock::kMinSndbuf,
                                          std::min<int64_t>(want * 2, INT32_MAX)));
                break;
            default: break;  // the generic options change nothing a netlink answer depends on
        }
        sock::clear_error();
        return 0;
    }
    if (level != SOL_NETLINK) return fail(Err::OptUnknown, "setsockopt", n.fd);
    // netlink_setsockopt reads an int only when one was given: a shorter value counts as 0.
    int val = 0;
    if (int(len) >= int(sizeof(int))) {
        if (!v) return fail(Err::Fault, "setsockopt", n.fd);
        std::memcpy(&val, v, sizeof val);
    }
    bool* flag = nullptr;
    switch (name) {
        case NETLINK_PKTINFO: flag = &n.pktinfo; break;
        case NETLINK_BROADCAST_ERROR: flag = &n.broadcast_error; break;
        case NETLINK_NO_ENOBUFS: flag = &n.no_enobufs; break;
        case NETLINK_LISTEN_ALL_NSID: flag = &n.listen_all_nsid; break;
        case NETLINK_CAP_ACK: flag = &n.cap_ack; break;
        case NETLINK_EXT_ACK: flag = &n.ext_ack; break;
        case NETLINK_GET_STRICT_CHK: flag = &n.strict_chk; break;
        case NETLINK_ADD_MEMBERSHIP:
        case NETLINK_DROP_MEMBERSHIP: {
            const uint32_t g = uint32_t(val);
            if (g == 0 || g > RTNLGRP_MAX) return fail(Err::OptValue, "setsockopt", n.fd);
            autobind(s, n);
            auto& mem = n.memberships;
            const auto it = std::find(mem.begin(), mem.end(), g);
            if (name == NETLINK_ADD_MEMBERSHIP && it == mem.end()) mem.push_back(g);
            if (name == NETLINK_DROP_MEMBERSHIP && it != mem.end()) mem.erase(it);
            if (g <= 32) n.groups = name == NETLINK_ADD_MEMBERSHIP ? n.groups | (1u << (g - 1)) : n.groups & ~(1u << (g - 1));
            sock::clear_error();
            return 0;
        }
        default: return fail(Err::OptUnknown, "setsockopt", n.fd);
    }
    *flag = val != 0;
    sock::clear_error();
    return 0;
}

int getsockopt(StackImpl&, NlSock& n, int level, int name, void* v, socklen_t* len) {
    if (!len) return fail(Err::Fault, "getsockopt", n.fd);
    int val = 0;
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_RCVBUF: val = n.rcvbuf; break;
            case SO_SNDBUF: val = n.sndbuf; break;
            case SO_TYPE: val = n.type; break;
            case SO_DOMAIN: val = AF_NETLINK; break;
            case SO_PROTOCOL: val = NETLINK_ROUTE; break;
            case SO_ERROR: case SO_ACCEPTCONN: case SO_BROADCAST: case SO_REUSEADDR: val = 0; break;
            default: return fail(Err::OptUnknown, "getsockopt", n.fd);
        }
        if (int(*len) < 0) return fail(Err::OptValue, "getsockopt", n.fd);
    } else if (level == SOL_NETLINK) {
        if (int(*len) < int(sizeof(int))) return fail(Err::NetlinkOptLen, "getsockopt", n.fd);
        switch (name) {
            case NETLINK_PKTINFO: val = n.pktinfo; break;
            case NETLINK_BROADCAST_ERROR: val = n.broadcast_error; break;
            case NETLINK_NO_ENOBUFS: val = n.no_enobufs; break;
            case NETLINK_LISTEN_ALL_NSID: val = n.listen_all_nsid; break;
            case NETLINK_CAP_ACK: val = n.cap_ack; break;
            case NETLINK_EXT_ACK: val = n.ext_ack; break;
            case NETLINK_GET_STRICT_CHK: val = n.strict_chk; break;
            case NETLINK_LIST_MEMBERSHIPS: {
                // A bitmap of the groups, in u32 words: the length needed comes back.
                uint32_t words[2] = {0, 0};
                for (uint32_t g : n.memberships) words[(g - 1) / 32] |= 1u << ((g - 1) % 32);
                if (v) std::memcpy(v, words, std::min<size_t>(*len, sizeof words) & ~size_t(3));
                *len = sizeof words;
                sock::clear_error();
                return 0;
            }
            default: return fail(Err::OptUnknown, "getsockopt", n.fd);
        }
    } else {
        return fail(Err::OptUnknown, "getsockopt", n.fd);
    }
    const socklen_t l = std::min<socklen_t>(*len, sizeof val);
    if (l && !v) return fail(Err::Fault, "getsockopt", n.fd);
    std::memcpy(v, &val, l);
    *len = l;
    sock::clear_error();
    return 0;
}

int ioctl(StackImpl& s, NlSock& n, unsigned long req, void* arg) {
    if (req == FIONBIO) {
        if (!arg) return fail(Err::Fault, "ioctl", n.fd);
        int v;
        std::memcpy(&v, arg, sizeof v);
        n.nonblock = v != 0;
        sock::clear_error();
        return 0;
    }
    // netlink_ioctl knows nothing else (-ENOIOCTLCMD): sock_do_ioctl goes on to dev_ioctl,
    // as for a socket of any family (glibc's __opensock may hand one to if_nametoindex).
    int r = sock::if_ioctl_early(s, AF_NETLINK, req, arg, n.fd);
    if (r == sock::kIfNotMine) r = sock::if_ioctl_fallback(s, req, arg, n.fd);
    if (r >= 0) sock::clear_error();
    return r;
}

int fcntl(StackImpl&, NlSock& n, int cmd, long arg) {
    sock::clear_error();
    switch (cmd) {
        case F_GETFL: return O_RDWR | (n.nonblock ? O_NONBLOCK : 0);
        case F_SETFL: n.nonblock = arg & O_NONBLOCK; return 0;
        case F_GETFD: return n.cloexec ? FD_CLOEXEC : 0;
        case F_SETFD: n.cloexec = arg & FD_CLOEXEC; return 0;
        default: return fail(Err::FcntlCmd, "fcntl", n.fd);
    }
}

int unsupported(StackImpl&, NlSock& n, const char* call) {
    return fail(std::string_view(call) == "shutdown" ? Err::NetlinkShutdown : Err::NotStream, call, n.fd);
}

short poll_mask(const NlSock& n) {
    short m = POLLOUT | POLLWRNORM | POLLWRBAND;  // datagram_poll: sending never waits
    if (!n.rx.empty()) m |= POLLIN | POLLRDNORM;
    return m;
}

std::string describe(const NlSock& n) {
    std::string d = "NETLINK_ROUTE socket";
    d += n.bound ? ", port id " + std::to_string(int32_t(n.portid)) : ", unbound";
    if (!n.rx.empty()) d += ", " + std::to_string(n.rx.size()) + " answers queued";
    if (n.nonblock) d += ", non-blocking";
    return d;
}

}  // namespace usnet::netlink
