// Network-layer scenarios: ICMP errors and how they reach UDP sockets (SO_ERROR, poll,
// IP_RECVERR error queues), routes of every type, multicast and broadcast delivery, ICMP
// ping sockets, and fragmentation / MTU. Everything over eth0 waits with poll or a
// receive timeout so the traces are deterministic.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "harness.hpp"

using namespace conformance;

namespace {

constexpr int kEth0 = 2;  // lo is 1 in a fresh namespace and in usnet's default world

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

// Deterministic bytes whose every position differs from its neighbours'.
std::string pattern(size_t n, int salt = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char('A' + (i * 7 + size_t(salt)) % 26);
    return s;
}

// A receive that notes the length, the source and whether the bytes are exactly `want`.
void recv_whole(T& t, int fd, const std::string& want, size_t cap = 65536) {
    std::string buf(cap, '\0');
    iovec iov{buf.data(), cap};
    sockaddr_in from{};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = t.api().recvmsg(fd, &m, 0);
    if (r < 0) {
        t.note("recv_whole = -1 " + errname(errno));
        return;
    }
    const bool same = size_t(r) == want.size() && std::memcmp(buf.data(), want.data(), want.size()) == 0;
    t.note("recv_whole = " + std::to_string(r) + " intact=" + (same ? "yes" : "no") +
           " from=" + T::fmt_addr(from, m.msg_namelen) + ((m.msg_flags & MSG_TRUNC) ? " TRUNC" : ""));
}

// An ICMP echo request as a ping socket takes it: type 8, code 0, checksum and identifier
// (both rewritten by the stack), sequence, payload.
std::string echo_request(uint16_t seq, const std::string& payload, uint8_t type = 8, uint8_t code = 0) {
    std::string s(8, '\0');
    s[0] = char(type);
    s[1] = char(code);
    s[6] = char(seq >> 8);
    s[7] = char(seq & 0xff);
    return s + payload;
}

// A ping reply whose identifier (and so checksum) differs run to run: note only what is stable.
void ping_recv_summary(T& t, int fd) {
    char buf[2048];
    iovec iov{buf, sizeof buf};
    sockaddr_in from{};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = t.api().recvmsg(fd, &m, 0);
    if (r < 0) {
        t.note("ping recv = -1 " + errname(errno));
        return;
    }
    std::string tail = r > 8 ? std::string(buf + 8, size_t(r) - 8) : "";
    const unsigned seq = r >= 8 ? (unsigned(uint8_t(buf[6])) << 8 | uint8_t(buf[7])) : 0;
    t.note("ping recv = " + std::to_string(r) + " type=" + std::to_string(r > 0 ? int(uint8_t(buf[0])) : -1) +
           " code=" + std::to_string(r > 1 ? int(uint8_t(buf[1])) : -1) + " seq=" + std::to_string(seq) +
           " payload=\"" + tail + "\" from=" + T::fmt_addr(from, m.msg_namelen));
}

ip_mreq mreq(const char* group, const char* iface) {
    ip_mreq m{};
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    inet_pton(AF_INET, iface, &m.imr_interface);
    return m;
}

ip_mreqn mreqn(const char* group, const char* address, int ifindex) {
    ip_mreqn m{};
    inet_pton(AF_INET, group, &m.imr_multiaddr);
    inet_pton(AF_INET, address, &m.imr_address);
    m.imr_ifindex = ifindex;
    return m;
}

in_addr in4(const char* a) {
    in_addr x{};
    inet_pton(AF_INET, a, &x);
    return x;
}

int udp(T& t, Host h = kHost) { return t.socket(AF_INET, SOCK_DGRAM, 0, h); }
int ping(T& t) { return t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP); }

}  // namespace

// ======================= ICMP errors on plain sockets =======================

SCENARIO(Icmp, LoPortUnreachConnectedSoErrorReadsAndClears) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN, 0);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, LoPortUnreachUnconnectedIsIgnored) {
    int s = udp(t);
    t.sendto(s, "x", addr("127.0.0.1", 9));
    t.poll1(s, POLLIN, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, GwPortUnreachConnected) {
    int s = udp(t);
    t.connect(s, addr("10.0.2.2", 9));
    t.send(s, "x");
    t.poll1(s, POLLIN, 2000);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN, 0);
}

SCENARIO(Icmp, GwPortUnreachUnconnectedIsIgnored) {
    int s = udp(t);
    t.sendto(s, "x", addr("10.0.2.2", 9));
    t.poll1(s, POLLIN, 700);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, PollReportsPollErrWithNoEventsAsked) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.poll1(s, 0, 0);
    t.send(s, "x");
    t.poll1(s, 0, 0);
    t.poll1(s, POLLOUT, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.poll1(s, 0, 0);
}

