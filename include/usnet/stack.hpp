// usnet::Stack: one host. Interfaces, addresses and routes are configured like `ip` does;
// sockets are used exactly like libc's: each call returns -1 and sets errno on failure, with
// the errno Linux would give. The reason for the last failure is kept per thread.
#pragma once
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "usnet/counters.hpp"
#include "usnet/env.hpp"
#include "usnet/errors.hpp"
#include "usnet/trace.hpp"
#include "usnet/types.hpp"

namespace usnet {

struct StackConfig {
    std::string name = "host";
    uint64_t seed = 1;              // seeds ephemeral ports, IP ids, ARP timers
    bool privileged = true;         // CAP_NET_BIND_SERVICE and friends (root in the kernel tests)
    uint32_t rmem_default = 212992, rmem_max = 212992;  // net.core.*
    uint32_t wmem_default = 212992, wmem_max = 212992;
    uint16_t port_lo = 32768, port_hi = 60999;          // net.ipv4.ip_local_port_range
    uint8_t default_ttl = 64;                           // net.ipv4.ip_default_ttl
    uint32_t ping_group_lo = 0, ping_group_hi = 2147483647;  // net.ipv4.ping_group_range
    uint32_t gid = 0;                                   // the group the socket calls run as
    bool ip_forward = false;
    bool icmp_echo_ignore_broadcasts = true;
    uint32_t icmp_ratelimit_ms = 1000, icmp_msgs_per_sec = 1000, icmp_msgs_burst = 50;
    uint32_t igmp_max_memberships = 20;
    uint32_t igmp_max_msf = 10;        // net.ipv4.igmp_max_msf: sources in one socket's filter
    uint32_t ipfrag_high_thresh = 4 * 1024 * 1024;
    Time ipfrag_time = 30 * kSec;
    int max_fds = 1024;
    int hz = 250;  // the kernel's CONFIG_HZ: socket timeouts are kept in these ticks
};

// The config with net.core.{r,w}mem_{default,max}, ip_local_port_range and
// ip_default_ttl read from this machine's /proc/sys, so a stack matches the host kernel.
StackConfig config_from_host(StackConfig base = {});

// After a signal handler interrupted a blocking call: whether the call restarts, as the
// kernel restarts it after a handler with SA_RESTART (which signal it was is not known, so
// only if every handled signal has SA_RESTART).
bool signal_handlers_restart();

enum class RouteType : uint8_t { Unicast, Local, Broadcast, Multicast, Blackhole, Unreachable, Prohibit };

struct RouteSpec {
    Ip4 dst;
    int prefix_len = 0;
    RouteType type = RouteType::Unicast;
    int ifindex = 0;   // 0: any (for blackhole/unreachable/prohibit)
    Ip4 gateway;       // 0: directly connected
    Ip4 prefsrc;       // 0: chosen by inet_select_addr
    uint32_t metric = 0;
    uint8_t protocol = 3;  // rtm_protocol: RTPROT_BOOT, as `ip route add` (RTPROT_KERNEL: an address's)
};

struct InterfaceInfo {
    int ifindex;
    std::string name;
    uint32_t mtu;
    bool up, loopback;
    Mac mac;
    std::vector<std::pair<Ip4, int>> addrs;
};

class StackImpl;

class Stack {
public:
    explicit Stack(StackConfig cfg = {});
    ~Stack();
    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;

    // --- Interfaces, addresses, routes (what `ip link/addr/route` do) ---
    // Adds lo (mtu 65536) with 127.0.0.1/8, up, as the kernel does for every namespace.
    int add_loopback();
    // Adds an address with its prefix; installs the local, broadcast and prefix routes like
    // fib_add_ifaddr. Returns 0 or -errno.
    int add_address(int ifindex, Ip4 addr, int prefix_len);
    int del_address(int ifindex, Ip4 addr, int prefix_len);
    int add_route(const RouteSpec& r);
    int del_route(Ip4 dst, int prefix_len);
    int set_link_up(int ifindex, bool up);
    int set_mtu(int ifindex, uint32_t mtu);
    int ifindex_of(const std::string& name) const;
    std::vector<InterfaceInfo> interfaces() const;

