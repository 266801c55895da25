// The socket calls, shaped like the kernel's dispatch: the generic part (descriptor,
// address copying) here, then the family part (inet_*: bind, connect, getname, shutdown)
// and the protocol part (udp_sendmsg/udp_recvmsg, ping) below it.
#include <linux/net_tstamp.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/netlink.h>
#include <signal.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "socket/socket_layer.hpp"
#include "wire/icmp.hpp"
#include "wire/udp.hpp"

// A call on a NETLINK_ROUTE descriptor goes to the netlink layer (untraced).
#define USNET_NETLINK(fd, expr)                                           \
    if (netlink::NlSock* nl_ = impl_->nl_of(fd)) {                        \
        trace::t_call_as = nullptr;                                       \
        [[maybe_unused]] netlink::NlSock& n = *nl_;                       \
        [[maybe_unused]] StackImpl& ns = *impl_;                          \
        return expr;                                                      \
    }

namespace usnet {

namespace {
struct LastError {
    Err err = Err::None;
    const char* call = "";
    int fd = -1;
};
thread_local LastError tl_last [[gnu::tls_model("initial-exec")]];
}  // namespace

Err last_error() { return tl_last.err; }

std::string last_error_text() { return last_error_text(tl_last.fd); }

std::string last_error_text(int shown_fd) {
    if (tl_last.err == Err::None) return "";
    std::string s = tl_last.call;
    s += shown_fd >= 0 ? "(fd " + std::to_string(shown_fd) + "): " : "(): ";
    s += strerrorname_np(to_errno(tl_last.err)) ? strerrorname_np(to_errno(tl_last.err)) : "?";
    s += ": ";
    s += reason_of(tl_last.err);
    s += " [";
    s += rule_of(tl_last.err);
    s += "]";
    return s;
}

namespace sock {

void ok_call() { tl_last = {}; }

int fail(Err e, const char* call, int fd) {
    tl_last = {e, call, fd};
    if (__builtin_expect(trace::t_current != nullptr, 0)) trace::t_current->fail(e);
    errno = to_errno(e);
    return -1;
}

const char* io_entry(const char* call) {
    const std::string_view c = call;
    if (c == "sendmsg") return "__sys_sendmsg";
    if (c == "sendmmsg") return "__sys_sendmmsg";
    if (c == "recvmsg") return "__sys_recvmsg";
    if (c == "recvmmsg") return "__sys_recvmmsg";
    return c.rfind("send", 0) == 0 ? "__sys_sendto" : "__sys_recvfrom";
}

DgramSock* enter_traced(StackImpl& s, const char* entry, int fd) {
    DgramSock* sk = s.sock_of(fd);
    const int shown = s.tracer->shown(fd);
    if (!sk) {
        USNET_TRACE(s.tracer, NoSocket, entry, shown);
        return nullptr;
    }
    const char* what = sk->proto == Proto::Udp ? "UDP socket" : "ICMP ping socket";
    // read()/write() on a socket reach the same protocol calls through the file's ops.
    const std::string_view call = s.tracer->call_name();
    if (call == "read") USNET_TRACE(s.tracer, EntryRead, shown, what);
    else if (call == "write") USNET_TRACE(s.tracer, EntryWrite, shown, what);
    else if (call == "readv") USNET_TRACE(s.tracer, EntryReadv, shown, what);
    else if (call == "writev") USNET_TRACE(s.tracer, EntryWritev, shown, what);
    else USNET_TRACE(s.tracer, EntryFd, entry, shown, what);
    return sk;
}

}  // namespace sock

using sock::DgramSock;
using sock::fail;

namespace {

constexpr uint8_t kRcvShutdown = 1, kSendShutdown = 2;

void ok() { tl_last = {}; }

}  // namespace

namespace sock {
void clear_error() { ok(); }
}  // namespace sock

namespace {

// The sockaddr_in a caller passed, after the generic length checks of move_addr_to_kernel.
struct InAddr {
    uint16_t family = 0;
    Ip4 addr;
    uint16_t port = 0;
};

InAddr read_in(const sockaddr* a, socklen_t len) {
    sockaddr_in sin{};
    std::memcpy(&sin, a, std::min<size_t>(len, sizeof sin));
    return {sin.sin_family, Ip4::from_net(sin.sin_addr.s_addr), ntohs(sin.sin_port)};
}

// move_addr_to_user: copies min(len, 16) bytes and reports the full length.
int write_in(sockaddr* a, socklen_t* len, Ip4 addr, uint16_t port, sa_family_t fam = AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = fam;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = addr.net();
    if (!len) return -1;
    if (int(*len) < 0) return -2;
    if (*len) std::memcpy(a, &sin, std::min<size_t>(*len, sizeof sin));
    *len = sizeof sin;
    return 0;
}

bool ping_gid_ok(const StackConfig& c) { return c.gid >= c.ping_group_lo && c.gid <= c.ping_group_hi; }

udp::PortTable& table_of(StackImpl& s, DgramSock* sk) {
    return sk->proto == sock::Proto::Udp ? s.udp.ports : s.udp.idents;
}

// inet_autobind
bool autobind(StackImpl& s, DgramSock* sk) {
    if (sk->num) return true;
    return table_of(s, sk).get_port(sk, 0, s.cfg.port_lo, s.cfg.port_hi, s.random());
}

// udp_disconnect: forget the peer; forget what autobind chose, keep what bind() set.
void disconnect(StackImpl& s, DgramSock* sk) {
    sk->established = false;
    sk->daddr = Ip4();
    sk->dport = 0;
    sk->dst_genid = 0;
    sk->dst_cache.dev = nullptr;  // sk_dst_reset
    sk->bound_dev_if = 0;  // __udp_disconnect drops SO_BINDTODEVICE too
    if (!sk->bind_addr_lock) {
        const bool moved = !sk->rcv_saddr.any();
        sk->rcv_saddr = Ip4();
        sk->saddr = Ip4();
        if (moved && sk->bind_port_lock) table_of(s, sk).rehash(sk);
    }
    if (!sk->bind_port_lock) table_of(s, sk).unhash(sk);
    USNET_TRACE(s.tracer, DisconnectDone, sk->bind_addr_lock ? "kept (bound)" : "reset to 0.0.0.0",
                sk->bind_port_lock ? "kept (bound)" : "released");
}

void purge(DgramSock* sk) {
    sk->rx.clear();
    sk->errq.clear();
    sk->rmem = 0;
    sk->cork.reset();
}

}  // namespace

namespace sock {

Err connect_route(StackImpl& s, DgramSock* sk, Ip4 daddr, ip::RouteResult* rt) {
    ip::Flow fl;
    fl.daddr = daddr;
    fl.saddr = sk->saddr;
    fl.oif = sk->bound_dev_if;
    fl.any_src = sk->opt_freebind || sk->transparent;
    // ip_sock_rt_scope: SO_DONTROUTE connects only to on-link and local destinations.
    fl.onlink = sk->opt_dontroute;
    if (daddr.is_multicast()) {
        if (!fl.oif) fl.oif = sk->mc_index;
        if (fl.saddr.any()) fl.saddr = sk->mc_addr;
    } else if (!fl.oif) {
        fl.oif = sk->uc_index;
    }
    // ip_route_connect: with the destination or source unknown, a first lookup fills them
    // in, and the route is looked up again with them and the same device (so a device-bound
    // socket bound to 127.0.0.1 connecting to 0.0.0.0 fails there: 127.0.0.1 via eth0).
    // The trace shows the first lookup only: the second finds the same route unless it fails.
    if (fl.daddr.any() || fl.saddr.any()) {
        if (Err e = s.ip.route_output(fl, rt); e != Err::None) return e;
        fl.daddr = rt->dst;
        fl.saddr = rt->src;
        auto* const tracer = std::exchange(s.tracer, nullptr);
        const Err e = s.ip.route_output(fl, rt);
        s.tracer = tracer;
        return e;
    }
    return s.ip.route_output(fl, rt);
}

}  // namespace sock

// ---------------- Stack: socket creation and addressing ----------------

namespace {

int sys_socket(StackImpl& s, int domain, int type, int protocol) {
    USNET_TRACE(s.tracer, EntrySocket, sock::family_name(domain), sock::type_name(type), sock::protocol_name(protocol));
    const int flags = type & ~0xf;
    if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return fail(Err::SocketTypeInvalid, "socket", -1);
    type &= 0xf;
    if (domain < 0 || domain >= AF_MAX) return fail(Err::SocketFamily, "socket", -1);
    if (type >= 11) return fail(Err::SocketTypeInvalid, "socket", -1);  // SOCK_MAX; 0 is ESOCKTNOSUPPORT below
    if (domain != AF_INET) return fail(Err::SocketFamily, "socket", -1);
    if (protocol < 0 || protocol >= IPPROTO_MAX) return fail(Err::SocketProtocolRange, "socket", -1);
    sock::Proto proto = sock::Proto::Udp;
    {
        USNET_TRACE_INDENT(s.tracer);
        USNET_TRACE(s.tracer, CreateFamily);
        if (type != SOCK_DGRAM) return fail(Err::SocketTypeUnsupported, "socket", -1);
        if (protocol == IPPROTO_ICMP) proto = sock::Proto::Ping;
        else if (protocol != 0 && protocol != IPPROTO_UDP) return fail(Err::SocketProtocol, "socket", -1);
        USNET_TRACE_INDENT(s.tracer);
        USNET_TRACE(s.tracer, CreateProto, proto == sock::Proto::Udp ? "IPPROTO_UDP" : "IPPROTO_ICMP",
                    proto == sock::Proto::Udp ? "udp_prot" : "ping_prot");
        if (proto == sock::Proto::Ping) {
            USNET_TRACE_INDENT(s.tracer);
            USNET_TRACE(s.tracer, CreatePingGroup, s.cfg.gid, s.cfg.ping_group_lo, s.cfg.ping_group_hi);
            if (!ping_gid_ok(s.cfg)) return fail(Err::PingGroup, "socket", -1);
        }
    }
    int fd = 3;
    while (s.fd_used(fd)) ++fd;
    if (fd >= s.cfg.max_fds) return fail(Err::TooManyFiles, "socket", -1);
    if (size_t(fd) >= s.fds.size()) s.fds.resize(size_t(fd) + 1);
    auto sk = std::make_unique<DgramSock>();
    sk->proto = proto;
    sk->fd = fd;
    sk->rcvbuf = int(s.cfg.rmem_default);
    sk->sndbuf = int(s.cfg.wmem_default);
    sk->nonblock = flags & SOCK_NONBLOCK;
    sk->reuseaddr = proto == sock::Proto::Ping;  // INET_PROTOSW_REUSE for ICMP datagram sockets
    sk->cloexec = flags & SOCK_CLOEXEC;
    s.fds[size_t(fd)] = std::move(sk);
    if (s.tracer) USNET_TRACE(s.tracer, CreateFd, s.tracer->shown(fd), (flags & SOCK_CLOEXEC) ? " (O_CLOEXEC)" : "");
    ok();
    return fd;
}

}  // namespace

int Stack::socket(int domain, int type, int protocol) {
    if (domain == AF_NETLINK) {
        trace::t_call_as = nullptr;
        return netlink::socket(*impl_, type, protocol);
    }
    return sock::traced(
        *impl_, "socket", -1, [&] { return sys_socket(*impl_, domain, type, protocol); },
        [&](int r, int e) {
            return sock::head_str(sock::family_name(domain) + ", " + sock::type_name(type) + ", " +
                                      sock::protocol_name(protocol),
                                  r >= 0 ? impl_->tracer->shown(r) : r, e);
        });
}

void Stack::set_world_note(std::string note) { impl_->world_note = std::move(note); }
void Stack::set_user_writable(bool (*check)(void*, size_t)) { impl_->user_writable = check; }

bool Stack::is_socket(int fd) const { return impl_->sock_of(fd) != nullptr || impl_->nl_of(fd) != nullptr; }

std::string Stack::describe(int fd) const {
    if (const netlink::NlSock* n = impl_->nl_of(fd)) return netlink::describe(*n);
    const DgramSock* sk = impl_->sock_of(fd);
    if (!sk) return "no socket with that descriptor";
    std::string d = sk->proto == sock::Proto::Udp ? "UDP socket" : "ICMP ping socket";
    const Ip4 local = sk->rcv_saddr.any() ? sk->saddr : sk->rcv_saddr;
    if (sk->num) d += ", local " + local.str() + ":" + std::to_string(sk->num) + (sk->bind_port_lock ? "" : " (port chosen by usnet)");
    else d += ", unbound";
    if (sk->established && sk->dport) d += ", connected to " + sk->daddr.str() + ":" + std::to_string(sk->dport);
    else d += ", no peer";
    if (sk->bound_dev_if)
        if (const link::Interface* i = impl_->iface(sk->bound_dev_if)) d += ", bound to device " + i->name;
    if (sk->sk_err) d += std::string(", pending error ") + (strerrorname_np(sk->sk_err) ? strerrorname_np(sk->sk_err) : "?");
    if (sk->shutdown) d += sk->shutdown == 3 ? ", shut down" : (sk->shutdown == 1 ? ", shut down for reading" : ", shut down for writing");
    if (sk->nonblock) d += ", non-blocking";
    return d;
}

std::string Stack::explain_last_error(int shown_fd) const {
    if (tl_last.err == Err::None) return "";
    std::string s = last_error_text(shown_fd >= 0 ? shown_fd : tl_last.fd);
    if (tl_last.fd >= 0 && is_socket(tl_last.fd)) s += " (" + describe(tl_last.fd) + ")";
    // A route or device missing because the world lost a part: say which, not only "no route".
    const Err e = tl_last.err;
    if (!impl_->world_note.empty() &&
        (e == Err::NetUnreachable || e == Err::DeviceDown || e == Err::RouteUnreachable || e == Err::PeerHostUnreach ||
         e == Err::PeerNetUnreach))
        s += "; " + impl_->world_note;
    return s;
}

// __sys_socketpair creates both sockets (so socket()'s errors come first), then asks the
// protocol, and inet_dgram_ops has sock_no_socketpair.
int Stack::socketpair(int domain, int type, int protocol, int sv[2]) {
    StackImpl& s = *impl_;
    return sock::traced(
        s, "socketpair", -1,
        [&] {
            USNET_TRACE(s.tracer, EntrySocketpair);
            USNET_TRACE_INDENT(s.tracer);
            const int fd = socket(domain, type, protocol);
            if (fd < 0) return fd;
            close(fd);
            USNET_TRACE(s.tracer, SocketpairNo);
            return fail(Err::NoSocketpair, "socketpair", -1);
        },
        [&](int r, int e) {
            (void)sv;
            return sock::head_str(sock::family_name(domain) + ", " + sock::type_name(type) + ", " +
                                      sock::protocol_name(protocol),
                                  r, e);
        });
}

namespace {

int sys_close(StackImpl& s, int fd) {
    DgramSock* sk = s.sock_of(fd);
    if (!sk) {
        if (s.tracer) USNET_TRACE(s.tracer, NoSocket, "close_fd", s.tracer->shown(fd));
        return fail(Err::BadFd, "close", fd);
    }
    if (s.tracer) {
        const bool udp = sk->proto == sock::Proto::Udp;
        USNET_TRACE(s.tracer, EntryClose, s.tracer->shown(fd), udp ? "UDP socket" : "ICMP ping socket");
        USNET_TRACE_INDENT(s.tracer);
        USNET_TRACE(s.tracer, ReleaseOps, udp ? "udp_lib_close" : "ping_close");
        USNET_TRACE_INDENT(s.tracer);
        if (!sk->mc_list.empty()) USNET_TRACE(s.tracer, ReleaseGroups, sk->mc_list.size());
        if (sk->num) USNET_TRACE(s.tracer, ReleasePort, udp ? "udp_lib_unhash" : "ping_unhash", sk->num);
        if (!sk->rx.empty()) USNET_TRACE(s.tracer, ReleaseQueue, sk->rx.size());
    }
    sock::drop_memberships(s, sk);
    table_of(s, sk).unhash(sk);
    purge(sk);
    s.fds[size_t(fd)].reset();
    s.env->settle_now();  // a call blocked on this descriptor in another thread wakes (EBADF)
    ok();
    return 0;
}

// inet_bind / __inet_bind (ping_bind for ping sockets).
int sys_bind(StackImpl& s, int fd, const sockaddr* addr, socklen_t len) {
    DgramSock* sk = sock::enter(s, "__sys_bind", fd);
    if (!sk) return fail(Err::BadFd, "bind", fd);
    if (int(len) < 0 || len > sizeof(sockaddr_storage)) return fail(Err::AddrLenRange, "bind", fd);
    if (len > 0 && !addr) return fail(Err::Fault, "bind", fd);
    const bool ping = sk->proto == sock::Proto::Ping;
    const InAddr a = addr ? read_in(addr, len) : InAddr{};
    if (ping) USNET_TRACE(s.tracer, BindPingOps, sock::sockaddr_arg(addr, len));
    else USNET_TRACE(s.tracer, BindOps, a.addr, a.port);
    USNET_TRACE_INDENT(s.tracer);
    if (len < sizeof(sockaddr_in)) return fail(Err::AddrLen, "bind", fd);
    if (a.family != AF_INET && !(a.family == AF_UNSPEC && a.addr.any()))
        return fail(Err::AddrFamily, "bind", fd);
    RouteType t = s.ip.addr_type(a.addr);
    USNET_TRACE(s.tracer, BindAddrType, a.addr, a.addr.any() ? "INADDR_ANY (any address)" : ip::rtn_name(t));
    if (ping) {
        // ping_check_bind_addr: IP_FREEBIND / IP_TRANSPARENT allow a non-local address,
        // never a multicast or broadcast one.
        if (a.addr.any()) t = RouteType::Local;
        if (t == RouteType::Multicast || t == RouteType::Broadcast ||
            (t != RouteType::Local && !sk->opt_freebind && !sk->transparent))
            return fail(Err::BindNotLocal, "bind", fd);
    } else if (!a.addr.any() && t != RouteType::Local && t != RouteType::Multicast && t != RouteType::Broadcast &&
               !sk->opt_freebind && !sk->transparent) {
        // inet_addr_valid_or_nonlocal: IP_FREEBIND / IP_TRANSPARENT allow any address.
        return fail(Err::BindNotLocal, "bind", fd);
    }
    if (!ping && a.port && a.port < 1024 && !s.cfg.privileged)
        return fail(Err::BindPrivileged, "bind", fd);
    if (sk->established || sk->num) {
        USNET_TRACE(s.tracer, BindTwice, sk->num);
        return fail(Err::BindTwice, "bind", fd);
    }
    sk->rcv_saddr = sk->saddr = a.addr;
    if (t == RouteType::Multicast || t == RouteType::Broadcast) sk->saddr = Ip4();
    // IP_BIND_ADDRESS_NO_PORT: with port 0, the port is chosen later (connect or send).
    const bool defer_port = a.port == 0 && sk->bind_address_no_port && !ping;
    if (!defer_port) {
        if (ping) USNET_TRACE(s.tracer, BindPingGetPort, a.port);
        else USNET_TRACE(s.tracer, BindGetPort, a.port);
        USNET_TRACE_INDENT(s.tracer);
        if (!table_of(s, sk).get_port(sk, a.port, s.cfg.port_lo, s.cfg.port_hi, s.random(), s.tracer)) {
            sk->rcv_saddr = sk->saddr = Ip4();
            return fail(Err::AddrInUse, "bind", fd);
        }
        if (a.port == 0) USNET_TRACE(s.tracer, PortEphemeral, s.cfg.port_lo, s.cfg.port_hi, sk->num);
    }
    sk->bind_addr_lock = !sk->rcv_saddr.any();
    sk->bind_port_lock = a.port != 0;
    sk->daddr = Ip4();
    sk->dport = 0;
    sk->dst_genid = 0;
    sk->dst_cache.dev = nullptr;  // sk_dst_reset
    USNET_TRACE(s.tracer, BindDone, sk->rcv_saddr, sk->num);
    USNET_TRACE(s.tracer, BindLocks, sk->bind_addr_lock ? "set" : "clear", sk->bind_port_lock ? "set" : "clear");
    ok();
    return 0;
}

}  // namespace

int Stack::close(int fd) {
    USNET_NETLINK(fd, netlink::close(ns, fd));
    return sock::traced(
        *impl_, "close", fd, [&] { return sys_close(*impl_, fd); },
        [&](int r, int e) { return sock::head_str(std::to_string(impl_->tracer->shown(fd)), r, e); });
}

int Stack::bind(int fd, const sockaddr* addr, socklen_t len) {
    USNET_NETLINK(fd, netlink::bind(ns, n, addr, len));
    return sock::traced(
        *impl_, "bind", fd, [&] { return sys_bind(*impl_, fd, addr, len); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + sock::sockaddr_arg(addr, len), r, e);
        });
}

