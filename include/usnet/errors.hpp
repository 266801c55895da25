// One enum of every reason a socket call can fail, mapped to errno in exactly one table
// (src/socket/errors.cpp). Each entry names the Linux rule it reproduces, so a failing
// call can say why it failed, not only that it did.
#pragma once
#include <cstdint>

namespace usnet {

// X(name, errno, rule, reason)
#define USNET_ERRORS(X)                                                                                   \
    X(BadFd, EBADF, "fdget", "the descriptor is not open")                                                \
    X(Fault, EFAULT, "copy_from_user", "a pointer argument is not valid")                                 \
    X(SocketFamily, EAFNOSUPPORT, "__sock_create", "usnet implements AF_INET only")                       \
    X(SocketTypeInvalid, EINVAL, "__sys_socket", "the type is not a socket type or has unknown flags")    \
    X(SocketTypeUnsupported, ESOCKTNOSUPPORT, "inet_create", "usnet implements SOCK_DGRAM only")          \
    X(SocketProtocol, EPROTONOSUPPORT, "inet_create", "no datagram protocol with that number (UDP and ICMP only)") \
    X(PingGroup, EACCES, "ping_init_sock", "the caller's group is outside net.ipv4.ping_group_range")     \
    X(TooManyFiles, EMFILE, "get_unused_fd_flags", "the descriptor table is full")                        \
    X(AddrLen, EINVAL, "inet_bind/ip4_datagram_connect", "the address length is shorter than sockaddr_in") \
    X(AddrLenNegative, EINVAL, "move_addr_to_user", "the address length argument is negative")            \
    X(AddrFamily, EAFNOSUPPORT, "__inet_bind/ip4_datagram_connect", "the address family is not AF_INET")  \
    X(BindNotLocal, EADDRNOTAVAIL, "inet_addr_valid_or_nonlocal", "the address is not assigned to any interface of this host") \
    X(BindPrivileged, EACCES, "inet_port_requires_bind_service", "ports below 1024 need CAP_NET_BIND_SERVICE") \
    X(BindTwice, EINVAL, "__inet_bind", "the socket already has a local port (bound, autobound or connected)") \
    X(AddrInUse, EADDRINUSE, "udp_lib_lport_inuse", "another socket holds that address and port; both need SO_REUSEADDR or SO_REUSEPORT") \
    X(PortsExhausted, EAGAIN, "inet_autobind", "no free port in net.ipv4.ip_local_port_range")            \
    X(BroadcastDenied, EACCES, "ip4_datagram_connect/udp_sendmsg", "the destination is a broadcast address; set SO_BROADCAST") \
    X(NetUnreachable, ENETUNREACH, "ip_route_output", "no route to the destination network")              \
    X(RouteUnreachable, EHOSTUNREACH, "fib_props[RTN_UNREACHABLE]", "the route to the destination is of type unreachable") \
    X(RouteProhibit, EACCES, "fib_props[RTN_PROHIBIT]", "the route to the destination is of type prohibit") \
    X(RouteBlackhole, EINVAL, "fib_props[RTN_BLACKHOLE]", "the route to the destination is of type blackhole") \
    X(BadSource, EINVAL, "ip_route_output_key_hash", "the source address is not a usable local address")  \
    X(DeviceDown, ENETUNREACH, "ip_route_output_key_hash", "the bound or chosen output interface is down") \
    X(NotConnected, ENOTCONN, "inet_getname", "this socket has no peer; sendto() does not set one, connect() does") \
    X(ShutdownNotConnected, ENOTCONN, "inet_shutdown", "shutdown() on an unconnected datagram socket still marks it shut, but reports ENOTCONN") \
    X(ShutdownHow, EINVAL, "inet_shutdown", "how must be SHUT_RD, SHUT_WR or SHUT_RDWR")                   \
    X(MsgSize, EMSGSIZE, "udp_sendmsg", "a UDP datagram carries at most 65507 bytes over IPv4")          \
    X(MsgSizeMtu, EMSGSIZE, "__ip_append_data", "the datagram exceeds the path MTU and IP_MTU_DISCOVER forbids fragmenting") \
    X(SendOob, EOPNOTSUPP, "udp_sendmsg", "MSG_OOB has no meaning for datagram sockets")                   \
    X(DestRequired, EDESTADDRREQ, "udp_sendmsg", "the socket is not connected; give a destination with sendto()") \
    X(DestPortZero, EINVAL, "udp_sendmsg", "the destination port is 0")                                   \
    X(SendShutdown, EPIPE, "sock_alloc_send_pskb", "the socket was shut down for writing")                \
    X(CorkFamily, EINVAL, "udp_sendmsg", "the socket is corked with data of another family")             \
    X(NoBufs, ENOBUFS, "sock_alloc_send_pskb", "no packet buffer memory is left")                         \
    X(SndBufFull, EAGAIN, "sock_alloc_send_pskb", "the send buffer is full and the socket is non-blocking") \
    X(NeighbourFailed, EHOSTUNREACH, "arp_error_report", "ARP resolution of the next hop failed")         \
    X(WouldBlock, EAGAIN, "__skb_recv_udp", "no datagram is queued and the call must not block")           \
    X(TimedOut, EAGAIN, "sock_rcvtimeo/sock_sndtimeo", "the SO_RCVTIMEO/SO_SNDTIMEO timeout expired")      \
    X(ErrQueueEmpty, EAGAIN, "ip_recv_error", "the error queue is empty")                                 \
    X(WouldBlockForever, EDEADLK, "usnet simulation", "the call would block forever: nothing in the simulated world can wake it") \
    X(PeerRefused, ECONNREFUSED, "__udp4_lib_err", "an ICMP port unreachable came back for an earlier datagram") \
    X(PeerHostUnreach, EHOSTUNREACH, "__udp4_lib_err", "an ICMP host unreachable or time exceeded came back") \
    X(PeerNetUnreach, ENETUNREACH, "__udp4_lib_err", "an ICMP network unreachable came back")            \
    X(PeerProtoUnreach, ENOPROTOOPT, "__udp4_lib_err", "an ICMP protocol unreachable came back")          \
    X(PeerMsgSize, EMSGSIZE, "__udp4_lib_err", "an ICMP fragmentation needed came back")                 \
    X(PeerHostDown, EHOSTDOWN, "__udp4_lib_err", "an ICMP host unknown came back")                       \
    X(PeerNoNet, ENONET, "__udp4_lib_err", "an ICMP host isolated came back")                            \
    X(PeerProto, EPROTO, "__udp4_lib_err", "an ICMP parameter problem came back")                        \
    X(PeerOpNotSupp, EOPNOTSUPP, "__udp4_lib_err", "an ICMP source route failed came back")              \
    X(RecvOob, EOPNOTSUPP, "inet_recvmsg", "MSG_OOB has no meaning for datagram sockets")                  \
    X(OptLen, EINVAL, "sock_setsockopt", "the option length is too short for the option")                 \
    X(OptUnknown, ENOPROTOOPT, "sock_setsockopt/do_ip_setsockopt", "no such option at this level")        \
    X(OptValue, EINVAL, "do_ip_setsockopt", "the option value is out of range")                           \
    X(OptNotSupported, EOPNOTSUPP, "usnet", "usnet does not implement this option's feature (see the README's limits)") \
    X(OptLevelUnsupported, EOPNOTSUPP, "do_ip_getsockopt", "getsockopt at a level other than SOL_SOCKET, SOL_IP or SOL_UDP") \
    X(OptUnixOnly, EOPNOTSUPP, "sk_setsockopt(SO_PASSCRED)", "SO_PASSCRED applies only to AF_UNIX and netlink sockets") \
    X(OptTimeoutDomain, EDOM, "sock_set_timeout", "tv_usec must be within 0..999999")                    \
    X(McastAddrNotAvail, EADDRNOTAVAIL, "do_ip_setsockopt(IP_MULTICAST_IF)", "no interface has that address or index") \
    X(OptNoDevice, ENODEV, "sock_bindtoindex", "no interface with that name or index")                    \
    X(OptPermission, EPERM, "sock_setsockopt", "the option needs a capability")                           \
    X(McastNoDevice, ENODEV, "ip_mc_join_group", "no interface for that multicast group")                 \
    X(McastNotMulticast, EINVAL, "ip_mc_join_group", "the group address is not multicast")                \
    X(McastAlreadyMember, EADDRINUSE, "ip_mc_join_group", "the socket already joined that group on that interface") \
    X(McastNotMember, EADDRNOTAVAIL, "ip_mc_leave_group", "the socket has not joined that group")         \
    X(McastNoBufs, ENOBUFS, "ip_mc_join_group", "the socket reached net.ipv4.igmp_max_memberships")       \
    X(IoctlUnknown, ENOTTY, "sock_ioctl", "the ioctl is not implemented for datagram sockets")            \
    X(FcntlCmd, EINVAL, "do_fcntl", "the fcntl command is not supported")                                  \
    X(NotStream, EOPNOTSUPP, "sock_no_listen/sock_no_accept", "datagram sockets do not listen or accept")  \
    X(PollNfds, EINVAL, "do_sys_poll", "nfds exceeds RLIMIT_NOFILE")                                       \
    X(InvalidArg, EINVAL, "(various)", "an argument is out of range")

enum class Err : uint16_t {
    None = 0,
#define USNET_ERR_ENUM(name, no, rule, reason) name,
    USNET_ERRORS(USNET_ERR_ENUM)
#undef USNET_ERR_ENUM
        Count
};

// errno for an error (0 for Err::None).
int to_errno(Err e);
// The Linux function or rule this reproduces, e.g. "inet_getname".
const char* rule_of(Err e);
// One sentence: why, and what would make the call succeed.
const char* reason_of(Err e);
const char* name_of(Err e);
// The pending-socket-error reason for an errno set from ICMP (sk_err).
Err pending_error_from_errno(int err);

}  // namespace usnet
