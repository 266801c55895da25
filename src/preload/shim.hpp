// The shim's internals, shared by its files (src/preload/README.md says which holds what).
#pragma once
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>
#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <setjmp.h>

#include "native.hpp"
#include "usnet/sim.hpp"

#include "usnet/trace.hpp"

namespace usnet::shim {

// libc's own function, behind our interposer of the same name.
template <class F>
F* real(const char* name) {
    return reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}
#define REAL(fn) static auto* real_##fn = ::usnet::shim::real<decltype(::fn)>(#fn)

// ---- the process's stack and its descriptor table (runtime.cpp) ----
void trap_socket_fd(int fd);  // (trap.cpp) libc's own reads and writes on this number reach usnet too

// Real descriptor -> usnet descriptor. Every routed call looks its descriptor up, so
// small descriptors (what programs have) are also kept in a flat array: one load.
class FdTable {
public:
    using Map = std::unordered_map<int, int>;
    int lookup(int fd) const {
        if (size_t(fd) < flat_.size()) return flat_[size_t(fd)] - 1;
        if (fd < 0) return -1;
        const auto it = map_.find(fd);
        return it == map_.end() ? -1 : it->second;
    }
    void set(int fd, int u) {
        trap_socket_fd(fd);
        map_[fd] = u;
        if (fd >= 0 && fd < kFlat) {
            if (size_t(fd) >= flat_.size()) flat_.resize(std::max<size_t>(size_t(fd) + 1, 2 * flat_.size()), 0);
            flat_[size_t(fd)] = u + 1;
        }
    }
    void erase(int fd) {
        map_.erase(fd);
        if (size_t(fd) < flat_.size()) flat_[size_t(fd)] = 0;
    }
    void assign(const Map& m) {
        map_.clear();
        std::fill(flat_.begin(), flat_.end(), 0);
        for (const auto& [fd, u] : m) set(fd, u);
    }
    Map::const_iterator begin() const { return map_.begin(); }
    Map::const_iterator end() const { return map_.end(); }

private:
    static constexpr int kFlat = 65536;
    Map map_;
    std::vector<int> flat_;  // u + 1, 0 for the kernel's
};

// The process's stack: the default world, created on the first socket call.
struct Runtime {
    usnet::CallLock mu;
    usnet::sim::DefaultWorld world;
    FdTable fds;                            // real descriptor -> usnet descriptor
    std::unordered_map<int, int> refs;      // usnet descriptor -> real descriptors naming it (dup)
    std::unordered_map<int, bool> signalled;  // real descriptor -> its eventfd holds a token
    std::unordered_map<int, uint64_t> woken;  // real descriptor -> the socket's wakeups at the last sync
    // How long a wait for the keeper (a client's reply, the keeper's next request) looks
    // before it sleeps: USNET_BUSY_POLL, 0 with one CPU (the spin would hold up the answer).
    usnet::Time busy_poll = 0;
    Runtime();  // builds the world (runtime.cpp)
    usnet::Stack& stack() { return *world.host; }
};
Runtime& runtime();

// Calls look() (a system call that does not wait) until it reports something (done(result))
// or `budget` ns pass; returns its last result. For waits between a process and the keeper,
// which would otherwise sleep and cost a wake-up each side.
template <class Look, class Done>
auto busy_poll_for(usnet::Time budget, Look&& look, Done&& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(budget);
    for (unsigned i = 0;; ++i) {
        const auto r = look();
        if (done(r) || ((i & 7) == 7 && std::chrono::steady_clock::now() > until)) return r;
    }
}
// busy_poll_for for one kind of wait (a client's for its reply, the keeper's for the next
// request), backing off where it does not pay: a wait whose look found nothing looks half as
// long the next time, down to a single look (with a full one every 16th wait, to notice a
// change); a look that found something restores the whole budget. With more busy processes
// than CPUs, the answer a spinner waits for needs that very CPU, and spinning holds it up.
class SpinBudget {
public:
    template <class Look, class Done>
    auto poll(usnet::Time full, Look&& look, Done&& done) {
        if (cur_ < 0 || cur_ > full) cur_ = full;
        usnet::Time b = cur_;
        if (b == 0 && (++short_ & 15) == 0) b = full;
        const auto r = b > 0 ? busy_poll_for(b, look, done) : look();
        cur_ = done(r) ? full : cur_ / 2;
        return r;
    }

private:
    usnet::Time cur_ = -1;  // this wait's budget (-1: the whole, not yet known)
    unsigned short_ = 0;
};
// Set on the thread building the world: the shim's own calls meanwhile (a TAP's interface
// queries through syscall(2), trapped) must reach the kernel.
extern thread_local bool t_building_world;
// Set once the first usnet socket exists: until then every call goes straight to libc.
extern std::atomic<bool> g_active;
// The usnet descriptor behind fd, or -1 (fd is the kernel's).
int usnet_fd(int fd);
bool is_usnet_socket(int domain, int type, int protocol);
void print_stats();
void flush_at_exit();
void start_pump(Runtime& r);
extern std::atomic<bool> g_pump_started;

// The shim's own threads block every signal: the program's signals go to its own threads
// (a blocked call of its sees the handler run, as on the kernel), never to ours.
template <class F, class... A>
void start_quiet_thread(F f, A... a) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    std::thread(f, a...).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// ---- one host across fork: the keeper and its clients (keeper.cpp, remote.cpp) ----
// At the program's first fork with a usnet socket open, the stack moves into a keeper: a
// process forked from the program, so it holds the stack exactly as it stood, the switch
// port and each socket's eventfd. The program and every child it forks then reach the one
// stack through a Unix socket each (Remote); the keeper keeps the eventfd tokens current
// for all of them. A program that never forks keeps its stack in-process.
extern std::atomic<bool> g_client;  // this process's usnet calls go to the keeper
// fork() with usnet sockets open: the keeper first (once), then the child with its own
// connection. Returns what fork returns.
pid_t fork_one_host();
void prepare_spawn();  // before vfork or posix_spawn: the keeper, so the child's program joins it
long exec_one_host(long nr, const long* args);  // execve/execveat: -errno on failure
bool inherited_at_exec();  // this image was exec'd holding usnet sockets (a client from the start)
void before_fork(Runtime& r);  // fork's handlers (runtime.cpp)
void after_fork_parent();
bool after_fork_child();  // false: not a client of the keeper (the child's stack is its own)

namespace wire {  // one request, one reply: a header, then its byte fields in order
enum Op : uint32_t { Socket, Close, Adopt, Bind, Connect, GetName, Shutdown, Listen, Accept, SendMsg, RecvMsg,
                     SetOpt, GetOpt, Ioctl, DevIoctl, Fcntl, Masks, Control };
enum Null : uint32_t { kMsg = 1, kName = 2, kCtl = 4, kLen = 8, kArg = 16 };  // pointers that were null
struct Req {
    uint32_t op = 0;
    int32_t u = -1, shown_fd = -1, flags = 0;
    int64_t a = 0, b = 0, c = 0;  // the call's numbers (lengths, level/name, request...)
    uint32_t nulls = 0, n_iov = 0;
    uint32_t n_blob = 0, n_ctl = 0;  // then: blob (address, option, ioctl argument), control,
    uint64_t n_data = 0;             // n_iov lengths (u64, kIovNull set for a null base), data
};
struct Rep {
    int64_t ret = 0;
    int32_t err = 0, msg_flags = 0;
    int64_t block_ns = -1;  // EAGAIN that the client waits out: -1 no, 0 without a timeout, else the timeout
    int64_t len_a = 0, len_b = 0;  // name or option length, control length, written back
    uint32_t n_blob = 0, n_ctl = 0;
    uint64_t n_data = 0;  // then: blob, control, data
};
constexpr uint64_t kIovNull = 1ull << 63;
constexpr size_t kMaxData = 70000;  // beyond a datagram's 65535 bytes (larger sends fail anyway)
constexpr size_t kMaxBlob = 65536;
// Where each iovec's bytes lie in the flat data (at most cap bytes), the same on both sides:
// f(i, off, len) for each iovec i that is not null, one after another.
template <class F>
void for_each_span(const uint64_t* lens, size_t n, size_t cap, F&& f) {
    size_t off = 0;
    for (size_t i = 0; i < n; ++i) {
        if (lens[i] & kIovNull) continue;
        const size_t take = size_t(std::min<uint64_t>(lens[i], cap - off));
        f(i, off, take);
        off += take;
    }
}
size_t ioctl_arg_size(unsigned long req);
}  // namespace wire

// The stack's calls made in the keeper (the same names and conventions as usnet::Stack's).
struct Remote {
    int socket(int domain, int type, int protocol, int eventfd);
    int close(int u);
    int bind(int u, const sockaddr* a, socklen_t l);
    int connect(int u, const sockaddr* a, socklen_t l);
    int getsockname(int u, sockaddr* a, socklen_t* l);
    int getpeername(int u, sockaddr* a, socklen_t* l);
    ssize_t send(int u, const void* b, size_t n, int f);
    ssize_t sendto(int u, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl);
    ssize_t sendmsg(int u, const msghdr* m, int f);
    int sendmmsg(int u, mmsghdr* m, unsigned v, int f);
    ssize_t recv(int u, void* b, size_t n, int f);
    ssize_t recvfrom(int u, void* b, size_t n, int f, sockaddr* from, socklen_t* fl);
    ssize_t recvmsg(int u, msghdr* m, int f);
    int recvmmsg(int u, mmsghdr* m, unsigned v, int f, timespec* t);
    int shutdown(int u, int how);
    int listen(int u, int backlog);
    int accept(int u, sockaddr* a, socklen_t* l);
    int setsockopt(int u, int lv, int n, const void* v, socklen_t l);
    int getsockopt(int u, int lv, int n, void* v, socklen_t* l);
    int ioctl(int u, unsigned long req, void* arg);
    int dev_ioctl(int family, unsigned long req, void* arg);
    int fcntl(int u, int cmd, long arg = 0);
    short poll_events(int u);
    uint32_t epoll_mask(int u);
    std::string control(const std::string& req);  // `usnet stat` / `usnet ip` on the keeper's stack
    // Tells the keeper a new connection (fd, sent with SCM_RIGHTS) holds these sockets.
    bool adopt(int fd, const std::vector<int>& us);
    int conn = -1;  // this process's connection to the keeper (the runtime lock guards it)
};
Remote& remote();

// ---- the system-call trap (trap.cpp) ----
extern std::atomic<bool> g_trap_on;
// True in a child made with CLONE_VM (vfork, posix_spawn) before its exec: it shares our
// memory, so its descriptor calls go to the kernel and leave the shim's tables alone.
bool in_vm_child();
// SIGSYS belongs to the trap: the program's action for it is recorded, not installed.
bool trap_owns_signal(int sig);
int trap_user_sigaction(const struct sigaction* act, struct sigaction* old);

// ---- `usnet stat` / `usnet ip` control socket (control.cpp) ----
extern int g_stat_fd, g_trace_fd, g_explain_fd;
int park_high(int fd);
bool shim_own_fd(long fd);
std::array<int, 4> shim_own_fds();  // sorted; -1 for those not open
void start_stat_server();
std::string control_answer(const std::string& req);  // "stat" or "ip ARGS" (checked by the caller)

// ---- explanations and traces (report.cpp) ----
const char* explain_target();
void write_explain(const std::string& line);
void setup_trace(usnet::Stack& st);
// The descriptor the program passed to the call in progress on this thread, and the usnet
// socket it names: a trace shows the program's numbers, not the stack's.
extern thread_local int t_shown_fd [[gnu::tls_model("initial-exec")]], t_shown_u [[gnu::tls_model("initial-exec")]];
extern thread_local int t_new_socket_fd [[gnu::tls_model("initial-exec")]];  // the descriptor socket() is about to return
extern std::atomic<bool> g_tracing;
// The stack's next call on this thread is the program's `call` (read is a recv).
inline int traced_as(const char* call) {
    if (g_tracing.load(std::memory_order_relaxed)) usnet::trace_call_as(call);
    return 0;
}
ssize_t read_nothing(usnet::Stack& st, int fd, int u);
// (A client traces it on its own copy of the stack, as it does the other calls the shim
// answers itself: the keeper never sees it.)
inline ssize_t read_nothing(Remote&, int fd, int u) { return read_nothing(runtime().stack(), fd, u); }
template <class R>
R explained(R ret, int fd) {
    if (ret >= 0 || !explain_target()) return ret;
    write_explain("usnet: " + runtime().stack().explain_last_error(fd) + "\n");
    return ret;
}

// ---- bad user pointers (usermem.cpp) ----
constexpr size_t kMaxCopy = 65536;  // receive and send buffers are probed up to 64 KiB
constexpr uintptr_t kProbePage = 4096;
// True when every page of [a, a+n) can be read (or written). (An address, not a pointer: the
// compiler then assumes no read of what a write-only argument, poll's fds, points to.)
bool probe_range(uintptr_t a, size_t n, bool write);
// The calling thread's stack, [lo, hi), learnt by its first probe_range (0 before). Everything
// between the running frame and hi is mapped and writable, so a range there needs no probe:
// the common case of a buffer, an address or a length in the caller's locals. (A frame
// elsewhere, on a signal stack or a coroutine's, and the range is probed.) Inline, as every
// call with a user pointer asks.
extern constinit thread_local uintptr_t t_stack_lo [[gnu::tls_model("initial-exec")]];
extern constinit thread_local uintptr_t t_stack_hi [[gnu::tls_model("initial-exec")]];
inline bool on_own_stack(uintptr_t a, uintptr_t end) {
    const uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    return sp >= t_stack_lo && sp < t_stack_hi && a >= sp && end <= t_stack_hi && a <= end;
}
inline bool readable(const void* p, size_t n) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return n == 0 || on_own_stack(a, a + n) || probe_range(a, n, false);
}
inline bool writable(void* p, size_t n) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return n == 0 || on_own_stack(a, a + n) || probe_range(a, n, true);
}
// Set when the shim itself fails a call with EFAULT (the stack has no reason on record).
extern thread_local bool t_shim_fault [[gnu::tls_model("initial-exec")]];

