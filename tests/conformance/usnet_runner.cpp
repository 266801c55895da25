// Runs a scenario on usnet's default world, configured like the kernel it is compared with.
#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.hpp"
#include "usnet/sim.hpp"

namespace conformance {

namespace {

constexpr int kGwBase = 1000;  // gateway descriptors are offset so one int names both stacks

class UsnetApi : public Api {
public:
    explicit UsnetApi(usnet::sim::DefaultWorld& w) : w_(w) {}
    usnet::Stack& st(int fd) { return fd >= kGwBase ? *w_.gateway : *w_.host; }
    int f(int fd) { return fd >= kGwBase ? fd - kGwBase : fd; }

    int socket(Host h, int d, int t, int p) override {
        int r = (h == kGw ? *w_.gateway : *w_.host).socket(d, t, p);
        return r >= 0 && h == kGw ? r + kGwBase : r;
    }
    int bind(int fd, const sockaddr* a, socklen_t l) override { return st(fd).bind(f(fd), a, l); }
    int connect(int fd, const sockaddr* a, socklen_t l) override { return st(fd).connect(f(fd), a, l); }
    int getsockname(int fd, sockaddr* a, socklen_t* l) override { return st(fd).getsockname(f(fd), a, l); }
    int getpeername(int fd, sockaddr* a, socklen_t* l) override { return st(fd).getpeername(f(fd), a, l); }
    ssize_t sendmsg(int fd, const msghdr* m, int fl) override { return st(fd).sendmsg(f(fd), m, fl); }
    ssize_t recvmsg(int fd, msghdr* m, int fl) override { return st(fd).recvmsg(f(fd), m, fl); }
    ssize_t recvfrom(int fd, void* b, size_t n, int fl, sockaddr* a, socklen_t* l) override {
        return st(fd).recvfrom(f(fd), b, n, fl, a, l);
    }
    int setsockopt(int fd, int l, int n, const void* v, socklen_t len) override { return st(fd).setsockopt(f(fd), l, n, v, len); }
    int getsockopt(int fd, int l, int n, void* v, socklen_t* len) override { return st(fd).getsockopt(f(fd), l, n, v, len); }
    int shutdown(int fd, int how) override { return st(fd).shutdown(f(fd), how); }
    int close(int fd) override {
        if (kernel_fds_.erase(fd)) return 0;
        return st(fd).close(f(fd));
    }
    int ioctl(int fd, unsigned long req, void* arg) override {
        // A kernel-owned socket of the program (kernel_socket): the stack answers its
        // interface ioctls as the shim asks it to.
        if (auto k = kernel_fds_.find(fd); k != kernel_fds_.end()) return w_.host->dev_ioctl(k->second, req, arg);
        return st(fd).ioctl(f(fd), req, arg);
    }
    int kernel_socket(int domain, int) override {
        const int fd = kKernelBase + int(kernel_fds_.size());
        kernel_fds_[fd] = domain;
        return fd;
    }
    int64_t realtime_ns() override { return w_.host->wall_time(); }
    int fcntl(int fd, int cmd, long arg) override { return st(fd).fcntl(f(fd), cmd, arg); }
    int poll(pollfd* fds, nfds_t n, int t) override {
        if (n == 0) return st(0).poll(fds, 0, t);
        usnet::Stack& s = st(fds[0].fd);
        std::vector<pollfd> v(fds, fds + n);
        for (auto& p : v) p.fd = f(p.fd);
        int r = s.poll(v.data(), n, t);
        for (nfds_t i = 0; i < n; ++i) fds[i].revents = v[i].revents;
        return r;
    }
    int ip(Host h, const std::string& args) override { return usnet::sim::ip_command(h == kGw ? *w_.gateway : *w_.host, args); }
    void sleep_ms(int ms) override { w_.net->run_for(usnet::Time(ms) * usnet::kMs); }

private:
    static constexpr int kKernelBase = 500;
    usnet::sim::DefaultWorld& w_;
    std::map<int, int> kernel_fds_;  // fake descriptor -> its family
};

}  // namespace

void run_on_usnet(const Scenario& s, std::vector<std::string>* trace, const UsnetRun& how) {
    auto w = usnet::sim::make_default_world(42, how.fixed_config ? usnet::StackConfig{} : usnet::config_from_host());
    if (how.on_host) how.on_host(*w.host);
    UsnetApi api(w);
    T t(api);
    s.fn(t);
    *trace = std::move(t.trace);
}

}  // namespace conformance
