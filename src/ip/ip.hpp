// IPv4: the routing table (local table first, then main, like the default rules), source
// address choice, output with fragmentation, input validation and local delivery,
// reassembly, and ICMP.
#pragma once
#include <vector>

#include "buf/packet.hpp"
#include "link/link.hpp"
#include "usnet/errors.hpp"
#include "usnet/stack.hpp"
#include "wire/ipv4.hpp"

namespace usnet::udp {
struct DirectRx;
}

namespace usnet::ip {

enum RtFlags : uint8_t { kRtLocal = 1, kRtBroadcast = 2, kRtMulticast = 4 };
enum class Scope : uint8_t { Universe = 0, Link = 253, Host = 254 };

// The kernel's name of a route type: "RTN_LOCAL".
const char* rtn_name(RouteType t);

struct Route {
    RouteSpec spec;
    bool local_table = false;  // the kernel's "local" table (local and broadcast routes)
    Scope scope = Scope::Universe;
};

// What ip_route_output gives a sender: where the packet goes and from which address.
struct RouteResult {
    link::Interface* dev = nullptr;
    Ip4 src, dst, nexthop;
    uint8_t flags = 0;  // RtFlags
    uint32_t mtu = 0;
    int local_dev = 0;  // for local destinations: the device owning the local route
};

struct Flow {
    Ip4 daddr, saddr;
    int oif = 0;
    bool any_src = false;  // FLOWI_FLAG_ANYSRC: IP_FREEBIND / IP_TRANSPARENT
    bool onlink = false;   // RTO_ONLINK: only routes without a gateway
};

// Per-datagram output settings a socket supplies.
struct OutOpts {
    uint8_t ttl = 64;
    uint8_t tos = 0;
    uint8_t proto = 0;
    bool df = false;        // set DF when the datagram fits (IP_PMTUDISC_WANT/DO)
    bool mc_loop = true;    // IP_MULTICAST_LOOP
    uint16_t id = 0;        // used when the socket supplies one (connected sockets)
    bool have_id = false;
    uint32_t mark = 0;      // SO_MARK (skb->mark)
};

class Ip {
public:
    explicit Ip(StackImpl& s) : s_(s) {}

    // --- routing (route.cpp) ---
    std::vector<Route> routes;
    uint32_t genid = 1;  // bumped on any address/route change; invalidates socket route caches
    void add_route(const Route& r);
    bool del_route(Ip4 dst, int len, bool local_table);
    void add_ifaddr_routes(link::Interface& ifc, const link::IfAddr& a);
    void del_ifaddr_routes(link::Interface& ifc, const link::IfAddr& a);
    // fib_disable_ip: every route through the device goes (link down, last address deleted).
    void flush_dev_routes(int ifindex, bool force);
    // inet_addr_type: what dst means to this host.
    RouteType addr_type(Ip4 a) const;
    bool is_local_addr(Ip4 a) const;
    // __ip_dev_find: the device whose local route covers a (lo for all of 127/8).
    link::Interface* dev_of_local(Ip4 a) const;
    // ip_route_output_key: route and source for a locally generated datagram.
    Err route_output(const Flow& fl, RouteResult* out);
    // inet_select_addr: an address of dev (or any device) suited to reach dst.
    Ip4 select_addr(const link::Interface* dev, Ip4 dst, Scope scope) const;
    const Route* lookup(Ip4 dst) const;

    // --- output (ip_output.cpp) --- pkt's head is at the transport header.
    Err output(buf::PacketPtr pkt, const RouteResult& rt, const OutOpts& o);
    // output()'s short cut for a datagram that goes straight out of an Ethernet port that
    // takes parts (Link::output_parts): false, with nothing changed, when output() must
    // decide. h holds the transport header; payload follows it.
    bool output_parts(const RouteResult& rt, const OutOpts& o, buf::HeaderStack& h, std::span<const iovec> payload,
                      uint32_t plen, bool csum_partial);
    // A fully built IPv4 packet (head at the IP header) to its interface.
    void send_to_dev(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop = true);

    // --- input (ip_input.cpp) ---
    void input(link::Interface& ifc, buf::PacketPtr pkt);
    // input()'s short cut for a receiving call (Udp::input_direct): a plain unicast UDP
    // datagram for a local address (head at the IPv4 header). False, with nothing changed,
    // when input() must decide.
    bool input_direct(link::Interface& ifc, std::span<const uint8_t> p, bool csum_ok, const udp::DirectRx& want);
    void timers(Time now);
    Time next_deadline() const;
    uint64_t reassembly_memory() const { return frag_mem_; }

    // --- ICMP (icmp.cpp) ---
    // icmp_send: an error about `orig` (head at its IP header).
    void icmp_send_error(const buf::Packet& orig, uint8_t type, uint8_t code, uint32_t info);
    void icmp_input(buf::PacketPtr pkt);

    // The datagram path, compiled with and without its trace points (USNET_TRACED); each
    // copy calls the next layer's copy of the same kind.
    template <bool Tr> void input_t(link::Interface& ifc, buf::PacketPtr pkt);
    template <bool Tr> void local_deliver_t(buf::PacketPtr pkt);
    template <bool Tr> Err output_t(buf::PacketPtr pkt, const RouteResult& rt, const OutOpts& o);
    template <bool Tr> void send_to_dev_t(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop);

private:
    void local_deliver(buf::PacketPtr pkt);
    void forward(buf::PacketPtr pkt, const wire::Ipv4Repr& h);
    buf::PacketPtr reassemble(buf::PacketPtr pkt);
    bool icmp_rate_allow(Ip4 dst);
    void fragment_out(buf::PacketPtr pkt, const RouteResult& rt, bool mc_loop);
    // The header output() gives a datagram of `total` bytes (ip_select_ident takes an id).
    wire::Ipv4Repr out_header(uint32_t total, const RouteResult& rt, const OutOpts& o);

    StackImpl& s_;
    uint16_t next_id_ = 1;
    mutable Ip4 type_cache_addr_;
    mutable RouteType type_cache_ = RouteType::Unicast;
    mutable uint32_t type_cache_gen_ = 0;

    struct FragQueue {
        Ip4 src, dst;
        uint16_t id = 0;
        uint8_t proto = 0;
        buf::PacketPtr data;  // reassembly buffer: IP header then payload at its offset
        uint32_t total = 0;   // payload length once the last fragment arrived (0: unknown)
        uint32_t have = 0;    // payload bytes received
        uint32_t truesize = 0;
        bool first_seen = false;
        Deadline expires{0};
        std::vector<std::pair<uint32_t, uint32_t>> ranges;  // received [start,end)
    };
    std::vector<FragQueue> frags_;
    uint64_t frag_mem_ = 0;

    // Token buckets like icmp_global_allow and inet_peer_xrlim_allow.
    struct Bucket { Ip4 peer; Time last = 0; int64_t tokens = 0; };
    static constexpr size_t kMaxPeerBuckets = 1024;
    std::vector<Bucket> peer_buckets_;
    int64_t global_credit_ = -1;
    Time global_stamp_ = 0;
};

}  // namespace usnet::ip
