// The TAP device itself (link/tap.*) against the kernel, in private namespaces: a
// multi_queue device attached the way it was made and read in batches across its queues,
// frames longer than any buffer cut short and flagged, the kernel's checksum offload seen
// through the virtio header; and the C API's host on a TAP.
#include <linux/if_packet.h>
#include <net/if.h>

#include "interop.hpp"
#include "link/tap.hpp"
#include "usnet/usnet.h"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/udp.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

std::unique_ptr<Netns> tap_ns(const std::string& setup, std::string* why) {
    auto ns = Netns::create(why);
    if (ns && ::access("/dev/net/tun", R_OK | W_OK) != 0) {
        *why = "no /dev/net/tun";
        return nullptr;
    }
    if (ns && ns->sh(setup, why) != 0) {
        ADD_FAILURE() << setup << ": " << *why;
        return nullptr;
    }
    return ns;
}

#define NS_OR_SKIP(ns, setup)                  \
    std::string why_;                          \
    auto ns = tap_ns(setup, &why_);            \
    if (!ns) GTEST_SKIP() << why_;

// An IPv4/UDP frame of flow i (the ports differ, so the kernel spreads them over queues).
std::vector<uint8_t> flow_frame(uint16_t i, size_t payload) {
    return udp_frame(Mac{{2, 0x75, 0x74, 0, 0, 9}}, Mac{{2, 0, 0, 0, 0, 1}}, Ip4(10, 7, 0, 1), Ip4(10, 7, 0, 2),
                     uint16_t(20000 + i), 7000, std::string(payload, char(i)), 0);
}

TEST(TapDevice, AMultiQueueDeviceIsReadInBatchesAcrossItsQueues) {
    NS_OR_SKIP(ns, "ip tuntap add dev mq0 mode tap multi_queue && ip link set mq0 up");
    std::string err;
    TapOptions o;
    o.name = "mq0";
    o.vnet_hdr = false;
    {
        // One queue asked for: the device was made multi_queue, so it is attached that way.
        auto one = ns->in([&] { return link::TapDevice::open(o, &err); });
        ASSERT_TRUE(one) << err;
        EXPECT_EQ(one->queues(), 1u);
        EXPECT_FALSE(one->created());
    }
    o.queues = 4;
    auto dev = ns->in([&] { return link::TapDevice::open(o, &err); });
    ASSERT_TRUE(dev) << err;
    EXPECT_EQ(dev->queues(), 4u);
    for (int i = 0; i < 200 && ns->sh("ip -o link show mq0 | grep -q LOWER_UP") != 0; ++i) usleep(5000);
    RawLink in(*ns, "mq0");
    constexpr uint16_t kFrames = 150;
    for (uint16_t i = 0; i < kFrames; ++i) ASSERT_TRUE(in.send(flow_frame(i, 32))) << std::strerror(errno);
    buf::Pool pool;
    std::vector<uint16_t> seen;
    std::vector<uint32_t> batches;
    for (int tries = 0; tries < 100 && seen.size() < kFrames; ++tries) {
        const uint32_t n = dev->receive(pool, 1514, [&](buf::PacketPtr f, bool cut) {
            EXPECT_FALSE(cut);
            EXPECT_EQ(f->size(), 14u + 20 + 8 + 32);
            seen.push_back(wire::load16(f->data() + 14 + 20));
        });
        if (n) batches.push_back(n);
        else usleep(1000);
    }
    ASSERT_EQ(seen.size(), kFrames);
    std::sort(seen.begin(), seen.end());
    for (uint16_t i = 0; i < kFrames; ++i) EXPECT_EQ(seen[i], 20000 + i);
    EXPECT_LE(*std::max_element(batches.begin(), batches.end()), link::TapDevice::kBatch);
    EXPECT_EQ(dev->stats().rx_frames, kFrames);
    EXPECT_EQ(pool.in_use(), 0u);  // every buffer went back
}

TEST(TapDevice, AFrameLongerThanAnyBufferIsCutShortAndFlagged) {
    NS_OR_SKIP(ns, "ip tuntap add dev tap0 mode tap && ip link set tap0 up");
    std::string err;
    TapOptions o;
    o.name = "tap0";
    auto dev = ns->in([&] { return link::TapDevice::open(o, &err); });
    ASSERT_TRUE(dev) << err;
    ASSERT_EQ(ns->sh("ip link set tap0 mtu 9000"), 0);  // now the kernel may send what we never expected
    for (int i = 0; i < 200 && ns->sh("ip -o link show tap0 | grep -q LOWER_UP") != 0; ++i) usleep(5000);
    RawLink in(*ns, "tap0");
    ASSERT_TRUE(in.send(flow_frame(1, 8000)));
    ASSERT_TRUE(in.send(flow_frame(2, 100)));
    buf::Pool pool;
    std::vector<std::pair<bool, uint32_t>> got;
    for (int tries = 0; tries < 100 && got.size() < 2; ++tries)
        if (!dev->receive(pool, 1514, [&](buf::PacketPtr f, bool cut) { got.emplace_back(cut, f->size()); })) usleep(1000);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0].first);
    EXPECT_LT(got[0].second, 2048u);  // only what a small buffer holds was read
    EXPECT_FALSE(got[1].first);
    EXPECT_EQ(got[1].second, 14u + 20 + 8 + 100);
    EXPECT_EQ(dev->stats().rx_too_long, 1u);
}

