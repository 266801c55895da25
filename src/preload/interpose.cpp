// libusnet-preload.so: interposes libc's socket calls so an unmodified program's IPv4
// datagram sockets live in usnet. No protocol logic here: each call is translated to the
// Stack call of the same name (ROUTE below: look the descriptor up, call the stack under
// the runtime lock, explain a failure), everything else goes to the real libc.
//
// A usnet socket occupies a real descriptor number (an eventfd), so descriptor numbering,
// close-on-exec and FD_SETSIZE behave as programs expect.
#include "shim.hpp"

#include <net/if.h>

namespace usnet::shim {

// Runs the usnet call under the lock, or returns the real call's result.
// (One lock for the lookup and the call: this is every datagram's path.)
#define ROUTE(fd, usnet_call, real_call)                                 \
    do {                                                                 \
        if (fd < 0 || !g_active.load(std::memory_order_acquire)) return real_call; \
        Runtime& r_ = runtime();                                         \
        std::unique_lock<usnet::CallLock> g_(r_.mu);                \
        const int u = r_.fds.lookup(fd);                                 \
        if (u < 0) {                                                     \
            g_.unlock();                                                 \
            return real_call;                                            \
        }                                                                \
        t_shim_fault = false;                                            \
        t_shown_fd = fd;                                                 \
        t_shown_u = u;                                                   \
        if (g_client.load(std::memory_order_relaxed)) {                  \
            Remote& st = remote(); /* the keeper explains its failures */ \
            auto ret_ = usnet_call;                                      \
            if (t_shim_fault) return explained_fault(ret_, fd, __func__); \
            return ret_;                                                 \
        }                                                                \
        usnet::Stack& st = r_.stack();                                   \
        auto ret_ = usnet_call;                                          \
        if (g_signal.load(std::memory_order_relaxed)) sync_signals(r_);  \
        if (t_shim_fault) return explained_fault(ret_, fd, __func__);    \
        return explained(ret_, fd);                                      \
    } while (0)

}  // namespace usnet::shim

using namespace usnet::shim;

namespace usnet::shim {

// An interface ioctl (SIOCGIFCONF, SIOCGIF*, SIOCSIF*) on a socket the kernel owns (AF_UNIX,
// AF_NETLINK, AF_INET6, TCP...): Linux answers it on every family through dev_ioctl, so the
// program must see usnet's interfaces there too. Other descriptors keep the kernel's answer.
bool kernel_socket_if_ioctl(int fd, unsigned long req, void* arg, int* ret) {
    if (fd < 0 || _IOC_TYPE(req) != 0x89 || usnet_fd(fd) >= 0) return false;
    // While the world is being built, its own TAP queries go to the kernel; a program's
    // first interface ioctl builds it (below) and is answered from it.
    if (t_building_world) return false;
    NATIVE(getsockopt);
    int family = 0;
    socklen_t len = sizeof family;
    const int e = errno;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) {  // ENOTSOCK: not a socket
        errno = e;
        return false;
    }
    if (!usnet::Stack::is_interface_ioctl(family, req)) return false;
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    t_shim_fault = false;
    t_shown_fd = fd;
    t_shown_u = -1;
    void* a = ioctl_arg(req, arg);
    *ret = g_client.load() ? remote().dev_ioctl(family, req, a) : explained(r.stack().dev_ioctl(family, req, a), fd);
    return true;
}

