// usnet on a TAP device against the Linux kernel at its other end, in a private network
// namespace: ping, UDP both ways, fragments both ways, ICMP port unreachable as
// ECONNREFUSED both ways, ARP both ways (and Linux's probes of a stale entry), broadcast,
// multicast with IGMP, a corrupt checksum; and every exchange's capture reads cleanly in
// tshark. Linux here is 10.7.0.1 (tap0's kernel side), usnet 10.7.0.2.
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <numeric>

#include "core/stack_impl.hpp"
#include "interop.hpp"
#include "link/tap.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

constexpr const char* kLinux = "10.7.0.1";
constexpr const char* kUsnet = "10.7.0.2";

struct TapWorld : Pumped {
    std::unique_ptr<Netns> ns;
    TempDir dir;
    std::string pcap = dir.file("tap.pcap");
    // The namespace with tap0 (Linux 10.7.0.1/24, up), and usnet 10.7.0.2/24 on it.
    std::string make(TapOptions o = {}) {
        std::string why;
        ns = Netns::create(&why);
        if (!ns) return why;
        if (ns->sh("ip tuntap add dev tap0 mode tap && ip addr add 10.7.0.1/24 dev tap0 && ip link set tap0 up", &why) != 0)
            return "cannot make tap0: " + why;
        sim::WorldSpec spec;
        o.name = "tap0";
        o.pcap = pcap;
        spec.tap = o;
        spec.addrs = {{Ip4(10, 7, 0, 2), 24}};
        std::string err;
        w = ns->in([&] { return sim::build_world(spec, config_from_host(), &err); });
        if (!w.net) return "attach: " + err;
        start();
        // Until a reader attaches a TAP has no carrier and the kernel sends nothing.
        for (int i = 0; i < 200; ++i) {
            std::string out;
            ns->sh("ip -o link show tap0", &out);
            if (out.find("LOWER_UP") != std::string::npos) return "";
            usleep(10000);
        }
        return "tap0 never came up";
    }
    int ksock(int type, int proto, const char* ip = nullptr, uint16_t port = 0) {
        return kernel_socket(*ns, type, proto, ip, port);
    }
    int usock(int type, int proto, Ip4 ip = Ip4(), uint16_t port = 0, bool bind = false) {
        return call([&](Stack& s) {
            const int fd = s.socket(AF_INET, type, proto);
            timeval tv{3, 0};
            s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (bind) {
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_port = htons(port);
                a.sin_addr.s_addr = ip.net();
                if (s.bind(fd, sap(a), sizeof a) != 0) return -1;
            }
            return fd;
        });
    }
    ssize_t usend(int fd, const void* p, size_t n, const char* ip, uint16_t port) {
        sockaddr_in a = addr4(ip, port);
        return call([&](Stack& s) { return s.sendto(fd, p, n, 0, sap(a), sizeof a); });
    }
    // Blocks (under the lock, which a blocking usnet call lets go of while it waits).
    ssize_t urecv(int fd, void* p, size_t n, sockaddr_in* from = nullptr) {
        socklen_t len = sizeof(sockaddr_in);
        return call([&](Stack& s) { return s.recvfrom(fd, p, n, 0, from ? sap(*from) : nullptr, from ? &len : nullptr); });
    }
    const Counters counters() {
        return call([](Stack& s) { return s.counters(); });
    }
    std::string kernel_mac() {
        std::string out;
        ns->sh("ip -o link show tap0", &out);
        const auto at = out.find("link/ether ");
        return at == std::string::npos ? "" : out.substr(at + 11, 17);
    }
    Mac usnet_mac() {
        return call([](Stack& s) { return s.interfaces().back().mac; });
    }
};

#define MAKE_OR_SKIP(t, ...)                     \
    TapWorld t;                                  \
    if (const std::string why = t.make(__VA_ARGS__); !why.empty()) { \
        if (!g_netns_unavailable.empty()) GTEST_SKIP() << why; \
        FAIL() << why;                           \
    }

[[maybe_unused]] std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7 + (i >> 8));
    return v;
}

std::string neigh(Netns& ns, const char* ip) {
    std::string out;
    ns.sh(std::string("ip neigh show ") + ip + " dev tap0", &out);
    return out;
}

TEST(TapInterop, LinuxPingsUsnetAndLearnsItsAddress) {
    MAKE_OR_SKIP(t);
    const int k = t.ksock(SOCK_DGRAM, IPPROTO_ICMP);
    ASSERT_GE(k, 0);
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        icmphdr h{};
        h.type = ICMP_ECHO;
        h.un.echo.sequence = htons(seq);
        uint8_t msg[64];
        std::memcpy(msg, &h, sizeof h);
        std::memset(msg + sizeof h, 0x5a, sizeof msg - sizeof h);
        sockaddr_in to = addr4(kUsnet, 0);
        ASSERT_EQ(::sendto(k, msg, sizeof msg, 0, sap(to), sizeof to), ssize_t(sizeof msg));
        uint8_t reply[128];
        const ssize_t n = ::recv(k, reply, sizeof reply, 0);
        ASSERT_EQ(n, ssize_t(sizeof msg)) << "no echo reply from usnet: " << std::strerror(errno);
        EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
        EXPECT_EQ(wire::load16(reply + 6), seq);
        EXPECT_EQ(std::memcmp(reply + 8, msg + 8, sizeof msg - 8), 0);
    }
    ::close(k);
    // Linux resolved usnet by ARP: its entry names usnet's MAC.
    EXPECT_NE(neigh(*t.ns, kUsnet).find(t.usnet_mac().str()), std::string::npos) << neigh(*t.ns, kUsnet);
    EXPECT_GE(t.counters().icmp.OutEchoReps, 3u);
    EXPECT_GE(t.counters().link.ArpRepliesSent, 1u);
    EXPECT_TRUE(capture_is_clean(t.pcap, 8));
}

TEST(TapInterop, UsnetPingsLinuxAndLearnsItsAddress) {
    MAKE_OR_SKIP(t);
    const int u = t.usock(SOCK_DGRAM, IPPROTO_ICMP);
    ASSERT_GE(u, 0);
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        uint8_t msg[56] = {ICMP_ECHO, 0, 0, 0, 0, 0, 0, uint8_t(seq)};
        std::memset(msg + 8, 0xa5, sizeof msg - 8);
        ASSERT_EQ(t.usend(u, msg, sizeof msg, kLinux, 0), ssize_t(sizeof msg));
        uint8_t reply[128];
        sockaddr_in from{};
        ASSERT_EQ(t.urecv(u, reply, sizeof reply, &from), ssize_t(sizeof msg)) << last_error_text();
        EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
        EXPECT_EQ(wire::load16(reply + 6), seq);
        EXPECT_EQ(from.sin_addr.s_addr, addr4(kLinux, 0).sin_addr.s_addr);
    }
    // usnet resolved Linux by ARP: its neighbour entry holds tap0's MAC.
    const std::string kmac = t.kernel_mac();
    const std::string learned = t.call([](Stack& s) {
        for (const auto& n : s.impl().iface(s.ifindex_of("eth0"))->neigh)
            if (n.ip == Ip4(10, 7, 0, 1) && n.state == link::NeighState::Reachable) return n.mac.str();
        return std::string("none");
    });
    EXPECT_EQ(learned, kmac);
    EXPECT_GE(t.counters().link.ArpRequestsSent, 1u);
    EXPECT_TRUE(capture_is_clean(t.pcap, 8));
}

}  // namespace
