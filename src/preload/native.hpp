// The kernel's own calls, made from the shim's code. With the system-call trap on (trap.cpp),
// a socket, descriptor or poll system call made from the program's or libc's code traps; the
// shim's never does, since its code lies outside the trapped ranges. So the shim reaches the
// kernel through `gate` below, never through libc's wrappers of those calls (their system
// call instruction is in libc, where it would trap). Same signatures and errno convention
// as libc's; the blocking ones are cancellation points as libc's are.
#pragma once
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>

namespace usnet::shim {

// One system call, the kernel's convention: the result, or -errno.
extern "C" long usnet_gate(long nr, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0);

namespace native {
int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int sv[2]);
int bind(int fd, const sockaddr* a, socklen_t l);
int connect(int fd, const sockaddr* a, socklen_t l);
int listen(int fd, int backlog);
int accept(int fd, sockaddr* a, socklen_t* l);
int accept4(int fd, sockaddr* a, socklen_t* l, int flags);
int getsockname(int fd, sockaddr* a, socklen_t* l);
int getpeername(int fd, sockaddr* a, socklen_t* l);
ssize_t send(int fd, const void* b, size_t n, int f);
ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl);
ssize_t sendmsg(int fd, const msghdr* m, int f);
int sendmmsg(int fd, mmsghdr* m, unsigned int v, int f);
ssize_t recv(int fd, void* b, size_t n, int f);
ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl);
ssize_t recvmsg(int fd, msghdr* m, int f);
int recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t);
int shutdown(int fd, int how);
int setsockopt(int fd, int lv, int n, const void* v, socklen_t l);
int getsockopt(int fd, int lv, int n, void* v, socklen_t* l);
int ioctl(int fd, unsigned long req, void* arg);
int fcntl(int fd, int cmd, long arg);
int close(int fd);
ssize_t read(int fd, void* b, size_t n);
ssize_t write(int fd, const void* b, size_t n);
ssize_t readv(int fd, const iovec* v, int n);
ssize_t writev(int fd, const iovec* v, int n);
int dup(int fd);
int dup2(int fd, int nfd);
int dup3(int fd, int nfd, int flags);
int poll(pollfd* fds, nfds_t n, int timeout);
int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask);
int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv);
int pselect(int n, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask);
int epoll_ctl(int epfd, int op, int fd, epoll_event* ev);
int epoll_wait(int epfd, epoll_event* ev, int maxevents, int timeout);
int epoll_pwait(int epfd, epoll_event* ev, int maxevents, int timeout, const sigset_t* mask);
int epoll_pwait2(int epfd, epoll_event* ev, int maxevents, const timespec* ts, const sigset_t* mask);
// The calling thread's signal mask, as pthread_sigmask (glibc's internal signals stay unblocked).
int set_sigmask(int how, const sigset_t* set, sigset_t* old);
}  // namespace native

// `REAL(close)` names libc's close; `NATIVE(close)` the same call made through the gate.
#define NATIVE(fn) static auto* const real_##fn = &::usnet::shim::native::fn

}  // namespace usnet::shim
