// One enum of every reason a socket call can fail, mapped to errno in exactly one table
// (src/socket/errors.cpp). Each entry names the Linux rule it reproduces, so a failing
// call can say why it failed, not only that it did.
#pragma once
#include <cstdint>

namespace usnet {

// X(name, errno, rule, reason)
// X(name, errno, rule, reason, calls): calls lists every call that can fail this way.
#define USNET_ERRORS(X) \
    X(BadFd, EBADF, "fdget", "the descriptor is not open", "bind connect getsockname getpeername send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read shutdown close setsockopt getsockopt ioctl fcntl listen accept") \
    X(Fault, EFAULT, "copy_from_user", "a pointer argument is not valid", "bind connect getsockname getpeername sendmsg recvmsg setsockopt getsockopt ioctl poll") \
    X(SocketFamily, EAFNOSUPPORT, "__sock_create", "usnet implements AF_INET only", "socket") \
    X(SocketTypeInvalid, EINVAL, "__sys_socket", "the type is not a socket type or has unknown flags", "socket") \
    X(SocketTypeUnsupported, ESOCKTNOSUPPORT, "inet_create", "usnet implements SOCK_DGRAM only", "socket") \
    X(SocketProtocol, EPROTONOSUPPORT, "inet_create", "no datagram protocol with that number (UDP and ICMP only)", "socket") \
    X(PingGroup, EACCES, "ping_init_sock", "the caller's group is outside net.ipv4.ping_group_range", "socket") \
    X(TooManyFiles, EMFILE, "get_unused_fd_flags", "the descriptor table is full", "socket") \
    X(AddrLenRange, EINVAL, "move_addr_to_kernel", "the address length is negative or larger than sockaddr_storage (128)", "bind connect sendto") \
    X(IovTooMany, EMSGSIZE, "import_iovec", "more than UIO_MAXIOV (1024) iovecs", "sendmsg sendmmsg recvmsg recvmmsg") \
    X(SocketProtocolRange, EINVAL, "inet_create", "the protocol number is negative or not below IPPROTO_MAX", "socket") \
    X(AddrLen, EINVAL, "inet_bind/ip4_datagram_connect", "the address length is shorter than sockaddr_in", "bind connect sendto sendmsg sendmmsg") \
    X(AddrLenNegative, EINVAL, "move_addr_to_user", "the address length argument is negative", "getsockname getpeername recvfrom") \
    X(AddrFamily, EAFNOSUPPORT, "__inet_bind/ip4_datagram_connect", "the address family is not AF_INET", "bind connect sendto sendmsg sendmmsg") \
    X(BindNotLocal, EADDRNOTAVAIL, "inet_addr_valid_or_nonlocal", "the address is not assigned to any interface of this host", "bind") \
    X(BindPrivileged, EACCES, "inet_port_requires_bind_service", "ports below 1024 need CAP_NET_BIND_SERVICE", "bind") \
    X(BindTwice, EINVAL, "__inet_bind", "the socket already has a local port (bound, autobound or connected)", "bind") \
    X(AddrInUse, EADDRINUSE, "udp_lib_lport_inuse", "another socket holds that address and port; both need SO_REUSEADDR or SO_REUSEPORT", "bind") \
    X(PortsExhausted, EAGAIN, "inet_autobind", "no free port in net.ipv4.ip_local_port_range", "connect send sendto sendmsg sendmmsg write") \
    X(BroadcastDenied, EACCES, "ip4_datagram_connect/udp_sendmsg", "the destination is a broadcast address; set SO_BROADCAST", "connect send sendto sendmsg sendmmsg write") \
    X(NetUnreachable, ENETUNREACH, "ip_route_output", "no route to the destination network", "connect send sendto sendmsg sendmmsg write") \
    X(RouteUnreachable, EHOSTUNREACH, "fib_props[RTN_UNREACHABLE]", "the route to the destination is of type unreachable", "connect send sendto sendmsg sendmmsg write") \
    X(RouteProhibit, EACCES, "fib_props[RTN_PROHIBIT]", "the route to the destination is of type prohibit", "connect send sendto sendmsg sendmmsg write") \
    X(RouteBlackhole, EINVAL, "fib_props[RTN_BLACKHOLE]", "the route to the destination is of type blackhole", "connect send sendto sendmsg sendmmsg write") \
    X(BadSource, EINVAL, "ip_route_output_key_hash", "the source address is not a usable local address", "connect send sendto sendmsg sendmmsg write") \
    X(DeviceDown, ENETUNREACH, "ip_route_output_key_hash", "the bound or chosen output interface is down", "connect send sendto sendmsg sendmmsg write") \
    X(NotConnected, ENOTCONN, "inet_getname", "this socket has no peer; sendto() does not set one, connect() does", "getpeername getsockopt") \
    X(ShutdownNotConnected, ENOTCONN, "inet_shutdown", "shutdown() on an unconnected datagram socket still marks it shut, but reports ENOTCONN", "shutdown") \
    X(ShutdownHow, EINVAL, "inet_shutdown", "how must be SHUT_RD, SHUT_WR or SHUT_RDWR", "shutdown") \
    X(MsgSize, EMSGSIZE, "udp_sendmsg", "a UDP datagram carries at most 65507 bytes over IPv4", "send sendto sendmsg sendmmsg write recvmsg recvmmsg") \
    X(MsgSizeMtu, EMSGSIZE, "__ip_append_data", "the datagram exceeds the path MTU and IP_MTU_DISCOVER forbids fragmenting", "send sendto sendmsg sendmmsg write") \
    X(NoSocketpair, EOPNOTSUPP, "sock_no_socketpair", "IPv4 datagram sockets do not come in connected pairs (socketpair is for AF_UNIX)", "socketpair") \
    X(SendOob, EOPNOTSUPP, "udp_sendmsg", "MSG_OOB has no meaning for datagram sockets", "send sendto sendmsg sendmmsg write") \
    X(DestRequired, EDESTADDRREQ, "udp_sendmsg", "the socket is not connected; give a destination with sendto()", "send sendto sendmsg sendmmsg write") \
    X(DestPortZero, EINVAL, "udp_sendmsg", "the destination port is 0", "sendto sendmsg sendmmsg") \
    X(SendShutdown, EPIPE, "sock_alloc_send_pskb", "the socket was shut down for writing", "send sendto sendmsg sendmmsg write") \
    X(NoBufs, ENOBUFS, "sock_alloc_send_pskb", "no packet buffer memory is left", "send sendto sendmsg sendmmsg write") \
    X(WouldBlock, EAGAIN, "__skb_recv_udp", "no datagram is queued and the call must not block", "recv recvfrom recvmsg recvmmsg read") \
    X(TimedOut, EAGAIN, "sock_rcvtimeo/sock_sndtimeo", "the SO_RCVTIMEO/SO_SNDTIMEO timeout expired", "recv recvfrom recvmsg recvmmsg read") \
    X(ErrQueueEmpty, EAGAIN, "ip_recv_error", "the error queue is empty", "recvmsg recvmmsg") \
    X(Interrupted, EINTR, "sock_intr_errno/do_poll", "a signal handler ran while the call waited (a receive restarts instead when no SO_RCVTIMEO is set and every handler has SA_RESTART)", "recv recvfrom recvmsg recvmmsg read poll") \
    X(WouldBlockForever, EDEADLK, "usnet simulation", "the call would block forever: nothing in the simulated world can wake it", "recv recvfrom recvmsg recvmmsg read poll") \
    X(PeerRefused, ECONNREFUSED, "__udp4_lib_err", "an ICMP port unreachable came back for an earlier datagram", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerHostUnreach, EHOSTUNREACH, "__udp4_lib_err", "an ICMP host unreachable or time exceeded came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerNetUnreach, ENETUNREACH, "__udp4_lib_err", "an ICMP network unreachable came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerProtoUnreach, ENOPROTOOPT, "__udp4_lib_err", "an ICMP protocol unreachable came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerMsgSize, EMSGSIZE, "__udp4_lib_err", "an ICMP fragmentation needed came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerHostDown, EHOSTDOWN, "__udp4_lib_err", "an ICMP host unknown came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerNoNet, ENONET, "__udp4_lib_err", "an ICMP host isolated came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerProto, EPROTO, "__udp4_lib_err", "an ICMP parameter problem came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(PeerOpNotSupp, EOPNOTSUPP, "__udp4_lib_err", "an ICMP source route failed came back", "send sendto sendmsg sendmmsg write recv recvfrom recvmsg recvmmsg read") \
    X(OptLen, EINVAL, "sock_setsockopt", "the option length is too short for the option", "setsockopt") \
    X(OptUnknown, ENOPROTOOPT, "sock_setsockopt/do_ip_setsockopt", "no such option at this level", "setsockopt getsockopt") \
    X(OptValue, EINVAL, "do_ip_setsockopt", "the option value is out of range", "setsockopt getsockopt") \
    X(OptNotSupported, EOPNOTSUPP, "usnet", "usnet does not implement this option's feature (see the README's limits)", "setsockopt") \
    X(OptLevelUnsupported, EOPNOTSUPP, "do_ip_getsockopt", "getsockopt at a level other than SOL_SOCKET, SOL_IP or SOL_UDP", "getsockopt") \
    X(OptUnixOnly, EOPNOTSUPP, "sk_setsockopt(SO_PASSCRED)", "SO_PASSCRED applies only to AF_UNIX and netlink sockets", "setsockopt getsockopt") \
    X(OptTimeoutDomain, EDOM, "sock_set_timeout", "tv_usec must be within 0..999999", "setsockopt") \
    X(PeekOffUnsupported, EOPNOTSUPP, "sk_setsockopt(SO_PEEK_OFF)", "ping sockets (inet_sockraw_ops) have no set_peek_off; SO_PEEK_OFF is for UDP", "setsockopt getsockopt") \
    X(UdpEncapType, ENOPROTOOPT, "udp_lib_setsockopt(UDP_ENCAP)", "not an encapsulation type Linux knows (0, UDP_ENCAP_ESPINUDP, UDP_ENCAP_L2TPINUDP)", "setsockopt") \
    X(FragNoBufs, ENOBUFS, "__ip_append_data", "the datagram needs more fragments than twice SO_SNDBUF holds; raise SO_SNDBUF or send less", "send sendto sendmsg sendmmsg write") \
    X(RecvmmsgTimeout, EINVAL, "poll_select_set_timeout", "the timeout has a negative tv_sec, or a tv_nsec outside 0..999999999", "recvmmsg") \
    X(RecvOob, EOPNOTSUPP, "ping_recvmsg", "ping sockets have no out-of-band data to receive (MSG_OOB)", "recv recvfrom recvmsg recvmmsg") \
    X(UnicastIfNoDevice, EADDRNOTAVAIL, "do_ip_setsockopt(IP_UNICAST_IF)", "no interface has that index (IP_UNICAST_IF takes it in network byte order)", "setsockopt") \
    X(McastAddrNotAvail, EADDRNOTAVAIL, "do_ip_setsockopt(IP_MULTICAST_IF)", "no interface has that address or index", "setsockopt") \
    X(OptNoDevice, ENODEV, "sock_bindtoindex", "no interface with that name or index", "setsockopt getsockopt connect send sendto sendmsg sendmmsg write") \
    X(OptPermission, EPERM, "sock_setsockopt", "the option needs a capability", "setsockopt") \
    X(FilterLocked, EPERM, "sk_attach_filter/sk_detach_filter", "SO_LOCK_FILTER is set: the socket filter cannot be changed, and the lock cannot be lifted", "setsockopt") \
    X(FilterInvalid, EINVAL, "bpf_check_classic", "the classic BPF program is empty, longer than 4096 instructions, or not valid (unknown opcode, jump out of range, scratch word read before written, no final return)", "setsockopt") \
    X(FilterNone, ENOENT, "sk_detach_filter", "no filter is attached", "setsockopt") \
    X(FilterRoom, EINVAL, "sk_get_filter", "the option length (counted in instructions for SO_GET_FILTER) is shorter than the program", "getsockopt") \
    X(McastNoDevice, ENODEV, "ip_mc_join_group", "no interface for that multicast group", "setsockopt getsockopt") \
    X(McastNotMulticast, EINVAL, "ip_mc_join_group", "the group address is not multicast", "setsockopt") \
    X(McastAlreadyMember, EADDRINUSE, "ip_mc_join_group", "the socket already joined that group on that interface", "setsockopt") \
    X(McastNotMember, EADDRNOTAVAIL, "ip_mc_leave_group", "the socket has not joined that group", "setsockopt") \
    X(McastNoBufs, ENOBUFS, "ip_mc_join_group", "the socket reached net.ipv4.igmp_max_memberships", "setsockopt") \
    X(McastNoPriorJoin, EINVAL, "ip_mc_source/ip_mc_msfilter", "a source filter needs the socket to have joined the group on that interface first", "setsockopt") \
    X(McastFilterMode, EINVAL, "ip_mc_source", "the membership's source list is in the other filter mode (include vs exclude)", "setsockopt") \
    X(McastSourceExists, EADDRNOTAVAIL, "ip_mc_source", "that source is already in the membership's source list", "setsockopt") \
    X(McastSourceMissing, EADDRNOTAVAIL, "ip_mc_source", "that source is not in the membership's source list", "setsockopt") \
    X(McastTooManySources, ENOBUFS, "ip_mc_source/ip_mc_msfilter", "the source list would exceed net.ipv4.igmp_max_msf (or the option net.core.optmem_max)", "setsockopt") \
    X(McastBadFilterMode, EINVAL, "ip_mc_msfilter", "the filter mode is neither MCAST_INCLUDE nor MCAST_EXCLUDE", "setsockopt") \
    X(McastGroupFamily, EINVAL, "ip_mcast_join_leave/ip_mc_gsfget", "the group's sockaddr is not AF_INET", "setsockopt getsockopt") \
    X(McastSourceFamily, EADDRNOTAVAIL, "do_mcast_group_source/set_mcast_msfilter", "a group or source sockaddr is not AF_INET", "setsockopt") \
    X(McastFilterNotJoined, EADDRNOTAVAIL, "ip_mc_msfget/ip_mc_gsfget", "the socket has not joined that group on that interface", "getsockopt") \
    X(McastGetNotMulticast, EINVAL, "ip_mc_msfget/ip_mc_gsfget", "the group address is not multicast", "getsockopt") \
    X(IoctlUnknown, ENOTTY, "sock_ioctl", "the ioctl is not implemented for datagram sockets", "ioctl") \
    X(IfNoDevice, ENODEV, "dev_get_by_name/dev_get_by_index", "no interface has that name (SIOCGIFNAME: that index)", "ioctl") \
    X(IfNoAddr, EADDRNOTAVAIL, "devinet_ioctl", "the interface has no IPv4 address (or none with that label)", "ioctl") \
    X(IfInvalid, EINVAL, "devinet_ioctl/dev_ifsioc", "the request or its value is not valid for this interface", "ioctl") \
    X(IfPermission, EPERM, "dev_ioctl", "changing an interface needs CAP_NET_ADMIN", "ioctl") \
    X(IfNotSupported, EOPNOTSUPP, "dev_ifsioc", "the interface's driver does not implement this request", "ioctl") \
    X(IfUsnetLimit, EOPNOTSUPP, "usnet", "usnet does not implement this interface request (see the README's limits)", "ioctl") \
    X(StampNone, ENOENT, "sock_gettstamp", "no datagram has been received on this socket yet", "ioctl") \
    X(FcntlCmd, EINVAL, "do_fcntl", "the fcntl command is not supported", "fcntl") \
    X(NotStream, EOPNOTSUPP, "sock_no_listen/sock_no_accept", "datagram sockets do not listen or accept", "listen accept") \
    X(PollNfds, EINVAL, "do_sys_poll", "nfds exceeds RLIMIT_NOFILE", "poll") \
    X(InvalidArg, EINVAL, "(various)", "an argument is out of range", "send sendto sendmsg sendmmsg write") \
    X(NetlinkType, ESOCKTNOSUPPORT, "netlink_create", "a netlink socket is SOCK_RAW or SOCK_DGRAM", "socket") \
    X(NetlinkProtocol, EPROTONOSUPPORT, "netlink_create", "usnet answers NETLINK_ROUTE only (under usnet run, other netlink families stay the kernel's)", "socket") \
    X(NetlinkAddr, EINVAL, "netlink_bind/netlink_connect/netlink_sendmsg", "the address is shorter than sockaddr_nl or its family is not AF_NETLINK", "bind connect sendto sendmsg") \
    X(NetlinkBound, EINVAL, "netlink_bind", "the socket already has another port id (bound, or autobound by a send)", "bind") \
    X(NetlinkPortInUse, EADDRINUSE, "netlink_insert", "another netlink socket of the program has that port id", "bind") \
    X(NetlinkNoPeer, ECONNREFUSED, "netlink_unicast", "no netlink socket has that port id (0 is the kernel, which usnet answers for)", "send sendto sendmsg") \
    X(NetlinkMsgSize, EMSGSIZE, "netlink_sendmsg", "the message is larger than the send buffer (SO_SNDBUF less 32 bytes)", "send sendto sendmsg") \
    X(NetlinkOptLen, EINVAL, "netlink_getsockopt", "the option buffer is shorter than an int", "getsockopt") \
    X(NetlinkShutdown, EOPNOTSUPP, "sock_no_shutdown", "netlink sockets cannot be shut down", "shutdown")

enum class Err : uint16_t {
    None = 0,
#define USNET_ERR_ENUM(name, no, rule, reason, calls) name,
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
// The calls that can fail with this error, separated by spaces.
const char* calls_of(Err e);
// The pending-socket-error reason for an errno set from ICMP (sk_err).
Err pending_error_from_errno(int err);

}  // namespace usnet
