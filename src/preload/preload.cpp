// libusnet-preload.so: interposes libc's socket calls so an unmodified program's IPv4
// datagram sockets live in usnet. No protocol logic here: each call is translated to the
// Stack call of the same name, everything else goes to the real libc.
//
// A usnet socket occupies a real descriptor number (an eventfd), so descriptor numbering,
// close-on-exec and FD_SETSIZE behave as programs expect.
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
void start_stat_server();
extern int g_stat_fd;

// The process's stack: the default world, created on the first socket call.
struct Runtime {
    std::recursive_mutex mu;
    usnet::sim::DefaultWorld world;
    std::unordered_map<int, int> fds;       // real descriptor -> usnet descriptor
    std::unordered_map<int, int> refs;      // usnet descriptor -> real descriptors naming it (dup)
    std::unordered_map<int, bool> signalled;  // real descriptor -> its eventfd holds a token
    Runtime() {
        const char* seed = std::getenv("USNET_SEED");
        // Buffer limits and port range as this machine's kernel has them.
        world = usnet::sim::make_default_world(seed ? std::strtoull(seed, nullptr, 10) : 1, usnet::config_from_host());
        // A real program lives in real time: blocking calls wait, releasing mu meanwhile.
        world.net->set_realtime(&mu);
        // --explain also reports each dropped datagram; --stat prints the counters at exit.
        if (explain_target())
            world.host->set_drop_observer([](usnet::DropReason, const std::string& line) { write_explain("usnet: " + line + "\n"); });
        if (const char* st = std::getenv("USNET_STAT"); st && *st && std::strcmp(st, "0") != 0) std::atexit(print_stats);
        // fork: hold the lock across it so the child's copy of the stack is consistent; the
        // child then owns that copy (its inherited sockets keep working, apart from the
        // parent's).
        // (The child cannot unlock a recursive mutex its parent's thread locked: a new one.)
        pthread_atfork([] { runtime().mu.lock(); }, [] { runtime().mu.unlock(); }, [] {
            new (&runtime().mu) std::recursive_mutex();
            // The child answers `usnet stat` under its own pid.
            if (g_stat_fd >= 0) {
                REAL(close);
                real_close(g_stat_fd);
                g_stat_fd = -1;
            }
            start_stat_server();
        });
        start_stat_server();
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

// `usnet stat PID`: a thread serves the counters on the abstract Unix socket
// "@usnet-stat-PID" of the program's network namespace.
int g_stat_fd = -1;

// The listening socket is made synchronously and moved to a high descriptor number, so
// the program's own descriptors are numbered exactly as on the kernel.
int open_stat_listener() {
    REAL(socket);
    REAL(bind);
    REAL(listen);
    REAL(close);
    REAL(fcntl);
    const int fd = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

void serve_stats(int fd) {
    REAL(accept4);
    REAL(write);
    REAL(close);
    for (;;) {
        const int c = real_accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR) continue;
            return;
        }
        std::string text;
        {
            Runtime& r = runtime();
            std::lock_guard<std::recursive_mutex> g(r.mu);
            text = usnet::counters_text(r.stack().counters());
        }
        (void)!real_write(c, text.data(), text.size());
        real_close(c);
    }
}

void start_stat_server() {
    g_stat_fd = open_stat_listener();
    if (g_stat_fd >= 0) std::thread(serve_stats, g_stat_fd).detach();
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
        if (want == have) continue;
        uint64_t v = 1;
        if (want) (void)!real_write(fd, &v, sizeof v);
        else (void)!real_read(fd, &v, sizeof v);  // drains the token (non-blocking eventfd)
        have = want;
    }
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
        if (out < 0) out = STDERR_FILENO;
    }
    REAL(write);
    (void)!real_write(out, line.data(), line.size());
    errno = saved;
}

template <class R>
R explained(R ret, int fd) {
    if (ret >= 0 || !explain_target()) return ret;
    write_explain("usnet: " + runtime().stack().explain_last_error(fd) + "\n");
    return ret;
}

