// usnet-pingpong: the two ends of `usnet bench pingpong`, written against plain libc so
// the same binary measures the kernel (as is) and usnet (under the shim).
//   usnet-pingpong server ADDR PORT spin|block
//   usnet-pingpong client ADDR PORT spin|block SECONDS SIZE
//   usnet-pingpong calls ADDR PORT: the cost of single calls, one process (see the README)
//   usnet-pingpong shm SECONDS SIZE: the floor, two processes bouncing SIZE bytes through
//     shared memory with no stack at all
//   server ... spin FILE, client ... spin SECONDS SIZE FILE: paired, the same two processes
//     also bounce the frame through FILE (mapped shared) between round trips, so that the
//     floor is measured where the VM placed this very pair; the client adds FLOOR_MEDIAN_NS
// The client and shm print "ok MEDIAN_NS MEAN_NS P99_NS COUNT" (round trips), or "fail REASON".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <new>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int fail(const char* what) {
    std::printf("fail %s: %s\n", what, std::strerror(errno));
    return 1;
}

// "ok MEDIAN MEAN P99 COUNT" of round trips in nanoseconds, and the paired floor's median
// when there is one.
int report(std::vector<double>& rtt, double floor = -1) {
    if (rtt.empty()) return fail("no round trip");
    double sum = 0;
    for (double x : rtt) sum += x;
    std::sort(rtt.begin(), rtt.end());
    std::printf("ok %.0f %.0f %.0f %zu", rtt[rtt.size() / 2], sum / double(rtt.size()), rtt[rtt.size() * 99 / 100],
                rtt.size());
    if (floor >= 0) std::printf(" %.0f", floor);
    std::printf("\n");
    return 0;
}

// One datagram in: spinning on MSG_DONTWAIT, or blocking in recv. False after `patience`.
ssize_t receive(int fd, char* buf, size_t len, bool spin, Clock::duration patience) {
    if (!spin) return recv(fd, buf, len, 0);
    const auto give_up = Clock::now() + patience;
    for (unsigned i = 0;; ++i) {
        const ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0 || errno != EAGAIN) return n;
        if ((i & 1023) == 0 && Clock::now() > give_up) return -1;
    }
}

// A mailbox of the floor (shm_floor, and the paired mode), laid out as a ring slot: the
// sequence word with the bytes after it.
struct alignas(64) Mailbox {
    std::atomic<uint64_t> seq;
    unsigned char data[128 - sizeof(std::atomic<uint64_t>)];
};

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Whether a mailbox's sequence has reached n; a look that finds it short also asks for the
// mailbox's second line, as the switch's rings do (Fabric::pending), so that both lines move
// at once.
inline bool arrived(const Mailbox& b, uint64_t n) {
    if (b.seq.load(std::memory_order_acquire) >= n) return true;
    __builtin_prefetch(reinterpret_cast<const char*>(&b) + 64);
    return false;
}

// The echoing end: the frame in box[0] back through box[1], as number n.
inline void echo(Mailbox* box, unsigned char* local, size_t size, uint64_t n) {
    std::memcpy(local, box[0].data, size);
    std::memcpy(box[1].data, local, size);
    box[1].seq.store(n, std::memory_order_release);
}

// The measuring end: the frame out through box[0] as number n, and back through box[1].
// False when no echo came by give_up.
inline bool bounce(Mailbox* box, unsigned char* local, size_t size, uint64_t n, Clock::time_point give_up) {
    std::memcpy(box[0].data, local, size);
    box[0].seq.store(n, std::memory_order_release);
    for (unsigned i = 0; !arrived(box[1], n); ++i) {
        relax();
        if ((i & 0xfffff) == 0 && Clock::now() > give_up) return false;
    }
    std::memcpy(local, box[1].data, size);
    return true;
}

// Maps the paired mode's mailboxes (two, as shm_floor's) from a file both ends name; null
// without one.
Mailbox* map_mailboxes(const char* path) {
    if (!path) return nullptr;
    const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 2 * sizeof(Mailbox)) != 0) return nullptr;
    void* m = mmap(nullptr, 2 * sizeof(Mailbox), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return m == MAP_FAILED ? nullptr : static_cast<Mailbox*>(m);
}

int server(const sockaddr_in& a, bool spin, Mailbox* box) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return fail("bind");
    timeval tv{30, 0};  // a client that died must not leave the server behind forever
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    unsigned char local[sizeof(Mailbox::data)];
    uint64_t bounced = box ? box[0].seq.load(std::memory_order_acquire) : 0;
    for (;;) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n;
        if (spin) {
            const auto give_up = Clock::now() + std::chrono::seconds(30);
            for (unsigned i = 0;; ++i) {
                if (box && arrived(box[0], bounced + 1)) {  // the paired floor
                    bounced = box[0].seq.load(std::memory_order_acquire);
                    echo(box, local, sizeof local, bounced);
                }
                n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl);
                if (n >= 0 || errno != EAGAIN) break;
                if ((i & 1023) == 0 && Clock::now() > give_up) break;
            }
        } else {
            n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        }
        if (n < 0) return fail("recvfrom");
        if (sendto(fd, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&from), fl) != n) return fail("sendto");
        if (n == 1 && buf[0] == 'q') return 0;
    }
}

