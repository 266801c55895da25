// usnet_scenario_runner NAME: runs one conformance scenario with plain libc calls and
// prints its trace. Under `usnet run` those calls land in usnet's shim, so the differential
// suite runs through a real, dynamically linked program.
//
// The gateway host: when USNET_GATEWAY_SWITCH names a `usnet switch` (the one this
// program's own stack is attached to), the gateway's sockets live in a usnet stack of this
// program attached to that switch as 10.0.2.2, reached through the library (it is the
// other host on the wire, as the kernel runner's gateway namespace is). Without it a
// scenario that uses the gateway reports UNSUPPORTED. `ip` on the host goes to the shim's
// control socket, as `usnet ip PID ...` does.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "libc_api.hpp"
#include "usnet/sim.hpp"

namespace {

struct Unsupported {};

constexpr int kGwBase = 1 << 20;  // gateway descriptors: offset past any real descriptor

// The gateway: a usnet host on the switch, kept going by a thread (as the shim's pump keeps
// a program's stack going) so it answers ARP and sends ICMP errors while the scenario
// waits in a host call.
class Gateway {
public:
    explicit Gateway(const std::string& sw) {
        usnet::sim::WorldSpec spec;
        std::string err;
        if (!usnet::sim::parse_world("switch " + sw + "\naddr 10.0.2.2/24\ngateway none\nseed 43\n", &spec, &err)) throw Unsupported{};
        w_ = usnet::sim::build_world(spec, {}, &err);
        if (!w_.net) {
            std::fprintf(stderr, "gateway: %s\n", err.c_str());
            std::exit(3);
        }
        w_.net->set_realtime(&mu_);
        pump_ = std::thread([this] {
            while (!stop_) {
                usnet::Time wait = 10 * usnet::kMs;
                {
                    std::lock_guard<usnet::CallLock> g(mu_);
                    w_.net->settle_now();
                    const usnet::Time next = w_.net->next_event(), now = w_.net->now();
                    if (next != usnet::kNever) wait = std::clamp<usnet::Time>(next - now, 0, wait);
                }
                w_.net->wait_switch(wait);
            }
        });
    }
    ~Gateway() {
        stop_ = true;
        pump_.join();
    }
    template <class F>
    auto call(F&& f) {
        std::lock_guard<usnet::CallLock> g(mu_);
        return f(*w_.host);
    }

private:
    usnet::CallLock mu_;
    usnet::sim::DefaultWorld w_;
    std::atomic<bool> stop_{false};
    std::thread pump_;
};

class ShimApi : public conformance::LibcApi {
public:
    int socket(conformance::Host h, int d, int t, int p) override {
        if (h == conformance::kHost) return ::socket(d, t, p);
        const int r = gw().call([&](usnet::Stack& s) { return s.socket(d, t, p); });
        return r >= 0 ? r + kGwBase : r;
    }
    int kernel_socket(int d, int t) override { return ::socket(d, t, 0); }
    int ip(conformance::Host h, const std::string& args) override {
        if (h == conformance::kHost) return ip_on_own_stack(args);
        return gw().call([&](usnet::Stack& s) { return usnet::sim::ip_command(s, args); });
    }

#define GW_OR_LIBC(name, call_args, libc_call)                                                   \
    if (fd >= kGwBase) return gw().call([&](usnet::Stack& s) { const int fd_ = fd - kGwBase; return s.name call_args; }); \
    return libc_call
    int bind(int fd, const sockaddr* a, socklen_t l) override { GW_OR_LIBC(bind, (fd_, a, l), LibcApi::bind(fd, a, l)); }
    int connect(int fd, const sockaddr* a, socklen_t l) override {
        GW_OR_LIBC(connect, (fd_, a, l), LibcApi::connect(fd, a, l));
    }
    int getsockname(int fd, sockaddr* a, socklen_t* l) override {
        GW_OR_LIBC(getsockname, (fd_, a, l), LibcApi::getsockname(fd, a, l));
    }
    int getpeername(int fd, sockaddr* a, socklen_t* l) override {
        GW_OR_LIBC(getpeername, (fd_, a, l), LibcApi::getpeername(fd, a, l));
    }
    ssize_t sendmsg(int fd, const msghdr* m, int f) override { GW_OR_LIBC(sendmsg, (fd_, m, f), LibcApi::sendmsg(fd, m, f)); }
    ssize_t recvmsg(int fd, msghdr* m, int f) override { GW_OR_LIBC(recvmsg, (fd_, m, f), LibcApi::recvmsg(fd, m, f)); }
    ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) override {
        GW_OR_LIBC(recvfrom, (fd_, b, n, f, a, l), LibcApi::recvfrom(fd, b, n, f, a, l));
    }
    int setsockopt(int fd, int lv, int n, const void* v, socklen_t len) override {
        GW_OR_LIBC(setsockopt, (fd_, lv, n, v, len), LibcApi::setsockopt(fd, lv, n, v, len));
    }
    int getsockopt(int fd, int lv, int n, void* v, socklen_t* len) override {
        GW_OR_LIBC(getsockopt, (fd_, lv, n, v, len), LibcApi::getsockopt(fd, lv, n, v, len));
    }
    int shutdown(int fd, int how) override { GW_OR_LIBC(shutdown, (fd_, how), LibcApi::shutdown(fd, how)); }
    int close(int fd) override { GW_OR_LIBC(close, (fd_), LibcApi::close(fd)); }
    int ioctl(int fd, unsigned long req, void* arg) override { GW_OR_LIBC(ioctl, (fd_, req, arg), LibcApi::ioctl(fd, req, arg)); }
    int fcntl(int fd, int cmd, long arg) override { GW_OR_LIBC(fcntl, (fd_, cmd, arg), LibcApi::fcntl(fd, cmd, arg)); }
#undef GW_OR_LIBC
    // A poll names one host's sockets (as in every scenario).
    int poll(pollfd* fds, nfds_t n, int t) override {
        if (n == 0 || fds[0].fd < kGwBase) return LibcApi::poll(fds, n, t);
        std::vector<pollfd> v(fds, fds + n);
        for (auto& p : v) p.fd -= kGwBase;
        const int r = gw().call([&](usnet::Stack& s) { return s.poll(v.data(), n, t); });
        for (nfds_t i = 0; i < n; ++i) fds[i].revents = v[i].revents;
        return r;
    }

private:
    // What `usnet ip PID ARGS` does, asked of this very process's shim (as the kernel
    // runner runs `ip` against its own namespace): 0 if it took the command, else 1.
    static int ip_on_own_stack(const std::string& args) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        const std::string name = "usnet-stat-" + std::to_string(getpid());
        std::memcpy(a.sun_path + 1, name.data(), name.size());
        const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
        std::string reply;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) == 0) {
            const std::string line = "ip " + args + "\n";
            (void)!::write(fd, line.data(), line.size());
            ::shutdown(fd, SHUT_WR);
            char buf[256];
            for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) reply.append(buf, size_t(n));
        }
        ::close(fd);
        return reply.rfind("ok", 0) == 0 ? 0 : 1;
    }
    Gateway& gw() {
        if (!gw_) {
            const char* sw = std::getenv("USNET_GATEWAY_SWITCH");
            if (!sw || !*sw) throw Unsupported{};
            gw_ = std::make_unique<Gateway>(sw);
        }
        return *gw_;
    }
    std::unique_ptr<Gateway> gw_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SUITE.NAME | --list\n", argv[0]);
        return 2;
    }
    const std::string want = argv[1];
    for (const auto& s : conformance::registry()) {
        const std::string name = s.suite + "." + s.name;
        if (want == "--list") {
            std::printf("%s\n", name.c_str());
            continue;
        }
        if (name != want) continue;
        // The shim builds the host's stack at the first socket: make it exist from the start,
        // as the kernel's host does (to answer ARP and send ICMP errors on a switch, and to
        // take `ip` commands before the scenario's first socket).
        ::close(::socket(AF_INET, SOCK_DGRAM, 0));
        std::vector<std::string> trace;
        {
            ShimApi api;
            conformance::T t(api);
            try {
                s.fn(t);
            } catch (const Unsupported&) {
                std::printf("UNSUPPORTED\n");
                return 0;
            }
            trace = std::move(t.trace);
        }
        for (const auto& l : trace) std::printf("%s\n", l.c_str());
        return 0;
    }
    return want == "--list" ? 0 : 3;
}
