// Counts heap allocations made by socket calls in their steady state: datagrams sent to the
// socket's own address and received, first in the process alone (the shim's own stack), then
// in a forked child (every call a request to the keeper), then in the parent again. This
// program's malloc family takes the place of libc's for the whole process, the shim
// included, and counts before passing each call on. Prints one line per phase:
// "PHASE: N allocations in M calls".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long> g_allocs{0};
}

extern "C" {
void* malloc(size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
    void* p = memalign(a, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}

namespace {

// Sends `rounds` datagrams to the socket itself and receives each (both by sendto and
// recvfrom, and by sendmsg and recvmsg); returns the allocations the calls made after a
// warm-up, or -1 if a call failed.
long count(int fd, const sockaddr_in& self, int rounds) {
    char buf[256];
    auto once = [&](int i) {
        std::memset(buf, 'a' + i % 26, 64);
        if (i % 2) {
            sockaddr_in from{};
            socklen_t fl = sizeof from;
            return sendto(fd, buf, 64, 0, reinterpret_cast<const sockaddr*>(&self), sizeof self) == 64 &&
                   recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl) == 64;
        }
        iovec v{buf, 64};
        msghdr m{};
        m.msg_name = const_cast<sockaddr_in*>(&self);
        m.msg_namelen = sizeof self;
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        if (sendmsg(fd, &m, 0) != 64) return false;
        sockaddr_in from{};
        iovec r[2] = {{buf, 32}, {buf + 32, sizeof buf - 32}};
        msghdr in{};
        in.msg_name = &from;
        in.msg_namelen = sizeof from;
        in.msg_iov = r;
        in.msg_iovlen = 2;
        return recvmsg(fd, &in, 0) == 64;
    };
    for (int i = 0; i < 200; ++i)
        if (!once(i)) return -1;
    const long before = g_allocs.load();
    for (int i = 0; i < rounds; ++i)
        if (!once(i)) return -1;
    return g_allocs.load() - before;
}

int report(const char* phase, long n, int rounds) {
    if (n < 0) {
        std::printf("%s: a call failed\n", phase);
        return 1;
    }
    std::printf("%s: %ld allocations in %d calls\n", phase, n, 4 * rounds);
    return 0;
}

}  // namespace

int main() {
    constexpr int kRounds = 2000;
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof self;
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&self), sizeof self) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) != 0) {
        std::perror("socket");
        return 1;
    }
    std::fflush(stdout);
    int status = report("alone", count(fd, self, kRounds), kRounds);
    std::fflush(stdout);
    const pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        const int r = report("forked child", count(fd, self, kRounds), kRounds);
        std::fflush(stdout);
        _exit(r);
    }
    int st = 0;
    waitpid(child, &st, 0);
    status |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    status |= report("parent after fork", count(fd, self, kRounds), kRounds);
    return status;
}