namespace {

// inet_dgram_connect -> ip4_datagram_connect.
int sys_connect(StackImpl& s, int fd, const sockaddr* addr, socklen_t len) {
    DgramSock* sk = sock::enter(s, "__sys_connect", fd);
    if (!sk) return fail(Err::BadFd, "connect", fd);
    if (int(len) < 0 || len > sizeof(sockaddr_storage)) return fail(Err::AddrLenRange, "connect", fd);
    if (len > 0 && !addr) return fail(Err::Fault, "connect", fd);
    USNET_TRACE(s.tracer, ConnectOps);
    USNET_TRACE_INDENT(s.tracer);
    if (len < sizeof(sa_family_t)) return fail(Err::AddrLen, "connect", fd);
    const InAddr a = read_in(addr, len);
    if (a.family == AF_UNSPEC) {
        USNET_TRACE(s.tracer, ConnectUnspec);
        disconnect(s, sk);
        ok();
        return 0;
    }
    const bool had_port = sk->num != 0;
    if (!autobind(s, sk)) return fail(Err::PortsExhausted, "connect", fd);
    if (!had_port) {
        if (sk->proto == sock::Proto::Ping) USNET_TRACE(s.tracer, AutobindPing, sk->num);
        else USNET_TRACE(s.tracer, Autobind, sk->num);
    }
    USNET_TRACE(s.tracer, ConnectProto, sk->proto == sock::Proto::Ping ? "ping_prot" : "udp_prot", a.addr, a.port);
    USNET_TRACE_INDENT(s.tracer);
    if (len < sizeof(sockaddr_in)) return fail(Err::AddrLen, "connect", fd);
    if (a.family != AF_INET) return fail(Err::AddrFamily, "connect", fd);
    sk->dst_genid = 0;
    sk->dst_cache.dev = nullptr;  // sk_dst_reset
    ip::RouteResult rt;
    {
        USNET_TRACE(s.tracer, ConnectRoute, a.addr, sk->saddr, sk->bound_dev_if);
        USNET_TRACE_INDENT(s.tracer);
        // __ip4_datagram_connect routes with the socket's cork flow (inet->cork.fl), so a
        // corked datagram leaves for the new peer, from the new source, by its old route;
        // ip_route_connect_init writes that flow even when the lookup then fails.
        const Err e = sock::connect_route(s, sk, a.addr, &rt);
        if (sk->cork) {
            sk->cork_daddr = sk->cork_rt.dst = e == Err::None ? rt.dst : a.addr;
            if (e == Err::None) sk->cork_rt.src = rt.src;
            else if (!sk->saddr.any()) sk->cork_rt.src = sk->saddr;
            sk->cork_dport = a.port;
        }
        if (e != Err::None) return fail(e, "connect", fd);
    }
    if ((rt.flags & ip::kRtBroadcast) && !sk->broadcast) {
        USNET_TRACE(s.tracer, ConnectBroadcast);
        return fail(Err::BroadcastDenied, "connect", fd);
    }
    if (sk->saddr.any()) {
        sk->saddr = rt.src;
        USNET_TRACE(s.tracer, ConnectSaddr, rt.src, " (from the route)");
    }
    if (sk->rcv_saddr.any()) {
        sk->rcv_saddr = rt.src;
        table_of(s, sk).rehash(sk);
        USNET_TRACE(s.tracer, ConnectRcvSaddr, rt.src);
    }
    sk->daddr = rt.dst;
    sk->dport = a.port;
    sk->established = true;
    sk->inet_id = uint16_t(s.random());
    sk->dst_cache = rt;
    sk->dst_genid = s.ip.genid;
    USNET_TRACE(s.tracer, ConnectDone, sk->daddr, sk->dport);
    ok();
    return 0;
}

// inet_getname
int sys_getsockname(StackImpl& s, int fd, sockaddr* addr, socklen_t* len) {
    DgramSock* sk = sock::enter(s, "__sys_getsockname", fd);
    if (!sk) return fail(Err::BadFd, "getsockname", fd);
    USNET_TRACE(s.tracer, GetnameOps, 0);
    USNET_TRACE_INDENT(s.tracer);
    if (!len) return fail(Err::Fault, "getsockname", fd);
    if (int(*len) < 0) return fail(Err::AddrLenNegative, "getsockname", fd);
    if (*len > 0 && !addr) return fail(Err::Fault, "getsockname", fd);
    const bool rcv = !sk->rcv_saddr.any();
    USNET_TRACE(s.tracer, GetnameLocal, rcv ? "inet_rcv_saddr" : "inet_saddr", rcv ? sk->rcv_saddr : sk->saddr, sk->num);
    USNET_TRACE(s.tracer, GetnameCopy, std::min<socklen_t>(*len, sizeof(sockaddr_in)));
    write_in(addr, len, rcv ? sk->rcv_saddr : sk->saddr, sk->num);
    ok();
    return 0;
}

int sys_getpeername(StackImpl& s, int fd, sockaddr* addr, socklen_t* len) {
    DgramSock* sk = sock::enter(s, "__sys_getpeername", fd);
    if (!sk) return fail(Err::BadFd, "getpeername", fd);
    USNET_TRACE(s.tracer, GetnameOps, 1);
    USNET_TRACE_INDENT(s.tracer);
    // inet_getname refuses first; only then is the user's length read (move_addr_to_user).
    if (!sk->dport) {
        USNET_TRACE(s.tracer, GetnameNoPeer);
        return fail(Err::NotConnected, "getpeername", fd);
    }
    if (!len) return fail(Err::Fault, "getpeername", fd);
    if (int(*len) < 0) return fail(Err::AddrLenNegative, "getpeername", fd);
    if (*len > 0 && !addr) return fail(Err::Fault, "getpeername", fd);
    USNET_TRACE(s.tracer, GetnamePeer, sk->daddr, sk->dport);
    USNET_TRACE(s.tracer, GetnameCopy, std::min<socklen_t>(*len, sizeof(sockaddr_in)));
    write_in(addr, len, sk->daddr, sk->dport);
    ok();
    return 0;
}

// inet_shutdown
int sys_shutdown(StackImpl& s, int fd, int how) {
    DgramSock* sk = sock::enter(s, "__sys_shutdown", fd);
    if (!sk) return fail(Err::BadFd, "shutdown", fd);
    if (how < SHUT_RD || how > SHUT_RDWR) return fail(Err::ShutdownHow, "shutdown", fd);
    USNET_TRACE(s.tracer, ShutdownOps, sock::shutdown_name(how),
                how == SHUT_RD ? "RCV_SHUTDOWN" : how == SHUT_WR ? "SEND_SHUTDOWN" : "SHUTDOWN_MASK");
    sk->shutdown |= uint8_t(how + 1);
    s.env->settle_now();  // a reader blocked in another thread wakes (sk_state_change)
    // An unconnected socket is marked all the same (so poll wakes), but the call says ENOTCONN.
    if (!sk->established) {
        USNET_TRACE_INDENT(s.tracer);
        USNET_TRACE(s.tracer, ShutdownNotConn);
        return fail(Err::ShutdownNotConnected, "shutdown", fd);
    }
    ok();
    return 0;
}

int stream_only(StackImpl& s, int fd, const char* entry, const char* op, const char* fn, const char* call) {
    if (!sock::enter(s, entry, fd)) return fail(Err::BadFd, call, fd);
    USNET_TRACE(s.tracer, StreamOnly, op, fn);
    return fail(Err::NotStream, call, fd);
}

// The first line's address argument and, after a successful call, the address given back.
std::string name_head(StackImpl& s, int fd, int r, int e, const sockaddr* addr, const socklen_t* len) {
    std::string extra;
    if (r == 0 && addr && len && *len >= sizeof(sockaddr_in)) extra = "(" + sock::sockaddr_arg(addr, sizeof(sockaddr_in)) + ")";
    return sock::head_str(std::to_string(s.tracer->shown(fd)), r, e, extra);
}

}  // namespace

