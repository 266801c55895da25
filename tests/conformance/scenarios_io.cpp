// Data path conformance: send/sendto/sendmsg/recvmsg, truncation, peeking, sizes,
// broadcast, receive-buffer accounting, ioctl queries, shutdown, poll, fcntl, control
// messages and corking (udp_sendmsg, udp_recvmsg, __udp_enqueue_schedule_skb, udp_poll,
// inet_shutdown, ip_cmsg_send, ip_cmsg_recv_offset, put_cmsg).
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "harness.hpp"

using namespace conformance;

namespace {

// One control message, padded to CMSG_SPACE, ready to concatenate with others.
std::string cmsg(int level, int type, const void* data, size_t len) {
    std::string s(CMSG_SPACE(len), '\0');
    cmsghdr h{};
    h.cmsg_len = CMSG_LEN(len);
    h.cmsg_level = level;
    h.cmsg_type = type;
    std::memcpy(s.data(), &h, sizeof h);
    std::memcpy(s.data() + CMSG_LEN(0), data, len);
    return s;
}

std::string cmsg_int(int level, int type, int v) { return cmsg(level, type, &v, sizeof v); }

// A receiver bound to addr:port on the host.
int receiver(T& t, const char* ip, uint16_t port, Host h = kHost) {
    int r = t.socket(AF_INET, SOCK_DGRAM, 0, h);
    t.bind(r, addr(ip, port));
    return r;
}

// recv with MSG_DONTWAIT until EAGAIN (bounded); returns how many datagrams were read.
int drain(T& t, int fd, size_t cap = 2048) {
    int n = 0;
    while (n < 64 && t.recv(fd, cap, MSG_DONTWAIT) >= 0) ++n;
    t.note("drained " + std::to_string(n));
    return n;
}

}  // namespace

// ---------------------------------------------------------------- zero length, truncation

SCENARIO(Io, ZeroLengthDatagramOverLoopback) {
    int r = receiver(t, "127.0.0.1", 6000);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "", addr("127.0.0.1", 6000));
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.poll1(r, POLLIN, 0);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
    t.getsockname(s);
}

SCENARIO(Io, ZeroLengthOnConnectedSocketAndZeroCap) {
    int r = receiver(t, "127.0.0.1", 6001);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 6001));
    t.send(s, "");
    t.send(s, "hello");
    t.recv(r, 0, MSG_DONTWAIT);  // zero-length datagram into zero-length buffer: no TRUNC
    t.recv(r, 0, MSG_DONTWAIT);  // 5 bytes into zero-length buffer: TRUNC, consumed
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, SmallBufferSetsMSG_TRUNCAndDiscardsRest) {
    int r = receiver(t, "127.0.0.1", 6002);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(100, 'a') + "", addr("127.0.0.1", 6002));
    t.sendto(s, "0123456789", addr("127.0.0.1", 6002));
    t.recv(r, 10, MSG_DONTWAIT);
    t.recv(r, 10, MSG_DONTWAIT);  // exactly fits: no TRUNC
    t.recv(r, 10, MSG_DONTWAIT);
}

SCENARIO(Io, RecvFlagMSG_TRUNCReturnsRealLength) {
    int r = receiver(t, "127.0.0.1", 6003);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(300, 'b'), addr("127.0.0.1", 6003));
    t.sendto(s, "short", addr("127.0.0.1", 6003));
    t.recv(r, 16, MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK);
    t.recv(r, 16, MSG_DONTWAIT | MSG_TRUNC);
    t.recv(r, 16, MSG_DONTWAIT | MSG_TRUNC);
    t.recv(r, 16, MSG_DONTWAIT | MSG_TRUNC);
}

SCENARIO(Io, PeekThenRead) {
    int r = receiver(t, "127.0.0.1", 6004);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "first", addr("127.0.0.1", 6004));
    t.sendto(s, "second", addr("127.0.0.1", 6004));
    t.recv(r, 64, MSG_DONTWAIT | MSG_PEEK);
    t.recv(r, 3, MSG_DONTWAIT | MSG_PEEK);  // truncated peek leaves the datagram queued
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT | MSG_PEEK);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT | MSG_PEEK);
}

SCENARIO(Io, DontwaitOnEmptyQueueIsEAGAIN) {
    int u = t.socket(AF_INET, SOCK_DGRAM);
    t.recv(u, 64, MSG_DONTWAIT);  // unbound
    t.getsockname(u);             // recv does not autobind
    int b = receiver(t, "0.0.0.0", 6005);
    t.recv(b, 64, MSG_DONTWAIT);
    t.recv(b, 64, MSG_DONTWAIT | MSG_PEEK);
    t.recv_errqueue(b);
    t.set_rcvtimeo(b, 50);
    t.recv(b, 64);  // blocking with a timeout: EAGAIN too
}