// Runs the usnet call under the lock, or returns the real call's result.
#define ROUTE(fd, usnet_call, real_call)                                 \
    do {                                                                 \
        const int u_ = usnet_fd(fd);                                     \
        if (u_ < 0) return real_call;                                    \
        Runtime& r_ = runtime();                                         \
        std::lock_guard<std::recursive_mutex> g_(r_.mu);                 \
        usnet::Stack& st = r_.stack();                                   \
        const int u = u_;                                                \
        auto ret_ = usnet_call;                                          \
        if (g_signal.load(std::memory_order_relaxed)) sync_signals(r_);  \
        return explained(ret_, fd);                                      \
    } while (0)

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) {
    REAL(socket);
    if (!is_usnet_socket(domain, type, protocol)) return real_socket(domain, type, protocol);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    const int u = r.stack().socket(domain, type, protocol);
    if (u < 0) return explained(-1, -1);
    const int fd = eventfd(0, EFD_NONBLOCK | ((type & SOCK_CLOEXEC) ? EFD_CLOEXEC : 0));
    if (fd < 0) {
        const int e = errno;
        r.stack().close(u);
        errno = e;
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
    if (u < 0) return real_close(fd);
    Runtime& r = runtime();
    std::lock_guard<std::recursive_mutex> g(r.mu);
    r.fds.erase(fd);
    r.signalled.erase(fd);
    // The socket goes with the last descriptor naming it, as a file does.
    if (--r.refs[u] == 0) {
        r.refs.erase(u);
        r.stack().close(u);
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
    return nfd;
}

int bind(int fd, const sockaddr* a, socklen_t l) {
    REAL(bind);
    ROUTE(fd, st.bind(u, a, l), real_bind(fd, a, l));
}
int connect(int fd, const sockaddr* a, socklen_t l) {
    REAL(connect);
    ROUTE(fd, st.connect(u, a, l), real_connect(fd, a, l));
}
int getsockname(int fd, sockaddr* a, socklen_t* l) {
    REAL(getsockname);
    ROUTE(fd, st.getsockname(u, a, l), real_getsockname(fd, a, l));
}
int getpeername(int fd, sockaddr* a, socklen_t* l) {
    REAL(getpeername);
    ROUTE(fd, st.getpeername(u, a, l), real_getpeername(fd, a, l));
}
ssize_t send(int fd, const void* b, size_t n, int f) {
    REAL(send);
    ROUTE(fd, st.send(u, b, n, f), real_send(fd, b, n, f));
}
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    REAL(sendto);
    ROUTE(fd, st.sendto(u, b, n, f, to, tl), real_sendto(fd, b, n, f, to, tl));
}
ssize_t sendmsg(int fd, const msghdr* m, int f) {
    REAL(sendmsg);
    ROUTE(fd, st.sendmsg(u, m, f), real_sendmsg(fd, m, f));
}
int sendmmsg(int fd, mmsghdr* m, unsigned int v, int f) {
    REAL(sendmmsg);
    ROUTE(fd, st.sendmmsg(u, m, v, f), real_sendmmsg(fd, m, v, f));
}
ssize_t recv(int fd, void* b, size_t n, int f) {
    REAL(recv);
    ROUTE(fd, st.recv(u, b, n, f), real_recv(fd, b, n, f));
}
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    REAL(recvfrom);
    ROUTE(fd, st.recvfrom(u, b, n, f, from, fl), real_recvfrom(fd, b, n, f, from, fl));
}
ssize_t recvmsg(int fd, msghdr* m, int f) {
    REAL(recvmsg);
    ROUTE(fd, st.recvmsg(u, m, f), real_recvmsg(fd, m, f));
}
int shutdown(int fd, int how) {
    REAL(shutdown);
    ROUTE(fd, st.shutdown(u, how), real_shutdown(fd, how));
}
int setsockopt(int fd, int lv, int n, const void* v, socklen_t l) {
    REAL(setsockopt);
    ROUTE(fd, st.setsockopt(u, lv, n, v, l), real_setsockopt(fd, lv, n, v, l));
}
int getsockopt(int fd, int lv, int n, void* v, socklen_t* l) {
    REAL(getsockopt);
    ROUTE(fd, st.getsockopt(u, lv, n, v, l), real_getsockopt(fd, lv, n, v, l));
}
ssize_t read(int fd, void* b, size_t n) {
    REAL(read);
    ROUTE(fd, st.recv(u, b, n, 0), real_read(fd, b, n));
}
ssize_t write(int fd, const void* b, size_t n) {
    REAL(write);
    ROUTE(fd, st.send(u, b, n, 0), real_write(fd, b, n));
}
int recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t) {
    REAL(recvmmsg);
    ROUTE(fd, st.recvmmsg(u, m, v, f, t), real_recvmmsg(fd, m, v, f, t));
}
ssize_t readv(int fd, const iovec* iov, int n) {
    REAL(readv);
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(n < 0 ? 0 : n);
    ROUTE(fd, (n < 0 ? (errno = EINVAL, ssize_t(-1)) : st.recvmsg(u, &m, 0)), real_readv(fd, iov, n));
}
ssize_t writev(int fd, const iovec* iov, int n) {
    REAL(writev);
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(n < 0 ? 0 : n);
    ROUTE(fd, (n < 0 ? (errno = EINVAL, ssize_t(-1)) : st.sendmsg(u, &m, 0)), real_writev(fd, iov, n));
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
    ROUTE(fd, st.ioctl(u, req, arg), real_ioctl(fd, req, arg));
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
            for (nfds_t i = 0; i < n; ++i) {
                if (fds[i].fd < 0) continue;
                const int u = usnet_fd(fds[i].fd);
                if (u >= 0) fds[i].revents = short(usnet_mask(r.stack(), u) & (fds[i].events | POLLERR | POLLHUP | POLLNVAL));
                if (fds[i].revents) ++ready;
            }
            sync_signals(r);
        }
        if (ready || waited == 0) return ready;
    }
}

