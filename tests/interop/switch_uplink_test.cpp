// `usnet switch` uplinks against the Linux kernel, in private namespaces. VXLAN: two usnet
// switches (namespaces A and B) and a Linux vxlan device (namespace L, which also holds the
// underlay bridge 10.99.0.0/24) share one Ethernet segment 10.0.2.0/24 on VNI 42; a usnet
// host on each switch and Linux exchange pings, datagrams both ways, fragments, ICMP port
// unreachable, broadcasts and multicasts, and a corrupt checksum is counted. TAP: a switch
// whose uplink is a TAP lets its host reach the kernel at the TAP's other end.
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip_icmp.h>

#include <mutex>

#include "core/stack_impl.hpp"
#include "interop.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

// A usnet switch serving from a thread inside ns.
struct SwitchThread {
    std::atomic<bool> stop{false};
    std::thread th;
    std::mutex log_mu;
    std::string log;
    std::string err;
    bool started = false;
    bool start(Netns& ns, sim::SwitchOptions o) {
        std::atomic<int> state{0};
        th = std::thread([&, o] {
            ns.enter();
            const bool ok = sim::run_switch(o, stop, &err, [&](const std::string& line) {
                std::lock_guard<std::mutex> g(log_mu);
                log += line + "\n";
                if (line.find("listening on") != std::string::npos) state = 1;
            });
            if (!ok) state = 2;
        });
        while (state == 0) usleep(1000);
        return started = state == 1;
    }
    std::string text() {
        std::lock_guard<std::mutex> g(log_mu);
        return log;
    }
    ~SwitchThread() {
        stop = true;
        if (th.joinable()) th.join();
    }
};

// A usnet host attached to a switch, driven in real time.
struct SwitchHost : Pumped {
    std::string attach(const std::string& sock, Ip4 addr, uint32_t mtu) {
        sim::WorldSpec spec;
        spec.switch_path = sock;
        spec.addrs = {{addr, 24}};
        spec.gateway = Ip4();
        spec.mtu = mtu;
        std::string err;
        w = sim::build_world(spec, config_from_host(), &err);
        if (!w.net) return err;
        start();
        return "";
    }
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13 + (i >> 9));
    return v;
}

constexpr const char* kLinux = "10.0.2.50";
constexpr const char* kHostA = "10.0.2.16";
constexpr const char* kHostB = "10.0.2.17";

struct VxlanLab {
    std::unique_ptr<Netns> l, a, b;
    TempDir dir;
    SwitchThread swa, swb;
    SwitchHost ha, hb;
    bool skippable = false;
    std::string make() {
        std::string why;
        if (!(l = Netns::create(&why)) || !(a = Netns::create(&why)) || !(b = Netns::create(&why))) {
            skippable = true;
            return why;
        }
        if (::system("command -v ethtool >/dev/null 2>&1") != 0) {
            skippable = true;
            return "ethtool is not installed (scripts/install-deps.sh)";
        }
        // The underlay: a bridge in L with a veth to A and one to B.
        // (`ip` names a namespace by a path: this process's descriptor for it.)
        const std::string fds = "/proc/" + std::to_string(::getpid()) + "/fd/";
        const std::string la = fds + std::to_string(a->fd()), lb = fds + std::to_string(b->fd());
        if (l->sh("ip link add br0 type bridge && ip addr add 10.99.0.1/24 dev br0 && ip link set br0 up && "
                  "ip link add ua type veth peer name u0 netns " + la + " && ip link set ua master br0 && ip link set ua up && "
                  "ip link add ub type veth peer name u0 netns " + lb + " && ip link set ub master br0 && ip link set ub up", &why) != 0)
            return "underlay: " + why;
        if (a->sh("ip addr add 10.99.0.2/24 dev u0 && ip link set u0 up", &why) != 0 ||
            b->sh("ip addr add 10.99.0.3/24 dev u0 && ip link set u0 up", &why) != 0)
            return "underlay: " + why;
        // Linux's vxlan device, flooding to both switches; it computes inner checksums itself
        // (over a veth a NIC would never finish them).
        if (l->sh("ip link add vx0 type vxlan id 42 local 10.99.0.1 dev br0 dstport 4789 && "
                  "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.2 && "
                  "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.3 && "
                  "ethtool -K vx0 tx off >/dev/null && ip addr add 10.0.2.50/24 dev vx0 && ip link set vx0 up", &why) != 0)
            return "vxlan device: " + why;
        sim::SwitchOptions oa;
        oa.socket_path = dir.file("a.sock");
        oa.gateway = Ip4();
        oa.pcap = dir.file("a.pcap");
        oa.uplinks = {"vxlan:10.99.0.1,vni=42", "vxlan:10.99.0.3,vni=42"};
        sim::SwitchOptions ob = oa;
        ob.socket_path = dir.file("b.sock");
        ob.pcap = dir.file("b.pcap");
        ob.uplinks = {"vxlan:10.99.0.1,vni=42", "vxlan:10.99.0.2,vni=42"};
        if (!swa.start(*a, oa)) return "switch A: " + swa.err;
        if (!swb.start(*b, ob)) return "switch B: " + swb.err;
        if (const std::string e = ha.attach(oa.socket_path, Ip4(10, 0, 2, 16), 1450); !e.empty()) return "host A: " + e;
        if (const std::string e = hb.attach(ob.socket_path, Ip4(10, 0, 2, 17), 1450); !e.empty()) return "host B: " + e;
        return "";
    }
};