int Stack::connect(int fd, const sockaddr* addr, socklen_t len) {
    USNET_NETLINK(fd, netlink::connect(ns, n, addr, len));
    return sock::traced(
        *impl_, "connect", fd, [&] { return sys_connect(*impl_, fd, addr, len); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + sock::sockaddr_arg(addr, len), r, e);
        });
}

int Stack::getsockname(int fd, sockaddr* addr, socklen_t* len) {
    USNET_NETLINK(fd, netlink::getsockname(ns, n, addr, len, false));
    return sock::traced(
        *impl_, "getsockname", fd, [&] { return sys_getsockname(*impl_, fd, addr, len); },
        [&](int r, int e) { return name_head(*impl_, fd, r, e, addr, len); });
}

int Stack::getpeername(int fd, sockaddr* addr, socklen_t* len) {
    USNET_NETLINK(fd, netlink::getsockname(ns, n, addr, len, true));
    return sock::traced(
        *impl_, "getpeername", fd, [&] { return sys_getpeername(*impl_, fd, addr, len); },
        [&](int r, int e) { return name_head(*impl_, fd, r, e, addr, len); });
}

int Stack::shutdown(int fd, int how) {
    USNET_NETLINK(fd, netlink::unsupported(ns, n, "shutdown"));
    return sock::traced(
        *impl_, "shutdown", fd, [&] { return sys_shutdown(*impl_, fd, how); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + sock::shutdown_name(how), r, e);
        });
}

int Stack::listen(int fd, int backlog) {
    USNET_NETLINK(fd, netlink::unsupported(ns, n, "listen"));
    return sock::traced(
        *impl_, "listen", fd, [&] { return stream_only(*impl_, fd, "__sys_listen", "listen", "sock_no_listen", "listen"); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + std::to_string(backlog), r, e);
        });
}

int Stack::accept(int fd, sockaddr*, socklen_t*) {
    USNET_NETLINK(fd, netlink::unsupported(ns, n, "accept"));
    return sock::traced(
        *impl_, "accept", fd, [&] { return stream_only(*impl_, fd, "__sys_accept4", "accept", "sock_no_accept", "accept"); },
        [&](int r, int e) { return sock::head_str(std::to_string(impl_->tracer->shown(fd)), r, e); });
}

// ---------------- sending ----------------