SCENARIO(Io, IovecGatherScatterAndEmpty) {
    int r = receiver(t, "127.0.0.1", 6007);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    sockaddr_in to = addr("127.0.0.1", 6007);
    auto send_iov = [&](std::vector<std::string> parts, const char* what) {
        std::vector<iovec> iov;
        for (auto& p : parts) iov.push_back({p.data(), p.size()});
        msghdr m{};
        m.msg_name = &to;
        m.msg_namelen = sizeof to;
        m.msg_iov = iov.empty() ? nullptr : iov.data();
        m.msg_iovlen = iov.size();
        errno = 0;
        ssize_t rc = t.api().sendmsg(s, &m, 0);
        t.note(std::string("sendmsg(") + what + ") = " + std::to_string(rc) +
               (rc < 0 ? std::string(" ") + strerrorname_np(errno) : std::string()));
    };
    send_iov({}, "no iovecs");
    send_iov({"ab", "", "cde", "f"}, "4 iovecs");
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(s, "0123456789", to);
    char a[4], b[3];
    iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = 2;  // no msg_name: the source is not reported
    errno = 0;
    ssize_t rc = t.api().recvmsg(r, &m, MSG_DONTWAIT);
    t.note("recvmsg(4+3 iovecs, no name) = " + std::to_string(rc) + " a=" + std::string(a, 4) + " b=" +
           std::string(b, 3) + " flags=" + std::to_string(m.msg_flags) + " namelen=" + std::to_string(m.msg_namelen));
}

// ---------------------------------------------------------------- destination validation

SCENARIO(Io, SendOnUnconnectedIsEDESTADDRREQ) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.send(s, "x");
    t.send(s, "");
    t.sendmsg(s, "x", nullptr, "");
    t.sendto(s, "x", addr("127.0.0.1", 6006), 0, 0);  // namelen 0: no address at all
    t.getsockname(s);                                  // autobound by the failed sends
}

SCENARIO(Io, SendtoPortZeroIsEINVAL) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "x", addr("127.0.0.1", 0));
    t.sendto(s, "x", addr("10.0.2.2", 0));
    t.getsockname(s);
    t.connect(s, addr("127.0.0.1", 6007));
    t.sendto(s, "x", addr("127.0.0.1", 0));  // explicit address still checked when connected
}

SCENARIO(Io, SendtoShortAddrlenIsEINVAL) {
    int r = receiver(t, "127.0.0.1", 6008);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "a", addr("127.0.0.1", 6008), 0, 15);
    t.sendto(s, "b", addr("127.0.0.1", 6008), 0, 8);
    t.sendto(s, "c", addr("127.0.0.1", 6008), 0, 2);
    t.sendto(s, "d", addr("127.0.0.1", 6008), 0, 1);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, SendmsgLongNamelenIsClamped) {
    int r = receiver(t, "127.0.0.1", 6009);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (socklen_t len : {socklen_t(20), socklen_t(128), socklen_t(200)}) {
        // Room for the longest length tried, so reading namelen bytes is always valid.
        alignas(sockaddr_in) unsigned char ss[256] = {};
        sockaddr_in a = addr("127.0.0.1", 6009);
        std::memcpy(ss, &a, sizeof a);
        char data[] = "long";
        iovec iov{data, 4};
        msghdr m{};
        m.msg_name = ss;
        m.msg_namelen = len;  // sendmsg clamps to sizeof(sockaddr_storage)
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        errno = 0;
        ssize_t rc = t.api().sendmsg(s, &m, 0);
        t.note("sendmsg(namelen=" + std::to_string(len) + ") = " + std::to_string(rc) +
               (rc < 0 ? std::string(" ") + strerrorname_np(errno) : std::string()));
        t.recv(r, 64, MSG_DONTWAIT);
    }
}

SCENARIO(Io, SendtoFamilies) {
    int r = receiver(t, "127.0.0.1", 6010);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "v6", addr("127.0.0.1", 6010, AF_INET6));
    t.sendto(s, "unix", addr("127.0.0.1", 6010, AF_UNIX));
    t.sendto(s, "unspec", addr("127.0.0.1", 6010, AF_UNSPEC));  // treated as AF_INET
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, SendtoAnyAddressGoesToLoopback) {
    int r = receiver(t, "0.0.0.0", 6011);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "to-any", addr("0.0.0.0", 6011));
    t.recv(r, 64, MSG_DONTWAIT);
    t.getsockname(s);
    int c = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(c, addr("0.0.0.0", 6011));
    t.getpeername(c);
    t.getsockname(c);
    t.send(c, "conn-any");
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, ConnectedSendToPortZero) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 0));
    t.getpeername(s);
    t.send(s, "x");  // goes out to port 0; the port unreachable comes back
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "y");
    t.send(s, "z");
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Io, ConnectedSocketMaySendtoOthers) {
    int r1 = receiver(t, "127.0.0.1", 6016);
    int r2 = receiver(t, "127.0.0.1", 6017);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("127.0.0.1", 6018));
    t.connect(s, addr("127.0.0.1", 6016));
    t.sendto(s, "to-other", addr("127.0.0.1", 6017));
    t.send(s, "to-peer");
    t.recv(r1, 64, MSG_DONTWAIT);
    t.recv(r2, 64, MSG_DONTWAIT);
    t.sendto(r2, "reply-from-other", addr("127.0.0.1", 6018));  // filtered: not the peer
    t.recv(s, 64, MSG_DONTWAIT);
    t.getpeername(s);
}