#define LAB_OR_SKIP(lab)                                                                  \
    VxlanLab lab;                                                                         \
    if (const std::string why = lab.make(); !why.empty()) {                               \
        if (!g_netns_unavailable.empty() || lab.skippable) GTEST_SKIP() << why;           \
        FAIL() << why;                                                                    \
    }

// Pings and datagrams between all three: two usnet hosts on two switches and Linux.
TEST(VxlanUplink, TwoSwitchesAndALinuxVxlanDeviceShareOneSegment) {
    LAB_OR_SKIP(lab);
    const int sa = lab.ha.usock(SOCK_DGRAM, 0, Ip4(), 7000, true), sb = lab.hb.usock(SOCK_DGRAM, 0, Ip4(), 7000, true);
    const int kl = kernel_socket(*lab.l, SOCK_DGRAM, 0, kLinux, 7000);
    ASSERT_GE(kl, 0);
    char buf[64];
    // A -> B, B -> A across the two switches.
    ASSERT_EQ(lab.ha.usend(sa, "a-to-b", 6, kHostB, 7000), 6);
    ASSERT_EQ(lab.hb.urecv(sb, buf, sizeof buf), 6) << last_error_text();
    ASSERT_EQ(lab.hb.usend(sb, "b-to-a", 6, kHostA, 7000), 6);
    ASSERT_EQ(lab.ha.urecv(sa, buf, sizeof buf), 6) << last_error_text();
    // Each usnet host -> Linux, and Linux -> each.
    for (SwitchHost* h : {&lab.ha, &lab.hb}) {
        const int s = h == &lab.ha ? sa : sb;
        ASSERT_EQ(h->usend(s, "to-linux", 8, kLinux, 7000), 8);
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ASSERT_EQ(::recvfrom(kl, buf, sizeof buf, 0, sap(from), &fl), 8) << std::strerror(errno);
        ASSERT_EQ(::sendto(kl, "to-usnet", 8, 0, sap(from), fl), 8);
        ASSERT_EQ(h->urecv(s, buf, sizeof buf), 8) << last_error_text();
        EXPECT_EQ(std::string(buf, 8), "to-usnet");
    }
    // Linux pings host A; host B pings Linux (a usnet ping socket).
    const int kp = kernel_socket(*lab.l, SOCK_DGRAM, IPPROTO_ICMP);
    uint8_t echo[16] = {ICMP_ECHO, 0, 0, 0, 0, 0, 0, 1};
    sockaddr_in to = addr4(kHostA, 0);
    ASSERT_EQ(::sendto(kp, echo, sizeof echo, 0, sap(to), sizeof to), ssize_t(sizeof echo));
    uint8_t reply[64];
    ASSERT_EQ(::recv(kp, reply, sizeof reply, 0), ssize_t(sizeof echo)) << std::strerror(errno);
    EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
    const int up = lab.hb.usock(SOCK_DGRAM, IPPROTO_ICMP);
    ASSERT_EQ(lab.hb.usend(up, echo, sizeof echo, kLinux, 0), ssize_t(sizeof echo));
    ASSERT_EQ(lab.hb.urecv(up, reply, sizeof reply), ssize_t(sizeof echo)) << last_error_text();
    EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
    ::close(kl);
    ::close(kp);
    // Linux learned each usnet host behind the switch that carries it (vxlan fdb).
    std::string fdb;
    lab.l->sh("bridge fdb show dev vx0", &fdb);
    const Mac ma = lab.ha.usnet_mac();
    const Mac mb = lab.hb.usnet_mac();
    EXPECT_NE(ma, mb);
    // ARP both ways: Linux holds host A's MAC, host A holds vx0's.
    std::string neigh, vx;
    lab.l->sh("ip neigh show 10.0.2.16 dev vx0", &neigh);
    EXPECT_NE(neigh.find(ma.str()), std::string::npos) << neigh;
    lab.l->sh("ip -o link show vx0", &vx);
    const std::string learned = lab.ha.call([](Stack& s) {
        for (const auto& n : s.impl().iface(s.ifindex_of("eth0"))->neigh)
            if (n.ip == Ip4(10, 0, 2, 50)) return n.mac.str();
        return std::string("none");
    });
    EXPECT_NE(vx.find("link/ether " + learned), std::string::npos) << vx << " / " << learned;
    EXPECT_NE(fdb.find(ma.str() + " dst 10.99.0.2"), std::string::npos) << fdb;
    EXPECT_NE(fdb.find(mb.str() + " dst 10.99.0.3"), std::string::npos) << fdb;
    // Each switch's capture holds its side of the exchange, cleanly.
    lab.swa.stop = lab.swb.stop = true;
    lab.swa.th.join();
    lab.swb.th.join();
    EXPECT_TRUE(capture_is_clean(lab.dir.file("a.pcap"), 10));
    EXPECT_TRUE(capture_is_clean(lab.dir.file("b.pcap"), 10));
    EXPECT_NE(lab.swa.text().find("uplink vxlan:10.99.0.1:4789+10.99.0.3:4789,vni=42"), std::string::npos) << lab.swa.text();
}

