// libusnet-preload.so: interposes libc's socket calls so an unmodified program's IPv4
// datagram sockets live in usnet. No protocol logic here: each call is translated to the
// Stack call of the same name, everything else goes to the real libc.
//
// A usnet socket occupies a real descriptor number (an eventfd), so descriptor numbering,
// close-on-exec and FD_SETSIZE behave as programs expect.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "usnet/sim.hpp"

namespace {

template <class F>
F* real(const char* name) {
    return reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}
#define REAL(fn) static auto* real_##fn = real<decltype(::fn)>(#fn)

// The process's stack: the default world, created on the first socket call.
struct Runtime {
    std::recursive_mutex mu;
    usnet::sim::DefaultWorld world;
    std::unordered_map<int, int> fds;  // real descriptor -> usnet descriptor
    Runtime() {
        const char* seed = std::getenv("USNET_SEED");
        world = usnet::sim::make_default_world(seed ? std::strtoull(seed, nullptr, 10) : 1);
        // A real program lives in real time: blocking calls wait, releasing mu meanwhile.
        world.net->set_realtime(&mu);
    }
    usnet::Stack& stack() { return *world.host; }
};

Runtime& runtime() {
    // Never destroyed: programs call socket functions from atexit handlers and destructors.
    static Runtime* r = new Runtime;
    return *r;
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

bool is_usnet_socket(int domain, int type, int protocol) {
    return domain == AF_INET && (type & 0xf) == SOCK_DGRAM &&
           (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_ICMP);
}

// USNET_EXPLAIN=1 (or =FILE): one line per failing usnet call saying which Linux rule
// fired, on stderr (or appended to FILE). What the program sees does not change.
template <class R>
R explained(R ret, int fd) {
    static const char* where = std::getenv("USNET_EXPLAIN");
    if (ret >= 0 || !where || !*where || std::strcmp(where, "0") == 0) return ret;
    const int saved = errno;
    const std::string line = "usnet: " + usnet::last_error_text(fd) + "\n";
    static int out = -1;
    if (out < 0) {
        REAL(open);
        const bool to_file = std::strcmp(where, "1") != 0;
        out = to_file ? real_open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
        if (out < 0) out = STDERR_FILENO;
    }
    REAL(write);
    (void)!real_write(out, line.data(), line.size());
    errno = saved;
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
        return explained(usnet_call, fd);                                \
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
    r.stack().close(u);
    return real_close(fd);
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

int fcntl(int fd, int cmd, ...) {
    REAL(fcntl);
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    const int u = usnet_fd(fd);
    // Descriptor-level commands stay with the real descriptor (close-on-exec, dup).
    if (u < 0 || cmd == F_GETFD || cmd == F_SETFD || cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return real_fcntl(fd, cmd, arg);
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
    errno = ENOSYS;  // mixed usnet/kernel poll sets are not supported yet
    return -1;
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return poll(fds, n, timeout);
}

}  // extern "C"
