// Socket options: getsockopt defaults and setsockopt round trips with Linux's length,
// clamping and permission rules (sk_setsockopt/sk_getsockopt, do_ip_setsockopt/
// do_ip_getsockopt, udp_lib_setsockopt/udp_lib_getsockopt).
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/time.h>

#include <climits>
#include <cstring>

#include "harness.hpp"

using namespace conformance;

namespace {

int udp(T& t) { return t.socket(AF_INET, SOCK_DGRAM); }

void set_get(T& t, int fd, int level, int name, int v) {
    t.setsockopt_int(fd, level, name, v);
    t.getsockopt_int(fd, level, name);
}

int set_timeval(T& t, int fd, int name, long sec, long usec, socklen_t len = sizeof(timeval)) {
    timeval tv{};
    tv.tv_sec = sec;
    tv.tv_usec = usec;
    t.note("timeval{" + std::to_string(sec) + "," + std::to_string(usec) + "}");
    return t.setsockopt_raw(fd, SOL_SOCKET, name, &tv, len);
}

}  // namespace

// ---------------------------------------------------------------- identity

SCENARIO(Opts, SocketIdentityOptions) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_SOCKET, SO_TYPE);
    t.getsockopt_int(s, SOL_SOCKET, SO_PROTOCOL);
    t.getsockopt_int(s, SOL_SOCKET, SO_DOMAIN);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.getsockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    t.getsockopt_int(p, SOL_SOCKET, SO_PROTOCOL);
}

SCENARIO(Opts, ReadOnlyOptionsCannotBeSet) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_TYPE, SOCK_STREAM);
    t.setsockopt_int(s, SOL_SOCKET, SO_PROTOCOL, IPPROTO_TCP);
    t.setsockopt_int(s, SOL_SOCKET, SO_DOMAIN, AF_INET6);
    t.setsockopt_int(s, SOL_SOCKET, SO_ERROR, 5);
    t.setsockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN, 1);
    t.getsockopt_int(s, SOL_SOCKET, SO_TYPE);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

SCENARIO(Opts, SoErrorIsReadAndCleared) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR, 2);  // short read still clears it
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "y");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
}

// ---------------------------------------------------------------- buffer sizes

SCENARIO(Opts, BufferSizeDefaults) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVLOWAT);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDLOWAT);
}

SCENARIO(Opts, RcvbufDoublingAndClamping) {
    int s = udp(t);
    for (int v : {0, 1, 1000, 1151, 1152, 1153, 4096, 100000, 212992, 2000000, 4194304, 4194305, INT_MAX, -1, -100,
                  INT_MIN})
        set_get(t, s, SOL_SOCKET, SO_RCVBUF, v);
}

SCENARIO(Opts, SndbufDoublingAndClamping) {
    int s = udp(t);
    for (int v : {0, 1, 1000, 2303, 2304, 2305, 4096, 100000, 212992, 4194304, 4194305, INT_MAX, -1, -100, INT_MIN})
        set_get(t, s, SOL_SOCKET, SO_SNDBUF, v);
}

SCENARIO(Opts, BufferForceVariants) {
    // Root (CAP_NET_ADMIN) may exceed rmem_max/wmem_max.
    int s = udp(t);
    set_get(t, s, SOL_SOCKET, SO_RCVBUFFORCE, 10000000);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    set_get(t, s, SOL_SOCKET, SO_SNDBUFFORCE, 10000000);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUFFORCE, -1);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_SNDBUFFORCE, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_SNDBUFFORCE, -1);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUFFORCE, INT_MAX);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
}

SCENARIO(Opts, BufferSizeShortAndLongLengths) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, 5000, 2);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, 5000, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    long long big = 3000;
    t.setsockopt_raw(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);  // first four bytes count
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVBUF, 1);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVBUF, 2);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVBUF, 0);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVBUF, 8);
}

// ---------------------------------------------------------------- boolean and integer options