template <class T>
T efault() {
    errno = EFAULT;
    t_shim_fault = true;
    return T(-1);
}

template <class R>
R explained_fault(R ret, int fd, const char* call) {
    if (explain_target())
        write_explain("usnet: " + std::string(call) + "(fd " + std::to_string(fd) +
                      "): EFAULT: a pointer argument points at memory the program cannot access "
                      "(unmapped, or read-only where the kernel writes) [copy_from_user/copy_to_user]\n");
    return ret;
}
using sigaction_fn = int(int, const struct sigaction*, struct sigaction*);
int fault_slot(int sig);
extern std::atomic<bool> g_probe_installed;
extern std::mutex g_sig_mu;
extern struct sigaction g_user_act[2];

// ---- message headers and buffers checked in the kernel's order (msghdr.cpp) ----
const void* in_buf(const void* b, size_t n);
bool addr_in_bad(const void* a, socklen_t len);
template <class S>
ssize_t sendmsg_checked(S& st, int u, const msghdr* m, int f);
template <class S>
int sendmmsg_checked(S& st, int u, mmsghdr* m, unsigned v, int f);
template <class S>
ssize_t recvmsg_checked(S& st, int u, msghdr* m, int f);
template <class S>
int recvmmsg_checked(S& st, int u, mmsghdr* m, unsigned v, int f, timespec* t);
size_t writable_prefix(void* b, size_t n);
// getsockname/getpeername: a pointer the call could not write is handed to the stack as
// null, which then fails in the kernel's order (ENOTCONN before EFAULT: inet_getname runs
// before move_addr_to_user).
template <class Get>
int getname_checked(Get get, sockaddr* a, socklen_t* l) {
    if (l && !writable(l, sizeof *l)) l = nullptr;
    if (l && int(*l) > 0 && !writable(a, std::min<size_t>(*l, sizeof(sockaddr_in)))) a = nullptr;
    return get(a, l);
}