// With the virtio header the kernel leaves its UDP checksum unfinished (CHECKSUM_PARTIAL)
// and says so; finishing it gives the right checksum.
TEST(TapDevice, TheVirtioHeaderCarriesTheKernelsChecksumOffload) {
    NS_OR_SKIP(ns, "ip tuntap add dev tap0 mode tap && ip addr add 10.7.0.1/24 dev tap0 && ip link set tap0 up && "
                   "ip neigh add 10.7.0.2 lladdr 02:75:74:00:00:09 dev tap0");
    std::string err;
    TapOptions o;
    o.name = "tap0";
    auto dev = ns->in([&] { return link::TapDevice::open(o, &err); });
    ASSERT_TRUE(dev) << err;
    ASSERT_TRUE(dev->vnet_hdr());
    for (int i = 0; i < 200 && ns->sh("ip -o link show tap0 | grep -q LOWER_UP") != 0; ++i) usleep(5000);
    const int k = kernel_socket(*ns, SOCK_DGRAM, 0);
    sockaddr_in to = addr4("10.7.0.2", 7000);
    ASSERT_EQ(::sendto(k, "offloaded", 9, 0, sap(to), sizeof to), 9);
    ::close(k);
    buf::Pool pool;
    bool done = false;
    for (int tries = 0; tries < 100 && !done; ++tries)
        if (!dev->receive(pool, 1514, [&](buf::PacketPtr f, bool) {
                EXPECT_TRUE(f->meta.csum_ok);
                EXPECT_TRUE(f->meta.csum_partial);
                uint8_t* udp = f->data() + 14 + 20;
                const uint32_t acc = wire::pseudo_header_sum(Ip4(10, 7, 0, 1), Ip4(10, 7, 0, 2), 17, 17);
                EXPECT_NE(wire::checksum_fold(wire::checksum_add(acc, udp, 17)), 0);  // unfinished
                wire::complete_partial_checksum(f->data(), f->size(), 14 + 20, 6);
                EXPECT_EQ(wire::checksum_fold(wire::checksum_add(acc, udp, 17)), 0);  // now right
                done = true;
            }))
            usleep(1000);
    EXPECT_TRUE(done);
}

// The C API: a host on a TAP, its calls blocking for frames from it.
TEST(CApi, AHostOnATapTalksToLinux) {
    NS_OR_SKIP(ns, "ip tuntap add dev tap0 mode tap && ip addr add 10.7.0.1/24 dev tap0 && ip link set tap0 up && "
                   "ip link add veth9 type veth peer name veth10");
    char err[256] = "";
    usnet_world* bad = ns->in([&] { return usnet_world_new_tap("veth9", "10.7.0.2/24", nullptr, err, sizeof err); });
    EXPECT_EQ(bad, nullptr);
    EXPECT_NE(std::string(err).find("veth9 exists but is not a TAP device"), std::string::npos) << err;
    usnet_world* w = ns->in([&] { return usnet_world_new_tap("tap0", "10.7.0.2/24", nullptr, err, sizeof err); });
    ASSERT_NE(w, nullptr) << err;
    usnet_use(usnet_world_host(w));
    const int s = usnet_socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in me = addr4("10.7.0.2", 7000);
    ASSERT_EQ(usnet_bind(s, sap(me), sizeof me), 0);
    timeval tv{3, 0};
    ASSERT_EQ(usnet_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    usnet_world_run(w, 50);  // answers the kernel's ARP meanwhile, if it asks
    const int k = kernel_socket(*ns, SOCK_DGRAM, 0, "10.7.0.1", 7001);
    sockaddr_in to = addr4("10.7.0.2", 7000);
    ASSERT_EQ(::sendto(k, "from linux", 10, 0, sap(to), sizeof to), 10);
    char buf[32];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ASSERT_EQ(usnet_recvfrom(s, buf, sizeof buf, 0, sap(from), &fl), 10) << usnet_last_error_reason();
    EXPECT_EQ(std::string(buf, 10), "from linux");
    ASSERT_EQ(usnet_sendto(s, "from usnet", 10, 0, sap(from), fl), 10);
    // The reply waits for ARP; the kernel's answer comes in while the world runs.
    usnet_world_run(w, 100);
    ASSERT_EQ(::recv(k, buf, sizeof buf, 0), 10) << std::strerror(errno);
    EXPECT_EQ(std::string(buf, 10), "from usnet");
    ::close(k);
    usnet_close(s);
    usnet_world_free(w);
}

}  // namespace