SCENARIO(Opts, BooleanSolSocketOptions) {
    int s = udp(t);
    for (int name : {SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_NO_CHECK, SO_KEEPALIVE, SO_DONTROUTE, SO_OOBINLINE,
                     SO_DEBUG}) {
        t.getsockopt_int(s, SOL_SOCKET, name);
        set_get(t, s, SOL_SOCKET, name, 1);
        set_get(t, s, SOL_SOCKET, name, 42);
        set_get(t, s, SOL_SOCKET, name, -1);
        set_get(t, s, SOL_SOCKET, name, 0);
    }
}

SCENARIO(Opts, PriorityRange) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_SOCKET, SO_PRIORITY);
    for (int v : {0, 3, 6, 7, 100, -1, 0}) set_get(t, s, SOL_SOCKET, SO_PRIORITY, v);
}

SCENARIO(Opts, TosSetsPriority) {
    int s = udp(t);
    for (int tos : {IPTOS_LOWDELAY, IPTOS_THROUGHPUT, IPTOS_RELIABILITY, 0xb8, 0}) {
        t.setsockopt_int(s, SOL_IP, IP_TOS, tos);
        t.getsockopt_int(s, SOL_SOCKET, SO_PRIORITY);
    }
    t.setsockopt_int(s, SOL_SOCKET, SO_PRIORITY, 2);
    t.getsockopt_int(s, SOL_IP, IP_TOS);
}

SCENARIO(Opts, ShortOptlenOnSolSocket) {
    int s = udp(t);
    for (socklen_t len : {0u, 1u, 2u, 3u}) {
        t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1, len);
        t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1, len);
        t.setsockopt_int(s, SOL_SOCKET, SO_PRIORITY, 1, len);
    }
    t.getsockopt_int(s, SOL_SOCKET, SO_REUSEADDR);
    t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    for (socklen_t len : {0u, 1u, 2u, 3u, 4u, 5u, 16u}) t.getsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, len);
    t.getsockopt_raw(s, SOL_SOCKET, SO_TYPE, 1);
    t.getsockopt_raw(s, SOL_SOCKET, SO_TYPE, 2);
}

SCENARIO(Opts, NegativeOptlen) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1, socklen_t(-1));
    t.setsockopt_int(s, SOL_IP, IP_TTL, 9, socklen_t(-1));
    t.getsockopt_raw(s, SOL_SOCKET, SO_REUSEADDR, socklen_t(-1));
    t.getsockopt_raw(s, SOL_IP, IP_TTL, socklen_t(-1));
    t.getsockopt_raw(s, SOL_UDP, UDP_CORK, socklen_t(-1));
}

// ---------------------------------------------------------------- timeouts

SCENARIO(Opts, TimeoutRoundTrip) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    t.getsockopt_raw(s, SOL_SOCKET, SO_SNDTIMEO, sizeof(timeval));
    set_timeval(t, s, SO_RCVTIMEO, 1, 500000);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    set_timeval(t, s, SO_SNDTIMEO, 2, 0);
    t.getsockopt_raw(s, SOL_SOCKET, SO_SNDTIMEO, sizeof(timeval));
    t.getsockopt_raw(s, SOL_SOCKET, SO_SNDTIMEO, 8);  // truncated to tv_sec
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, 32);
    set_timeval(t, s, SO_RCVTIMEO, 0, 0);  // back to forever
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
}

SCENARIO(Opts, TimeoutValidation) {
    int s = udp(t);
    set_timeval(t, s, SO_RCVTIMEO, 0, 1000000);
    set_timeval(t, s, SO_RCVTIMEO, 0, -1);
    set_timeval(t, s, SO_SNDTIMEO, 5, 1000000);
    set_timeval(t, s, SO_RCVTIMEO, 1, 0, 8);
    set_timeval(t, s, SO_RCVTIMEO, 1, 0, 0);
    set_timeval(t, s, SO_RCVTIMEO, 1, 0, 15);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    set_timeval(t, s, SO_RCVTIMEO, -5, 0);  // negative: treated as zero wait
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    t.bind(s, addr("127.0.0.1", 7000));
    t.recv(s, 64);
}

SCENARIO(Opts, TimeoutRoundsToJiffies) {
    int s = udp(t);
    set_timeval(t, s, SO_RCVTIMEO, 0, 1);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    set_timeval(t, s, SO_RCVTIMEO, 0, 1500);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
    set_timeval(t, s, SO_RCVTIMEO, 3, 999999);
    t.getsockopt_raw(s, SOL_SOCKET, SO_RCVTIMEO, sizeof(timeval));
}

