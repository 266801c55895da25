// Internal helpers of the socket layer shared by its files.
#pragma once
#include <netinet/in.h>

#include <cerrno>

#include "core/stack_impl.hpp"
#include "socket/call_names.hpp"

namespace usnet::sock {

// Clears the record of the calling thread's last failure (a call that succeeded).
void ok_call();

// Interface ioctls and SIOCGSTAMP (ifioctl.cpp). kIfNotMine: not one of theirs, go on.
constexpr int kIfNotMine = -2;
// sock_ioctl's SIOCGIFCONF, and inet_ioctl's ifreq requests on AF_INET/AF_PACKET sockets.
int if_ioctl_early(StackImpl& s, int family, unsigned long req, void* arg, int fd);
// sock_do_ioctl once the protocol said -ENOIOCTLCMD: dev_ioctl, or ENOTTY.
int if_ioctl_fallback(StackImpl& s, unsigned long req, void* arg, int fd);
bool if_is_stamp_req(unsigned long req);
int gettstamp(StackImpl& s, DgramSock* sk, unsigned long req, void* arg, int fd);
bool is_interface_ioctl(int family, unsigned long req);

// Records why the call failed (per thread) and sets errno; returns -1.
int fail(Err e, const char* call, int fd);
inline void succeed() { errno = errno; }
// A call that succeeded: no reason on record (for the netlink layer).
void clear_error();

// Linux's SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF (2048 + sizeof(struct sk_buff), doubled for send).
constexpr int kMinRcvbuf = 2304;
constexpr int kMinSndbuf = 4608;

// Runs one socket call. Traced, its steps are framed by the call's first line, which
// head(r, errno) renders: "getpeername(3) = -1 ENOTCONN". (socket() is filtered by the
// descriptor it returns.)
template <class F, class H>
[[gnu::noinline, gnu::cold]] auto traced_call(StackImpl& s, const char* call, int fd, F&& body, H&& head) -> decltype(body()) {
    trace::Tracer& t = *s.tracer;
    const char* name = trace::t_call_as ? trace::t_call_as : call;
    trace::t_call_as = nullptr;
    t.begin_call(name, fd);
    const auto r = body();
    const int e = errno;
    const int about = fd >= 0 ? fd : (std::string_view(call) == "socket" && r >= 0 ? int(r) : -1);
    t.end_call(std::string(name) + "(" + head(r, e), long(r), about);
    errno = e;
    return r;
}
template <class F, class H>
inline auto traced(StackImpl& s, const char* call, int fd, F&& body, H&& head) -> decltype(body()) {
    if (__builtin_expect(s.tracer == nullptr, 1)) return body();
    return traced_call(s, call, fd, body, head);
}

// The rest of a call's first line after "name(": "args) = result[ extra]".
inline std::string head_str(const std::string& args, long r, int e, const std::string& extra = "") {
    return args + ") = " + result_str(r, e) + (extra.empty() ? "" : " " + extra);
}

// The step every call on a descriptor starts with: the entry function and what the
// descriptor names. Returns the socket (null: not a socket, EBADF reported).
DgramSock* enter_traced(StackImpl& s, const char* entry, int fd);
inline DgramSock* enter(StackImpl& s, const char* entry, int fd) {
    if (__builtin_expect(s.tracer != nullptr, 0)) return enter_traced(s, entry, fd);
    return s.sock_of(fd);
}
// The same for a send or receive call, whose entry function follows from its name.
const char* io_entry(const char* call);
inline DgramSock* enter_io(StackImpl& s, trace::Tracer* tr, const char* call, int fd) {
    if (__builtin_expect(tr != nullptr, 0)) return enter_traced(s, io_entry(call), fd);
    return s.sock_of(fd);
}

int do_setsockopt(StackImpl& s, DgramSock* sk, int level, int name, const void* val, socklen_t len);
int do_getsockopt(StackImpl& s, DgramSock* sk, int level, int name, void* val, socklen_t* len);
// Drops every multicast membership of the socket (on close).
void drop_memberships(StackImpl& s, DgramSock* sk);
// Multicast memberships and source filters (mcast.cpp).
link::Interface* mc_find_dev(StackImpl& s, ip_mreqn* m);
bool is_membership_option(int name);
int mc_setsockopt(StackImpl& s, DgramSock* sk, int name, const void* val, socklen_t len);
int mc_getsockopt(StackImpl& s, DgramSock* sk, int name, void* val, socklen_t* len);
// ip4_datagram_connect's route, kept as the socket's cached route.
Err connect_route(StackImpl& s, DgramSock* sk, Ip4 daddr, ip::RouteResult* rt);

}  // namespace usnet::sock