namespace {

struct SendCtl {
    bool have_gso = false;
    uint16_t gso_size = 0;
    bool have_src = false;
    Ip4 src;
    int oif = 0;
    int ttl = -1;
    int tos = -1;
};

// ip_cmsg_send: IP_PKTINFO, IP_TTL, IP_TOS; anything malformed is EINVAL.
Err parse_send_cmsgs_slow(const msghdr* msg, SendCtl* c);
inline Err parse_send_cmsgs(const msghdr* msg, SendCtl* c) {
    if (!msg->msg_control || msg->msg_controllen == 0) return Err::None;
    return parse_send_cmsgs_slow(msg, c);
}
Err parse_send_cmsgs_slow(const msghdr* msg, SendCtl* c) {
    for (cmsghdr* cm = CMSG_FIRSTHDR(const_cast<msghdr*>(msg)); cm; cm = CMSG_NXTHDR(const_cast<msghdr*>(msg), cm)) {
        if (cm->cmsg_len < sizeof(cmsghdr) ||
            cm->cmsg_len > msg->msg_controllen - (reinterpret_cast<uint8_t*>(cm) - static_cast<uint8_t*>(msg->msg_control)))
            return Err::InvalidArg;
        const size_t dlen = cm->cmsg_len - CMSG_LEN(0);
        if (cm->cmsg_level == SOL_UDP) {
            // udp_cmsg_send: only UDP_SEGMENT exists.
            if (cm->cmsg_type != UDP_SEGMENT || dlen != sizeof(uint16_t)) return Err::InvalidArg;
            std::memcpy(&c->gso_size, CMSG_DATA(cm), sizeof(uint16_t));
            c->have_gso = true;
            continue;
        }
        if (cm->cmsg_level == SOL_SOCKET) {
            // __sock_cmsg_send: SCM_RIGHTS/SCM_CREDENTIALS pass through; a few u32 options
            // are accepted; anything else is EINVAL.
            switch (cm->cmsg_type) {
                case SCM_RIGHTS:
                case SCM_CREDENTIALS: continue;
                case SO_MARK:
                case SO_PRIORITY:
                case SO_TIMESTAMPING_OLD:
                case SCM_TXTIME:
                    if (dlen != sizeof(uint32_t)) return Err::InvalidArg;
                    continue;
                default: return Err::InvalidArg;
            }
        }
        if (cm->cmsg_level != SOL_IP) continue;
        switch (cm->cmsg_type) {
            case IP_PKTINFO: {
                if (dlen != sizeof(in_pktinfo)) return Err::InvalidArg;
                in_pktinfo pi;
                std::memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                c->oif = pi.ipi_ifindex;
                // ip_cmsg_send: ipc->addr = ipi_spec_dst, even 0.0.0.0, which then lets the
                // route choose the source in place of the socket's own address.
                c->have_src = true;
                c->src = Ip4::from_net(pi.ipi_spec_dst.s_addr);
                break;
            }
            case IP_TTL: {
                if (dlen != sizeof(int)) return Err::InvalidArg;
                int v;
                std::memcpy(&v, CMSG_DATA(cm), sizeof v);
                if (v < 1 || v > 255) return Err::InvalidArg;
                c->ttl = v;
                break;
            }
            case IP_TOS: {
                int v;
                if (dlen == sizeof(int)) std::memcpy(&v, CMSG_DATA(cm), sizeof v);
                else if (dlen == 1) v = *CMSG_DATA(cm);
                else return Err::InvalidArg;
                if (v < 0 || v > 255) return Err::InvalidArg;
                c->tos = v;
                break;
            }
            default: return Err::InvalidArg;
        }
    }
    return Err::None;
}

// A null iovec array, or a null buffer that would have to hold bytes: copy_from_user and
// copy_to_user fail with EFAULT there (other bad pointers cannot be detected here).
bool iov_array_bad(const msghdr* msg) { return msg->msg_iovlen > 0 && !msg->msg_iov; }
bool iov_data_bad(const msghdr* msg, size_t bytes) {
    for (size_t i = 0; i < msg->msg_iovlen && bytes > 0; ++i) {
        const size_t n = std::min(bytes, msg->msg_iov[i].iov_len);
        if (n && !msg->msg_iov[i].iov_base) return true;
        bytes -= n;
    }
    return false;
}

// The receive side's copy_to_user: the iovecs the datagram's bytes reach must be writable.
bool iov_dest_bad(const StackImpl& s, const msghdr* msg, size_t bytes) {
    if (iov_data_bad(msg, bytes)) return true;
    if (!s.user_writable) return false;
    for (size_t i = 0; i < msg->msg_iovlen && bytes > 0; ++i) {
        const size_t n = std::min(bytes, msg->msg_iov[i].iov_len);
        if (n && !s.user_writable(msg->msg_iov[i].iov_base, n)) return true;
        bytes -= n;
    }
    return false;
}

size_t iov_total(const msghdr* msg) {
    size_t n = 0;
    for (size_t i = 0; i < msg->msg_iovlen; ++i) n += msg->msg_iov[i].iov_len;
    return n;
}

void iov_copy_in(uint8_t* dst, const msghdr* msg) {
    for (size_t i = 0; i < msg->msg_iovlen; ++i) {
        if (msg->msg_iov[i].iov_len) std::memcpy(dst, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
        dst += msg->msg_iov[i].iov_len;
    }
}

// __ip_append_data's charge to sk_wmem_alloc for n more bytes of a corked datagram: the
// last skb takes what room it has left (as page fragments on a scatter-gather device: the
// bytes themselves), and each further fragment is a new skb charged its truesize.
void cork_charge(DgramSock* sk, uint32_t n) {
    const uint32_t per = (sk->cork_rt.mtu - 20) & ~7u;
    const uint32_t copy = std::min(n, sk->cork_room);
    sk->cork_wmem += copy;
    sk->cork_room -= copy;
    for (n -= copy; n > 0 && per > 0;) {
        const uint32_t k = std::min(n, per);
        sk->cork_wmem += udp::truesize_for(k > wire::kUdpHeaderLen ? k - wire::kUdpHeaderLen : 0);
        sk->cork_room = per - k;
        n -= k;
    }
}

// udp_push_pending_frames: send what is corked.
Err push_pending(StackImpl& s, DgramSock* sk) {
    if (!sk->cork) return Err::None;
    buf::PacketPtr p = std::move(sk->cork);
    if (sk->proto == sock::Proto::Ping) return s.udp.ping_output(sk, std::move(p), sk->cork_rt);
    Err e = s.udp.output(sk, std::move(p), sk->cork_rt, sk->cork_daddr, sk->cork_dport);
    s.settle();
    return e;
}

}  // namespace

// copy_msghdr_from_user: a name length of 0 means no name; a long one is cut to 128.
static msghdr user_msghdr(const msghdr* msg) {
    msghdr m = *msg;
    if (!m.msg_name || m.msg_namelen == 0) {
        m.msg_name = nullptr;
        m.msg_namelen = 0;
    } else if (m.msg_namelen > sizeof(sockaddr_storage)) {
        m.msg_namelen = sizeof(sockaddr_storage);
    }
    return m;
}

// inet_sendmsg -> udp_sendmsg / ping_v4_sendmsg.
template <bool Tr>
ssize_t do_sendmsg_t(StackImpl& s, int fd, const msghdr* msg, int flags, const char* call) {
    USNET_TRACER(s);
    DgramSock* sk = sock::enter_io(s, tr_, call, fd);
    if (!sk) return fail(Err::BadFd, call, fd);
    if (msg->msg_name && (int(msg->msg_namelen) < 0 || msg->msg_namelen > sizeof(sockaddr_storage)))
        return fail(Err::AddrLenRange, call, fd);
    if (msg->msg_iovlen > 1024) return fail(Err::IovTooMany, call, fd);
    if (iov_array_bad(msg)) return fail(Err::Fault, call, fd);
    // ____sys_sendmsg copies the control buffer in before the protocol sees the message.
    if (msg->msg_controllen && !msg->msg_control) return fail(Err::Fault, call, fd);
    const size_t len = iov_total(msg);
    const bool ping = sk->proto == sock::Proto::Ping;
    USNET_TRACE(tr_, SendOps);
    USNET_TRACE_INDENT(tr_);
    // inet_send_prepare autobinds before the protocol looks at anything.
    const bool had_port = sk->num != 0;
    if (!autobind(s, sk)) return fail(Err::PortsExhausted, call, fd);
    if (!had_port) {
        if (ping) USNET_TRACE(tr_, AutobindPing, sk->num);
        else USNET_TRACE(tr_, Autobind, sk->num);
    }
    if (len > 0xffff) return fail(Err::MsgSize, call, fd);
    if (ping) {
        if (len < wire::kIcmpHeaderLen) return fail(Err::InvalidArg, call, fd);
        if (flags & MSG_OOB) return fail(Err::SendOob, call, fd);
        uint8_t hdr[2];
        const uint8_t* first = static_cast<const uint8_t*>(msg->msg_iov[0].iov_base);
        if (msg->msg_iov[0].iov_len >= 2) std::memcpy(hdr, first, 2);
        else {
            uint8_t tmp[8];
            iov_copy_in(tmp, msg);  // len >= 8 checked above
            std::memcpy(hdr, tmp, 2);
        }
        // ping_common_sendmsg: echo requests, and RFC 8335 extended echo requests (type 42).
        if ((hdr[0] != wire::kIcmpEcho && hdr[0] != 42) || hdr[1] != 0) return fail(Err::InvalidArg, call, fd);
    } else if (flags & MSG_OOB) {
        return fail(Err::SendOob, call, fd);
    }
    const bool corkreq = !ping && (sk->corked || (flags & MSG_MORE));
    Ip4 daddr;
    uint16_t dport = 0;
    bool connected = false;
    if (sk->cork && !ping) {
        // Appending to a corked datagram: its destination stands.
        daddr = sk->cork_daddr;
        dport = sk->cork_dport;
    } else if (msg->msg_name) {
        if (msg->msg_namelen < sizeof(sockaddr_in)) return fail(Err::AddrLen, call, fd);
        const InAddr a = read_in(static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen);
        if (a.family != AF_INET && (ping || a.family != AF_UNSPEC)) return fail(Err::AddrFamily, call, fd);
        daddr = a.addr;
        dport = a.port;
        if (!ping && dport == 0) return fail(Err::DestPortZero, call, fd);
    } else {
        if (!sk->established) return fail(Err::DestRequired, call, fd);
        daddr = sk->daddr;
        dport = sk->dport;
        connected = true;
    }
    USNET_IF_TRACING(tr_) {
        const char* how = sk->cork && !ping ? "the corked datagram's destination"
                          : msg->msg_name ? "msg_name" : "connected: inet_daddr, inet_dport";
        if (ping) USNET_TRACE(tr_, SendPingProto, len, daddr, how);
        else USNET_TRACE(tr_, SendProto, len, daddr, dport, how);
    }
    USNET_TRACE_INDENT(tr_);
    ip::RouteResult rt;
    int ttl_override = -1, tos_override = -1;
    uint16_t gso = ping ? 0 : sk->gso_size;
    if (sk->cork && !ping) {
        rt = sk->cork_rt;
    } else {
        SendCtl ctl;
        if (Err e = parse_send_cmsgs(msg, &ctl); e != Err::None) return fail(e, call, fd);
        if (msg->msg_controllen) connected = false;
        ip::Flow fl;
        fl.daddr = daddr;
        fl.saddr = ctl.have_src ? ctl.src : sk->saddr;
        fl.oif = ctl.oif ? ctl.oif : sk->bound_dev_if;
        fl.any_src = sk->opt_freebind || sk->transparent;
        // SO_DONTROUTE / MSG_DONTROUTE: on-link destinations only (RTO_ONLINK).
        if (sk->opt_dontroute || (flags & MSG_DONTROUTE)) {
            fl.onlink = true;
            connected = false;
        }
        if (daddr.is_multicast()) {
            if (!fl.oif) fl.oif = sk->mc_index;
            if (fl.saddr.any()) fl.saddr = sk->mc_addr;
            connected = false;
        } else if (!fl.oif) {
            fl.oif = sk->uc_index;
        }
        const bool cacheable = !connected && !daddr.is_multicast();
        if (connected && sk->dst_genid == s.ip.genid) {
            rt = sk->dst_cache;
            USNET_IF_TRACING(tr_) USNET_TRACE(tr_, SendRouteCached, rt.dev->name, rt.src);
        } else if (cacheable && !tr_ && sk->last_genid == s.ip.genid && sk->last_flow.daddr == fl.daddr &&
                   sk->last_flow.saddr == fl.saddr && sk->last_flow.oif == fl.oif &&
                   sk->last_flow.onlink == fl.onlink && sk->last_flow.any_src == fl.any_src) {
            // The same destination as the last sendto: its route still stands.
            rt = sk->last_rt;
            if ((rt.flags & ip::kRtBroadcast) && !sk->broadcast) {
                USNET_TRACE(tr_, SendBroadcast);
                return fail(Err::BroadcastDenied, call, fd);
            }
            daddr = rt.dst;
        } else {
            USNET_TRACE(tr_, SendRoute, fl.daddr, fl.saddr, fl.oif, fl.onlink ? ", RTO_ONLINK" : "");
            Err e;
            {
                USNET_TRACE_INDENT(tr_);
                e = s.ip.route_output(fl, &rt);
            }
            if (e != Err::None) {
                if (connected) sk->dst_cache.dev = nullptr;  // sk_dst_check dropped the stale route
                return fail(e, call, fd);
            }
            if (cacheable) {
                sk->last_flow = fl;
                sk->last_rt = rt;
                sk->last_genid = s.ip.genid;
            }
            if ((rt.flags & ip::kRtBroadcast) && !sk->broadcast) {
                USNET_TRACE(tr_, SendBroadcast);
                return fail(Err::BroadcastDenied, call, fd);
            }
            daddr = rt.dst;  // 0.0.0.0 means this host (127.0.0.1)
            if (connected) {
                sk->dst_cache = rt;
                sk->dst_genid = s.ip.genid;
            }
        }
        ttl_override = ctl.ttl;
        tos_override = ctl.tos;
        if (ctl.have_gso) gso = ctl.gso_size;
    }
    {
        // __ip_append_data: without fragmentation allowed, the whole datagram must fit the MTU.
        const bool ignore_df = sk->pmtudisc < IP_PMTUDISC_DO || sk->pmtudisc == IP_PMTUDISC_OMIT;
        const uint32_t max = ignore_df ? 0xffff : rt.mtu;
        const uint32_t hdr = ping ? 0 : wire::kUdpHeaderLen;
        const uint32_t pending = sk->cork ? sk->cork->size() : 0;
        if (pending + len + hdr > max - 20) {
            // ip_local_error reports the socket's own peer port (0 when unconnected).
            USNET_TRACE(tr_, SendTooBig, pending + len + hdr + 20, rt.mtu,
                        ignore_df ? "the IPv4 limit" : "IP_MTU_DISCOVER");
            if (sk->recverr)
                s.udp.queue_error(sk, EMSGSIZE, 1 /*SO_EE_ORIGIN_LOCAL*/, 0, 0, rt.mtu, nullptr, daddr, sk->dport, {});
            sk->cork.reset();
            return fail(ignore_df ? Err::MsgSize : Err::MsgSizeMtu, call, fd);
        }
        // sock_alloc_send_pskb: a pending error fails the send (once), then a write shutdown.
        if (!sk->cork && sk->sk_err) {
            const int e = sk->sk_err;
            sk->sk_err = 0;
            USNET_IF_TRACING(tr_) USNET_TRACE(tr_, SendPendingErr, sock::errno_name(e), sock::errno_name(e));
            return fail(pending_error_from_errno(e), call, fd);
        }
        if (!sk->cork && (sk->shutdown & kSendShutdown)) return fail(Err::SendShutdown, call, fd);
        if (iov_data_bad(msg, len)) return fail(Err::Fault, call, fd);
        if (!corkreq && !sk->cork && !gso && len + hdr + 20 > rt.mtu && rt.mtu > 28) {
            // __ip_append_data: each fragment after the first is allocated only while the
            // socket's write memory stays within twice SO_SNDBUF, else ENOBUFS.
            const uint32_t per = ((rt.mtu - 20) & ~7u);
            const uint64_t frags = (len + hdr + per - 1) / per;
            const uint64_t ts = udp::truesize_for(per);
            if ((frags - 1) * ts > 2 * uint64_t(sk->sndbuf)) {
                ++s.ctr.udp.SndbufErrors;
                return fail(Err::FragNoBufs, call, fd);
            }
        }
        if (!corkreq && !sk->cork && gso && len > gso) {
            // UDP_SEGMENT (udp_send_skb): the payload leaves as gso-sized datagrams.
            if (gso + 28u > rt.mtu || len > size_t(gso) * 128 || sk->no_check) return fail(Err::InvalidArg, call, fd);
            USNET_TRACE(tr_, SendSegment, gso, len, (len + gso - 1) / gso);
            auto whole = s.pool.alloc(uint32_t(len));
            if (!whole) return fail(Err::NoBufs, call, fd);
            iov_copy_in(whole->put(uint32_t(len)), msg);
            for (size_t off = 0; off < len; off += gso) {
                const uint32_t n = uint32_t(std::min<size_t>(gso, len - off));
                auto seg = s.pool.alloc(n);
                if (!seg) return fail(Err::NoBufs, call, fd);
                std::memcpy(seg->put(n), whole->data() + off, n);
                s.udp.output(sk, std::move(seg), rt, daddr, dport, ttl_override, tos_override);
            }
            s.settle();
            ok();
            return ssize_t(len);
        }
        if (sk->cork) {
            cork_charge(sk, uint32_t(len));
            iov_copy_in(sk->cork->put(uint32_t(len)), msg);
            USNET_TRACE(tr_, SendCorked, sk->cork_daddr, sk->cork_dport, sk->cork->size());
        } else {
            if constexpr (!Tr) {
                // Straight from the program's buffers into the wire, when the datagram takes
                // the plain path out of a port that allows it (Udp::output_parts).
                if (!corkreq && !ping &&
                    s.udp.output_parts(sk, {msg->msg_iov, msg->msg_iovlen}, uint32_t(len), rt, daddr, dport, ttl_override,
                                       tos_override)) {
                    s.settle();
                    ok();
                    return ssize_t(len);
                }
            }
            auto pkt = s.pool.alloc(corkreq ? 65535 : uint32_t(len));
            if (!pkt) {
                ++s.ctr.udp.SndbufErrors;
                return fail(Err::NoBufs, call, fd);
            }
            iov_copy_in(pkt->put(uint32_t(len)), msg);
            if (corkreq) {
                sk->cork = std::move(pkt);
                sk->cork_rt = rt;
                sk->cork_wmem = sk->cork_room = 0;
                cork_charge(sk, uint32_t(len + hdr));
                sk->cork_daddr = daddr;
                sk->cork_dport = dport;
                USNET_TRACE(tr_, SendCork, len);
            } else {
                USNET_TRACE(tr_, SendMake, len);
                Err e = ping ? s.udp.ping_output(sk, std::move(pkt), rt)
                             : s.udp.output_t<Tr>(sk, std::move(pkt), rt, daddr, dport, ttl_override, tos_override);
                s.settle();
                if (e != Err::None) return fail(e, call, fd);
                ok();
                return ssize_t(len);
            }
        }
        if (!corkreq) {
            Err e = push_pending(s, sk);
            if (e != Err::None) return fail(e, call, fd);
        }
    }
    ok();
    return ssize_t(len);
}

static ssize_t do_sendmsg(StackImpl& s, int fd, const msghdr* msg, int flags, const char* call) {
    return USNET_TRACED(s, do_sendmsg_t, s, fd, msg, flags, call);
}

namespace {

// A message argument as a trace's first line shows it: "{5 bytes, to 10.0.2.2:53}".
std::string msg_arg(const msghdr* m) {
    if (!m) return "NULL";
    std::string s = "{" + (m->msg_iov || !m->msg_iovlen ? std::to_string(iov_total(m)) + " bytes" : std::string("iov NULL"));
    if (m->msg_name) s += ", name " + sock::sockaddr_arg(static_cast<const sockaddr*>(m->msg_name), m->msg_namelen);
    if (m->msg_controllen) s += ", " + std::to_string(m->msg_controllen) + " control bytes";
    return s + "}";
}

}  // namespace

ssize_t Stack::sendmsg(int fd, const msghdr* msg, int flags) {
    USNET_NETLINK(fd, netlink::sendmsg(*this, n, msg, flags, "sendmsg"));
    StackImpl& s = *impl_;
    return sock::traced(
        s, "sendmsg", fd,
        [&]() -> ssize_t {
            if (!msg) return fail(Err::Fault, "sendmsg", fd);
            const msghdr m = user_msghdr(msg);
            return do_sendmsg(s, fd, &m, flags, "sendmsg");
        },
        [&](ssize_t r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + msg_arg(msg) + ", " + sock::msg_flags_name(flags),
                                  r, e);
        });
}