// ---------------------------------------------------------------- SO_BINDTODEVICE

SCENARIO(Opts, BindToDevice) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, 4);  // unbound: length 0 whatever the buffer
    t.getsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "eth0", 5);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, 4);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, 64);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2);  // no terminator needed
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "nosuchdev0", 11);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "eth0xxxxxxxxxxxxxxxxx", 21);  // cut at IFNAMSIZ-1
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "", 0);  // unbind
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "\0eth0", 5);  // empty name: unbind
    t.getsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX);
}

SCENARIO(Opts, BindToDeviceAffectsRouting) {
    int s = udp(t);
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
    t.sendto(s, "x", addr("10.0.2.2", 7001));
    t.connect(s, addr("10.0.2.2", 7001));
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, "eth0", 5);
    t.connect(s, addr("10.0.2.2", 7001));
    t.getsockname(s);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.sendto(s, "y", addr("127.0.0.1", 7001));
    int b = udp(t);
    t.setsockopt_int(b, SOL_SOCKET, SO_BINDTOIFINDEX, 1);
    t.getsockopt_raw(b, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.setsockopt_int(b, SOL_SOCKET, SO_BINDTOIFINDEX, 99);
    t.setsockopt_int(b, SOL_SOCKET, SO_BINDTOIFINDEX, 0);
    t.getsockopt_int(b, SOL_SOCKET, SO_BINDTOIFINDEX);
}

// ---------------------------------------------------------------- IP_TTL / IP_TOS

SCENARIO(Opts, IpTtl) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_TTL);
    for (int v : {1, 255, -1, 0, 256, -2, 1000, 64}) set_get(t, s, SOL_IP, IP_TTL, v);
    const unsigned char one = 7;
    t.setsockopt_raw(s, SOL_IP, IP_TTL, &one, 1);  // one-byte form
    t.getsockopt_int(s, SOL_IP, IP_TTL);
    const unsigned char zero = 0;
    t.setsockopt_raw(s, SOL_IP, IP_TTL, &zero, 1);
    const unsigned short two = 0x0109;  // two bytes: the first byte only
    t.setsockopt_raw(s, SOL_IP, IP_TTL, &two, 2);
    t.getsockopt_int(s, SOL_IP, IP_TTL);
    t.setsockopt_raw(s, SOL_IP, IP_TTL, &one, 0);
    t.getsockopt_int(s, SOL_IP, IP_TTL);
}

SCENARIO(Opts, IpTtlTakesEffect) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("127.0.0.1", 7002));
    t.setsockopt_int(r, SOL_IP, IP_RECVTTL, 1);
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_TTL, 1);
    t.sendto(s, "ttl1", addr("127.0.0.1", 7002));
    t.recv(r, 64, MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_TTL, -1);
    t.sendto(s, "default", addr("127.0.0.1", 7002));
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Opts, IpTos) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_TOS);
    for (int v : {0x10, 0xff, 0x103, -1, 3, 0}) set_get(t, s, SOL_IP, IP_TOS, v);
    const unsigned char b = 0x28;
    t.setsockopt_raw(s, SOL_IP, IP_TOS, &b, 1);
    t.getsockopt_int(s, SOL_IP, IP_TOS);
    t.setsockopt_raw(s, SOL_IP, IP_TOS, &b, 0);
    t.getsockopt_int(s, SOL_IP, IP_TOS);
}

// ---------------------------------------------------------------- multicast knobs

SCENARIO(Opts, MulticastTtl) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL);
    for (int v : {0, 255, 256, -1, -2, 32}) set_get(t, s, SOL_IP, IP_MULTICAST_TTL, v);
    const unsigned char b = 9;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_TTL, &b, 1);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_TTL, &b, 0);
}

SCENARIO(Opts, MulticastLoopAndAll) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_ALL);
    for (int v : {0, 5, -1, 1}) set_get(t, s, SOL_IP, IP_MULTICAST_LOOP, v);
    for (int v : {0, 1, 2, -1}) set_get(t, s, SOL_IP, IP_MULTICAST_ALL, v);
    const unsigned char z = 0;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_LOOP, &z, 1);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_LOOP, &z, 0);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_ALL, &z, 0);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 3);
}

