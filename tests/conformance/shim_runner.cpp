// usnet_scenario_runner NAME: runs one conformance scenario with plain libc calls and
// prints its trace. Under `usnet run` those calls land in usnet's shim, so the differential
// suite runs through a real, dynamically linked program. Scenarios that need the gateway
// host or `ip` commands cannot run this way and report UNSUPPORTED.
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <fcntl.h>
#include <string>

#include "harness.hpp"

namespace {

struct Unsupported {};

class LibcApi : public conformance::Api {
public:
    int socket(conformance::Host h, int d, int t, int p) override {
        if (h != conformance::kHost) throw Unsupported{};
        return ::socket(d, t, p);
    }
    int bind(int fd, const sockaddr* a, socklen_t l) override { return ::bind(fd, a, l); }
    int connect(int fd, const sockaddr* a, socklen_t l) override { return ::connect(fd, a, l); }
    int getsockname(int fd, sockaddr* a, socklen_t* l) override { return ::getsockname(fd, a, l); }
    int getpeername(int fd, sockaddr* a, socklen_t* l) override { return ::getpeername(fd, a, l); }
    ssize_t sendmsg(int fd, const msghdr* m, int f) override { return ::sendmsg(fd, m, f | MSG_NOSIGNAL); }
    ssize_t recvmsg(int fd, msghdr* m, int f) override { return ::recvmsg(fd, m, f); }
    ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) override {
        return ::recvfrom(fd, b, n, f, a, l);
    }
    int setsockopt(int fd, int l, int n, const void* v, socklen_t len) override { return ::setsockopt(fd, l, n, v, len); }
    int getsockopt(int fd, int l, int n, void* v, socklen_t* len) override { return ::getsockopt(fd, l, n, v, len); }
    int shutdown(int fd, int how) override { return ::shutdown(fd, how); }
    int close(int fd) override { return ::close(fd); }
    int ioctl(int fd, unsigned long req, void* arg) override { return ::ioctl(fd, req, arg); }
    int fcntl(int fd, int cmd, long arg) override { return ::fcntl(fd, cmd, arg); }
    int poll(pollfd* f, nfds_t n, int t) override { return ::poll(f, n, t); }
    int ip(conformance::Host, const std::string&) override { throw Unsupported{}; }
    void sleep_ms(int ms) override { usleep(useconds_t(ms) * 1000); }
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
        LibcApi api;
        conformance::T t(api);
        try {
            s.fn(t);
        } catch (const Unsupported&) {
            std::printf("UNSUPPORTED\n");
            return 0;
        }
        for (const auto& l : t.trace) std::printf("%s\n", l.c_str());
        return 0;
    }
    return want == "--list" ? 0 : 3;
}