ssize_t Stack::sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to, socklen_t tolen) {
    if (netlink::NlSock* nl = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        iovec iov{const_cast<void*>(buf), len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_name = const_cast<sockaddr*>(to);
        m.msg_namelen = to ? tolen : 0;
        return netlink::sendmsg(*this, *nl, &m, flags, "sendto");
    }
    StackImpl& s = *impl_;
    iovec iov{const_cast<void*>(buf), len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_name = const_cast<sockaddr*>(to);
    m.msg_namelen = to ? tolen : 0;
    if (__builtin_expect(s.tracer == nullptr, 1)) return do_sendmsg_t<false>(s, fd, &m, flags, "sendto");
    return sock::traced_call(
        s, "sendto", fd, [&] { return do_sendmsg_t<true>(s, fd, &m, flags, "sendto"); },
        [&](ssize_t r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(len) + " bytes, " +
                                      sock::msg_flags_name(flags) + ", " + sock::sockaddr_arg(to, tolen),
                                  r, e);
        });
}

ssize_t Stack::send(int fd, const void* buf, size_t len, int flags) {
    if (netlink::NlSock* nl = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        iovec iov{const_cast<void*>(buf), len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        return netlink::sendmsg(*this, *nl, &m, flags, "send");
    }
    StackImpl& s = *impl_;
    iovec iov{const_cast<void*>(buf), len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (__builtin_expect(s.tracer == nullptr, 1)) return do_sendmsg_t<false>(s, fd, &m, flags, "send");
    return sock::traced_call(
        s, "send", fd, [&] { return do_sendmsg_t<true>(s, fd, &m, flags, "send"); },
        [&](ssize_t r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(len) + " bytes, " +
                                      sock::msg_flags_name(flags),
                                  r, e);
        });
}

int Stack::sendmmsg(int fd, mmsghdr* msgs, unsigned int vlen, int flags) {
    if (netlink::NlSock* nl = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        unsigned i = 0;
        for (; i < std::min(vlen, 1024u); ++i) {
            const ssize_t r = netlink::sendmsg(*this, *nl, &msgs[i].msg_hdr, flags, "sendmmsg");
            if (r < 0) return i ? int(i) : -1;
            msgs[i].msg_len = unsigned(r);
        }
        return int(i);
    }
    StackImpl& s = *impl_;
    return sock::traced(
        s, "sendmmsg", fd,
        [&]() -> int {
            if (!s.sock_of(fd)) {
                sock::enter_io(s, s.tracer, "sendmmsg", fd);
                return fail(Err::BadFd, "sendmmsg", fd);
            }
            vlen = std::min(vlen, 1024u);
            unsigned int n = 0;
            for (; n < vlen; ++n) {
                const msghdr m = user_msghdr(&msgs[n].msg_hdr);
                ssize_t r = do_sendmsg(s, fd, &m, flags, "sendmmsg");
                if (r < 0) {
                    if (n == 0) return -1;
                    break;
                }
                msgs[n].msg_len = unsigned(r);
            }
            ok();
            return int(n);
        },
        [&](int r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(vlen) + " messages, " +
                                      sock::msg_flags_name(flags),
                                  r, e);
        });
}

// ---------------- receiving ----------------

namespace {

constexpr int kSoEeOriginIcmp = 2;

// put_cmsg: appends one control message. Like Linux, a message that does not fit is
// written truncated into what is left (and MSG_CTRUNC set), which then fills the buffer.
void put_cmsg(msghdr* msg, size_t* used, int level, int type, const void* data, size_t len) {
    const size_t avail = msg->msg_control ? msg->msg_controllen - *used : 0;
    if (!msg->msg_control || avail < sizeof(cmsghdr)) {
        msg->msg_flags |= MSG_CTRUNC;
        return;
    }
    size_t cmlen = CMSG_LEN(len);
    if (avail < cmlen) {
        msg->msg_flags |= MSG_CTRUNC;
        cmlen = avail;
    }
    auto* base = static_cast<uint8_t*>(msg->msg_control) + *used;
    cmsghdr cm{};
    cm.cmsg_level = level;
    cm.cmsg_type = type;
    cm.cmsg_len = cmlen;
    std::memcpy(base, &cm, sizeof cm);
    std::memcpy(base + CMSG_LEN(0), data, cmlen - CMSG_LEN(0));
    *used += std::min<size_t>(CMSG_SPACE(len), avail);
}

// Copies the payload from byte `from` on; returns the bytes copied.
size_t copy_out(std::span<const uint8_t> d, const msghdr* msg) {
    size_t off = 0;
    for (size_t i = 0; i < msg->msg_iovlen && off < d.size(); ++i) {
        const size_t n = std::min<size_t>(msg->msg_iov[i].iov_len, d.size() - off);
        if (n) std::memcpy(msg->msg_iov[i].iov_base, d.data() + off, n);
        off += n;
    }
    return off;
}

size_t copy_out(const buf::Packet& p, const msghdr* msg, size_t from = 0) {
    return copy_out(p.bytes().subspan(from), msg);
}

// __skb_try_recv_from_queue with a peek offset: the datagram the offset falls in (whole
// datagrams it covers are skipped), and the offset within it; null if it covers them all.
buf::Packet* peek_at(const DgramSock* sk, size_t* within) {
    size_t o = size_t(sk->peek_off);
    for (buf::Packet* q = sk->rx.front(); q; q = q->next) {
        if (o && o >= q->size()) {
            o -= q->size();
            continue;
        }
        *within = o;
        return q;
    }
    return nullptr;
}

// ip_cmsg_recv: IP_PKTINFO, IP_TTL, IP_TOS in that order, as the socket asked.
void put_inet_cmsgs(DgramSock* sk, msghdr* msg, size_t* used, int ifindex, Ip4 dst, Ip4 spec_dst, uint8_t ttl,
                    uint8_t tos) {
    if (sk->pktinfo) {
        in_pktinfo pi{};
        pi.ipi_ifindex = ifindex;
        pi.ipi_addr.s_addr = dst.net();
        pi.ipi_spec_dst.s_addr = spec_dst.net();
        put_cmsg(msg, used, SOL_IP, IP_PKTINFO, &pi, sizeof pi);
    }
    if (sk->recvttl) {
        int v = ttl;
        put_cmsg(msg, used, SOL_IP, IP_TTL, &v, sizeof v);
    }
    if (sk->recvtos) put_cmsg(msg, used, SOL_IP, IP_TOS, &tos, sizeof tos);
}

ssize_t recv_error(StackImpl& s, DgramSock* sk, msghdr* msg, int flags, const char* call) {
    buf::Packet* e = sk->errq.front();
    if (s.tracer) {
        USNET_TRACE(s.tracer, RecvErrQueue, e ? sock::errno_name(e->meta.ee_errno) + " from " + e->meta.offender.str() +
                                             (e->meta.ee_origin == kSoEeOriginIcmp ? " (ICMP)" : " (local)")
                                       : std::string("queue empty"));
    }
    if (!e) return fail(Err::ErrQueueEmpty, call, sk->fd);
    const size_t copied = copy_out(*e, msg);
    msg->msg_flags = 0;
    if (copied < e->size()) msg->msg_flags |= MSG_TRUNC;
    if (msg->msg_name) {
        socklen_t l = sizeof(sockaddr_in);
        write_in(static_cast<sockaddr*>(msg->msg_name), &l, e->meta.src, e->meta.sport);
        msg->msg_namelen = l;
    }
    struct {
        sock_extended_err ee;
        sockaddr_in offender;
    } data{};
    data.ee.ee_errno = uint32_t(e->meta.ee_errno);
    data.ee.ee_origin = e->meta.ee_origin;
    data.ee.ee_type = e->meta.ee_type;
    data.ee.ee_code = e->meta.ee_code;
    data.ee.ee_info = e->meta.ee_info;
    if (e->meta.ee_origin == kSoEeOriginIcmp) {
        data.offender.sin_family = AF_INET;
        data.offender.sin_addr.s_addr = e->meta.offender.net();
    }
    size_t used = 0;
    // An ICMP-borne entry also carries the ICMP packet's own control messages.
    if (e->meta.ee_origin == kSoEeOriginIcmp)
        put_inet_cmsgs(sk, msg, &used, e->meta.ifindex, e->meta.dst, Ip4(), e->meta.ttl, e->meta.tos);
    put_cmsg(msg, &used, SOL_IP, IP_RECVERR, &data, sizeof data);
    msg->msg_controllen = used;
    msg->msg_flags |= MSG_ERRQUEUE;
    const size_t full = e->size();
    {  // the error queue is always consumed, MSG_PEEK or not (sock_dequeue_err_skb)
        auto dead = sk->errq.pop();
        sk->rmem -= std::min(sk->rmem, dead->meta.truesize);
        // sock_dequeue_err_skb: sk_err follows the next queued ICMP error, or clears.
        buf::Packet* next = sk->errq.front();
        if (next && next->meta.ee_origin == kSoEeOriginIcmp) sk->sk_err = next->meta.ee_errno;
        else if (dead->meta.ee_origin == kSoEeOriginIcmp) sk->sk_err = 0;
    }
    ok();
    return ssize_t((flags & MSG_TRUNC) ? full : copied);
}

}  // namespace

// (stack.hpp) Also asked by `usnet run`'s processes that wait for a shared stack's socket.
bool signal_handlers_restart() {
    const int saved = errno;  // sigaction fails (EINVAL) on the C library's reserved signals
    struct Restore {
        int e;
        ~Restore() { errno = e; }
    } restore{saved};
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction a {};
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, nullptr, &a) != 0) continue;
        const bool handled = (a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != nullptr
                                                       : a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN;
        if (handled && !(a.sa_flags & SA_RESTART)) return false;
    }
    return true;
}