// The other kinds of traffic over the VXLAN segment, between host A and Linux.
TEST(VxlanUplink, FragmentsRefusalsBroadcastMulticastAndABadChecksum) {
    LAB_OR_SKIP(lab);
    SwitchHost& h = lab.ha;
    // Fragments both ways (the segment's MTU is 1450: the underlay's less 50).
    const int us = h.usock(SOCK_DGRAM, 0, Ip4(), 7400, true);
    const int ks = kernel_socket(*lab.l, SOCK_DGRAM, 0, kLinux, 7400);
    std::vector<uint8_t> got(70000);
    for (size_t size : {4000ul, 65507ul}) {
        const auto msg = pattern(size, 9);
        ASSERT_EQ(h.usend(us, msg.data(), size, kLinux, 7400), ssize_t(size)) << last_error_text();
        ASSERT_EQ(::recv(ks, got.data(), got.size(), 0), ssize_t(size)) << std::strerror(errno);
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
        sockaddr_in to = addr4(kHostA, 7400);
        ASSERT_EQ(::sendto(ks, msg.data(), size, 0, sap(to), sizeof to), ssize_t(size));
        ASSERT_EQ(h.urecv(us, got.data(), got.size()), ssize_t(size)) << last_error_text();
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
    }
    EXPECT_EQ(h.counters().ip.ReasmOKs, 2u);
    // ICMP port unreachable -> ECONNREFUSED, both ways.
    expect_refused_both_ways(h, *lab.l, kLinux, kHostA);
    char buf[64];
    // Broadcast both ways (each sender bound to its address).
    const int ub = h.usock(SOCK_DGRAM, 0, Ip4(), 7101, true);
    const int kb = kernel_socket(*lab.l, SOCK_DGRAM, 0, "0.0.0.0", 7100);
    const int one = 1;
    ASSERT_EQ(h.call([&](Stack& s) { return s.setsockopt(ub, SOL_SOCKET, SO_BROADCAST, &one, sizeof one); }), 0);
    ASSERT_EQ(h.usend(ub, "bcast-u", 7, "10.0.2.255", 7100), 7) << last_error_text();
    ASSERT_EQ(::recv(kb, buf, sizeof buf, 0), 7) << std::strerror(errno);
    const int kbs = kernel_socket(*lab.l, SOCK_DGRAM, 0, kLinux, 0);
    ASSERT_EQ(::setsockopt(kbs, SOL_SOCKET, SO_BROADCAST, &one, sizeof one), 0);
    sockaddr_in bto = addr4("10.0.2.255", 7101);
    ASSERT_EQ(::sendto(kbs, "bcast-k", 7, 0, sap(bto), sizeof bto), 7);
    ASSERT_EQ(h.urecv(ub, buf, sizeof buf), 7) << last_error_text();
    EXPECT_EQ(std::string(buf, 7), "bcast-k");
    // Multicast both ways.
    const int um = h.usock(SOCK_DGRAM, 0, Ip4(), 7200, true);
    ip_mreq m{};
    inet_pton(AF_INET, "239.1.2.3", &m.imr_multiaddr);
    inet_pton(AF_INET, kHostA, &m.imr_interface);
    ASSERT_EQ(h.call([&](Stack& s) { return s.setsockopt(um, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m); }), 0);
    ASSERT_EQ(h.call([&](Stack& s) { return s.setsockopt(um, IPPROTO_IP, IP_MULTICAST_IF, &m.imr_interface, sizeof m.imr_interface); }), 0);
    const int km = kernel_socket(*lab.l, SOCK_DGRAM, 0, "0.0.0.0", 7201);
    ip_mreq km_req{};
    inet_pton(AF_INET, "239.1.2.4", &km_req.imr_multiaddr);
    inet_pton(AF_INET, kLinux, &km_req.imr_interface);
    ASSERT_EQ(::setsockopt(km, IPPROTO_IP, IP_ADD_MEMBERSHIP, &km_req, sizeof km_req), 0);
    ASSERT_EQ(::setsockopt(kbs, IPPROTO_IP, IP_MULTICAST_IF, &km_req.imr_interface, sizeof km_req.imr_interface), 0);
    sockaddr_in group = addr4("239.1.2.3", 7200);
    ASSERT_EQ(::sendto(kbs, "mcast-k", 7, 0, sap(group), sizeof group), 7);
    ASSERT_EQ(h.urecv(um, buf, sizeof buf), 7) << last_error_text();
    EXPECT_EQ(std::string(buf, 7), "mcast-k");
    ASSERT_EQ(h.usend(um, "mcast-u", 7, "239.1.2.4", 7201), 7) << last_error_text();
    ASSERT_EQ(::recv(km, buf, sizeof buf, 0), 7) << std::strerror(errno);
    EXPECT_EQ(std::string(buf, 7), "mcast-u");
    // A frame with a corrupt UDP checksum, sent by Linux into the vxlan device: host A drops
    // and counts it.
    auto f = udp_frame(h.usnet_mac(), Mac{{2, 0, 0, 0, 0, 0x50}}, Ip4(10, 0, 2, 50), Ip4(10, 0, 2, 16), 5555, 7400,
                       "evil", 0);
    wire::store16(f.data() + 14 + 26, uint16_t(udp_checksum_of(f) + 1));
    ASSERT_TRUE(RawLink(*lab.l, "vx0").send(f)) << std::strerror(errno);
    for (int i = 0; i < 200 && h.counters().udp.InCsumErrors == 0; ++i) usleep(5000);
    EXPECT_EQ(h.counters().udp.InCsumErrors, 1u);
    EXPECT_EQ(h.counters().drops[size_t(DropReason::BadChecksum)], 1u);
    for (int fd : {ks, kb, kbs, km}) ::close(fd);
    lab.swa.stop = true;
    lab.swa.th.join();
    if (have_tshark()) {
        const CaptureVerdict v = tshark_verdict(lab.dir.file("a.pcap"));
        ASSERT_TRUE(v.readable) << v.report;
        EXPECT_GE(v.frames, 100);
        EXPECT_EQ(v.problems.size(), 1u) << v.report;  // the corrupt frame, and only it
    }
}

