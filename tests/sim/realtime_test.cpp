// Real-time mode (what `usnet run` uses): blocking calls wait in real time and release the
// shared lock, so another thread can send to the waiting one.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/time.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "../sim_helpers.hpp"

using namespace usnet;
using namespace usnet::test;
using Clock = std::chrono::steady_clock;

namespace {

TEST(Realtime, BlockedRecvWakesWhenAnotherThreadSends) {
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    Stack& h = *w.host;
    int r, s;
    {
        std::lock_guard<usnet::CallLock> g(mu);
        r = udp_bound(h, Ip4(127, 0, 0, 1), 5000);
        s = h.socket(AF_INET, SOCK_DGRAM, 0);
    }
    ASSERT_GE(r, 0);
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<usnet::CallLock> g(mu);
        const sockaddr_in dst = sin4(Ip4(127, 0, 0, 1), 5000);
        EXPECT_EQ(h.sendto(s, "wake", 4, 0, sa(dst), sizeof dst), 4);
    });
    char buf[8];
    const auto t0 = Clock::now();
    ssize_t n;
    {
        std::lock_guard<usnet::CallLock> g(mu);
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
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    Stack& h = *w.host;
    int r;
    {
        std::lock_guard<usnet::CallLock> g(mu);
        r = udp_bound(h, Ip4(127, 0, 0, 1), 5002);
        const sockaddr_in peer = sin4(Ip4(127, 0, 0, 1), 5003);
        ASSERT_EQ(h.connect(r, sa(peer), sizeof peer), 0);
    }
    std::thread closer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<usnet::CallLock> g(mu);
        EXPECT_EQ(h.shutdown(r, SHUT_RD), 0);
    });
    char buf[8];
    const auto t0 = Clock::now();
    ssize_t n;
    {
        std::lock_guard<usnet::CallLock> g(mu);
        n = h.recv(r, buf, sizeof buf, 0);  // blocks until the shutdown
    }
    const auto waited = Clock::now() - t0;
    closer.join();
    EXPECT_EQ(n, 0);
    EXPECT_GE(waited, std::chrono::milliseconds(40));
}

// A recv with SO_RCVTIMEO 80 ms on a world that busy-polls for busy_poll ns: how long
// it took to fail with EAGAIN.
Clock::duration recv_timeout_took(Time busy_poll, uint16_t port) {
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    w.net->set_busy_poll(busy_poll);
    std::lock_guard<usnet::CallLock> g(mu);
    Stack& h = *w.host;
    const int r = udp_bound(h, Ip4(127, 0, 0, 1), port);
    timeval tv{0, 80000};
    EXPECT_EQ(h.setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[4];
    const auto t0 = Clock::now();
    EXPECT_EQ(h.recv(r, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    return Clock::now() - t0;
}

TEST(Realtime, ReceiveTimeoutPassesInRealTime) {
    EXPECT_GE(recv_timeout_took(0, 5001), std::chrono::milliseconds(75));
}

TEST(Realtime, GatewayAnswersWhileWeWait) {
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    std::lock_guard<usnet::CallLock> g(mu);
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

// Busy polling (usnet run's default): a blocked call looks without the lock before it
// sleeps. A datagram another thread sends meanwhile is taken, and the lock is free for it.
TEST(Realtime, BusyPollTakesWhatAnotherThreadSends) {
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    w.net->set_busy_poll(2 * kSec);
    Stack& h = *w.host;
    int r, s;
    {
        std::lock_guard<usnet::CallLock> g(mu);
        r = udp_bound(h, Ip4(127, 0, 0, 1), 5010);
        s = h.socket(AF_INET, SOCK_DGRAM, 0);
    }
    for (int round = 0; round < 20; ++round) {
        std::thread sender([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(round % 3));
            std::lock_guard<usnet::CallLock> g(mu);
            const sockaddr_in dst = sin4(Ip4(127, 0, 0, 1), 5010);
            EXPECT_EQ(h.sendto(s, "spin", 4, 0, sa(dst), sizeof dst), 4);
        });
        char buf[8];
        ssize_t n;
        {
            std::lock_guard<usnet::CallLock> g(mu);
            n = h.recv(r, buf, sizeof buf, 0);
        }
        sender.join();
        ASSERT_EQ(n, 4) << "round " << round;
        EXPECT_EQ(std::string(buf, 4), "spin");
    }
}

// SO_RCVTIMEO bounds the busy poll too: the call ends at its deadline, not the poll's.
TEST(Realtime, BusyPollEndsAtTheReceiveTimeout) {
    const auto took = recv_timeout_took(5 * kSec, 5011);
    EXPECT_GE(took, std::chrono::milliseconds(75));
    EXPECT_LT(took, std::chrono::seconds(4));  // (not the 5 s of polling)
}

// A signal handler that runs during the busy poll ends the wait with EINTR (no SA_RESTART),
// as one during the sleep does. (usnet run's trampoline calls note_signal_handler.)
TEST(Realtime, SignalDuringBusyPollInterrupts) {
    struct sigaction a {}, old{};
    a.sa_handler = [](int) { sim::note_signal_handler(); };
    sigemptyset(&a.sa_mask);
    ASSERT_EQ(sigaction(SIGALRM, &a, &old), 0);
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    w.net->set_busy_poll(10 * kSec);
    std::lock_guard<usnet::CallLock> g(mu);
    Stack& h = *w.host;
    const int r = udp_bound(h, Ip4(127, 0, 0, 1), 5012);
    itimerval it{};
    it.it_value.tv_usec = 50000;
    ASSERT_EQ(setitimer(ITIMER_REAL, &it, nullptr), 0);
    char buf[4];
    const auto t0 = Clock::now();
    EXPECT_EQ(h.recv(r, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
    sigaction(SIGALRM, &old, nullptr);
}

TEST(CallLock, RecursiveAndExclusive) {
    usnet::CallLock mu;
    mu.lock();
    mu.lock();  // the same thread again
    EXPECT_TRUE(mu.held());
    bool other_got_it = true;
    std::thread([&] { other_got_it = mu.try_lock(); }).join();
    EXPECT_FALSE(other_got_it);
    mu.unlock();
    std::thread([&] { other_got_it = mu.try_lock(); }).join();
    EXPECT_FALSE(other_got_it);  // still held once
    mu.unlock();
    EXPECT_FALSE(mu.held());
    std::thread([&] {
        other_got_it = mu.try_lock();
        if (other_got_it) mu.unlock();
    }).join();
    EXPECT_TRUE(other_got_it);
}

// Under contention (threads that sleep on the futex), no increment is lost.
TEST(CallLock, CountsUnderContention) {
    usnet::CallLock mu;
    long count = 0;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 50000; ++i) {
                std::lock_guard<usnet::CallLock> g(mu);
                std::lock_guard<usnet::CallLock> again(mu);
                ++count;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(count, 4 * 50000);
}

}  // namespace
