// The process's usnet stack: the world `usnet run` asked for, built on the first socket
// call; its descriptor table; fork; and the thread that takes a switch's frames in.
#include <linux/netlink.h>

#include "shim.hpp"

namespace usnet::shim {

std::atomic<bool> g_pump_started{false};

// The world `usnet run` asked for; a switch that cannot be reached ends the program
// (running it on a private network instead would hide the mistake).
usnet::sim::DefaultWorld make_world() {
    usnet::sim::WorldSpec spec;
    std::string err;
    if (const char* seed = std::getenv("USNET_SEED")) spec.seed = std::strtoull(seed, nullptr, 10);
    // An image exec'd with usnet sockets is the keeper's client: a world of its own would
    // take a second switch port.
    const char* text = inherited_at_exec() ? nullptr : std::getenv("USNET_WORLD");
    usnet::sim::DefaultWorld w;
    if (!text || usnet::sim::parse_world(text, &spec, &err))
        w = usnet::sim::build_world(spec, usnet::config_from_host(), &err);
    if (!w.net) {
        const std::string line = "usnet: " + err + "\n";
        NATIVE(write);
        (void)!real_write(STDERR_FILENO, line.data(), line.size());
        _exit(70);  // EX_SOFTWARE
    }
    return w;
}

// USNET_BUSY_POLL (microseconds, `usnet run --busy-poll`): how long a blocked call looks
// before it sleeps. 50 by default: a reply within that time costs no sleep and no wake-up.
static usnet::Time busy_poll_from_env() {
    const char* v = std::getenv("USNET_BUSY_POLL");
    if (!v || !*v) return 50 * usnet::kUs;
    char* end = nullptr;
    const unsigned long us = std::strtoul(v, &end, 10);
    return *end ? 50 * usnet::kUs : usnet::Time(std::min(us, 1000000ul)) * usnet::kUs;
}

Runtime::Runtime() {
    // Buffer limits and port range as this machine's kernel has them; the world from
    // `usnet run`'s topology flags (USNET_WORLD), else the default one.
    t_building_world = true;
    world = make_world();
    t_building_world = false;
    // A real program lives in real time: blocking calls wait, releasing mu meanwhile.
    world.net->set_realtime(&mu);
    busy_poll = std::thread::hardware_concurrency() > 1 ? busy_poll_from_env() : 0;
    world.net->set_busy_poll(busy_poll);
    // --explain also reports each dropped datagram; --stat prints the counters at exit.
    if (explain_target())
        world.host->set_drop_observer([](usnet::DropReason, const std::string& line) { write_explain("usnet: " + line + "\n"); });
    setup_trace(*world.host);
    // Receive buffers are probed for the bytes a datagram fills, not for all they could hold.
    world.host->set_user_writable(writable);
    if (const char* st = std::getenv("USNET_STAT"); st && *st && std::strcmp(st, "0") != 0) std::atexit(print_stats);
    // fork: hold the lock across it so the child's copy is consistent. A fork through
    // fork_one_host (keeper.cpp) leaves parent and child clients of one stack; a fork it
    // never saw (glibc's daemon(), an internal fork) before there is a keeper gives the
    // child its own copy of the stack, detached from the switch.
    // (The lock the parent held across the fork: the child starts with a fresh one.)
    pthread_atfork([] { runtime().mu.lock(); before_fork(runtime()); },
                   [] { after_fork_parent(); runtime().mu.unlock(); }, [] {
        new (&runtime().mu) usnet::CallLock();
        if (after_fork_child()) return;
        // The switch port stays the parent's (see Network::detach_switch).
        runtime().world.net->detach_switch();
        g_pump_started = false;
        // The child answers `usnet stat` under its own pid.
        if (g_stat_fd >= 0) {
            NATIVE(close);
            real_close(g_stat_fd);
            g_stat_fd = -1;
        }
        start_stat_server();
    });
    start_stat_server();
    if (world.net->has_switch()) {
        std::atexit(flush_at_exit);
        start_pump(*this);
    }
}

thread_local bool t_building_world = false;

Runtime& runtime() {
    // Never destroyed: programs call socket functions from atexit handlers and destructors.
    static Runtime* r = new Runtime;
    return *r;
}

// `usnet run --stat`: the stack's counters, nstat style, when the program exits.
void print_stats() {
    if (g_client.load()) return;  // (the keeper prints the one stack's when it ends)
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    const std::string text = "usnet: counters at exit (pid " + std::to_string(getpid()) + "):\n" +
                             usnet::counters_text(r.stack().counters());
    NATIVE(write);
    (void)!real_write(STDERR_FILENO, text.data(), text.size());
}

// Set once the first usnet socket exists: until then every call goes straight to libc and
// no stack is built (most preloaded programs' reads and writes never touch usnet).
std::atomic<bool> g_active{false};

// The usnet descriptor behind fd, or -1 (fd is the kernel's).
int usnet_fd(int fd) {
    if (fd < 0 || !g_active.load(std::memory_order_acquire)) return -1;
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    return r.fds.lookup(fd);
}

// On a switch, frames arrive whether or not a usnet call is running, and an ARP exchange
// must finish even if the program sends and then only sleeps. A thread takes frames in:
// once the kernel waits on usnet sockets (eventfd tokens) it sleeps on the ring's bell so
// the tokens follow each frame; before that it looks every few milliseconds, never holding
// up a caller (so a spinning receiver pays nothing: no wake-up per frame).
void pump_switch() {
    Runtime& r = runtime();
    for (;;) {
        usnet::Time timeout = 10 * usnet::kMs;
        const bool bell = g_signal.load(std::memory_order_relaxed);
        {
            std::unique_lock<usnet::CallLock> g(r.mu, std::defer_lock);
            if (bell) g.lock();
            else (void)g.try_lock();  // (held: a call is running, and settles the world itself)
            if (g.owns_lock()) {
                if (!r.world.net->has_switch()) return;  // a forked child: detached
                r.world.net->poll_input();  // (settle_now leaves a TAP to receiving calls)
                r.world.net->settle_now();
                if (bell) sync_signals(r);
                const usnet::Time next = r.world.net->next_event(), now = r.world.net->now();
                if (next != usnet::kNever) timeout = std::min(timeout, std::max<usnet::Time>(next - now, usnet::kMs));
                if (bell) timeout = std::min<usnet::Time>(next == usnet::kNever ? 100 * usnet::kMs : next - now, 100 * usnet::kMs);
            }
        }
        if (bell) r.world.net->wait_switch(std::max<usnet::Time>(timeout, 0));
        else std::this_thread::sleep_for(std::chrono::nanoseconds(timeout));
    }
}

// At exit, datagrams still waiting for ARP go out first (the kernel would send them after
// the process is gone), for at most a second.
void flush_at_exit() {
    if (g_client.load()) return;
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    if (!r.world.net->has_switch() || r.stack().unresolved_packets() == 0) return;
    r.world.net->run_until([&] { return r.stack().unresolved_packets() == 0; }, r.world.net->now() + usnet::kSec);
}

void start_pump(Runtime& r) {
    if (r.world.net->has_switch() && !g_pump_started.exchange(true)) start_quiet_thread(pump_switch);
}

bool is_usnet_socket(int domain, int type, int protocol) {
    // NETLINK_ROUTE is the stack's too: the program's `ip`, getifaddrs and if_nameindex
    // see usnet's interfaces. Other netlink families stay the kernel's.
    if (domain == AF_NETLINK)
        return protocol == NETLINK_ROUTE && ((type & 0xf) == SOCK_RAW || (type & 0xf) == SOCK_DGRAM);
    return domain == AF_INET && (type & 0xf) == SOCK_DGRAM &&
           (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_ICMP);
}

}  // namespace usnet::shim
