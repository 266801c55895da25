// main for the tests that use real kernel interfaces: leave the machine's network
// namespace before anything runs, or mark every such test skipped.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "netns.hpp"

namespace usnet::test {
std::string g_netns_unavailable;
}

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    if (geteuid() != 0) usnet::test::g_netns_unavailable = "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)";
    else if (unshare(CLONE_NEWNET) != 0)
        usnet::test::g_netns_unavailable = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    return RUN_ALL_TESTS();
}
