// libusnet-preload.so: interposes libc's socket calls so an unmodified program's IPv4
// datagram sockets live in usnet. No protocol logic here: each call is translated to the
// Stack call of the same name, everything else goes to the real libc.
//
// A usnet socket occupies a real descriptor number (an eventfd), so descriptor numbering,
// close-on-exec and FD_SETSIZE behave as programs expect.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>
#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <setjmp.h>

#include "usnet/sim.hpp"

namespace {

template <class F>
F* real(const char* name) {
    return reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}
#define REAL(fn) static auto* real_##fn = real<decltype(::fn)>(#fn)

struct Runtime;
Runtime& runtime();
const char* explain_target();
void write_explain(const std::string& line);
void print_stats();
void setup_trace(usnet::Stack& st);
void start_stat_server();
void flush_at_exit();
void start_pump(Runtime& r);
extern int g_stat_fd;

std::atomic<bool> g_pump_started{false};

// The world `usnet run` asked for; a switch that cannot be reached ends the program
// (running it on a private network instead would hide the mistake).
usnet::sim::DefaultWorld make_world() {
    usnet::sim::WorldSpec spec;
    std::string err;
    if (const char* seed = std::getenv("USNET_SEED")) spec.seed = std::strtoull(seed, nullptr, 10);
    const char* text = std::getenv("USNET_WORLD");
    usnet::sim::DefaultWorld w;
    if (!text || usnet::sim::parse_world(text, &spec, &err))
        w = usnet::sim::build_world(spec, usnet::config_from_host(), &err);
    if (!w.net) {
        const std::string line = "usnet: " + err + "\n";
        REAL(write);
        (void)!real_write(STDERR_FILENO, line.data(), line.size());
        _exit(70);  // EX_SOFTWARE
    }
    return w;
}

// The process's stack: the default world, created on the first socket call.
struct Runtime {
    std::recursive_mutex mu;
    usnet::sim::DefaultWorld world;
    std::unordered_map<int, int> fds;       // real descriptor -> usnet descriptor
    std::unordered_map<int, int> refs;      // usnet descriptor -> real descriptors naming it (dup)
    std::unordered_map<int, bool> signalled;  // real descriptor -> its eventfd holds a token
    std::unordered_map<int, uint64_t> woken;  // real descriptor -> the socket's wakeups at the last sync
    Runtime() {
        // Buffer limits and port range as this machine's kernel has them; the world from
        // `usnet run`'s topology flags (USNET_WORLD), else the default one.
        world = make_world();
        // A real program lives in real time: blocking calls wait, releasing mu meanwhile.
        world.net->set_realtime(&mu);
        // --explain also reports each dropped datagram; --stat prints the counters at exit.
        if (explain_target())
            world.host->set_drop_observer([](usnet::DropReason, const std::string& line) { write_explain("usnet: " + line + "\n"); });
        setup_trace(*world.host);
        if (const char* st = std::getenv("USNET_STAT"); st && *st && std::strcmp(st, "0") != 0) std::atexit(print_stats);
        // fork: hold the lock across it so the child's copy of the stack is consistent; the
        // child then owns that copy (its inherited sockets keep working, apart from the
        // parent's).
        // (The child cannot unlock a recursive mutex its parent's thread locked: a new one.)
        pthread_atfork([] { runtime().mu.lock(); }, [] { runtime().mu.unlock(); }, [] {
            new (&runtime().mu) std::recursive_mutex();
            // The switch port stays the parent's (see Network::detach_switch).
            runtime().world.net->detach_switch();
            g_pump_started = false;
            // The child answers `usnet stat` under its own pid.
            if (g_stat_fd >= 0) {
                REAL(close);
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
    usnet::Stack& stack() { return *world.host; }
};

Runtime& runtime() {
    // Never destroyed: programs call socket functions from atexit handlers and destructors.
    static Runtime* r = new Runtime;
    return *r;
}

// `usnet run --stat`: the stack's counters, nstat style, when the program exits.
void print_stats() {
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    const std::string text = "usnet: counters at exit (pid " + std::to_string(getpid()) + "):\n" +
                             usnet::counters_text(r.stack().counters());
    REAL(write);
    (void)!real_write(STDERR_FILENO, text.data(), text.size());
}

// `usnet stat PID` and `usnet ip PID ...`: a thread serves the counters and takes `ip`
// commands on the abstract Unix socket "@usnet-stat-PID" of the program's network namespace.
int g_stat_fd = -1;

// The shim's own descriptors (the stat listener, the --trace and --explain files) are
// moved to high numbers, so the program's descriptors are numbered exactly as on the kernel.
int g_trace_fd = -1, g_explain_fd = -1;
int park_high(int fd) {
    REAL(close);
    REAL(fcntl);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    const long high = rl.rlim_cur > 64 ? long(rl.rlim_cur) - 32 : 0;
    if (high > fd) {
        const int moved = real_fcntl(fd, F_DUPFD_CLOEXEC, high);
        if (moved >= 0) {
            real_close(fd);
            return moved;
        }
    }
    return fd;
}
bool shim_own_fd(long fd) { return fd == g_stat_fd || fd == g_trace_fd || fd == g_explain_fd; }

// The listening socket is made synchronously.
int open_stat_listener() {
    REAL(socket);
    REAL(bind);
    REAL(listen);
    REAL(close);
    const int fd = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "usnet-stat-" + std::to_string(getpid());
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (real_bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || real_listen(fd, 4) != 0) {
        real_close(fd);
        return -1;
    }
    return park_high(fd);
}

// One request a connection, a line: "stat" (or nothing) for the counters, "ip ARGS" to
// change the stack as `ip` would (only for a peer of our own user, or root).
void serve_stats(int fd) {
    REAL(accept4);
    REAL(write);
    REAL(read);
    REAL(close);
    REAL(setsockopt);
    REAL(getsockopt);
    REAL(poll);
    REAL(fcntl);
    for (;;) {
        // Wait in poll, not accept: a blocked accept4 reserves the lowest free descriptor
        // number (get_unused_fd_flags runs before it sleeps), which the program's next
        // socket or file would then not get.
        pollfd p{fd, POLLIN, 0};
        if (real_poll(&p, 1, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        int c = real_accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
            return;
        }
        // Out of the program's way at once, next to the listener.
        if (const int moved = real_fcntl(c, F_DUPFD_CLOEXEC, fd > 1 ? fd - 1 : 0); moved >= 0 && moved > c) {
            real_close(c);
            c = moved;
        }
        timeval tv{1, 0};  // a client that says nothing gets the counters (older `usnet stat`)
        real_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string req;
        char buf[512];
        for (ssize_t n; req.size() < 4096 && req.find('\n') == std::string::npos && (n = real_read(c, buf, sizeof buf)) > 0;)
            req.append(buf, size_t(n));
        req = req.substr(0, req.find('\n'));
        std::string text;
        if (req.rfind("ip ", 0) == 0) {
            ucred peer{};
            socklen_t pl = sizeof peer;
            const bool allowed = real_getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &pl) == 0 &&
                                 (peer.uid == 0 || peer.uid == getuid());
            if (!allowed) {
                text = "error: not allowed (another user)\n";
            } else {
                Runtime& r = runtime();
                std::lock_guard<std::recursive_mutex> g(r.mu);
                const int rc = usnet::sim::ip_command(r.stack(), req.substr(3));
                text = rc == 0 ? "ok\n" : rc == 1 ? "error: the stack refused it\n" : "error: not understood\n";
            }
        } else {
            Runtime& r = runtime();
            std::lock_guard<std::recursive_mutex> g(r.mu);
            text = usnet::counters_text(r.stack().counters());
        }
        (void)!real_write(c, text.data(), text.size());
        real_close(c);
    }
}

// The shim's own threads block every signal: the program's signals go to its own threads
// (a blocked call of its sees the handler run, as on the kernel), never to ours.
template <class F, class... A>
void start_quiet_thread(F f, A... a) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::thread(f, a...).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void start_stat_server() {
    g_stat_fd = open_stat_listener();
    if (g_stat_fd >= 0) start_quiet_thread(serve_stats, g_stat_fd);
}

// Set once the first usnet socket exists: until then every call goes straight to libc and
// no stack is built (most preloaded programs' reads and writes never touch usnet).
std::atomic<bool> g_active{false};

// The usnet descriptor behind fd, or -1 (fd is the kernel's).
int usnet_fd(int fd) {
    if (fd < 0 || !g_active.load(std::memory_order_acquire)) return -1;
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    auto it = r.fds.find(fd);
    return it == r.fds.end() ? -1 : it->second;
}

// Readiness signalling, switched on the first time a program hands a usnet descriptor to
// the kernel's poll/select/epoll: each usnet socket's eventfd then holds a token exactly
// while the socket is readable (or has an error or hang-up), so the kernel can wait on a
// mix of usnet and kernel descriptors. Until then no call pays for it.
std::atomic<bool> g_signal{false};

short usnet_mask(usnet::Stack& st, int u) {
    pollfd p{u, short(POLLIN | POLLOUT | POLLRDHUP), 0};
    st.poll(&p, 1, 0);
    return p.revents;
}

// Brings every eventfd in line with its socket. Caller holds the runtime lock.
void sync_signals(Runtime& r) {
    REAL(read);
    REAL(write);
    for (const auto& [fd, u] : r.fds) {
        const bool want = usnet_mask(r.stack(), u) & (POLLIN | POLLERR | POLLHUP | POLLRDHUP);
        bool& have = r.signalled[fd];
        // A datagram that arrives while the socket is already readable still wakes: another
        // write to the eventfd is another edge for EPOLLET, as sk_data_ready is on Linux.
        const uint64_t w = r.stack().wakeups(u);
        uint64_t& seen = r.woken[fd];
        const bool new_edge = want && have && w != seen;
        seen = w;
        if (want == have && !new_edge) continue;
        uint64_t v = 1;
        if (want) (void)!real_write(fd, &v, sizeof v);
        else (void)!real_read(fd, &v, sizeof v);  // drains the token (non-blocking eventfd)
        have = want;
    }
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
            std::unique_lock<std::recursive_mutex> g(r.mu, std::defer_lock);
            if (bell) g.lock();
            else if (!g.try_lock()) timeout = usnet::kMs;
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
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    if (!r.world.net->has_switch() || r.stack().unresolved_packets() == 0) return;
    r.world.net->run_until([&] { return r.stack().unresolved_packets() == 0; }, r.world.net->now() + usnet::kSec);
}

void start_pump(Runtime& r) {
    if (r.world.net->has_switch() && !g_pump_started.exchange(true)) start_quiet_thread(pump_switch);
}

void enable_signals(Runtime& r) {
    if (!g_signal.exchange(true)) sync_signals(r);
}

bool is_usnet_socket(int domain, int type, int protocol) {
    return domain == AF_INET && (type & 0xf) == SOCK_DGRAM &&
           (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_ICMP);
}

// USNET_EXPLAIN=1 (or =FILE): one line per failing usnet call saying which Linux rule
// fired, on stderr (or appended to FILE). What the program sees does not change.
const char* explain_target() {
    static const char* where = std::getenv("USNET_EXPLAIN");
    return where && *where && std::strcmp(where, "0") != 0 ? where : nullptr;
}

void write_explain(const std::string& line) {
    const int saved = errno;
    static int out = -1;
    if (out < 0) {
        REAL(open);
        const char* where = explain_target();
        const bool to_file = where && std::strcmp(where, "1") != 0;
        out = to_file ? real_open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
        if (out >= 0) out = g_explain_fd = park_high(out);
        if (out < 0) out = STDERR_FILENO;
    }
    REAL(write);
    (void)!real_write(out, line.data(), line.size());
    errno = saved;
}

// The descriptor the program passed to the call in progress on this thread, and the usnet
// socket it names: a trace shows the program's numbers, not the stack's.
thread_local int t_shown_fd = -1, t_shown_u = -1;
thread_local int t_new_socket_fd = -1;  // the descriptor socket() is about to return
std::atomic<bool> g_tracing{false};

// USNET_TRACE=1 (or =FILE, or =CALL,CALL...): the path of each usnet call, as a tree, on
// stderr or appended to FILE. USNET_TRACE_CALLS, USNET_TRACE_FD, USNET_TRACE_ERRORS and
// USNET_TRACE_INBOUND=0 narrow it (set by usnet run's --trace* flags).
void setup_trace(usnet::Stack& st) {
    const char* v = std::getenv("USNET_TRACE");
    if (!v || !*v || std::strcmp(v, "0") == 0) return;
    usnet::TraceOptions o;
    auto split = [](const char* text, auto add) {
        std::string cur;
        for (const char* c = text;; ++c) {
            if (*c == ',' || !*c) {
                if (!cur.empty()) add(cur);
                cur.clear();
                if (!*c) break;
            } else {
                cur += *c;
            }
        }
    };
    std::string file;
    if (std::strcmp(v, "1") != 0) {
        // A list of call names narrows the trace; anything else is the file to write.
        bool calls = true;
        const auto& known = usnet::trace_call_names();
        split(v, [&](const std::string& x) { calls = calls && std::find(known.begin(), known.end(), x) != known.end(); });
        if (calls) split(v, [&](const std::string& x) { o.calls.push_back(x); });
        else file = v;
    }
    if (const char* c = std::getenv("USNET_TRACE_CALLS")) split(c, [&](const std::string& x) { o.calls.push_back(x); });
    if (const char* f = std::getenv("USNET_TRACE_FD")) split(f, [&](const std::string& x) { o.fds.push_back(std::atoi(x.c_str())); });
    if (const char* f = std::getenv("USNET_TRACE_FILE"); f && *f) file = f;
    const char* e = std::getenv("USNET_TRACE_ERRORS");
    o.errors_only = e && *e && std::strcmp(e, "0") != 0;
    const char* in = std::getenv("USNET_TRACE_INBOUND");
    o.inbound = !(in && (std::strcmp(in, "0") == 0 || std::strcmp(in, "off") == 0));
    o.shown_fd = [](int u) {
        if (u == t_shown_u) return t_shown_fd;
        // (A socket named by several descriptors, after dup, shows as the lowest.)
        int best = -1;
        for (const auto& [real, su] : runtime().fds)
            if (su == u && (best < 0 || real < best)) best = real;
        if (best >= 0) return best;
        return t_new_socket_fd >= 0 ? t_new_socket_fd : u;
    };
    int out = STDERR_FILENO;
    if (!file.empty()) {
        REAL(open);
        out = real_open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out >= 0) out = g_trace_fd = park_high(out);
        if (out < 0) out = STDERR_FILENO;
    }
    st.set_tracer(
        [out](const std::string& tree) {
            const int saved = errno;
            REAL(write);
            (void)!real_write(out, tree.data(), tree.size());
            errno = saved;
        },
        std::move(o));
    g_tracing = true;
}

// The stack's next call on this thread is the program's `call` (read is a recv).
inline int traced_as(const char* call) {
    if (g_tracing.load(std::memory_order_relaxed)) usnet::trace_call_as(call);
    return 0;
}

// read(fd, buf, 0) on a socket: sock_read_iter returns 0 at once (a recv of 0 bytes would
// take a datagram).
inline ssize_t read_nothing(usnet::Stack& st, int fd, int u) {
    if (g_tracing.load(std::memory_order_relaxed))
        st.trace_shim_call(usnet::ShimTrace::ReadZero, "read", "read(" + std::to_string(fd) + ", 0) = 0", 0, u, {});
    return 0;
}

template <class R>
R explained(R ret, int fd) {
    if (ret >= 0 || !explain_target()) return ret;
    write_explain("usnet: " + runtime().stack().explain_last_error(fd) + "\n");
    return ret;
}

// ---------------- bad user pointers: EFAULT, never a crash ----------------
// Linux answers EFAULT when copy_from_user/copy_to_user meets an unmapped page (or, for
// output, a read-only one). Before the stack touches a user range of a usnet call, the
// shim probes it: one byte per page, a read for input and an atomic add of 0 (a write that
// changes nothing) for output, under a SIGSEGV/SIGBUS handler that jumps back when the
// probe faults. sigsetjmp without the signal mask: no system call on the fast path. A
// range that fails is handed to the stack as a null pointer, which fails with EFAULT where
// the kernel's copy would (a received datagram is consumed, as udp_recvmsg does).
// Receive and send buffers are probed up to 64 KiB: no datagram is longer.
constexpr size_t kMaxCopy = 65536;
constexpr uintptr_t kProbePage = 4096;

thread_local sigjmp_buf* t_probe [[gnu::tls_model("initial-exec")]] = nullptr;
std::atomic<bool> g_probe_installed{false};
std::mutex g_sig_mu;
struct sigaction g_user_act[2];  // the program's own SIGSEGV and SIGBUS actions
using sigaction_fn = int(int, const struct sigaction*, struct sigaction*);
sigaction_fn* g_real_sigaction = nullptr;

int fault_slot(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

// A fault outside a probe goes to the program's handler, or gets the default action.
void probe_handler(int sig, siginfo_t* info, void* ctx) {
    if (sigjmp_buf* jb = t_probe) {
        t_probe = nullptr;
        siglongjmp(*jb, 1);
    }
    const int slot = fault_slot(sig);
    struct sigaction a = g_user_act[slot];
    if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
        const bool sent = info && info->si_code <= 0;  // kill/tgkill/sigqueue: no instruction to retry
        if (a.sa_handler == SIG_IGN && sent) return;
        struct sigaction d{};
        d.sa_handler = SIG_DFL;
        sigemptyset(&d.sa_mask);
        g_real_sigaction(sig, &d, nullptr);
        if (sent) raise(sig);
        return;  // the faulting instruction runs again, under the default action
    }
    if (a.sa_flags & SA_RESETHAND) {
        g_user_act[slot].sa_handler = SIG_DFL;
        g_user_act[slot].sa_flags &= ~SA_SIGINFO;
    }
    sigset_t m = a.sa_mask;
    if (!(a.sa_flags & SA_NODEFER)) sigaddset(&m, sig);
    pthread_sigmask(SIG_BLOCK, &m, nullptr);  // the handler's mask; sigreturn restores ours
    if (a.sa_flags & SA_SIGINFO) a.sa_sigaction(sig, info, ctx);
    else a.sa_handler(sig);
}

// Installed with the first probe; the program's earlier actions are kept to chain to.
void install_probe_handler() {
    if (g_probe_installed.load(std::memory_order_acquire)) return;
    std::lock_guard<std::mutex> g(g_sig_mu);
    if (g_probe_installed.load(std::memory_order_relaxed)) return;
    g_real_sigaction = real<sigaction_fn>("sigaction");
    struct sigaction ours{};
    ours.sa_sigaction = probe_handler;
    ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    g_real_sigaction(SIGSEGV, &ours, &g_user_act[0]);
    g_real_sigaction(SIGBUS, &ours, &g_user_act[1]);
    g_probe_installed.store(true, std::memory_order_release);
}

// One byte per page of [a, last]: read, or an atomic add of 0 (needs write access, changes nothing).
[[gnu::noinline, gnu::no_sanitize_address]] void touch_pages(uintptr_t a, uintptr_t last, bool write) {
    for (uintptr_t x = a;;) {
        if (write) __atomic_fetch_add(reinterpret_cast<volatile char*>(x), char(0), __ATOMIC_RELAXED);
        else (void)*reinterpret_cast<const volatile char*>(x);
        const uintptr_t next = (x | (kProbePage - 1)) + 1;
        if (next == 0 || next > last) break;
        x = next;
    }
}

[[gnu::noinline]] bool touch_guarded(uintptr_t a, uintptr_t last, bool write) {
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0)) return false;  // the handler cleared t_probe
    t_probe = &jb;
    touch_pages(a, last, write);
    t_probe = nullptr;
    return true;
}

// True when every page of [p, p+n) can be read (or written).
bool probe_range(const void* p, size_t n, bool write) {
    if (n == 0) return true;
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (!p || a + n < a) return false;  // null, or wraps (access_ok fails)
    install_probe_handler();
    return touch_guarded(a, a + n - 1, write);
}

bool readable(const void* p, size_t n) { return n == 0 || probe_range(p, n, false); }
bool writable(void* p, size_t n) { return n == 0 || probe_range(p, n, true); }

// Set when the shim itself fails a call with EFAULT (the stack has no reason on record).
thread_local bool t_shim_fault = false;

template <class T>
T efault() {
    errno = EFAULT;
    t_shim_fault = true;
    return T(-1);
}

template <class R>
R explained_fault(R ret, int fd, const char* call) {
    if (explain_target())
        write_explain("usnet: " + std::string(call) + "(fd " + std::to_string(fd) +
                      "): EFAULT: a pointer argument points at memory the program cannot access "
                      "(unmapped, or read-only where the kernel writes) [copy_from_user/copy_to_user]\n");
    return ret;
}

// A data buffer the stack reads (send): itself, or null when bad.
const void* in_buf(const void* b, size_t n) { return readable(b, std::min(n, kMaxCopy)) ? b : nullptr; }

// An address the kernel copies in with move_addr_to_kernel (only a length in 1..128 is
// copied; others fail with EINVAL or mean "no address").
bool addr_in_bad(const void* a, socklen_t len) {
    return int(len) > 0 && len <= sizeof(sockaddr_storage) && !readable(a, len);
}

// The iovec buffers the stack will use: first 64 KiB of data.
bool iov_ok(const iovec* iov, size_t n, bool write) {
    size_t left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(iov[i].iov_len, left);
        if (!probe_range(iov[i].iov_base, len, write)) return false;
        left -= len;
    }
    return true;
}
// A copy of the array with each bad buffer null (the stack fails with EFAULT there).
std::vector<iovec> iov_fixed(const iovec* iov, size_t n, bool write) {
    std::vector<iovec> v(iov, iov + n);
    size_t left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(v[i].iov_len, left);
        if (len && !probe_range(v[i].iov_base, len, write)) v[i].iov_base = nullptr;
        left -= len;
    }
    return v;
}

