// UDP: the port table with Linux's bind rules, demultiplexing, receive queueing with
// Linux's memory accounting, ICMP error delivery, and datagram output.
#pragma once
#include <array>
#include <span>

#include "core/trace.hpp"
#include "socket/sock.hpp"
#include "usnet/env.hpp"
#include "wire/icmp.hpp"

namespace usnet::udp {

using sock::DgramSock;

// skb->truesize Linux charges for a UDP/IPv4 datagram of `payload` bytes (kmalloc size
// class of the head plus struct sk_buff; large datagrams use page fragments).
uint32_t truesize_for(uint32_t payload);

// The receive short cut (the other direction's output_parts): a call receiving on `sk`,
// whose queue is empty, offered the frame waiting at its port (Link::input_direct, up
// through Ip and Udp). take() gets the payload and its sender, and copies it out or declines.
struct DirectRx {
    DgramSock* sk;
    FnRef<bool(std::span<const uint8_t> payload, Ip4 src, uint16_t sport)> take;
};

class PortTable {
public:
    // Ping sockets' identifiers conflict on the number alone (ping_get_port).
    bool ident_mode = false;
    // udp_lib_get_port: snum 0 picks a random free ephemeral port.
    // Returns false when the port is taken (or, for snum 0, when the range is exhausted).
    // tr: the tracer, for the steps of a bind to a given port (null: not traced).
    bool get_port(DgramSock* sk, uint16_t snum, uint16_t lo, uint16_t hi, uint64_t rnd, trace::Tracer* tr = nullptr);
    void unhash(DgramSock* sk);
    // udp_lib_rehash: the socket's address changed; it now ranks first among equals.
    void rehash(DgramSock* sk) { sk->lookup_seq = ++seq_; }
    template <class F> void for_port(uint16_t port, F&& f) const {
        for (DgramSock* s = buckets_[port & kMask]; s; s = s->port_next)
            if (s->num == port) f(s);
    }

private:
    bool conflicts(const DgramSock* sk, uint16_t port, bool* join_group, trace::Tracer* tr = nullptr) const;
    void insert(DgramSock* sk);
    static constexpr uint32_t kBuckets = 1024, kMask = kBuckets - 1;
    std::array<DgramSock*, kBuckets> buckets_{};
    uint32_t next_group_ = 1;
    uint64_t seq_ = 0;
    uint16_t rover_ = 0;
};

class Udp {
public:
    explicit Udp(StackImpl& s) : s_(s) { idents.ident_mode = true; }

    PortTable ports;   // UDP sockets
    PortTable idents;  // ping sockets (their "port" is the ICMP echo identifier)

    // Receive: pkt's head at the UDP header, meta filled by IP.
    void input(buf::PacketPtr pkt);
    // __udp4_lib_err: an ICMP error quoting a UDP datagram we sent.
    void err(const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info, Ip4 orig_src,
             Ip4 orig_dst, uint16_t sport, uint16_t dport, std::span<const uint8_t> payload);
    // __udp4_lib_lookup: the socket a unicast datagram goes to.
    DgramSock* lookup(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif);
    // Queue a datagram (head at payload) on sk, charging truesize against SO_RCVBUF.
    bool enqueue(DgramSock* sk, buf::PacketPtr pkt, bool count_udp);
    // Ping: validate the echo header at pkt's head, stamp the identifier, send (ping.cpp).
    Err ping_output(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt);
    // Build the UDP header over pkt (head at payload) and hand it to IP.
    Err output(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt, Ip4 daddr, uint16_t dport,
               int ttl_override = -1, int tos_override = -1);
    // output() of a datagram whose payload is still in the program's buffers, when it goes
    // straight out of an Ethernet port that takes parts (Ip::output_parts): one copy, into
    // the wire. False, with nothing changed, when output() must send it.
    bool output_parts(DgramSock* sk, std::span<const iovec> payload, uint32_t len, const ip::RouteResult& rt, Ip4 daddr,
                      uint16_t dport, int ttl_override, int tos_override);
    // input() of a unicast datagram (UDP header at u) that input() would queue on want.sk at
    // once, unchanged: handed to want.take instead. False, with nothing changed, when
    // input() must decide. csum_ok: as meta.csum_ok.
    bool input_direct(int ifindex, Ip4 src, Ip4 dst, std::span<const uint8_t> u, bool csum_ok, const DirectRx& want);
    // ip_icmp_error/ip_local_error: an error-queue entry for IP_RECVERR.
    // icmp: the ICMP packet's metadata (offender, and the control messages the entry carries);
    // null for a locally generated error. The entry's source (msg_name) is daddr:dport.
    void queue_error(DgramSock* sk, int err, uint8_t origin, uint8_t type, uint8_t code, uint32_t info,
                     const buf::Meta* icmp, Ip4 daddr, uint16_t dport, std::span<const uint8_t> payload);

    // Ping sockets (SOCK_DGRAM + IPPROTO_ICMP, ping.cpp): replies matched by identifier.
    void ping_reply(buf::PacketPtr pkt, const wire::IcmpRepr& ic);
    void ping_err(const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info, Ip4 orig_src,
                  Ip4 orig_dst, std::span<const uint8_t> quoted_icmp);
    // Sets sk_err from an ICMP error as __udp4_lib_err/ping_err do (also the error queue).
    void icmp_error_to_sock(DgramSock* sk, const buf::Packet& icmp, uint8_t type, uint8_t code, uint32_t info,
                            Ip4 orig_dst, uint16_t dport, std::span<const uint8_t> payload);

    // The datagram path, compiled with and without its trace points (USNET_TRACED); each
    // copy calls the next layer's copy of the same kind.
    template <bool Tr> DgramSock* lookup_t(Ip4 saddr, uint16_t sport, Ip4 daddr, uint16_t dport, int dif);
    template <bool Tr> bool enqueue_t(DgramSock* sk, buf::PacketPtr pkt, bool count_udp);
    uint32_t run_filter(const DgramSock* sk, buf::Packet& p);
    template <bool Tr> void input_t(buf::PacketPtr pkt);
    template <bool Tr> Err output_t(DgramSock* sk, buf::PacketPtr pkt, const ip::RouteResult& rt, Ip4 daddr, uint16_t dport,
                                    int ttl_override, int tos_override);

private:
    void mcast_deliver(buf::PacketPtr pkt);
    // The IP settings of sk's datagram to daddr (the id is the caller's: a connected
    // socket's counts on).
    ip::OutOpts out_opts(const DgramSock* sk, Ip4 daddr, int ttl_override, int tos_override) const;
    StackImpl& s_;
};

}  // namespace usnet::udp