// ---------------------------------------------------------------- path MTU

SCENARIO(Opts, MtuDiscoverValues) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MTU_DISCOVER);
    for (int v : {0, 1, 2, 3, 4, 5, 6, -1, 100}) set_get(t, s, SOL_IP, IP_MTU_DISCOVER, v);
    const unsigned char b = 2;
    t.setsockopt_raw(s, SOL_IP, IP_MTU_DISCOVER, &b, 1);
    t.getsockopt_int(s, SOL_IP, IP_MTU_DISCOVER);
    t.setsockopt_raw(s, SOL_IP, IP_MTU_DISCOVER, &b, 0);
    t.getsockopt_int(s, SOL_IP, IP_MTU_DISCOVER);
}

SCENARIO(Opts, MtuDiscoverDoLimitsDatagramSize) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.sendto(s, std::string(1472, 'a'), addr("10.0.2.2", 7003));
    t.sendto(s, std::string(1473, 'a'), addr("10.0.2.2", 7003));
    t.sendto(s, std::string(65000, 'a'), addr("127.0.0.1", 7003));
    t.sendto(s, std::string(65507, 'a'), addr("127.0.0.1", 7003));  // lo's 65536 counts as 65535
    t.sendto(s, std::string(65508, 'a'), addr("127.0.0.1", 7003));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE);
    t.sendto(s, std::string(1473, 'a'), addr("10.0.2.2", 7003));
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
    t.sendto(s, std::string(1473, 'a'), addr("10.0.2.2", 7003));
}

SCENARIO(Opts, IpMtu) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect(s, addr("10.0.2.2", 53));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.getsockopt_int(s, SOL_IP, IP_MTU, 2);
    t.connect(s, addr("127.0.0.1", 53));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.getsockopt_int(s, SOL_IP, IP_MTU, 1);
    t.connect(s, addr("8.8.8.8", 53));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect(s, addr("10.0.2.15", 53));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.connect_unspec(s);
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.setsockopt_int(s, SOL_IP, IP_MTU, 1000);
}

SCENARIO(Opts, IpMtuFollowsLinkMtu) {
    int s = udp(t);
    t.connect(s, addr("10.0.2.2", 53));
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    t.ip("link set eth0 mtu 1280");
    t.getsockopt_int(s, SOL_IP, IP_MTU);
    int n = udp(t);
    t.connect(n, addr("10.0.2.2", 53));
    t.getsockopt_int(n, SOL_IP, IP_MTU);
}

// ---------------------------------------------------------------- receive flags

SCENARIO(Opts, ReceiveFlagOptions) {
    int s = udp(t);
    for (int name : {IP_RECVERR, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVOPTS, IP_RETOPTS, IP_FREEBIND}) {
        t.getsockopt_int(s, SOL_IP, name);
        set_get(t, s, SOL_IP, name, 1);
        set_get(t, s, SOL_IP, name, 7);
        set_get(t, s, SOL_IP, name, -1);
        set_get(t, s, SOL_IP, name, 0);
    }
}

SCENARIO(Opts, ReceiveFlagOptionsShortLengths) {
    int s = udp(t);
    const unsigned char one = 1;
    t.setsockopt_raw(s, SOL_IP, IP_PKTINFO, &one, 1);
    t.getsockopt_int(s, SOL_IP, IP_PKTINFO);
    t.setsockopt_raw(s, SOL_IP, IP_RECVTTL, &one, 0);
    t.getsockopt_int(s, SOL_IP, IP_RECVTTL);
    t.setsockopt_raw(s, SOL_IP, IP_RECVERR, &one, 1);
    t.getsockopt_int(s, SOL_IP, IP_RECVERR);
    t.setsockopt_raw(s, SOL_IP, IP_RECVTOS, &one, 3);
    t.getsockopt_int(s, SOL_IP, IP_RECVTOS);
}

