// usnet bench tap: datagrams per second one way, in one run inside a private network
// namespace: usnet on a TAP device sending to the Linux kernel at its other end and back
// again, and, for scale, Linux to Linux over a veth pair (a second namespace), at 64 and
// 1472 bytes. Each sender sends one datagram a call as fast as it can; the figure is what
// its receiver takes in. The settings take turns, round after round, so that a neighbour
// taking the CPU for a while weighs on all of them alike; each figure is the median of its
// slices over all rounds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/kernel_ns.hpp"
#include "usnet/sim.hpp"

namespace usnet::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kSizes[] = {64, 1472};
constexpr int kRounds = 5;
constexpr int kSlices = 3;  // a measurement's slices
constexpr uint16_t kPort = 9000;

struct Setting {
    const char* key;
    const char* text;
};
// The first is the scale the others are measured against.
constexpr Setting kSettings[] = {
    {"linux_to_linux_veth", "Linux -> Linux, veth"},
    {"usnet_to_linux_tap", "usnet -> Linux, TAP"},
    {"usnet_to_linux_tap_csum_offload", "usnet -> Linux, TAP, checksum offload"},
    {"linux_to_usnet_tap", "Linux -> usnet, TAP"},
};

sockaddr_in sin(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

// One flow: a sender and a receiver thread, and the receiver's count.
struct Flow {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> received{0};
    std::vector<std::thread> threads;
    ~Flow() { end(); }
    void end() {
        stop = true;
        for (auto& t : threads) t.join();
        threads.clear();
    }
    // Datagrams a second the receiver took in, in kSlices equal slices of `seconds` after
    // it started and a warm-up, added to *rates. False if nothing arrived.
    bool measure(double seconds, std::vector<double>* rates) {
        const auto give_up = Clock::now() + std::chrono::seconds(3);
        while (received.load() == 0)
            if (Clock::now() > give_up) return false;
            else std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.05, seconds / 4)));
        for (int i = 0; i < kSlices; ++i) {
            const uint64_t n0 = received.load();
            const auto t0 = Clock::now();
            std::this_thread::sleep_for(std::chrono::duration<double>(seconds / kSlices));
            rates->push_back(double(received.load() - n0) / std::chrono::duration<double>(Clock::now() - t0).count());
        }
        return true;
    }
};

