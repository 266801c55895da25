// `usnet demo`: the seed note's experiment, step by step, on the kernel (in a private
// network namespace) and on usnet's default world, side by side.
#include <arpa/inet.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/kernel_ns.hpp"
#include "usnet/sim.hpp"

namespace usnet::cli {

namespace {

// The calls of the experiment, against either implementation.
struct Calls {
    std::function<int(int, int, int)> socket;
    std::function<ssize_t(int, const void*, size_t, int, const sockaddr*, socklen_t)> sendto;
    std::function<int(int, const sockaddr*, socklen_t)> connect;
    std::function<int(int, sockaddr*, socklen_t*)> getpeername;
    std::function<int(int, sockaddr*, socklen_t*)> getsockname;
};

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return fmt::format("-1 {} ({})", n ? n : "?", std::strerror(e));
}

std::string show_addr(const sockaddr_in& a) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    const unsigned p = ntohs(a.sin_port);
    return fmt::format("{}:{}", ip, p >= 32768 && p <= 60999 ? "<ephemeral>" : std::to_string(p));
}

// Returns one line per step: "<result>\t<usnet reason or empty>\t<usnet trace or empty>".
std::vector<std::string> experiment(const Calls& c, const std::function<std::string()>& reason,
                                    const std::function<std::string()>& trace) {
    std::vector<std::string> out;
    auto rec = [&](long r, const std::string& ok) {
        out.push_back((r < 0 ? errname(errno) : ok) + "\t" + (r < 0 ? reason() : std::string()) + "\t" + trace());
    };
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(53);
    inet_pton(AF_INET, "8.8.8.8", &dst.sin_addr);
    auto* d = reinterpret_cast<const sockaddr*>(&dst);
    sockaddr_in a{};
    socklen_t len = sizeof a;

    int s = c.socket(AF_INET, SOCK_DGRAM, 0);
    rec(s, "fd");
    ssize_t n = c.sendto(s, "", 0, 0, d, sizeof dst);
    rec(n, std::to_string(n));
    len = sizeof a;
    int r = c.getpeername(s, reinterpret_cast<sockaddr*>(&a), &len);
    rec(r, r == 0 ? show_addr(a) : "");
    len = sizeof a;
    r = c.getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    rec(r, r == 0 ? show_addr(a) : "");
    r = c.connect(s, d, sizeof dst);
    rec(r, "0");
    len = sizeof a;
    r = c.getpeername(s, reinterpret_cast<sockaddr*>(&a), &len);
    rec(r, r == 0 ? show_addr(a) : "");
    len = sizeof a;
    r = c.getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    rec(r, r == 0 ? show_addr(a) : "");
    sockaddr_in unspec{};
    unspec.sin_family = AF_UNSPEC;
    r = c.connect(s, reinterpret_cast<sockaddr*>(&unspec), sizeof unspec);
    rec(r, "0");
    len = sizeof a;
    r = c.getpeername(s, reinterpret_cast<sockaddr*>(&a), &len);
    rec(r, r == 0 ? show_addr(a) : "");
    return out;
}

const char* kSteps[] = {
    "socket(AF_INET, SOCK_DGRAM, 0)",
    "sendto(\"\", 8.8.8.8:53)",
    "getpeername()",
    "getsockname()",
    "connect(8.8.8.8:53)",
    "getpeername()",
    "getsockname()",
    "connect(AF_UNSPEC)",
    "getpeername()",
};

}  // namespace

