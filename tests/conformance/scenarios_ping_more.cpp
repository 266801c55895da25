// Ping sockets (issue 9): RFC 8335 extended echo requests, IP_PKTINFO on echo replies
// (ping_recvmsg's spec_dst), MSG_OOB on receive, MSG_TRUNC with short buffers.
#include <netinet/in.h>
#include <poll.h>

#include <string>

#include "harness.hpp"

using namespace conformance;

namespace {

std::string icmp(uint8_t type, uint8_t code, uint16_t seq, const std::string& payload) {
    std::string s(8, '\0');
    s[0] = char(type);
    s[1] = char(code);
    s[6] = char(seq >> 8);
    s[7] = char(seq & 0xff);
    return s + payload;
}

int bound_ping(T& t, uint16_t ident) {
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.bind(p, addr("0.0.0.0", ident));
    return p;
}

}  // namespace

SCENARIO(PingMore, ExtendedEchoAccepted) {
    int p = bound_ping(t, 4301);
    t.sendto(p, icmp(42, 0, 1, "probe"), addr("127.0.0.1", 0));
    t.sendto(p, icmp(42, 1, 1, "probe"), addr("127.0.0.1", 0));
    t.sendto(p, icmp(43, 0, 1, "probe"), addr("127.0.0.1", 0));
    t.sendto(p, icmp(0, 0, 1, "reply"), addr("127.0.0.1", 0));
    t.sleep_ms(50);
    t.recv(p, 64, MSG_DONTWAIT);
}

SCENARIO(PingMore, ReplyPktinfo) {
    int p = bound_ping(t, 4302);
    t.setsockopt_int(p, SOL_IP, IP_PKTINFO, 1);
    t.setsockopt_int(p, SOL_IP, IP_RECVTTL, 1);
    t.sendto(p, icmp(8, 0, 1, "lo"), addr("127.0.0.1", 0));
    t.poll1(p, POLLIN, 1000);
    t.recv(p, 64, MSG_DONTWAIT);
    t.sendto(p, icmp(8, 0, 2, "self"), addr("10.0.2.15", 0));
    t.poll1(p, POLLIN, 1000);
    t.recv(p, 64, MSG_DONTWAIT);
    t.sendto(p, icmp(8, 0, 3, "gw"), addr("10.0.2.2", 0));
    t.poll1(p, POLLIN, 2000);
    t.recv(p, 64, MSG_DONTWAIT);
}

SCENARIO(PingMore, RecvOobAndTrunc) {
    int p = bound_ping(t, 4303);
    t.recv(p, 64, MSG_OOB | MSG_DONTWAIT);
    t.sendto(p, icmp(8, 0, 1, "0123456789"), addr("127.0.0.1", 0));
    t.poll1(p, POLLIN, 1000);
    t.recv(p, 64, MSG_OOB | MSG_DONTWAIT);
    t.recv(p, 4, MSG_PEEK | MSG_DONTWAIT);
    t.recv(p, 4, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    t.recv(p, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    t.recv(p, 12, MSG_TRUNC | MSG_DONTWAIT);
    t.recv(p, 64, MSG_OOB | MSG_ERRQUEUE | MSG_DONTWAIT);
}