// ---------------------------------------------------------------- sizes and flags

SCENARIO(Io, MaximumDatagramSizeOverLoopback) {
    int r = receiver(t, "127.0.0.1", 6012);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(65507, 'm'), addr("127.0.0.1", 6012));
    t.sendto(s, std::string(65508, 'm'), addr("127.0.0.1", 6012));
    t.sendto(s, std::string(70000, 'm'), addr("127.0.0.1", 6012));
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.recv(r, 70000, MSG_DONTWAIT);
    t.recv(r, 70000, MSG_DONTWAIT);
}

SCENARIO(Io, MaximumDatagramSizeConnectedAndToGateway) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 6013));
    t.send(s, std::string(65508, 'm'));
    t.send(s, std::string(65535, 'm'));
    int g = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(g, std::string(65508, 'g'), addr("10.0.2.2", 6013));
    t.sendto(g, std::string(1473, 'g'), addr("10.0.2.2", 6013));  // fragmented: fine
}

SCENARIO(Io, FragmentedDatagramReachesGateway) {
    int gw = receiver(t, "0.0.0.0", 6014, kGw);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(3000, 'f'), addr("10.0.2.2", 6014));
    t.poll1(gw, POLLIN, 3000);
    t.recv(gw, 4096, MSG_DONTWAIT);
    t.sendto(s, std::string(65507, 'F'), addr("10.0.2.2", 6014));
    t.poll1(gw, POLLIN, 3000);
    t.recv(gw, 70000, MSG_DONTWAIT);
}

SCENARIO(Io, MSG_OOBOnSendAndRecv) {
    int r = receiver(t, "127.0.0.1", 6015);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "oob", addr("127.0.0.1", 6015), MSG_OOB);
    t.sendto(s, "normal", addr("127.0.0.1", 6015));
    t.recv(r, 64, MSG_DONTWAIT | MSG_OOB);
    t.recv(r, 64, MSG_DONTWAIT | MSG_OOB);
    t.getsockname(s);
}

SCENARIO(Io, ErrqueueEmptyIsEAGAIN) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.recv_errqueue(s);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.recv_errqueue(s);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.recv_errqueue(s);
    t.recv_errqueue(s);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Io, LocalEmsgsizeWithRecverr) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.sendto(s, std::string(2000, 'e'), addr("10.0.2.2", 6019));
    t.recv_errqueue(s);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, std::string(2000, 'e'), addr("10.0.2.2", 6019));
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s, 64);
    t.recv_errqueue(s, 64);
    t.sendto(s, std::string(70000, 'e'), addr("10.0.2.2", 6019));
    t.recv_errqueue(s, 64);
}

SCENARIO(Io, RecverrOnUnconnectedSocket) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, "x", addr("127.0.0.1", 9));
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.recv_errqueue(s, 64, MSG_PEEK);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv_errqueue(s, 64);
    t.recv_errqueue(s, 64);
    t.sendto(s, "y", addr("127.0.0.1", 9));
    t.recv(s, 64, MSG_DONTWAIT);  // the pending error first
    t.recv_errqueue(s, 64);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 0);
    t.sendto(s, "z", addr("127.0.0.1", 9));
    t.recv_errqueue(s, 64);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Io, LoopbackSourceCannotLeaveByEth0) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("127.0.0.1", 0));
    t.sendto(s, "x", addr("10.0.2.2", 6019));
    t.connect(s, addr("10.0.2.2", 6019));
    t.sendto(s, "y", addr("127.0.0.1", 6019));
    int p = t.socket(AF_INET, SOCK_DGRAM);
    in_pktinfo pi{};
    pi.ipi_spec_dst.s_addr = addr("127.0.0.1", 0).sin_addr.s_addr;
    const sockaddr_in to = addr("10.0.2.2", 6019);
    t.sendmsg(p, "z", &to, cmsg(SOL_IP, IP_PKTINFO, &pi, sizeof pi));
}

// ---------------------------------------------------------------- broadcast