// bind on a socket the kernel owns (TCP, raw): the program's addresses are usnet's, which
// the kernel's namespace lacks, so a bind to one fails there with EADDRNOTAVAIL; a daemon
// that binds every protocol to its interfaces' addresses (dnsmasq --bind-interfaces) then
// exits. Bound with IP_FREEBIND instead (then cleared, so getsockopt reads as before), such a
// socket stays as unreachable as one bound to the wildcard; an address usnet lacks too still
// fails as on Linux.
int kernel_bind(int fd, const sockaddr* a, socklen_t l) {
    NATIVE(bind);
    NATIVE(getsockopt);
    NATIVE(setsockopt);
    const int r = real_bind(fd, a, l);
    if (r == 0 || errno != EADDRNOTAVAIL || !g_active.load(std::memory_order_acquire) || l < sizeof(sockaddr_in) ||
        a->sa_family != AF_INET)
        return r;
    int family = 0;
    socklen_t len = sizeof family;
    if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0 || family != AF_INET) return errno = EADDRNOTAVAIL, r;
    const in_addr want = reinterpret_cast<const sockaddr_in*>(a)->sin_addr;
    ifreq ifr[64];
    ifconf ic{};
    ic.ifc_len = sizeof ifr;
    ic.ifc_req = ifr;
    {
        Runtime& rt = runtime();
        std::lock_guard<usnet::CallLock> g(rt.mu);
        const int q = g_client.load() ? remote().dev_ioctl(AF_INET, SIOCGIFCONF, &ic)
                                      : rt.stack().dev_ioctl(AF_INET, SIOCGIFCONF, &ic);
        if (q != 0) ic.ifc_len = 0;
    }
    bool ours = false;
    for (size_t i = 0; i < size_t(ic.ifc_len) / sizeof(ifreq); ++i)
        ours = ours || reinterpret_cast<const sockaddr_in*>(&ifr[i].ifr_addr)->sin_addr.s_addr == want.s_addr;
    const int on = 1, off = 0;
    if (!ours || real_setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof on) != 0) return errno = EADDRNOTAVAIL, r;
    const int again = real_bind(fd, a, l);
    const int e = errno;
    real_setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &off, sizeof off);
    errno = e;
    return again;
}

}  // namespace usnet::shim

// The interposers are the only symbols the shim exports (it is built with hidden visibility).
#pragma GCC visibility push(default)
extern "C" {

// An IPv4 datagram pair is usnet's to refuse (EOPNOTSUPP, after socket()'s own checks).
int socketpair(int domain, int type, int protocol, int sv[2]) {
    NATIVE(socketpair);
    if (!is_usnet_socket(domain, type, protocol)) return real_socketpair(domain, type, protocol, sv);
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    return explained(r.stack().socketpair(domain, type, protocol, sv), -1);
}

int socket(int domain, int type, int protocol) {
    NATIVE(socket);
    if (!is_usnet_socket(domain, type, protocol)) return real_socket(domain, type, protocol);
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    // The descriptor first, so a trace names it; the stack's own checks still decide the
    // errno before a full descriptor table does (as __sys_socket checks before sock_map_fd).
    const int fd = eventfd(0, EFD_NONBLOCK | ((type & SOCK_CLOEXEC) ? EFD_CLOEXEC : 0));
    const int fd_err = errno;
    t_new_socket_fd = fd;
    t_shown_fd = fd;
    const bool client = g_client.load();
    // (A client needs the eventfd to hand the keeper: without one, the table's errno.)
    const int u = !client ? r.stack().socket(domain, type, protocol) : fd < 0 ? (errno = fd_err, -1)
                                                                              : remote().socket(domain, type, protocol, fd);
    t_new_socket_fd = -1;
    if (u < 0) {
        if (fd >= 0) {
            NATIVE(close);
            const int e = errno;
            real_close(fd);
            errno = e;
        }
        return client ? -1 : explained(-1, -1);
    }
    if (fd < 0) {
        r.stack().close(u);
        errno = fd_err;
        return -1;
    }
    r.fds.set(fd, u);
    r.refs[u] = 1;
    r.signalled[fd] = false;
    g_active.store(true, std::memory_order_release);
    return fd;
}

int close(int fd) {
    NATIVE(close);
    const int u = usnet_fd(fd);
    if (u >= 0 && in_vm_child()) return real_close(fd);  // (its descriptors are its own)
    if (u < 0) {
        if (shim_own_fd(fd) && !in_vm_child()) return errno = EBADF, -1;  // (not the program's to close)
        // An epoll instance closed: its usnet items go with it.
        if (fd >= 0 && g_epoll_used.load(std::memory_order_acquire)) {
            Runtime& r = runtime();
            std::lock_guard<usnet::CallLock> g(r.mu);
            if (epolls().count.count(fd) && !in_vm_child()) ep_forget([fd](const EpItem& e) { return e.epfd == fd; });
        }
        return real_close(fd);
    }
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
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
        if (g_client.load()) remote().close(u);
        else r.stack().close(u);
        if (g_epoll_used.load(std::memory_order_relaxed)) ep_forget([u](const EpItem& e) { return e.u == u; });
        if (g_signal.load(std::memory_order_relaxed)) sync_signals(r);
    }
    return real_close(fd);
}

