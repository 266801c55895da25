// Every trace point of the stack: X(Id, template). In a template, `name` (in backticks)
// is a Linux identifier whose behaviour the step reproduces: a function, a dispatch table,
// a field or a constant. Each must be listed in docs/linux-names.txt (a test checks them
// all). {} takes the next argument. A point ending in "-> -{}" reports the decision that
// failed the call.
#pragma once

#define USNET_TRACE_POINTS(X)                                                                                           \
    /* ---- system call entry: the descriptor and the socket it names ---- */                                         \
    X(EntrySocket, "`__sys_socket` -> `__sock_create`(family {}, type {}, protocol {})")                                \
    X(EntrySocketpair, "`__sys_socketpair`: both sockets are created first (`__sock_create`), then the pair is asked for") \
    X(EntryFd, "`{}` -> `sockfd_lookup_light`({}): {}")                                                                 \
    X(EntryRead, "`ksys_read` -> `vfs_read` -> `sock_read_iter`({}): {} -> `sock_recvmsg`")                                \
    X(EntryWrite, "`ksys_write` -> `vfs_write` -> `sock_write_iter`({}): {} -> `__sock_sendmsg`")                          \
    X(EntryReadv, "`do_readv` -> `vfs_readv` -> `sock_read_iter`({}): {} -> `sock_recvmsg`")                               \
    X(EntryWritev, "`do_writev` -> `vfs_writev` -> `sock_write_iter`({}): {} -> `__sock_sendmsg`")                         \
    X(EntryClose, "close({}) -> `fput` -> `__fput` -> `sock_close` -> `__sock_release`: {}")                            \
    X(EntryPoll, "`do_sys_poll`: {} descriptors, timeout {}")                                                           \
    X(NoSocket, "`{}` -> `sockfd_lookup_light`({}): no socket with that descriptor -> -EBADF")                                     \
    /* ---- socket(): family, then protocol ---- */                                                                   \
    X(CreateFamily, "`net_families`[AF_INET]->create = `inet_create` [`inet_family_ops`]")                               \
    X(CreateProto, "`inetsw`[SOCK_DGRAM]: protocol {} -> `inet_dgram_ops` / `{}`")                                          \
    X(CreatePingGroup, "`ping_init_sock`: group {} within `ping_group_range` {}..{}")                                   \
    X(CreateFd, "`sock_map_fd` -> descriptor {}{}")                                                                     \
    X(SocketpairNo, "sock->ops->socketpair = `sock_no_socketpair` [`inet_dgram_ops`] -> -EOPNOTSUPP")                    \
    /* ---- bind ---- */                                                                                                \
    X(BindOps, "sock->ops->bind = `inet_bind` [`inet_dgram_ops`] -> `__inet_bind`({}:{})")                              \
    X(BindPingOps, "sock->ops->bind = `inet_bind` [`inet_dgram_ops`] -> sk->sk_prot->bind = `ping_bind` [`ping_prot`]({})") \
    X(BindAddrType, "`inet_addr_type_table`({}) = {}")                                                                  \
    X(BindTwice, "`inet->inet_num` = {} already: a socket binds once -> -EINVAL")                                        \
    X(BindGetPort, "sk->sk_prot->get_port = `udp_v4_get_port` [`udp_prot`] -> `udp_lib_get_port`({})")                  \
    X(BindPingGetPort, "sk->sk_prot->get_port = `ping_get_port` [`ping_prot`]({})")                                      \
    X(PortPrimary, "`udp_lib_lport_inuse`: {} other socket(s) on port {}, newest first")                                \
    X(PortSecondary, "`hslot->count` {} > 10 and a specific address: `udp_lib_lport_inuse2` on the {}:{} chain, then 0.0.0.0:{}") \
    X(PortSocket, "fd {} ({}:{}{}{}): {}")                                                                              \
    X(PortFree, "port {} is free for this socket{}")                                                                    \
    X(PortInUse, "port {} is taken -> -EADDRINUSE")                                                                     \
    X(PortEphemeral, "port 0: a random free port in `ip_local_port_range` {}-{} -> {}")                                  \
    X(PortIdent, "`ping_get_port`: identifier {}")                                                                      \
    X(BindDone, "`inet_rcv_saddr` = `inet_saddr` = {}, `inet_sport` = {}")                                              \
    X(BindLocks, "`SOCK_BINDADDR_LOCK` {}, `SOCK_BINDPORT_LOCK` {} (what a disconnect keeps)")                        \
    /* ---- connect ---- */                                                                                             \
    X(ConnectOps, "sock->ops->connect = `inet_dgram_connect` [`inet_dgram_ops`]")                                        \
    X(ConnectUnspec, "sa_family == AF_UNSPEC -> sk->sk_prot->disconnect = `udp_disconnect` [`udp_prot`] -> `__udp_disconnect`") \
    X(DisconnectDone, "`inet_daddr` = 0, `inet_dport` = 0, `sk_state` = `TCP_CLOSE`; local address {}, port {}")                                 \
    X(Autobind, "`inet_autobind`: no local port yet -> sk->sk_prot->get_port(0) = `udp_v4_get_port`: port {} chosen")    \
    X(AutobindPing, "`inet_autobind`: no identifier yet -> `ping_get_port`(0): identifier {} chosen")                    \
    X(ConnectProto, "sk->sk_prot->connect = `ip4_datagram_connect` [`{}`] -> `__ip4_datagram_connect`({}:{})")             \
    X(ConnectRoute, "`ip_route_connect`(daddr {}, saddr {}, oif {})")                                                   \
    X(ConnectBroadcast, "`RTCF_BROADCAST` and no `SOCK_BROADCAST` (SO_BROADCAST unset) -> -EACCES")                     \
    X(ConnectSaddr, "`inet_saddr` = {}{}")                                                                              \
    X(ConnectRcvSaddr, "`inet_rcv_saddr` = {} -> sk->sk_prot->rehash = `udp_v4_rehash`")                               \
    X(ConnectDone, "`inet_daddr` = {}, `inet_dport` = {}; `sk_state` = `TCP_ESTABLISHED`; `sk_dst_set` (route cached)") \
    /* ---- getsockname / getpeername ---- */                                                                           \
    X(GetnameOps, "sock->ops->getname = `inet_getname` [`inet_dgram_ops`], peer={}")                                    \
    X(GetnameNoPeer, "`inet->inet_dport` == 0 (no peer: sendto does not set one; connect does) -> -ENOTCONN")            \
    X(GetnamePeer, "sin_addr = `inet_daddr` {}, sin_port = `inet_dport` {}")                                             \
    X(GetnameLocal, "sin_addr = {} {}, sin_port = `inet_sport` {}")                                                      \
    X(GetnameCopy, "`move_addr_to_user`: {} of 16 bytes copied, length set to 16")                                       \
    /* ---- send ---- */                                                                                                \
    X(SendOps, "`__sock_sendmsg` -> sock->ops->sendmsg = `inet_sendmsg` [`inet_dgram_ops`] -> `inet_send_prepare`")      \
    X(SendProto, "sk->sk_prot->sendmsg = `udp_sendmsg` [`udp_prot`]: {} bytes to {}:{} ({})")                           \
    X(SendPingProto, "sk->sk_prot->sendmsg = `ping_v4_sendmsg` [`ping_prot`]: {} bytes to {} ({})")                      \
    X(SendCorked, "`up->pending`: appended to the corked datagram for {}:{} (now {} bytes)")                            \
    X(SendCork, "MSG_MORE / `UDP_CORK`: held as a corked datagram (`up->pending`), {} bytes")                             \
    X(SendRouteCached, "connected: `sk_dst_check` -> the route cached at connect (dev {}, src {})")                       \
    X(SendRoute, "`ip_route_output_flow`(daddr {}, saddr {}, oif {}{})")                                               \
    X(SendBroadcast, "`RTCF_BROADCAST` and no `SOCK_BROADCAST` (SO_BROADCAST unset) -> -EACCES")                        \
    X(SendTooBig, "`__ip_append_data`: {} bytes exceed the path MTU {} with DF required ({}) -> -EMSGSIZE")              \
    X(SendPendingErr, "`sock_alloc_send_pskb`: pending `sk->sk_err` {} reported now (and cleared) -> -{}")              \
    X(SendMake, "`ip_make_skb` -> `__ip_append_data`: {} bytes")                                                        \
    X(SendSegment, "`UDP_SEGMENT` {}: {} bytes leave as {} datagrams (`udp_send_skb`, GSO done in software)")             \
    X(SendUdp, "`udp_send_skb`: UDP {} -> {}, length {}, checksum 0x{}")                                                \
    X(SendUdpNoCsum, "`udp_send_skb`: UDP {} -> {}, length {}, checksum 0 (`SO_NO_CHECK`)")                             \
    X(SendUdpOffload, "`udp_send_skb` -> `udp4_hwcsum`: UDP {} -> {}, length {}, the pseudo-header sum only; the device finishes it (`CHECKSUM_PARTIAL`)") \
    X(SendUdpPartial, "`udp_send_skb`: UDP {} -> {}, length {}, checksum left to the device (`CHECKSUM_PARTIAL`: loopback)") \
    X(SendPing, "`ping_v4_push_pending_frames`: ICMP echo, identifier {} stamped")                                     \
    /* ---- routing (ip_route_output_key_hash) ---- */                                                                  \
    X(RouteFound, "`fib_lookup`: {} {} -> {}, src {}, mtu {}")                                                        \
    X(RouteLocal, "`fib_lookup`: {} is local (`RTN_LOCAL`, table local) -> dev lo, src {}")                              \
    X(RouteZero, "daddr 0.0.0.0 means this host -> dev lo, src {}")                                                    \
    X(RouteOif, "oif {} ({}): {} leaves by that device, src {}")                                                        \
    X(RouteNone, "`fib_lookup`: no route to {} -> -ENETUNREACH")                                                       \
    X(RouteType, "`fib_lookup`: {} is {} -> -{}")                                                                      \
    /* ---- IP output ---- */                                                                                           \
    X(IpOutput, "`ip_send_skb` -> `ip_local_out` -> `ip_output`: IPv4 {} -> {}, proto {}, ttl {}, id {}, {} bytes{}")    \
    X(IpFragment, "`ip_finish_output`: {} bytes > mtu {} -> `ip_do_fragment`: {} fragments")                             \
    X(DevLoopback, "`ip_finish_output2` -> `dev_queue_xmit`(lo) -> `loopback_xmit` -> `__netif_rx` (backlog)")            \
    X(DevLoopCopy, "`ip_mc_output`: a copy for this host -> `dev_loopback_xmit`")                                       \
    X(NeighOutput, "`ip_finish_output2`: dev {}, next hop {} -> `neigh_output`")                                         \
    X(NeighHit, "neigh {}: {} {} -> `neigh_resolve_output` -> `dev_queue_xmit`({})")                                     \
    X(NeighStale, "neigh {}: `NUD_STALE` -> `__neigh_event_send`: `NUD_DELAY` (probe in 5 s unless confirmed), sent to {}") \
    X(NeighQueue, "neigh {}: {} -> `__neigh_event_send`: skb queued ({} waiting){}")                                    \
    X(NeighNew, "neigh {}: none -> `neigh_create`: `NUD_INCOMPLETE`")                                                   \
    X(ArpSolicit, "`arp_solicit` -> `arp_send`(`ARPOP_REQUEST`, who-has {} tell {}) to {}")                             \
    X(DevMulticast, "`ip_finish_output2`: multicast {} -> `ip_eth_mc_map` {} -> `dev_queue_xmit`({})")                   \
    X(DevBroadcast, "`ip_finish_output2`: broadcast -> ff:ff:ff:ff:ff:ff -> `dev_queue_xmit`({})")                        \
    X(DevDown, "dev {} is down or has no link: the frame is dropped")                                                 \
    /* ---- frames arriving ---- */                                                                                     \
    X(RxFrame, "`__netif_receive_skb`: {} -> {}, ethertype {}")                                                         \
    X(RxNotForUs, "dropped: destination MAC {} is neither {}, broadcast nor a joined group (`PACKET_OTHERHOST`)")      \
    X(RxBacklog, "`process_backlog` -> `__netif_receive_skb`(lo)")                                                     \
    X(IpRcv, "`ip_rcv` -> `ip_rcv_core`: IPv4 {} -> {}, proto {}, ttl {}, {} bytes")                                     \
    X(IpTruncated, "`ip_rcv_core`: total length {} beyond the {} bytes received -> dropped (`IPSTATS_MIB_INTRUNCATEDPKTS`)") \
    X(IpBadCsum, "`ip_rcv_core`: header checksum wrong -> dropped (`IPSTATS_MIB_CSUMERRORS`)")                          \
    X(IpBadHdr, "`ip_rcv_core`: bad version, header length or total length -> dropped (`IPSTATS_MIB_INHDRERRORS`)")     \
    X(IpMartian, "`ip_route_input_slow`: martian ({} -> {}) -> dropped")                                               \
    X(IpInputRoute, "`ip_rcv_finish` -> `ip_route_input_noref`: {} is {}")                                              \
    X(IpNotOurs, "`ip_route_input_noref`: {} is not this host's and forwarding is off -> `ip_error`: dropped")           \
    X(IpNotJoined, "`ip_route_input_mc`: group {} not joined on {} -> dropped")                                        \
    X(IpForward, "`ip_forward`: {} -> {} (`ip_forward` = 1)")                                                         \
    X(IpDefrag, "`ip_defrag`: fragment offset {}, {} bytes{}")                                                        \
    X(IpDeliver, "`ip_local_deliver` -> `ip_local_deliver_finish` -> `ip_protocol_deliver_rcu`: protocol {} -> `{}`")    \
    X(IpDeliverNone, "`ip_protocol_deliver_rcu`: no handler for protocol {} -> `icmp_send`(`ICMP_DEST_UNREACH`, `ICMP_PROT_UNREACH`)") \
    X(ReasmExpire, "`ip_expire`: {} bytes had arrived; the queue is freed (`IPSTATS_MIB_REASMTIMEOUT`)")                  \
    X(ReasmExpireIcmp, "the first fragment had arrived -> `icmp_send`(`ICMP_TIME_EXCEEDED`, `ICMP_EXC_FRAGTIME`)")       \
    /* ---- UDP receive ---- */                                                                                         \
    X(UdpRcv, "`__udp4_lib_rcv`: UDP {} -> {}, length {}{}")                                                           \
    X(UdpBadCsum, "`__udp4_lib_rcv`: checksum wrong -> dropped (`UDP_MIB_CSUMERRORS`, `UDP_MIB_INERRORS`)")             \
    X(UdpBadLen, "`__udp4_lib_rcv`: UDP length disagrees with the IP length -> dropped (`UDP_MIB_INERRORS`)")           \
    X(UdpLookup, "`__udp4_lib_lookup`({}:{} -> {}:{}, dif {})")                                                        \
    X(UdpLookup2, "`udp4_lib_lookup2` on the {}:{} chain:{}")                                                          \
    X(UdpScore, "fd {} ({}): `compute_score` = {}{}")                                                                   \
    X(UdpReuseport, "`inet_lookup_reuseport` -> `reuseport_select_sock`: the flow hash picks fd {} of {} in the group")           \
    X(UdpFound, "-> fd {}")                                                                                            \
    X(UdpNoPort, "no socket: `UDP_MIB_NOPORTS` -> `icmp_send`(`ICMP_DEST_UNREACH`, `ICMP_PORT_UNREACH`)")               \
    X(UdpMcast, "`__udp4_lib_mcast_deliver`: {} socket(s) on port {} want it{}")                                        \
    X(UdpMcastNone, "`__udp4_lib_mcast_deliver`: no socket on port {} wants it (`UDP_MIB_IGNOREDMULTI`)")             \
    X(UdpEnqueue, "`udp_unicast_rcv_skb` -> `udp_queue_rcv_skb` -> `__udp_enqueue_schedule_skb`(fd {}): rmem {} + truesize {} {} rcvbuf {}") \
    X(UdpQueued, "queued ({} datagram(s) waiting); `sk_data_ready`")                                                    \
    X(UdpDropped, "dropped: `UDP_MIB_RCVBUFERRORS`, `sk_drops` = {}")                                                  \
    X(UdpFiltered, "`sk_filter_trim_cap`(fd {}): the socket's BPF program (SO_ATTACH_FILTER) returned 0 -> dropped")    \
    /* ---- ICMP ---- */                                                                                                \
    X(IcmpRcv, "`icmp_rcv`: type {} code {}{}")                                                                        \
    X(IcmpBad, "`icmp_rcv`: checksum wrong or too short -> dropped (`ICMP_MIB_CSUMERRORS`)")                           \
    X(IcmpEcho, "`icmp_echo`: reply to {} -> `icmp_reply`")                                                            \
    X(IcmpEchoBcast, "`icmp_echo`: to a broadcast and `icmp_echo_ignore_broadcasts` is set -> ignored")                  \
    X(IcmpReply, "`ping_rcv` -> `ping_lookup`(identifier {}): {}")                                                     \
    X(IcmpErr, "`icmp_unreach` -> `icmp_socket_deliver` -> `{}`: quoted {}:{} -> {}:{}")                                 \
    X(IcmpErrSock, "the quoted flow's socket: fd {}")                                                                 \
    X(IcmpErrNoSock, "the quoted flow has no socket (`ICMP_MIB_INERRORS`)")                                            \
    X(IcmpConvert, "`icmp_err_convert`[{}] -> {}{}")                                                                                  \
    X(IcmpIgnored, "no IP_RECVERR (`inet_test_bit`(`RECVERR`, sk) is 0) and {}: RFC 1122 4.1.3.3 -> ignored")                                          \
    X(IcmpQueued, "IP_RECVERR set (`inet_test_bit`(`RECVERR`, sk)) -> `ip_icmp_error`: an entry on the error queue")                               \
    X(IcmpToSock, "`sk->sk_err` = {}; `sk_error_report`")                                                              \
    X(IcmpSend, "`icmp_send`({} code {}) to {} about {} -> {}")                                                        \
    X(IcmpSendNot, "`icmp_send`: not sent ({})")                                                                       \
    /* ---- ARP ---- */                                                                                                 \
    X(ArpRcv, "`arp_rcv` -> `arp_process`: {} {} ({}) -> {}")                                                          \
    X(ArpLearn, "`neigh_update`({} -> {}): `NUD_REACHABLE`{}")                                                         \
    X(ArpReply, "target {} is this host's -> `arp_send`(`ARPOP_REPLY`, {} is-at {})")                                  \
    X(ArpIgnored, "neither for this host nor a neighbour it tracks -> ignored")                                       \
    X(NeighTimer, "`neigh_timer_handler`: neigh {} {}")                                                               \
    X(NeighFailed, "`neigh_invalidate`: `NUD_FAILED` -> `arp_error_report` -> `ipv4_link_failure` for {} queued skb(s)") \
    /* ---- receive ---- */                                                                                             \
    X(RecvOps, "`sock_recvmsg` -> sock->ops->recvmsg = `inet_recvmsg` [`inet_dgram_ops`] -> sk->sk_prot->recvmsg = `{}` [`{}`]") \
    X(RecvErrQueue, "MSG_ERRQUEUE -> `ip_recv_error`: {}")                                                              \
    X(RecvSkErr, "`__skb_recv_udp`: `sk->sk_err` = {} -> `sock_error` -> -{} (cleared)")                                \
    X(RecvEmpty, "`__skb_recv_udp`: queue empty and {} -> -EAGAIN")                                                    \
    X(RecvShutdown, "`__skb_recv_udp`: queue empty and `RCV_SHUTDOWN` -> 0")                                            \
    X(RecvWait, "`__skb_wait_for_more_packets`: waiting ({})")                                                          \
    X(RecvWoke, "woken: {}")                                                                                           \
    X(RecvGot, "`__skb_try_recv_from_queue`: {} bytes from {}:{}{}")                                                    \
    X(RecvCopy, "`skb_copy_datagram_msg`: {} of {} bytes{}{}")                                                          \
    /* ---- options, control, shutdown ---- */                                                                          \
    X(SockoptSocket, "level SOL_SOCKET -> `sk_setsockopt`: {}{}")                                                     \
    X(SockoptProto, "sock->ops->setsockopt = `sock_common_setsockopt` -> sk->sk_prot->setsockopt = `{}` [`{}`] -> `{}`: {} {}") \
    X(GetsockoptSocket, "level SOL_SOCKET -> `sk_getsockopt`: {}")                                                      \
    X(GetsockoptProto, "sock->ops->getsockopt = `sock_common_getsockopt` -> sk->sk_prot->getsockopt = `{}` [`{}`] -> `{}`: {}") \
    X(IoctlPath, "`sock_ioctl` -> `sock_do_ioctl` -> sock->ops->ioctl = `inet_ioctl` [`inet_dgram_ops`] -> `{}`: {}")       \
    X(IoctlNoProto, "`sock_ioctl` -> `sock_do_ioctl` -> sock->ops->ioctl = `inet_ioctl` [`inet_dgram_ops`]: `ping_prot` has no ioctl (-ENOIOCTLCMD)") \
    X(IoctlGeneric, "`do_vfs_ioctl`: {}")                                                                               \
    X(IoctlDev, "`sock_ioctl` -> `{}`: {}")                                                                              \
    X(FcntlPath, "`do_fcntl`: {}")                                                                                      \
    X(ShutdownOps, "sock->ops->shutdown = `inet_shutdown` [`inet_dgram_ops`]: how {} -> `sk_shutdown` |= {}")             \
    X(ShutdownNotConn, "`sk_state` is `TCP_CLOSE` (not connected): marked all the same, but -ENOTCONN")                 \
    X(ReleaseOps, "sock->ops->release = `inet_release` [`inet_dgram_ops`] -> sk->sk_prot->close = `{}` -> `sk_common_release`") \
    X(ReleaseGroups, "`ip_mc_drop_socket`: leaves {} group(s)")                                                        \
    X(ReleasePort, "sk->sk_prot->unhash = `{}`: port {} released")                                                    \
    X(ReleaseQueue, "`skb_queue_purge`: {} queued datagram(s) freed")                                                 \
    X(PollSock, "fd {}: `sock_poll` -> `udp_poll` -> `datagram_poll` = {}")                                             \
    X(PollWait, "nothing ready: `poll_schedule_timeout` ({})")                                                          \
    X(StreamOnly, "sock->ops->{} = `{}` [`inet_dgram_ops`] -> -EOPNOTSUPP")                                              \
    /* ---- what the caller's descriptor maps to, in the shim ---- */                                                   \
    X(ShimDup, "`{}`: descriptor {} names the same socket as descriptor {} (`get_file`, `fd_install`: one struct file)")     \
    X(ShimEpollCtl, "`do_epoll_ctl`({}, fd {}, events {}) -> `ep_insert`/`ep_modify`/`ep_remove` -> `ep_item_poll` -> `sock_poll`") \
    X(ShimEpollWait, "`do_epoll_wait` -> `ep_send_events` -> `ep_item_poll`: fd {} ready, events {} (`sock_poll` -> `udp_poll`)") \
    X(ShimCloseRef, "close({}) -> `fput`: {} other descriptor(s) still name the socket; it stays open")                \
    X(ShimPollMixed, "`do_sys_poll` -> `do_poll`: {} usnet and {} kernel descriptors, the kernel waiting on all (a usnet socket through its eventfd); `sock_poll` -> `udp_poll` -> `datagram_poll` for the usnet ones: {}") \
    X(ShimReadZero, "`sock_read_iter`: nothing to read (0 bytes) -> 0; no datagram is taken")                           \
    /* ---- generic: the rule that failed the call, when no step above said so ---- */                                  \
    X(Fail, "`{}` -> -{}: {}")

namespace usnet::trace {

enum class P : unsigned short {
#define USNET_TRACE_ID(id, tmpl) id,
    USNET_TRACE_POINTS(USNET_TRACE_ID)
#undef USNET_TRACE_ID
        Count
};

}  // namespace usnet::trace
