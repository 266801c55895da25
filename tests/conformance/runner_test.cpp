// The kernel runner itself: it must refuse to run a scenario in namespaces that still hold
// sockets, since an earlier socket changes what bind and the demux decide.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include "harness.hpp"

namespace {

TEST(KernelRunner, RefusesNamespacesThatHoldSockets) {
    if (geteuid() != 0) GTEST_SKIP() << "the kernel side needs root to create network namespaces";
    const conformance::Scenario s{"Runner", "OneBind", [](conformance::T& t) {
                                      int fd = t.socket(AF_INET, SOCK_DGRAM);
                                      t.bind(fd, conformance::addr("127.0.0.1", 7000));
                                  }};
    std::vector<std::string> clean, dirty;
    std::string why;
    ASSERT_TRUE(conformance::run_on_kernel(s, &clean, &why)) << why;
    ASSERT_EQ(clean.size(), 2u);
    EXPECT_EQ(clean[1], "bind(127.0.0.1:7000) = 0");
    // A socket left bound in the fresh namespace before the scenario starts.
    ASSERT_TRUE(conformance::run_on_kernel(s, &dirty, &why, [] {
        int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a = conformance::addr("127.0.0.1", 7000);
        (void)::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }));
    ASSERT_EQ(dirty.size(), 1u);
    EXPECT_EQ(dirty[0], "<refused: the namespaces already hold sockets: 1 udp>");
}

TEST(KernelRunner, CountsSocketsOfANamespace) {
    // This process's own namespace: a UDP socket it opens is seen.
    const std::string before = conformance::namespace_sockets("/proc/self/net");
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a = conformance::addr("127.0.0.1", 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_NE(conformance::namespace_sockets("/proc/self/net"), before);
    ::close(fd);
}

}  // namespace
