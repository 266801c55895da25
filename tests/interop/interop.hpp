// Helpers for the tests against the Linux kernel: kernel sockets made inside a namespace,
// a usnet world driven in real time by a pump thread, and tshark's verdict on a capture.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netns.hpp"
#include "usnet/sim.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"

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
    usnet::CallLock mu;
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
        std::lock_guard<usnet::CallLock> g(mu);
        return f(*w.host);
    }
    // A usnet socket with a receive timeout (a lost datagram fails a test instead of
    // hanging it), bound to ip:port if asked.
    int usock(int type, int proto, Ip4 ip = Ip4(), uint16_t port = 0, bool bind = false) {
        return call([&](Stack& s) {
            const int fd = s.socket(AF_INET, type, proto);
            timeval tv{3, 0};
            s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (bind) {
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_port = htons(port);
                a.sin_addr.s_addr = ip.net();
                if (s.bind(fd, sap(a), sizeof a) != 0) return -1;
            }
            return fd;
        });
    }
    ssize_t usend(int fd, const void* p, size_t n, const char* ip, uint16_t port) {
        sockaddr_in a = addr4(ip, port);
        return call([&](Stack& s) { return s.sendto(fd, p, n, 0, sap(a), sizeof a); });
    }
    // Blocks (under the lock, which a blocking usnet call lets go of while it waits).
    ssize_t urecv(int fd, void* p, size_t n, sockaddr_in* from = nullptr) {
        socklen_t len = sizeof(sockaddr_in);
        return call([&](Stack& s) { return s.recvfrom(fd, p, n, 0, from ? sap(*from) : nullptr, from ? &len : nullptr); });
    }
    Counters counters() {
        return call([](Stack& s) { return s.counters(); });
    }
    Mac usnet_mac() {
        return call([](Stack& s) { return s.interfaces().back().mac; });
    }
};

// Frames put on a device from the kernel's side (a raw AF_PACKET socket in ns), as a host
// behind it would send them: into a TAP they reach usnet; into a vxlan device, its segment.
struct RawLink {
    int fd = -1;
    sockaddr_ll ll{};
    RawLink(Netns& ns, const char* dev) {
        fd = ns.in([] { return ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); });
        ll.sll_family = AF_PACKET;
        ll.sll_ifindex = int(ns.in([dev] { return if_nametoindex(dev); }));
        ll.sll_halen = 6;
    }
    ~RawLink() {
        if (fd >= 0) ::close(fd);
    }
    RawLink(const RawLink&) = delete;
    RawLink& operator=(const RawLink&) = delete;
    bool ok() const { return fd >= 0 && ll.sll_ifindex > 0; }
    bool send(const std::vector<uint8_t>& f) {
        return ::sendto(fd, f.data(), f.size(), 0, reinterpret_cast<const sockaddr*>(&ll), sizeof ll) == ssize_t(f.size());
    }
};

// A connected usnet socket sending to a closed port on Linux, then a connected Linux
// socket (in ns) sending to a closed port on usnet: each learns ECONNREFUSED from the
// other's ICMP port unreachable (__udp4_lib_err, on both).
inline void expect_refused_both_ways(Pumped& u, Netns& ns, const char* linux_ip, const char* usnet_ip) {
    const int us = u.usock(SOCK_DGRAM, 0);
    sockaddr_in closed = addr4(linux_ip, 9);
    ASSERT_EQ(u.call([&](Stack& s) { return s.connect(us, sap(closed), sizeof closed); }), 0);
    ASSERT_EQ(u.call([&](Stack& s) { return s.send(us, "x", 1, 0); }), 1);
    char buf[16];
    errno = 0;
    EXPECT_EQ(u.urecv(us, buf, sizeof buf), -1);
    EXPECT_EQ(errno, ECONNREFUSED) << last_error_text();
    const int k = kernel_socket(ns, SOCK_DGRAM, 0);
    sockaddr_in uclosed = addr4(usnet_ip, 9);
    ASSERT_EQ(::connect(k, sap(uclosed), sizeof uclosed), 0);
    ASSERT_EQ(::send(k, "y", 1, 0), 1);
    errno = 0;
    EXPECT_EQ(::recv(k, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
    ::close(k);
}

// Ethernet, IPv4 (its checksum right) and UDP with the given checksum field, for frames
// injected from the kernel's side.
inline std::vector<uint8_t> udp_frame(const Mac& dst, const Mac& src, Ip4 from, Ip4 to, uint16_t sport,
                                      uint16_t dport, const std::string& data, uint16_t udp_checksum) {
    std::vector<uint8_t> f(14 + 20 + 8 + data.size());
    std::memcpy(f.data(), dst.b.data(), 6);
    std::memcpy(f.data() + 6, src.b.data(), 6);
    f[12] = 0x08;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    wire::store16(ip + 2, uint16_t(28 + data.size()));
    ip[8] = 64;
    ip[9] = 17;
    wire::store32(ip + 12, from.v);
    wire::store32(ip + 16, to.v);
    wire::store16(ip + 10, wire::checksum(ip, 20));
    wire::store16(ip + 20, sport);
    wire::store16(ip + 22, dport);
    wire::store16(ip + 24, uint16_t(8 + data.size()));
    wire::store16(ip + 26, udp_checksum);
    std::memcpy(ip + 28, data.data(), data.size());
    return f;
}
// The right UDP checksum of such a frame.
inline uint16_t udp_checksum_of(const std::vector<uint8_t>& frame) {
    std::vector<uint8_t> f = frame;
    uint8_t* ip = f.data() + 14;
    wire::store16(ip + 26, 0);
    const uint16_t len = wire::load16(ip + 24);
    const uint16_t c = wire::checksum_fold(wire::checksum_add(
        wire::pseudo_header_sum(Ip4(wire::load32(ip + 12)), Ip4(wire::load32(ip + 16)), 17, len), ip + 20, len));
    return c ? c : 0xffff;
}

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
