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
#include "tap_world.hpp"
#include "link/tap.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

using namespace usnet;
using namespace usnet::test;

namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
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

// A Linux client and a usnet server, then a usnet client and a Linux server: without the
// virtio header, with it (the kernel's checksums offloaded), and with usnet's offloaded too.
class TapUdp : public testing::TestWithParam<int> {};

TEST_P(TapUdp, ClientsAndServersBothWays) {
    TapOptions o;
    o.vnet_hdr = GetParam() > 0;
    o.tx_checksum_offload = GetParam() > 1;
    MAKE_OR_SKIP(t, o);
    const int srv = t.usock(SOCK_DGRAM, 0, Ip4(10, 7, 0, 2), 7000, true);
    const int cli = t.ksock(SOCK_DGRAM, 0);
    ASSERT_GE(srv, 0);
    for (size_t size : {1ul, 64ul, 1472ul}) {
        const auto msg = pattern(size, uint8_t(size));
        sockaddr_in to = addr4(kUsnet, 7000);
        ASSERT_EQ(::sendto(cli, msg.data(), size, 0, sap(to), sizeof to), ssize_t(size));
        std::vector<uint8_t> got(2000);
        sockaddr_in from{};
        ASSERT_EQ(t.urecv(srv, got.data(), got.size(), &from), ssize_t(size)) << last_error_text();
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
        EXPECT_EQ(from.sin_addr.s_addr, addr4(kLinux, 0).sin_addr.s_addr);
        // The echo goes back to where it came from.
        ASSERT_EQ(t.call([&](Stack& s) { return s.sendto(srv, got.data(), size, 0, sap(from), sizeof from); }), ssize_t(size));
        ASSERT_EQ(::recv(cli, got.data(), got.size(), 0), ssize_t(size)) << std::strerror(errno);
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
    }
    const int ksrv = t.ksock(SOCK_DGRAM, 0, kLinux, 7001);
    const int ucli = t.usock(SOCK_DGRAM, 0);
    ASSERT_GE(ksrv, 0);
    for (size_t size : {1ul, 64ul, 1472ul}) {
        const auto msg = pattern(size, uint8_t(size + 1));
        ASSERT_EQ(t.usend(ucli, msg.data(), size, kLinux, 7001), ssize_t(size));
        std::vector<uint8_t> got(2000);
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ASSERT_EQ(::recvfrom(ksrv, got.data(), got.size(), 0, sap(from), &fl), ssize_t(size)) << std::strerror(errno);
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
        ASSERT_EQ(::sendto(ksrv, got.data(), size, 0, sap(from), fl), ssize_t(size));
        ASSERT_EQ(t.urecv(ucli, got.data(), got.size()), ssize_t(size)) << last_error_text();
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin()));
    }
    // No datagram was refused on either side.
    EXPECT_EQ(t.counters().udp.InErrors, 0u);
    EXPECT_EQ(t.counters().udp.InCsumErrors, 0u);
    EXPECT_EQ(t.counters().udp.InDatagrams, 6u);
    ::close(cli);
    ::close(ksrv);
    EXPECT_TRUE(capture_is_clean(t.pcap, 14));
}

INSTANTIATE_TEST_SUITE_P(VnetHdr, TapUdp, testing::Values(0, 1, 2), [](const testing::TestParamInfo<int>& i) {
    return std::string(i.param == 0 ? "plain" : i.param == 1 ? "rx_offload" : "rx_tx_offload");
});

