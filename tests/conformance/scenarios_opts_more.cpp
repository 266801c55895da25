// More socket options (issue 9): SO_PEEK_OFF and MSG_PEEK at an offset (udp_recvmsg,
// sk_peek_offset), SO_SELECT_ERR_QUEUE, IP_PROTOCOL, SO_LINGER as sk_setsockopt stores it,
// udp_lib_setsockopt/udp_lib_getsockopt lengths and values, IP_MTU unconnected, forced
// buffer sizes.
#include <netinet/in.h>
#include <netinet/udp.h>

#ifndef IP_PROTOCOL
#define IP_PROTOCOL 52  // linux/in.h; older glibc headers lack it
#endif
#include <poll.h>
#include <sys/ioctl.h>

#include <climits>

#include "harness.hpp"

using namespace conformance;

namespace {

int udp(T& t) { return t.socket(AF_INET, SOCK_DGRAM); }

int set_linger(T& t, int fd, int onoff, int secs, socklen_t len = sizeof(linger)) {
    struct {
        linger l;
        int pad;
    } v{{onoff, secs}, 0};
    t.note("linger{" + std::to_string(onoff) + "," + std::to_string(secs) + "}");
    return t.setsockopt_raw(fd, SOL_SOCKET, SO_LINGER, &v, len);
}

}  // namespace

SCENARIO(OptsMore, PeekOffGetSet) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 5);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 2);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 7, 2);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, -1);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 0, 8);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.getsockopt_int(p, SOL_SOCKET, SO_PEEK_OFF);
    t.setsockopt_int(p, SOL_SOCKET, SO_PEEK_OFF, 0);
}

SCENARIO(OptsMore, PeekAtOffset) {
    int s = udp(t);
    t.bind(s, addr("127.0.0.1", 7100));
    int c = udp(t);
    t.sendto(c, "aaaa", addr("127.0.0.1", 7100));
    t.sendto(c, "bbbbbb", addr("127.0.0.1", 7100));
    t.sendto(c, "cc", addr("127.0.0.1", 7100));
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 0);
    t.recv(s, 3, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 2, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 2, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_DONTWAIT);  // consumes "aaaa": the offset moves back by its length
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);  // past everything queued
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.ioctl_int(s, FIONREAD, "FIONREAD");
    t.recv(s, 1, MSG_TRUNC | MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_DONTWAIT);
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_DONTWAIT);
}

SCENARIO(OptsMore, PeekOffsetSetLater) {
    int s = udp(t);
    t.bind(s, addr("127.0.0.1", 7101));
    int c = udp(t);
    t.sendto(c, "0123456789", addr("127.0.0.1", 7101));
    t.sendto(c, "xyz", addr("127.0.0.1", 7101));
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 4);
    t.recv(s, 3, MSG_PEEK | MSG_DONTWAIT);
    t.recv(s, 3, MSG_DONTWAIT);  // a plain read ignores the offset
    t.getsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, 10);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_SOCKET, SO_PEEK_OFF, -1);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
}

SCENARIO(OptsMore, SelectErrQueue) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE);
    t.setsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 5);
    t.getsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE);
    t.setsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1, 2);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.poll1(s, POLLIN | POLLPRI, 0);
    t.send(s, "x");
    t.sleep_ms(20);
    t.poll1(s, POLLIN | POLLPRI, 0);
    t.poll1(s, POLLIN, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN | POLLPRI, 0);
    t.recv_errqueue(s);
    t.poll1(s, POLLIN | POLLPRI, 0);
    t.setsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 0);
    t.send(s, "y");
    t.sleep_ms(20);
    t.poll1(s, POLLIN | POLLPRI, 0);
}

SCENARIO(OptsMore, SelectErrQueueWithoutRecverr) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.sleep_ms(20);
    t.poll1(s, POLLIN | POLLPRI, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.poll1(s, POLLIN | POLLPRI, 0);
}