// A receive buffer only partly writable: the kernel copies just the datagram's bytes and
// faults only when they reach the bad part. Received into a bounce buffer, then copied.
// recv(buf, len) is the stack's call.
// Only the error queue's path probes here: otherwise the stack asks writable() for the
// bytes a datagram fills (Stack::set_user_writable), and an empty queue probes nothing.
template <class Recv>
ssize_t recv_into(void* b, size_t n, int f, Recv recv) {
    if (!(f & MSG_ERRQUEUE)) return recv(b, n);
    const size_t lim = std::min(n, kMaxCopy);
    if (writable(b, lim)) return recv(b, n);
    const size_t ok = writable_prefix(b, lim);
    if (ok == 0) return recv(nullptr, n);  // the stack fails with EFAULT (a datagram is taken)
    std::vector<char> tmp(lim);
    const ssize_t r = recv(tmp.data(), lim);
    if (r < 0) return r;
    const size_t copied = (f & MSG_TRUNC) ? std::min(size_t(r), lim) : size_t(r);
    if (copied > ok) return efault<ssize_t>();
    std::memcpy(b, tmp.data(), copied);
    return r;
}
template <class S>
ssize_t recvfrom_checked(S& st, int u, void* bb, size_t n, int f, sockaddr* from, socklen_t* fl);
template <class S>
ssize_t rw_iov(S& st, int u, const iovec* iov, int n, bool in);
template <class S>
int setsockopt_checked(S& st, int u, int lv, int n, const void* v, socklen_t l);
template <class S>
int getsockopt_checked(S& st, int u, int lv, int n, void* v, socklen_t* l);
void* ioctl_arg(unsigned long req, void* arg);
// An interface ioctl on a kernel-owned socket, answered from usnet (interpose.cpp): true
// with *ret set when it was one.
bool kernel_socket_if_ioctl(int fd, unsigned long req, void* arg, int* ret);
// bind on a kernel-owned socket, to one of usnet's addresses too (interpose.cpp).
int kernel_bind(int fd, const sockaddr* a, socklen_t l);