// A host whose MTU exceeds what the VXLAN segment carries is refused, with the figure to use.
TEST(VxlanUplink, HostsAboveTheSegmentsMtuAreRefused) {
    LAB_OR_SKIP(lab);
    SwitchHost big;
    const std::string err = big.attach(lab.dir.file("a.sock"), Ip4(10, 0, 2, 30), 1500);
    EXPECT_NE(err.find("mtu 1500 is above the 1450 the switch carries (use --mtu 1450)"), std::string::npos) << err;
}

// A switch whose uplink is a TAP: its host reaches the kernel at the TAP's other end.
TEST(TapUplink, ASwitchHostReachesLinuxThroughATap) {
    std::string why;
    auto ns = Netns::create(&why);
    if (!ns || ::access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << (ns ? "no /dev/net/tun" : why);
    ASSERT_EQ(ns->sh("ip tuntap add dev tap0 mode tap && ip addr add 10.0.2.50/24 dev tap0 && ip link set tap0 up", &why), 0)
        << why;
    TempDir dir;
    SwitchThread sw;
    sim::SwitchOptions o;
    o.socket_path = dir.file("s.sock");
    o.pcap = dir.file("s.pcap");
    o.uplinks = {"tap:tap0"};
    ASSERT_TRUE(sw.start(*ns, o)) << sw.err;
    SwitchHost h;
    ASSERT_EQ(h.attach(o.socket_path, Ip4(10, 0, 2, 16), 1500), "");
    const int u = h.usock(SOCK_DGRAM, 0, Ip4(), 7000, true);
    const int k = kernel_socket(*ns, SOCK_DGRAM, 0, kLinux, 7000);
    char buf[32];
    ASSERT_EQ(h.usend(u, "hello", 5, kLinux, 7000), 5) << last_error_text();
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ASSERT_EQ(::recvfrom(k, buf, sizeof buf, 0, sap(from), &fl), 5) << std::strerror(errno);
    ASSERT_EQ(::sendto(k, "back", 4, 0, sap(from), fl), 4);
    ASSERT_EQ(h.urecv(u, buf, sizeof buf), 4) << last_error_text();
    const int kp = kernel_socket(*ns, SOCK_DGRAM, IPPROTO_ICMP);
    uint8_t echo[16] = {ICMP_ECHO, 0, 0, 0, 0, 0, 0, 1};
    sockaddr_in to = addr4(kHostA, 0);
    ASSERT_EQ(::sendto(kp, echo, sizeof echo, 0, sap(to), sizeof to), ssize_t(sizeof echo));
    ASSERT_EQ(::recv(kp, buf, sizeof buf, 0), ssize_t(sizeof echo)) << std::strerror(errno);
    ::close(k);
    ::close(kp);
    sw.stop = true;
    sw.th.join();
    EXPECT_TRUE(capture_is_clean(o.pcap, 6));
    EXPECT_NE(sw.text().find("uplink tap:tap0:"), std::string::npos) << sw.text();
}

}  // namespace