// A sendmsg msghdr checked in the kernel's order (copy_msghdr_from_user, import_iovec,
// the control copy in ____sys_sendmsg, then the data as the protocol copies it). Returns
// -1 for "fail with EFAULT now"; else *out is the msghdr to hand to the stack.
int check_send_msghdr(const msghdr* m, msghdr* out, std::vector<iovec>* iovs) {
    *out = *m;
    if (out->msg_name && int(out->msg_namelen) < 0) return 0;  // EINVAL from the stack
    if (out->msg_name && out->msg_namelen &&
        !readable(out->msg_name, std::min<size_t>(out->msg_namelen, sizeof(sockaddr_storage))))
        return -1;
    if (out->msg_iovlen > 1024) return 0;  // EMSGSIZE from the stack
    if (out->msg_iovlen && !readable(out->msg_iov, out->msg_iovlen * sizeof(iovec))) {
        out->msg_iov = nullptr;
        return 0;
    }
    if (out->msg_controllen && out->msg_controllen <= size_t(INT_MAX) && !readable(out->msg_control, out->msg_controllen))
        return -1;
    if (!iov_ok(out->msg_iov, out->msg_iovlen, false)) {
        *iovs = iov_fixed(out->msg_iov, out->msg_iovlen, false);
        out->msg_iov = iovs->data();
    }
    return 0;
}

