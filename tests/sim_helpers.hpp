// Small helpers shared by the layer tests: addresses, frame injection, and two-host setups.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/stack_impl.hpp"
#include "usnet/sim.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet::test {

inline sockaddr_in sin4(Ip4 ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = ip.net();
    return a;
}
inline const sockaddr* sa(const sockaddr_in& a) { return reinterpret_cast<const sockaddr*>(&a); }
inline sockaddr* sa(sockaddr_in& a) { return reinterpret_cast<sockaddr*>(&a); }

inline int udp_bound(Stack& s, Ip4 ip, uint16_t port) {
    const int fd = s.socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return fd;
    const sockaddr_in a = sin4(ip, port);
    if (s.bind(fd, sa(a), sizeof a) != 0) return -1;
    return fd;
}

inline Mac mac_of(Stack& s, int ifindex) {
    for (const auto& i : s.interfaces())
        if (i.ifindex == ifindex) return i.mac;
    return Mac{};
}

// Hands a raw Ethernet frame to the host's interface as if it came off the wire.
inline void inject(Stack& s, int ifindex, const std::vector<uint8_t>& frame) {
    StackImpl& im = s.impl();
    auto pkt = im.pool.alloc(uint32_t(frame.size()));
    if (!pkt) return;
    if (!frame.empty()) std::memcpy(pkt->put(uint32_t(frame.size())), frame.data(), frame.size());
    im.link.receive_frame(*im.iface(ifindex), std::move(pkt));
}

// Ethernet + IPv4 (valid checksum) + payload.
struct FrameSpec {
    Mac dst, src{{0x02, 0xee, 0, 0, 0, 1}};
    Ip4 ip_src, ip_dst;
    uint8_t proto = wire::kProtoUdp;
    uint16_t id = 1;
    uint16_t frag = 0;
    uint8_t ttl = 64;
};

inline std::vector<uint8_t> ipv4_frame(const FrameSpec& f, const std::vector<uint8_t>& l4) {
    std::vector<uint8_t> b(wire::kEthHeaderLen + wire::kIpv4HeaderLen + l4.size());
    wire::EthernetRepr{f.dst, f.src, wire::kEthIpv4}.emit(b.data());
    wire::Ipv4Repr h;
    h.total_len = uint16_t(wire::kIpv4HeaderLen + l4.size());
    h.id = f.id;
    h.frag = f.frag;
    h.ttl = f.ttl;
    h.proto = f.proto;
    h.src = f.ip_src;
    h.dst = f.ip_dst;
    h.emit(b.data() + wire::kEthHeaderLen);
    if (!l4.empty()) std::memcpy(b.data() + wire::kEthHeaderLen + wire::kIpv4HeaderLen, l4.data(), l4.size());
    return b;
}

inline std::vector<uint8_t> udp_datagram(Ip4 src, Ip4 dst, uint16_t sport, uint16_t dport,
                                         const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> u(wire::kUdpHeaderLen + payload.size());
    if (!payload.empty()) std::memcpy(u.data() + wire::kUdpHeaderLen, payload.data(), payload.size());
    wire::UdpRepr{sport, dport, uint16_t(u.size()), 0}.emit(u.data(), src, dst, false);
    return u;
}

// Two hosts on one segment: a 10.0.0.1/24, b 10.0.0.2/24.
struct Pair {
    explicit Pair(uint64_t seed = 1, sim::LinkParams p = {}, StackConfig acfg = {}, StackConfig bcfg = {})
        : net(seed), a(net.add_host("a", acfg)), b(net.add_host("b", bcfg)) {
        seg = net.add_segment("lan", p);
        ia = net.attach(a, seg, "eth0");
        ib = net.attach(b, seg, "eth0");
        a.add_address(ia, kA, 24);
        b.add_address(ib, kB, 24);
    }
    static constexpr Ip4 kA{10, 0, 0, 1}, kB{10, 0, 0, 2};
    sim::Network net;
    Stack& a;
    Stack& b;
    int seg = 0, ia = 0, ib = 0;
};

}  // namespace usnet::test