SCENARIO(Icmp, RefusedSurfacesOnceThenEagain) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv(s, 64, MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Icmp, PendingErrorFailsTheNextSend) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.send(s, "y");
    t.send(s, "z");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, PeekConsumesThePendingError) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.recv(s, 64, MSG_PEEK | MSG_DONTWAIT);
    t.recv(s, 64, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Icmp, LoErrorReportedBeforeQueuedData) {
    int r = udp(t);
    t.bind(r, addr("127.0.0.1", 5100));
    int p = udp(t);
    t.bind(p, addr("127.0.0.1", 5101));
    t.connect(r, addr("127.0.0.1", 5101));
    t.sendto(p, "queued", addr("127.0.0.1", 5100));
    t.close(p);
    t.send(r, "to-closed-peer");
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, GwErrorReportedBeforeQueuedData) {
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 5200));
    t.connect(r, addr("10.0.2.2", 6200));
    int g = udp(t, kGw);
    t.bind(g, addr("10.0.2.2", 6200));
    t.sendto(g, "from-gw", addr("10.0.2.15", 5200));
    t.poll1(r, POLLIN, 2000);
    t.close(g);
    t.send(r, "to-closed-peer");
    t.sleep_ms(500);
    t.poll1(r, POLLIN, 0);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Icmp, DisconnectKeepsPendingError) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.connect_unspec(s);
    t.poll1(s, POLLIN, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

// ======================= IP_RECVERR error queues =======================

SCENARIO(ErrQueue, EmptyQueueIsEAGAIN) {
    int s = udp(t);
    t.recv_errqueue(s);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.getsockopt_int(s, SOL_IP, IP_RECVERR);
    t.recv_errqueue(s);
    t.connect(s, addr("10.0.2.2", 9));
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, LoPortUnreachEntry) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "payload");
    t.poll1(s, POLLIN, 0);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN, 0);
    t.recv_errqueue(s);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(ErrQueue, GwPortUnreachEntry) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("10.0.2.2", 9));
    t.send(s, "payload");
    t.poll1(s, POLLERR, 2000);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, EntryCarriesPktinfoAndTtl) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.setsockopt_int(s, SOL_IP, IP_PKTINFO, 1);
    t.setsockopt_int(s, SOL_IP, IP_RECVTTL, 1);
    t.connect(s, addr("10.0.2.2", 9));
    t.send(s, "q");
    t.poll1(s, POLLERR, 2000);
    t.recv_errqueue(s);
    int l = udp(t);
    t.setsockopt_int(l, SOL_IP, IP_RECVERR, 1);
    t.setsockopt_int(l, SOL_IP, IP_PKTINFO, 1);
    t.connect(l, addr("127.0.0.1", 9));
    t.send(l, "q");
    t.recv_errqueue(l);
}

SCENARIO(ErrQueue, UnconnectedSocketGetsErrors) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, "lo", addr("127.0.0.1", 9));
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);  // else the next sendto reports it
    t.sendto(s, "gw", addr("10.0.2.2", 9));
    t.poll1(s, POLLIN, 700);  // POLLERR already; wait for the gateway's error too
    t.sleep_ms(500);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, UnconnectedPendingErrorFailsSendto) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, "lo", addr("127.0.0.1", 9));
    t.sendto(s, "gw", addr("10.0.2.2", 9));
    t.sendto(s, "gw2", addr("10.0.2.2", 9));
    t.poll1(s, POLLIN, 700);
    t.sleep_ms(300);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, UnconnectedRecvErrSetsSoError) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, "x", addr("127.0.0.1", 9));
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, ReadingQueueClearsSoError) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "a");
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(ErrQueue, SoErrorLeavesQueue) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "a");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv_errqueue(s);
    t.poll1(s, POLLIN, 0);
}

SCENARIO(ErrQueue, TwoEntriesAndSoErrorFollowsQueue) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "one");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "two");
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, PeekAndTruncate) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "abcdef");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);  // else the next send reports it
    t.send(s, "ghijkl");
    t.recv_errqueue(s, 2);
    t.recv_errqueue(s, 2048, MSG_PEEK);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, TurningRecvErrOffPurgesQueue) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "a");
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 0);
    t.poll1(s, POLLIN, 0);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(ErrQueue, PmtudDoEmsgsizeLocalError) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.connect(s, addr("10.0.2.2", 7300));
    t.send(s, pattern(1473));
    t.recv_errqueue(s);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.send(s, pattern(1473));
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN, 0);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, PmtudDoUnconnectedLocalErrorHasNoPort) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, pattern(2000), addr("10.0.2.2", 7301));
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, PmtudDo1472Fits) {
    int g = udp(t, kGw);
    t.bind(g, addr("0.0.0.0", 7302));
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.getsockopt_int(s, SOL_IP, IP_MTU_DISCOVER);
    const std::string big = pattern(1472);
    t.sendto(s, big, addr("10.0.2.2", 7302));
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, big);
    t.recv_errqueue(s);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
    const std::string bigger = pattern(1473, 1);
    t.sendto(s, bigger, addr("10.0.2.2", 7302));
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, bigger);
}

// ======================= routes =======================