ssize_t sendmsg_checked(usnet::Stack& st, int u, const msghdr* m, int f) {
    if (!readable(m, sizeof *m)) return st.sendmsg(u, nullptr, f);
    msghdr c;
    std::vector<iovec> iovs;
    if (check_send_msghdr(m, &c, &iovs) < 0) return efault<ssize_t>();
    return st.sendmsg(u, &c, f);
}

int sendmmsg_checked(usnet::Stack& st, int u, mmsghdr* m, unsigned v, int f) {
    const unsigned n = std::min(v, 1024u);
    bool clean = true;
    for (unsigned i = 0; i < n && clean; ++i) {
        msghdr c;
        std::vector<iovec> iovs;
        clean = writable(&m[i], sizeof m[i]) && check_send_msghdr(&m[i].msg_hdr, &c, &iovs) == 0 && c.msg_iov == m[i].msg_hdr.msg_iov;
    }
    if (clean) return st.sendmmsg(u, m, v, f);
    // __sys_sendmmsg one message at a time: the first failure ends the batch.
    unsigned i = 0;
    for (; i < n; ++i) {
        const ssize_t r = writable(&m[i], sizeof m[i]) ? sendmsg_checked(st, u, &m[i].msg_hdr, f) : efault<ssize_t>();
        if (r < 0) {
            if (i == 0) return -1;
            break;
        }
        m[i].msg_len = unsigned(r);
    }
    return int(i);
}

// A recvmsg msghdr: what can fail before a datagram is taken becomes a null pointer for
// the stack; what the kernel only finds when copying out (the name, the msghdr's own
// fields) fails with EFAULT after the datagram is taken. A control buffer that cannot be
// written takes no control messages (put_cmsg's error is ignored by udp_recvmsg).
// How much of [b, b+n) can be written, in whole pages from the start.
size_t writable_prefix(void* b, size_t n) {
    size_t ok = 0;
    for (uintptr_t x = reinterpret_cast<uintptr_t>(b); b && ok < n;) {
        const uintptr_t next = (x | (kProbePage - 1)) + 1;
        if (!probe_range(reinterpret_cast<void*>(x), 1, true)) break;
        ok += std::min<size_t>(next - x, n - ok);
        x = next;
    }
    return ok;
}

// The same over an iovec array (its first 64 KiB).
size_t iov_writable_prefix(const iovec* iov, size_t n) {
    size_t ok = 0, left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(iov[i].iov_len, left);
        const size_t w = writable_prefix(iov[i].iov_base, len);
        ok += w;
        if (w < len) break;
        left -= len;
    }
    return ok;
}