// sock_recv_cmsgs (UDP) / sock_recv_timestamp (ping): the stamp control messages of
// __sock_recv_timestamp, or sk_stamp for SIOCGSTAMP.
static void recv_timestamp(StackImpl& s, DgramSock* sk, msghdr* msg, size_t* used, buf::Packet& p) {
    const bool udp = sk->proto == sock::Proto::Udp;
    const int ts = sk->tsflags;
    const bool any_ts = ts & (SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE);  // SOCK_TIMESTAMPING_ANY
    Time kt = p.meta.tstamp;
    if (udp && !(sk->rcvtstamp || sk->rxq_ovfl || any_ts)) {
        // No receive cmsg flag: sk_stamp follows the datagrams once SIOCGSTAMP was asked,
        // else is marked "received, not stamped" (0).
        if (sk->stamp_sock) sk->sk_stamp = kt;
        else if (sk->sk_stamp == sock::kStampNone) sk->sk_stamp = 0;
        return;
    }
    if (!(sk->rcvtstamp || (ts & SOF_TIMESTAMPING_RX_SOFTWARE) || (kt && (ts & SOF_TIMESTAMPING_SOFTWARE)))) {
        sk->sk_stamp = kt;
        return;
    }
    if (sk->rcvtstamp && kt == 0) kt = p.meta.tstamp = s.wall_now();  // enabled after it was queued
    if (sk->rcvtstamp) {
        // Two 64-bit fields in every layout on a 64-bit kernel: timeval or timespec.
        int64_t v[2] = {kt / kSec, kt % kSec};
        int type;
        if (!sk->rcvtstampns) {
            v[1] /= 1000;
            type = sk->tstamp_new ? SO_TIMESTAMP_NEW : SO_TIMESTAMP_OLD;
        } else {
            type = sk->tstamp_new ? SO_TIMESTAMPNS_NEW : SO_TIMESTAMPNS_OLD;
        }
        put_cmsg(msg, used, SOL_SOCKET, type, v, sizeof v);
    }
#ifdef SOF_TIMESTAMPING_OPT_RX_FILTER
    const bool rx_ok = (ts & SOF_TIMESTAMPING_RX_SOFTWARE) || !(ts & SOF_TIMESTAMPING_OPT_RX_FILTER);
#else
    const bool rx_ok = true;
#endif
    if ((ts & SOF_TIMESTAMPING_SOFTWARE) && rx_ok && kt) {
        // struct scm_timestamping(64): software stamp first, the two hardware ones zero.
        int64_t v[6] = {kt / kSec, kt % kSec, 0, 0, 0, 0};
        put_cmsg(msg, used, SOL_SOCKET, sk->tstamp_new ? SO_TIMESTAMPING_NEW : SO_TIMESTAMPING_OLD, v, sizeof v);
    }
}

namespace {

// Whether a receive on sk takes a datagram as it comes, needing nothing of it but its bytes
// and sender (no flags but MSG_DONTWAIT/MSG_TRUNC, no pending error, no receive option
// that reads its metadata): then the datagram waiting at the port may go straight to the
// call's buffers (recv_direct; what queueing would check, a filter among it, UDP checks).
bool takes_plain(const DgramSock* sk, int flags) {
    return sk->proto == sock::Proto::Udp && !(flags & ~(MSG_DONTWAIT | MSG_TRUNC)) && !sk->sk_err &&
           !(sk->rcvtstamp | sk->rxq_ovfl | sk->stamp_sock | (sk->tsflags != 0) | (sk->sk_stamp == sock::kStampNone) |
             sk->pktinfo | sk->recvttl | sk->recvtos | sk->origdstaddr);
}

// The receive short cut (udp::DirectRx): the frame waiting first at the port, if the layers
// would queue it on sk, whose queue is empty, copied from the port's memory into the
// program's buffers (Taken; what do_recvmsg_t would then return for it is in *ret);
// otherwise nothing is changed.
Env::Offered recv_direct(StackImpl& s, DgramSock* sk, msghdr* msg, int flags, ssize_t* ret) {
    size_t copied = 0, full = 0;
    Ip4 src;
    uint16_t sport = 0;
    auto take = [&](std::span<const uint8_t> payload, Ip4 from, uint16_t from_port) {
        if (iov_dest_bad(s, msg, payload.size())) return false;  // (the queue's path reports it)
        copied = copy_out(payload, msg);
        full = payload.size();
        src = from;
        sport = from_port;
        return true;
    };
    if (const Env::Offered o = s.env->offer_input(udp::DirectRx{sk, take}); o != Env::Offered::Taken) return o;
    msg->msg_flags = copied < full ? MSG_TRUNC : 0;
    if (msg->msg_name) {
        socklen_t l = sizeof(sockaddr_in);
        write_in(static_cast<sockaddr*>(msg->msg_name), &l, src, sport);
        msg->msg_namelen = l;
    }
    if (msg->msg_control) msg->msg_controllen = 0;
    ok();
    *ret = ssize_t((flags & MSG_TRUNC) ? full : copied);
    return Env::Offered::Taken;
}

// Frames waiting outside the process, taken in by the layers before a receive looks at
// its queue, unless the short cut (direct) took one for this call, or found none waiting
// (then the layers would find none either). True when the short cut took one (*ret).
bool take_input(StackImpl& s, DgramSock* sk, msghdr* msg, int flags, bool direct, ssize_t* ret) {
    const Env::Offered o = direct ? recv_direct(s, sk, msg, flags, ret) : Env::Offered::Declined;
    if (o == Env::Offered::Declined) s.env->poll_input();
    return o == Env::Offered::Taken;
}

}  // namespace

