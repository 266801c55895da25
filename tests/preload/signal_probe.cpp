// A signal handler that runs while a socket call blocks: EINTR or a restart, as on the
// kernel. Another thread signals the blocked main thread, then (where the call should go on
// waiting) sends it a datagram. Run on the kernel and under `usnet run`, with or without a
// switch; the outputs must be identical (tests/preload/signal_eintr_test.sh).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace {

std::atomic<int> g_handled{0};
void on_usr1(int) { g_handled.fetch_add(1); }

void handler(bool restart) {
    struct sigaction a {};
    a.sa_handler = on_usr1;
    a.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&a.sa_mask);
    sigaction(SIGUSR1, &a, nullptr);
}

sockaddr_in addr_of(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int bound(int port) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in a = addr_of(port);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) perror("bind");
    return fd;
}

// Signals the main thread after 100 ms; with `then_send`, sends a datagram to `port` 100 ms
// after that.
std::thread poke(pthread_t main_thread, bool then_send, int port) {
    return std::thread([=] {
        usleep(100000);
        pthread_kill(main_thread, SIGUSR1);
        if (!then_send) return;
        usleep(100000);
        const int s = socket(AF_INET, SOCK_DGRAM, 0);
        const sockaddr_in a = addr_of(port);
        sendto(s, "late", 4, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
        close(s);
    });
}

void show(const char* what, long r, int e) {
    printf("%-58s %ld %s handled=%d\n", what, r, r < 0 ? strerrorname_np(e) : "", g_handled.exchange(0));
    fflush(stdout);
}

}  // namespace

int main() {
    const pthread_t me = pthread_self();
    char buf[16];
    {
        handler(false);
        const int fd = bound(7101);
        std::thread t = poke(me, true, 7101);
        const long r = recv(fd, buf, sizeof buf, 0);
        const int e = errno;
        t.join();
        show("recv, handler without SA_RESTART", r, e);
        close(fd);
    }
    {
        handler(true);
        const int fd = bound(7102);
        std::thread t = poke(me, true, 7102);
        const long r = recvfrom(fd, buf, sizeof buf, 0, nullptr, nullptr);
        const int e = errno;
        t.join();
        show("recvfrom, SA_RESTART: restarted, gets the late datagram", r, e);
        close(fd);
    }
    {
        handler(true);
        const int fd = bound(7103);
        const timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::thread t = poke(me, true, 7103);
        const long r = recv(fd, buf, sizeof buf, 0);
        const int e = errno;
        t.join();
        show("recv, SA_RESTART but SO_RCVTIMEO set", r, e);
        close(fd);
    }
    {
        handler(true);
        const int fd = bound(7104);
        std::thread t = poke(me, true, 7104);
        pollfd p{fd, POLLIN, 0};
        const long r = poll(&p, 1, 5000);
        const int e = errno;
        t.join();
        show("poll, SA_RESTART", r, e);
        close(fd);
    }
    {
        handler(true);
        const int fd = bound(7105);
        std::thread t = poke(me, true, 7105);
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        timeval tv{5, 0};
        const long r = select(fd + 1, &rd, nullptr, nullptr, &tv);
        const int e = errno;
        t.join();
        show("select, SA_RESTART", r, e);
        close(fd);
    }
    {
        // errno is left alone by a blocking call that succeeds.
        handler(true);
        const int fd = bound(7106);
        std::thread t = poke(me, true, 7106);
        errno = 12345;
        const long r = read(fd, buf, sizeof buf);
        const int e = errno;
        t.join();
        printf("%-58s %ld errno kept: %s handled=%d\n", "read, SA_RESTART", r, e == 12345 ? "yes" : "no",
               g_handled.exchange(0));
        close(fd);
    }
    puts("done");
    return 0;
}
