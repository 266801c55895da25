// Socket-layer behaviour on the default world, checked against what Linux does.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "usnet/sim.hpp"

using namespace usnet;

namespace {

sockaddr_in sin(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}
const sockaddr* sa(const sockaddr_in& a) { return reinterpret_cast<const sockaddr*>(&a); }

class UdpSocket : public ::testing::Test {
protected:
    sim::DefaultWorld w = sim::make_default_world(7);
    Stack& h = *w.host;
};

TEST_F(UdpSocket, SeedNoteGetpeernameNeedsConnect) {
    int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(s, 0);
    auto dst = sin("8.8.8.8", 53);
    ASSERT_EQ(h.sendto(s, "", 0, 0, sa(dst), sizeof dst), 0);
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    EXPECT_EQ(h.getpeername(s, reinterpret_cast<sockaddr*>(&peer), &len), -1);
    EXPECT_EQ(errno, ENOTCONN);
    EXPECT_EQ(last_error(), Err::NotConnected);
    ASSERT_EQ(h.connect(s, sa(dst), sizeof dst), 0);
    len = sizeof peer;
    ASSERT_EQ(h.getpeername(s, reinterpret_cast<sockaddr*>(&peer), &len), 0);
    EXPECT_EQ(len, sizeof(sockaddr_in));
    EXPECT_EQ(peer.sin_port, htons(53));
    EXPECT_EQ(peer.sin_addr.s_addr, dst.sin_addr.s_addr);
    // connect() chose the source address by route: eth0's.
    sockaddr_in me{};
    len = sizeof me;
    ASSERT_EQ(h.getsockname(s, reinterpret_cast<sockaddr*>(&me), &len), 0);
    EXPECT_EQ(me.sin_addr.s_addr, sin("10.0.2.15", 0).sin_addr.s_addr);
    EXPECT_GE(ntohs(me.sin_port), 32768);
    EXPECT_LE(ntohs(me.sin_port), 60999);
}

TEST_F(UdpSocket, LoopbackSendReceive) {
    int r = h.socket(AF_INET, SOCK_DGRAM, 0);
    int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    auto a = sin("127.0.0.1", 5000);
    ASSERT_EQ(h.bind(r, sa(a), sizeof a), 0);
    ASSERT_EQ(h.sendto(s, "hello", 5, 0, sa(a), sizeof a), 5);
    char buf[16];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ASSERT_EQ(h.recvfrom(r, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl), 5);
    EXPECT_EQ(std::memcmp(buf, "hello", 5), 0);
    EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_EQ(h.recv(r, buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(h.counters().udp.InDatagrams, 1u);
    EXPECT_EQ(h.counters().udp.OutDatagrams, 1u);
}

TEST_F(UdpSocket, ConnectedSocketGetsPortUnreachableFromGateway) {
    int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    auto gw = sin("10.0.2.2", 9);
    ASSERT_EQ(h.connect(s, sa(gw), sizeof gw), 0);
    ASSERT_EQ(h.send(s, "x", 1, 0), 1);
    timeval tv{1, 0};
    ASSERT_EQ(h.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char b[4];
    EXPECT_EQ(h.recv(s, b, sizeof b, 0), -1);
    EXPECT_EQ(errno, ECONNREFUSED);
    // Reported once.
    EXPECT_EQ(h.recv(s, b, sizeof b, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(w.gateway->counters().udp.NoPorts, 1u);
}

TEST_F(UdpSocket, ForwardedTrafficIsDroppedSilently) {
    int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    auto dst = sin("192.0.2.1", 9);
    ASSERT_EQ(h.connect(s, sa(dst), sizeof dst), 0);
    ASSERT_EQ(h.send(s, "x", 1, 0), 1);
    timeval tv{0, 200000};
    ASSERT_EQ(h.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char b[4];
    EXPECT_EQ(h.recv(s, b, sizeof b, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(w.gateway->counters().ip.InAddrErrors, 1u);
}

}  // namespace

namespace {

TEST(Describe, SocketStateForExplanations) {
    auto w = sim::make_default_world(3);
    Stack& h = *w.host;
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_EQ(h.describe(s), "UDP socket, unbound, no peer");
    auto a = sin("127.0.0.1", 5100);
    ASSERT_EQ(h.bind(s, sa(a), sizeof a), 0);
    EXPECT_EQ(h.describe(s), "UDP socket, local 127.0.0.1:5100, no peer");
    auto peer = sin("127.0.0.1", 9);
    ASSERT_EQ(h.connect(s, sa(peer), sizeof peer), 0);
    ASSERT_EQ(h.send(s, "x", 1, 0), 1);  // earns a port unreachable: a pending error
    EXPECT_EQ(h.describe(s), "UDP socket, local 127.0.0.1:5100, connected to 127.0.0.1:9, pending error ECONNREFUSED");
    const int p = h.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    char b[4];
    EXPECT_EQ(h.recv(p, b, sizeof b, 0), -1);
    EXPECT_EQ(h.explain_last_error(),
              "recv(fd " + std::to_string(p) + "): EAGAIN: " + reason_of(Err::WouldBlock) + " [" +
                  rule_of(Err::WouldBlock) + "] (UDP socket, unbound, no peer, non-blocking)");
    EXPECT_EQ(h.describe(99), "no socket with that descriptor");
}

}  // namespace
