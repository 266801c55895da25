// pthread_cancel of a thread blocked in a socket call: each receiving and waiting call is a
// cancellation point, as on the kernel (glibc's wrappers let the cancel in during the
// system call). The cancelled thread's cleanup handler runs; nothing it held stays held:
// afterwards another thread waits on the same socket and gets a datagram, and a thread
// that disabled cancellation goes on waiting and gets one too. Run on the kernel and under
// `usnet run`, with or without a switch; the outputs must be identical
// (tests/preload/cancel_test.sh).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace {

int g_fd = -1;
std::atomic<bool> g_cleaned{false};

void cleanup(void*) { g_cleaned = true; }

// Blocks in the named call until a datagram comes (or the thread is cancelled).
long block_in(const char* call) {
    char buf[64];
    iovec v{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    if (!strcmp(call, "recv")) return recv(g_fd, buf, sizeof buf, 0);
    if (!strcmp(call, "recvfrom")) return recvfrom(g_fd, buf, sizeof buf, 0, nullptr, nullptr);
    if (!strcmp(call, "recvmsg")) return recvmsg(g_fd, &m, 0);
    if (!strcmp(call, "recvmmsg")) {
        mmsghdr mm{};
        mm.msg_hdr = m;
        return recvmmsg(g_fd, &mm, 1, 0, nullptr);
    }
    if (!strcmp(call, "read")) return read(g_fd, buf, sizeof buf);
    if (!strcmp(call, "readv")) return readv(g_fd, &v, 1);
    if (!strcmp(call, "poll")) {
        pollfd p{g_fd, POLLIN, 0};
        return poll(&p, 1, -1);
    }
    if (!strcmp(call, "ppoll")) {
        pollfd p{g_fd, POLLIN, 0};
        return ppoll(&p, 1, nullptr, nullptr);
    }
    if (!strcmp(call, "select")) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(g_fd, &r);
        return select(g_fd + 1, &r, nullptr, nullptr, nullptr);
    }
    if (!strcmp(call, "epoll_wait")) {
        const int ep = epoll_create1(0);
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = g_fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, g_fd, &e);
        int n;
        pthread_cleanup_push([](void* p) { close(int(reinterpret_cast<long>(p))); }, reinterpret_cast<void*>(long(ep)));
        n = epoll_wait(ep, &e, 1, -1);
        pthread_cleanup_pop(1);
        return n;
    }
    return -2;
}

void* blocked(void* call) {
    long r;
    pthread_cleanup_push(cleanup, nullptr);
    r = block_in(static_cast<const char*>(call));
    pthread_cleanup_pop(0);
    return reinterpret_cast<void*>(r);
}

// Joins t within 2 s: "cancelled", "returned N", or "still blocked".
const char* join(pthread_t t, long* ret) {
    timespec until{};
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    void* r = nullptr;
    if (pthread_timedjoin_np(t, &r, &until) != 0) return "still blocked";
    if (r == PTHREAD_CANCELED) return "cancelled";
    *ret = reinterpret_cast<long>(r);
    return "returned";
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

void send_one(uint16_t port) {
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in a = loopback(port);
    sendto(s, "ping", 4, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    close(s);
}

std::atomic<long> g_got{0};

void* uncancellable(void*) {
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
    char buf[64];
    g_got = recv(g_fd, buf, sizeof buf, 0);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
    pthread_testcancel();  // the cancel waiting since: acted on here
    return nullptr;
}

}  // namespace

int main() {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    g_fd = socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in a = loopback(9300);
    if (g_fd < 0 || bind(g_fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        perror("bind");
        return 1;
    }
    const char* calls[] = {"recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv", "poll", "ppoll", "select", "epoll_wait"};
    for (const char* call : calls) {
        g_cleaned = false;
        pthread_t t;
        pthread_create(&t, nullptr, blocked, const_cast<char*>(call));
        usleep(100 * 1000);  // well inside the call by now
        pthread_cancel(t);
        long ret = 0;
        const char* how = join(t, &ret);
        printf("%s: %s, cleanup %s\n", call, how, g_cleaned ? "ran" : "did not run");
        if (!strcmp(how, "still blocked")) {
            send_one(9300);  // let it go, so the next case starts clean
            pthread_join(t, nullptr);
        }
    }
    // Nothing the cancelled calls held stays held: a new waiter gets a datagram.
    pthread_t t;
    pthread_create(&t, nullptr, blocked, const_cast<char*>("recv"));
    usleep(100 * 1000);
    send_one(9300);
    long ret = 0;
    const char* how = join(t, &ret);
    printf("a new waiter after them: %s %ld\n", how, ret);
    // With cancellation disabled the call goes on waiting, gets its datagram, and the
    // cancel is acted on at the next cancellation point.
    pthread_create(&t, nullptr, uncancellable, nullptr);
    usleep(100 * 1000);
    pthread_cancel(t);
    usleep(100 * 1000);
    send_one(9300);
    how = join(t, &ret);
    printf("cancellation disabled: got %ld, then %s\n", g_got.load(), how);
    printf("done\n");
    return 0;
}