// Buffers whose first `ok` bytes can be written but not all: the kernel copies only the
// datagram's bytes and faults only when they reach past `ok`. The stack receives into a
// bounce buffer, which is then scattered. recv(msghdr*) is the stack's call.
template <class Recv>
ssize_t recv_bounce(msghdr* c, size_t ok, int f, Recv recv) {
    size_t total = 0;
    for (size_t i = 0; i < c->msg_iovlen; ++i) total += c->msg_iov[i].iov_len;
    total = std::min(total, kMaxCopy);
    std::vector<char> tmp(total);
    iovec one{tmp.data(), total};
    iovec* user = c->msg_iov;
    const size_t n = c->msg_iovlen;
    c->msg_iov = &one;
    c->msg_iovlen = 1;
    const ssize_t r = recv(c);
    c->msg_iov = user;
    c->msg_iovlen = n;
    if (r < 0) return r;
    const size_t copied = (f & MSG_TRUNC) ? std::min(size_t(r), total) : size_t(r);
    if (copied > ok) return efault<ssize_t>();
    for (size_t i = 0, off = 0; i < n && off < copied; ++i) {
        const size_t len = std::min(user[i].iov_len, copied - off);
        if (len) std::memcpy(user[i].iov_base, tmp.data() + off, len);
        off += len;
    }
    return r;
}

struct RecvFix {
    msghdr c{};
    std::vector<iovec> iovs;
    sockaddr_storage name{};
    alignas(cmsghdr) unsigned char ctl[1024];
    bool fault_after = false, ctl_bad = false, hdr_ok = true;
    size_t bounce_ok = 0;  // > 0: receive through a bounce buffer (see recv_bounce)
};

// Each bad buffer null instead (the stack fails with EFAULT if the datagram has bytes).
void null_bad_iovs(RecvFix* fx) {
    fx->iovs = iov_fixed(fx->c.msg_iov, fx->c.msg_iovlen, true);
    fx->c.msg_iov = fx->iovs.data();
    fx->bounce_ok = 0;
}

// Returns true when the user's msghdr can be handed over as it is.
bool check_recv_msghdr(msghdr* m, RecvFix* fx) {
    if (!readable(m, sizeof *m)) {
        fx->hdr_ok = false;
        fx->c = msghdr{};
        fx->c.msg_iovlen = 1;  // a null iovec array: EFAULT before anything is taken
        return false;
    }
    fx->c = *m;
    bool clean = true;
    if (!writable(m, sizeof *m)) fx->fault_after = true, clean = false;
    msghdr& c = fx->c;
    if (c.msg_name && int(c.msg_namelen) > 0 &&
        !writable(c.msg_name, std::min<size_t>(c.msg_namelen, sizeof(sockaddr_in)))) {
        c.msg_name = &fx->name;
        fx->fault_after = true;
        clean = false;
    }
    if (c.msg_iovlen > 1024) return clean;
    if (c.msg_iovlen && !readable(c.msg_iov, c.msg_iovlen * sizeof(iovec))) {
        c.msg_iov = nullptr;
        return false;
    }
    if (c.msg_control && c.msg_controllen && !writable(c.msg_control, std::min<size_t>(c.msg_controllen, sizeof fx->ctl))) {
        c.msg_control = fx->ctl;
        c.msg_controllen = std::min<size_t>(c.msg_controllen, sizeof fx->ctl);
        fx->ctl_bad = true;
        clean = false;
    }
    if (!iov_ok(c.msg_iov, c.msg_iovlen, true)) {
        fx->bounce_ok = iov_writable_prefix(c.msg_iov, c.msg_iovlen);
        if (!fx->bounce_ok) null_bad_iovs(fx);
        clean = false;
    }
    return clean;
}

// After the stack's call on fx->c: the user's msghdr gets the fields the kernel writes back.
ssize_t finish_recv_msghdr(msghdr* m, RecvFix* fx, ssize_t r) {
    if (r < 0 || !fx->hdr_ok) return r;
    if (fx->ctl_bad) fx->c.msg_controllen = 0;
    if (fx->fault_after) return efault<ssize_t>();
    m->msg_namelen = fx->c.msg_namelen;
    m->msg_controllen = fx->c.msg_controllen;
    m->msg_flags = fx->c.msg_flags;
    return r;
}

ssize_t recvmsg_checked(usnet::Stack& st, int u, msghdr* m, int f) {
    if (!m) return st.recvmsg(u, nullptr, f);
    RecvFix fx;
    if (check_recv_msghdr(m, &fx)) return st.recvmsg(u, m, f);
    auto recv = [&](msghdr* x) { return st.recvmsg(u, x, f); };
    return finish_recv_msghdr(m, &fx, fx.bounce_ok ? recv_bounce(&fx.c, fx.bounce_ok, f, recv) : recv(&fx.c));
}

int recvmmsg_checked(usnet::Stack& st, int u, mmsghdr* m, unsigned v, int f, timespec* t) {
    if (t && !readable(t, sizeof *t)) return efault<int>();
    const unsigned n = std::min(v, 1024u);
    {
        RecvFix probe;
        bool all_ok = true;
        for (unsigned i = 0; i < n && all_ok; ++i)
            all_ok = writable(&m[i], sizeof m[i]) && check_recv_msghdr(&m[i].msg_hdr, &probe);
        if (all_ok) return st.recvmmsg(u, m, v, f, t);
    }
    std::vector<std::unique_ptr<RecvFix>> fx;
    bool clean = true;
    unsigned stop = n;  // a message whose copy-out fails ends the batch after it is taken
    for (unsigned i = 0; i < n; ++i) {
        fx.push_back(std::make_unique<RecvFix>());
        const bool entry_ok = writable(&m[i], sizeof m[i]);
        if (!entry_ok) fx[i]->hdr_ok = false, fx[i]->c = msghdr{}, fx[i]->c.msg_iovlen = 1;
        else if (check_recv_msghdr(&m[i].msg_hdr, fx[i].get())) continue;
        if (fx[i]->bounce_ok) null_bad_iovs(fx[i].get());  // no bounce within a batch
        clean = false;
        if (fx[i]->fault_after || !fx[i]->hdr_ok) {
            stop = i + 1;
            break;
        }
    }
    if (clean) return st.recvmmsg(u, m, v, f, t);
    std::vector<mmsghdr> local(stop);
    for (unsigned i = 0; i < stop; ++i) local[i].msg_hdr = fx[i]->c;
    const int r = st.recvmmsg(u, local.data(), stop, f, t);
    if (r < 0) return r;
    for (int i = 0; i < r; ++i) {
        if (finish_recv_msghdr(&m[i].msg_hdr, fx[i].get(), 0) < 0) return i == 0 ? -1 : i;  // taken, then EFAULT
        m[i].msg_len = local[i].msg_len;
    }
    return r;
}

// ---------------- epoll over usnet sockets ----------------
// The kernel's epoll watches the eventfd standing for a usnet socket, registered under a
// tag of ours; epoll_wait maps each tag back to the program's (epfd, fd) item and reports
// what Linux would: the socket's poll mask within the registered interest, plus EPOLLERR
// and EPOLLHUP. All under the runtime lock.
struct EpItem {
    int epfd, fd, u;
    uint32_t events;
    epoll_data_t data;
};
struct EpollTable {
    std::unordered_map<uint64_t, EpItem> by_tag;
    std::map<std::pair<int, int>, uint64_t> by_key;  // (epfd, fd) -> tag
    std::unordered_map<int, int> count;              // epfd -> usnet items in it
    uint64_t next = 0;
};
EpollTable& epolls() {
    static auto* t = new EpollTable;
    return *t;
}
std::atomic<bool> g_epoll_used{false};
constexpr uint64_t kEpTagBase = 0x75736e6500000000ull;  // "usne" in the high bytes

// The eventfd's registration: always EPOLLIN (its token carries errors and hang-ups);
// without EPOLLIN or EPOLLOUT in the interest, edge-triggered, so a token that only means
// "readable" wakes the wait once instead of spinning.
uint32_t ep_kernel_events(uint32_t user) {
    uint32_t k = user | EPOLLIN;
    if (!(user & (EPOLLIN | EPOLLOUT))) k |= EPOLLET;
    return k;
}

void ep_erase(EpollTable& t, uint64_t tag) {
    auto it = t.by_tag.find(tag);
    if (it == t.by_tag.end()) return;
    auto k = t.by_key.find({it->second.epfd, it->second.fd});
    if (k != t.by_key.end() && k->second == tag) t.by_key.erase(k);
    if (--t.count[it->second.epfd] <= 0) t.count.erase(it->second.epfd);
    t.by_tag.erase(it);
}

// Items go with their socket (its eventfd closed) or with their epoll instance.
template <class Pred>
void ep_forget(Pred gone) {
    EpollTable& t = epolls();
    std::vector<uint64_t> dead;
    for (const auto& [tag, e] : t.by_tag)
        if (gone(e)) dead.push_back(tag);
    for (uint64_t tag : dead) ep_erase(t, tag);
}

uint32_t usnet_epoll_mask(usnet::Stack& st, int u) {
    pollfd p{u, short(POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP), 0};
    st.poll(&p, 1, 0);
    return uint16_t(p.revents);
}

