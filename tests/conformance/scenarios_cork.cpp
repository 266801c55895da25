// Corked datagrams (MSG_MORE, UDP_CORK): what they charge to the socket's write memory
// (SIOCOUTQ) as __ip_append_data builds them, and the kernel's quirk that connect() reuses
// the cork's flow, so a pending datagram leaves for the new peer.
#include <sys/ioctl.h>

#include "harness.hpp"

using namespace conformance;

namespace {

// Sends the pieces with MSG_MORE to `dst`, reading SIOCOUTQ after each.
void grow(T& t, const char* dst, std::initializer_list<size_t> pieces) {
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.note(std::string("corked to ") + dst);
    for (size_t n : pieces) {
        t.sendto(s, std::string(n, 'c'), addr(dst, 9), MSG_MORE);
        t.ioctl_int(s, TIOCOUTQ, "SIOCOUTQ");
    }
    t.close(s);
}

}  // namespace

SCENARIO(Cork, OutqGrowsAsAppendDataCharges) {
    for (const char* dst : {"127.0.0.1", "10.0.2.2", "239.1.2.3"}) {
        grow(t, dst, {2, 2});
        grow(t, dst, {100, 100, 100});
        grow(t, dst, {64, 1000});
        grow(t, dst, {1000, 1000});
        grow(t, dst, {1400, 200});
        grow(t, dst, {1472, 1});
        grow(t, dst, {1473, 1});
        grow(t, dst, {3000, 10});
        grow(t, dst, {10, 3000, 10});
        grow(t, dst, {20000, 5});
    }
}

SCENARIO(Cork, ConnectRedirectsThePendingDatagram) {
    int r = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(r, addr("10.0.2.15", 7060));
    int old = t.socket(AF_INET, SOCK_DGRAM);
    t.bind(old, addr("127.0.0.1", 7061));
    int s = t.socket(AF_INET, SOCK_DGRAM);
    t.sendto(s, "first-", addr("127.0.0.1", 7061), MSG_MORE);
    t.connect(s, addr("10.0.2.15", 7060));
    t.send(s, "second");
    t.poll1(r, POLLIN, 1000);
    t.recv(r, 64, MSG_DONTWAIT);
    t.recv(old, 64, MSG_DONTWAIT);
    // To a closed port: the error now belongs to the connected socket.
    int s2 = t.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK);
    t.sendto(s2, std::string(100, 'x'), addr("0.0.0.0", 7062), MSG_MORE);
    t.connect(s2, addr("10.0.2.15", 7063));
    t.sendto(s2, "tail", addr("8.8.8.8", 7062), MSG_DONTWAIT);
    t.sleep_ms(100);
    t.getsockopt_int(s2, SOL_SOCKET, SO_ERROR);
}