template <bool Tr>
ssize_t do_recvmsg_t(StackImpl& s, int fd, msghdr* msg, int flags, const char* call) {
    USNET_TRACER(s);
    DgramSock* sk = sock::enter_io(s, tr_, call, fd);
    if (!sk) return fail(Err::BadFd, call, fd);
    if (msg->msg_iovlen > 1024) return fail(Err::IovTooMany, call, fd);
    if (iov_array_bad(msg)) return fail(Err::Fault, call, fd);
    const bool udp = sk->proto == sock::Proto::Udp;
    USNET_TRACE(tr_, RecvOps, udp ? "udp_recvmsg" : "ping_recvmsg", udp ? "udp_prot" : "ping_prot");
    USNET_TRACE_INDENT(tr_);
    // Frames waiting outside the process (a switch's ring, a TAP) first, unless a datagram
    // is already queued: looking at a TAP costs a system call. The first may be ours to take
    // where it lies.
    const bool direct = !Tr && takes_plain(sk, flags);
    if (ssize_t r; sk->rx.empty() && take_input(s, sk, msg, flags, direct, &r)) return r;
    // ping_recvmsg: no out-of-band data, checked before the error queue.
    if (!udp && (flags & MSG_OOB)) return fail(Err::RecvOob, call, fd);
    if (flags & MSG_ERRQUEUE) return recv_error(s, sk, msg, flags, call);
    const bool dontwait = sk->nonblock || (flags & MSG_DONTWAIT);
    // SO_RCVTIMEO in jiffies: -1 waits forever, 0 never waits.
    const bool dontwait_t = sk->rcvtimeo == 0;
    // Taken when the call first waits (sock_rcvtimeo counts from the wait; and a call that
    // does not wait reads no clock).
    Time deadline = kNever;
    bool waited = false;
    // udp_recvmsg: MSG_PEEK starts SO_PEEK_OFF bytes into the queue when that is set.
    const bool peek_off = udp && (flags & MSG_PEEK) && sk->peek_off >= 0;
    size_t from = 0;
    auto target = [&]() -> buf::Packet* { return peek_off ? peek_at(sk, &from) : sk->rx.front(); };
    for (;;) {
        // __skb_recv_udp: a pending error is reported before queued data.
        if (sk->sk_err) {
            const int e = sk->sk_err;
            sk->sk_err = 0;
            USNET_IF_TRACING(tr_) USNET_TRACE(tr_, RecvSkErr, sock::errno_name(e), sock::errno_name(e));
            return fail(pending_error_from_errno(e), call, fd);
        }
        if (target()) break;
        if (dontwait || dontwait_t) {
            USNET_TRACE(tr_, RecvEmpty, dontwait_t ? "SO_RCVTIMEO is 0" : (flags & MSG_DONTWAIT) ? "MSG_DONTWAIT" : "O_NONBLOCK");
            return fail(Err::WouldBlock, call, fd);
        }
        if (sk->shutdown & kRcvShutdown) {
            USNET_TRACE(tr_, RecvShutdown);
            msg->msg_flags = 0;
            msg->msg_namelen = 0;
            msg->msg_controllen = 0;
            ok();
            return 0;
        }
        if (!waited) {
            waited = true;
            if (sk->rcvtimeo >= 0) deadline = s.now() + sk->rcvtimeo * (kSec / s.cfg.hz);
        }
        USNET_TRACE(tr_, RecvWait, deadline == kNever ? std::string("no timeout")
                                                    : "SO_RCVTIMEO " + std::to_string((deadline - s.now()) / kMs) + " ms");
        bool ready;
        {
            USNET_TRACE_INDENT(tr_);
            auto woken = [&] { return target() || sk->sk_err || (sk->shutdown & kRcvShutdown) || !s.sock_of(fd); };
            ready = direct ? s.env->run_until_input(woken, deadline) : s.env->run_until(woken, deadline);
        }
        USNET_IF_TRACING(tr_) {
            const char* why = !s.sock_of(fd) ? "the descriptor was closed"
                              : !sk->rx.empty() ? "a datagram arrived"
                              : sk->sk_err ? "an error arrived"
                              : (sk->shutdown & kRcvShutdown) ? "shut down for reading"
                              : "no datagram (timeout or signal)";
            USNET_TRACE(tr_, RecvWoke, why);
        }
        if (!s.sock_of(fd)) return fail(Err::BadFd, call, fd);
        // (run_until_input left the frame that woke us where it lies.)
        if (ssize_t r; direct && sk->rx.empty() && take_input(s, sk, msg, flags, takes_plain(sk, flags), &r)) return r;
        if (!ready && s.env->take_interrupt()) {
            // sock_intr_errno: -ERESTARTSYS without SO_RCVTIMEO (the call restarts after a
            // handler with SA_RESTART), -EINTR with it.
            if (deadline == kNever && signal_handlers_restart()) continue;
            return fail(Err::Interrupted, call, fd);
        }
        if (!ready) {
            if (deadline != kNever && s.now() >= deadline) return fail(Err::TimedOut, call, fd);
            return fail(Err::WouldBlockForever, call, fd);
        }
    }
    buf::Packet& p = *target();
    if (iov_dest_bad(s, msg, p.size() - from)) {
        // udp_recvmsg: a failed copy drops the datagram (counted) and reports EFAULT.
        if (!(flags & MSG_PEEK)) {
            auto dead = sk->rx.pop();
            sk->rmem -= std::min(sk->rmem, dead->meta.truesize);
            ++sk->drops;
            if (sk->proto == sock::Proto::Udp) ++s.ctr.udp.InErrors;
        }
        return fail(Err::Fault, call, fd);
    }
    const size_t copied = copy_out(p, msg, from);
    msg->msg_flags = 0;
    // udp_recvmsg compares what was copied with the whole datagram, offset or not.
    if (const size_t cap = iov_total(msg); cap <= p.size() - from && cap < p.size()) msg->msg_flags |= MSG_TRUNC;
    USNET_IF_TRACING(tr_) {
        USNET_TRACE(tr_, RecvGot, p.size(), p.meta.src, p.meta.sport, (flags & MSG_PEEK) ? " (MSG_PEEK: left queued)" : "");
        USNET_TRACE(tr_, RecvCopy, copied, p.size(), copied < p.size() ? ", MSG_TRUNC" : "",
                    (flags & MSG_TRUNC) ? "; MSG_TRUNC asked: the full length is returned" : "");
    }
    if (msg->msg_name) {
        socklen_t l = sizeof(sockaddr_in);
        write_in(static_cast<sockaddr*>(msg->msg_name), &l, p.meta.src, p.meta.sport);
        msg->msg_namelen = l;
    }
    size_t used = 0;
    if (__builtin_expect(sk->rcvtstamp | sk->rxq_ovfl | sk->stamp_sock | (sk->tsflags != 0) | (sk->sk_stamp == sock::kStampNone), 0))
        recv_timestamp(s, sk, msg, &used, p);
    if (sk->rxq_ovfl && p.meta.drops) {
        const uint32_t d = p.meta.drops;
        put_cmsg(msg, &used, SOL_SOCKET, SO_RXQ_OVFL, &d, sizeof d);
    }
    if (sk->pktinfo | sk->recvttl | sk->recvtos) {
        if (udp) {
            // fib_compute_spec_dst: the local address for unicast, else one chosen for the sender.
            Ip4 spec = p.meta.dst;
            if (p.meta.route_flags & (ip::kRtBroadcast | ip::kRtMulticast))
                spec = s.ip.select_addr(s.iface(p.meta.ifindex), p.meta.src, ip::Scope::Universe);
            put_inet_cmsgs(sk, msg, &used, p.meta.ifindex, p.meta.dst, spec, p.meta.ttl, p.meta.tos);
        } else {
            // ping_rcv never runs ipv4_pktinfo_prepare: the control block still holds the
            // input device (IPCB iif, lo for local traffic) and no spec_dst.
            put_inet_cmsgs(sk, msg, &used, p.meta.in_dev ? p.meta.in_dev : p.meta.ifindex, p.meta.dst, Ip4(),
                           p.meta.ttl, p.meta.tos);
        }
    }
    if (sk->origdstaddr) {
        sockaddr_in o{};
        o.sin_family = AF_INET;
        o.sin_port = htons(p.meta.dport);
        o.sin_addr.s_addr = p.meta.dst.net();
        put_cmsg(msg, &used, SOL_IP, IP_ORIGDSTADDR, &o, sizeof o);
    }
    if (msg->msg_control) msg->msg_controllen = used;
    const size_t full = p.size();
    // ping_recvmsg returns what it copied, MSG_TRUNC or not.
    const ssize_t ret = ssize_t((flags & MSG_TRUNC) && udp ? full : copied);
    if (!(flags & MSG_PEEK)) {
        auto dead = sk->rx.pop();
        sk->rmem -= std::min(sk->rmem, dead->meta.truesize);
        if (sk->proto == sock::Proto::Udp) ++s.ctr.udp.InDatagrams;
    }
    // skb_consume_udp -> sk_peek_offset_bwd: a peek moves the offset on by what it
    // returned, a read moves it back (not below 0).
    if (udp && sk->peek_off >= 0) {
        const int64_t o = (flags & MSG_PEEK) ? int64_t(sk->peek_off) + ret : int64_t(sk->peek_off) - ret;
        sk->peek_off = int(std::clamp<int64_t>(o, 0, INT_MAX));
    }
    ok();
    return ret;
}

static ssize_t do_recvmsg(StackImpl& s, int fd, msghdr* msg, int flags, const char* call) {
    return USNET_TRACED(s, do_recvmsg_t, s, fd, msg, flags, call);
}

namespace {

// What a receive gave back, after its result: "from 10.0.2.2:53".
std::string from_extra(ssize_t r, const msghdr* m) {
    if (r < 0 || !m || !m->msg_name || m->msg_namelen < sizeof(sockaddr_in)) return "";
    return "from " + sock::sockaddr_arg(static_cast<const sockaddr*>(m->msg_name), sizeof(sockaddr_in));
}

}  // namespace

ssize_t Stack::recvmsg(int fd, msghdr* msg, int flags) {
    USNET_NETLINK(fd, netlink::recvmsg(ns, n, msg, flags, "recvmsg"));
    StackImpl& s = *impl_;
    return sock::traced(
        s, "recvmsg", fd,
        [&]() -> ssize_t {
            if (!msg) return fail(Err::Fault, "recvmsg", fd);
            return do_recvmsg(s, fd, msg, flags, "recvmsg");
        },
        [&](ssize_t r, int e) {
            const size_t cap = msg && (msg->msg_iov || !msg->msg_iovlen) ? iov_total(msg) : 0;
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", {" + std::to_string(cap) + " bytes}, " +
                                      sock::msg_flags_name(flags),
                                  r, e, from_extra(r, msg));
        });
}

template <bool Tr>
ssize_t sys_recvfrom(StackImpl& s, int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen,
                     const char* call) {
    iovec iov{buf, len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (from) {
        sockaddr_in tmp;
        m.msg_name = &tmp;
        m.msg_namelen = sizeof tmp;
        ssize_t r = do_recvmsg_t<Tr>(s, fd, &m, flags, call);
        if (r < 0) return r;
        // move_addr_to_user runs after the datagram is taken: a missing or negative length
        // loses it.
        if (!fromlen) return fail(Err::Fault, call, fd);
        if (int(*fromlen) < 0) return fail(Err::AddrLenNegative, call, fd);
        std::memcpy(from, &tmp, std::min<size_t>(*fromlen, m.msg_namelen));
        *fromlen = m.msg_namelen;
        return r;
    }
    return do_recvmsg_t<Tr>(s, fd, &m, flags, call);
}

ssize_t Stack::recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
    if (netlink::NlSock* nl = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        iovec iov{buf, len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        sockaddr_nl a{};
        if (from) {
            m.msg_name = &a;
            m.msg_namelen = sizeof a;
        }
        const ssize_t r = netlink::recvmsg(*impl_, *nl, &m, flags, "recvfrom");
        if (r < 0 || !from) return r;
        // move_addr_to_user, after the message is taken.
        if (!fromlen) return fail(Err::Fault, "recvfrom", fd);
        if (int(*fromlen) < 0) return fail(Err::AddrLenNegative, "recvfrom", fd);
        std::memcpy(from, &a, std::min<size_t>(*fromlen, sizeof a));
        *fromlen = sizeof a;
        return r;
    }
    StackImpl& s = *impl_;
    if (__builtin_expect(s.tracer == nullptr, 1)) return sys_recvfrom<false>(s, fd, buf, len, flags, from, fromlen, "recvfrom");
    return sock::traced_call(
        s, "recvfrom", fd, [&] { return sys_recvfrom<true>(s, fd, buf, len, flags, from, fromlen, "recvfrom"); },
        [&](ssize_t r, int e) {
            std::string extra;
            if (r >= 0 && from && fromlen && *fromlen >= sizeof(sockaddr_in)) extra = "from " + sock::sockaddr_arg(from, sizeof(sockaddr_in));
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(len) + ", " +
                                      sock::msg_flags_name(flags),
                                  r, e, extra);
        });
}

ssize_t Stack::recv(int fd, void* buf, size_t len, int flags) {
    if (impl_->nl_of(fd)) return recvfrom(fd, buf, len, flags, nullptr, nullptr);
    StackImpl& s = *impl_;
    if (__builtin_expect(s.tracer == nullptr, 1)) return sys_recvfrom<false>(s, fd, buf, len, flags, nullptr, nullptr, "recv");
    return sock::traced_call(
        s, "recv", fd, [&] { return sys_recvfrom<true>(s, fd, buf, len, flags, nullptr, nullptr, "recv"); },
        [&](ssize_t r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(len) + ", " +
                                      sock::msg_flags_name(flags),
                                  r, e);
        });
}

