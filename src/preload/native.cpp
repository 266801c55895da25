// The kernel's own calls from the shim's code, through the gate (see native.hpp).
#include "native.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>

#if defined(__x86_64__)
// The system call instruction the trap never catches: it lies in the shim's text. The CFI
// lets a thread cancelled while blocked here unwind, as through libc's wrappers.
asm(R"(
    .text
    .globl usnet_gate
    .hidden usnet_gate
    .type usnet_gate, @function
usnet_gate:
    .cfi_startproc
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    movq %r8, %r10
    movq %r9, %r8
    movq 8(%rsp), %r9
    syscall
    ret
    .cfi_endproc
    .size usnet_gate, .-usnet_gate
)");
#else
// No trap on other architectures (trap.cpp): libc's syscall() is as good.
extern "C" long usnet_gate(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    const long r = ::syscall(nr, a1, a2, a3, a4, a5, a6);
    return r == -1 ? -errno : r;
}
#endif

namespace usnet::shim::native {
namespace {

long L(const void* p) { return reinterpret_cast<long>(p); }

// The kernel's -errno to libc's -1 and errno.
long libc(long r) {
    if (r < 0 && r > -4096) {
        errno = int(-r);
        return -1;
    }
    return r;
}

// A call that may block is a cancellation point, as libc's wrapper is: asynchronous
// cancellation around the system call (what glibc's LIBC_CANCEL_ASYNC does).
template <class F>
long cancellable(F f) {
    int old;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
    const long r = f();
    pthread_setcanceltype(old, nullptr);
    return libc(r);
}

constexpr long kSigsetSize = _NSIG / 8;

}  // namespace

int socket(int d, int t, int p) { return int(libc(usnet_gate(SYS_socket, d, t, p))); }
int socketpair(int d, int t, int p, int sv[2]) { return int(libc(usnet_gate(SYS_socketpair, d, t, p, L(sv)))); }
int bind(int fd, const sockaddr* a, socklen_t l) { return int(libc(usnet_gate(SYS_bind, fd, L(a), l))); }
int connect(int fd, const sockaddr* a, socklen_t l) {
    return int(cancellable([&] { return usnet_gate(SYS_connect, fd, L(a), l); }));
}
int listen(int fd, int backlog) { return int(libc(usnet_gate(SYS_listen, fd, backlog))); }
int accept(int fd, sockaddr* a, socklen_t* l) { return native::accept4(fd, a, l, 0); }
int accept4(int fd, sockaddr* a, socklen_t* l, int flags) {
    return int(cancellable([&] { return usnet_gate(SYS_accept4, fd, L(a), L(l), flags); }));
}
int getsockname(int fd, sockaddr* a, socklen_t* l) { return int(libc(usnet_gate(SYS_getsockname, fd, L(a), L(l)))); }
int getpeername(int fd, sockaddr* a, socklen_t* l) { return int(libc(usnet_gate(SYS_getpeername, fd, L(a), L(l)))); }
ssize_t send(int fd, const void* b, size_t n, int f) { return native::sendto(fd, b, n, f, nullptr, 0); }
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    return cancellable([&] { return usnet_gate(SYS_sendto, fd, L(b), long(n), f, L(to), tl); });
}
ssize_t sendmsg(int fd, const msghdr* m, int f) {
    return cancellable([&] { return usnet_gate(SYS_sendmsg, fd, L(m), f); });
}
int sendmmsg(int fd, mmsghdr* m, unsigned int v, int f) {
    return int(cancellable([&] { return usnet_gate(SYS_sendmmsg, fd, L(m), v, f); }));
}
ssize_t recv(int fd, void* b, size_t n, int f) { return native::recvfrom(fd, b, n, f, nullptr, nullptr); }
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    return cancellable([&] { return usnet_gate(SYS_recvfrom, fd, L(b), long(n), f, L(from), L(fl)); });
}
ssize_t recvmsg(int fd, msghdr* m, int f) {
    return cancellable([&] { return usnet_gate(SYS_recvmsg, fd, L(m), f); });
}
int recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t) {
    return int(cancellable([&] { return usnet_gate(SYS_recvmmsg, fd, L(m), v, f, L(t)); }));
}
int shutdown(int fd, int how) { return int(libc(usnet_gate(SYS_shutdown, fd, how))); }
int setsockopt(int fd, int lv, int n, const void* v, socklen_t l) {
    return int(libc(usnet_gate(SYS_setsockopt, fd, lv, n, L(v), l)));
}
int getsockopt(int fd, int lv, int n, void* v, socklen_t* l) {
    return int(libc(usnet_gate(SYS_getsockopt, fd, lv, n, L(v), L(l))));
}
int ioctl(int fd, unsigned long req, void* arg) { return int(libc(usnet_gate(SYS_ioctl, fd, long(req), L(arg)))); }
int fcntl(int fd, int cmd, long arg) {
    if (cmd == F_GETOWN) {  // an owner may be a process group (negative): glibc asks F_GETOWN_EX
        f_owner_ex o{};
        const long r = usnet_gate(SYS_fcntl, fd, F_GETOWN_EX, L(&o));
        if (r < 0) return int(libc(r));
        return o.type == F_OWNER_PGRP ? -o.pid : o.pid;
    }
    if (cmd == F_SETLKW || cmd == F_OFD_SETLKW)
        return int(cancellable([&] { return usnet_gate(SYS_fcntl, fd, cmd, arg); }));
    return int(libc(usnet_gate(SYS_fcntl, fd, cmd, arg)));
}
int close(int fd) { return int(cancellable([&] { return usnet_gate(SYS_close, fd); })); }
// (libc's would be trapped on a descriptor number that held a socket: trap.cpp, stdio)
ssize_t read(int fd, void* b, size_t n) { return cancellable([&] { return usnet_gate(SYS_read, fd, L(b), long(n)); }); }
ssize_t write(int fd, const void* b, size_t n) { return cancellable([&] { return usnet_gate(SYS_write, fd, L(b), long(n)); }); }
ssize_t readv(int fd, const iovec* v, int n) { return cancellable([&] { return usnet_gate(SYS_readv, fd, L(v), n); }); }
ssize_t writev(int fd, const iovec* v, int n) { return cancellable([&] { return usnet_gate(SYS_writev, fd, L(v), n); }); }
int dup(int fd) { return int(libc(usnet_gate(SYS_dup, fd))); }
int dup2(int fd, int nfd) { return int(libc(usnet_gate(SYS_dup2, fd, nfd))); }
int dup3(int fd, int nfd, int flags) { return int(libc(usnet_gate(SYS_dup3, fd, nfd, flags))); }
int poll(pollfd* fds, nfds_t n, int timeout) {
    return int(cancellable([&] { return usnet_gate(SYS_poll, L(fds), long(n), timeout); }));
}
int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
    // The kernel writes the time left into its timespec; libc's ppoll leaves the caller's alone.
    timespec t{}, *tp = nullptr;
    if (ts) {
        t = *ts;
        tp = &t;
    }
    return int(cancellable([&] { return usnet_gate(SYS_ppoll, L(fds), long(n), L(tp), L(mask), kSigsetSize); }));
}
int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
    return int(cancellable([&] { return usnet_gate(SYS_select, n, L(rd), L(wr), L(ex), L(tv)); }));
}
int pselect(int n, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
    timespec t{}, *tp = nullptr;
    if (ts) {
        t = *ts;
        tp = &t;
    }
    struct {
        const sigset_t* ss;
        long len;
    } data{mask, kSigsetSize};
    return int(cancellable([&] { return usnet_gate(SYS_pselect6, n, L(rd), L(wr), L(ex), L(tp), L(&data)); }));
}
int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) { return int(libc(usnet_gate(SYS_epoll_ctl, epfd, op, fd, L(ev)))); }
int epoll_wait(int epfd, epoll_event* ev, int maxevents, int timeout) {
    return int(cancellable([&] { return usnet_gate(SYS_epoll_wait, epfd, L(ev), maxevents, timeout); }));
}
int epoll_pwait(int epfd, epoll_event* ev, int maxevents, int timeout, const sigset_t* mask) {
    return int(cancellable([&] { return usnet_gate(SYS_epoll_pwait, epfd, L(ev), maxevents, timeout, L(mask), kSigsetSize); }));
}
int epoll_pwait2(int epfd, epoll_event* ev, int maxevents, const timespec* ts, const sigset_t* mask) {
    return int(cancellable([&] { return usnet_gate(SYS_epoll_pwait2, epfd, L(ev), maxevents, L(ts), L(mask), kSigsetSize); }));
}
int set_sigmask(int how, const sigset_t* set, sigset_t* old) {
    sigset_t s;
    if (set) {
        // glibc's cancellation and set*id signals (32 and 33) are never blocked.
        s = *set;
        s.__val[0] &= ~((1ul << 31) | (1ul << 32));  // (sigdelset refuses them)
        set = &s;
    }
    const long r = usnet_gate(SYS_rt_sigprocmask, how, L(set), L(old), kSigsetSize);
    return r < 0 ? int(-r) : 0;  // pthread_sigmask's convention: the error number
}

}  // namespace usnet::shim::native
