// The seed note's experiment and the rules it found in ip4_datagram_connect/inet_getname.
#include <netinet/ip.h>

#include "harness.hpp"

using namespace conformance;

SCENARIO(Seed, GetpeernameBeforeConnectIsENOTCONN) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "", addr("8.8.8.8", 53));
    t.getpeername(s);
    t.getsockname(s);
}

SCENARIO(Seed, GetpeernameAfterConnect) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("8.8.8.8", 53));
    t.send(s, "");
    t.getpeername(s);
    t.getsockname(s);
}

SCENARIO(Seed, ConnectShortAddressIsEINVAL) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("8.8.8.8", 53), 8);
    t.getsockname(s);  // autobind happened before the length check
    t.connect(s, addr("8.8.8.8", 53), 1);
}

SCENARIO(Seed, ConnectWrongFamilyIsEAFNOSUPPORT) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("8.8.8.8", 53, AF_INET6));
    t.getpeername(s);
}

SCENARIO(Seed, ConnectBroadcastNeedsSO_BROADCAST) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("255.255.255.255", 9));
    t.connect(s, addr("10.0.2.255", 9));
    t.setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    t.connect(s, addr("10.0.2.255", 9));
    t.getpeername(s);
    t.getsockname(s);
}

SCENARIO(Seed, ConnectNoRouteIsENETUNREACH) {
    t.ip("route del default");
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("8.8.8.8", 53));
    t.sendto(s, "x", addr("8.8.8.8", 53));
    t.connect(s, addr("10.0.2.2", 53));
    t.getpeername(s);
}

SCENARIO(Seed, DisconnectWithAF_UNSPEC) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("10.0.2.2", 53));
    t.getpeername(s);
    t.connect_unspec(s);
    t.getpeername(s);
    t.getsockname(s);  // autobound address and port are forgotten
    t.send(s, "x");
}

SCENARIO(Seed, DisconnectKeepsWhatBindSet) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("10.0.2.15", 4000));
    t.connect(s, addr("10.0.2.2", 53));
    t.connect_unspec(s);
    t.getsockname(s);
}

SCENARIO(Seed, DisconnectKeepsBoundPortNotAddress) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(s, addr("0.0.0.0", 4001));
    t.connect(s, addr("10.0.2.2", 53));
    t.getsockname(s);
    t.connect_unspec(s);
    t.getsockname(s);
}

SCENARIO(Seed, ConnectedSocketOnlyHearsItsPeer) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("127.0.0.1", 5000));
    int a = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(a, addr("127.0.0.1", 5001));
    int b = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(b, addr("127.0.0.1", 5002));
    t.connect(r, addr("127.0.0.1", 5001));
    t.sendto(b, "from-b", addr("127.0.0.1", 5000));
    t.sendto(a, "from-a", addr("127.0.0.1", 5000));
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(r, 64, MSG_DONTWAIT);
}

SCENARIO(Seed, ConnectedSocketReceivesPortUnreachable) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.send(s, "y");
    t.recv(s, 64, MSG_DONTWAIT);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Seed, UnconnectedSocketIgnoresPortUnreachable) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "x", addr("127.0.0.1", 9));
    t.getsockopt_int(s, SOL_SOCKET, SO_ERROR);
    t.recv(s, 64, MSG_DONTWAIT);
}

SCENARIO(Seed, GatewayPortUnreachableSurfacesOnce) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.connect(s, addr("10.0.2.2", 9));
    t.send(s, "x");
    t.poll1(s, POLLIN, 1000);
    t.set_rcvtimeo(s, 300);
    t.recv(s);
    t.recv(s);
}