SCENARIO(Route, BlackholeIsEINVAL) {
    t.ip("route add blackhole 192.0.2.0/24");
    int s = udp(t);
    t.connect(s, addr("192.0.2.1", 9));
    t.sendto(s, "x", addr("192.0.2.1", 9));
    t.getpeername(s);
    t.getsockname(s);
    t.sendto(s, "x", addr("192.0.3.1", 9));
}

SCENARIO(Route, UnreachableIsEHOSTUNREACH) {
    t.ip("route add unreachable 192.0.2.0/24");
    int s = udp(t);
    t.connect(s, addr("192.0.2.1", 9));
    t.sendto(s, "x", addr("192.0.2.77", 9));
    t.getpeername(s);
}

SCENARIO(Route, ProhibitIsEACCES) {
    t.ip("route add prohibit 192.0.2.0/24");
    int s = udp(t);
    t.connect(s, addr("192.0.2.1", 9));
    t.sendto(s, "x", addr("192.0.2.1", 9));
    t.getpeername(s);
}

SCENARIO(Route, MoreSpecificRouteWins) {
    t.ip("route add blackhole 192.0.2.0/24");
    t.ip("route add unreachable 192.0.2.128/25");
    t.ip("route add prohibit 192.0.2.200/32");
    int s = udp(t);
    t.sendto(s, "x", addr("192.0.2.1", 9));
    t.sendto(s, "x", addr("192.0.2.129", 9));
    t.sendto(s, "x", addr("192.0.2.200", 9));
    t.ip("route del 192.0.2.128/25");
    t.sendto(s, "x", addr("192.0.2.129", 9));
}

// `ip route add` is exclusive: the same prefix and metric again is refused (EEXIST), whatever
// the type; another metric is a second route, and the lower metric is used.
SCENARIO(Route, SamePrefixAndMetricIsRefused) {
    t.ip("route add blackhole 192.0.2.0/24");
    t.ip("route add unreachable 192.0.2.0/24");
    t.ip("route add 192.0.2.0/24 via 10.0.2.2 metric 5");
    int s = udp(t);
    t.sendto(s, "x", addr("192.0.2.1", 9));
    t.ip("route del 192.0.2.0/24");
    t.sendto(s, "x", addr("192.0.2.1", 9));
    t.ip("route add 10.0.2.0/24 dev eth0");
    t.ip("route add 10.9.0.0/16 via 10.8.8.8 dev eth0");  // not on-link: ENETUNREACH
    t.ip("route add 10.9.0.0/16 via 10.0.2.2 dev eth0");
    t.connect(s, addr("10.9.1.1", 9));
    t.getsockname(s);
}

SCENARIO(Route, ConnectedSocketSeesNewRoute) {
    int s = udp(t);
    t.connect(s, addr("192.0.2.1", 9));
    t.send(s, "x");
    t.ip("route add unreachable 192.0.2.0/24");
    t.send(s, "x");
    t.getpeername(s);
    t.ip("route del 192.0.2.0/24");
    t.send(s, "x");
}

SCENARIO(Route, DelDefaultIsENETUNREACH) {
    t.ip("route del default");
    int s = udp(t);
    t.connect(s, addr("8.8.8.8", 53));
    t.sendto(s, "x", addr("8.8.8.8", 53));
    t.sendto(s, "x", addr("192.0.2.1", 53));
    t.connect(s, addr("10.0.2.2", 53));
    t.getsockname(s);
    t.connect(s, addr("127.0.0.9", 53));
    t.getsockname(s);
}

SCENARIO(Route, SourceAddressSelection) {
    int a = udp(t);
    t.connect(a, addr("127.0.0.5", 9));
    t.getsockname(a);
    int b = udp(t);
    t.connect(b, addr("10.0.2.2", 9));
    t.getsockname(b);
    int c = udp(t);
    t.connect(c, addr("8.8.8.8", 53));
    t.getsockname(c);
    int d = udp(t);
    t.connect(d, addr("10.0.2.15", 9));
    t.getsockname(d);
    int e = udp(t);
    t.connect(e, addr("0.0.0.0", 9));
    t.getsockname(e);
    t.getpeername(e);
}

SCENARIO(Route, SourceAddressWithSecondAddress) {
    t.ip("addr add 10.0.2.16/24 dev eth0");
    t.ip("addr add 192.168.77.1/24 dev eth0");
    int a = udp(t);
    t.connect(a, addr("10.0.2.16", 9));
    t.getsockname(a);
    int b = udp(t);
    t.connect(b, addr("192.168.77.9", 9));
    t.getsockname(b);
    int c = udp(t);
    t.connect(c, addr("10.0.2.2", 9));
    t.getsockname(c);
    int d = udp(t);
    t.connect(d, addr("192.168.77.255", 9));
    t.setsockopt_int(d, SOL_SOCKET, SO_BROADCAST, 1);
    t.connect(d, addr("192.168.77.255", 9));
    t.getsockname(d);
}