// Datagrams larger than the MTU leave in fragments and are reassembled, both ways, up to
// UDP's largest.
TEST(TapInterop, FragmentsBothWays) {
    MAKE_OR_SKIP(t);
    const int ksrv = t.ksock(SOCK_DGRAM, 0, kLinux, 7400);
    const int usrv = t.usock(SOCK_DGRAM, 0, Ip4(10, 7, 0, 2), 7401, true);
    const int kcli = t.ksock(SOCK_DGRAM, 0);
    ASSERT_GE(ksrv, 0);
    ASSERT_GE(usrv, 0);
    std::vector<uint8_t> got(70000);
    for (size_t size : {3000ul, 8000ul, 65507ul}) {
        const auto msg = pattern(size, 3);
        ASSERT_EQ(t.usend(usrv, msg.data(), size, kLinux, 7400), ssize_t(size)) << last_error_text();
        ASSERT_EQ(::recv(ksrv, got.data(), got.size(), 0), ssize_t(size)) << std::strerror(errno);
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin())) << size;
        sockaddr_in to = addr4(kUsnet, 7401);
        ASSERT_EQ(::sendto(kcli, msg.data(), size, 0, sap(to), sizeof to), ssize_t(size));
        ASSERT_EQ(t.urecv(usrv, got.data(), got.size()), ssize_t(size)) << last_error_text();
        EXPECT_TRUE(std::equal(msg.begin(), msg.end(), got.begin())) << size;
    }
    const Counters c = t.counters();
    EXPECT_EQ(c.ip.ReasmOKs, 3u);
    EXPECT_EQ(c.ip.FragOKs, 3u);
    EXPECT_EQ(c.ip.FragCreates, 3u + 6u + 45u);  // 1480 bytes of payload a fragment
    std::string snmp;
    t.ns->sh("nstat -az IpReasmOKs IpFragOKs", &snmp);
    EXPECT_NE(snmp.find("IpReasmOKs                      3"), std::string::npos) << snmp;
    EXPECT_NE(snmp.find("IpFragOKs                       3"), std::string::npos) << snmp;
    ::close(ksrv);
    ::close(kcli);
    EXPECT_TRUE(capture_is_clean(t.pcap, 2 * 54));
}

// ICMP port unreachable from either side reaches the other's connected socket as
// ECONNREFUSED (__udp4_lib_err on both).
TEST(TapInterop, PortUnreachableIsConnectionRefusedBothWays) {
    MAKE_OR_SKIP(t);
    expect_refused_both_ways(t, *t.ns, kLinux, kUsnet);
    const Counters c = t.counters();
    EXPECT_EQ(c.icmp.InDestUnreachs, 1u);
    EXPECT_EQ(c.icmp.OutDestUnreachs, 1u);
    EXPECT_EQ(c.drops[size_t(DropReason::NoSocket)], 1u);
    EXPECT_TRUE(capture_is_clean(t.pcap, 6));
    EXPECT_EQ(tshark_count(t.pcap, "icmp.type == 3 && icmp.code == 3"), 2);
}

// Linux's entry for usnet goes stale; the next datagram sends it through DELAY to PROBE,
// whose unicast requests usnet answers, and the entry is reachable again (neigh timers
// shortened in the namespace so this takes a second: reachable for ~300 ms, no delay).
TEST(TapInterop, LinuxProbesAStaleEntryAndUsnetAnswers) {
    MAKE_OR_SKIP(t);
    ASSERT_EQ(t.ns->sh("sysctl -qw net.ipv4.neigh.tap0.base_reachable_time_ms=300 "
                       "net.ipv4.neigh.tap0.delay_first_probe_time=0"), 0);
    const int srv = t.usock(SOCK_DGRAM, 0, Ip4(10, 7, 0, 2), 7500, true);
    const int k = t.ksock(SOCK_DGRAM, 0);
    sockaddr_in to = addr4(kUsnet, 7500);
    char buf[16];
    ASSERT_EQ(::sendto(k, "a", 1, 0, sap(to), sizeof to), 1);
    ASSERT_EQ(t.urecv(srv, buf, sizeof buf), 1);
    auto wait_state = [&](const char* state) {
        for (int i = 0; i < 100; ++i) {
            if (neigh(*t.ns, kUsnet).find(state) != std::string::npos) return true;
            usleep(50000);
        }
        return false;
    };
    ASSERT_TRUE(wait_state("STALE")) << neigh(*t.ns, kUsnet);
    const uint64_t replies = t.counters().link.ArpRepliesSent;
    ASSERT_EQ(::sendto(k, "b", 1, 0, sap(to), sizeof to), 1);  // STALE -> DELAY
    ASSERT_EQ(t.urecv(srv, buf, sizeof buf), 1);
    EXPECT_TRUE(wait_state("REACHABLE")) << neigh(*t.ns, kUsnet);
    EXPECT_GT(t.counters().link.ArpRepliesSent, replies);
    ::close(k);
    // The probe was a unicast request to usnet's MAC (arp_solicit with the cached address).
    const std::string probe = "arp.opcode == 1 && eth.dst == " + t.usnet_mac().str() + " && arp.dst.proto_ipv4 == " + kUsnet;
    EXPECT_GE(tshark_count(t.pcap, probe), 1);
    EXPECT_TRUE(capture_is_clean(t.pcap, 6));
}

