// Fuzz target: arbitrary Ethernet frames into a simulated host (Link::receive_frame), the
// way a hostile or broken peer would send them. The host keeps its state between inputs
// (sockets, ARP cache, reassembly queues, rate limiters), as a long-running stack does.
//
// Input: data[0] is a control byte, data[1..] the frame.
//   bit 0      repair the frame so it gets past the checks (MACs, ethertype, IPv4 header
//              length/total length/checksum, UDP length/checksum, ICMP checksum, ARP
//              fields), so mutations explore the layers above instead of dying at a checksum
//   bits 1-2   IPv4 destination when repairing: host, subnet broadcast, joined group, other
//   bit 3      when repairing: ARP instead of IPv4
//   bits 4-5   virtual time to let pass afterwards: none, 1 ms, 1 s, 61 s (after 61 s every
//              timer has fired, so the host must hold no packet buffers at all)
#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/stack_impl.hpp"
#include "fuzz_targets.hpp"
#include "usnet/sim.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"
#include "wire/icmp.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace usnet::fuzz {

namespace {

constexpr Ip4 kHost(10, 0, 0, 1), kPeer(10, 0, 0, 2), kGroup(239, 1, 1, 1);

struct World {
    sim::Network net{1};
    Stack& host;
    Stack& peer;
    int seg = 0, eth = 0;
    Mac host_mac, peer_mac;
    std::vector<int> fds;