// Rewrites the events the kernel returned for tagged items. Caller holds the lock.
int ep_translate(Runtime& r, int epfd, epoll_event* ev, int k) {
    REAL(epoll_ctl);
    EpollTable& t = epolls();
    int out = 0;
    for (int i = 0; i < k; ++i) {
        const uint64_t tag = ev[i].data.u64;
        if ((tag & ~0xffffffffull) != kEpTagBase) {
            ev[out++] = ev[i];
            continue;
        }
        auto it = t.by_tag.find(tag);
        if (it == t.by_tag.end() || it->second.epfd != epfd) continue;  // removed meanwhile (DEL in another thread)
        const EpItem& e = it->second;
        const uint32_t rep = usnet_epoll_mask(r.stack(), e.u) & (e.events | EPOLLERR | EPOLLHUP);
        if (rep) {
            ev[out].events = rep;
            ev[out].data = e.data;
            ++out;
            if (g_tracing.load(std::memory_order_relaxed)) {
                char mask[16];
                std::snprintf(mask, sizeof mask, "%#x", rep);
                t_shown_fd = e.fd;
                t_shown_u = e.u;
                r.stack().trace_shim_call(usnet::ShimTrace::EpollWait, "epoll_wait",
                                          "epoll_wait(" + std::to_string(epfd) + ") reports fd " + std::to_string(e.fd) + " " + mask,
                                          0, e.u, {std::to_string(e.fd), mask});
            }
        } else if (e.events & EPOLLONESHOT) {
            // A stale token fired the one shot: arm it again, the program has not seen it.
            epoll_event kev{};
            kev.events = ep_kernel_events(e.events);
            kev.data.u64 = tag;
            real_epoll_ctl(epfd, EPOLL_CTL_MOD, e.fd, &kev);
        }
    }
    return out;
}

// wait(ns) is the real call with a timeout in nanoseconds (-1: none).
template <class W>
int ep_wait(int epfd, epoll_event* ev, long long timeout_ns, W wait) {
    if (!g_epoll_used.load(std::memory_order_acquire)) return wait(timeout_ns);
    Runtime& r = runtime();
    {
        std::lock_guard<std::recursive_mutex> g(r.mu);
        if (!epolls().count.count(epfd)) return wait(timeout_ns);
    }
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        long long left = timeout_ns;
        if (timeout_ns > 0) {
            const long long spent = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
            left = spent >= timeout_ns ? 0 : timeout_ns - spent;
        }
        {
            std::lock_guard<std::recursive_mutex> g(r.mu);
            sync_signals(r);
        }
        const int k = wait(left);
        if (k <= 0) return k;
        int out;
        {
            std::lock_guard<std::recursive_mutex> g(r.mu);
            out = ep_translate(r, epfd, ev, k);
            sync_signals(r);
        }
        if (out > 0 || left == 0) return out;  // else only stale tokens woke it: wait on
    }
}

// fdt->max_fds, the number of descriptors select() looks at. The kernel sizes the table
// for the highest descriptor opened (alloc_fdtable) and never shrinks it, so a size once
// found bounds it from below: it is looked for again only for an nfds beyond it.
std::atomic<int> g_fd_table_seen{64};  // NR_OPEN_DEFAULT
int fd_table_size();
int select_nfds(int n) {
    if (n <= g_fd_table_seen.load(std::memory_order_relaxed)) return n;
    const int size = fd_table_size();
    if (size > g_fd_table_seen.load(std::memory_order_relaxed)) g_fd_table_seen.store(size, std::memory_order_relaxed);
    return std::min(n, std::max(size, g_fd_table_seen.load(std::memory_order_relaxed)));
}
// The table the program alone would have, from its highest open descriptor: the shim's
// `usnet stat` listener, parked at a high number, is left out.
int fd_table_size() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return INT_MAX;
    long hi = -1;
    while (const dirent* e = readdir(d)) {
        const long fd = std::strtol(e->d_name, nullptr, 10);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && !shim_own_fd(fd) && fd != dirfd(d)) hi = std::max(hi, fd);
    }
    closedir(d);
    if (hi < 64) return 64;
    long nr = hi / 128 + 1;  // alloc_fdtable: whole 1 KiB blocks of pointers, a power of two
    long p2 = 1;
    while (p2 < nr) p2 <<= 1;
    return int(std::min<long>(p2 * 128, INT_MAX));
}

// getsockname/getpeername: a pointer the call could not write is handed to the stack as
// null, which then fails in the kernel's order (ENOTCONN before EFAULT: inet_getname runs
// before move_addr_to_user).
template <class Get>
int getname_checked(Get get, sockaddr* a, socklen_t* l) {
    if (l && !writable(l, sizeof *l)) l = nullptr;
    if (l && int(*l) > 0 && !writable(a, std::min<size_t>(*l, sizeof(sockaddr_in)))) a = nullptr;
    return get(a, l);
}

// A receive buffer only partly writable: the kernel copies just the datagram's bytes and
// faults only when they reach the bad part. Received into a bounce buffer, then copied.
// recv(buf, len) is the stack's call.
template <class Recv>
ssize_t recv_into(void* b, size_t n, int f, Recv recv) {
    const size_t lim = std::min(n, kMaxCopy);
    if (writable(b, lim)) return recv(b, n);
    const size_t ok = writable_prefix(b, lim);
    if (ok == 0) return recv(nullptr, n);  // the stack fails with EFAULT (a datagram is taken)
    std::vector<char> tmp(lim);
    const ssize_t r = recv(tmp.data(), lim);
    if (r < 0) return r;
    const size_t copied = (f & MSG_TRUNC) ? std::min(size_t(r), lim) : size_t(r);
    if (copied > ok) return efault<ssize_t>();
    std::memcpy(b, tmp.data(), copied);
    return r;
}

// recvfrom: the datagram is taken before the address is copied out (a bad address or
// length pointer loses it, with EFAULT).
ssize_t recvfrom_checked(usnet::Stack& st, int u, void* bb, size_t n, int f, sockaddr* from, socklen_t* fl) {
    if (!from) return st.recvfrom(u, bb, n, f, nullptr, nullptr);
    if (fl && writable(fl, sizeof *fl)) {
        const int want = int(*fl);
        if (want <= 0 || writable(from, std::min<size_t>(size_t(want), sizeof(sockaddr_in))))
            return st.recvfrom(u, bb, n, f, from, fl);
    }
    sockaddr_storage tmp;
    socklen_t tl = sizeof tmp;
    if (st.recvfrom(u, bb, n, f, reinterpret_cast<sockaddr*>(&tmp), &tl) < 0) return -1;
    return efault<ssize_t>();
}

bool iov_total_is_zero(const iovec* iov, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (iov[i].iov_len) return false;
    return true;
}

// readv/writev: import_iovec (EINVAL beyond 1024 entries, EFAULT for the array), then the
// socket's read_iter/write_iter.
ssize_t rw_iov(usnet::Stack& st, int u, const iovec* iov, int n, bool in) {
    if (n < 0 || n > 1024) {
        errno = EINVAL;
        return -1;
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(n);
    std::vector<iovec> fixed;
    if (n && !readable(iov, size_t(n) * sizeof(iovec))) m.msg_iov = nullptr;
    else if (in && iov_total_is_zero(iov, size_t(n))) return 0;  // sock_read_iter: nothing to read
    else if (!iov_ok(iov, size_t(n), in)) {
        if (const size_t ok = in ? iov_writable_prefix(iov, size_t(n)) : 0)
            return recv_bounce(&m, ok, 0, [&](msghdr* x) { return st.recvmsg(u, x, 0); });
        fixed = iov_fixed(iov, size_t(n), in);
        m.msg_iov = fixed.data();
    }
    return in ? st.recvmsg(u, &m, 0) : st.sendmsg(u, &m, 0);
}

int getsockopt_checked(usnet::Stack& st, int u, int lv, int n, void* v, socklen_t* l) {
    if (!l || !writable(l, sizeof *l)) return st.getsockopt(u, lv, n, v, nullptr);
    const int want = int(*l);
    if (want > 0 && !writable(v, std::min<size_t>(size_t(want), 64))) v = nullptr;
    return st.getsockopt(u, lv, n, v, l);
}

void* ioctl_arg(unsigned long req, void* arg) {
    if (req == FIONREAD || req == TIOCOUTQ) return writable(arg, sizeof(int)) ? arg : nullptr;
    if (req == FIONBIO) return readable(arg, sizeof(int)) ? arg : nullptr;
    return arg;
}

// select: is a usnet socket among the descriptors asked about? Only those bits are read
// (guarded); *fault says a set could not be read (the kernel then answers EFAULT).
bool select_wants_usnet(int n, fd_set* rd, fd_set* wr, fd_set* ex, bool* fault) {
    *fault = false;
    if (n <= 0 || !g_active.load(std::memory_order_acquire)) return false;
    std::vector<int> mine;
    {
        Runtime& r = runtime();
        std::lock_guard<std::recursive_mutex> g(r.mu);
        for (const auto& [fd, u] : r.fds)
            if (fd < n) mine.push_back(fd);
    }
    bool any = false;
    for (int fd : mine)
        for (fd_set* s : {rd, wr, ex}) {
            if (!s) continue;
            const __fd_mask* w = &s->fds_bits[fd / NFDBITS];
            if (!readable(w, sizeof *w)) {
                *fault = true;
                return false;
            }
            if ((static_cast<unsigned long>(*w) >> (fd % NFDBITS)) & 1) any = true;
        }
    return any;
}

// Runs the usnet call under the lock, or returns the real call's result.
// (One lock for the lookup and the call: this is every datagram's path.)
#define ROUTE(fd, usnet_call, real_call)                                 \
    do {                                                                 \
        if (fd < 0 || !g_active.load(std::memory_order_acquire)) return real_call; \
        Runtime& r_ = runtime();                                         \
        std::unique_lock<std::recursive_mutex> g_(r_.mu);                \
        const auto it_ = r_.fds.find(fd);                                \
        if (it_ == r_.fds.end()) {                                       \
            g_.unlock();                                                 \
            return real_call;                                            \
        }                                                                \
        usnet::Stack& st = r_.stack();                                   \
        const int u = it_->second;                                       \
        t_shim_fault = false;                                            \
        t_shown_fd = fd;                                                 \
        t_shown_u = u;                                                   \
        auto ret_ = usnet_call;                                          \
        if (g_signal.load(std::memory_order_relaxed)) sync_signals(r_);  \
        if (t_shim_fault) return explained_fault(ret_, fd, __func__);    \
        return explained(ret_, fd);                                      \
    } while (0)

}  // namespace