SCENARIO(Route, OnLinkArpFailureWithRecvErr) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.set_rcvtimeo(s, 5000);
    t.sendto(s, "anyone?", addr("10.0.2.99", 7400));
    t.poll1(s, POLLERR, 5000);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s);
}

SCENARIO(Route, OnLinkArpFailureConnectedNoRecvErr) {
    int s = udp(t);
    t.connect(s, addr("10.0.2.99", 7401));
    t.getsockname(s);
    t.send(s, "anyone?");
    t.poll1(s, POLLIN, 4500);  // host unreachable is a soft error: nothing without IP_RECVERR
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "again");
}

SCENARIO(Route, OnLinkArpFailureConnectedRecvErr) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("10.0.2.99", 7402));
    t.send(s, "one");
    t.send(s, "two");
    t.poll1(s, POLLERR, 5000);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
    t.recv_errqueue(s);
}

SCENARIO(Route, LinkDownAndUpLosesDefaultRoute) {
    t.ip("link set eth0 down");
    int a = udp(t);
    t.connect(a, addr("10.0.2.2", 9));
    t.connect(a, addr("8.8.8.8", 53));
    t.connect(a, addr("10.0.2.15", 9));
    t.getsockname(a);
    t.ip("link set eth0 up");
    int b = udp(t);
    t.connect(b, addr("10.0.2.2", 9));
    t.getsockname(b);
    int c = udp(t);
    t.connect(c, addr("8.8.8.8", 53));
    t.ip("route add default via 10.0.2.2 dev eth0");
    t.connect(c, addr("8.8.8.8", 53));
}

SCENARIO(Route, LoopbackSourceCannotLeaveHost) {
    int s = udp(t);
    t.bind(s, addr("127.0.0.1", 0));
    t.sendto(s, "x", addr("10.0.2.2", 9));
    t.sendto(s, "x", addr("8.8.8.8", 53));
    t.connect(s, addr("10.0.2.2", 9));
    t.getpeername(s);
    t.sendto(s, "x", addr("10.0.2.15", 9));
    t.sendto(s, "x", addr("127.0.0.2", 9));
}

SCENARIO(Route, ReconnectKeepsFirstSource) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.getsockname(s);
    t.connect(s, addr("10.0.2.2", 9));
    t.getpeername(s);
    t.getsockname(s);
    int u = udp(t);
    t.connect(u, addr("10.0.2.2", 9));
    t.connect(u, addr("127.0.0.1", 9));
    t.getsockname(u);
}

SCENARIO(Route, ViaAndOnLinkRoutes) {
    t.ip("route add 192.0.2.0/24 via 10.0.2.2 dev eth0");
    t.ip("route add 198.51.100.0/24 dev eth0");
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("192.0.2.1", 9));
    t.getsockname(s);
    t.send(s, "via-gw");
    int o = udp(t);
    t.setsockopt_int(o, SOL_IP, IP_RECVERR, 1);
    t.connect(o, addr("198.51.100.1", 9));
    t.getsockname(o);
    t.send(o, "on-link");
    t.poll1(o, POLLERR, 5000);
    t.recv_errqueue(o);
    t.recv_errqueue(s);
}

// ======================= fragments and MTU =======================

SCENARIO(Frag, GwToHost4000Reassembled) {
    int h = udp(t);
    t.bind(h, addr("0.0.0.0", 7500));
    int g = udp(t, kGw);
    const std::string big = pattern(4000);
    t.sendto(g, big, addr("10.0.2.15", 7500));
    t.poll1(h, POLLIN, 2000);
    t.ioctl_int(h, FIONREAD, "FIONREAD");
    recv_whole(t, h, big);
}

SCENARIO(Frag, HostToGw3000) {
    int g = udp(t, kGw);
    t.bind(g, addr("10.0.2.2", 7501));
    int h = udp(t);
    t.bind(h, addr("0.0.0.0", 7502));
    const std::string big = pattern(3000, 3);
    t.sendto(h, big, addr("10.0.2.2", 7501));
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, big);
}

SCENARIO(Frag, ReassembledDatagramEarnsPortUnreach) {
    int g = udp(t, kGw);
    t.connect(g, addr("10.0.2.15", 7503));
    t.send(g, pattern(4000));
    t.poll1(g, POLLIN, 2000);
    t.getsockopt_int(g, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Frag, PmtudDoRefusesWhatWouldFragment) {
    int g = udp(t, kGw);
    t.bind(g, addr("0.0.0.0", 7504));
    int s = udp(t);
    t.connect(s, addr("10.0.2.2", 7504));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.send(s, pattern(3000));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    t.send(s, pattern(3000));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_WANT);
    t.send(s, pattern(3000));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_OMIT);
    t.send(s, pattern(3000));
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, pattern(3000));
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, pattern(3000));
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Frag, HostMtu1280DropsBigFramesFromGw) {
    t.ip("link set eth0 mtu 1280");
    int h = udp(t);
    t.bind(h, addr("0.0.0.0", 7508));
    int g = udp(t, kGw);
    t.sendto(g, pattern(1200), addr("10.0.2.15", 7508));
    t.poll1(h, POLLIN, 2000);
    recv_whole(t, h, pattern(1200));
    t.sendto(g, pattern(1400), addr("10.0.2.15", 7508));
    t.poll1(h, POLLIN, 1000);
}