int Stack::recvmmsg(int fd, mmsghdr* msgs, unsigned int vlen, int flags, timespec* timeout) {
    if (netlink::NlSock* nl = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        (void)timeout;
        unsigned i = 0;
        for (; i < std::min(vlen, 1024u); ++i) {
            const ssize_t r = netlink::recvmsg(*impl_, *nl, &msgs[i].msg_hdr, i ? flags | MSG_DONTWAIT : flags, "recvmmsg");
            if (r < 0) return i ? int(i) : -1;
            msgs[i].msg_len = unsigned(r);
            if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
        }
        return int(i);
    }
    StackImpl& s = *impl_;
    return sock::traced(
        s, "recvmmsg", fd,
        [&]() -> int {
            // do_recvmmsg: poll_select_set_timeout rejects the timeout before the fd is looked up.
            if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))
                return fail(Err::RecvmmsgTimeout, "recvmmsg", fd);
            if (!s.sock_of(fd)) {
                sock::enter_io(s, s.tracer, "recvmmsg", fd);
                return fail(Err::BadFd, "recvmmsg", fd);
            }
            vlen = std::min(vlen, 1024u);
            const Time deadline = timeout ? s.now() + timeout->tv_sec * kSec + timeout->tv_nsec : kNever;
            unsigned int n = 0;
            for (; n < vlen; ++n) {
                ssize_t r = do_recvmsg(s, fd, &msgs[n].msg_hdr, flags, "recvmmsg");
                if (r < 0) {
                    if (n == 0) return -1;
                    const int e = errno;
                    if (e != EAGAIN) s.sock_of(fd)->sk_err = e;
                    break;
                }
                msgs[n].msg_len = unsigned(r);
                if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
                if (timeout && s.now() >= deadline) {
                    ++n;
                    break;
                }
            }
            ok();
            return int(n);
        },
        [&](int r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + std::to_string(vlen) + " messages, " +
                                      sock::msg_flags_name(flags),
                                  r, e);
        });
}

// ---------------- control ----------------

namespace {

int sys_ioctl(StackImpl& s, int fd, unsigned long req, void* arg) {
    DgramSock* sk = sock::enter(s, "sock_ioctl", fd);
    if (!sk) return fail(Err::BadFd, "ioctl", fd);
    const bool udp = sk->proto == sock::Proto::Udp;
    switch (req) {
        case FIONREAD: {  // == SIOCINQ: the first datagram's length (udp_ioctl)
            if (!arg) return fail(Err::Fault, "ioctl", fd);
            if (!udp) {
                USNET_TRACE(s.tracer, IoctlNoProto);
                return fail(Err::IoctlUnknown, "ioctl", fd);
            }
            int v = sk->rx.empty() ? 0 : int(sk->rx.front()->size());
            USNET_TRACE(s.tracer, IoctlPath, "udp_ioctl", "SIOCINQ = the first queued datagram's length, " + std::to_string(v));
            std::memcpy(arg, &v, sizeof v);
            break;
        }
        case TIOCOUTQ: {  // == SIOCOUTQ: bytes not yet sent (never held here)
            if (!arg) return fail(Err::Fault, "ioctl", fd);
            if (!udp) {
                USNET_TRACE(s.tracer, IoctlNoProto);
                return fail(Err::IoctlUnknown, "ioctl", fd);
            }
            // sk_wmem_alloc: only a corked datagram is ever held on the send side.
            int v = sk->cork ? int(sk->cork_wmem) : 0;
            USNET_TRACE(s.tracer, IoctlPath, "udp_ioctl", "SIOCOUTQ = sk_wmem_alloc, " + std::to_string(v));
            std::memcpy(arg, &v, sizeof v);
            break;
        }
        case FIONBIO: {
            if (!arg) return fail(Err::Fault, "ioctl", fd);
            int v;
            std::memcpy(&v, arg, sizeof v);
            sk->nonblock = v != 0;
            USNET_TRACE(s.tracer, IoctlGeneric, std::string("FIONBIO: O_NONBLOCK ") + (v ? "set" : "cleared"));
            break;
        }
        default: {
            // sock_ioctl: SIOCGSTAMP*, SIOCGIFCONF; inet_ioctl: the address requests.
            if (sock::if_is_stamp_req(req)) {
                if (sock::gettstamp(s, sk, req, arg, fd) < 0) return -1;
                break;
            }
            const int r = sock::if_ioctl_early(s, AF_INET, req, arg, fd);
            if (r == -1) return -1;
            if (r != sock::kIfNotMine) break;
            if (udp) USNET_TRACE(s.tracer, IoctlPath, "udp_ioctl", "not handled (-ENOIOCTLCMD)");
            else USNET_TRACE(s.tracer, IoctlNoProto);
            if (sock::if_ioctl_fallback(s, req, arg, fd) < 0) return -1;
            break;
        }
    }
    ok();
    return 0;
}

int sys_fcntl(StackImpl& s, int fd, int cmd, long arg) {
    DgramSock* sk = sock::enter(s, "do_fcntl", fd);
    if (!sk) return fail(Err::BadFd, "fcntl", fd);
    switch (cmd) {
        case F_GETFL:
            USNET_TRACE(s.tracer, FcntlPath, std::string("F_GETFL: O_RDWR") + (sk->nonblock ? "|O_NONBLOCK" : ""));
            ok();
            return O_RDWR | (sk->nonblock ? O_NONBLOCK : 0);
        case F_SETFL:
            sk->nonblock = arg & O_NONBLOCK;
            USNET_TRACE(s.tracer, FcntlPath, std::string("F_SETFL -> setfl: O_NONBLOCK ") + (sk->nonblock ? "set" : "cleared"));
            ok();
            return 0;
        case F_GETFD:
            USNET_TRACE(s.tracer, FcntlPath, std::string("F_GETFD: ") + (sk->cloexec ? "FD_CLOEXEC" : "0"));
            ok();
            return sk->cloexec ? FD_CLOEXEC : 0;
        case F_SETFD:
            sk->cloexec = arg & FD_CLOEXEC;
            USNET_TRACE(s.tracer, FcntlPath, std::string("F_SETFD: close-on-exec ") + (sk->cloexec ? "set" : "cleared"));
            ok();
            return 0;
        default: return fail(Err::FcntlCmd, "fcntl", fd);
    }
}

}  // namespace

int Stack::ioctl(int fd, unsigned long req, void* arg) {
    USNET_NETLINK(fd, netlink::ioctl(ns, n, req, arg));
    return sock::traced(
        *impl_, "ioctl", fd, [&] { return sys_ioctl(*impl_, fd, req, arg); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + sock::ioctl_name(req), r, e);
        });
}

int Stack::fcntl(int fd, int cmd, long arg) {
    USNET_NETLINK(fd, netlink::fcntl(ns, n, cmd, arg));
    return sock::traced(
        *impl_, "fcntl", fd, [&] { return sys_fcntl(*impl_, fd, cmd, arg); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(impl_->tracer->shown(fd)) + ", " + sock::fcntl_name(cmd) +
                                      (cmd == F_SETFL || cmd == F_SETFD ? ", " + std::to_string(arg) : std::string()),
                                  r, e);
        });
}

// datagram_poll / udp_poll
static short poll_mask(StackImpl& s, int fd) {
    if (const netlink::NlSock* n = s.nl_of(fd)) return netlink::poll_mask(*n);
    DgramSock* sk = s.sock_of(fd);
    if (!sk) return POLLNVAL;
    short m = 0;
    if (sk->sk_err || !sk->errq.empty()) m |= POLLERR | (sk->select_err_queue ? POLLPRI : 0);
    if (sk->shutdown & kRcvShutdown) m |= POLLRDHUP | POLLIN | POLLRDNORM;
    if (sk->shutdown == (kRcvShutdown | kSendShutdown)) m |= POLLHUP;
    if (!sk->rx.empty()) m |= POLLIN | POLLRDNORM;
    m |= POLLOUT | POLLWRNORM | POLLWRBAND;  // nothing is ever held in the send path
    return m;
}

// "POLLIN|POLLOUT" for a trace.
static std::string poll_mask_name(short m) {
    static const std::pair<short, const char*> names[] = {{POLLIN, "POLLIN"},   {POLLOUT, "POLLOUT"},
                                                          {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"},
                                                          {POLLRDHUP, "POLLRDHUP"}, {POLLNVAL, "POLLNVAL"}};
    std::string s;
    for (const auto& [bit, name] : names)
        if (m & bit) s += (s.empty() ? "" : "|") + std::string(name);
    return s.empty() ? "0" : s;
}

uint64_t Stack::wakeups(int fd) const {
    if (const netlink::NlSock* n = impl_->nl_of(fd)) return n->wakeups;
    const DgramSock* sk = impl_->sock_of(fd);
    return sk ? sk->wakeups : 0;
}

short Stack::poll_events(int fd) const { return poll_mask(*impl_, fd); }

static int sys_poll(StackImpl& s, pollfd* fds, nfds_t n, int timeout_ms) {
    USNET_TRACE(s.tracer, EntryPoll, n, timeout_ms);
    USNET_TRACE_INDENT(s.tracer);
    if (n > nfds_t(s.cfg.max_fds)) return fail(Err::PollNfds, "poll", -1);
    if (n && !fds) return fail(Err::Fault, "poll", -1);
    s.env->poll_input();
    auto scan = [&]() {
        int ready = 0;
        for (nfds_t i = 0; i < n; ++i) {
            fds[i].revents = 0;
            if (fds[i].fd < 0) continue;
            const short m = poll_mask(s, fds[i].fd);
            fds[i].revents = short(m & (fds[i].events | POLLERR | POLLHUP | POLLNVAL));
            if (fds[i].revents) ++ready;
        }
        return ready;
    };
    // Each descriptor's mask as datagram_poll gives it, once before and once after a wait.
    auto trace_masks = [&]() {
        if (!s.tracer) return;
        for (nfds_t i = 0; i < n; ++i)
            if (fds[i].fd >= 0)
                USNET_TRACE(s.tracer, PollSock, s.tracer->shown(fds[i].fd), poll_mask_name(poll_mask(s, fds[i].fd)));
    };
    int r = scan();
    trace_masks();
    if (r || timeout_ms == 0) {
        ok();
        return r;
    }
    const Time deadline = timeout_ms < 0 ? kNever : s.now() + Time(timeout_ms) * kMs;
    USNET_TRACE(s.tracer, PollWait, timeout_ms < 0 ? std::string("no timeout") : std::to_string(timeout_ms) + " ms");
    bool ready;
    {
        USNET_TRACE_INDENT(s.tracer);
        ready = s.env->run_until([&] { return scan() > 0; }, deadline);
    }
    r = scan();
    trace_masks();
    // do_poll: a handler that ran ends the wait with EINTR, SA_RESTART or not.
    if (!ready && r == 0 && s.env->take_interrupt()) return fail(Err::Interrupted, "poll", -1);
    if (!ready && r == 0 && deadline == kNever) return fail(Err::WouldBlockForever, "poll", -1);
    ok();
    return r;
}

int Stack::poll(pollfd* fds, nfds_t n, int timeout_ms) {
    return sock::traced(
        *impl_, "poll", -1, [&] { return sys_poll(*impl_, fds, n, timeout_ms); },
        [&](int r, int e) {
            return sock::head_str(std::to_string(n) + " fds, " + std::to_string(timeout_ms), r, e);
        });
}

}  // namespace usnet