// ---- readiness: poll, select and epoll over usnet and kernel descriptors (readiness.cpp) ----
extern std::atomic<bool> g_signal;
short usnet_mask(usnet::Stack& st, int u);
void sync_signals(Runtime& r);
void enable_signals(Runtime& r);
// ---------------- epoll over usnet sockets ----------------
// The kernel's epoll watches the eventfd standing for a usnet socket, registered under a
// tag of ours; epoll_wait maps each tag back to the program's (epfd, fd) item and reports
// what Linux would: the socket's poll mask within the registered interest, plus EPOLLERR
// and EPOLLHUP. All under the runtime lock.
struct EpItem {
    int epfd, fd, u;
    uint32_t events;
    epoll_data_t data;
};
struct EpollTable {
    std::unordered_map<uint64_t, EpItem> by_tag;
    std::map<std::pair<int, int>, uint64_t> by_key;  // (epfd, fd) -> tag
    std::unordered_map<int, int> count;              // epfd -> usnet items in it
    uint64_t next = 0;
};
inline EpollTable& epolls() {
    static auto* t = new EpollTable;  // never destroyed: programs poll from atexit handlers
    return *t;
}
extern std::atomic<bool> g_epoll_used;
void ep_erase(EpollTable& t, uint64_t tag);
// Items go with their socket (its eventfd closed) or with their epoll instance.
template <class Pred>
void ep_forget(Pred gone) {
    EpollTable& t = epolls();
    std::vector<uint64_t> dead;
    for (const auto& [tag, e] : t.by_tag)
        if (gone(e)) dead.push_back(tag);
    for (uint64_t tag : dead) ep_erase(t, tag);
}

}  // namespace usnet::shim