    World() : host(net.add_host("host")), peer(net.add_host("peer")) {
        seg = net.add_segment("lan");
        eth = net.attach(host, seg, "eth0");
        const int peth = net.attach(peer, seg, "eth0");
        host.add_address(eth, kHost, 24);
        peer.add_address(peth, kPeer, 24);
        for (const auto& i : host.interfaces())
            if (i.ifindex == eth) host_mac = i.mac;
        for (const auto& i : peer.interfaces())
            if (i.ifindex == peth) peer_mac = i.mac;
        const int on = 1;
        // A wildcard UDP socket with IP_RECVERR and ancillary data, joined to a group.
        int s = host.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(7000);
        host.bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
        host.setsockopt(s, SOL_IP, IP_RECVERR, &on, sizeof on);
        host.setsockopt(s, SOL_IP, IP_PKTINFO, &on, sizeof on);
        host.setsockopt(s, SOL_IP, IP_RECVTTL, &on, sizeof on);
        ip_mreqn m{};
        m.imr_multiaddr.s_addr = kGroup.net();
        m.imr_ifindex = eth;
        host.setsockopt(s, SOL_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
        fds.push_back(s);
        // A socket connected to the peer (ICMP errors quoting its datagrams find it).
        s = host.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        a.sin_port = htons(7001);
        host.bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
        a.sin_addr.s_addr = kPeer.net();
        a.sin_port = htons(9);
        host.connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
        host.setsockopt(s, SOL_IP, IP_RECVERR, &on, sizeof on);
        fds.push_back(s);
        // A ping socket (echo replies are matched by identifier).
        s = host.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        fds.push_back(s);
        // Let the join's IGMP report and any ARP settle.
        net.run_for(1 * kSec);
    }

    void drain() {
        uint8_t buf[70000];
        alignas(cmsghdr) uint8_t ctl[512];
        for (int fd : fds) {
            for (int flags : {0, int(MSG_ERRQUEUE)}) {
                for (int i = 0; i < 100000; ++i) {
                    iovec iov{buf, sizeof buf};
                    sockaddr_in from{};
                    msghdr m{};
                    m.msg_name = &from;
                    m.msg_namelen = sizeof from;
                    m.msg_iov = &iov;
                    m.msg_iovlen = 1;
                    m.msg_control = ctl;
                    m.msg_controllen = sizeof ctl;
                    if (host.recvmsg(fd, &m, flags | MSG_DONTWAIT) < 0 && errno == EAGAIN) break;
                }
            }
        }
    }
};

World& world() {
    static World* w = new World();  // never destroyed: the fuzzer exits without unwinding
    return *w;
}

void repair(World& w, uint8_t ctl, std::vector<uint8_t>& f) {
    if (f.size() < wire::kEthHeaderLen) return;
    const uint8_t sel = (ctl >> 1) & 3;
    const Mac dst = sel == 1 ? Mac::broadcast()
                    : sel == 2 ? Mac{{0x01, 0x00, 0x5e, 0x01, 0x01, 0x01}}
                               : w.host_mac;
    std::memcpy(f.data(), dst.b.data(), 6);
    std::memcpy(f.data() + 6, w.peer_mac.b.data(), 6);
    uint8_t* p = f.data() + wire::kEthHeaderLen;
    const size_t n = f.size() - wire::kEthHeaderLen;
    if (ctl & 8) {
        wire::store16(f.data() + 12, wire::kEthArp);
        if (n < wire::kArpLen) return;
        wire::store16(p, 1);
        wire::store16(p + 2, wire::kEthIpv4);
        p[4] = 6;
        p[5] = 4;
        p[6] = 0;
        p[7] = (p[7] & 1) ? wire::kArpRequest : wire::kArpReply;
        wire::store32(p + 24, kHost.v);
        if (p[14] & 1) wire::store32(p + 14, kPeer.v);
        return;
    }
    wire::store16(f.data() + 12, wire::kEthIpv4);
    if (n < wire::kIpv4HeaderLen) return;
    uint32_t hl = uint32_t(p[0] & 15) * 4;
    if (hl < wire::kIpv4HeaderLen || hl > n) hl = wire::kIpv4HeaderLen;
    p[0] = uint8_t(0x40 | (hl / 4));
    const uint32_t total = uint32_t(std::min<size_t>(n, 65535));
    wire::store16(p + 2, uint16_t(total));
    // Mostly unfragmented, so the transport layers see whole datagrams.
    if (!(p[6] & 0x80)) wire::store16(p + 6, uint16_t(wire::load16(p + 6) & wire::kIpDF));
    if (p[9] & 0x80) p[9] = (p[9] & 1) ? wire::kProtoIcmp : wire::kProtoUdp;
    const Ip4 dsts[4] = {kHost, Ip4(10, 0, 0, 255), kGroup, Ip4(wire::load32(p + 16))};
    wire::store32(p + 16, dsts[sel].v);
    if (p[12] & 0x80) wire::store32(p + 12, kPeer.v);
    p[10] = p[11] = 0;
    wire::store16(p + 10, wire::checksum(p, hl));
    uint8_t* l4 = p + hl;
    const uint32_t l4n = total - hl;
    const Ip4 src(wire::load32(p + 12)), ipdst(wire::load32(p + 16));
    if (p[9] == wire::kProtoUdp && l4n >= wire::kUdpHeaderLen && l4n <= 65535) {
        wire::store16(l4 + 4, uint16_t(l4n));
        if (l4[6] | l4[7]) {
            l4[6] = l4[7] = 0;
            const uint16_t c = wire::checksum_fold(
                wire::checksum_add(wire::pseudo_header_sum(src, ipdst, wire::kProtoUdp, uint16_t(l4n)), l4, l4n));
            wire::store16(l4 + 6, c ? c : 0xffff);
        }
    } else if (p[9] == wire::kProtoIcmp && l4n >= wire::kIcmpHeaderLen) {
        l4[2] = l4[3] = 0;
        wire::store16(l4 + 2, wire::checksum(l4, l4n));
    }
}

}  // namespace

const Counters& stack_counters() { return world().host.counters(); }

int stack_one(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    World& w = world();
    const uint8_t ctl = data[0];
    std::vector<uint8_t> frame(data + 1, data + std::min<size_t>(size, 1 + 65535 + wire::kEthHeaderLen));
    if (ctl & 1) repair(w, ctl, frame);

    StackImpl& im = w.host.impl();
    const uint64_t rx_before = im.ctr.link.RxFrames;
    auto pkt = im.pool.alloc(uint32_t(frame.size()));
    USNET_FUZZ_CHECK(pkt);
    if (!frame.empty()) std::memcpy(pkt->put(uint32_t(frame.size())), frame.data(), frame.size());
    im.link.receive_frame(*im.iface(w.eth), std::move(pkt));
    USNET_FUZZ_CHECK(im.ctr.link.RxFrames == rx_before + 1);
    w.drain();

    static constexpr Time kAdvance[4] = {0, 1 * kMs, 1 * kSec, 61 * kSec};
    const Time adv = kAdvance[(ctl >> 4) & 3];
    if (adv) w.net.run_for(adv);
    w.drain();
    if (adv == 61 * kSec) {
        // Every ARP probe has failed or succeeded, every reassembly queue expired, every
        // frame in flight landed, every socket was drained: no buffer may still be held.
        USNET_FUZZ_CHECK(im.pool.in_use() == 0);
        USNET_FUZZ_CHECK(im.ip.next_deadline() == kNever);
        USNET_FUZZ_CHECK(w.peer.impl().pool.in_use() == 0);
    }
    // Invariants of the counters that hold whatever arrived.
    const Counters& c = im.ctr;
    USNET_FUZZ_CHECK(c.ip.ReasmOKs + c.ip.ReasmFails <= c.ip.ReasmReqds);
    USNET_FUZZ_CHECK(c.ip.ReasmTimeout <= c.ip.ReasmFails);
    USNET_FUZZ_CHECK(c.udp.InCsumErrors <= c.udp.InErrors);
    USNET_FUZZ_CHECK(c.ip.InCsumErrors <= c.ip.InHdrErrors);
    USNET_FUZZ_CHECK(c.ip.InDelivers <= c.ip.InReceives);
    return 0;
}

}  // namespace usnet::fuzz

#ifdef USNET_FUZZ_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return usnet::fuzz::stack_one(data, size);
}
#endif
