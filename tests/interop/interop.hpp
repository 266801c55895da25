// Helpers for the tests against the Linux kernel: kernel sockets made inside a namespace,
// a usnet world driven in real time by a pump thread, and tshark's verdict on a capture.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netns.hpp"
#include "usnet/sim.hpp"

namespace usnet::test {

inline sockaddr_in addr4(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}
inline sockaddr* sap(sockaddr_in& a) { return reinterpret_cast<sockaddr*>(&a); }

// A kernel socket inside ns, with a receive timeout so a lost datagram fails a test
// instead of hanging it.
inline int kernel_socket(Netns& ns, int type, int proto, const char* bind_ip = nullptr, uint16_t port = 0) {
    return ns.in([&] {
        const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, proto);
        if (fd < 0) return -1;
        timeval tv{3, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (bind_ip) {
            sockaddr_in a = addr4(bind_ip, port);
            if (::bind(fd, sap(a), sizeof a) != 0) {
                ::close(fd);
                return -1;
            }
        }
        return fd;
    });
}

// A temporary directory, removed with everything in it.
struct TempDir {
    TempDir() {
        char t[] = "/tmp/usnet-interop-XXXXXX";
        path = ::mkdtemp(t) ? t : "/tmp";
    }
    ~TempDir() {
        std::error_code ec;
        if (!std::getenv("KEEP")) std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
    std::string path;
};

// A usnet world (a host, or a switch's hosts) in real time: tests call in under mu, and
// a pump thread keeps taking frames in (ARP and pings answered while nobody calls).
struct Pumped {
    std::recursive_mutex mu;
    sim::DefaultWorld w;
    std::atomic<bool> stop{false};
    std::thread pump;
    void start() {
        w.net->set_realtime(&mu);
        pump = std::thread([this] {
            while (!stop.load()) w.net->pump(5 * kMs);
        });
    }
    ~Pumped() {
        stop = true;
        if (pump.joinable()) pump.join();
    }
    Stack& host() { return *w.host; }
    template <class F>
    auto call(F&& f) -> decltype(f(*w.host)) {
        std::lock_guard<std::recursive_mutex> g(mu);
        return f(*w.host);
    }
};

// A command's output (with its stderr unless quiet) and exit status.
inline std::string run_cmd(const std::string& cmd, int* status = nullptr, bool quiet = false) {
    FILE* f = ::popen((cmd + (quiet ? " 2>/dev/null" : " 2>&1")).c_str(), "r");
    std::string out;
    if (!f) return out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    const int st = ::pclose(f);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

// tshark's view of a capture with IP and UDP checksum validation on (ICMP and IGMP always
// validate): how many frames, and the numbers of those with an expert warning or error
// (bad checksums, malformed packets).
struct CaptureVerdict {
    bool readable = false;
    int frames = 0;
    std::vector<int> problems;
    std::string report;
};
inline CaptureVerdict tshark_verdict(const std::string& path) {
    CaptureVerdict v;
    const std::string base = "tshark -n -r " + path + " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE";
    int st = 0;
    const std::string frames = run_cmd(base + " -T fields -e frame.number", &st, true);
    if (st != 0) {
        v.report = run_cmd(base);
        return v;
    }
    v.readable = true;
    for (char c : frames) v.frames += c == '\n';
    const std::string bad =
        run_cmd(base + " -Y '_ws.expert.severity >= warning || _ws.malformed' -T fields -e frame.number", &st, true);
    for (size_t i = 0; i < bad.size();) {
        v.problems.push_back(std::atoi(bad.c_str() + i));
        i = bad.find('\n', i);
        if (i == std::string::npos) break;
        ++i;
    }
    if (!v.problems.empty()) v.report = run_cmd(base + " -q -z expert,warn", nullptr, true) + run_cmd(base, nullptr, true);
    return v;
}

inline bool have_tshark() { return ::system("command -v tshark >/dev/null 2>&1") == 0; }

// At least min_frames frames, none with a problem.
inline testing::AssertionResult capture_is_clean(const std::string& path, int min_frames) {
    if (!have_tshark()) return testing::AssertionSuccess() << "(no tshark)";
    const CaptureVerdict v = tshark_verdict(path);
    if (!v.readable) return testing::AssertionFailure() << "tshark cannot read " << path << ": " << v.report;
    if (v.frames < min_frames)
        return testing::AssertionFailure() << path << " holds " << v.frames << " frames, expected " << min_frames;
    if (!v.problems.empty()) return testing::AssertionFailure() << "tshark finds problems in " << path << ":\n" << v.report;
    return testing::AssertionSuccess();
}

// The frames tshark selects with a display filter (their count).
inline int tshark_count(const std::string& path, const std::string& filter) {
    const std::string out = run_cmd("tshark -n -r " + path + " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -Y '" +
                                        filter + "' -T fields -e frame.number",
                                    nullptr, true);
    int n = 0;
    for (char c : out) n += c == '\n';
    return n;
}

}  // namespace usnet::test