SCENARIO(Frag, LoopbackLargestDatagram) {
    int r = udp(t);
    t.bind(r, addr("127.0.0.1", 7505));
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 1 << 20);
    int s = udp(t);
    t.sendto(s, pattern(65508), addr("127.0.0.1", 7505));
    const std::string big = pattern(65507, 5);
    t.sendto(s, big, addr("127.0.0.1", 7505));
    recv_whole(t, r, big, 70000);
}

SCENARIO(Frag, LinkMtu1280ThenIpMtu) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect(s, addr("10.0.2.2", 7506));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.ip("link set eth0 mtu 1280");
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    int l = udp(t);
    t.connect(l, addr("127.0.0.1", 7506));
    t.getsockopt_int(l, SOL_IP, IP_MTU);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.send(s, pattern(1253));
    t.send(s, pattern(1252));
}

SCENARIO(Frag, Mtu1280FragmentsToGw) {
    t.ip("link set eth0 mtu 1280");
    int g = udp(t, kGw);
    t.bind(g, addr("0.0.0.0", 7507));
    int h = udp(t);
    t.connect(h, addr("10.0.2.2", 7507));
    t.getsockopt_int(h, SOL_IP, IP_MTU);
    const std::string big = pattern(2500, 9);
    t.send(h, big);
    t.poll1(g, POLLIN, 2000);
    recv_whole(t, g, big);
}

// ======================= multicast and broadcast =======================

SCENARIO(Mcast, JoinDropWithIpMreq) {
    int s = udp(t);
    ip_mreq m = mreq("224.1.2.3", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    ip_mreq byaddr = mreq("224.1.2.3", "10.0.2.15");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &byaddr, sizeof byaddr);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    ip_mreq other = mreq("224.9.9.9", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &other, sizeof other);
}

SCENARIO(Mcast, JoinDropWithIpMreqn) {
    int s = udp(t);
    ip_mreqn byidx = mreqn("224.1.2.3", "0.0.0.0", kEth0);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &byidx, sizeof byidx);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &byidx, sizeof byidx);
    ip_mreqn lo = mreqn("224.1.2.3", "0.0.0.0", 1);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &lo, sizeof lo);
    ip_mreqn bad = mreqn("224.1.2.3", "0.0.0.0", 99);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &bad, sizeof bad);
    ip_mreqn byaddr = mreqn("224.1.2.3", "10.0.2.15", 0);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &byaddr, sizeof byaddr);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &lo, sizeof lo);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &lo, sizeof lo);
    ip_mreqn byaddr2 = mreqn("224.1.2.3", "10.0.2.99", 0);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &byaddr2, sizeof byaddr2);
}

SCENARIO(Mcast, BadGroupsAndLengths) {
    int s = udp(t);
    ip_mreq uni = mreq("10.0.2.2", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &uni, sizeof uni);
    ip_mreq bc = mreq("255.255.255.255", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &bc, sizeof bc);
    ip_mreq ok = mreq("239.0.0.1", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &ok, 4);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &ok, 7);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &uni, sizeof uni);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &ok, 4);
    ip_mreq allhosts = mreq("224.0.0.1", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &allhosts, sizeof allhosts);
}

SCENARIO(Mcast, JoinWithoutRouteNeedsInterface) {
    t.ip("route del default");
    int s = udp(t);
    ip_mreq any = mreq("224.1.2.3", "0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &any, sizeof any);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &any, sizeof any);
    ip_mreq byaddr = mreq("224.1.2.3", "10.0.2.15");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &byaddr, sizeof byaddr);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &any, sizeof any);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &byaddr, sizeof byaddr);
}

SCENARIO(Mcast, MulticastIfByAddressIndexAndInvalid) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    in_addr a = in4("10.0.2.15");
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    in_addr bad = in4("10.0.2.99");
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &bad, sizeof bad);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    ip_mreqn byidx = mreqn("0.0.0.0", "0.0.0.0", kEth0);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &byidx, sizeof byidx);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    ip_mreqn badidx = mreqn("0.0.0.0", "0.0.0.0", 99);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &badidx, sizeof badidx);
    ip_mreq m = mreq("0.0.0.0", "127.0.0.1");
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &m, sizeof m);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &a, 3);
    in_addr any = in4("0.0.0.0");
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &any, sizeof any);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_ALL);
}

