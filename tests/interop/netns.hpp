// Private network namespaces for tests that put frames on real kernel interfaces (TAP,
// veth, vxlan). The test process leaves the machine's namespace before any test runs
// (netns_main.cpp), so nothing it does can reach a real network; each Netns is a further
// private namespace, entered per thread (setns), so one test can hold several.
#pragma once
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

namespace usnet::test {

// Set by main: why the process could not leave the machine's namespace ("" if it did).
extern std::string g_netns_unavailable;

class Netns {
public:
    // A new namespace with lo up, IPv6 off (no router solicitations or MLD on the wire) and
    // ping sockets allowed. Null with *why when namespaces are not available.
    static std::unique_ptr<Netns> create(std::string* why) {
        if (!g_netns_unavailable.empty()) {
            *why = g_netns_unavailable;
            return nullptr;
        }
        const int here = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (here < 0 || ::unshare(CLONE_NEWNET) != 0) {
            *why = "unshare(CLONE_NEWNET) failed";
            if (here >= 0) ::close(here);
            return nullptr;
        }
        std::unique_ptr<Netns> ns(new Netns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)));
        ::setns(here, CLONE_NEWNET);
        ::close(here);
        if (ns->sh("ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                   "net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ping_group_range='0 2147483647'") != 0) {
            *why = "could not set up the namespace (ip, sysctl)";
            return nullptr;
        }
        return ns;
    }
    ~Netns() { ::close(fd_); }
    Netns(const Netns&) = delete;
    Netns& operator=(const Netns&) = delete;

    int fd() const { return fd_; }
    // Runs f with the calling thread inside this namespace (sockets it makes stay there).
    template <class F>
    auto in(F&& f) -> decltype(f()) {
        const int here = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ::setns(fd_, CLONE_NEWNET);
        struct Back {
            int fd;
            ~Back() {
                ::setns(fd, CLONE_NEWNET);
                ::close(fd);
            }
        } back{here};
        return f();
    }
    // Enters for good (a thread that lives in this namespace).
    void enter() { ::setns(fd_, CLONE_NEWNET); }
    // A shell command inside: its exit status, its output (stdout and stderr) in *out.
    int sh(const std::string& cmd, std::string* out = nullptr) {
        return in([&] {
            FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
            if (!f) return -1;
            std::string text;
            char buf[4096];
            for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
            const int st = ::pclose(f);
            if (out) *out = std::move(text);
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        });
    }

private:
    explicit Netns(int fd) : fd_(fd) {}
    int fd_;
};

}  // namespace usnet::test
