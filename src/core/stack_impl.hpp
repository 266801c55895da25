// The parts of one host, wired together: each layer object holds a reference to this and
// calls only its neighbours (socket -> udp -> ip -> link on the way down, and back up).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <random>
#include <vector>

#include "buf/packet.hpp"
#include "core/trace.hpp"
#include "ip/ip.hpp"
#include "link/link.hpp"
#include "netlink/netlink.hpp"
#include "socket/sock.hpp"
#include "udp/udp.hpp"
#include "usnet/stack.hpp"

namespace usnet {

// A closed world: the stack alone. Time advances only to the next timer it has.
class SoloEnv : public Env {
public:
    explicit SoloEnv(StackImpl& s) : s_(s) {}
    Time now() const override { return now_; }
    bool run_until(FnRef<bool()> ready, Time deadline) override;
    void settle_now() override {}  // alone, nothing but our own timers: they run when we wait

private:
    StackImpl& s_;
    Time now_ = 0;
};

class StackImpl {
public:
    explicit StackImpl(StackConfig c);
    ~StackImpl();

    StackConfig cfg;
    Counters ctr;
    buf::Pool pool;
    std::mt19937_64 rng;
    SoloEnv solo{*this};
    Env* env = &solo;

    std::vector<std::unique_ptr<link::Interface>> ifaces;
    link::Link link{*this};
    ip::Ip ip{*this};
    udp::Udp udp{*this};

    // Descriptor table: index is the fd.
    std::vector<std::unique_ptr<sock::DgramSock>> fds;
    // NETLINK_ROUTE sockets, in the same descriptor numbers (a number is one or the other).
    std::vector<std::unique_ptr<netlink::NlSock>> nl_fds;
    netlink::NlSock* nl_of(int fd) {
        return fd >= 0 && size_t(fd) < nl_fds.size() ? nl_fds[size_t(fd)].get() : nullptr;
    }
    bool fd_used(int fd) { return sock_of(fd) || nl_of(fd); }

    Time now() const { return env->now(); }
    Time coarse_now() const { return env->coarse_now(); }
    link::Interface* iface(int ifindex) {
        for (auto& i : ifaces)
            if (i->ifindex == ifindex) return i.get();
        return nullptr;
    }
    link::Interface* loopback() {
        for (auto& i : ifaces)
            if (i->loopback) return i.get();
        return nullptr;
    }
    int add_interface(std::unique_ptr<link::Interface> ifc);
    // What `ip addr/link` change (Stack's methods and the SIOCSIF* ioctls); 0 or -errno.
    int add_address(int ifindex, Ip4 addr, int prefix_len);
    int del_address(int ifindex, Ip4 addr, int prefix_len);
    int set_link_up(int ifindex, bool up);
    int set_mtu(int ifindex, uint32_t mtu);
    // CLOCK_REALTIME on the stack's clock (the world's time in a simulation), in ns: the
    // system's CLOCK_REALTIME when first asked, advancing with now() from there (one clock
    // read per stamp, no system call).
    Time wall_now() const {
        if (__builtin_expect(wall_base == kNever, 0)) wall_base = realtime_ns() - now();
        return wall_base + now();
    }
    static Time realtime_ns();
    mutable Time wall_base = kNever;
    sock::DgramSock* sock_of(int fd) {
        return fd >= 0 && size_t(fd) < fds.size() ? fds[size_t(fd)].get() : nullptr;
    }
    uint64_t random() { return rng(); }
    // After a call that transmitted: deliver what loopback queued and let the world process
    // everything due now (zero-latency links answer within the call, like veth's softirq).
    void settle() {
        link.run_backlog();
        env->settle_now();
    }
    // Counts a drop; tells the observer, if any, which datagram and why.
    void drop(DropReason r, Ip4 src, uint16_t sport, Ip4 dst, uint16_t dport) {
        ++ctr.drops[size_t(r)];
        if (drop_observer) report_drop(r, src, sport, dst, dport);
    }
    void report_drop(DropReason r, Ip4 src, uint16_t sport, Ip4 dst, uint16_t dport);
    // A frame dropped by the link layer (before it has IPv4 addresses): reported with its
    // Ethernet addresses.
    void drop_frame(DropReason r, const uint8_t* frame, uint32_t len);
    std::function<void(DropReason, const std::string&)> drop_observer;

    // Set while tracing (Stack::set_tracer): every trace point tests this pointer.
    trace::Tracer* tracer = nullptr;
    std::string world_note;  // Stack::set_world_note
    // Where a receive's destination may be memory the program cannot write (the shim), asked
    // for exactly the bytes a datagram will fill, before they are copied: copy_to_user fails
    // only for the part a datagram reaches. Null: every buffer is good.
    bool (*user_writable)(void* p, size_t n) = nullptr;
    std::unique_ptr<trace::Tracer> tracer_owned;

    // Runs timers of every layer that are due.
    void run_timers();
    // The earliest due time of any layer's timer: counted again only after some Deadline
    // was set (each call settles the world and asks it; the count walks every neighbour).
    Time next_deadline() const;
    mutable Time next_due_ = kNever;
    mutable uint64_t next_due_changes_ = ~uint64_t(0);
};

}  // namespace usnet