SCENARIO(Opts, SolIpGetsockoptOneByte) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_TTL, 1);
    t.getsockopt_int(s, SOL_IP, IP_TTL, 2);
    t.getsockopt_int(s, SOL_IP, IP_TTL, 3);
    t.getsockopt_int(s, SOL_IP, IP_TTL, 0);
    t.getsockopt_int(s, SOL_IP, IP_TTL, 8);
    t.setsockopt_int(s, SOL_IP, IP_TOS, 0xff);
    t.getsockopt_int(s, SOL_IP, IP_TOS, 1);
    t.getsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, 1);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_TTL, 1);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_LOOP, 1);
    t.getsockopt_int(s, SOL_IP, IP_PKTINFO, 1);
    t.getsockopt_int(s, SOL_IP, IP_RECVERR, 2);
    t.getsockopt_int(s, SOL_IP, IP_MULTICAST_ALL, 1);
}

// ---------------------------------------------------------------- unknown names and levels

SCENARIO(Opts, UnknownOptionNames) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, 9999, 1);
    t.getsockopt_int(s, SOL_SOCKET, 9999);
    t.setsockopt_int(s, SOL_IP, 9999, 1);
    t.getsockopt_int(s, SOL_IP, 9999);
    t.setsockopt_int(s, SOL_UDP, 9999, 1);
    t.setsockopt_int(s, SOL_UDP, 9999, 1, 1);  // length checked first
    t.getsockopt_int(s, SOL_UDP, 9999);
    t.setsockopt_int(s, SOL_IP, 0, 1);
    t.getsockopt_int(s, SOL_IP, 0);
    t.setsockopt_int(s, SOL_SOCKET, 0, 1);
    t.getsockopt_int(s, SOL_SOCKET, 0);
}

SCENARIO(Opts, UnknownLevels) {
    int s = udp(t);
    for (int level : {12345, int(IPPROTO_TCP), SOL_IPV6, SOL_RAW, 255, -1}) {
        t.setsockopt_int(s, level, 1, 1);
        t.getsockopt_int(s, level, 1);
    }
}

SCENARIO(Opts, UdpCork) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_UDP, UDP_CORK);
    set_get(t, s, SOL_UDP, UDP_CORK, 1);
    set_get(t, s, SOL_UDP, UDP_CORK, 5);
    t.getsockopt_int(s, SOL_UDP, UDP_CORK, 1);
    t.getsockopt_int(s, SOL_UDP, UDP_CORK, 0);
    t.getsockopt_int(s, SOL_UDP, UDP_CORK, 8);
    t.setsockopt_int(s, SOL_UDP, UDP_CORK, 0, 2);
    set_get(t, s, SOL_UDP, UDP_CORK, 0);
    t.setsockopt_int(s, IPPROTO_UDP, UDP_CORK, 1);
    t.getsockopt_int(s, IPPROTO_UDP, UDP_CORK);
}

SCENARIO(Opts, OtherUdpLevelOptions) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_UDP, UDP_ENCAP);
    t.getsockopt_int(s, SOL_UDP, UDP_SEGMENT);
    t.getsockopt_int(s, SOL_UDP, UDP_GRO);
    t.getsockopt_int(s, SOL_UDP, UDP_NO_CHECK6_TX);
    set_get(t, s, SOL_UDP, UDP_SEGMENT, 1000);
    set_get(t, s, SOL_UDP, UDP_SEGMENT, 70000);
    set_get(t, s, SOL_UDP, UDP_GRO, 1);
}

SCENARIO(Opts, OtherSolSocketOptions) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_SOCKET, SO_LINGER, 8);
    t.getsockopt_int(s, SOL_SOCKET, SO_PASSCRED);
    t.getsockopt_int(s, SOL_SOCKET, SO_TIMESTAMP);
    t.getsockopt_int(s, SOL_SOCKET, SO_MARK);
    t.getsockopt_int(s, SOL_SOCKET, SO_RXQ_OVFL);
    t.getsockopt_int(s, SOL_SOCKET, SO_BUSY_POLL);
    set_get(t, s, SOL_SOCKET, SO_RCVLOWAT, 10);
    set_get(t, s, SOL_SOCKET, SO_RCVLOWAT, 0);
    t.setsockopt_int(s, SOL_SOCKET, SO_SNDLOWAT, 10);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDLOWAT);
}