int run_demo() {
    fmt::print("The seed note asks why getpeername() on a UDP socket fails until connect().\n");
    fmt::print("Each step runs on the Linux kernel (in a private network namespace: lo, eth0 10.0.2.15/24,\n");
    fmt::print("default via 10.0.2.2, nothing leaves it) and on usnet's default world. Under each step,\n");
    fmt::print("the path the call took through usnet, named after the Linux functions it reproduces.\n\n");

    // Kernel side, in its own namespace.
    std::string kout, why;
    const bool kernel_ok = run_in_private_netns(
        [] {
            const bool net = std::system("ip link add eth0 type veth peer name gw0 >/dev/null 2>&1 && "
                                         "ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && "
                                         "ip link set gw0 up && ip route add default via 10.0.2.2") == 0;
            if (!net) return std::string("!could not build eth0 and the default route (is iproute2 installed?)");
            Calls k{::socket, ::sendto, ::connect, ::getpeername, ::getsockname};
            std::string text;
            for (auto& l : experiment(k, [] { return std::string(); }, [] { return std::string(); })) {
                text += l.substr(0, l.find('\t')) + "\n";
            }
            return text;
        },
        &kout, &why);
    std::vector<std::string> kernel;
    if (kernel_ok && !kout.empty() && kout[0] == '!') {
        why = kout.substr(1);
    } else if (kernel_ok) {
        size_t pos = 0;
        while (pos < kout.size()) {
            size_t nl = kout.find('\n', pos);
            kernel.push_back(kout.substr(pos, nl - pos));
            pos = nl + 1;
        }
    }

    auto world = sim::make_default_world(1);
    Stack& h = *world.host;
    Calls u{[&](int a, int b, int c) { return h.socket(a, b, c); },
            [&](int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) { return h.sendto(fd, b, n, f, to, tl); },
            [&](int fd, const sockaddr* a, socklen_t l) { return h.connect(fd, a, l); },
            [&](int fd, sockaddr* a, socklen_t* l) { return h.getpeername(fd, a, l); },
            [&](int fd, sockaddr* a, socklen_t* l) { return h.getsockname(fd, a, l); }};
    // Each usnet call's path through the stack, in the kernel's terms (docs/trace.md).
    std::string trees;
    h.set_tracer([&](const std::string& t) { trees += t; });
    auto mine = experiment(u, [&] { return h.explain_last_error(); }, [&] {
        std::string t;
        t.swap(trees);
        return t;
    });
    h.set_tracer(nullptr);

    fmt::print("{:<32} {:<52} {}\n", "call", "kernel", "usnet");
    fmt::print("{:-<32} {:-<52} {:-<52}\n", "", "", "");
    int mismatches = 0;
    for (size_t i = 0; i < mine.size(); ++i) {
        const size_t t1 = mine[i].find('\t'), t2 = mine[i].find('\t', t1 + 1);
        const std::string ures = mine[i].substr(0, t1);
        const std::string ureason = mine[i].substr(t1 + 1, t2 - t1 - 1);
        const std::string utrace = mine[i].substr(t2 + 1);
        std::string kres = "(not run)";
        if (i < kernel.size()) kres = kernel[i].substr(0, kernel[i].find('\t'));
        if (i < kernel.size() && kres != ures) ++mismatches;
        fmt::print("{:<32} {:<52} {}{}\n", kSteps[i], kres, ures, i < kernel.size() && kres != ures ? "   <-- differs" : "");
        if (!ureason.empty()) fmt::print("{:<32} {:<52} why: {}\n", "", "", ureason);
        // The path the call took through usnet (its first line repeats the call), indented.
        size_t pos = utrace.find('\n');
        while (pos != std::string::npos && pos + 1 < utrace.size()) {
            const size_t nl = utrace.find('\n', pos + 1);
            fmt::print("    {}\n", utrace.substr(pos + 1, nl - pos - 1));
            pos = nl;
        }
    }
    fmt::print("\n");
    if (!kernel_ok || kernel.empty())
        fmt::print("kernel column not run: {}\n", why.empty() ? "unknown reason" : why);
    else if (mismatches == 0)
        fmt::print("usnet and the kernel agree on every step.\n");
    else
        fmt::print("{} step(s) differ.\n", mismatches);
    return mismatches == 0 ? 0 : 1;
}

}  // namespace usnet::cli
