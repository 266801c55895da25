// Runs a scenario on the Linux kernel: a private network namespace for the host (lo,
// eth0 10.0.2.15/24, default via 10.0.2.2) and a second one for the gateway, joined by a
// veth pair. Nothing outside these namespaces sees a packet.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "harness.hpp"
#include "libc_api.hpp"

namespace conformance {

namespace {

class KernelApi : public LibcApi {
public:
    KernelApi(int self_ns, int gw_ns, pid_t gw_pid) : self_(self_ns), gw_(gw_ns), gw_pid_(gw_pid) {}
    // A gateway socket is made inside the gateway's namespace (it stays there).
    int socket(Host h, int d, int t, int p) override {
        if (h == kGw && setns(gw_, CLONE_NEWNET) != 0) return -1;
        int r = ::socket(d, t, p);
        const int e = errno;
        if (h == kGw) setns(self_, CLONE_NEWNET);
        errno = e;
        return r;
    }
    int kernel_socket(int d, int t) override { return ::socket(d, t, 0); }
    int ip(Host h, const std::string& args) override {
        std::string cmd = h == kGw ? "nsenter -t " + std::to_string(gw_pid_) + " -n ip " + args : "ip " + args;
        cmd += " >/dev/null 2>&1";
        return std::system(cmd.c_str()) == 0 ? 0 : 1;
    }

private:
    int self_, gw_;
    pid_t gw_pid_;
};

bool sh(const std::string& cmd, std::string* why) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) == 0) return true;
    *why = "setup failed: " + cmd;
    return false;
}

bool link_up(const std::string& cmd) {
    FILE* f = popen((cmd + " 2>/dev/null").c_str(), "r");
    if (!f) return false;
    char buf[1024] = {};
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    pclose(f);
    const std::string out(buf, n);
    return out.find("LOWER_UP") != std::string::npos && out.find("state UP") != std::string::npos;
}

bool write_file(const char* path, const char* v) {
    std::ofstream f(path);
    f << v;
    return bool(f);
}

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += size_t(n);
    }
}

}  // namespace

std::string namespace_sockets(const std::string& proc_net) {
    std::string found;
    for (const char* table : {"udp", "icmp", "raw", "tcp"}) {
        std::ifstream f(proc_net + "/" + table);
        std::string line;
        int n = -1;  // the first line is the header
        while (std::getline(f, line)) ++n;
        if (n > 0) found += (found.empty() ? "" : ", ") + std::to_string(n) + " " + table;
    }
    return found;
}

namespace {

// In the forked child: build the topology, run, and write "OK\n" + trace or "SKIP why".
void child(const Scenario& s, int out, const std::function<void()>& before_check) {
    if (unshare(CLONE_NEWNET) != 0) {
        write_all(out, std::string("SKIP unshare(CLONE_NEWNET): ") + std::strerror(errno));
        return;
    }
    int ready[2], hold[2];
    if (pipe(ready) != 0 || pipe(hold) != 0) return;
    pid_t g = fork();
    if (g == 0) {
        ::close(ready[0]);
        ::close(hold[1]);
        char c = unshare(CLONE_NEWNET) == 0 ? 'r' : 'x';
        write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
        (void)!::write(ready[1], &c, 1);
        (void)!::read(hold[0], &c, 1);  // until the host side is done
        _exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    char c = 0;
    (void)!::read(ready[0], &c, 1);
    std::string why;
    const std::string gp = std::to_string(g);
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
    const bool ok = c == 'r' && sh("ip link set lo up", &why) &&
                    sh("ip link add eth0 type veth peer name eth0 netns " + gp, &why) &&
                    sh("ip addr add 10.0.2.15/24 dev eth0", &why) && sh("ip link set eth0 up", &why) &&
                    sh("nsenter -t " + gp + " -n sh -c 'ip link set lo up && ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up'", &why) &&
                    sh("ip route add default via 10.0.2.2", &why);
    if (!ok) {
        write_all(out, "SKIP " + (why.empty() ? std::string("gateway namespace") : why));
        kill(g, SIGKILL);
        waitpid(g, nullptr, 0);
        return;
    }
    // Wait until both ends of the veth report carrier, or the first ARP request may be lost.
    for (int i = 0; i < 300 && !(link_up("ip -o link show eth0") && link_up("nsenter -t " + gp + " -n ip -o link show eth0")); ++i)
        usleep(10000);
    if (before_check) before_check();
    // A scenario starts in namespaces that hold no socket: one left from anything earlier
    // would change bind conflicts and the port's hash slot (udp_lib_get_port).
    const std::string left = namespace_sockets("/proc/self/net") + namespace_sockets("/proc/" + gp + "/net");
    if (!left.empty()) {
        write_all(out, "OK\n<refused: the namespaces already hold sockets: " + left + ">\n");
        ::close(hold[1]);
        waitpid(g, nullptr, 0);
        return;
    }
    int self_ns = open("/proc/self/ns/net", O_RDONLY);
    int gw_ns = open(("/proc/" + gp + "/ns/net").c_str(), O_RDONLY);
    KernelApi api(self_ns, gw_ns, g);
    T t(api);
    s.fn(t);
    std::string text = "OK\n";
    for (auto& l : t.trace) text += l + "\n";
    write_all(out, text);
    ::close(hold[1]);
    waitpid(g, nullptr, 0);
}

}  // namespace

bool run_on_kernel(const Scenario& s, std::vector<std::string>* trace, std::string* why,
                   const std::function<void()>& before_check) {
    if (geteuid() != 0) {
        *why = "the kernel side needs root to create network namespaces";
        return false;
    }
    int p[2];
    if (pipe(p) != 0) {
        *why = "pipe failed";
        return false;
    }
    pid_t pid = fork();
    if (pid == 0) {
        ::close(p[0]);
        child(s, p[1], before_check);
        _exit(0);
    }
    ::close(p[1]);
    std::string all;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n <= 0) break;
        all.append(buf, size_t(n));
    }
    ::close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (all.rfind("SKIP ", 0) == 0) {
        *why = all.substr(5);
        return false;
    }
    if (all.rfind("OK\n", 0) != 0) {
        // The kernel side died mid-scenario: a failure to report, never a skip.
        trace->push_back("<kernel side died, wait status " + std::to_string(st) + ">");
        return true;
    }
    size_t pos = 3;
    while (pos < all.size()) {
        size_t nl = all.find('\n', pos);
        if (nl == std::string::npos) nl = all.size();
        trace->push_back(all.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return true;
}

}  // namespace conformance
