// Differential conformance: a scenario is written once against Api, run on the Linux
// kernel (in private network namespaces with the default world's topology) and on usnet's
// default world, and the two call-by-call traces must match.
#pragma once
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace usnet {
class Stack;
}

namespace conformance {

enum Host { kHost = 0, kGw = 1 };

// The calls a scenario can make: libc's, plus `ip` topology commands and waiting.
class Api {
public:
    virtual ~Api() = default;
    virtual int socket(Host h, int domain, int type, int proto) = 0;
    virtual int bind(int fd, const sockaddr* a, socklen_t l) = 0;
    virtual int connect(int fd, const sockaddr* a, socklen_t l) = 0;
    virtual int getsockname(int fd, sockaddr* a, socklen_t* l) = 0;
    virtual int getpeername(int fd, sockaddr* a, socklen_t* l) = 0;
    virtual ssize_t sendmsg(int fd, const msghdr* m, int flags) = 0;
    virtual ssize_t recvmsg(int fd, msghdr* m, int flags) = 0;
    virtual ssize_t recvfrom(int fd, void* b, size_t n, int flags, sockaddr* a, socklen_t* l) = 0;
    virtual int setsockopt(int fd, int level, int name, const void* v, socklen_t l) = 0;
    virtual int getsockopt(int fd, int level, int name, void* v, socklen_t* l) = 0;
    virtual int shutdown(int fd, int how) = 0;
    virtual int close(int fd) = 0;
    virtual int ioctl(int fd, unsigned long req, void* arg) = 0;
    virtual int fcntl(int fd, int cmd, long arg) = 0;
    virtual int poll(pollfd* fds, nfds_t n, int timeout_ms) = 0;
    // `ip` arguments on host h, e.g. "route del default" (a small, shared vocabulary).
    virtual int ip(Host h, const std::string& args) = 0;
    virtual void sleep_ms(int ms) = 0;
    // CLOCK_REALTIME in ns as the host's receive timestamps see it (the kernel's clock; on
    // usnet the stack's).
    virtual int64_t realtime_ns();
    // An interface ioctl on a socket the kernel owns even under the shim (AF_UNIX): how
    // programs list interfaces without an AF_INET socket. -1 without an answer (ENOSYS).
    virtual int kernel_socket(int domain, int type);
};

sockaddr_in addr(const char* ip, uint16_t port, sa_family_t fam = AF_INET);

// What a scenario holds: the Api, and the trace of every call and result.
class T {
public:
    explicit T(Api& api) : api_(api) {}
    std::vector<std::string> trace;