    // --- Sockets: the libc calls, one for one ---
    int socket(int domain, int type, int protocol);
    // What Linux answers for AF_INET: socket()'s own checks, then EOPNOTSUPP.
    int socketpair(int domain, int type, int protocol, int sv[2]);
    int bind(int fd, const sockaddr* addr, socklen_t len);
    int connect(int fd, const sockaddr* addr, socklen_t len);
    int getsockname(int fd, sockaddr* addr, socklen_t* len);
    int getpeername(int fd, sockaddr* addr, socklen_t* len);
    ssize_t send(int fd, const void* buf, size_t len, int flags);
    ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to, socklen_t tolen);
    ssize_t sendmsg(int fd, const msghdr* msg, int flags);
    int sendmmsg(int fd, mmsghdr* msgs, unsigned int vlen, int flags);
    ssize_t recv(int fd, void* buf, size_t len, int flags);
    ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen);
    ssize_t recvmsg(int fd, msghdr* msg, int flags);
    int recvmmsg(int fd, mmsghdr* msgs, unsigned int vlen, int flags, timespec* timeout);
    int shutdown(int fd, int how);
    int close(int fd);
    int setsockopt(int fd, int level, int name, const void* val, socklen_t len);
    int getsockopt(int fd, int level, int name, void* val, socklen_t* len);
    int ioctl(int fd, unsigned long req, void* arg);
    // An interface ioctl (SIOCGIFCONF, SIOCGIF*, SIOCSIF*) issued on a socket of another
    // family that the caller owns (AF_UNIX, AF_NETLINK, AF_INET6, AF_PACKET...; `family`
    // is its SO_DOMAIN): answered from this stack's interfaces as Linux answers it through
    // sock_do_ioctl -> dev_ioctl (inet_ioctl's too for AF_INET and AF_PACKET). Returns
    // -1 with errno ENOTTY for a request the kernel answers there without the interfaces.
    int dev_ioctl(int family, unsigned long req, void* arg);
    // Whether dev_ioctl answers `req` on a socket of `family` (else: leave it to the kernel).
    static bool is_interface_ioctl(int family, unsigned long req);
    int fcntl(int fd, int cmd, long arg = 0);
    int poll(pollfd* fds, nfds_t n, int timeout_ms);
    // How many times the socket has woken its waiters (a datagram or an error queued):
    // each is a new edge for EPOLLET, even while the socket stays readable.
    uint64_t wakeups(int fd) const;
    // What poll would report for the socket now (POLLNVAL: no such socket), without being
    // a call: nothing traced, no error on record. For a caller that waits elsewhere.
    short poll_events(int fd) const;
    int listen(int fd, int backlog);
    int accept(int fd, sockaddr* addr, socklen_t* len);
    bool is_socket(int fd) const;
    // The socket's state in a phrase, for explanations: protocol, local address, peer,
    // pending error, shutdown, e.g. "UDP socket, local 0.0.0.0:41234, no peer".
    std::string describe(int fd) const;
    // last_error_text() followed by the state of the socket the call was about, and the
    // world's note when the call failed for want of a network (set_world_note).
    std::string explain_last_error(int shown_fd = -1) const;
    // Why part of this host's world is missing, for explanations: "eth0 is detached from the
    // switch: ...". Empty: nothing is.
    void set_world_note(std::string note);
    // For a host whose callers may pass memory they cannot write (the shim): asked, before a
    // receive copies a datagram, whether the exact bytes it fills are writable; false fails
    // the call with EFAULT as a faulting copy_to_user does (the datagram is taken).
    void set_user_writable(bool (*check)(void* p, size_t n));

    // --- Observation and driving ---
    const Counters& counters() const;
    // Called for every dropped datagram with its reason and a sentence naming the datagram
    // (only while set: the hot path pays one pointer test).
    void set_drop_observer(std::function<void(DropReason, const std::string&)> fn);
    // Traces every socket call (and frames arriving, timers) into `sink`, one tree each
    // (see usnet/trace.hpp, docs/trace.md). An empty sink turns tracing off.
    void set_tracer(TraceSink sink, TraceOptions opts = {});
    bool tracing() const;
    // A call on a usnet socket that the caller answers itself (the shim's dup or epoll),
    // traced like the stack's own: "head" is the call and its result, e.g. "dup(3) = 5".
    void trace_shim_call(ShimTrace kind, const char* call, const std::string& head, long ret, int fd,
                         const std::vector<std::string>& values);
    // The clock and the world that advances it; defaults to a closed world of its own.
    void set_env(Env* env);
    Env& env() const;
    Time now() const;
    // CLOCK_REALTIME as this stack sees it (ns since the epoch): the clock receive
    // timestamps (SO_TIMESTAMP*, SIOCGSTAMP) are taken from; in a simulation it advances
    // with the world's virtual time.
    Time wall_time() const;
    // Runs due timers (ARP retries, reassembly expiry) and pending loopback delivery.
    void poll_timers();
    Time next_deadline() const;
    // Packets waiting for their next hop's ARP resolution.
    size_t unresolved_packets() const;
    const StackConfig& config() const;

    StackImpl& impl() { return *impl_; }

private:
    std::unique_ptr<StackImpl> impl_;
};

// Why the calling thread's last failing usnet call failed (Err::None after success).
Err last_error();
// A sentence naming the call, the errno and the rule, e.g.
// "getpeername(fd 3): ENOTCONN: this socket has no peer; ...".
std::string last_error_text();
// The same, naming the descriptor as the caller knows it (the shim's real descriptor).
std::string last_error_text(int shown_fd);

}  // namespace usnet