SCENARIO(Opts, OptionsOnClosedDescriptor) {
    int s = udp(t);
    t.close(s);
    t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
    t.getsockopt_int(s, SOL_SOCKET, SO_TYPE);
    t.setsockopt_int(s, SOL_IP, IP_TTL, 5);
    t.getsockopt_int(s, SOL_IP, IP_TTL);
}

SCENARIO(Opts, OptionsSurviveConnectAndDisconnect) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_TTL, 33);
    t.setsockopt_int(s, SOL_IP, IP_TOS, 0x20);
    t.setsockopt_int(s, SOL_SOCKET, SO_RCVBUF, 5000);
    t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    t.connect(s, addr("10.0.2.2", 53));
    t.connect_unspec(s);
    t.getsockopt_int(s, SOL_IP, IP_TTL);
    t.getsockopt_int(s, SOL_IP, IP_TOS);
    t.getsockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    t.getsockopt_int(s, SOL_SOCKET, SO_BROADCAST);
}

SCENARIO(Opts, MulticastIfForms) {
    int s = udp(t);
    in_addr a{};
    a.s_addr = addr("10.0.2.15", 0).sin_addr.s_addr;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &a, sizeof a);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 8);
    ip_mreqn mn{};
    mn.imr_ifindex = 1;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &mn, sizeof mn);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    ip_mreq mr{};
    mr.imr_interface.s_addr = addr("127.0.0.1", 0).sin_addr.s_addr;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &mr, sizeof mr);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
    in_addr bad{};
    bad.s_addr = addr("10.9.9.9", 0).sin_addr.s_addr;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &bad, sizeof bad);
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &a, 2);
    mn.imr_ifindex = 77;
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &mn, sizeof mn);
    in_addr any{};
    t.setsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, &any, sizeof any);
    t.getsockopt_raw(s, SOL_IP, IP_MULTICAST_IF, 4);
}

SCENARIO(Opts, MembershipAddDrop) {
    int s = udp(t);
    ip_mreq m{};
    m.imr_multiaddr.s_addr = addr("224.1.2.3", 0).sin_addr.s_addr;
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);  // again
    ip_mreq u{};
    u.imr_multiaddr.s_addr = addr("10.0.2.2", 0).sin_addr.s_addr;
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &u, sizeof u);
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, 4);
    ip_mreqn n{};
    n.imr_multiaddr.s_addr = addr("224.1.2.4", 0).sin_addr.s_addr;
    n.imr_ifindex = 1;
    t.setsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, &n, sizeof n);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    t.setsockopt_raw(s, SOL_IP, IP_DROP_MEMBERSHIP, &n, sizeof n);
    t.getsockopt_raw(s, SOL_IP, IP_ADD_MEMBERSHIP, 8);
}

SCENARIO(Opts, OtherIpLevelOptions) {
    int s = udp(t);
    t.getsockopt_raw(s, SOL_IP, IP_OPTIONS, 40);
    t.getsockopt_int(s, SOL_IP, IP_HDRINCL);
    t.getsockopt_int(s, SOL_IP, IP_TRANSPARENT);
    t.getsockopt_int(s, SOL_IP, IP_MINTTL);
    t.getsockopt_int(s, SOL_IP, IP_NODEFRAG);
    t.getsockopt_int(s, SOL_IP, IP_BIND_ADDRESS_NO_PORT);
    t.getsockopt_int(s, SOL_IP, IP_RECVORIGDSTADDR);
    t.getsockopt_int(s, SOL_IP, IP_CHECKSUM);
    t.setsockopt_int(s, SOL_IP, IP_HDRINCL, 1);
    set_get(t, s, SOL_IP, IP_MINTTL, 5);
    set_get(t, s, SOL_IP, IP_MINTTL, 256);
}

SCENARIO(Opts, FreebindAndNonlocalBind) {
    int s = udp(t);
    t.bind(s, addr("10.9.9.9", 7010));
    t.setsockopt_int(s, SOL_IP, IP_FREEBIND, 1);
    t.bind(s, addr("10.9.9.9", 7010));
    t.getsockname(s);
}