    void note(const std::string& s) { trace.push_back("# " + s); }
    int socket(int domain, int type, int proto = 0, Host h = kHost);
    // A socket the kernel owns even under the shim (AF_UNIX, AF_INET6...).
    int kernel_socket(int domain, int type);
    int bind(int fd, const sockaddr_in& a, socklen_t len = sizeof(sockaddr_in));
    int connect(int fd, const sockaddr_in& a, socklen_t len = sizeof(sockaddr_in));
    int connect_unspec(int fd);
    // getsockname/getpeername, logging the address (or error).
    int getsockname(int fd, socklen_t len = sizeof(sockaddr_in));
    int getpeername(int fd, socklen_t len = sizeof(sockaddr_in));
    sockaddr_in name_of(int fd);  // getsockname without logging
    ssize_t sendto(int fd, const std::string& data, const sockaddr_in& to, int flags = 0,
                   socklen_t len = sizeof(sockaddr_in));
    ssize_t send(int fd, const std::string& data, int flags = 0);
    // sendmsg with optional control messages (already encoded).
    ssize_t sendmsg(int fd, const std::string& data, const sockaddr_in* to, const std::string& control, int flags = 0);
    // recvmsg with a buffer of `cap` bytes; logs data, source, flags and control messages.
    ssize_t recv(int fd, size_t cap = 2048, int flags = 0, size_t control = 256);
    ssize_t recv_errqueue(int fd, size_t cap = 2048, int flags = 0);
    int setsockopt_int(int fd, int level, int name, int v, socklen_t len = sizeof(int));
    int setsockopt_raw(int fd, int level, int name, const void* v, socklen_t len);
    int getsockopt_int(int fd, int level, int name, socklen_t len = sizeof(int));
    int getsockopt_raw(int fd, int level, int name, socklen_t len);
    int set_rcvtimeo(int fd, int ms);
    int shutdown(int fd, int how);
    int close(int fd);
    int ioctl_int(int fd, unsigned long req, const char* name);
    // An ioctl taking a struct ifreq whose name is the bytes given (up to IFNAMSIZ, not
    // necessarily NUL-terminated) and whose union starts with `data`, the rest 0xa5; logs
    // the whole ifreq after the call (MAC addresses masked). null: pass a NULL pointer.
    int ioctl_ifreq(int fd, unsigned long req, const char* reqname, const std::string& name,
                    const std::string& data = {}, bool null = false);
    // SIOCGIFCONF with a buffer of `len` bytes (null_buf: ifc_buf NULL; null: no ifconf);
    // logs ifc_len and each entry.
    int ioctl_ifconf(int fd, int len, bool null_buf = false, bool null = false);
    // SIOCGSTAMP / SIOCGSTAMPNS (or their _NEW forms): logs whether the stamp lies within
    // the window opened by mark_time().
    int ioctl_stamp(int fd, unsigned long req, const char* reqname, bool null = false);
    // Opens the window receive timestamps are checked against (now, on the host's clock).
    void mark_time() { window_lo_ = api_.realtime_ns(); }
    // A stamp in ns: "in-window" when between mark_time() and now (with 1 ms of slack for a
    // clock read in another layer), else how far outside.
    std::string stamp_window(int64_t ns);
    int fcntl(int fd, int cmd, long arg, const char* name);
    int poll1(int fd, short events, int timeout_ms);
    int ip(const std::string& args, Host h = kHost);
    void sleep_ms(int ms) { api_.sleep_ms(ms); }
    Api& api() { return api_; }

    // Ports in the ephemeral range print as EPH: they differ run to run.
    static std::string fmt_addr(const sockaddr_in& a, socklen_t len = sizeof(sockaddr_in));

    // A ping socket whose identifier the kernel chose: Linux takes it from a counter shared
    // by the whole machine (ping_port_rover), so it is masked where it shows.
    bool autobound_ping(int fd) const;

private:
    std::string result(long r);
    void log(const std::string& call, long r, const std::string& extra = "");
    Api& api_;
    std::map<int, bool> ping_fds_;
    int64_t window_lo_ = 0;  // ping socket -> its identifier was bound explicitly
};

using ScenarioFn = std::function<void(T&)>;
struct Scenario {
    std::string suite, name;
    ScenarioFn fn;
};
std::vector<Scenario>& registry();
struct Register {
    Register(const char* suite, const char* name, ScenarioFn fn) { registry().push_back({suite, name, std::move(fn)}); }
};

#define SCENARIO(suite, name)                                                              \
    static void scenario_##suite##_##name(::conformance::T& t);                          \
    static ::conformance::Register reg_##suite##_##name(#suite, #name, scenario_##suite##_##name); \
    static void scenario_##suite##_##name(::conformance::T& t)

// Runners: return false (with a reason) when the scenario cannot run there.
// before_check runs in the fresh namespaces just before the runner checks that they hold
// no socket (for the runner's own test).
bool run_on_kernel(const Scenario& s, std::vector<std::string>* trace, std::string* why,
                   const std::function<void()>& before_check = {});
// "" when the network namespace whose /proc/net is given holds no UDP, ICMP, raw or TCP
// socket; else what it holds, e.g. "1 udp".
std::string namespace_sockets(const std::string& proc_net);
// How to run on usnet: with the stack's own defaults instead of this machine's /proc
// values (so what is printed does not depend on the machine), and a hook given the host
// stack before the scenario starts (to trace it, say).
struct UsnetRun {
    bool fixed_config = false;
    std::function<void(usnet::Stack&)> on_host;
};
void run_on_usnet(const Scenario& s, std::vector<std::string>* trace, const UsnetRun& how = {});

}  // namespace conformance
