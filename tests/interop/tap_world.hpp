// A TAP whose kernel side is Linux 10.7.0.1/24 (tap0, in a private namespace) with usnet
// 10.7.0.2/24 on it, driven in real time, capturing to a pcap; and small calls on both.
#pragma once
#include <cstring>

#include "core/stack_impl.hpp"
#include "interop.hpp"

namespace usnet::test {

constexpr const char* kLinux = "10.7.0.1";
constexpr const char* kUsnet = "10.7.0.2";

struct TapWorld : Pumped {
    bool skippable = false;  // make() failed for want of privileges or of a TAP driver
    std::unique_ptr<Netns> ns;
    TempDir dir;
    std::string pcap = dir.file("tap.pcap");
    // The namespace with tap0 (Linux 10.7.0.1/24, up), and usnet 10.7.0.2/24 on it.
    // bridged: tap0 is a port of br0 (multicast snooping on), which holds Linux's address.
    std::string make(TapOptions o = {}, bool bridged = false) {
        std::string why;
        ns = Netns::create(&why);
        if (!ns) return why;
        if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
            skippable = true;
            return "no /dev/net/tun here";
        }
        const std::string setup =
            bridged ? "ip link add br0 type bridge mcast_snooping 1 && ip tuntap add dev tap0 mode tap && "
                      "ip link set tap0 master br0 && ip addr add 10.7.0.1/24 dev br0 && ip link set br0 up && "
                      "ip link set tap0 up"
                    : "ip tuntap add dev tap0 mode tap && ip addr add 10.7.0.1/24 dev tap0 && ip link set tap0 up";
        if (ns->sh(setup, &why) != 0) return "cannot make tap0: " + why;
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
    std::string kernel_mac() {
        std::string out;
        ns->sh("ip -o link show tap0", &out);
        const auto at = out.find("link/ether ");
        return at == std::string::npos ? "" : out.substr(at + 11, 17);
    }
    Mac kernel_mac_bytes() {
        const std::string s = kernel_mac();
        Mac m;
        for (size_t i = 0; i < 6 && s.size() >= 17; ++i) m.b[i] = uint8_t(std::stoul(s.substr(i * 3, 2), nullptr, 16));
        return m;
    }
};

#define MAKE_OR_SKIP(t, ...)                     \
    TapWorld t;                                  \
    if (const std::string why = t.make(__VA_ARGS__); !why.empty()) { \
        if (!g_netns_unavailable.empty() || t.skippable) GTEST_SKIP() << why; \
        FAIL() << why;                           \
    }

}  // namespace usnet::test
