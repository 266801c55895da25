// Every reason in the error table (include/usnet/errors.hpp) is reachable through the public
// API: one trigger per Err value makes a call fail that way, and the failure must carry the
// table's errno, the Err itself, and a last_error_text() that quotes the table's reason.
// Reasons no API call can reach are listed in kUnreachable with why; the last test demands
// that triggers and kUnreachable together cover the whole table.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <string>
#include <vector>

#include "../sim_helpers.hpp"
#include "wire/icmp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

const Ip4 kHost(10, 0, 2, 15), kGw(10, 0, 2, 2), kLo(127, 0, 0, 1);

using World = sim::DefaultWorld;

// One trigger: a config tweak for the host (optional) and a body whose last call is the
// failing one; it returns that call's result.
struct Trigger {
    Err e;
    void (*cfg)(StackConfig&);
    long (*run)(World&);
};

int udp(Stack& h) { return h.socket(AF_INET, SOCK_DGRAM, 0); }

long sendto4(Stack& h, int fd, Ip4 ip, uint16_t port, size_t len = 1, int flags = 0) {
    std::vector<char> buf(len, 'x');
    const sockaddr_in a = sin4(ip, port);
    return h.sendto(fd, buf.data(), buf.size(), flags, sa(a), sizeof a);
}

// An interface ioctl on a fresh UDP socket, naming `dev`, with an int value.
long ifreq_call(Stack& h, unsigned long req, const char* dev, int v = 0) {
    ifreq r{};
    std::strncpy(r.ifr_name, dev, IFNAMSIZ - 1);
    r.ifr_mtu = v;
    return h.ioctl(udp(h), req, &r);
}

int seti(Stack& h, int fd, int level, int name, int v) { return h.setsockopt(fd, level, name, &v, sizeof v); }

long route_of_type(World& w, RouteType t) {
    Stack& h = *w.host;
    RouteSpec r;
    r.dst = Ip4(192, 0, 2, 0);
    r.prefix_len = 24;
    r.type = t;
    if (h.add_route(r) != 0) return 0;
    return sendto4(h, udp(h), Ip4(192, 0, 2, 1), 9);
}

// Connects a UDP socket to the gateway's port 9, then hands the host an ICMP error of
// `type`/`code` from the gateway quoting a datagram that socket sent; the pending error
// surfaces on the next recv.
template <uint8_t Type, uint8_t Code, bool RecvErr>
long icmp_error(World& w) {
    Stack& h = *w.host;
    const int fd = udp(h);
    if (RecvErr && seti(h, fd, SOL_IP, IP_RECVERR, 1) != 0) return 0;
    const sockaddr_in peer = sin4(kGw, 9);
    if (h.connect(fd, sa(peer), sizeof peer) != 0) return 0;
    sockaddr_in self{};
    socklen_t sl = sizeof self;
    if (h.getsockname(fd, sa(self), &sl) != 0) return 0;
    const uint16_t sport = ntohs(self.sin_port);

    // ICMP header, then the quoted IPv4 header and the first 8 bytes of its UDP datagram.
    std::vector<uint8_t> icmp(wire::kIcmpHeaderLen + wire::kIpv4HeaderLen + wire::kUdpHeaderLen);
    uint8_t* inner = icmp.data() + wire::kIcmpHeaderLen;
    wire::Ipv4Repr ih;
    ih.total_len = uint16_t(wire::kIpv4HeaderLen + wire::kUdpHeaderLen + 1);
    ih.id = 7;
    ih.ttl = 64;
    ih.proto = wire::kProtoUdp;
    ih.src = kHost;
    ih.dst = kGw;
    ih.emit(inner);
    wire::UdpRepr{sport, 9, uint16_t(wire::kUdpHeaderLen + 1), 0}.emit(inner + wire::kIpv4HeaderLen, kHost, kGw,
                                                                        true);
    const uint32_t rest = Type == wire::kIcmpDestUnreach && Code == wire::kIcmpFragNeeded ? 576u : 0u;
    wire::IcmpRepr{Type, Code, 0, rest}.emit(icmp.data(), uint32_t(icmp.size() - wire::kIcmpHeaderLen));

    FrameSpec f;
    const int eth = h.ifindex_of("eth0");
    f.dst = mac_of(h, eth);
    f.ip_src = kGw;
    f.ip_dst = kHost;
    f.proto = wire::kProtoIcmp;
    inject(h, eth, ipv4_frame(f, icmp));
    w.net->run_for(kMs);
    char b[16];
    return h.recv(fd, b, sizeof b, MSG_DONTWAIT);
}

