// Socket calls made with syscall(2) only, never through libc's wrappers (as libuv, Go and
// static binaries make them). Each line is a call and what it returned; run on the kernel
// and under `usnet run`, the two outputs must match (raw_syscall_test.sh).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

// The call's result and errno by name, one line.
long show(const char* what, long r) {
    if (r < 0) std::printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else std::printf("%s = %ld\n", what, r);
    return r;
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
}

long S(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) { return syscall(nr, a, b, c, d, e, f); }
template <class T>
long L(T* p) {
    return reinterpret_cast<long>(p);
}

int g_server = -1;
char g_thread_line[128];  // printed after the join: the two threads' lines in a fixed order

void* blocked_receiver(void*) {
    char b[64];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    const long n = S(SYS_recvfrom, g_server, L(b), sizeof b, 0, L(&from), L(&fl));
    std::snprintf(g_thread_line, sizeof g_thread_line, "thread: blocking recvfrom = %ld \"%.*s\"\n", n,
                  int(n > 0 ? n : 0), b);
    return nullptr;
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    const int s = int(show("socket(AF_INET, SOCK_DGRAM)", S(SYS_socket, AF_INET, SOCK_DGRAM, 0)));
    show("getpeername before connect", S(SYS_getpeername, s, 0, 0));
    sockaddr_in a = loopback(0);
    show("bind 127.0.0.1:0", S(SYS_bind, s, L(&a), sizeof a));
    show("bind again", S(SYS_bind, s, L(&a), sizeof a));
    socklen_t l = sizeof a;
    show("getsockname", S(SYS_getsockname, s, L(&a), L(&l)));
    const uint16_t port = ntohs(a.sin_port);
    std::printf("bound to a port: %d\n", port != 0);
    show("send without a peer", S(SYS_sendto, s, L("x"), 1, 0, 0, 0));
    show("recvfrom, nothing queued, MSG_DONTWAIT", S(SYS_recvfrom, s, L(&a), 1, MSG_DONTWAIT, 0, 0));
    sockaddr_in self = loopback(port);
    show("sendto self", S(SYS_sendto, s, L("hello"), 5, 0, L(&self), sizeof self));
    int avail = -1;
    show("ioctl FIONREAD", S(SYS_ioctl, s, FIONREAD, L(&avail)));
    std::printf("FIONREAD says %d\n", avail);
    pollfd p{s, POLLIN | POLLOUT, 0};
    show("poll", S(SYS_poll, L(&p), 1, 0));
    std::printf("revents %#x\n", unsigned(p.revents));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(s, &rd);
    timeval tv{0, 0};
    show("select", S(SYS_select, s + 1, L(&rd), 0, 0, L(&tv)));
    std::printf("readable in the set: %d\n", FD_ISSET(s, &rd) ? 1 : 0);
    const int ep = int(S(SYS_epoll_create1, EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1234;
    show("epoll_ctl ADD", S(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, s, L(&ev)));
    epoll_event out[2]{};
    show("epoll_wait", S(SYS_epoll_wait, ep, L(out), 2, 0));
    std::printf("event %#x data %#llx\n", out[0].events, (unsigned long long)out[0].data.u64);
    show("epoll_pwait", S(SYS_epoll_pwait, ep, L(out), 2, 0, 0, 8));
    char buf[64];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    const long n = show("recvfrom", S(SYS_recvfrom, s, L(buf), sizeof buf, 0, L(&from), L(&fl)));
    std::printf("got \"%.*s\" from 127.0.0.1 self: %d\n", int(n > 0 ? n : 0), buf, from.sin_port == htons(port));
    show("epoll_wait, drained", S(SYS_epoll_wait, ep, L(out), 2, 0));
    S(SYS_close, ep);

    // sendmmsg / recvmmsg
    char m1[] = "one", m2[] = "two";
    iovec iv[2] = {{m1, 3}, {m2, 3}};
    mmsghdr mm[2]{};
    for (int i = 0; i < 2; ++i) {
        mm[i].msg_hdr.msg_name = &self;
        mm[i].msg_hdr.msg_namelen = sizeof self;
        mm[i].msg_hdr.msg_iov = &iv[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    show("sendmmsg 2", S(SYS_sendmmsg, s, L(mm), 2, 0));
    char r1[8], r2[8];
    iovec ri[2] = {{r1, 8}, {r2, 8}};
    mmsghdr rm[2]{};
    for (int i = 0; i < 2; ++i) {
        rm[i].msg_hdr.msg_iov = &ri[i];
        rm[i].msg_hdr.msg_iovlen = 1;
    }
    show("recvmmsg 2", S(SYS_recvmmsg, s, L(rm), 2, MSG_DONTWAIT, 0));
    std::printf("received \"%.*s\" \"%.*s\"\n", int(rm[0].msg_len), r1, int(rm[1].msg_len), r2);

    // connect, then read/write/readv/writev on the connected socket
    show("connect self", S(SYS_connect, s, L(&self), sizeof self));
    show("getpeername", S(SYS_getpeername, s, L(&a), L(&l)));
    show("write", S(SYS_write, s, L("w1"), 2));
    show("read", S(SYS_read, s, L(buf), sizeof buf));
    iovec wv[2] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cd"), 2}};
    show("writev", S(SYS_writev, s, L(wv), 2));
    char v1[1], v2[8];
    iovec rv[2] = {{v1, 1}, {v2, 8}};
    show("readv", S(SYS_readv, s, L(rv), 2));
    show("pread64 on a socket", S(SYS_pread64, s, L(buf), 1, 0));
    show("read of 0 bytes", S(SYS_read, s, L(buf), 0));

    // options, flags, descriptors
    int v = 0;
    socklen_t vl = sizeof v;
    show("getsockopt SO_TYPE", S(SYS_getsockopt, s, SOL_SOCKET, SO_TYPE, L(&v), L(&vl)));
    std::printf("SO_TYPE %d\n", v);
    v = 1;
    show("setsockopt SO_BROADCAST", S(SYS_setsockopt, s, SOL_SOCKET, SO_BROADCAST, L(&v), sizeof v));
    show("setsockopt, bad level", S(SYS_setsockopt, s, 9999, 1, L(&v), sizeof v));
    const long fl0 = show("fcntl F_GETFL", S(SYS_fcntl, s, F_GETFL));
    show("fcntl F_SETFL O_NONBLOCK", S(SYS_fcntl, s, F_SETFL, fl0 | O_NONBLOCK));
    show("read, non-blocking, nothing queued", S(SYS_read, s, L(buf), sizeof buf));
    const int d = int(show("dup", S(SYS_dup, s)));
    show("getpeername on the dup", S(SYS_getpeername, d, L(&a), L(&l)));
    show("dup2 to 40", S(SYS_dup2, s, 40));
    show("dup3 to 41", S(SYS_dup3, s, 41, O_CLOEXEC));
    show("fcntl F_GETFD of 41", S(SYS_fcntl, 41, F_GETFD));
    show("close dup", S(SYS_close, d));
    show("close_range 40-41", S(SYS_close_range, 40, 41, 0));
    show("getsockname of 40 after close_range", S(SYS_getsockname, 40, L(&a), L(&l)));
    show("shutdown SHUT_RD", S(SYS_shutdown, s, SHUT_RD));
    show("listen", S(SYS_listen, s, 1));
    show("accept", S(SYS_accept, s, 0, 0));
    show("close", S(SYS_close, s));
    show("close again", S(SYS_close, s));
    show("socketpair AF_INET", S(SYS_socketpair, AF_INET, SOCK_DGRAM, 0, L(&v)));

    // A thread blocked in a raw recvfrom is woken by another's raw sendto.
    g_server = int(S(SYS_socket, AF_INET, SOCK_DGRAM, 0));
    sockaddr_in sa = loopback(0);
    S(SYS_bind, g_server, L(&sa), sizeof sa);
    socklen_t sl = sizeof sa;
    S(SYS_getsockname, g_server, L(&sa), L(&sl));
    pthread_t t;
    pthread_create(&t, nullptr, blocked_receiver, nullptr);
    usleep(100000);
    const int c = int(S(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    show("sendto the blocked thread", S(SYS_sendto, c, L("wake"), 4, 0, L(&sa), sizeof sa));
    pthread_join(t, nullptr);
    std::fputs(g_thread_line, stdout);
    S(SYS_close, c);
    S(SYS_close, g_server);
    return 0;
}