// Subnet and limited broadcast, both ways. (Each sender is bound to its address: without a
// default route that is what sends 255.255.255.255 out of an interface, on Linux and usnet.)
TEST(TapInterop, BroadcastBothWays) {
    MAKE_OR_SKIP(t);
    const int k = t.ksock(SOCK_DGRAM, 0, "0.0.0.0", 7100);
    const int u = t.usock(SOCK_DGRAM, 0, Ip4(10, 7, 0, 2), 0, true);
    const int one = 1;
    ASSERT_EQ(t.call([&](Stack& s) { return s.setsockopt(u, SOL_SOCKET, SO_BROADCAST, &one, sizeof one); }), 0);
    char buf[32];
    for (const char* dst : {"10.7.0.255", "255.255.255.255"}) {
        ASSERT_EQ(t.usend(u, dst, std::strlen(dst), dst, 7100), ssize_t(std::strlen(dst))) << last_error_text();
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ASSERT_EQ(::recvfrom(k, buf, sizeof buf, 0, sap(from), &fl), ssize_t(std::strlen(dst))) << dst;
        EXPECT_EQ(std::string(buf, std::strlen(dst)), dst);
        EXPECT_EQ(from.sin_addr.s_addr, addr4(kUsnet, 0).sin_addr.s_addr);
    }
    const int ur = t.usock(SOCK_DGRAM, 0, Ip4(), 7101, true);
    const int ks = t.ksock(SOCK_DGRAM, 0, kLinux, 0);
    ASSERT_EQ(::setsockopt(ks, SOL_SOCKET, SO_BROADCAST, &one, sizeof one), 0);
    for (const char* dst : {"10.7.0.255", "255.255.255.255"}) {
        sockaddr_in to = addr4(dst, 7101);
        ASSERT_EQ(::sendto(ks, dst, std::strlen(dst), 0, sap(to), sizeof to), ssize_t(std::strlen(dst)));
        ASSERT_EQ(t.urecv(ur, buf, sizeof buf), ssize_t(std::strlen(dst))) << dst << ": " << last_error_text();
        EXPECT_EQ(std::string(buf, std::strlen(dst)), dst);
    }
    ::close(k);
    ::close(ks);
    EXPECT_TRUE(capture_is_clean(t.pcap, 4));
}

// usnet's IGMPv2 report reaches Linux (the bridge's multicast snooping records the group
// on usnet's port), and group traffic reaches the members on both sides.
TEST(TapInterop, MulticastBothWaysAndLinuxSeesTheReport) {
    MAKE_OR_SKIP(t, TapOptions{}, /*bridged=*/true);
    const int u = t.usock(SOCK_DGRAM, 0, Ip4(), 7200, true);
    ip_mreq m{};
    inet_pton(AF_INET, "239.1.2.3", &m.imr_multiaddr);
    inet_pton(AF_INET, kUsnet, &m.imr_interface);
    ASSERT_EQ(t.call([&](Stack& s) { return s.setsockopt(u, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m); }), 0);
    std::string mdb;
    for (int i = 0; i < 100 && mdb.find("239.1.2.3") == std::string::npos; ++i) {
        usleep(20000);
        t.ns->sh("bridge mdb show dev br0", &mdb);
    }
    EXPECT_NE(mdb.find("port tap0 grp 239.1.2.3"), std::string::npos) << mdb;
    // Linux -> the group: usnet's member gets it.
    const int ks = t.ksock(SOCK_DGRAM, 0);
    in_addr via{};
    inet_pton(AF_INET, kLinux, &via);
    ASSERT_EQ(::setsockopt(ks, IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via), 0);
    sockaddr_in group = addr4("239.1.2.3", 7200);
    ASSERT_EQ(::sendto(ks, "to-usnet", 8, 0, sap(group), sizeof group), 8);
    char buf[32];
    ASSERT_EQ(t.urecv(u, buf, sizeof buf), 8) << last_error_text();
    EXPECT_EQ(std::string(buf, 8), "to-usnet");
    // usnet -> another group Linux joined (IP_MULTICAST_IF: there is no route to 224/4).
    in_addr uvia{};
    inet_pton(AF_INET, kUsnet, &uvia);
    ASSERT_EQ(t.call([&](Stack& s) { return s.setsockopt(u, IPPROTO_IP, IP_MULTICAST_IF, &uvia, sizeof uvia); }), 0);
    const int kr = t.ksock(SOCK_DGRAM, 0, "0.0.0.0", 7201);
    ip_mreq km{};
    inet_pton(AF_INET, "239.1.2.4", &km.imr_multiaddr);
    km.imr_interface = via;
    ASSERT_EQ(::setsockopt(kr, IPPROTO_IP, IP_ADD_MEMBERSHIP, &km, sizeof km), 0);
    ASSERT_EQ(t.usend(u, "to-linux", 8, "239.1.2.4", 7201), 8) << last_error_text();
    ASSERT_EQ(::recv(kr, buf, sizeof buf, 0), 8) << std::strerror(errno);
    EXPECT_EQ(std::string(buf, 8), "to-linux");
    ASSERT_EQ(t.call([&](Stack& s) { return s.setsockopt(u, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m); }), 0);
    ::close(ks);
    ::close(kr);
    const Counters c = t.counters();
    EXPECT_EQ(c.link.IgmpReportsSent, 1u);
    EXPECT_EQ(c.link.IgmpLeavesSent, 1u);
    // In the capture: usnet's IGMPv3 reports, well formed (tshark checks IGMP checksums):
    // CHANGE_TO_EXCLUDE {} on the join, CHANGE_TO_INCLUDE {} on the leave, each possibly
    // twice (the robustness copy goes out within a second).
    const int joins = tshark_count(t.pcap, "igmp.type == 0x22 && igmp.record_type == 4 && igmp.maddr == 239.1.2.3 && "
                                           "ip.dst == 224.0.0.22 && ip.ttl == 1 && ip.opt.ra");
    EXPECT_TRUE(joins == 1 || joins == 2) << joins;
    const int leaves = tshark_count(t.pcap, "igmp.type == 0x22 && igmp.record_type == 3 && igmp.maddr == 239.1.2.3 && "
                                            "igmp.num_src == 0 && ip.dst == 224.0.0.22");
    EXPECT_TRUE(leaves == 1 || leaves == 2) << leaves;
    EXPECT_TRUE(capture_is_clean(t.pcap, 4));
}