SCENARIO(OptsMore, IpProtocol) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_PROTOCOL);
    t.bind(s, addr("127.0.0.1", 7102));
    t.getsockopt_int(s, SOL_IP, IP_PROTOCOL);
    t.getsockopt_int(s, SOL_IP, IP_PROTOCOL, 1);
    t.setsockopt_int(s, SOL_IP, IP_PROTOCOL, 17);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.getsockopt_int(p, SOL_IP, IP_PROTOCOL);
    t.bind(p, addr("127.0.0.1", 77));
    t.getsockopt_int(p, SOL_IP, IP_PROTOCOL);
}

SCENARIO(OptsMore, LingerStoredAsLinux) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    set_linger(t, s, 1, 7);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    set_linger(t, s, 0, 3);  // off: the time stays
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    set_linger(t, s, 5, 0);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    set_linger(t, s, 1, 100000);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 4);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 16);
    set_linger(t, s, 1, 2, 7);
    set_linger(t, s, 1, 2, 12);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    t.close(s);
}

SCENARIO(OptsMore, UdpLevelLengths) {
    int s = udp(t);
    for (int name : {UDP_CORK, UDP_ENCAP, UDP_NO_CHECK6_TX, UDP_NO_CHECK6_RX, UDP_SEGMENT, UDP_GRO}) {
        t.setsockopt_int(s, SOL_UDP, name, 1, 0);
        t.setsockopt_int(s, SOL_UDP, name, 1, 3);
        t.setsockopt_int(s, SOL_UDP, name, 0, 8);
        t.getsockopt_int(s, SOL_UDP, name, 0);
        t.getsockopt_int(s, SOL_UDP, name, 1);
        t.getsockopt_int(s, SOL_UDP, name, 3);
        t.getsockopt_int(s, SOL_UDP, name, 8);
        t.getsockopt_int(s, SOL_UDP, name, socklen_t(-1));
    }
    for (int name : {10, 11, 99}) {  // UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV, unknown
        t.setsockopt_int(s, SOL_UDP, name, 1);
        t.getsockopt_int(s, SOL_UDP, name);
    }
}

SCENARIO(OptsMore, UdpLevelValues) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_UDP, UDP_NO_CHECK6_TX, 7);
    t.getsockopt_int(s, SOL_UDP, UDP_NO_CHECK6_TX);
    t.setsockopt_int(s, SOL_UDP, UDP_NO_CHECK6_RX, -1);
    t.getsockopt_int(s, SOL_UDP, UDP_NO_CHECK6_RX);
    t.setsockopt_int(s, SOL_UDP, UDP_SEGMENT, 65535);
    t.getsockopt_int(s, SOL_UDP, UDP_SEGMENT);
    t.setsockopt_int(s, SOL_UDP, UDP_SEGMENT, 65536);
    t.setsockopt_int(s, SOL_UDP, UDP_SEGMENT, -1);
    t.getsockopt_int(s, SOL_UDP, UDP_SEGMENT, 1);
    t.setsockopt_int(s, SOL_UDP, UDP_GRO, 9);
    t.getsockopt_int(s, SOL_UDP, UDP_GRO);
    t.setsockopt_int(s, SOL_UDP, UDP_ENCAP, 3);  // UDP_ENCAP_L2TPINUDP
    t.getsockopt_int(s, SOL_UDP, UDP_ENCAP);
    t.setsockopt_int(s, SOL_UDP, UDP_ENCAP, 99);
    t.getsockopt_int(s, SOL_UDP, UDP_ENCAP);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.setsockopt_int(p, SOL_UDP, UDP_CORK, 1);
    t.getsockopt_int(p, SOL_UDP, UDP_CORK);
}

SCENARIO(OptsMore, IpMtuUnconnected) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.bind(s, addr("127.0.0.1", 7103));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect(s, addr("127.0.0.1", 7104));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect_unspec(s);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.getsockopt_int(p, SOL_IP, IP_MTU);
}

SCENARIO(OptsMore, RcvbufForceAboveMax) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUFFORCE, 50000000);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_SNDBUFFORCE, 40000000);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUFFORCE, INT_MAX);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUFFORCE, 3, 2);
}
