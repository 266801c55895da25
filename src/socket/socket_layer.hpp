// Internal helpers of the socket layer shared by its files.
#pragma once
#include <cerrno>

#include "core/stack_impl.hpp"

namespace usnet::sock {

// Records why the call failed (per thread) and sets errno; returns -1.
int fail(Err e, const char* call, int fd);
inline void succeed() { errno = errno; }

// Linux's SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF (2048 + sizeof(struct sk_buff), doubled for send).
constexpr int kMinRcvbuf = 2304;
constexpr int kMinSndbuf = 4608;

int do_setsockopt(StackImpl& s, DgramSock* sk, int level, int name, const void* val, socklen_t len);
int do_getsockopt(StackImpl& s, DgramSock* sk, int level, int name, void* val, socklen_t* len);
// Drops every multicast membership of the socket (on close).
void drop_memberships(StackImpl& s, DgramSock* sk);
// ip4_datagram_connect's route, kept as the socket's cached route.
Err connect_route(StackImpl& s, DgramSock* sk, Ip4 daddr, ip::RouteResult* rt);

}  // namespace usnet::sock