long join(Stack& h, int fd, Ip4 group, Ip4 iface, int name = IP_ADD_MEMBERSHIP) {
    ip_mreq m{};
    m.imr_multiaddr.s_addr = group.net();
    m.imr_interface.s_addr = iface.net();
    return h.setsockopt(fd, SOL_IP, name, &m, sizeof m);
}

long srcopt(Stack& h, int fd, int name, Ip4 group, Ip4 src) {
    ip_mreq_source m{};
    m.imr_multiaddr.s_addr = group.net();
    m.imr_interface.s_addr = kHost.net();
    m.imr_sourceaddr.s_addr = src.net();
    return h.setsockopt(fd, SOL_IP, name, &m, sizeof m);
}

const Trigger kTriggers[] = {
    {Err::BadFd, nullptr, [](World& w) -> long { return w.host->close(99); }},
    {Err::Fault, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         return h.bind(udp(h), nullptr, sizeof(sockaddr_in));
     }},
    {Err::SocketFamily, nullptr, [](World& w) -> long { return w.host->socket(AF_INET6, SOCK_DGRAM, 0); }},
    // An unknown flag bit above the type (__sys_socket).
    {Err::SocketTypeInvalid, nullptr, [](World& w) -> long { return w.host->socket(AF_INET, SOCK_DGRAM | 0x40, 0); }},
    {Err::SocketTypeUnsupported, nullptr, [](World& w) -> long { return w.host->socket(AF_INET, SOCK_STREAM, 0); }},
    {Err::SocketProtocol, nullptr,
     [](World& w) -> long { return w.host->socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP); }},
    {Err::PingGroup,
     [](StackConfig& c) {
         c.ping_group_lo = 1;  // Linux's default range "1 0": nobody may open ping sockets
         c.ping_group_hi = 0;
     },
     [](World& w) -> long { return w.host->socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP); }},
    {Err::TooManyFiles, [](StackConfig& c) { c.max_fds = 4; },
     [](World& w) -> long {
         Stack& h = *w.host;
         if (udp(h) != 3) return 0;
         return udp(h);
     }},
    {Err::AddrLen, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const sockaddr_in a = sin4(kLo, 5000);
         return h.bind(udp(h), sa(a), 4);
     }},
    {Err::AddrLenRange, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const sockaddr_in a = sin4(kLo, 5000);
         return h.bind(udp(h), sa(a), 200);
     }},
    {Err::IovTooMany, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         static iovec iov[1025];
         msghdr m{};
         m.msg_iov = iov;
         m.msg_iovlen = 1025;
         return h.recvmsg(udp(h), &m, MSG_DONTWAIT);
     }},
    {Err::SocketProtocolRange, nullptr, [](World& w) -> long { return w.host->socket(AF_INET, SOCK_DGRAM, -1); }},
    {Err::AddrLenNegative, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         sockaddr_in a{};
         socklen_t len = socklen_t(-1);
         return h.getsockname(udp(h), sa(a), &len);
     }},
    {Err::AddrFamily, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         sockaddr_in a = sin4(kLo, 5000);
         a.sin_family = AF_INET6;
         return h.bind(udp(h), sa(a), sizeof a);
     }},
    {Err::BindNotLocal, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const sockaddr_in a = sin4(Ip4(10, 9, 9, 9), 5000);
         return h.bind(udp(h), sa(a), sizeof a);
     }},
    {Err::BindPrivileged, [](StackConfig& c) { c.privileged = false; },
     [](World& w) -> long {
         Stack& h = *w.host;
         const sockaddr_in a = sin4(Ip4(), 80);
         return h.bind(udp(h), sa(a), sizeof a);
     }},
    {Err::BindTwice, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp_bound(h, kLo, 5000);
         const sockaddr_in a = sin4(kLo, 5001);
         return h.bind(fd, sa(a), sizeof a);
     }},
    {Err::AddrInUse, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         if (udp_bound(h, kLo, 5000) < 0) return 0;
         const sockaddr_in a = sin4(kLo, 5000);
         return h.bind(udp(h), sa(a), sizeof a);
     }},
    {Err::PortsExhausted,
     [](StackConfig& c) {
         c.port_lo = 40000;
         c.port_hi = 40000;
     },
     [](World& w) -> long {
         Stack& h = *w.host;
         if (udp_bound(h, Ip4(), 40000) < 0) return 0;
         return sendto4(h, udp(h), kLo, 9);
     }},
    {Err::BroadcastDenied, nullptr,
     [](World& w) -> long { return sendto4(*w.host, udp(*w.host), Ip4(10, 0, 2, 255), 9); }},
    {Err::NetUnreachable, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         if (h.del_route(Ip4(), 0) != 0) return 0;
         return sendto4(h, udp(h), Ip4(8, 8, 8, 8), 53);
     }},
    {Err::RouteUnreachable, nullptr, [](World& w) -> long { return route_of_type(w, RouteType::Unreachable); }},
    {Err::RouteProhibit, nullptr, [](World& w) -> long { return route_of_type(w, RouteType::Prohibit); }},
    {Err::RouteBlackhole, nullptr, [](World& w) -> long { return route_of_type(w, RouteType::Blackhole); }},
    {Err::BadSource, nullptr,
     [](World& w) -> long {
         // A 127/8 source never leaves through a real device (__mkroute_output).
         Stack& h = *w.host;
         return sendto4(h, udp_bound(h, kLo, 5000), kGw, 9);
     }},
    {Err::DeviceDown, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (h.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "eth0", 5) != 0) return 0;
         if (h.set_link_up(h.ifindex_of("eth0"), false) != 0) return 0;
         return sendto4(h, fd, kGw, 9);
     }},
    {Err::NotConnected, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         sockaddr_in a{};
         socklen_t len = sizeof a;
         return h.getpeername(udp(h), sa(a), &len);
     }},
    {Err::ShutdownNotConnected, nullptr, [](World& w) -> long { return w.host->shutdown(udp(*w.host), SHUT_RDWR); }},
    {Err::ShutdownHow, nullptr, [](World& w) -> long { return w.host->shutdown(udp(*w.host), 7); }},
    {Err::MsgSize, nullptr, [](World& w) -> long { return sendto4(*w.host, udp(*w.host), kLo, 9, 65508); }},
    {Err::MsgSizeMtu, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (seti(h, fd, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO) != 0) return 0;
         return sendto4(h, fd, kGw, 9, 2000);
     }},
    {Err::NoSocketpair, nullptr, [](World& w) -> long {
         int sv[2];
         return w.host->socketpair(AF_INET, SOCK_DGRAM, 0, sv);
     }},
    {Err::SendOob, nullptr, [](World& w) -> long { return sendto4(*w.host, udp(*w.host), kLo, 9, 1, MSG_OOB); }},
    {Err::DestRequired, nullptr, [](World& w) -> long { return w.host->send(udp(*w.host), "x", 1, 0); }},
    {Err::DestPortZero, nullptr, [](World& w) -> long { return sendto4(*w.host, udp(*w.host), kLo, 0); }},
    {Err::SendShutdown, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         const sockaddr_in peer = sin4(kLo, 9);
         if (h.connect(fd, sa(peer), sizeof peer) != 0 || h.shutdown(fd, SHUT_WR) != 0) return 0;
         return h.send(fd, "x", 1, 0);
     }},
    {Err::WouldBlock, nullptr,
     [](World& w) -> long {
         char b[4];
         return w.host->recv(udp_bound(*w.host, kLo, 5000), b, sizeof b, MSG_DONTWAIT);
     }},
    {Err::TimedOut, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp_bound(h, kLo, 5000);
         const timeval tv{0, 20000};
         if (h.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return 0;
         char b[4];
         return h.recv(fd, b, sizeof b, 0);
     }},
    {Err::ErrQueueEmpty, nullptr,
     [](World& w) -> long {
         char b[4];
         iovec iov{b, sizeof b};
         msghdr m{};
         m.msg_iov = &iov;
         m.msg_iovlen = 1;
         return w.host->recvmsg(udp(*w.host), &m, MSG_ERRQUEUE);
     }},
    {Err::WouldBlockForever, nullptr,
     [](World& w) -> long {
         char b[4];
         return w.host->recv(udp_bound(*w.host, kLo, 5000), b, sizeof b, 0);
     }},
    {Err::PeerRefused, nullptr, icmp_error<wire::kIcmpDestUnreach, wire::kIcmpPortUnreach, false>},
    {Err::PeerHostUnreach, nullptr, icmp_error<wire::kIcmpDestUnreach, 10 /*host prohibited*/, false>},
    {Err::PeerNetUnreach, nullptr, icmp_error<wire::kIcmpDestUnreach, 6 /*net unknown*/, false>},
    {Err::PeerProtoUnreach, nullptr, icmp_error<wire::kIcmpDestUnreach, wire::kIcmpProtUnreach, false>},
    {Err::PeerMsgSize, nullptr, icmp_error<wire::kIcmpDestUnreach, wire::kIcmpFragNeeded, false>},
    {Err::PeerHostDown, nullptr, icmp_error<wire::kIcmpDestUnreach, 7 /*host unknown*/, false>},
    {Err::PeerNoNet, nullptr, icmp_error<wire::kIcmpDestUnreach, 8 /*host isolated*/, false>},
    {Err::PeerProto, nullptr, icmp_error<wire::kIcmpParamProb, 0, false>},
    // Source route failed is a soft error: only IP_RECVERR makes it pending.
    {Err::PeerOpNotSupp, nullptr, icmp_error<wire::kIcmpDestUnreach, 5 /*source route failed*/, true>},
    {Err::OptLen, nullptr,
     [](World& w) -> long {
         const int v = 1;
         return w.host->setsockopt(udp(*w.host), SOL_SOCKET, SO_REUSEADDR, &v, 2);
     }},
    {Err::OptUnknown, nullptr, [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_SOCKET, 9999, 1); }},
    {Err::OptValue, nullptr, [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_IP, IP_TTL, 300); }},
    {Err::OptNotSupported, nullptr,
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_IP, IP_OPTIONS, 1); }},
    {Err::UdpEncapType, nullptr,
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_UDP, UDP_ENCAP, 99); }},
    {Err::PeekOffUnsupported, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         return seti(h, h.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), SOL_SOCKET, SO_PEEK_OFF, 0);
     }},
    {Err::FragNoBufs, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (seti(h, fd, SOL_SOCKET, SO_SNDBUF, 0) != 0) return 0;
         return sendto4(h, fd, kGw, 9, 65000);
     }},
    {Err::UnicastIfNoDevice, nullptr,
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_IP, IP_UNICAST_IF, int(htonl(99))); }},
    {Err::RecvOob, nullptr,
     [](World& w) -> long {
         char b[4];
         return w.host->recv(w.host->socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), b, sizeof b, MSG_OOB | MSG_DONTWAIT);
     }},
    {Err::RecvmmsgTimeout, nullptr,
     [](World& w) -> long {
         char b[4];
         iovec iov{b, sizeof b};
         mmsghdr m{};
         m.msg_hdr.msg_iov = &iov;
         m.msg_hdr.msg_iovlen = 1;
         timespec bad{0, 1000000000L};
         return w.host->recvmmsg(udp_bound(*w.host, kLo, 5000), &m, 1, 0, &bad);
     }},
    {Err::OptLevelUnsupported, nullptr,
     [](World& w) -> long {
         int v = 0;
         socklen_t len = sizeof v;
         return w.host->getsockopt(udp(*w.host), IPPROTO_TCP, 1, &v, &len);
     }},
    {Err::OptUnixOnly, nullptr,
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_SOCKET, SO_PASSCRED, 1); }},
    {Err::OptTimeoutDomain, nullptr,
     [](World& w) -> long {
         const timeval tv{0, 1000000};
         return w.host->setsockopt(udp(*w.host), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
     }},
    {Err::McastAddrNotAvail, nullptr,
     [](World& w) -> long {
         in_addr a{};
         a.s_addr = Ip4(10, 9, 9, 9).net();
         return w.host->setsockopt(udp(*w.host), SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
     }},
    {Err::OptNoDevice, nullptr,
     [](World& w) -> long {
         return w.host->setsockopt(udp(*w.host), SOL_SOCKET, SO_BINDTODEVICE, "nosuch0", 8);
     }},
    {Err::OptPermission, [](StackConfig& c) { c.privileged = false; },
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_SOCKET, SO_PRIORITY, 7); }},
    {Err::FilterLocked, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         seti(h, fd, SOL_SOCKET, SO_LOCK_FILTER, 1);
         return seti(h, fd, SOL_SOCKET, SO_LOCK_FILTER, 0);
     }},
    {Err::FilterInvalid, nullptr,
     [](World& w) -> long {
         sock_filter p{BPF_LD | BPF_IMM, 0, 0, 1};  // no final return
         sock_fprog fp{1, &p};
         return w.host->setsockopt(udp(*w.host), SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp);
     }},
    {Err::FilterNone, nullptr,
     [](World& w) -> long { return seti(*w.host, udp(*w.host), SOL_SOCKET, SO_DETACH_FILTER, 0); }},
    {Err::FilterRoom, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         sock_filter p[2] = {{BPF_LD | BPF_IMM, 0, 0, 1}, {BPF_RET | BPF_A, 0, 0, 0}};
         sock_fprog fp{2, p};
         h.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp);
         sock_filter out[2];
         socklen_t room = 1;  // in instructions
         return h.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, out, &room);
     }},
    {Err::McastNoDevice, nullptr,
     [](World& w) -> long { return join(*w.host, udp(*w.host), Ip4(239, 1, 1, 1), Ip4(10, 9, 9, 9)); }},
    {Err::McastNotMulticast, nullptr,
     [](World& w) -> long { return join(*w.host, udp(*w.host), Ip4(10, 1, 1, 1), Ip4()); }},
    {Err::McastAlreadyMember, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (join(h, fd, Ip4(239, 1, 1, 1), kHost) != 0) return 0;
         return join(h, fd, Ip4(239, 1, 1, 1), kHost);
     }},
    {Err::McastNotMember, nullptr,
     [](World& w) -> long {
         return join(*w.host, udp(*w.host), Ip4(239, 1, 1, 1), kHost, IP_DROP_MEMBERSHIP);
     }},
    {Err::McastNoBufs, [](StackConfig& c) { c.igmp_max_memberships = 1; },
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (join(h, fd, Ip4(239, 1, 1, 1), kHost) != 0) return 0;
         return join(h, fd, Ip4(239, 1, 1, 2), kHost);
     }},
    {Err::McastNoPriorJoin, nullptr,
     [](World& w) -> long { return srcopt(*w.host, udp(*w.host), IP_BLOCK_SOURCE, Ip4(239, 1, 1, 1), kGw); }},
    {Err::McastFilterMode, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (srcopt(h, fd, IP_ADD_SOURCE_MEMBERSHIP, Ip4(239, 1, 1, 1), kGw) != 0) return 0;
         return srcopt(h, fd, IP_BLOCK_SOURCE, Ip4(239, 1, 1, 1), Ip4(10, 0, 2, 3));
     }},
    {Err::McastSourceExists, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (srcopt(h, fd, IP_ADD_SOURCE_MEMBERSHIP, Ip4(239, 1, 1, 1), kGw) != 0) return 0;
         return srcopt(h, fd, IP_ADD_SOURCE_MEMBERSHIP, Ip4(239, 1, 1, 1), kGw);
     }},
    {Err::McastSourceMissing, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (join(h, fd, Ip4(239, 1, 1, 1), kHost) != 0) return 0;
         return srcopt(h, fd, IP_UNBLOCK_SOURCE, Ip4(239, 1, 1, 1), kGw);
     }},
    {Err::McastTooManySources, [](StackConfig& c) { c.igmp_max_msf = 1; },
     [](World& w) -> long {
         Stack& h = *w.host;
         const int fd = udp(h);
         if (srcopt(h, fd, IP_ADD_SOURCE_MEMBERSHIP, Ip4(239, 1, 1, 1), kGw) != 0) return 0;
         return srcopt(h, fd, IP_ADD_SOURCE_MEMBERSHIP, Ip4(239, 1, 1, 1), Ip4(10, 0, 2, 3));
     }},
    {Err::McastBadFilterMode, nullptr,
     [](World& w) -> long {
         ip_msfilter f{};
         f.imsf_multiaddr.s_addr = Ip4(239, 1, 1, 1).net();
         f.imsf_fmode = 7;
         return w.host->setsockopt(udp(*w.host), SOL_IP, IP_MSFILTER, &f, 16);
     }},
    {Err::McastGroupFamily, nullptr,
     [](World& w) -> long {
         group_req g{};
         g.gr_interface = 2;
         g.gr_group.ss_family = AF_INET6;
         return w.host->setsockopt(udp(*w.host), SOL_IP, MCAST_JOIN_GROUP, &g, sizeof g);
     }},
    {Err::McastSourceFamily, nullptr,
     [](World& w) -> long {
         group_source_req g{};
         g.gsr_interface = 2;
         g.gsr_group.ss_family = AF_INET;
         g.gsr_source.ss_family = AF_INET6;
         return w.host->setsockopt(udp(*w.host), SOL_IP, MCAST_JOIN_SOURCE_GROUP, &g, sizeof g);
     }},
    {Err::McastFilterNotJoined, nullptr,
     [](World& w) -> long {
         ip_msfilter f{};
         f.imsf_multiaddr.s_addr = Ip4(239, 1, 1, 1).net();
         socklen_t l = 16;
         return w.host->getsockopt(udp(*w.host), SOL_IP, IP_MSFILTER, &f, &l);
     }},
    {Err::McastGetNotMulticast, nullptr,
     [](World& w) -> long {
         ip_msfilter f{};
         f.imsf_multiaddr.s_addr = kGw.net();
         socklen_t l = 16;
         return w.host->getsockopt(udp(*w.host), SOL_IP, IP_MSFILTER, &f, &l);
     }},
    {Err::IoctlUnknown, nullptr,
     [](World& w) -> long {
         int v = 0;
         return w.host->ioctl(udp(*w.host), 0x7fff, &v);
     }},
    {Err::IfNoDevice, nullptr, [](World& w) -> long { return ifreq_call(*w.host, SIOCGIFFLAGS, "nope0"); }},
    {Err::IfNoAddr, nullptr,
     [](World& w) -> long {
         Stack& h = *w.host;
         if (h.del_address(h.ifindex_of("eth0"), kHost, 24) != 0) return 0;
         return ifreq_call(h, SIOCGIFADDR, "eth0");
     }},
    {Err::IfInvalid, nullptr, [](World& w) -> long { return ifreq_call(*w.host, SIOCGIFSLAVE, "eth0"); }},
    {Err::IfPermission, [](StackConfig& c) { c.privileged = false; },
     [](World& w) -> long { return ifreq_call(*w.host, SIOCSIFMTU, "eth0", 1400); }},
    {Err::IfNotSupported, nullptr, [](World& w) -> long { return ifreq_call(*w.host, SIOCSIFMETRIC, "eth0", 5); }},
    {Err::IfUsnetLimit, nullptr, [](World& w) -> long { return ifreq_call(*w.host, SIOCSIFNAME, "eth0"); }},
    {Err::StampNone, nullptr,
     [](World& w) -> long {
         long long ts[2];
         return w.host->ioctl(udp(*w.host), SIOCGSTAMP_OLD, ts);
     }},
    {Err::FcntlCmd, nullptr, [](World& w) -> long { return w.host->fcntl(udp(*w.host), 9999); }},
    {Err::NotStream, nullptr, [](World& w) -> long { return w.host->listen(udp(*w.host), 1); }},
    {Err::PollNfds, [](StackConfig& c) { c.max_fds = 8; },
     [](World& w) -> long {
         std::vector<pollfd> fds(9, pollfd{-1, 0, 0});
         return w.host->poll(fds.data(), fds.size(), 0);
     }},
    {Err::InvalidArg, nullptr,
     [](World& w) -> long {
         // ip_cmsg_send: an IP_TTL control message outside 1..255.
         Stack& h = *w.host;
         const sockaddr_in to = sin4(kLo, 9);
         char b = 'x';
         iovec iov{&b, 1};
         alignas(cmsghdr) unsigned char ctl[CMSG_SPACE(sizeof(int))] = {};
         msghdr m{};
         m.msg_name = const_cast<sockaddr_in*>(&to);
         m.msg_namelen = sizeof to;
         m.msg_iov = &iov;
         m.msg_iovlen = 1;
         m.msg_control = ctl;
         m.msg_controllen = sizeof ctl;
         cmsghdr* cm = CMSG_FIRSTHDR(&m);
         cm->cmsg_level = SOL_IP;
         cm->cmsg_type = IP_TTL;
         cm->cmsg_len = CMSG_LEN(sizeof(int));
         const int ttl = 0;
         std::memcpy(CMSG_DATA(cm), &ttl, sizeof ttl);
         return h.sendmsg(udp(h), &m, 0);
     }},
    // NETLINK_ROUTE sockets (src/netlink/).
    {Err::NetlinkType, nullptr, [](World& w) -> long { return w.host->socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE); }},
    {Err::NetlinkProtocol, nullptr, [](World& w) -> long { return w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC); }},
    {Err::NetlinkAddr, nullptr,
     [](World& w) -> long {
         const sockaddr_nl a{AF_NETLINK, 0, 0, 0};
         return w.host->bind(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), reinterpret_cast<const sockaddr*>(&a), 8);
     }},
    {Err::NetlinkBound, nullptr,
     [](World& w) -> long {
         const int fd = w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
         sockaddr_nl a{AF_NETLINK, 0, 4242, 0};
         w.host->bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
         a.nl_pid = 4343;
         return w.host->bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
     }},
    {Err::NetlinkPortInUse, nullptr,
     [](World& w) -> long {
         const sockaddr_nl a{AF_NETLINK, 0, 4242, 0};
         w.host->bind(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), reinterpret_cast<const sockaddr*>(&a), sizeof a);
         return w.host->bind(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), reinterpret_cast<const sockaddr*>(&a), sizeof a);
     }},
    {Err::NetlinkNoPeer, nullptr,
     [](World& w) -> long {
         const sockaddr_nl a{AF_NETLINK, 0, 4242, 0};
         char b[16] = {};
         return w.host->sendto(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), b, sizeof b, 0,
                               reinterpret_cast<const sockaddr*>(&a), sizeof a);
     }},
    {Err::NetlinkMsgSize, nullptr,
     [](World& w) -> long {
         std::vector<char> b(300000);
         return w.host->send(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), b.data(), b.size(), 0);
     }},
    {Err::NetlinkOptLen, nullptr,
     [](World& w) -> long {
         int v = 0;
         socklen_t l = 2;
         return w.host->getsockopt(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), SOL_NETLINK, NETLINK_EXT_ACK, &v, &l);
     }},
    {Err::NetlinkShutdown, nullptr,
     [](World& w) -> long { return w.host->shutdown(w.host->socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), SHUT_RDWR); }},
};