SCENARIO(Mcast, GatewayNeedsRouteOrMulticastIf) {
    int g = udp(t, kGw);
    t.sendto(g, "mc", addr("224.1.2.3", 7600));
    in_addr a = in4("10.0.2.2");
    t.setsockopt_raw(g, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    t.sendto(g, "mc", addr("224.1.2.3", 7600));
}

SCENARIO(Mcast, GroupDatagramFromGatewayAndMulticastAll) {
    int joined = udp(t);
    t.setsockopt_int(joined, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(joined, addr("0.0.0.0", 7601));
    ip_mreqn m = mreqn("224.1.2.3", "10.0.2.15", 0);
    t.setsockopt_raw(joined, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    int all = udp(t);
    t.setsockopt_int(all, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(all, addr("0.0.0.0", 7601));
    int notall = udp(t);
    t.setsockopt_int(notall, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(notall, addr("0.0.0.0", 7601));
    t.setsockopt_int(notall, SOL_IP, IP_MULTICAST_ALL, 0);
    int bound = udp(t);
    t.setsockopt_int(bound, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(bound, addr("10.0.2.15", 7601));
    int group = udp(t);
    t.setsockopt_int(group, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(group, addr("224.1.2.3", 7601));
    t.getsockname(group);

    int g = udp(t, kGw);
    in_addr a = in4("10.0.2.2");
    t.setsockopt_raw(g, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    t.sendto(g, "to-group", addr("224.1.2.3", 7601));
    t.poll1(joined, POLLIN, 2000);
    t.recv(joined, 64, MSG_DONTWAIT);
    t.recv(all, 64, MSG_DONTWAIT);
    t.recv(notall, 64, MSG_DONTWAIT);
    t.recv(bound, 64, MSG_DONTWAIT);
    t.recv(group, 64, MSG_DONTWAIT);
    // A group nobody joined never gets past the interface.
    t.sendto(g, "other-group", addr("224.1.2.4", 7601));
    t.poll1(all, POLLIN, 500);
}

SCENARIO(Mcast, LeavingStopsDelivery) {
    int s = udp(t);
    t.bind(s, addr("0.0.0.0", 7602));
    ip_mreq m = mreq("224.1.2.3", "10.0.2.15");
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    int g = udp(t, kGw);
    in_addr a = in4("10.0.2.2");
    t.setsockopt_raw(g, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    t.sendto(g, "first", addr("224.1.2.3", 7602));
    t.poll1(s, POLLIN, 2000);
    t.recv(s, 64, MSG_DONTWAIT);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    t.sendto(g, "second", addr("224.1.2.3", 7602));
    t.poll1(s, POLLIN, 500);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, MulticastLoopOnHost) {
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 7603));
    ip_mreq m = mreq("224.1.2.5", "10.0.2.15");
    t.setsockopt_raw(r, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    int s = udp(t);
    t.sendto(s, "looped", addr("224.1.2.5", 7603));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP, 0);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
    t.sendto(s, "not-looped", addr("224.1.2.5", 7603));
    t.poll1(r, POLLIN, 500);
    t.recv(r, 64, MSG_DONTWAIT);
    // A group the host did not join: no local copy even with loop on.
    int q = udp(t);
    t.bind(q, addr("0.0.0.0", 7604));
    t.sendto(r, "unjoined", addr("224.1.2.6", 7604));
    t.poll1(q, POLLIN, 500);
}

SCENARIO(Mcast, MulticastTtlOption) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, 0);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, 256);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, -1);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, -2);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_ALL, 2);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP, 7);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
}