int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
    REAL(select);
    bool any = false;
    for (int fd = 0; fd < n && !any; ++fd)
        if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) && usnet_fd(fd) >= 0) any = true;
    if (!any) return real_select(n, rd, wr, ex, tv);
    // Through poll, which knows usnet sockets: readable, writable, exceptional (error).
    std::vector<pollfd> p;
    for (int fd = 0; fd < n; ++fd) {
        short ev = 0;
        if (rd && FD_ISSET(fd, rd)) ev |= POLLIN;
        if (wr && FD_ISSET(fd, wr)) ev |= POLLOUT;
        if (ex && FD_ISSET(fd, ex)) ev |= POLLPRI;
        if (ev) p.push_back({fd, ev, 0});
    }
    const int timeout = tv ? int(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1;
    const int r = poll(p.data(), p.size(), timeout);
    if (r < 0) return r;
    if (rd) FD_ZERO(rd);
    if (wr) FD_ZERO(wr);
    if (ex) FD_ZERO(ex);
    int bits = 0;
    for (const auto& x : p) {
        if (rd && (x.events & POLLIN) && (x.revents & (POLLIN | POLLHUP | POLLERR))) FD_SET(x.fd, rd), ++bits;
        if (wr && (x.events & POLLOUT) && (x.revents & (POLLOUT | POLLERR))) FD_SET(x.fd, wr), ++bits;
        if (ex && (x.events & POLLPRI) && (x.revents & POLLPRI)) FD_SET(x.fd, ex), ++bits;
    }
    if (tv) *tv = timeval{0, 0};
    return bits;
}

// epoll watches the eventfd that stands for a usnet socket; signalling keeps it truthful.
int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    REAL(epoll_ctl);
    if (usnet_fd(fd) >= 0) {
        Runtime& r = runtime();
        std::lock_guard<std::recursive_mutex> g(r.mu);
        enable_signals(r);
    }
    return real_epoll_ctl(epfd, op, fd, ev);
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
    bool any = false;
    for (int fd = 0; fd < n && !any; ++fd)
        if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) && usnet_fd(fd) >= 0) any = true;
    if (!any) return real_pselect(n, rd, wr, ex, ts, mask);
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