SCENARIO(Io, LimitedBroadcastNeedsSO_BROADCAST) {
    int r = receiver(t, "0.0.0.0", 6020);
    int gw = receiver(t, "0.0.0.0", 6020, kGw);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "bc1", addr("255.255.255.255", 6020));
    t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(s, "bc2", addr("255.255.255.255", 6020));
    t.poll1(gw, POLLIN, 3000);
    t.recv(gw, 64, MSG_DONTWAIT);
    t.poll1(r, POLLIN, 3000);
    t.recv(r, 64, MSG_DONTWAIT);  // the host hears its own broadcast
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, SubnetBroadcastNeedsSO_BROADCAST) {
    int r = receiver(t, "0.0.0.0", 6021);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int gw = receiver(t, "0.0.0.0", 6021, kGw);
    t.setsockopt_int(gw, SOL_IP, IP_PKTINFO, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "sub1", addr("10.0.2.255", 6021));
    t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(s, "sub2", addr("10.0.2.255", 6021));
    t.poll1(gw, POLLIN, 3000);
    t.recv(gw, 64, MSG_DONTWAIT);
    t.poll1(r, POLLIN, 3000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, BroadcastFromGatewayReachesHost) {
    int r = receiver(t, "0.0.0.0", 6022);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int r2 = receiver(t, "10.0.2.15", 6023);  // bound to the unicast address: no broadcasts
    int g = t.socket(AF_INET, SOCK_DGRAM, 0, kGw);
    t.setsockopt_int(g, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(g, "from-gw", addr("10.0.2.255", 6022));
    t.sendto(g, "from-gw2", addr("10.0.2.255", 6023));
    t.poll1(r, POLLIN, 3000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.poll1(r2, POLLIN, 300);
    t.recv(r2, 64, MSG_DONTWAIT);
}

// ---------------------------------------------------------------- receive buffer accounting

SCENARIO(Io, RcvbufMinimumQueuesFewDatagrams) {
    int r = receiver(t, "127.0.0.1", 6030);
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 0);
    t.getsockopt_int(r, SOL_SOCKET, SO_RCVBUF);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int i = 0; i < 8; ++i) t.sendto(s, std::string(100, char('a' + i)), addr("127.0.0.1", 6030));
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    drain(t, r);
}

SCENARIO(Io, RcvbufSmallVariousSizes) {
    int r = receiver(t, "127.0.0.1", 6031);
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 4096);
    t.getsockopt_int(r, SOL_SOCKET, SO_RCVBUF);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int i = 0; i < 12; ++i) t.sendto(s, std::string(1, char('a' + i)), addr("127.0.0.1", 6031));
    drain(t, r);
    for (int i = 0; i < 8; ++i) t.sendto(s, std::string(1000, char('A' + i)), addr("127.0.0.1", 6031));
    drain(t, r);
    for (int i = 0; i < 4; ++i) t.sendto(s, std::string(5000, char('0' + i)), addr("127.0.0.1", 6031));
    drain(t, r, 8192);
}

SCENARIO(Io, RcvbufOneLargeDatagramAlwaysFits) {
    int r = receiver(t, "127.0.0.1", 6032);
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 1);
    t.getsockopt_int(r, SOL_SOCKET, SO_RCVBUF);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(60000, 'x'), addr("127.0.0.1", 6032));  // queue empty: accepted
    t.sendto(s, std::string(10, 'y'), addr("127.0.0.1", 6032));     // over the limit now
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    drain(t, r, 65536);
    t.sendto(s, std::string(10, 'z'), addr("127.0.0.1", 6032));
    drain(t, r);
}

SCENARIO(Io, RcvbufShrinkAfterQueueing) {
    int r = receiver(t, "127.0.0.1", 6033);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int i = 0; i < 5; ++i) t.sendto(s, std::string(500, char('a' + i)), addr("127.0.0.1", 6033));
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 1000);
    t.getsockopt_int(r, SOL_SOCKET, SO_RCVBUF);
    t.sendto(s, "late", addr("127.0.0.1", 6033));  // dropped: already over
    drain(t, r);
    t.sendto(s, "after", addr("127.0.0.1", 6033));
    drain(t, r);
}

SCENARIO(Io, RcvbufZeroLengthDatagrams) {
    int r = receiver(t, "127.0.0.1", 6034);
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 0);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int i = 0; i < 6; ++i) t.sendto(s, "", addr("127.0.0.1", 6034));
    drain(t, r);
}

SCENARIO(Io, RcvbufOverEth0FromGateway) {
    int r = receiver(t, "10.0.2.15", 6035);
    t.setsockopt_int(r, SOL_SOCKET, SO_RCVBUF, 2000);
    t.getsockopt_int(r, SOL_SOCKET, SO_RCVBUF);
    int g = t.socket(AF_INET, SOCK_DGRAM, 0, kGw);
    for (int i = 0; i < 10; ++i) t.sendto(g, std::string(200, char('a' + i)), addr("10.0.2.15", 6035));
    t.poll1(r, POLLIN, 3000);
    t.sleep_ms(200);
    drain(t, r);
    for (int i = 0; i < 6; ++i) t.sendto(g, std::string(1400, char('A' + i)), addr("10.0.2.15", 6035));
    t.poll1(r, POLLIN, 3000);
    t.sleep_ms(200);
    drain(t, r);
}

// ---------------------------------------------------------------- ioctl

SCENARIO(Io, FIONREADAndSIOCOUTQ) {
    int r = receiver(t, "127.0.0.1", 6040);
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.ioctl_int(r, TIOCOUTQ, "SIOCOUTQ");
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.ioctl_int(s, FIONREAD, "FIONREAD");  // unbound
    t.ioctl_int(s, TIOCOUTQ, "SIOCOUTQ");
    t.sendto(s, "12345", addr("127.0.0.1", 6040));
    t.sendto(s, "1234567", addr("127.0.0.1", 6040));
    t.ioctl_int(r, FIONREAD, "FIONREAD");  // the first datagram only
    t.ioctl_int(s, TIOCOUTQ, "SIOCOUTQ");
    t.recv(r, 64, MSG_DONTWAIT);
    t.ioctl_int(r, FIONREAD, "FIONREAD");
    t.recv(r, 64, MSG_DONTWAIT);
    t.ioctl_int(r, FIONREAD, "FIONREAD");
}