SCENARIO(Mcast, SubnetBroadcastFromGateway) {
    int any = udp(t);
    t.setsockopt_int(any, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(any, addr("0.0.0.0", 7610));
    int uni = udp(t);
    t.setsockopt_int(uni, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(uni, addr("10.0.2.15", 7610));
    int bc = udp(t);
    t.setsockopt_int(bc, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(bc, addr("10.0.2.255", 7610));
    t.getsockname(bc);
    int g = udp(t, kGw);
    t.sendto(g, "subnet", addr("10.0.2.255", 7610));
    t.setsockopt_int(g, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(g, "subnet", addr("10.0.2.255", 7610));
    t.poll1(any, POLLIN, 2000);
    t.recv(any, 64, MSG_DONTWAIT);
    t.recv(bc, 64, MSG_DONTWAIT);
    t.poll1(uni, POLLIN, 300);
    t.recv(uni, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, LimitedBroadcastFromGateway) {
    int any = udp(t);
    t.setsockopt_int(any, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(any, addr("0.0.0.0", 7611));
    int uni = udp(t);
    t.setsockopt_int(uni, SOL_SOCKET, SO_REUSEADDR, 1);
    t.bind(uni, addr("10.0.2.15", 7611));
    int g = udp(t, kGw);
    t.setsockopt_int(g, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(g, "all-ones", addr("255.255.255.255", 7611));  // the gateway has no default route
    int g2 = udp(t, kGw);
    t.setsockopt_int(g2, SOL_SOCKET, SO_BROADCAST, 1);
    t.bind(g2, addr("10.0.2.2", 0));
    t.sendto(g2, "all-ones", addr("255.255.255.255", 7611));
    t.poll1(any, POLLIN, 2000);
    t.recv(any, 64, MSG_DONTWAIT);
    t.poll1(uni, POLLIN, 300);
}

SCENARIO(Mcast, HostBroadcastLoopsBack) {
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 7612));
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(s, "bc", addr("10.0.2.255", 7612));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(s, "bc2", addr("255.255.255.255", 7612));
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
}

// ======================= ping sockets =======================

SCENARIO(Ping, EchoLoopbackUnbound) {
    int p = ping(t);
    t.getsockopt_int(p, SOL_SOCKET, SO_PROTOCOL);
    t.getsockopt_int(p, SOL_SOCKET, SO_TYPE);
    t.sendto(p, echo_request(1, "hello-lo"), addr("127.0.0.1", 0));
    t.poll1(p, POLLIN, 1000);
    ping_recv_summary(t, p);
}

SCENARIO(Ping, EchoGatewayUnbound) {
    int p = ping(t);
    t.sendto(p, echo_request(7, "hello-gw"), addr("10.0.2.2", 0));
    t.poll1(p, POLLIN, 2000);
    ping_recv_summary(t, p);
    t.recv(p, 64, MSG_DONTWAIT);
}

SCENARIO(Ping, EchoWithBoundIdentIsReproducible) {
    int p = ping(t);
    t.getsockname(p);
    t.bind(p, addr("0.0.0.0", 4242));
    t.getsockname(p);
    t.sendto(p, echo_request(3, "abc"), addr("127.0.0.1", 0));
    t.poll1(p, POLLIN, 1000);
    t.recv(p);
    t.sendto(p, echo_request(4, "to-gw"), addr("10.0.2.2", 99));
    t.poll1(p, POLLIN, 2000);
    t.recv(p);
}

SCENARIO(Ping, BadTypeCodeAndLength) {
    int p = ping(t);
    t.sendto(p, echo_request(1, "x", 0, 0), addr("127.0.0.1", 0));
    t.sendto(p, echo_request(1, "x", 8, 1), addr("127.0.0.1", 0));
    t.sendto(p, echo_request(1, "x", 13, 0), addr("127.0.0.1", 0));
    t.sendto(p, std::string("\x08\0\0\0\0\0\0", 7), addr("127.0.0.1", 0));
    t.sendto(p, "", addr("127.0.0.1", 0));
    t.sendto(p, echo_request(1, ""), addr("127.0.0.1", 0), 0, 8);
    t.sendto(p, echo_request(1, ""), addr("127.0.0.1", 0, AF_INET6));
    t.send(p, echo_request(1, ""));
    t.sendto(p, echo_request(1, ""), addr("127.0.0.1", 0), MSG_OOB);
    t.poll1(p, POLLIN, 200);
}

SCENARIO(Ping, BindRules) {
    int p = ping(t);
    t.bind(p, addr("10.0.2.2", 0));
    t.bind(p, addr("127.0.0.1", 5000), 8);
    t.bind(p, addr("127.0.0.1", 5000, AF_INET6));
    t.bind(p, addr("127.0.0.1", 5000));
    t.getsockname(p);
    t.bind(p, addr("127.0.0.1", 5001));
    int q = ping(t);
    t.bind(q, addr("0.0.0.0", 5000));
    t.bind(q, addr("10.0.2.15", 5000));
    t.bind(q, addr("10.0.2.15", 5002));
    t.getsockname(q);
    int u = udp(t);
    t.bind(u, addr("127.0.0.1", 5000));  // UDP ports and ping identifiers do not collide
    int r = ping(t);
    t.getsockopt_int(r, SOL_SOCKET, SO_REUSEADDR);
    t.setsockopt_int(r, SOL_SOCKET, SO_REUSEADDR, 0);
    t.bind(r, addr("127.0.0.1", 5000));
    t.bind(r, addr("127.0.0.1", 5003));
    t.getsockname(r);
    int w = ping(t);
    t.bind(w, addr("127.0.0.1", 5003));
}

SCENARIO(Ping, SharedIdentNewestGetsReply) {
    int a = ping(t);
    t.bind(a, addr("0.0.0.0", 5040));
    int b = ping(t);
    t.bind(b, addr("0.0.0.0", 5040));
    t.sendto(a, echo_request(1, "from-a"), addr("127.0.0.1", 0));
    t.poll1(b, POLLIN, 500);
    t.recv(a, 64, MSG_DONTWAIT);
    t.recv(b, 64, MSG_DONTWAIT);
}

SCENARIO(Ping, BroadcastNeedsSoBroadcast) {
    int p = ping(t);
    t.bind(p, addr("0.0.0.0", 5050));
    t.sendto(p, echo_request(1, "bc"), addr("10.0.2.255", 0));
    t.setsockopt_int(p, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(p, echo_request(1, "bc"), addr("10.0.2.255", 0));
    t.poll1(p, POLLIN, 500);
}

SCENARIO(Ping, PmtudDoEmsgsizeLocalError) {
    int p = ping(t);
    t.bind(p, addr("0.0.0.0", 5060));
    t.setsockopt_int(p, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.setsockopt_int(p, SOL_IP, IP_RECVERR, 1);
    t.sendto(p, echo_request(1, pattern(1473)), addr("10.0.2.2", 0));
    t.sendto(p, echo_request(1, pattern(1500)), addr("10.0.2.2", 0));
    t.recv_errqueue(p);
    t.sendto(p, echo_request(2, pattern(1472)), addr("10.0.2.2", 0));
    t.poll1(p, POLLIN, 2000);
    t.recv(p, 64);
}

SCENARIO(Ping, BindBroadcastAndMulticast) {
    int p = ping(t);
    t.bind(p, addr("224.1.2.3", 5010));
    t.getsockname(p);
    int q = ping(t);
    t.bind(q, addr("10.0.2.255", 5011));
    t.getsockname(q);
    int r = ping(t);
    t.bind(r, addr("255.255.255.255", 5012));
    int s = ping(t);
    t.bind(s, addr("0.0.0.0", 5013, AF_UNSPEC));
    t.getsockname(s);
}

SCENARIO(Ping, ConnectAndGetpeername) {
    int p = ping(t);
    t.bind(p, addr("0.0.0.0", 5020));
    t.connect(p, addr("127.0.0.1", 0));
    t.getpeername(p);
    t.getsockname(p);
    t.send(p, echo_request(9, "conn"));
    t.poll1(p, POLLIN, 1000);
    t.recv(p);
    t.connect(p, addr("10.0.2.2", 77));
    t.getpeername(p);
    t.getsockname(p);
}

SCENARIO(Ping, ArpFailureReachesErrQueue) {
    int p = ping(t);
    t.bind(p, addr("0.0.0.0", 5030));
    t.setsockopt_int(p, SOL_IP, IP_RECVERR, 1);
    t.sendto(p, echo_request(1, "nobody"), addr("10.0.2.99", 0));
    t.poll1(p, POLLERR, 5000);
    t.recv_errqueue(p);
    t.getsockopt_int(p, SOL_SOCKET, SO_ERROR);
}

// ======================= more: late options, limits, TTL, deleted addresses =======================

SCENARIO(ErrQueue, RecvErrEnabledAfterTheError) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "y");
    t.recv_errqueue(s);
}

SCENARIO(ErrQueue, QueueBoundedByRcvbuf) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    for (int i = 0; i < 6; ++i) {
        t.send(s, std::string(1, char('a' + i)));
        t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    }
    for (int i = 0; i < 7; ++i) t.recv_errqueue(s);
}

SCENARIO(Mcast, GroupOverLoopback) {
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 7620));
    ip_mreqn m = mreqn("224.1.2.7", "0.0.0.0", 1);
    t.setsockopt_raw(r, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    int s = udp(t);
    ip_mreqn ifc = mreqn("0.0.0.0", "0.0.0.0", 1);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &ifc, sizeof ifc);
    t.sendto(s, "over-lo", addr("224.1.2.7", 7620));
    t.poll1(r, POLLIN, 500);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Mcast, HostToGatewayGroupAndTtlZero) {
    int g = udp(t, kGw);
    t.bind(g, addr("0.0.0.0", 7621));
    ip_mreq gm = mreq("224.1.2.8", "10.0.2.2");
    t.setsockopt_raw(g, SOL_IP, IP_ADD_MEMBERSHIP, &gm, sizeof gm);
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 7621));
    ip_mreq hm = mreq("224.1.2.8", "10.0.2.15");
    t.setsockopt_raw(r, SOL_IP, IP_ADD_MEMBERSHIP, &hm, sizeof hm);
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVTTL, 1);
    t.setsockopt_int(g, SOL_IP, IP_RECVTTL, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    t.sendto(s, "ttl1", addr("224.1.2.8", 7621));
    t.poll1(g, POLLIN, 2000);
    t.recv(g, 64, MSG_DONTWAIT);
    t.poll1(r, POLLIN, 500);
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, 0);
    t.sendto(s, "ttl0", addr("224.1.2.8", 7621));
    t.poll1(r, POLLIN, 500);
    t.recv(r, 64, MSG_DONTWAIT);
    t.poll1(g, POLLIN, 500);
}

SCENARIO(Route, DeletedSourceAddress) {
    int s = udp(t);
    t.connect(s, addr("10.0.2.2", 9));
    t.ip("addr del 10.0.2.15/24 dev eth0");
    t.send(s, "x");
    t.getsockname(s);
    int u = udp(t);
    t.sendto(u, "x", addr("10.0.2.2", 9));
    t.sendto(u, "x", addr("8.8.8.8", 53));
    t.connect(u, addr("10.0.2.15", 9));
    t.getsockname(u);
}