extern "C" {

// An IPv4 datagram pair is usnet's to refuse (EOPNOTSUPP, after socket()'s own checks).
int socketpair(int domain, int type, int protocol, int sv[2]) {
    REAL(socketpair);
    if (!is_usnet_socket(domain, type, protocol)) return real_socketpair(domain, type, protocol, sv);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    return explained(r.stack().socketpair(domain, type, protocol, sv), -1);
}

int socket(int domain, int type, int protocol) {
    REAL(socket);
    if (!is_usnet_socket(domain, type, protocol)) return real_socket(domain, type, protocol);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    // The descriptor first, so a trace names it; the stack's own checks still decide the
    // errno before a full descriptor table does (as __sys_socket checks before sock_map_fd).
    const int fd = eventfd(0, EFD_NONBLOCK | ((type & SOCK_CLOEXEC) ? EFD_CLOEXEC : 0));
    const int fd_err = errno;
    t_new_socket_fd = fd;
    const int u = r.stack().socket(domain, type, protocol);
    t_new_socket_fd = -1;
    if (u < 0) {
        if (fd >= 0) {
            REAL(close);
            const int e = errno;
            real_close(fd);
            errno = e;
        }
        return explained(-1, -1);
    }
    if (fd < 0) {
        r.stack().close(u);
        errno = fd_err;
        return -1;
    }
    r.fds[fd] = u;
    r.refs[u] = 1;
    r.signalled[fd] = false;
    g_active.store(true, std::memory_order_release);
    return fd;
}

int close(int fd) {
    REAL(close);
    const int u = usnet_fd(fd);
    if (u < 0) {
        // An epoll instance closed: its usnet items go with it.
        if (fd >= 0 && g_epoll_used.load(std::memory_order_acquire)) {
            Runtime& r = runtime();
            std::lock_guard<std::recursive_mutex> g(r.mu);
            if (epolls().count.count(fd)) ep_forget([fd](const EpItem& e) { return e.epfd == fd; });
        }
        return real_close(fd);
    }
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    r.fds.erase(fd);
    r.signalled.erase(fd);
    r.woken.erase(fd);
    // The socket goes with the last descriptor naming it, as a file does.
    t_shown_fd = fd;
    t_shown_u = u;
    if (--r.refs[u] != 0 && g_tracing.load(std::memory_order_relaxed))
        r.stack().trace_shim_call(usnet::ShimTrace::CloseRef, "close", "close(" + std::to_string(fd) + ") = 0", 0, u,
                                  {std::to_string(fd), std::to_string(r.refs[u])});
    if (r.refs[u] == 0) {
        r.refs.erase(u);
        r.stack().close(u);
        if (g_epoll_used.load(std::memory_order_relaxed)) ep_forget([u](const EpItem& e) { return e.u == u; });
        if (g_signal.load(std::memory_order_relaxed)) sync_signals(r);
    }
    return real_close(fd);
}

// dup*: a new real descriptor naming the same usnet socket.
static int dup_usnet(int oldfd, int newfd_or_min, int how, int flags) {
    REAL(dup);
    REAL(dup2);
    REAL(dup3);
    REAL(fcntl);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    const int u = r.fds.at(oldfd);
    if (how == 2 || how == 3) {
        if (newfd_or_min == oldfd) return how == 3 ? (errno = EINVAL, -1) : newfd_or_min;
        if (usnet_fd(newfd_or_min) >= 0) close(newfd_or_min);  // dup2 closes the target first
    }
    int nfd;
    switch (how) {
        case 1: nfd = real_dup(oldfd); break;
        case 2: nfd = real_dup2(oldfd, newfd_or_min); break;
        case 3: nfd = real_dup3(oldfd, newfd_or_min, flags); break;
        default: nfd = real_fcntl(oldfd, flags, newfd_or_min); break;  // F_DUPFD(_CLOEXEC)
    }
    if (nfd < 0) return nfd;
    r.fds[nfd] = u;
    ++r.refs[u];
    r.signalled[nfd] = r.signalled[oldfd];  // the same eventfd object, the same token
    r.woken[nfd] = r.woken[oldfd];
    if (g_tracing.load(std::memory_order_relaxed)) {
        static const char* const calls[] = {"fcntl", "dup", "dup2", "dup3"};
        static const char* const fns[] = {"f_dupfd", "fget_raw", "ksys_dup3", "ksys_dup3"};
        const std::string mid = how == 0 ? (flags == F_DUPFD_CLOEXEC ? ", F_DUPFD_CLOEXEC, " : ", F_DUPFD, ")
                                : how == 1 ? "" : ", ";
        const std::string head = std::string(calls[how]) + "(" + std::to_string(oldfd) + mid +
                                 (how == 1 ? "" : std::to_string(newfd_or_min)) + ") = " + std::to_string(nfd);
        t_shown_fd = oldfd;
        t_shown_u = u;
        r.stack().trace_shim_call(usnet::ShimTrace::Dup, calls[how], head, nfd, u,
                                  {fns[how], std::to_string(nfd), std::to_string(oldfd)});
    }
    return nfd;
}

int bind(int fd, const sockaddr* a, socklen_t l) {
    REAL(bind);
    ROUTE(fd, st.bind(u, addr_in_bad(a, l) ? nullptr : a, l), real_bind(fd, a, l));
}
int connect(int fd, const sockaddr* a, socklen_t l) {
    REAL(connect);
    ROUTE(fd, st.connect(u, addr_in_bad(a, l) ? nullptr : a, l), real_connect(fd, a, l));
}
int getsockname(int fd, sockaddr* a, socklen_t* l) {
    REAL(getsockname);
    ROUTE(fd, getname_checked([&](sockaddr* x, socklen_t* y) { return st.getsockname(u, x, y); }, a, l), real_getsockname(fd, a, l));
}
int getpeername(int fd, sockaddr* a, socklen_t* l) {
    REAL(getpeername);
    ROUTE(fd, getname_checked([&](sockaddr* x, socklen_t* y) { return st.getpeername(u, x, y); }, a, l), real_getpeername(fd, a, l));
}
ssize_t send(int fd, const void* b, size_t n, int f) {
    REAL(send);
    ROUTE(fd, st.send(u, in_buf(b, n), n, f), real_send(fd, b, n, f));
}
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    REAL(sendto);
    ROUTE(fd, (to && addr_in_bad(to, tl) ? efault<ssize_t>() : st.sendto(u, in_buf(b, n), n, f, to, tl)),
          real_sendto(fd, b, n, f, to, tl));
}
ssize_t sendmsg(int fd, const msghdr* m, int f) {
    REAL(sendmsg);
    ROUTE(fd, sendmsg_checked(st, u, m, f), real_sendmsg(fd, m, f));
}
int sendmmsg(int fd, mmsghdr* m, unsigned int v, int f) {
    REAL(sendmmsg);
    ROUTE(fd, sendmmsg_checked(st, u, m, v, f), real_sendmmsg(fd, m, v, f));
}
ssize_t recv(int fd, void* b, size_t n, int f) {
    REAL(recv);
    ROUTE(fd, recv_into(b, n, f, [&](void* x, size_t m) { return st.recv(u, x, m, f); }), real_recv(fd, b, n, f));
}
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    REAL(recvfrom);
    ROUTE(fd, recv_into(b, n, f, [&](void* x, size_t m) { return recvfrom_checked(st, u, x, m, f, from, fl); }),
          real_recvfrom(fd, b, n, f, from, fl));
}
ssize_t recvmsg(int fd, msghdr* m, int f) {
    REAL(recvmsg);
    ROUTE(fd, recvmsg_checked(st, u, m, f), real_recvmsg(fd, m, f));
}
int shutdown(int fd, int how) {
    REAL(shutdown);
    ROUTE(fd, st.shutdown(u, how), real_shutdown(fd, how));
}
int setsockopt(int fd, int lv, int n, const void* v, socklen_t l) {
    REAL(setsockopt);
    ROUTE(fd, st.setsockopt(u, lv, n, int(l) > 0 && !readable(v, std::min<size_t>(l, 64)) ? nullptr : v, l),
          real_setsockopt(fd, lv, n, v, l));
}
int getsockopt(int fd, int lv, int n, void* v, socklen_t* l) {
    REAL(getsockopt);
    ROUTE(fd, getsockopt_checked(st, u, lv, n, v, l), real_getsockopt(fd, lv, n, v, l));
}
ssize_t read(int fd, void* b, size_t n) {
    REAL(read);
    // sock_read_iter: reading 0 bytes returns 0 and takes nothing.
    ROUTE(fd, n == 0 ? read_nothing(st, fd, u) : recv_into(b, n, 0, [&](void* x, size_t m) { return traced_as("read"), st.recv(u, x, m, 0); }),
          real_read(fd, b, n));
}
ssize_t write(int fd, const void* b, size_t n) {
    REAL(write);
    ROUTE(fd, (traced_as("write"), st.send(u, in_buf(b, n), n, 0)), real_write(fd, b, n));
}
int recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t) {
    REAL(recvmmsg);
    ROUTE(fd, recvmmsg_checked(st, u, m, v, f, t), real_recvmmsg(fd, m, v, f, t));
}
ssize_t readv(int fd, const iovec* iov, int n) {
    REAL(readv);
    ROUTE(fd, (traced_as("readv"), rw_iov(st, u, iov, n, true)), real_readv(fd, iov, n));
}
ssize_t writev(int fd, const iovec* iov, int n) {
    REAL(writev);
    ROUTE(fd, (traced_as("writev"), rw_iov(st, u, iov, n, false)), real_writev(fd, iov, n));
}
// Stream calls on a usnet socket get what Linux gives a datagram socket.
int listen(int fd, int backlog) {
    REAL(listen);
    ROUTE(fd, st.listen(u, backlog), real_listen(fd, backlog));
}
int accept(int fd, sockaddr* a, socklen_t* l) {
    REAL(accept);
    ROUTE(fd, st.accept(u, a, l), real_accept(fd, a, l));
}
int accept4(int fd, sockaddr* a, socklen_t* l, int flags) {
    REAL(accept4);
    ROUTE(fd, st.accept(u, a, l), real_accept4(fd, a, l, flags));
}