// dup*: a new real descriptor naming the same usnet socket.
static int dup_usnet(int oldfd, int newfd_or_min, int how, int flags) {
    NATIVE(dup);
    NATIVE(dup2);
    NATIVE(dup3);
    NATIVE(fcntl);
    if (in_vm_child()) {  // (its descriptors are its own; our tables are its parent's)
        switch (how) {
            case 1: return real_dup(oldfd);
            case 2: return real_dup2(oldfd, newfd_or_min);
            case 3: return real_dup3(oldfd, newfd_or_min, flags);
            default: return real_fcntl(oldfd, flags, newfd_or_min);
        }
    }
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    const int u = r.fds.lookup(oldfd);
    if (u < 0) return errno = EBADF, -1;  // closed by another thread meanwhile
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
    r.fds.set(nfd, u);
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
    ROUTE(fd, st.bind(u, addr_in_bad(a, l) ? nullptr : a, l), kernel_bind(fd, a, l));
}
int connect(int fd, const sockaddr* a, socklen_t l) {
    NATIVE(connect);
    ROUTE(fd, st.connect(u, addr_in_bad(a, l) ? nullptr : a, l), real_connect(fd, a, l));
}
int getsockname(int fd, sockaddr* a, socklen_t* l) {
    NATIVE(getsockname);
    ROUTE(fd, getname_checked([&](sockaddr* x, socklen_t* y) { return st.getsockname(u, x, y); }, a, l), real_getsockname(fd, a, l));
}
int getpeername(int fd, sockaddr* a, socklen_t* l) {
    NATIVE(getpeername);
    ROUTE(fd, getname_checked([&](sockaddr* x, socklen_t* y) { return st.getpeername(u, x, y); }, a, l), real_getpeername(fd, a, l));
}
ssize_t send(int fd, const void* b, size_t n, int f) {
    NATIVE(send);
    ROUTE(fd, st.send(u, in_buf(b, n), n, f), real_send(fd, b, n, f));
}
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    NATIVE(sendto);
    ROUTE(fd, (to && addr_in_bad(to, tl) ? efault<ssize_t>() : st.sendto(u, in_buf(b, n), n, f, to, tl)),
          real_sendto(fd, b, n, f, to, tl));
}
ssize_t sendmsg(int fd, const msghdr* m, int f) {
    NATIVE(sendmsg);
    ROUTE(fd, sendmsg_checked(st, u, m, f), real_sendmsg(fd, m, f));
}
int sendmmsg(int fd, mmsghdr* m, unsigned int v, int f) {
    NATIVE(sendmmsg);
    ROUTE(fd, sendmmsg_checked(st, u, m, v, f), real_sendmmsg(fd, m, v, f));
}
ssize_t recv(int fd, void* b, size_t n, int f) {
    NATIVE(recv);
    ROUTE(fd, recv_into(b, n, f, [&](void* x, size_t m) { return st.recv(u, x, m, f); }), real_recv(fd, b, n, f));
}
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    NATIVE(recvfrom);
    ROUTE(fd, recv_into(b, n, f, [&](void* x, size_t m) { return recvfrom_checked(st, u, x, m, f, from, fl); }),
          real_recvfrom(fd, b, n, f, from, fl));
}
ssize_t recvmsg(int fd, msghdr* m, int f) {
    NATIVE(recvmsg);
    ROUTE(fd, recvmsg_checked(st, u, m, f), real_recvmsg(fd, m, f));
}
int shutdown(int fd, int how) {
    NATIVE(shutdown);
    ROUTE(fd, st.shutdown(u, how), real_shutdown(fd, how));
}
int setsockopt(int fd, int lv, int n, const void* v, socklen_t l) {
    NATIVE(setsockopt);
    ROUTE(fd, setsockopt_checked(st, u, lv, n, v, l),
          real_setsockopt(fd, lv, n, v, l));
}
int getsockopt(int fd, int lv, int n, void* v, socklen_t* l) {
    NATIVE(getsockopt);
    ROUTE(fd, getsockopt_checked(st, u, lv, n, v, l), real_getsockopt(fd, lv, n, v, l));
}
ssize_t read(int fd, void* b, size_t n) {
    NATIVE(read);
    // sock_read_iter: reading 0 bytes returns 0 and takes nothing.
    ROUTE(fd, n == 0 ? read_nothing(st, fd, u) : recv_into(b, n, 0, [&](void* x, size_t m) { return traced_as("read"), st.recv(u, x, m, 0); }),
          real_read(fd, b, n));
}
ssize_t write(int fd, const void* b, size_t n) {
    NATIVE(write);
    ROUTE(fd, (traced_as("write"), st.send(u, in_buf(b, n), n, 0)), real_write(fd, b, n));
}
int recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t) {
    NATIVE(recvmmsg);
    ROUTE(fd, recvmmsg_checked(st, u, m, v, f, t), real_recvmmsg(fd, m, v, f, t));
}
ssize_t readv(int fd, const iovec* iov, int n) {
    NATIVE(readv);
    ROUTE(fd, (traced_as("readv"), rw_iov(st, u, iov, n, true)), real_readv(fd, iov, n));
}
ssize_t writev(int fd, const iovec* iov, int n) {
    NATIVE(writev);
    ROUTE(fd, (traced_as("writev"), rw_iov(st, u, iov, n, false)), real_writev(fd, iov, n));
}
// Stream calls on a usnet socket get what Linux gives a datagram socket.
int listen(int fd, int backlog) {
    NATIVE(listen);
    ROUTE(fd, st.listen(u, backlog), real_listen(fd, backlog));
}
int accept(int fd, sockaddr* a, socklen_t* l) {
    NATIVE(accept);
    ROUTE(fd, st.accept(u, a, l), real_accept(fd, a, l));
}
int accept4(int fd, sockaddr* a, socklen_t* l, int flags) {
    NATIVE(accept4);
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
    NATIVE(ioctl);
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    int kr;
    if (kernel_socket_if_ioctl(fd, req, arg, &kr)) return kr;
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
    NATIVE(fcntl);
    const int u = usnet_fd(fd);
    // Descriptor-level commands stay with the real descriptor (close-on-exec); a dup also
    // names the usnet socket.
    if (u >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) return dup_usnet(fd, int(arg), 0, cmd);
    if (u < 0 || cmd == F_GETFD || cmd == F_SETFD) return real_fcntl(fd, cmd, arg);
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    if (g_client.load()) return remote().fcntl(u, cmd, arg);
    return explained(r.stack().fcntl(u, cmd, arg), fd);
}

int dup(int fd) {
    NATIVE(dup);
    if (usnet_fd(fd) < 0) return real_dup(fd);
    return dup_usnet(fd, -1, 1, 0);
}
int dup2(int fd, int nfd) {
    NATIVE(dup2);
    if (usnet_fd(fd) < 0) {
        if (usnet_fd(nfd) >= 0 && fd != nfd) close(nfd);
        return real_dup2(fd, nfd);
    }
    return dup_usnet(fd, nfd, 2, 0);
}
int dup3(int fd, int nfd, int flags) {
    NATIVE(dup3);
    if (usnet_fd(fd) < 0) {
        if (usnet_fd(nfd) >= 0 && fd != nfd) close(nfd);
        return real_dup3(fd, nfd, flags);
    }
    return dup_usnet(fd, nfd, 3, flags);
}

}  // extern "C"
#pragma GCC visibility pop
