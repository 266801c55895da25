// Real-time mode (what `usnet run` uses): blocking calls wait in real time and release the
// shared lock, so another thread can send to the waiting one.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "../sim_helpers.hpp"

using namespace usnet;
using namespace usnet::test;
using Clock = std::chrono::steady_clock;

namespace {

TEST(Realtime, BlockedRecvWakesWhenAnotherThreadSends) {
    auto w = sim::make_default_world(1);
    std::recursive_mutex mu;
    w.net->set_realtime(&mu);
    Stack& h = *w.host;
    int r, s;
    {
        std::lock_guard<std::recursive_mutex> g(mu);
        r = udp_bound(h, Ip4(127, 0, 0, 1), 5000);
        s = h.socket(AF_INET, SOCK_DGRAM, 0);
    }
    ASSERT_GE(r, 0);
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<std::recursive_mutex> g(mu);
        const sockaddr_in dst = sin4(Ip4(127, 0, 0, 1), 5000);
        EXPECT_EQ(h.sendto(s, "wake", 4, 0, sa(dst), sizeof dst), 4);
    });
    char buf[8];
    const auto t0 = Clock::now();
    ssize_t n;
    {
        std::lock_guard<std::recursive_mutex> g(mu);
        n = h.recv(r, buf, sizeof buf, 0);  // blocks: nothing queued yet
    }
    const auto waited = Clock::now() - t0;
    sender.join();
    ASSERT_EQ(n, 4);
    EXPECT_EQ(std::string(buf, 4), "wake");
    EXPECT_GE(waited, std::chrono::milliseconds(40));  // it really waited for the sender
}

// As Linux (sk_state_change on shutdown): a reader blocked in recv returns 0 once another
// thread shuts the socket down for reading.
TEST(Realtime, ShutdownReadFromAnotherThreadWakesBlockedRecv) {
    auto w = sim::make_default_world(1);
    std::recursive_mutex mu;
    w.net->set_realtime(&mu);
    Stack& h = *w.host;
    int r;
    {
        std::lock_guard<std::recursive_mutex> g(mu);
        r = udp_bound(h, Ip4(127, 0, 0, 1), 5002);
        const sockaddr_in peer = sin4(Ip4(127, 0, 0, 1), 5003);
        ASSERT_EQ(h.connect(r, sa(peer), sizeof peer), 0);
    }
    std::thread closer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<std::recursive_mutex> g(mu);
        EXPECT_EQ(h.shutdown(r, SHUT_RD), 0);
    });
    char buf[8];
    const auto t0 = Clock::now();
    ssize_t n;
    {
        std::lock_guard<std::recursive_mutex> g(mu);
        n = h.recv(r, buf, sizeof buf, 0);  // blocks until the shutdown
    }
    const auto waited = Clock::now() - t0;
    closer.join();
    EXPECT_EQ(n, 0);
    EXPECT_GE(waited, std::chrono::milliseconds(40));
}

TEST(Realtime, ReceiveTimeoutPassesInRealTime) {
    auto w = sim::make_default_world(1);
    std::recursive_mutex mu;
    w.net->set_realtime(&mu);
    std::lock_guard<std::recursive_mutex> g(mu);
    Stack& h = *w.host;
    const int r = udp_bound(h, Ip4(127, 0, 0, 1), 5001);
    timeval tv{0, 80000};
    ASSERT_EQ(h.setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[4];
    const auto t0 = Clock::now();
    EXPECT_EQ(h.recv(r, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(75));
}

TEST(Realtime, GatewayAnswersWhileWeWait) {
    auto w = sim::make_default_world(1);
    std::recursive_mutex mu;
    w.net->set_realtime(&mu);
    std::lock_guard<std::recursive_mutex> g(mu);
    Stack& h = *w.host;
    const int s = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in gw = sin4(Ip4(10, 0, 2, 2), 9);
    ASSERT_EQ(h.connect(s, sa(gw), sizeof gw), 0);
    ASSERT_EQ(h.send(s, "x", 1, 0), 1);
    pollfd p{s, POLLIN, 0};
    EXPECT_EQ(h.poll(&p, 1, 1000), 1);
    EXPECT_TRUE(p.revents & POLLERR);
    char buf[4];
    EXPECT_EQ(h.recv(s, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, ECONNREFUSED);
}

}  // namespace
