// The datagram socket shared by UDP and ICMP ping sockets: Linux's struct inet_sock plus
// the sock fields a datagram socket uses. Protocol code (udp/, ip/icmp.cpp) and the socket
// layer (socket/) both read it; only the owning layer writes each group of fields.
#pragma once
#include <vector>

#include "buf/packet.hpp"
#include "ip/ip.hpp"
#include "socket/filter.hpp"

namespace usnet::sock {

enum class Proto : uint8_t { Udp, Ping };

// struct ip_mc_socklist: one group joined on one interface, with the socket's source filter.
struct Membership {
    Ip4 group;
    int ifindex = 0;
    Ip4 addr;  // imr_address as given
    int sfmode = 0;            // MCAST_EXCLUDE (0) or MCAST_INCLUDE (1)
    bool sflist = false;       // a source list exists (even empty), which pins the mode
    std::vector<Ip4> sources;  // in the order they were added
};

// sk_stamp before any datagram was received (SK_DEFAULT_STAMP: -1 s).
constexpr Time kStampNone = -kSec;

struct DgramSock {
    Proto proto = Proto::Udp;
    int fd = -1;

    // --- inet_sock: addresses and ports (host order) ---
    Ip4 rcv_saddr;     // bound/receive address (inet_rcv_saddr)
    Ip4 saddr;         // source address for sending (inet_saddr)
    Ip4 daddr;         // peer (inet_daddr)
    uint16_t num = 0;  // local port / ping ident (inet_num); 0 = unbound
    uint16_t dport = 0;
    bool established = false;  // sk_state == TCP_ESTABLISHED
    bool bind_addr_lock = false, bind_port_lock = false;  // SOCK_BINDADDR_LOCK / SOCK_BINDPORT_LOCK
    uint16_t inet_id = 0;

    // --- options ---
    bool reuseaddr = false, reuseport = false, broadcast = false, no_check = false;
    bool recverr = false, pktinfo = false, recvttl = false, recvtos = false;
    bool mc_loop = true, mc_all = true, nonblock = false, cloexec = false;
    int bound_dev_if = 0;
    int ttl = -1;  // -1: net.ipv4.ip_default_ttl
    uint8_t tos = 0;
    int mc_ttl = 1;
    int mc_index = 0;
    Ip4 mc_addr;
    int uc_index = 0;
    int pmtudisc = 1;  // IP_PMTUDISC_WANT
    int priority = 0;
    int rcvbuf = 0, sndbuf = 0;
    int64_t rcvtimeo = -1, sndtimeo = -1;  // in jiffies like sk_rcvtimeo; -1: forever, 0: never wait
    bool corked = false;              // UDP_CORK
    // Stored and reported, with no effect on a datagram socket (as in Linux).
    bool opt_debug = false, opt_keepalive = false, opt_oobinline = false, opt_dontroute = false;
    bool opt_recvopts = false, opt_retopts = false, opt_freebind = false;
    bool transparent = false, bind_address_no_port = false;
    bool passsec = false, recverr_rfc4884 = false, opt_checksum = false;  // stored, reported by getsockopt
    bool rxq_ovfl = false, origdstaddr = false, udp_gro = false, no_check6_tx = false, no_check6_rx = false;
    int mark = 0, rcvlowat = 1, busy_poll = 0, minttl = 0, linger_onoff = 0;
    int64_t lingertime = 0;        // sk_lingertime, in jiffies
    int peek_off = -1;             // SO_PEEK_OFF (sk_peek_off); -1: MSG_PEEK reads from the start
    bool select_err_queue = false;  // SO_SELECT_ERR_QUEUE: POLLPRI with POLLERR
    int encap_type = 0;            // UDP_ENCAP, stored (no tunnel receive path)
    uint16_t gso_size = 0;  // UDP_SEGMENT
    std::vector<Membership> mc_list;
    FilterProg filter;           // SO_ATTACH_FILTER (sk_filter); empty: none
    bool filter_locked = false;  // SO_LOCK_FILTER
    // Receive timestamps: SOCK_RCVTSTAMP, SOCK_RCVTSTAMPNS, SOCK_TSTAMP_NEW, sk_tsflags,
    // and SOCK_TIMESTAMP (SIOCGSTAMP asked: sk_stamp follows each datagram received).
    bool rcvtstamp = false, rcvtstampns = false, tstamp_new = false, stamp_sock = false;
    int tsflags = 0;
    Time sk_stamp = kStampNone;  // CLOCK_REALTIME ns of the last datagram received

    // --- state ---
    int sk_err = 0;      // pending error (sk_err), reported once
    uint8_t shutdown = 0;  // RCV_SHUTDOWN=1, SEND_SHUTDOWN=2
    uint32_t rmem = 0;   // sk_rmem_alloc
    buf::Queue rx;       // datagrams, head at payload
    buf::Queue errq;     // IP_RECVERR entries
    uint32_t drops = 0;
    uint64_t wakeups = 0;  // sk_data_ready / sk_error_report calls: each is a new epoll edge

    // Pending corked datagram (MSG_MORE/UDP_CORK): payload so far and its flow.
    buf::PacketPtr cork;
    ip::RouteResult cork_rt;
    Ip4 cork_daddr;
    uint16_t cork_dport = 0;
    uint32_t cork_wmem = 0;  // what the corked skbs charge to sk_wmem_alloc (SIOCOUTQ)
    uint32_t cork_room = 0;  // bytes the last of them still takes before a new fragment

    // Cached route for the connected peer (sk_dst_cache), valid while genid matches.
    ip::RouteResult dst_cache;
    uint32_t dst_genid = 0;
    // The route of the last unconnected send, reused while the flow and genid match.
    ip::Flow last_flow;
    ip::RouteResult last_rt;
    uint32_t last_genid = 0;

    // Port table chain and reuseport group.
    DgramSock* port_next = nullptr;
    uint32_t reuseport_group = 0;
    uint64_t bind_seq = 0;    // order of joining, for reuseport selection
    uint64_t lookup_seq = 0;  // newer wins ties in lookup; bumped when connect/disconnect rehash
};

}  // namespace usnet::sock