ssize_t __recv_chk(int fd, void* b, size_t n, size_t buflen, int f) {
    if (n > buflen) std::abort();  // what _FORTIFY_SOURCE's __chk_fail does
    return recv(fd, b, n, f);
}
ssize_t __recvfrom_chk(int fd, void* b, size_t n, size_t buflen, int f, sockaddr* from, socklen_t* fl) {
    if (n > buflen) std::abort();
    return recvfrom(fd, b, n, f, from, fl);
}
ssize_t __read_chk(int fd, void* b, size_t n, size_t buflen) {
    if (n > buflen) std::abort();
    return read(fd, b, n);
}

int ioctl(int fd, unsigned long req, ...) {
    REAL(ioctl);
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    ROUTE(fd, st.ioctl(u, req, ioctl_arg(req, arg)), real_ioctl(fd, req, arg));
}

static int fcntl_impl(int fd, int cmd, long arg);

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

// glibc >= 2.28 programs call fcntl64 (the same call with 64-bit locks).
int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_impl(fd, cmd, arg);
}

static int fcntl_impl(int fd, int cmd, long arg) {
    REAL(fcntl);
    const int u = usnet_fd(fd);
    // Descriptor-level commands stay with the real descriptor (close-on-exec); a dup also
    // names the usnet socket.
    if (u >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) return dup_usnet(fd, int(arg), 0, cmd);
    if (u < 0 || cmd == F_GETFD || cmd == F_SETFD) return real_fcntl(fd, cmd, arg);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    return explained(r.stack().fcntl(u, cmd, arg), fd);
}

int poll(pollfd* fds, nfds_t n, int timeout) {
    REAL(poll);
    if (!g_active.load(std::memory_order_acquire) || n > nfds_t(INT_MAX) / sizeof(pollfd) || !writable(fds, n * sizeof(pollfd)))
        return real_poll(fds, n, timeout);
    bool any_usnet = false, any_kernel = false;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd < 0) continue;
        if (usnet_fd(fds[i].fd) >= 0) any_usnet = true;
        else any_kernel = true;
    }
    if (!any_usnet) return real_poll(fds, n, timeout);
    Runtime& r = runtime();
    if (!any_kernel) {
        std::lock_guard<std::recursive_mutex> g(r.mu);
        std::vector<pollfd> v(fds, fds + n);
        for (auto& p : v)
            if (p.fd >= 0) p.fd = usnet_fd(p.fd);
        const int ret = r.stack().poll(v.data(), n, timeout);
        for (nfds_t i = 0; i < n; ++i) fds[i].revents = v[i].revents;
        return ret;
    }
    // A mix: the kernel waits on everything, usnet sockets through their eventfds; the
    // answer for a usnet socket is then taken from usnet itself.
    {
        std::lock_guard<std::recursive_mutex> g(r.mu);
        enable_signals(r);
    }
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        int waited = timeout;
        if (timeout > 0) {
            const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
            waited = spent >= timeout ? 0 : timeout - int(spent);
        }
        const int k = real_poll(fds, n, waited);
        if (k < 0) return k;
        int ready = 0;
        {
            std::lock_guard<std::recursive_mutex> g(r.mu);
            int mine = 0, theirs = 0;
            std::string masks;
            for (nfds_t i = 0; i < n; ++i) {
                if (fds[i].fd < 0) continue;
                const int u = usnet_fd(fds[i].fd);
                if (u >= 0) {
                    fds[i].revents = short(usnet_mask(r.stack(), u) & (fds[i].events | POLLERR | POLLHUP | POLLNVAL));
                    ++mine;
                    if (g_tracing.load(std::memory_order_relaxed)) {
                        char m[16];
                        std::snprintf(m, sizeof m, "%#x", unsigned(usnet_mask(r.stack(), u)));
                        masks += (masks.empty() ? "fd " : ", fd ") + std::to_string(fds[i].fd) + " " + m;
                    }
                } else {
                    ++theirs;
                }
                if (fds[i].revents) ++ready;
            }
            sync_signals(r);
            if ((ready || waited == 0) && g_tracing.load(std::memory_order_relaxed))
                r.stack().trace_shim_call(usnet::ShimTrace::PollMixed, "poll",
                                          "poll(" + std::to_string(n) + " fds, " + std::to_string(timeout) + ") = " + std::to_string(ready),
                                          ready, -1, {std::to_string(mine), std::to_string(theirs), masks});
        }
        if (ready || waited == 0) return ready;
    }
}

// select over usnet sockets goes through poll, as core_sys_select would: it looks at
// min(nfds, the descriptor table's size) descriptors, fails with EBADF for a closed one,
// writes back whole words of each set and the time left.
int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
    REAL(select);
    bool fault = false;
    if (!select_wants_usnet(n, rd, wr, ex, &fault)) return real_select(n, rd, wr, ex, tv);
    // A bad or negative timeout: the kernel's EFAULT or EINVAL.
    if (tv && (!writable(tv, sizeof *tv) || tv->tv_sec < 0 || tv->tv_usec < 0)) return real_select(n, rd, wr, ex, tv);
    const int m = select_nfds(n);
    const size_t words = (size_t(m) + NFDBITS - 1) / NFDBITS;
    fd_set* sets[3] = {rd, wr, ex};
    std::vector<unsigned long> in[3], out[3];
    for (int k = 0; k < 3; ++k) {
        if (!sets[k]) continue;
        if (!writable(sets[k], words * sizeof(__fd_mask))) return real_select(n, rd, wr, ex, tv);
        in[k].resize(words);
        std::memcpy(in[k].data(), sets[k]->fds_bits, words * sizeof(__fd_mask));
        if (m % NFDBITS) in[k][words - 1] &= (1ul << (m % NFDBITS)) - 1;
        out[k].assign(words, 0);
    }
    auto bit = [](const std::vector<unsigned long>& v, int fd) { return !v.empty() && ((v[size_t(fd) / NFDBITS] >> (fd % NFDBITS)) & 1); };
    std::vector<pollfd> p;
    for (int fd = 0; fd < m; ++fd) {
        short ev = 0;
        if (bit(in[0], fd)) ev |= POLLIN;
        if (bit(in[1], fd)) ev |= POLLOUT;
        if (bit(in[2], fd)) ev |= POLLPRI;
        if (ev) p.push_back({fd, ev, 0});
    }
    long long timeout_us = tv ? (long long)tv->tv_sec * 1000000 + tv->tv_usec : -1;
    const auto start = std::chrono::steady_clock::now();
    const int r = poll(p.data(), p.size(), timeout_us < 0 ? -1 : int(std::min<long long>((timeout_us + 999) / 1000, INT_MAX)));
    if (r < 0) return r;
    int bits = 0;
    for (const auto& x : p) {
        if (x.revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
        auto set = [&](int k) { out[k][size_t(x.fd) / NFDBITS] |= 1ul << (x.fd % NFDBITS); ++bits; };
        if ((x.events & POLLIN) && (x.revents & (POLLIN | POLLHUP | POLLERR))) set(0);
        if ((x.events & POLLOUT) && (x.revents & (POLLOUT | POLLERR))) set(1);
        if ((x.events & POLLPRI) && (x.revents & POLLPRI)) set(2);
    }
    for (int k = 0; k < 3; ++k)
        if (sets[k]) std::memcpy(sets[k]->fds_bits, out[k].data(), words * sizeof(__fd_mask));
    if (tv) {
        const long long spent = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        const long long left = std::max<long long>(timeout_us - spent, 0);
        *tv = timeval{time_t(left / 1000000), suseconds_t(left % 1000000)};
    }
    return bits;
}