SCENARIO(Io, FIONBIOMakesRecvNonBlocking) {
    int r = receiver(t, "127.0.0.1", 6041);
    int on = 1;
    int rc = t.api().ioctl(r, FIONBIO, &on);
    t.note("ioctl(FIONBIO,1) = " + std::to_string(rc));
    t.fcntl(r, F_GETFL, 0, "F_GETFL");
    t.recv(r, 64);
}

// ---------------------------------------------------------------- shutdown

SCENARIO(Io, ShutdownInvalidHow) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.shutdown(s, 3);
    t.shutdown(s, -1);
    t.shutdown(s, 100);
    t.connect(s, addr("127.0.0.1", 6050));
    t.shutdown(s, 3);
    t.shutdown(s, -1);
}

SCENARIO(Io, ShutdownUnconnectedStillTakesEffect) {
    int r = receiver(t, "127.0.0.1", 6051);
    t.shutdown(r, SHUT_RD);  // ENOTCONN, but RCV_SHUTDOWN is set anyway
    t.poll1(r, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.recv(r, 64, MSG_DONTWAIT);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "still-queued", addr("127.0.0.1", 6051));
    t.recv(r, 64, MSG_DONTWAIT);
    t.shutdown(r, SHUT_WR);
    t.poll1(r, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.sendto(r, "x", addr("127.0.0.1", 6051));
}

SCENARIO(Io, ShutdownRdOnUnconnectedThenBlockingRecv) {
    int r = receiver(t, "127.0.0.1", 6052);
    t.shutdown(r, SHUT_RD);
    t.set_rcvtimeo(r, 200);
    t.recv(r, 64);  // returns 0 at once rather than waiting
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, ShutdownWrOnConnectedThenSendIsEPIPE) {
    int r = receiver(t, "127.0.0.1", 6053);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("127.0.0.1", 6057));
    t.connect(s, addr("127.0.0.1", 6053));
    t.shutdown(s, SHUT_WR);
    t.send(s, "x");
    t.send(s, "");
    t.sendto(s, "y", addr("127.0.0.1", 6053));
    t.sendto(s, "z", addr("127.0.0.1", 0));  // address checks come before the shutdown check
    t.send(s, "o", MSG_OOB);
    t.poll1(s, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(r, "back", addr("127.0.0.1", 6057));
    t.recv(s, 64, MSG_DONTWAIT);  // receiving still works
    t.shutdown(s, SHUT_WR);       // again: fine
}

SCENARIO(Io, ShutdownRdOnConnected) {
    int r = receiver(t, "127.0.0.1", 6054);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("127.0.0.1", 6055));
    t.connect(s, addr("127.0.0.1", 6054));
    t.shutdown(s, SHUT_RD);
    t.poll1(s, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.sendto(r, "arrives", addr("127.0.0.1", 6055));
    t.poll1(s, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.send(s, "can-send");
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, ShutdownRdwrPollAndDisconnect) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 6056));
    t.shutdown(s, SHUT_RDWR);
    t.poll1(s, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.poll1(s, 0, 0);
    t.send(s, "x");
    t.recv(s, 64, MSG_DONTWAIT);
    t.connect_unspec(s);  // disconnecting does not undo shutdown
    t.poll1(s, POLLIN | POLLOUT | POLLRDHUP, 0);
    t.shutdown(s, SHUT_RD);
    t.sendto(s, "y", addr("127.0.0.1", 6056));
}

// ---------------------------------------------------------------- poll

SCENARIO(Io, PollReadableWritableError) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.poll1(s, POLLIN, 0);
    t.poll1(s, POLLIN, 10);
    t.bind(s, addr("127.0.0.1", 6060));
    int o = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(o, "data", addr("127.0.0.1", 6060));
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.poll1(s, POLLOUT, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.poll1(s, POLLIN | POLLOUT, 0);  // pending error
    t.poll1(s, 0, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN | POLLOUT, 0);
}

SCENARIO(Io, PollErrorFromGateway) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("10.0.2.2", 9));
    t.send(s, "x");
    t.poll1(s, POLLERR, 3000);
    t.poll1(s, POLLIN | POLLOUT, 0);
    t.recv(s, 64, MSG_DONTWAIT);
    t.poll1(s, POLLIN | POLLOUT, 0);
}

// ---------------------------------------------------------------- fcntl

SCENARIO(Io, FcntlNonblockThenPlainRecv) {
    int r = receiver(t, "127.0.0.1", 6070);
    t.fcntl(r, F_GETFL, 0, "F_GETFL");
    t.fcntl(r, F_SETFL, O_NONBLOCK, "F_SETFL");
    t.fcntl(r, F_GETFL, 0, "F_GETFL");
    t.recv(r, 64);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "nb", addr("127.0.0.1", 6070));
    t.recv(r, 64);
    t.fcntl(r, F_SETFL, 0, "F_SETFL");
    t.fcntl(r, F_GETFL, 0, "F_GETFL");
    t.set_rcvtimeo(r, 50);
    t.recv(r, 64);
}

