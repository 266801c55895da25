// Bad user pointers in socket calls: each call's return value and errno, and whether a
// pending datagram was consumed. Run on the kernel and under `usnet run`; the outputs must
// be identical (tests/preload/efault_test.sh). Linux answers EFAULT; usnet must never crash.
// Bad pointers on purpose: the compiler's access checks would refuse them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overread"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void show(const char* name, long r) {
    const int e = errno;
    printf("%-44s %ld %s\n", name, r, r < 0 ? strerrorname_np(e) : "");
}
#define SHOW(name, expr)                     \
    do {                                     \
        errno = 0;                           \
        const long r_ = long(expr);          \
        show(name, r_);                      \
    } while (0)

int s, c;
sockaddr_in sa_s;

void drain(const char* what) {
    char buf[256];
    printf("  after %s:", what);
    for (;;) {
        const ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) break;
        printf(" '%.*s'(%zd)", int(n), buf, n);
    }
    printf(" [%s]\n", strerrorname_np(errno));
}

void put(const char* text) { send(c, text, strlen(text), 0); }

sockaddr_in addr(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

volatile sig_atomic_t g_segv_seen = 0;
sigjmp_buf g_jump;
void on_segv(int) {
    g_segv_seen = 1;
    siglongjmp(g_jump, 1);
}

}  // namespace