// A frame whose UDP checksum is wrong, injected from the kernel side of the TAP: dropped,
// counted under its reason, and the next good datagram is the one the socket gets.
TEST(TapInterop, CorruptChecksumIsDroppedAndCounted) {
    MAKE_OR_SKIP(t);
    const int u = t.usock(SOCK_DGRAM, 0, Ip4(10, 7, 0, 2), 7300, true);
    const Mac umac = t.usnet_mac();
    const Mac kmac = t.kernel_mac_bytes();
    // UDP 10.7.0.1:5555 -> :7300 with its checksum off by one.
    auto f = udp_frame(umac, kmac, Ip4(10, 7, 0, 1), Ip4(10, 7, 0, 2), 5555, 7300, "evil", 0);
    wire::store16(f.data() + 14 + 26, uint16_t(udp_checksum_of(f) + 1));
    ASSERT_TRUE(RawLink(*t.ns, "tap0").send(f)) << std::strerror(errno);
    const int k = t.ksock(SOCK_DGRAM, 0, kLinux, 5555);
    sockaddr_in to = addr4(kUsnet, 7300);
    ASSERT_EQ(::sendto(k, "good", 4, 0, sap(to), sizeof to), 4);
    char buf[16];
    ASSERT_EQ(t.urecv(u, buf, sizeof buf), 4) << last_error_text();
    EXPECT_EQ(std::string(buf, 4), "good");
    errno = 0;
    EXPECT_EQ(t.call([&](Stack& s) { return s.recv(u, buf, sizeof buf, MSG_DONTWAIT); }), -1);
    EXPECT_EQ(errno, EAGAIN);
    const Counters cs = t.counters();
    EXPECT_EQ(cs.udp.InCsumErrors, 1u) << counters_text(cs);
    EXPECT_EQ(cs.drops[size_t(DropReason::BadChecksum)], 1u);
    ::close(k);
    // tshark sees exactly one bad frame: the one injected.
    if (have_tshark()) {
        const CaptureVerdict v = tshark_verdict(t.pcap);
        ASSERT_TRUE(v.readable) << v.report;
        EXPECT_EQ(v.problems.size(), 1u) << v.report;
        EXPECT_EQ(tshark_count(t.pcap, "udp.checksum.status == \"Bad\" && udp.dstport == 7300"), 1);
    }
}

}  // namespace