// Reasons no call can be made to fail with; each says why.
struct Unreachable {
    Err e;
    const char* why;
};
const Unreachable kUnreachable[] = {
    {Err::Interrupted,
     "needs a signal handler to run while a call waits in a world in real time (a program under usnet run); "
     "a simulated world never waits: tests/preload/signal_eintr_test.sh covers it"},
    {Err::NoBufs,
     "needs buf::Pool::alloc to fail: the pool grows with malloc and every send is capped at 65535 bytes, "
     "so only a failing malloc gets there (no send-buffer accounting returns it)"},
};

// What the failing call left behind, read right after it returned.
struct Outcome {
    long ret;
    int err;
    Err last;
    std::string text;
};

Outcome run(const Trigger& t) {
    StackConfig cfg;
    if (t.cfg) t.cfg(cfg);
    World w = sim::make_default_world(1, cfg);
    errno = 0;
    const long r = t.run(w);
    const int e = errno;
    return {r, e, last_error(), last_error_text()};
}

bool matches(const Trigger& t, const Outcome& o) {
    return o.ret == -1 && o.err == to_errno(t.e) && o.last == t.e &&
           o.text.find(reason_of(t.e)) != std::string::npos;
}

void PrintTo(const Trigger& t, std::ostream* os) { *os << name_of(t.e); }