// epoll_ctl on a usnet socket registers its eventfd under a tag of ours (see ep_translate).
int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    REAL(epoll_ctl);
    const int u = usnet_fd(fd);
    if (u < 0) return real_epoll_ctl(epfd, op, fd, ev);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    enable_signals(r);
    EpollTable& t = epolls();
    const auto key = std::make_pair(epfd, fd);
    if (op == EPOLL_CTL_DEL) {
        const int ret = real_epoll_ctl(epfd, op, fd, ev);
        if (ret == 0)
            if (auto k = t.by_key.find(key); k != t.by_key.end()) ep_erase(t, k->second);
        return ret;
    }
    // Anything the kernel refuses before reading the event (or cannot read it) stays its answer.
    if ((op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD) || !readable(ev, sizeof *ev)) return real_epoll_ctl(epfd, op, fd, ev);
    uint64_t tag;
    if (op == EPOLL_CTL_ADD) {
        tag = kEpTagBase | (t.next++ & 0xffffffffull);
    } else {
        auto k = t.by_key.find(key);
        if (k == t.by_key.end()) return real_epoll_ctl(epfd, op, fd, ev);
        tag = k->second;
    }
    epoll_event kev = *ev;
    kev.events = ep_kernel_events(ev->events);
    kev.data.u64 = tag;
    const int ret = real_epoll_ctl(epfd, op, fd, &kev);
    if (ret != 0) return ret;
    if (op == EPOLL_CTL_ADD) {
        t.by_key[key] = tag;
        ++t.count[epfd];
    }
    t.by_tag[tag] = EpItem{epfd, fd, u, ev->events, ev->data};
    g_epoll_used.store(true, std::memory_order_release);
    if (g_tracing.load(std::memory_order_relaxed)) {
        const char* opname = op == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : "EPOLL_CTL_MOD";
        char ev_hex[16];
        std::snprintf(ev_hex, sizeof ev_hex, "%#x", ev->events);
        t_shown_fd = fd;
        t_shown_u = u;
        r.stack().trace_shim_call(usnet::ShimTrace::EpollCtl, "epoll_ctl",
                                  "epoll_ctl(" + std::to_string(epfd) + ", " + opname + ", " + std::to_string(fd) + ", " + ev_hex + ") = 0",
                                  0, u, {std::string(opname), std::to_string(fd), ev_hex});
    }
    return 0;
}

int epoll_wait(int epfd, epoll_event* ev, int maxevents, int timeout) {
    REAL(epoll_wait);
    return ep_wait(epfd, ev, timeout < 0 ? -1 : timeout * 1000000ll, [&](long long ns) {
        return real_epoll_wait(epfd, ev, maxevents, ns < 0 ? -1 : int((ns + 999999) / 1000000));
    });
}
int epoll_pwait(int epfd, epoll_event* ev, int maxevents, int timeout, const sigset_t* mask) {
    REAL(epoll_pwait);
    return ep_wait(epfd, ev, timeout < 0 ? -1 : timeout * 1000000ll, [&](long long ns) {
        return real_epoll_pwait(epfd, ev, maxevents, ns < 0 ? -1 : int((ns + 999999) / 1000000), mask);
    });
}
int epoll_pwait2(int epfd, epoll_event* ev, int maxevents, const timespec* ts, const sigset_t* mask) {
    REAL(epoll_pwait2);
    if (ts && (!readable(ts, sizeof *ts) || ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
        return real_epoll_pwait2(epfd, ev, maxevents, ts, mask);  // the kernel's EFAULT or EINVAL
    return ep_wait(epfd, ev, ts ? ts->tv_sec * 1000000000ll + ts->tv_nsec : -1, [&](long long ns) {
        if (ns < 0) return real_epoll_pwait2(epfd, ev, maxevents, nullptr, mask);
        const timespec left{time_t(ns / 1000000000), long(ns % 1000000000)};
        return real_epoll_pwait2(epfd, ev, maxevents, &left, mask);
    });
}

// SIGSEGV and SIGBUS: once the probe handler is installed it stays; the program's own
// actions are recorded and chained to (see probe_handler).
int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
    static sigaction_fn* real_sa = real<sigaction_fn>("sigaction");
    const int slot = fault_slot(sig);
    if (slot < 0) return real_sa(sig, act, old);
    if (g_probe_installed.load(std::memory_order_acquire) &&
        ((act && !readable(act, sizeof *act)) || (old && !writable(old, sizeof *old))))
        return efault<int>();
    std::lock_guard<std::mutex> g(g_sig_mu);
    if (!g_probe_installed.load(std::memory_order_relaxed)) return real_sa(sig, act, old);
    if (old) *old = g_user_act[slot];
    if (act) g_user_act[slot] = *act;
    return 0;
}
sighandler_t signal(int sig, sighandler_t h) {
    REAL(signal);
    if (fault_slot(sig) < 0 || !g_probe_installed.load(std::memory_order_acquire)) return real_signal(sig, h);
    struct sigaction a{}, old{};
    a.sa_handler = h;
    sigemptyset(&a.sa_mask);
    sigaddset(&a.sa_mask, sig);
    a.sa_flags = SA_RESTART;  // glibc's signal(): BSD semantics
    if (sigaction(sig, &a, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

int dup(int fd) {
    REAL(dup);
    if (usnet_fd(fd) < 0) return real_dup(fd);
    return dup_usnet(fd, -1, 1, 0);
}
int dup2(int fd, int nfd) {
    REAL(dup2);
    if (usnet_fd(fd) < 0) {
        if (usnet_fd(nfd) >= 0 && fd != nfd) close(nfd);
        return real_dup2(fd, nfd);
    }
    return dup_usnet(fd, nfd, 2, 0);
}
int dup3(int fd, int nfd, int flags) {
    REAL(dup3);
    if (usnet_fd(fd) < 0) {
        if (usnet_fd(nfd) >= 0 && fd != nfd) close(nfd);
        return real_dup3(fd, nfd, flags);
    }
    return dup_usnet(fd, nfd, 3, flags);
}

// ppoll/pselect: the signal mask is applied around the wait, as the kernel would.
int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
    REAL(ppoll);
    if (!g_active.load(std::memory_order_acquire) || n > nfds_t(INT_MAX) / sizeof(pollfd) || !writable(fds, n * sizeof(pollfd)) ||
        (ts && !readable(ts, sizeof *ts)))
        return real_ppoll(fds, n, ts, mask);
    bool any = false;
    for (nfds_t i = 0; i < n && !any; ++i) any = fds[i].fd >= 0 && usnet_fd(fds[i].fd) >= 0;
    if (!any) return real_ppoll(fds, n, ts, mask);
    sigset_t old;
    if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
    const int timeout = ts ? int(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1;
    const int r = poll(fds, n, timeout);
    const int e = errno;
    if (mask) pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = e;
    return r;
}
int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return ppoll(fds, n, ts, mask);
}
int pselect(int n, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
    REAL(pselect);
    bool fault = false;
    if ((ts && !readable(ts, sizeof *ts)) || !select_wants_usnet(n, rd, wr, ex, &fault)) return real_pselect(n, rd, wr, ex, ts, mask);
    sigset_t old;
    if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
    timeval tv{}, *tvp = nullptr;
    if (ts) {
        tv = timeval{ts->tv_sec, ts->tv_nsec / 1000};
        tvp = &tv;
    }
    const int r = select(n, rd, wr, ex, tvp);
    const int e = errno;
    if (mask) pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = e;
    return r;
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return poll(fds, n, timeout);
}

}  // extern "C"