SCENARIO(Io, SocketTypeNonblockFlag) {
    int r = t.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK);
    t.fcntl(r, F_GETFL, 0, "F_GETFL");
    t.fcntl(r, F_GETFD, 0, "F_GETFD");
    t.bind(r, addr("127.0.0.1", 6071));
    t.recv(r, 64);
    int c = t.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
    t.fcntl(c, F_GETFD, 0, "F_GETFD");
    t.fcntl(c, F_GETFL, 0, "F_GETFL");
}

// ---------------------------------------------------------------- receive control messages

SCENARIO(Io, RecvControlMessagesOverLoopback) {
    int r = receiver(t, "0.0.0.0", 6080);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTOS, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "lo", addr("127.0.0.1", 6080));
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_TTL, 7);
    t.setsockopt_int(s, SOL_IP, IP_TOS, 0x10);
    t.sendto(s, "own-addr", addr("10.0.2.15", 6080));
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 0);
    t.sendto(s, "no-ttl", addr("127.0.0.1", 6080));
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, RecvControlMessagesFromGateway) {
    int r = receiver(t, "0.0.0.0", 6081);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTOS, 1);
    int g = t.socket(AF_INET, SOCK_DGRAM, 0, kGw);
    t.sendto(g, "from-gw", addr("10.0.2.15", 6081));
    t.poll1(r, POLLIN, 3000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(g, SOL_IP, IP_TTL, 3);
    t.setsockopt_int(g, SOL_IP, IP_TOS, 0xb8);
    t.sendto(g, "marked", addr("10.0.2.15", 6081));
    t.poll1(r, POLLIN, 3000);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, ControlBufferTooSmallIsMSG_CTRUNC) {
    int r = receiver(t, "127.0.0.1", 6082);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int i = 0; i < 7; ++i) t.sendto(s, "c" + std::to_string(i), addr("127.0.0.1", 6082));
    t.recv(r, 64, MSG_DONTWAIT, 0);   // no control buffer at all
    t.recv(r, 64, MSG_DONTWAIT, 8);   // smaller than a cmsghdr
    t.recv(r, 64, MSG_DONTWAIT, 16);  // only a header fits
    t.recv(r, 64, MSG_DONTWAIT, 24);  // part of the pktinfo
    t.recv(r, 64, MSG_DONTWAIT, 32);  // pktinfo fits, ttl does not
    t.recv(r, 64, MSG_DONTWAIT, 48);  // pktinfo, then a bare ttl header
    t.recv(r, 64, MSG_DONTWAIT, 56);  // both fit
}

SCENARIO(Io, DeviceBoundSocketHearsLocalTrafficToItsAddress) {
    // Locally sent datagrams to 10.0.2.15 travel over lo but count as arriving on eth0.
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.setsockopt_raw(r, SOL_SOCKET, SO_BINDTODEVICE, "eth0", 5);
    t.bind(r, addr("0.0.0.0", 6083));
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "to-own", addr("10.0.2.15", 6083));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(s, "to-lo", addr("127.0.0.1", 6083));
    t.recv(r, 64, MSG_DONTWAIT);
    int l = t.socket(AF_INET, SOCK_DGRAM);
    t.setsockopt_raw(l, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
    t.bind(l, addr("0.0.0.0", 6084));
    t.sendto(s, "own-to-lo-bound", addr("10.0.2.15", 6084));
    t.recv(l, 64, MSG_DONTWAIT);
    t.sendto(s, "lo-to-lo-bound", addr("127.0.0.1", 6084));
    t.recv(l, 64, MSG_DONTWAIT);
}

// ---------------------------------------------------------------- send flags

SCENARIO(Io, SendFlagsDontrouteAndConfirm) {
    int gw = receiver(t, "0.0.0.0", 6085, kGw);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "onlink", addr("10.0.2.2", 6085), MSG_DONTROUTE);
    t.sendto(s, "offlink", addr("8.8.8.8", 6085), MSG_DONTROUTE);
    t.sendto(s, "confirm", addr("10.0.2.2", 6085), MSG_CONFIRM);
    t.sendto(s, "waitall", addr("10.0.2.2", 6085), MSG_WAITALL | MSG_DONTWAIT);
    t.poll1(gw, POLLIN, 3000);
    t.set_rcvtimeo(gw, 300);
    t.recv(gw, 64);
    t.recv(gw, 64);
    t.recv(gw, 64);
    t.setsockopt_int(s, SOL_SOCKET, SO_DONTROUTE, 1);
    t.sendto(s, "offlink2", addr("8.8.8.8", 6085));
    int c = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(c, addr("8.8.8.8", 6085));
    t.send(c, "conn-dontroute", MSG_DONTROUTE);
}

// ---------------------------------------------------------------- send control messages