// Linux sockets, each made in the namespace netns (a descriptor) by a thread that stays.
void kernel_sender(Flow& f, int netns, const char* dst, size_t size) {
    f.threads.emplace_back([&f, netns, dst, size] {
        setns(netns, CLONE_NEWNET);
        const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const sockaddr_in to = sin(dst, kPort);
        std::vector<char> buf(size, 'k');
        while (!f.stop.load(std::memory_order_relaxed))
            for (int i = 0; i < 64; ++i) ::sendto(s, buf.data(), size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        ::close(s);
    });
}

void kernel_receiver(Flow& f, int netns, const char* ip) {
    std::atomic<bool> ready{false};
    f.threads.emplace_back([&f, &ready, netns, ip] {
        setns(netns, CLONE_NEWNET);
        const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const sockaddr_in a = sin(ip, kPort);
        ::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a);
        timeval tv{0, 100000};
        ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ready = true;
        char buf[2048];
        while (!f.stop.load(std::memory_order_relaxed))
            if (::recv(s, buf, sizeof buf, 0) > 0) f.received.fetch_add(1, std::memory_order_relaxed);
        ::close(s);
    });
    while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// usnet on tap0 (10.77.0.2/24) in real time, as under `usnet run`: each call takes the
// lock, and a thread takes frames in while nobody calls.
struct UsnetOnTap {
    usnet::CallLock mu;
    sim::DefaultWorld w;
    std::atomic<bool> stop{false};
    std::thread pump;
    std::string open(bool tx_offload) {
        sim::WorldSpec spec;
        spec.tap.name = "tap0";
        spec.tap.tx_checksum_offload = tx_offload;
        spec.addrs = {{Ip4(10, 77, 0, 2), 24}};
        spec.gateway = Ip4();
        std::string err;
        w = sim::build_world(spec, config_from_host(), &err);
        if (!w.net) return err;
        w.net->set_realtime(&mu);
        pump = std::thread([this] {
            while (!stop.load()) w.net->pump(10 * kMs);
        });
        return "";
    }
    ~UsnetOnTap() {
        stop = true;
        if (pump.joinable()) pump.join();
    }
    void sender(Flow& f, size_t size) {
        f.threads.emplace_back([this, &f, size] {
            Stack& s = *w.host;
            int fd;
            {
                std::lock_guard<usnet::CallLock> g(mu);
                fd = s.socket(AF_INET, SOCK_DGRAM, 0);
            }
            const sockaddr_in to = sin("10.77.0.1", kPort);
            std::vector<char> buf(size, 'u');
            // A batch per lock, then a yield: a mutex is not fair, and a sender that took it
            // straight back starved the pump (the ARP reply was never taken in).
            while (!f.stop.load(std::memory_order_relaxed)) {
                {
                    std::lock_guard<usnet::CallLock> g(mu);
                    for (int i = 0; i < 64; ++i)
                        s.sendto(fd, buf.data(), size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
                }
                std::this_thread::yield();
            }
        });
    }
    void receiver(Flow& f) {
        Stack& s = *w.host;
        int fd;
        {
            std::lock_guard<usnet::CallLock> g(mu);
            fd = s.socket(AF_INET, SOCK_DGRAM, 0);
            const sockaddr_in a = sin("10.77.0.2", kPort);
            s.bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
            timeval tv{0, 100000};
            s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        f.threads.emplace_back([this, &f, &s, fd] {
            char buf[2048];
            while (!f.stop.load(std::memory_order_relaxed)) {
                std::lock_guard<usnet::CallLock> g(mu);
                if (s.recv(fd, buf, sizeof buf, 0) > 0) f.received.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
};

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

bool carrier(const std::string& dev) {
    for (int i = 0; i < 300; ++i) {
        if (sh("ip -o link show " + dev + " | grep -q LOWER_UP") == 0) return true;
        usleep(10000);
    }
    return false;
}

// In the private namespace's child: "ok" then "KEY SIZE PPS" lines, or "fail WHY".
std::string tap_child(double seconds) {
    // A second namespace for the veth's far end; this one holds tap0 and the veth's near end.
    const int ns1 = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns1 < 0 || unshare(CLONE_NEWNET) != 0) return "fail a second network namespace: " + std::string(std::strerror(errno));
    const int ns2 = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const bool far_ok = sh("ip link set lo up") == 0;
    setns(ns1, CLONE_NEWNET);
    const std::string far = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(ns2);
    if (!far_ok || sh("ip link add v0 type veth peer name v1 netns " + far) != 0 ||
        sh("ip addr add 10.78.0.1/24 dev v0 && ip link set v0 up") != 0 ||
        sh("ip tuntap add dev tap0 mode tap && ip addr add 10.77.0.1/24 dev tap0 && ip link set tap0 up") != 0)
        return "fail could not set up veth and tap0 (is iproute2 installed?)";
    setns(ns2, CLONE_NEWNET);
    const bool v1 = sh("ip addr add 10.78.0.2/24 dev v1 && ip link set v1 up") == 0 && carrier("v1");
    setns(ns1, CLONE_NEWNET);
    if (!v1 || !carrier("v0")) return "fail the veth pair did not come up";

    std::vector<double> rates[std::size(kSettings)][std::size(kSizes)];
    for (int round = 0; round < kRounds; ++round)
    for (size_t k = 0; k < std::size(kSizes); ++k) {
        const size_t size = kSizes[k];
        for (size_t i = 0; i < std::size(kSettings); ++i) {
            const Setting& st = kSettings[i];
            const std::string key = st.key;
            Flow f;
            UsnetOnTap u;
            if (key != "linux_to_linux_veth") {
                if (const std::string err = u.open(key == "usnet_to_linux_tap_csum_offload"); !err.empty())
                    return "fail usnet on tap0: " + err;
                if (!carrier("tap0")) return "fail tap0 has no carrier";
            }
            if (key == "linux_to_linux_veth") {
                kernel_receiver(f, ns2, "10.78.0.2");
                kernel_sender(f, ns1, "10.78.0.2", size);
            } else if (key == "linux_to_usnet_tap") {
                u.receiver(f);
                kernel_sender(f, ns1, "10.77.0.2", size);
            } else {
                kernel_receiver(f, ns1, "10.77.0.1");
                u.sender(f, size);
            }
            const bool ok = f.measure(seconds / kRounds, &rates[i][k]);
            f.end();
            if (!ok) return "fail " + std::string(st.text) + ", " + std::to_string(size) + " bytes: nothing arrived";
        }
    }
    std::string out = "ok\n";
    for (size_t i = 0; i < std::size(kSettings); ++i)
        for (size_t k = 0; k < std::size(kSizes); ++k) {
            std::vector<double>& r = rates[i][k];
            std::sort(r.begin(), r.end());
            out += fmt::format("{} {} {:.0f}\n", kSettings[i].key, kSizes[k], r[r.size() / 2]);
        }
    return out;
}

}  // namespace

int bench_tap(const BenchOptions& o) {
    std::string out, why;
    std::fflush(stdout);
    std::fflush(stderr);
    const double secs = o.seconds;
    if (!run_in_private_netns([secs] { return tap_child(secs); }, &out, &why)) {
        fmt::print(stderr, "usnet bench tap: cannot measure in a private network namespace: {}\n", why);
        return 1;
    }
    if (out.rfind("ok\n", 0) != 0) {
        fmt::print(stderr, "usnet bench tap: {}\n", out.rfind("fail ", 0) == 0 ? out.substr(5) : out);
        return 1;
    }
    // pps[setting][size]
    double pps[std::size(kSettings)][std::size(kSizes)] = {};
    std::istringstream in(out.substr(3));
    std::string key;
    size_t size;
    double v;
    while (in >> key >> size >> v)
        for (size_t i = 0; i < std::size(kSettings); ++i)
            for (size_t j = 0; j < std::size(kSizes); ++j)
                if (key == kSettings[i].key && size == kSizes[j]) pps[i][j] = v;
    if (o.json) {
        std::string j = "[";
        for (size_t k = 0; k < std::size(kSizes); ++k)
            for (size_t i = 0; i < std::size(kSettings); ++i) {
                const double ratio = pps[0][k] > 0 ? pps[i][k] / pps[0][k] : NAN;
                j += fmt::format("{}{{\"setting\":\"{}\",\"size\":{},\"pps\":{:.0f},\"veth_pps\":{:.0f},\"ratio\":{}}}",
                                 j.size() > 1 ? "," : "", kSettings[i].key, kSizes[k], pps[i][k], pps[0][k],
                                 std::isfinite(ratio) ? fmt::format("{:.3f}", ratio) : "null");
            }
        fmt::print("{}]\n", j);
        return 0;
    }
    fmt::print("usnet bench tap: one-way UDP datagrams a second, one datagram a call, in a private network namespace\n");
    fmt::print("usnet: a host on tap0 (locked per call, as under usnet run); Linux: sockets at tap0's other end;\n");
    fmt::print("scale: Linux to Linux over a veth pair; {:.3g} s a figure (the median of {} slices in {} rounds)\n\n",
               o.seconds, kSlices * kRounds, kRounds);
    fmt::print("{:<40} {:>6} {:>12} {:>10}\n", "setting", "size", "datagrams/s", "vs veth");
    for (size_t k = 0; k < std::size(kSizes); ++k)
        for (size_t i = 0; i < std::size(kSettings); ++i)
            fmt::print("{:<40} {:>6} {:>12.0f} {:>10.2f}\n", kSettings[i].text, kSizes[k], pps[i][k], pps[i][k] / pps[0][k]);
    return 0;
}

}  // namespace usnet::cli