class Reason : public ::testing::TestWithParam<Trigger> {};

TEST_P(Reason, FailsWithItsErrnoAndReason) {
    const Trigger& t = GetParam();
    const Outcome o = run(t);
    RecordProperty("text", o.text);
    EXPECT_EQ(o.ret, -1);
    EXPECT_EQ(o.err, to_errno(t.e)) << "errno " << o.err << " (" << std::strerror(o.err) << ")";
    EXPECT_EQ(o.last, t.e) << "last_error() is " << name_of(o.last);
    EXPECT_NE(o.text.find(reason_of(t.e)), std::string::npos) << "text: " << o.text;
}

INSTANTIATE_TEST_SUITE_P(Table, Reason, ::testing::ValuesIn(kTriggers),
                         [](const ::testing::TestParamInfo<Trigger>& i) { return std::string(name_of(i.param.e)); });

TEST(Reasons, EveryReasonIsTriggeredOrJustifiedUnreachable) {
    // covered: the reasons whose trigger actually produced them (run here, independent of
    // which other tests ran).
    std::set<Err> covered, unreachable;
    std::multiset<Err> triggers;
    for (const Trigger& t : kTriggers) {
        triggers.insert(t.e);
        if (matches(t, run(t))) covered.insert(t.e);
    }
    for (const Unreachable& u : kUnreachable) {
        EXPECT_TRUE(unreachable.insert(u.e).second) << name_of(u.e) << " listed twice";
        EXPECT_EQ(triggers.count(u.e), 0u) << name_of(u.e) << " is both triggered and listed unreachable";
        EXPECT_GT(std::strlen(u.why), 0u);
    }
    for (size_t i = 1; i < size_t(Err::Count); ++i) {
        const Err e = Err(i);
        EXPECT_LE(triggers.count(e), 1u) << name_of(e) << " has more than one trigger";
        EXPECT_TRUE(covered.count(e) || unreachable.count(e))
            << name_of(e) << (triggers.count(e) ? ": its trigger does not produce it" : ": no trigger and not in kUnreachable");
    }
    EXPECT_EQ(covered.size() + unreachable.size(), size_t(Err::Count) - 1);
}

}  // namespace