int main() {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    char* bad = static_cast<char*>(mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    char* ro = static_cast<char*>(mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    char* half = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(half + 4096, 4096, PROT_NONE);
    void* one = reinterpret_cast<void*>(1);
    auto* bad_sa = reinterpret_cast<sockaddr*>(bad);

    s = socket(AF_INET, SOCK_DGRAM, 0);
    sa_s = addr(9100);
    bind(s, reinterpret_cast<sockaddr*>(&sa_s), sizeof sa_s);
    c = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa_c = addr(9101);
    bind(c, reinterpret_cast<sockaddr*>(&sa_c), sizeof sa_c);
    const auto* to = reinterpret_cast<const sockaddr*>(&sa_s);
    int x = socket(AF_INET, SOCK_DGRAM, 0);

    // ---- addresses in
    SHOW("bind bad addr", bind(x, bad_sa, 16));
    SHOW("bind (void*)1", bind(x, static_cast<sockaddr*>(one), 16));
    SHOW("bind bad addr len 200", bind(x, bad_sa, 200));
    SHOW("connect bad addr", connect(x, bad_sa, 16));
    SHOW("connect ro addr (AF 0)", connect(x, reinterpret_cast<sockaddr*>(ro), 16));
    // ---- sends
    SHOW("sendto bad buf", sendto(c, bad, 10, 0, to, sizeof sa_s));
    SHOW("sendto (void*)1 buf", sendto(c, one, 10, 0, to, sizeof sa_s));
    SHOW("sendto bad buf len 0", sendto(c, bad, 0, 0, to, sizeof sa_s));
    drain("empty send");
    SHOW("sendto bad to", sendto(c, "x", 1, 0, bad_sa, 16));
    SHOW("sendto bad to len 0", sendto(c, "x", 1, 0, bad_sa, 0));
    SHOW("sendto ro buf", sendto(c, ro, 3, 0, to, sizeof sa_s));
    drain("ro send");
    SHOW("sendto 70000 from bad", sendto(c, bad, 70000, 0, to, sizeof sa_s));
    SHOW("send unconnected bad buf", send(c, bad, 10, 0));
    connect(c, to, sizeof sa_s);
    SHOW("send bad buf", send(c, bad, 10, 0));
    SHOW("write bad buf", write(c, bad, 10));
    SHOW("write (void*)1", write(c, one, 5));
    SHOW("send half buffer, 4100 bytes", send(c, half, 4100, 0));
    iovec iv[2] = {{const_cast<char*>("ab"), 2}, {bad, 3}};
    SHOW("writev bad base", writev(c, iv, 2));
    SHOW("writev bad array", writev(c, reinterpret_cast<iovec*>(bad), 2));
    SHOW("writev 1025 entries", writev(c, iv, 1025));
    SHOW("sendmsg bad msghdr", sendmsg(c, reinterpret_cast<msghdr*>(bad), 0));
    iovec good{const_cast<char*>("hi"), 2};
    msghdr m{};
    m.msg_iov = &good;
    m.msg_iovlen = 1;
    m.msg_name = bad;
    m.msg_namelen = 16;
    SHOW("sendmsg bad name", sendmsg(c, &m, 0));
    m.msg_name = nullptr;
    m.msg_namelen = 0;
    m.msg_iov = reinterpret_cast<iovec*>(bad);
    SHOW("sendmsg bad iov array", sendmsg(c, &m, 0));
    m.msg_iov = &good;
    m.msg_control = bad;
    m.msg_controllen = 32;
    SHOW("sendmsg bad control", sendmsg(c, &m, 0));
    m.msg_control = nullptr;
    SHOW("sendmsg null control len 32", sendmsg(c, &m, 0));
    m.msg_controllen = 0;
    m.msg_iov = iv;
    m.msg_iovlen = 2;
    SHOW("sendmsg bad iov base", sendmsg(c, &m, 0));
    drain("bad sendmsgs");
    mmsghdr mm[2]{};
    iovec m1{const_cast<char*>("m1"), 2}, m2{bad, 2};
    mm[0].msg_hdr.msg_iov = &m1;
    mm[0].msg_hdr.msg_iovlen = 1;
    mm[1].msg_hdr.msg_iov = &m2;
    mm[1].msg_hdr.msg_iovlen = 1;
    SHOW("sendmmsg second bad", sendmmsg(c, mm, 2, 0));
    printf("  msg_len[0]=%u\n", mm[0].msg_len);
    SHOW("sendmmsg bad array", sendmmsg(c, reinterpret_cast<mmsghdr*>(bad), 2, 0));
    drain("sendmmsg");

    // ---- receives
    char buf[128];
    put("r1");
    SHOW("recv bad buf", recv(s, bad, 100, 0));
    drain("recv bad buf");
    put("r2");
    SHOW("recv ro buf", recv(s, ro, 100, 0));
    drain("recv ro buf");
    put("r3");
    SHOW("recv peek bad buf", recv(s, bad, 100, MSG_PEEK));
    drain("recv peek bad buf");
    put("r4");
    SHOW("recv bad buf len 0", recv(s, bad, 0, 0));
    drain("recv len 0");
    put("r5");
    SHOW("read (void*)1", read(s, one, 100));
    drain("read (void*)1");
    put("r5b");
    SHOW("read len 0", read(s, buf, 0));
    drain("read len 0");
    put("r5c");
    SHOW("recv into half buffer, 8192", recv(s, half + 4000, 8192 - 4000, 0));
    printf("  got '%.3s'\n", half + 4000);
    put("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz");
    SHOW("recv 108 bytes, 96 mapped", recv(s, half + 4000, 8192 - 4000, 0));
    drain("recv over the edge");
    // recvmsg and readv into buffers only partly mapped: a fault only past the datagram.
    msghdr hm{};
    iovec hiv[2] = {{buf, 1}, {half + 4090, 100}};
    hm.msg_iov = hiv;
    hm.msg_iovlen = 2;
    put("pm1");
    SHOW("recvmsg into 2 iovs, 6 bytes mapped", recvmsg(s, &hm, 0));
    put("pm2-too-long");
    SHOW("recvmsg 12 bytes into 1+6 mapped", recvmsg(s, &hm, 0));
    drain("recvmsg over the edge");
    put("pm3-too-long");
    SHOW("recvmsg peek 12 bytes into 1+6 mapped", recvmsg(s, &hm, MSG_PEEK));
    drain("recvmsg peek over the edge");
    put("rv1x");
    SHOW("readv into 2 iovs, 6 bytes mapped", readv(s, hiv, 2));
    printf("  got '%c%.3s'\n", buf[0], half + 4090);
    put("rv2-too-long");
    SHOW("readv 12 bytes into 1+6 mapped", readv(s, hiv, 2));
    drain("readv over the edge");
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    put("r6");
    SHOW("recvfrom bad from", recvfrom(s, buf, sizeof buf, 0, bad_sa, &fl));
    drain("recvfrom bad from");
    put("r7");
    SHOW("recvfrom from, null len", recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), nullptr));
    drain("recvfrom null len");
    put("r8");
    SHOW("recvfrom bad len ptr", recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), reinterpret_cast<socklen_t*>(bad)));
    drain("recvfrom bad len ptr");
    put("r9");
    fl = 0;
    SHOW("recvfrom bad from, len 0", recvfrom(s, buf, sizeof buf, 0, bad_sa, &fl));
    printf("  fromlen=%u\n", fl);
    put("rA");
    SHOW("recvmsg bad msghdr", recvmsg(s, reinterpret_cast<msghdr*>(bad), 0));
    drain("recvmsg bad msghdr");
    msghdr rm{};
    iovec riv{buf, sizeof buf};
    put("rB");
    rm.msg_iov = reinterpret_cast<iovec*>(bad);
    rm.msg_iovlen = 1;
    SHOW("recvmsg bad iov array", recvmsg(s, &rm, 0));
    drain("recvmsg bad iov array");
    put("rC");
    iovec rbad{bad, 100};
    rm.msg_iov = &rbad;
    SHOW("recvmsg bad iov base", recvmsg(s, &rm, 0));
    drain("recvmsg bad iov base");
    put("rD");
    rm.msg_iov = &riv;
    rm.msg_name = bad;
    rm.msg_namelen = 16;
    SHOW("recvmsg bad name", recvmsg(s, &rm, 0));
    drain("recvmsg bad name");
    put("rE");
    const int on = 1, off = 0;
    setsockopt(s, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    rm.msg_name = nullptr;
    rm.msg_namelen = 0;
    rm.msg_control = bad;
    rm.msg_controllen = 64;
    SHOW("recvmsg bad control", recvmsg(s, &rm, 0));
    printf("  controllen=%zu flags=%#x\n", size_t(rm.msg_controllen), unsigned(rm.msg_flags));
    setsockopt(s, IPPROTO_IP, IP_PKTINFO, &off, sizeof off);
    rm.msg_control = nullptr;
    rm.msg_controllen = 0;
    put("rF");
    iovec rv[2] = {{buf, 1}, {bad, 10}};
    SHOW("readv second base bad", readv(s, rv, 2));
    drain("readv bad base");
    put("rG");
    SHOW("readv bad array", readv(s, reinterpret_cast<iovec*>(bad), 2));
    drain("readv bad array");
    put("rH");
    SHOW("readv 1025 entries", readv(s, rv, 1025));
    drain("readv 1025");
    put("rI");
    SHOW("recvmmsg bad array", recvmmsg(s, reinterpret_cast<mmsghdr*>(bad), 2, MSG_DONTWAIT, nullptr));
    drain("recvmmsg bad array");
    put("rJ");
    timespec* bad_ts = reinterpret_cast<timespec*>(bad);
    mmsghdr rmm[1]{};
    rmm[0].msg_hdr.msg_iov = &riv;
    rmm[0].msg_hdr.msg_iovlen = 1;
    SHOW("recvmmsg bad timeout", recvmmsg(s, rmm, 1, 0, bad_ts));
    drain("recvmmsg bad timeout");

    // ---- names, options, ioctl, poll, select
    sockaddr_in out{};
    socklen_t ol = sizeof out;
    SHOW("getsockname bad addr", getsockname(s, bad_sa, &ol));
    SHOW("getsockname bad len", getsockname(s, reinterpret_cast<sockaddr*>(&out), reinterpret_cast<socklen_t*>(bad)));
    SHOW("getsockname null len", getsockname(s, reinterpret_cast<sockaddr*>(&out), nullptr));
    ol = 16;
    SHOW("getsockname ro addr", getsockname(s, reinterpret_cast<sockaddr*>(ro), &ol));
    ol = 0;
    SHOW("getsockname bad addr, len 0", getsockname(s, bad_sa, &ol));
    printf("  len=%u\n", ol);
    SHOW("getpeername unconnected, null len", getpeername(s, reinterpret_cast<sockaddr*>(&out), nullptr));
    ol = socklen_t(-1);
    SHOW("getpeername unconnected, len -1", getpeername(s, reinterpret_cast<sockaddr*>(&out), &ol));
    ol = socklen_t(-1);
    SHOW("getpeername connected, len -1", getpeername(c, reinterpret_cast<sockaddr*>(&out), &ol));
    ol = 16;
    SHOW("getpeername connected, bad addr", getpeername(c, bad_sa, &ol));
    SHOW("setsockopt bad optval", setsockopt(s, SOL_SOCKET, SO_RCVBUF, bad, 4));
    SHOW("setsockopt (void*)1 optval", setsockopt(s, SOL_SOCKET, SO_RCVBUF, one, 4));
    socklen_t gl = 4;
    SHOW("getsockopt bad optval", getsockopt(s, SOL_SOCKET, SO_RCVBUF, bad, &gl));
    SHOW("getsockopt bad optlen", getsockopt(s, SOL_SOCKET, SO_RCVBUF, buf, reinterpret_cast<socklen_t*>(bad)));
    SHOW("getsockopt ro optval", getsockopt(s, SOL_SOCKET, SO_RCVBUF, ro, &gl));
    {
        // SO_ATTACH_FILTER copies its program after the lock and length checks.
        const int f = socket(AF_INET, SOCK_DGRAM, 0);
        sock_fprog fp{2, reinterpret_cast<sock_filter*>(bad)};
        SHOW("SO_ATTACH_FILTER bad program", setsockopt(f, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp));
        fp.len = 0;
        SHOW("SO_ATTACH_FILTER bad program, len 0", setsockopt(f, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp));
        sock_filter ret{BPF_RET | BPF_K, 0, 0, 5};
        sock_fprog okp{1, &ret};
        SHOW("SO_ATTACH_FILTER", setsockopt(f, SOL_SOCKET, SO_ATTACH_FILTER, &okp, sizeof okp));
        socklen_t room = 1;
        SHOW("SO_GET_FILTER bad buffer", getsockopt(f, SOL_SOCKET, SO_GET_FILTER, bad, &room));
        room = 0;
        SHOW("SO_GET_FILTER bad buffer, room 0", getsockopt(f, SOL_SOCKET, SO_GET_FILTER, bad, &room));
        printf("  len=%u\n", room);
        const int on = 1;
        setsockopt(f, SOL_SOCKET, SO_LOCK_FILTER, &on, sizeof on);
        fp.len = 2;
        SHOW("SO_ATTACH_FILTER bad program, locked", setsockopt(f, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp));
        close(f);
    }
    SHOW("ioctl FIONREAD bad", ioctl(s, FIONREAD, bad));
    SHOW("ioctl FIONREAD ro", ioctl(s, FIONREAD, ro));
    SHOW("ioctl FIONBIO bad", ioctl(s, FIONBIO, bad));
    SHOW("ioctl TIOCOUTQ (void*)1", ioctl(s, TIOCOUTQ, one));
    SHOW("poll bad array", poll(reinterpret_cast<pollfd*>(bad), 1, 0));
    SHOW("poll ro array", poll(reinterpret_cast<pollfd*>(ro), 1, 0));
    SHOW("select bad set", select(s + 1, reinterpret_cast<fd_set*>(bad), nullptr, nullptr, nullptr));
    // (A bad select timeout crashes in glibc itself, which converts it before the system call.)
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(s, &rs);
    FD_SET(50, &rs);
    timeval tv{0, 0};
    SHOW("select closed fd 50", select(51, &rs, nullptr, nullptr, &tv));
    printf("  set unchanged: %s\n", FD_ISSET(50, &rs) && FD_ISSET(s, &rs) ? "yes" : "no");

    // epoll: the program's own epoll_data comes back; bad pointers are EFAULT.
    const int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1122334455667788ull;
    SHOW("epoll_ctl ADD", epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    SHOW("epoll_ctl MOD bad event", epoll_ctl(ep, EPOLL_CTL_MOD, s, reinterpret_cast<epoll_event*>(bad)));
    put("ep1");
    epoll_event evs[4]{};
    SHOW("epoll_pwait", epoll_pwait(ep, evs, 4, 1000, nullptr));
    printf("  events=%#x data=%#llx\n", evs[0].events, static_cast<unsigned long long>(evs[0].data.u64));
    const timespec second{1, 0}, short_wait{0, 50000000};
    evs[0] = epoll_event{};
    SHOW("epoll_pwait2", epoll_pwait2(ep, evs, 4, &second, nullptr));
    printf("  events=%#x data=%#llx\n", evs[0].events, static_cast<unsigned long long>(evs[0].data.u64));
    SHOW("epoll_wait bad events array", epoll_wait(ep, reinterpret_cast<epoll_event*>(bad), 4, 0));
    recv(s, buf, sizeof buf, 0);
    SHOW("epoll_pwait2, drained", epoll_pwait2(ep, evs, 4, &short_wait, nullptr));
    close(ep);

    // The program's own SIGSEGV handler still sees its own faults ...
    signal(SIGSEGV, on_segv);
    if (sigsetjmp(g_jump, 1) == 0) *static_cast<volatile char*>(static_cast<void*>(bad)) = 1;
    printf("program's handler ran for its own fault: %s\n", g_segv_seen ? "yes" : "no");
    g_segv_seen = false;
    put("rK");
    SHOW("recv bad buf with a SIGSEGV handler", recv(s, bad, 100, 0));
    printf("  handler saw a fault: %s\n", g_segv_seen ? "yes" : "no");
    struct sigaction old{};
    sigaction(SIGSEGV, nullptr, &old);
    printf("  sigaction reports the program's handler: %s\n", old.sa_handler == on_segv ? "yes" : "no");
    // ... and without one, a fault of its own kills the program as usual.
    signal(SIGSEGV, SIG_DFL);
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        *static_cast<volatile char*>(static_cast<void*>(bad)) = 1;
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child's own fault: %s\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? "killed by SIGSEGV" : "survived");
    puts("done");
    return 0;
}
