// usnet bench loopback: datagrams per second for a one-thread sendto+recvfrom loop over
// 127.0.0.1, through usnet (the default world's host) and through the real kernel (inside
// a private network namespace, so nothing leaves the machine), at 64 and 1472 bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/kernel_ns.hpp"
#include "core/stack_impl.hpp"
#include "usnet/sim.hpp"

// Every operator new in this program is counted, so the usnet figure covers all heap use on
// the datagram path (std::vector growth and the like), not only the packet pool's own malloc.
namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    const std::size_t a = std::max(std::size_t(al), sizeof(void*));
    void* p = nullptr;
    if (posix_memalign(&p, a, n ? n : 1) == 0) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace usnet::cli {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kSizes[] = {64, 1472};
constexpr uint16_t kPort = 9000;

struct Figure {
    double pps = 0;
    double allocs_per_dgram = 0;
    std::string error;  // non-empty: the measurement failed
};

sockaddr_in loopback_addr(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// Runs step() (one datagram out and back in) for `seconds`, split into kSlices equal slices,
// checking the clock every 64 datagrams. Returns the median of the slices' datagrams per
// second (robust against a neighbour taking the CPU for part of the run), or a negative
// value if step() failed; *count gets the datagrams of the whole run.
constexpr int kSlices = 10;

template <class Step>
double timed(double seconds, uint64_t* count, Step&& step) {
    const auto slice = std::chrono::duration<double>(seconds / kSlices);
    double rates[kSlices];
    uint64_t total = 0;
    for (double& rate : rates) {
        const auto start = Clock::now();
        uint64_t n = 0;
        for (;;) {
            for (int i = 0; i < 64; ++i, ++n)
                if (!step()) return -1;
            const auto el = std::chrono::duration<double>(Clock::now() - start);
            if (el >= slice) {
                rate = double(n) / el.count();
                break;
            }
        }
        total += n;
    }
    *count = total;
    std::sort(std::begin(rates), std::end(rates));
    return (rates[(kSlices - 1) / 2] + rates[kSlices / 2]) / 2;
}

Figure measure_usnet(size_t size, double seconds) {
    Figure f;
    auto world = sim::make_default_world(1);
    Stack& s = *world.host;
    const int rx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const int tx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = loopback_addr(kPort);
    const auto* to = reinterpret_cast<const sockaddr*>(&dst);
    if (rx < 0 || tx < 0 || s.bind(rx, to, sizeof dst) != 0) {
        f.error = "socket setup: " + last_error_text();
        return f;
    }
    std::vector<uint8_t> out(size, 0xa5), in(65536);
    auto step = [&] {
        return s.sendto(tx, out.data(), size, 0, to, sizeof dst) == ssize_t(size) &&
               s.recvfrom(rx, in.data(), in.size(), 0, nullptr, nullptr) == ssize_t(size);
    };
    for (int i = 0; i < 1000; ++i)  // warm-up: autobind, pool, caches
        if (!step()) {
            f.error = "warm-up: " + last_error_text();
            return f;
        }
    buf::Pool& pool = s.impl().pool;
    const uint64_t pool0 = pool.heap_allocations();
    const uint64_t new0 = g_news.load(std::memory_order_relaxed);
    uint64_t n = 0;
    f.pps = timed(seconds, &n, step);
    const uint64_t allocs = (pool.heap_allocations() - pool0) + (g_news.load(std::memory_order_relaxed) - new0);
    if (f.pps < 0) {
        f.error = "datagram lost: " + last_error_text();
        return f;
    }
    f.allocs_per_dgram = n ? double(allocs) / double(n) : 0;
    return f;
}

// The same loop on kernel sockets; runs in the private namespace's child. Never throws.
std::string kernel_loop(size_t size, double seconds, double* pps) {
    const int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in dst = loopback_addr(kPort);
    const auto* to = reinterpret_cast<const sockaddr*>(&dst);
    auto fail = [&](const char* what) {
        std::string m = std::string(what) + ": " + std::strerror(errno);
        if (rx >= 0) ::close(rx);
        if (tx >= 0) ::close(tx);
        return m;
    };
    if (rx < 0 || tx < 0) return fail("socket");
    if (::bind(rx, to, sizeof dst) != 0) return fail("bind 127.0.0.1");
    timeval tv{1, 0};  // a lost datagram must not hang the child
    if (::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return fail("SO_RCVTIMEO");
    std::vector<uint8_t> out(size, 0xa5), in(65536);
    auto step = [&] {
        return ::sendto(tx, out.data(), size, 0, to, sizeof dst) == ssize_t(size) &&
               ::recvfrom(rx, in.data(), in.size(), 0, nullptr, nullptr) == ssize_t(size);
    };
    for (int i = 0; i < 1000; ++i)
        if (!step()) return fail("warm-up");
    uint64_t n = 0;
    *pps = timed(seconds, &n, step);
    if (*pps < 0) return fail("sendto/recvfrom");
    ::close(rx);
    ::close(tx);
    return "";
}

// Measures every size in one private namespace. Result: "ok <pps>..." or "fail <reason>".
std::string kernel_child(double seconds) {
    std::string r = "ok";
    for (size_t size : kSizes) {
        double pps = 0;
        std::string err = kernel_loop(size, seconds, &pps);
        if (!err.empty()) return "fail " + err;
        r += fmt::format(" {:.3f}", pps);
    }
    return r;
}

std::string json_num(double v, const char* spec) { return std::isfinite(v) ? fmt::format(fmt::runtime(spec), v) : "null"; }

std::string json_str(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if (static_cast<unsigned char>(c) < 0x20) o += fmt::format("\\u{:04x}", int(c));
        else o += c;
    }
    return o + "\"";
}

int bench_loopback(const BenchOptions& o) {
    Figure us[std::size(kSizes)];
    for (size_t i = 0; i < std::size(kSizes); ++i) {
        us[i] = measure_usnet(kSizes[i], o.seconds);
        if (!us[i].error.empty()) {
            fmt::print(stderr, "usnet bench: usnet {} bytes: {}\n", kSizes[i], us[i].error);
            return 1;
        }
    }

    std::optional<std::vector<double>> kern;
    std::string why, out;
    std::fflush(stdout);
    std::fflush(stderr);
    const double secs = o.seconds;
    if (!run_in_private_netns([secs] { return kernel_child(secs); }, &out, &why)) {
        // why is set by run_in_private_netns
    } else if (out.rfind("ok", 0) != 0) {
        why = out.rfind("fail ", 0) == 0 ? out.substr(5) : "unexpected reply from the namespace child: " + out;
    } else {
        std::istringstream in(out.substr(2));
        std::vector<double> v;
        for (double x; in >> x;) v.push_back(x);
        if (v.size() == std::size(kSizes)) kern = std::move(v);
        else why = "unexpected reply from the namespace child: " + out;
    }

    if (o.json) {
        std::string j = "[";
        for (size_t i = 0; i < std::size(kSizes); ++i) {
            const double kp = kern ? (*kern)[i] : NAN;
            const double ratio = kern && kp > 0 ? us[i].pps / kp : NAN;
            j += fmt::format("{}{{\"size\":{},\"usnet_pps\":{},\"kernel_pps\":{},\"ratio\":{},\"usnet_allocs_per_datagram\":{}",
                             i ? "," : "", kSizes[i], json_num(us[i].pps, "{:.0f}"), json_num(kp, "{:.0f}"),
                             json_num(ratio, "{:.2f}"), json_num(us[i].allocs_per_dgram, "{:.6g}"));
            if (!kern) j += ",\"kernel_error\":" + json_str(why);
            j += "}";
        }
        j += "]\n";
        fmt::print("{}", j);
        if (!kern) fmt::print(stderr, "usnet bench: no kernel figures: {}\n", why);
        return 0;
    }

    fmt::print("usnet bench loopback: one thread, sendto then recvfrom over 127.0.0.1, one datagram at a time\n");
    fmt::print("usnet: the default world's host; kernel: this machine's kernel in a private network namespace\n");
    fmt::print("{:.3g} s per figure (the median of {} equal slices)\n\n", o.seconds, kSlices);
    fmt::print("{:>6}  {:>14}  {:>14}  {:>12}  {:>18}\n", "size", "usnet pps", "kernel pps", "usnet/kernel",
               "usnet allocs/dgram");
    for (size_t i = 0; i < std::size(kSizes); ++i) {
        const std::string kp = kern ? fmt::format("{:.0f}", (*kern)[i]) : "-";
        const std::string ratio = kern && (*kern)[i] > 0 ? fmt::format("{:.1f}x", us[i].pps / (*kern)[i]) : "-";
        fmt::print("{:>6}  {:>14.0f}  {:>14}  {:>12}  {:>18.4g}\n", kSizes[i], us[i].pps, kp, ratio,
                   us[i].allocs_per_dgram);
    }
    if (!kern) fmt::print("\nkernel column missing: could not measure inside a private network namespace: {}\n", why);
    return 0;
}

}  // namespace

int run_bench(const BenchOptions& o) {
    if (!(o.seconds > 0) || !std::isfinite(o.seconds) || o.seconds > 3600) {
        fmt::print(stderr, "usnet bench: --seconds must be a number of seconds in (0, 3600], not {}\n", o.seconds);
        return 2;
    }
    if (o.what == "loopback") return bench_loopback(o);
    if (o.what == "pingpong") return bench_pingpong(o);
    if (o.what == "tap") return bench_tap(o);
    fmt::print(stderr, "usnet bench: unknown measurement '{}' (known: loopback, pingpong, tap)\n", o.what);
    return 2;
}

}  // namespace usnet::cli