SCENARIO(Io, SendmsgTtlAndTosControlMessages) {
    int r = receiver(t, "127.0.0.1", 6090);
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    t.setsockopt_int(r, SOL_IP, IP_RECVTOS, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    const sockaddr_in to = addr("127.0.0.1", 6090);
    t.sendmsg(s, "ttl9", &to, cmsg_int(SOL_IP, IP_TTL, 9));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendmsg(s, "tos", &to, cmsg_int(SOL_IP, IP_TOS, 0x28));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendmsg(s, "both", &to, cmsg_int(SOL_IP, IP_TTL, 200) + cmsg_int(SOL_IP, IP_TOS, 4));
    t.recv(r, 64, MSG_DONTWAIT);
    const unsigned char b = 0x44;
    t.sendmsg(s, "tos-byte", &to, cmsg(SOL_IP, IP_TOS, &b, 1));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendmsg(s, "plain", &to, "");  // the socket's own values again
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, SendmsgBadControlMessages) {
    int r = receiver(t, "127.0.0.1", 6091);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    const sockaddr_in to = addr("127.0.0.1", 6091);
    t.sendmsg(s, "a", &to, cmsg_int(SOL_IP, IP_TTL, 0));
    t.sendmsg(s, "b", &to, cmsg_int(SOL_IP, IP_TTL, 256));
    const unsigned char one = 5;
    t.sendmsg(s, "c", &to, cmsg(SOL_IP, IP_TTL, &one, 1));
    t.sendmsg(s, "d", &to, cmsg_int(SOL_IP, IP_TOS, 256));
    t.sendmsg(s, "e", &to, cmsg_int(SOL_IP, IP_TOS, -1));
    t.sendmsg(s, "f", &to, cmsg_int(SOL_IP, 9999, 1));    // unknown SOL_IP type
    t.sendmsg(s, "g", &to, cmsg_int(SOL_UDP, 9999, 1));   // other level: ignored
    t.sendmsg(s, "h", &to, cmsg_int(SOL_SOCKET, 9999, 1));
    t.sendmsg(s, "i", &to, std::string(8, '\0'));         // shorter than a cmsghdr
    drain(t, r);
}

SCENARIO(Io, SendmsgPktinfoChoosesSource) {
    int r = receiver(t, "0.0.0.0", 6092);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    in_pktinfo pi{};
    pi.ipi_spec_dst.s_addr = addr("10.0.2.15", 0).sin_addr.s_addr;
    const sockaddr_in to = addr("127.0.0.1", 6092);
    t.sendmsg(s, "spec-dst", &to, cmsg(SOL_IP, IP_PKTINFO, &pi, sizeof pi));
    t.recv(r, 64, MSG_DONTWAIT);
    in_pktinfo bad{};
    bad.ipi_spec_dst.s_addr = addr("10.9.9.9", 0).sin_addr.s_addr;
    t.sendmsg(s, "nonlocal", &to, cmsg(SOL_IP, IP_PKTINFO, &bad, sizeof bad));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendmsg(s, "short", &to, cmsg(SOL_IP, IP_PKTINFO, &pi, 8));
    t.getsockname(s);
}

// ---------------------------------------------------------------- corking

SCENARIO(Io, UdpCorkJoinsSends) {
    int r = receiver(t, "127.0.0.1", 6100);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 6100));
    t.setsockopt_int(s, SOL_UDP, UDP_CORK, 1);
    t.send(s, "ab");
    t.send(s, "cd");
    t.recv(r, 64, MSG_DONTWAIT);
    t.ioctl_int(s, TIOCOUTQ, "SIOCOUTQ");
    t.setsockopt_int(s, SOL_UDP, UDP_CORK, 0);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_UDP, UDP_CORK, 0);  // nothing pending
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, MsgMoreJoinsSends) {
    int r = receiver(t, "127.0.0.1", 6101);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "one-", addr("127.0.0.1", 6101), MSG_MORE);
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(s, "two-", addr("127.0.0.1", 6101), MSG_MORE);
    t.sendto(s, "three", addr("127.0.0.1", 6101));
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Io, MsgMorePendingIgnoresNewDestination) {
    int r1 = receiver(t, "127.0.0.1", 6102);
    int r2 = receiver(t, "127.0.0.1", 6103);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "to-r1 ", addr("127.0.0.1", 6102), MSG_MORE);
    t.sendto(s, "meant-r2 ", addr("127.0.0.1", 6103), MSG_MORE);
    t.sendto(s, "port0", addr("127.0.0.1", 0));  // not even validated while pending
    t.recv(r1, 64, MSG_DONTWAIT);
    t.recv(r2, 64, MSG_DONTWAIT);
    t.sendto(s, "port0", addr("127.0.0.1", 0));
}

SCENARIO(Io, MsgMoreOverflowFlushesPending) {
    int r = receiver(t, "127.0.0.1", 6104);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, std::string(40000, 'p'), addr("127.0.0.1", 6104), MSG_MORE);
    t.sendto(s, std::string(30000, 'q'), addr("127.0.0.1", 6104), MSG_MORE);  // total too large
    t.sendto(s, "fresh", addr("127.0.0.1", 6104));
    drain(t, r, 70000);
}

SCENARIO(Io, CorkThenShutdownAndClose) {
    int r = receiver(t, "127.0.0.1", 6105);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 6105));
    t.send(s, "held", MSG_MORE);
    t.shutdown(s, SHUT_WR);
    t.send(s, "more");
    t.recv(r, 64, MSG_DONTWAIT);
    t.close(s);  // the pending data is discarded
    t.recv(r, 64, MSG_DONTWAIT);
}

// ---------------------------------------------------------------- close and reuse

