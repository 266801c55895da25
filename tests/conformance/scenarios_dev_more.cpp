// SO_DONTROUTE / MSG_DONTROUTE (RTO_ONLINK: on-link and local destinations only) and
// device binding (issue 9): SO_BINDTOIFINDEX to a missing index, IP_UNICAST_IF.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "harness.hpp"

using namespace conformance;

namespace {
int udp(T& t) { return t.socket(AF_INET, SOCK_DGRAM); }
}  // namespace

SCENARIO(DevMore, DontrouteConnect) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_DONTROUTE, 1);
    t.connect(s, addr("8.8.8.8", 53));
    t.getpeername(s);
    t.connect(s, addr("10.0.2.2", 53));
    t.getsockname(s);
    t.send(s, "x");
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "y");
    t.connect(s, addr("10.0.2.15", 9));
    t.setsockopt_int(s, SOL_SOCKET, SO_DONTROUTE, 0);
    t.connect(s, addr("8.8.8.8", 53));
    t.send(s, "z");
    t.setsockopt_int(s, SOL_SOCKET, SO_DONTROUTE, 1);
    t.send(s, "w");  // the cached route of the connect stands? (ip4_datagram_connect's)
}

SCENARIO(DevMore, DontrouteSend) {
    int s = udp(t);
    t.sendto(s, "a", addr("8.8.8.8", 53), MSG_DONTROUTE);
    t.sendto(s, "b", addr("10.0.2.2", 53), MSG_DONTROUTE);
    t.sendto(s, "c", addr("10.0.2.15", 9), MSG_DONTROUTE);
    t.sendto(s, "d", addr("127.0.0.1", 9), MSG_DONTROUTE);
    t.sendto(s, "e", addr("8.8.8.8", 53));
    t.setsockopt_int(s, SOL_SOCKET, SO_DONTROUTE, 1);
    t.sendto(s, "f", addr("8.8.8.8", 53));
    t.sendto(s, "g", addr("10.0.2.2", 53));
    int c = udp(t);
    t.connect(c, addr("8.8.8.8", 53));
    t.send(c, "h", MSG_DONTROUTE);
    t.send(c, "i");
}

SCENARIO(DevMore, BindToMissingIndex) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX, 99);
    t.getsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, 4);
    t.sendto(s, "a", addr("10.0.2.2", 9));
    t.setsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX, 0);
    t.getsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ);
}

SCENARIO(DevMore, UnicastIf) {
    int s = udp(t);
    t.getsockopt_int(s, SOL_IP, IP_UNICAST_IF);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, int(htonl(1)));
    t.getsockopt_int(s, SOL_IP, IP_UNICAST_IF);
    t.getsockopt_int(s, SOL_IP, IP_UNICAST_IF, 1);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, int(htonl(99)));
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, 1);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, int(htonl(1)), 2);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, int(htonl(1)), 8);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, 0);
    t.getsockopt_int(s, SOL_IP, IP_UNICAST_IF);
    t.setsockopt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX, 1);
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, int(htonl(1)));
    t.setsockopt_int(s, SOL_IP, IP_UNICAST_IF, 0);
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.setsockopt_int(p, SOL_IP, IP_UNICAST_IF, int(htonl(1)));
    t.getsockopt_int(p, SOL_IP, IP_UNICAST_IF);
}

SCENARIO(DevMore, BoundDeviceOverridesMainTable) {
    int s = udp(t);
    char lo[IFNAMSIZ] = "lo";
    t.setsockopt_raw(s, SOL_SOCKET, SO_BINDTODEVICE, lo, 3);
    t.sendto(s, "a", addr("10.0.2.2", 9));
    t.connect(s, addr("10.0.2.2", 9));
    t.getsockname(s);
    int r = udp(t);
    t.bind(r, addr("0.0.0.0", 7120));
    int e = udp(t);
    char eth[IFNAMSIZ] = "eth0";
    t.setsockopt_raw(e, SOL_SOCKET, SO_BINDTODEVICE, eth, 5);
    t.sendto(e, "b", addr("127.0.0.1", 7120));
    t.sendto(e, "c", addr("10.0.2.15", 7120));
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(DevMore, PktinfoFollowsSenderBinding) {
    int r = udp(t);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    t.bind(r, addr("0.0.0.0", 7121));
    int s = udp(t);
    t.sendto(s, "plain", addr("10.0.2.15", 7121));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(s, "plain-lo", addr("127.0.0.1", 7121));
    t.recv(r, 64, MSG_DONTWAIT);
    int e = udp(t);
    t.setsockopt_int(e, SOL_SOCKET, SO_BINDTOIFINDEX, 2);
    t.sendto(e, "eth0", addr("10.0.2.15", 7121));
    t.recv(r, 64, MSG_DONTWAIT);
    int l = udp(t);
    t.setsockopt_int(l, SOL_SOCKET, SO_BINDTOIFINDEX, 1);
    t.sendto(l, "lo", addr("127.0.0.1", 7121));
    t.recv(r, 64, MSG_DONTWAIT);
    t.sendto(l, "lo-to-eth0-addr", addr("10.0.2.15", 7121));
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(DevMore, SendPktinfoPicksDevice) {
    int r = udp(t);
    t.setsockopt_int(r, SOL_IP, IP_PKTINFO, 1);
    t.bind(r, addr("0.0.0.0", 7122));
    int s = udp(t);
    in_pktinfo pi{};
    pi.ipi_ifindex = 2;
    std::string c(CMSG_SPACE(sizeof pi), '\0');
    cmsghdr* cm = reinterpret_cast<cmsghdr*>(c.data());
    cm->cmsg_level = SOL_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
    sockaddr_in to = addr("10.0.2.15", 7122);
    t.sendmsg(s, "via-eth0", &to, c);
    t.recv(r, 64, MSG_DONTWAIT);
    to = addr("127.0.0.1", 7122);
    t.sendmsg(s, "lo-addr-via-eth0", &to, c);
    t.recv(r, 64, MSG_DONTWAIT);
    pi.ipi_ifindex = 1;
    std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
    t.sendmsg(s, "via-lo", &to, c);
    t.recv(r, 64, MSG_DONTWAIT);
    pi.ipi_ifindex = 77;
    std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
    t.sendmsg(s, "missing", &to, c);
    pi.ipi_ifindex = 0;
    std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
    to = addr("8.8.8.8", 53);
    t.sendmsg(s, "offlink", &to, c);
    to = addr("10.0.2.255", 7122);
    t.sendmsg(s, "bcast", &to, c);
    to = addr("224.1.2.3", 7122);
    t.sendmsg(s, "mcast", &to, c);
}
