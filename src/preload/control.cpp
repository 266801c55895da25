// `usnet stat PID` and `usnet ip PID ...`: a thread of the program serves the counters and
// takes `ip` commands on the abstract Unix socket "@usnet-stat-PID".
#include "shim.hpp"

namespace usnet::shim {

// `usnet stat PID` and `usnet ip PID ...`: a thread serves the counters and takes `ip`
// commands on the abstract Unix socket "@usnet-stat-PID" of the program's network namespace.
int g_stat_fd = -1;

// The shim's own descriptors (the stat listener, the --trace and --explain files) are
// moved to high numbers, so the program's descriptors are numbered exactly as on the kernel.
int g_trace_fd = -1, g_explain_fd = -1;
int park_high(int fd) {
    NATIVE(close);
    NATIVE(fcntl);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    const long high = rl.rlim_cur > 64 ? long(rl.rlim_cur) - 32 : 0;
    if (high > fd) {
        const int moved = real_fcntl(fd, F_DUPFD_CLOEXEC, high);
        if (moved >= 0) {
            real_close(fd);
            return moved;
        }
    }
    return fd;
}
bool shim_own_fd(long fd) { return fd == g_stat_fd || fd == g_trace_fd || fd == g_explain_fd || (fd >= 0 && fd == remote().conn); }
std::array<int, 4> shim_own_fds() {
    std::array<int, 4> v{g_stat_fd, g_trace_fd, g_explain_fd, remote().conn};
    std::sort(v.begin(), v.end());
    return v;
}

// The listening socket is made synchronously.
int open_stat_listener() {
    NATIVE(socket);
    NATIVE(bind);
    NATIVE(listen);
    NATIVE(close);
    const int fd = real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "usnet-stat-" + std::to_string(getpid());
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (real_bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || real_listen(fd, 4) != 0) {
        real_close(fd);
        return -1;
    }
    return park_high(fd);
}

// The answer to a request line, from the stack (the keeper's, once the program forked).
std::string control_answer(const std::string& req) {
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    if (g_client.load()) return remote().control(req);
    if (req.rfind("ip ", 0) != 0) return usnet::counters_text(r.stack().counters());
    const int rc = usnet::sim::ip_command(r.stack(), req.substr(3));
    return rc == 0 ? "ok\n" : rc == 1 ? "error: the stack refused it\n" : "error: not understood\n";
}

// One request a connection, a line: "stat" (or nothing) for the counters, "ip ARGS" to
// change the stack as `ip` would (only for a peer of our own user, or root).
void serve_stats(int fd) {
    NATIVE(accept4);
    NATIVE(write);
    NATIVE(read);
    NATIVE(close);
    NATIVE(setsockopt);
    NATIVE(getsockopt);
    NATIVE(poll);
    NATIVE(fcntl);
    for (;;) {
        // Wait in poll, not accept: a blocked accept4 reserves the lowest free descriptor
        // number (get_unused_fd_flags runs before it sleeps), which the program's next
        // socket or file would then not get.
        pollfd p{fd, POLLIN, 0};
        if (real_poll(&p, 1, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        int c = real_accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
            return;
        }
        // Out of the program's way at once, next to the listener.
        if (const int moved = real_fcntl(c, F_DUPFD_CLOEXEC, fd > 1 ? fd - 1 : 0); moved >= 0 && moved > c) {
            real_close(c);
            c = moved;
        }
        timeval tv{1, 0};  // a client that says nothing gets the counters (older `usnet stat`)
        real_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string req;
        char buf[512];
        for (ssize_t n; req.size() < 4096 && req.find('\n') == std::string::npos && (n = real_read(c, buf, sizeof buf)) > 0;)
            req.append(buf, size_t(n));
        req = req.substr(0, req.find('\n'));
        std::string text;
        if (req.rfind("ip ", 0) == 0) {
            ucred peer{};
            socklen_t pl = sizeof peer;
            const bool allowed = real_getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &pl) == 0 &&
                                 (peer.uid == 0 || peer.uid == getuid());
            text = allowed ? control_answer(req) : "error: not allowed (another user)\n";
        } else {
            text = control_answer(req);
        }
        (void)!real_write(c, text.data(), text.size());
        real_close(c);
    }
}

void start_stat_server() {
    g_stat_fd = open_stat_listener();
    if (g_stat_fd >= 0) start_quiet_thread(serve_stats, g_stat_fd);
}

}  // namespace usnet::shim