SCENARIO(Io, CloseAndReuse) {
    int r = receiver(t, "127.0.0.1", 6110);
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "queued", addr("127.0.0.1", 6110));
    t.close(r);
    t.sendto(s, "after-close", addr("127.0.0.1", 6110));
    t.close(r);
    t.recv(r, 64, MSG_DONTWAIT);
    t.getsockopt_int(r, SOL_SOCKET, SO_TYPE);
    int r2 = receiver(t, "127.0.0.1", 6110);
    t.recv(r2, 64, MSG_DONTWAIT);  // the old queue is gone
    t.sendto(s, "new-owner", addr("127.0.0.1", 6110));
    t.recv(r2, 64, MSG_DONTWAIT);
    t.close(s);
    t.close(r2);
}

// Null buffers: EFAULT, as copy_from_user/copy_to_user fail; a failed receive copy drops
// the datagram.
SCENARIO(Io, NullBuffersAreEFAULT) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("127.0.0.1", 6300));
    int s = t.socket(AF_INET, SOCK_DGRAM);
    sockaddr_in dst = addr("127.0.0.1", 6300);
    iovec iov{nullptr, 5};
    msghdr m{};
    m.msg_name = &dst;
    m.msg_namelen = sizeof dst;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    errno = 0;
    ssize_t rc = t.api().sendmsg(s, &m, 0);
    t.note("sendmsg(NULL buffer, 5) = " + std::to_string(rc) + " errno=" + (rc < 0 ? strerrorname_np(errno) : "0"));
    iov.iov_len = 0;
    rc = t.api().sendmsg(s, &m, 0);
    t.note("sendmsg(NULL buffer, 0) = " + std::to_string(rc));
    t.sendto(s, "hello", dst);
    msghdr rm{};
    iovec riov{nullptr, 64};
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    for (int i = 0; i < 2; ++i) {  // the empty datagram, then "hello"
        rc = t.api().recvmsg(r, &rm, MSG_DONTWAIT);
        t.note("recvmsg(NULL buffer) = " + std::to_string(rc) + " errno=" + (rc < 0 ? strerrorname_np(errno) : "0"));
    }
    t.recv(r, 64, MSG_DONTWAIT);  // "hello" went with the failed copy
}

// recvfrom takes the datagram before it copies the address out: a negative address length
// loses the datagram and says EINVAL; with nothing queued it is just EAGAIN.
SCENARIO(Io, RecvfromNegativeAddrlen) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("127.0.0.1", 6301));
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.socket(AF_INET, 0, 0);  // type 0: ESOCKTNOSUPPORT (inet_create), not EINVAL
    t.socket(AF_INET, SOCK_DGRAM, -1);
    auto try_recvfrom = [&](const char* what) {
        char buf[16];
        sockaddr_in from{};
        socklen_t len = socklen_t(-1);
        errno = 0;
        const ssize_t rc = t.api().recvfrom(r, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
        t.note(std::string(what) + ": recvfrom(len=-1) = " + std::to_string(rc) + " errno=" +
               (rc < 0 ? strerrorname_np(errno) : "0"));
    };
    try_recvfrom("empty");
    t.sendto(s, "gone", addr("127.0.0.1", 6301));
    try_recvfrom("queued");
    t.recv(r, 64, MSG_DONTWAIT);
}

// The order of checks the kernel makes, with null pointers (safe on both sides):
// getpeername refuses an unconnected socket before reading the length; recvfrom with an
// address but no length takes the datagram, then fails with EFAULT; sendmsg with a control
// length but no control buffer fails with EFAULT before anything is sent.
SCENARIO(Io, NullPointerCheckOrder) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("127.0.0.1", 6302));
    int s = t.socket(AF_INET, SOCK_DGRAM);
    auto res = [](long rc) { return std::to_string(rc) + " errno=" + (rc < 0 ? strerrorname_np(errno) : "0"); };
    sockaddr_in a{};
    socklen_t neg = socklen_t(-1);
    errno = 0;
    t.note("getpeername(unconnected, len=NULL) = " + res(t.api().getpeername(s, reinterpret_cast<sockaddr*>(&a), nullptr)));
    errno = 0;
    t.note("getpeername(unconnected, len=-1) = " + res(t.api().getpeername(s, reinterpret_cast<sockaddr*>(&a), &neg)));
    t.connect(s, addr("127.0.0.1", 6302));
    errno = 0;
    t.note("getpeername(connected, len=NULL) = " + res(t.api().getpeername(s, reinterpret_cast<sockaddr*>(&a), nullptr)));
    t.send(s, "first");
    t.send(s, "second");
    char buf[16];
    errno = 0;
    t.note("recvfrom(addr, len=NULL) = " +
           res(t.api().recvfrom(r, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), nullptr)));
    t.recv(r, 64, MSG_DONTWAIT);  // "first" went with the failed call
    iovec iov{const_cast<char*>("ctl"), 3};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_controllen = 16;
    errno = 0;
    t.note("sendmsg(control=NULL, controllen=16) = " + res(t.api().sendmsg(s, &m, 0)));
    t.recv(r, 64, MSG_DONTWAIT);  // nothing was sent
}
