// Errors and queues (issue 9): the offender of a locally generated port unreachable,
// MSG_PEEK with a pending error, SIOCINQ, a fragmented datagram larger than the send
// buffer allows (__ip_append_data: ENOBUFS).
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include "harness.hpp"

using namespace conformance;

namespace {
int udp(T& t) { return t.socket(AF_INET, SOCK_DGRAM); }
}  // namespace

SCENARIO(ErrqMore, OffenderIsTheDestination) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.sendto(s, "a", addr("127.0.0.2", 9));
    t.sleep_ms(20);
    t.recv_errqueue(s);
    t.sendto(s, "b", addr("10.0.2.15", 9));
    t.sleep_ms(20);
    t.recv_errqueue(s);
    t.sendto(s, "c", addr("127.3.4.5", 9));
    t.sleep_ms(20);
    t.recv_errqueue(s);
}

SCENARIO(ErrqMore, PeekWithPendingErrorAndEmptyQueue) {
    int s = udp(t);
    t.connect(s, addr("127.0.0.1", 9));
    t.send(s, "x");
    t.sleep_ms(20);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.setsockopt_int(s, SOL_IP, IP_RECVERR, 1);
    t.send(s, "y");
    t.sleep_ms(20);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.recv(s, 10, MSG_PEEK | MSG_DONTWAIT);
    t.recv_errqueue(s, 10, MSG_PEEK);
    t.recv_errqueue(s, 10, 0);
}

SCENARIO(ErrqMore, InqIsFirstDatagram) {
    int s = udp(t);
    t.bind(s, addr("127.0.0.1", 7110));
    int c = udp(t);
    t.ioctl_int(s, SIOCINQ, "SIOCINQ");
    t.sendto(c, "abc", addr("127.0.0.1", 7110));
    t.sendto(c, "defgh", addr("127.0.0.1", 7110));
    t.sendto(c, "", addr("127.0.0.1", 7110));
    t.ioctl_int(s, SIOCINQ, "SIOCINQ");
    t.ioctl_int(s, FIONREAD, "FIONREAD");
    t.recv(s, 1);
    t.ioctl_int(s, SIOCINQ, "SIOCINQ");
    t.recv(s, 10);
    t.ioctl_int(s, FIONREAD, "FIONREAD");
    t.recv(s, 10);
    t.ioctl_int(s, FIONREAD, "FIONREAD");
}

SCENARIO(ErrqMore, FragmentedDatagramBeyondSendBuffer) {
    int s = udp(t);
    t.setsockopt_int(s, SOL_SOCKET, SO_SNDBUF, 0);
    t.getsockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    t.sendto(s, std::string(1000, 'a'), addr("10.0.2.2", 9999));
    t.sendto(s, std::string(2900, 'b'), addr("10.0.2.2", 9999));
    t.sendto(s, std::string(65000, 'c'), addr("10.0.2.2", 9999));
    t.sendto(s, std::string(65000, 'd'), addr("127.0.0.1", 9999));
    int big = udp(t);
    t.sendto(big, std::string(65000, 'e'), addr("10.0.2.2", 9999));
}