int client(const sockaddr_in& a, bool spin, double seconds, size_t size, Mailbox* box) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return fail("connect");
    std::vector<char> out(size, 'p'), in(65536);
    // Until the server answers (it may still be starting): ping, wait 50 ms, again.
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        if (send(fd, out.data(), size, 0) < 0 && errno != ECONNREFUSED) return fail("send");
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) up = recv(fd, in.data(), in.size(), 0) > 0;
    }
    if (!up) return fail("no answer from the server");
    for (int i = 0; i < 2000; ++i)  // warm-up
        if (send(fd, out.data(), size, 0) < 0 || receive(fd, in.data(), in.size(), spin, std::chrono::seconds(2)) < 0)
            return fail("warm-up");
    std::vector<double> rtt, floor;
    rtt.reserve(1 << 22);
    if (box) floor.reserve(1 << 22);
    uint64_t n = box ? box[1].seq.load(std::memory_order_acquire) : 0;
    unsigned char local[sizeof(Mailbox::data)] = {};
    const size_t frame = std::min(sizeof local, size + 42);  // (the datagram's Ethernet frame)
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (auto now = Clock::now(); now < end && rtt.size() < rtt.capacity();) {
        if (box) {
            // The paired floor first: the frame's bytes there and back, no stack.
            const auto f0 = now;
            if (!bounce(box, local, frame, ++n, end + std::chrono::seconds(2))) return fail("no shared-memory echo");
            now = Clock::now();
            floor.push_back(double(std::chrono::duration_cast<std::chrono::nanoseconds>(now - f0).count()));
        }
        const auto t0 = now;
        if (send(fd, out.data(), size, 0) < 0) return fail("send");
        if (receive(fd, in.data(), in.size(), spin, std::chrono::seconds(2)) < 0) return fail("datagram lost");
        now = Clock::now();
        rtt.push_back(double(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count()));
    }
    (void)!send(fd, "q", 1, 0);
    std::sort(floor.begin(), floor.end());
    return report(rtt, floor.empty() ? -1 : floor[floor.size() / 2]);
}

// Two processes bouncing `size` bytes (106: a 64-byte datagram's Ethernet frame) through
// shared memory, both spinning, with nothing else: what a stack whose wire is shared memory
// cannot beat on this machine, as each direction moves the bytes' cache lines between cores.
int shm_floor(double seconds, size_t size) {
    if (size > sizeof(Mailbox::data)) return fail("size");
    void* m = mmap(nullptr, 2 * sizeof(Mailbox), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return fail("mmap");
    Mailbox* box = new (m) Mailbox[2]();
    constexpr uint64_t kStop = ~uint64_t(0);
    const pid_t echoer = fork();
    if (echoer < 0) return fail("fork");
    unsigned char local[sizeof(Mailbox::data)] = {};
    if (echoer == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (uint64_t n = 1;; ++n) {
            while (!arrived(box[0], n)) relax();
            if (box[0].seq.load(std::memory_order_acquire) == kStop) _exit(0);
            echo(box, local, size, n);
        }
    }
    std::vector<double> rtt;
    rtt.reserve(1 << 22);
    std::memset(local, 'p', size);
    uint64_t n = 0;
    for (int i = 0; i < 2000; ++i)  // warm-up (the echo may still be starting)
        if (!bounce(box, local, size, ++n, Clock::now() + std::chrono::seconds(5))) return fail("no shared-memory echo");
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const auto give_up = end + std::chrono::seconds(2);  // (the echo died)
    for (auto now = Clock::now(); now < end && rtt.size() < rtt.capacity();) {
        const auto t0 = now;
        if (!bounce(box, local, size, ++n, give_up)) return fail("no shared-memory echo");
        now = Clock::now();
        rtt.push_back(double(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0).count()));
    }
    box[0].seq.store(kStop, std::memory_order_release);
    waitpid(echoer, nullptr, 0);
    return report(rtt);
}

}  // namespace

// Nanoseconds a call: a recv that finds nothing (EAGAIN), and a 64-byte sendto to the
// socket's own address with the recv of it. ADDR: an address of this host.
int calls(const sockaddr_in& a) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return fail("bind");
    static char buf[65536];
    auto per_call = [](int n, auto&& body) {
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) body();
        return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
    };
    const double empty = per_call(2000000, [&] { (void)recv(fd, buf, sizeof buf, MSG_DONTWAIT); });
    bool ok = true;
    const double pair = per_call(500000, [&] {
        ok = ok && sendto(fd, buf, 64, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 64 &&
             recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 64;
    });
    if (!ok) return fail("sendto to itself");
    std::printf("recv, nothing queued: %.1f ns\nsendto to itself + recv: %.1f ns\n", empty, pair);
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "shm") == 0) return shm_floor(std::atof(argv[2]), size_t(std::atoi(argv[3])));
    if (argc == 4 && std::strcmp(argv[1], "calls") == 0) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(std::atoi(argv[3])));
        if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
        return calls(a);
    }
    if (argc < 5) {
        std::fprintf(stderr,
                     "usage: %s server ADDR PORT spin|block [FILE] | client ADDR PORT spin|block SECONDS SIZE [FILE] | "
                     "calls ADDR PORT | shm SECONDS SIZE\n",
                     argv[0]);
        return 2;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(std::atoi(argv[3])));
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
    const bool spin = std::strcmp(argv[4], "spin") == 0;
    setvbuf(stdout, nullptr, _IOLBF, 0);
    // The paired floor's file (spinning only).
    const char* file = argc > (std::strcmp(argv[1], "server") == 0 ? 5 : 7) && spin ? argv[argc - 1] : nullptr;
    Mailbox* box = map_mailboxes(file);
    if (file && !box) return fail(file);
    if (std::strcmp(argv[1], "server") == 0) return server(a, spin, box);
    if (argc < 7) return 2;
    const int r = client(a, spin, std::atof(argv[5]), size_t(std::atoi(argv[6])), box);
    if (file) unlink(file);
    return r;
}
