// Statically linked programs under `usnet run`. No loader means no shim inside the program,
// so the program runs under a seccomp filter whose socket, descriptor and I/O calls are
// sent to this supervisor (SECCOMP_RET_USER_NOTIF): a process of its own with the shim
// loaded, which holds the host's stack. A call on one of the program's usnet sockets is made
// here, through the shim, on the supervisor's descriptor for the same socket, with the
// program's memory copied in and out (process_vm_readv/writev). Every other trapped call
// continues in the kernel unchanged. The program's descriptor for a usnet socket is the
// shim's own eventfd placeholder, installed in it (SECCOMP_IOCTL_NOTIF_ADDFD), so its poll,
// select and epoll run in the kernel on the tokens the stack keeps current.
#include "bpf.hpp"
#include "shim.hpp"

#include <linux/audit.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <condition_variable>
#include <deque>
#include <fstream>

#if defined(__x86_64__)  // (the filter names x86_64's system calls)
// Linux 6.6: the program's wake-up at our answer hands the CPU over, as a synchronous call.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1UL
#endif

namespace usnet::shim {

namespace {

constexpr long kContinue = LONG_MIN;  // the kernel makes the call itself
constexpr size_t kMaxIn = size_t(1) << 20;  // larger sends fail on their length; their bytes are not copied
constexpr int kKick = SIGURG;  // ends a worker's call when the program's call was interrupted

int g_listener = -1;
const char* g_bad = nullptr;    // never mapped: the stand-in for a pointer the program cannot read
const char* g_zeros = nullptr;  // readable zeros: the bytes of sends longer than kMaxIn

// The traced program's memory.
struct Mem {
    pid_t pid;
    bool get(uint64_t a, void* d, size_t n) const {
        if (n == 0) return true;
        iovec l{d, n}, r{reinterpret_cast<void*>(a), n};
        return a && process_vm_readv(pid, &l, 1, &r, 1, 0) == ssize_t(n);
    }
    bool put(uint64_t a, const void* s, size_t n) const {
        if (n == 0) return true;
        iovec l{const_cast<void*>(s), n}, r{reinterpret_cast<void*>(a), n};
        return a && process_vm_writev(pid, &l, 1, &r, 1, 0) == ssize_t(n);
    }
    // The program's n bytes at a, here: null for null, g_bad when unreadable (the shim then
    // fails the call with EFAULT in the kernel's order), zeros past kMaxIn.
    const void* in(uint64_t a, size_t n, std::vector<char>& buf) const {
        if (!a) return nullptr;
        if (n > kMaxIn) return g_zeros;
        buf.resize(n);
        return get(a, buf.data(), n) ? buf.data() : g_bad;
    }
};

long kr(long r) { return r < 0 ? -long(errno) : r; }

// One message header of the program's, made ours: its data in one buffer.
struct LocalMsg {
    msghdr h{};
    sockaddr_storage name{};
    std::vector<char> data, ctl;
    std::vector<iovec> iov;  // the program's (their bases are its addresses)
    iovec one{};

    long load(const Mem& mem, const msghdr& m, bool send) {
        if (m.msg_iovlen > 1024) return -EMSGSIZE;  // UIO_MAXIOV
        h.msg_flags = m.msg_flags;
        h.msg_namelen = m.msg_namelen;
        if (m.msg_name) {
            h.msg_name = &name;
            if (send && !mem.get(uint64_t(m.msg_name), &name, std::min<size_t>(m.msg_namelen, sizeof name)))
                h.msg_name = const_cast<char*>(g_bad);
        }
        iov.resize(m.msg_iovlen);
        if (!mem.get(uint64_t(m.msg_iov), iov.data(), iov.size() * sizeof(iovec))) return -EFAULT;
        size_t total = 0;
        for (const iovec& v : iov) total += v.iov_len;
        if (send && total > kMaxIn) {
            one = {const_cast<char*>(g_zeros), total};
        } else {
            data.resize(send ? total : std::min<size_t>(total, wire::kMaxData));
            size_t off = 0;
            for (const iovec& v : iov) {
                if (!send) break;
                if (!mem.get(uint64_t(v.iov_base), data.data() + off, v.iov_len)) return -EFAULT;
                off += v.iov_len;
            }
            one = {data.data(), data.size()};
        }
        h.msg_iov = m.msg_iovlen ? &one : nullptr;
        h.msg_iovlen = m.msg_iovlen ? 1 : 0;
        if (m.msg_control && m.msg_controllen) {
            ctl.resize(std::min<size_t>(m.msg_controllen, wire::kMaxBlob));
            h.msg_control = ctl.data();
            h.msg_controllen = ctl.size();
            if (send && !mem.get(uint64_t(m.msg_control), ctl.data(), ctl.size())) h.msg_control = const_cast<char*>(g_bad);
        }
        return 0;
    }
    // A receive's results into the program's buffers and header (at addr, unless 0).
    bool store(const Mem& mem, uint64_t addr, msghdr m, size_t got) const {
        size_t off = 0;
        for (const iovec& v : iov) {
            const size_t n = std::min(v.iov_len, got - off);
            if (!mem.put(uint64_t(v.iov_base), data.data() + off, n)) return false;
            off += n;
        }
        if (m.msg_name && !mem.put(uint64_t(m.msg_name), &name, std::min<size_t>({h.msg_namelen, m.msg_namelen, sizeof name})))
            return false;
        if (h.msg_control && !mem.put(uint64_t(m.msg_control), ctl.data(), std::min(h.msg_controllen, ctl.size()))) return false;
        if (!addr) return true;  // (readv: no header)
        m.msg_namelen = h.msg_namelen;
        m.msg_controllen = h.msg_control ? h.msg_controllen : m.msg_controllen;
        m.msg_flags = h.msg_flags;
        return mem.put(addr, &m, sizeof m);
    }
};

// sendmmsg and recvmmsg: every header made ours, one call, results written back.
long mmsg(const Mem& mem, int fd, const uint64_t* a, bool send) {
    const unsigned vlen = std::min<unsigned>(unsigned(a[2]), 1024);  // UIO_MAXIOV
    std::vector<mmsghdr> theirs(vlen), ours(vlen);
    if (!mem.get(a[1], theirs.data(), vlen * sizeof(mmsghdr))) return -EFAULT;
    std::vector<LocalMsg> l(vlen);
    for (unsigned i = 0; i < vlen; ++i) {
        if (const long e = l[i].load(mem, theirs[i].msg_hdr, send); e < 0) {
            if (i == 0) return e;
            ours.resize(i);  // (the kernel would stop at this message too)
            break;
        }
        ours[i].msg_hdr = l[i].h;
    }
    timespec t{}, *tp = nullptr;
    if (!send && a[4]) {
        if (!mem.get(a[4], &t, sizeof t)) return -EFAULT;
        tp = &t;
    }
    const long r = kr(send ? ::sendmmsg(fd, ours.data(), unsigned(ours.size()), int(a[3]))
                           : ::recvmmsg(fd, ours.data(), unsigned(ours.size()), int(a[3]), tp));
    for (long i = 0; i < r; ++i) {
        const uint64_t at = a[1] + uint64_t(i) * sizeof(mmsghdr);
        if (!send) {
            l[size_t(i)].h = ours[size_t(i)].msg_hdr;
            if (!l[size_t(i)].store(mem, at, theirs[size_t(i)].msg_hdr, ours[size_t(i)].msg_len)) return i ? i : -EFAULT;
        }
        if (!mem.put(at + offsetof(mmsghdr, msg_len), &ours[size_t(i)].msg_len, sizeof(unsigned))) return i ? i : -EFAULT;
    }
    if (tp && r >= 0) mem.put(a[4], &t, sizeof t);
    return r;
}

// A data or option call on our descriptor fd for the program's socket.
long serve(const seccomp_notif& n, int fd) {
    const Mem mem{pid_t(n.pid)};
    const auto* a = reinterpret_cast<const uint64_t*>(n.data.args);
    // Kept per thread: a receive buffer is up to 70000 bytes, too dear to allocate and zero
    // at every call (resize zeroes only what it adds).
    thread_local std::vector<char> b1, b2;
    sockaddr_storage sa{};
    socklen_t sl = 0;
    // A length argument the call reads and writes (socklen_t*): ours, or g_bad.
    auto len_in = [&](uint64_t p) -> socklen_t* {
        if (!p) return nullptr;
        return mem.get(p, &sl, sizeof sl) ? &sl : reinterpret_cast<socklen_t*>(const_cast<char*>(g_bad));
    };
    auto out = [&](uint64_t p, const void* v, size_t len) { return !p || mem.put(p, v, len); };
    switch (n.data.nr) {
        case SYS_bind:
        case SYS_connect: {
            const void* p = mem.in(a[1], std::min<size_t>(socklen_t(a[2]), sizeof sa), b1);
            const auto* s = static_cast<const sockaddr*>(p);
            return kr(n.data.nr == SYS_bind ? ::bind(fd, s, socklen_t(a[2])) : ::connect(fd, s, socklen_t(a[2])));
        }
        case SYS_getsockname:
        case SYS_getpeername: {
            socklen_t* lp = len_in(a[2]);
            const socklen_t given = lp == &sl ? sl : 0;
            auto* ap = a[1] ? reinterpret_cast<sockaddr*>(&sa) : nullptr;
            const long r = kr(n.data.nr == SYS_getsockname ? ::getsockname(fd, ap, lp) : ::getpeername(fd, ap, lp));
            if (r == 0 && lp == &sl && (!out(a[1], &sa, std::min<size_t>({given, sl, sizeof sa})) || !out(a[2], &sl, sizeof sl)))
                return -EFAULT;
            return r;
        }
        case SYS_sendto:
        case SYS_write: {
            const void* p = mem.in(a[1], size_t(a[2]), b1);
            if (n.data.nr == SYS_write) return kr(::write(fd, p, size_t(a[2])));
            const void* to = mem.in(a[4], std::min<size_t>(socklen_t(a[5]), sizeof sa), b2);
            return kr(::sendto(fd, p, size_t(a[2]), int(a[3]), static_cast<const sockaddr*>(to), socklen_t(a[5])));
        }
        case SYS_recvfrom:
        case SYS_read: {
            b1.resize(std::min<size_t>(size_t(a[2]), wire::kMaxData));
            long r;
            socklen_t given = 0;
            if (n.data.nr == SYS_read) {
                r = kr(::read(fd, b1.data(), size_t(a[2]) ? b1.size() : 0));
            } else {
                socklen_t* lp = len_in(a[5]);
                given = lp == &sl ? sl : 0;
                r = kr(::recvfrom(fd, b1.data(), b1.size(), int(a[3]), a[4] ? reinterpret_cast<sockaddr*>(&sa) : nullptr, lp));
            }
            if (r < 0) return r;
            if (!mem.put(a[1], b1.data(), std::min(size_t(r), b1.size())) && r > 0) return -EFAULT;
            if (n.data.nr == SYS_recvfrom && a[4] && a[5] &&
                (!out(a[4], &sa, std::min<size_t>({given, sl, sizeof sa})) || !out(a[5], &sl, sizeof sl)))
                return -EFAULT;
            return r;
        }
        case SYS_readv:
        case SYS_writev:
        case SYS_preadv2:
        case SYS_pwritev2:
        case SYS_sendmsg:
        case SYS_recvmsg: {
            const bool vec = n.data.nr != SYS_sendmsg && n.data.nr != SYS_recvmsg;
            const bool send = n.data.nr == SYS_writev || n.data.nr == SYS_pwritev2 || n.data.nr == SYS_sendmsg;
            msghdr m{};
            if (vec) {
                if (a[2] > 1024) return -EINVAL;
                m.msg_iov = reinterpret_cast<iovec*>(a[1]);
                m.msg_iovlen = size_t(a[2]);
            } else if (!mem.get(a[1], &m, sizeof m)) {
                return -EFAULT;
            }
            LocalMsg l;
            if (const long e = l.load(mem, m, send); e < 0) return e;
            if (vec) {
                const iovec* v = l.h.msg_iov;
                const int c = int(l.h.msg_iovlen);
                const long r = kr(send ? ::writev(fd, v, c) : ::readv(fd, v, c));
                if (r <= 0 || send) return r;
                return l.store(mem, 0, m, std::min(size_t(r), l.data.size())) ? r : -EFAULT;
            }
            const long r = kr(send ? ::sendmsg(fd, &l.h, int(a[2])) : ::recvmsg(fd, &l.h, int(a[2])));
            if (r < 0 || send) return r;
            return l.store(mem, a[1], m, std::min(size_t(r), l.data.size())) ? r : -EFAULT;
        }
        case SYS_sendmmsg: return mmsg(mem, fd, a, true);
        case SYS_recvmmsg: return mmsg(mem, fd, a, false);
        case SYS_setsockopt: {
            const socklen_t len = socklen_t(a[4]);
            const void* v = mem.in(a[3], int(len) > 0 ? std::min<size_t>(len, wire::kMaxBlob) : 0, b1);
            sock_fprog fp{};
            if (v && v != g_bad && v != g_zeros && a[1] == SOL_SOCKET &&
                (a[2] == SO_ATTACH_FILTER || a[2] == SO_ATTACH_REUSEPORT_CBPF) && b1.size() >= sizeof fp) {
                std::memcpy(&fp, b1.data(), sizeof fp);  // its program lies behind a pointer of its own
                fp.filter = static_cast<sock_filter*>(
                    const_cast<void*>(mem.in(uint64_t(fp.filter), fp.len * sizeof(sock_filter), b2)));
                v = &fp;
            }
            return kr(::setsockopt(fd, int(a[1]), int(a[2]), v, len));
        }
        case SYS_getsockopt: {
            socklen_t* lp = len_in(a[4]);
            const bool filter = a[1] == SOL_SOCKET && a[2] == SO_GET_FILTER;  // (its length counts instructions)
            const size_t unit = filter ? sizeof(sock_filter) : 1;
            b1.assign(lp == &sl && int(sl) > 0 ? std::min<size_t>(size_t(sl) * unit, wire::kMaxBlob) : 0, 0);
            const long r = kr(::getsockopt(fd, int(a[1]), int(a[2]), a[3] ? b1.data() : nullptr, lp));
            if (r == 0 && lp == &sl && (!out(a[3], b1.data(), std::min(size_t(sl) * unit, b1.size())) || !out(a[4], &sl, sizeof sl)))
                return -EFAULT;
            return r;
        }
        case SYS_ioctl: {
            const unsigned long req = (unsigned long)a[1];
            const size_t size = wire::ioctl_arg_size(req);
            b1.assign(std::max<size_t>(size, 256), 0);
            void* arg = b1.data();
            if (!a[2]) arg = nullptr;
            else if (size && !mem.get(a[2], b1.data(), size)) arg = const_cast<char*>(g_bad);
            ifconf c{};
            if (arg == b1.data() && req == SIOCGIFCONF) {
                std::memcpy(&c, b1.data(), sizeof c);
                const uint64_t theirs = uint64_t(c.ifc_buf);
                b2.assign(std::min<size_t>(size_t(std::max(c.ifc_len, 0)), wire::kMaxBlob), 0);
                ifconf ours{int(b2.size()), {theirs ? b2.data() : nullptr}};
                const long r = kr(::ioctl(fd, req, &ours));
                if (r < 0) return r;
                c.ifc_len = ours.ifc_len;
                if (theirs && !mem.put(theirs, b2.data(), size_t(ours.ifc_len))) return -EFAULT;
                return mem.put(a[2], &c, sizeof c) ? r : -EFAULT;
            }
            const std::vector<char> before(b1);
            const long r = kr(::ioctl(fd, req, arg));
            // Only what the call wrote goes back (a request that only reads may name read-only memory).
            if (r >= 0 && arg == b1.data() && size && before != b1 && !mem.put(a[2], b1.data(), size)) return -EFAULT;
            return r;
        }
        case SYS_fcntl: return kr(::fcntl(fd, int(a[1]), long(a[2])));
        case SYS_listen: return kr(::listen(fd, int(a[1])));
        case SYS_shutdown: return kr(::shutdown(fd, int(a[1])));
        case SYS_accept:
        case SYS_accept4: return kr(::accept4(fd, nullptr, nullptr, n.data.nr == SYS_accept4 ? int(a[3]) : 0));
        default: return -ENOSYS;
    }
}

// ---- the program's descriptors ----
// Per process of the program (its thread group): its descriptor -> ours, a dup of the same
// usnet socket, so a socket closes when the last process holding it closes it. An entry is
// checked against the program's table (kcmp) at each use: a descriptor closed or replaced
// where we did not see it (exec's close-on-exec) is the kernel's again.
struct Proc {
    std::unordered_map<int, int> fds;
};
std::unordered_map<pid_t, Proc> g_procs;   // by thread-group id; the main thread's only
std::unordered_map<pid_t, pid_t> g_tgid;   // thread -> its group
pid_t g_child = -1;

// "Tgid" and "PPid" from /proc/TID/status.
bool status_of(pid_t tid, pid_t* tgid, pid_t* ppid) {
    std::ifstream f("/proc/" + std::to_string(tid) + "/status");
    std::string key;
    *tgid = *ppid = -1;
    while (f >> key) {
        if (key == "Tgid:") f >> *tgid;
        else if (key == "PPid:") f >> *ppid;
        else f.ignore(1 << 16, '\n');
    }
    return *tgid > 0;
}

bool same_file(pid_t tg, int theirs, int ours) {
    return syscall(SYS_kcmp, tg, getpid(), KCMP_FILE, theirs, ours) == 0;
}

void drop(Proc& p, int fd) {
    const auto it = p.fds.find(fd);
    if (it == p.fds.end()) return;
    ::close(it->second);
    p.fds.erase(it);
}

// The process a thread belongs to; a new one (a fork) starts with its parent's sockets.
pid_t proc_of(pid_t tid) {
    if (const auto it = g_tgid.find(tid); it != g_tgid.end()) return it->second;
    pid_t tg, pp;
    if (!status_of(tid, &tg, &pp)) return -1;
    g_tgid[tid] = tg;
    if (!g_procs.count(tg)) {
        Proc& p = g_procs[tg];
        if (const auto parent = g_procs.find(pp); parent != g_procs.end())
            for (const auto& [fd, ours] : parent->second.fds)
                if (same_file(tg, fd, ours)) p.fds[fd] = ::dup(ours);
    }
    return tg;
}

// Our descriptor for the program's fd, or -1 (the kernel's).
int ours(pid_t tg, int fd) {
    Proc& p = g_procs[tg];
    const auto it = p.fds.find(fd);
    if (it == p.fds.end()) return -1;
    if (same_file(tg, fd, it->second)) return it->second;
    drop(p, fd);
    return -1;
}

// Processes gone, entries stale: let their sockets go.
void sweep() {
    for (auto it = g_procs.begin(); it != g_procs.end();) {
        const std::string dir = "/proc/" + std::to_string(it->first);
        char state = 0;
        std::ifstream st(dir + "/stat");
        std::string skip;
        st >> skip >> skip >> state;  // (a command name with spaces misleads this: then kept)
        if (!st || state == 'Z' || state == 'X') {
            for (const auto& [fd, o] : it->second.fds) ::close(o);
            it = g_procs.erase(it);
            continue;
        }
        std::vector<int> stale;
        for (const auto& [fd, o] : it->second.fds)
            if (!same_file(it->first, fd, o)) stale.push_back(fd);
        for (int fd : stale) drop(it->second, fd);
        ++it;
    }
    for (auto it = g_tgid.begin(); it != g_tgid.end();)
        it = g_procs.count(it->second) ? std::next(it) : g_tgid.erase(it);
}

// ---- answers ----
void respond(uint64_t id, long r) {
    seccomp_notif_resp resp{};
    resp.id = id;
    if (r == kContinue) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    else if (r < 0) resp.error = int(r);
    else resp.val = r;
    native::ioctl(g_listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);  // (ENOENT: the call was interrupted)
}

// Installs a dup of our descriptor in the program as the call's result: the lowest free
// number, or `at`. Records it; -errno on failure.
long install(const seccomp_notif& n, pid_t tg, int ours_fd, int at, bool cloexec) {
    const int mine = ::dup(ours_fd);
    if (mine < 0) return -long(errno);
    seccomp_notif_addfd add{};
    add.id = n.id;
    add.flags = SECCOMP_ADDFD_FLAG_SEND | (at >= 0 ? SECCOMP_ADDFD_FLAG_SETFD : 0);
    add.srcfd = uint32_t(mine);
    add.newfd = uint32_t(std::max(at, 0));
    add.newfd_flags = cloexec ? O_CLOEXEC : 0;
    const int got = native::ioctl(g_listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
    if (got < 0) {
        const int e = errno;
        ::close(mine);
        return e == ENOENT ? 0 : -long(e);  // ENOENT: interrupted, nothing to answer
    }
    Proc& p = g_procs[tg];
    drop(p, got);  // (dup2 over one of its sockets)
    p.fds[got] = mine;
    return got;
}

// The lowest descriptor number >= from free in the process (fcntl F_DUPFD).
int lowest_free(pid_t tg, int from) {
    std::vector<int> used;
    if (DIR* d = opendir(("/proc/" + std::to_string(tg) + "/fd").c_str())) {
        while (const dirent* e = readdir(d))
            if (e->d_name[0] >= '0' && e->d_name[0] <= '9') used.push_back(std::atoi(e->d_name));
        closedir(d);
    }
    std::sort(used.begin(), used.end());
    int want = from;
    for (int fd : used)
        if (fd == want) ++want;
        else if (fd > want) break;
    return want;
}

// ---- workers: calls that may block run on a thread each, so the others go on ----
struct Job {
    seccomp_notif n;
    int fd;
    int u;       // the usnet socket behind fd
    bool timed;  // a receive on a socket with SO_RCVTIMEO
};
struct Running {
    pthread_t t;
    const Job* job;  // (the worker's own copy)
    bool kicked;
};
// Never destroyed: the workers still wait on it at exit, and glibc's pthread_cond_destroy
// waits for its waiters.
struct Jobs {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job> queue;
    int idle = 0;
    std::unordered_map<uint64_t, Running> running;  // notification id -> the worker making it
};
Jobs& g_jobs = *new Jobs;

void worker() {
    for (;;) {
        Job j;
        {
            std::unique_lock<std::mutex> g(g_jobs.mu);
            ++g_jobs.idle;
            g_jobs.cv.wait(g, [] { return !g_jobs.queue.empty(); });
            --g_jobs.idle;
            j = g_jobs.queue.front();
            g_jobs.queue.pop_front();
            g_jobs.running[j.n.id] = {pthread_self(), &j, false};
        }
        const long r = serve(j.n, j.fd);
        {
            std::lock_guard<std::mutex> g(g_jobs.mu);
            g_jobs.running.erase(j.n.id);
        }
        respond(j.n.id, r);
    }
}

void run_on_worker(const seccomp_notif& n, int fd) {
    timeval tv{};
    socklen_t len = sizeof tv;
    const bool timed = ::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec);
    std::lock_guard<std::mutex> g(g_jobs.mu);
    g_jobs.queue.push_back({n, fd, usnet_fd(fd), timed});
    if (size_t(g_jobs.idle) < g_jobs.queue.size()) std::thread(worker).detach();
    g_jobs.cv.notify_one();
}

// A receive with SO_RCVTIMEO interrupted by a handler ends with EINTR on Linux even under
// SA_RESTART (sock_intr_errno), but the kernel restarts the program's system call before we
// can answer it: the same call from the same thread, next, is answered EINTR. (A program
// that retries by itself after EINTR gets one EINTR more, which its loop absorbs.)
struct Restart {
    long nr;
    uint64_t args[6], ip;
    bool same(const seccomp_notif& n) const {
        return n.data.nr == nr && n.data.instruction_pointer == ip && std::memcmp(n.data.args, args, sizeof args) == 0;
    }
};
std::unordered_map<pid_t, Restart> g_restart_eintr;  // by program thread (the loop's thread only)

// A program call interrupted by a signal is gone from the listener: its worker's call is
// interrupted too (the signal's handler does nothing and has no SA_RESTART: EINTR).
void kick_interrupted() {
    std::lock_guard<std::mutex> g(g_jobs.mu);
    for (auto& [id, w] : g_jobs.running) {
        uint64_t v = id;
        if (w.kicked || native::ioctl(g_listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &v) == 0) continue;
        w.kicked = true;
        pthread_kill(w.t, kKick);
        if (w.job->timed) {
            const seccomp_notif& n = w.job->n;
            Restart& r = g_restart_eintr[pid_t(n.pid)];
            r.nr = n.data.nr;
            r.ip = n.data.instruction_pointer;
            std::memcpy(r.args, n.data.args, sizeof r.args);
        }
    }
}

// Receives are the calls that may wait (usnet's sends never block). One is made here, on the
// loop's thread, when it cannot wait: non-blocking (MSG_DONTWAIT, O_NONBLOCK), or something
// is queued and no worker waits on the same socket to take it first (a worker's wake-up
// costs as much as the call). In a client of a keeper, another process may take it: then
// only non-blocking ones.
bool may_wait(const seccomp_notif& n, int fd) {
    const auto* a = reinterpret_cast<const uint64_t*>(n.data.args);
    uint64_t flags = 0;
    switch (n.data.nr) {
        case SYS_read: case SYS_readv: case SYS_preadv2: break;
        case SYS_recvfrom: case SYS_recvmmsg: flags = a[3]; break;
        case SYS_recvmsg: flags = a[2]; break;
        default: return false;
    }
    if ((flags & MSG_DONTWAIT) || (::fcntl(fd, F_GETFL) & O_NONBLOCK)) return false;
    // (A blocking recvmmsg waits for all vlen datagrams, MSG_WAITFORONE for the first.)
    if (g_client.load() || (n.data.nr == SYS_recvmmsg && !(flags & MSG_WAITFORONE))) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1 || !(p.revents & (POLLIN | POLLERR))) return true;
    const int u = usnet_fd(fd);
    std::lock_guard<std::mutex> g(g_jobs.mu);
    for (const auto& [id, w] : g_jobs.running)
        if (w.job->u == u) return true;
    return false;
}

// One notification: the answer now, or handed to a worker (kContinue: the kernel's).
void handle(const seccomp_notif& n) {
    const auto* a = reinterpret_cast<const uint64_t*>(n.data.args);
    const long nr = n.data.nr;
    if (const auto it = g_restart_eintr.find(pid_t(n.pid)); it != g_restart_eintr.end()) {
        const bool restarted = it->second.same(n);
        g_restart_eintr.erase(it);
        if (restarted) return respond(n.id, -EINTR);
    }
    const pid_t tg = proc_of(pid_t(n.pid));
    if (tg < 0) return respond(n.id, kContinue);
    if (nr == SYS_socket) {
        if (!is_usnet_socket(int(a[0]), int(a[1]), int(a[2]))) return respond(n.id, kContinue);
        const int s = ::socket(int(a[0]), int(a[1]), int(a[2]));
        if (s < 0) return respond(n.id, -long(errno));
        enable_signals(runtime());  // (the program polls the tokens in the kernel)
        const long r = install(n, tg, s, -1, a[1] & SOCK_CLOEXEC);
        ::close(s);
        if (r < 0) respond(n.id, r);
        return;
    }
    if (nr == SYS_close_range) {
        if (!(a[2] & CLOSE_RANGE_CLOEXEC)) {
            std::vector<int> in;
            for (const auto& [fd, o] : g_procs[tg].fds)
                if (uint64_t(fd) >= a[0] && uint64_t(fd) <= a[1]) in.push_back(fd);
            for (int fd : in) drop(g_procs[tg], fd);
        }
        return respond(n.id, kContinue);
    }
    const int fd = ours(tg, int(a[0]));
    if (nr == SYS_dup2 || nr == SYS_dup3) {
        if (fd < 0) {
            drop(g_procs[tg], int(a[1]));  // the kernel replaces it
            return respond(n.id, kContinue);
        }
        if (a[0] == a[1]) return respond(n.id, nr == SYS_dup2 ? long(a[1]) : -EINVAL);
        if (nr == SYS_dup3 && (a[2] & ~uint64_t(O_CLOEXEC))) return respond(n.id, -EINVAL);
        if (const long r = install(n, tg, fd, int(a[1]), nr == SYS_dup3 && (a[2] & O_CLOEXEC)); r < 0) respond(n.id, r);
        return;
    }
    if (fd < 0) return respond(n.id, kContinue);
    switch (nr) {
        case SYS_close: drop(g_procs[tg], int(a[0])); return respond(n.id, kContinue);
        case SYS_dup:
            if (const long r = install(n, tg, fd, -1, false); r < 0) respond(n.id, r);
            return;
        case SYS_fcntl:
            if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC) {
                if (int64_t(a[2]) < 0 || a[2] >= uint64_t(INT_MAX)) return respond(n.id, -EINVAL);
                if (const long r = install(n, tg, fd, lowest_free(tg, int(a[2])), a[1] == F_DUPFD_CLOEXEC); r < 0) respond(n.id, r);
                return;
            }
            if (a[1] == F_GETFD || a[1] == F_SETFD) return respond(n.id, kContinue);  // the descriptor's own flag
            if (a[1] != F_GETFL && a[1] != F_SETFL && a[1] != F_GETOWN && a[1] != F_SETOWN) return respond(n.id, kContinue);
            return respond(n.id, serve(n, fd));
        case SYS_pread64: case SYS_pwrite64: case SYS_preadv: case SYS_pwritev: return respond(n.id, -ESPIPE);
        case SYS_preadv2:
        case SYS_pwritev2:
            if (a[3] != ~uint64_t(0) || a[4] != ~uint64_t(0)) return respond(n.id, -ESPIPE);
            break;
        default: break;
    }
    if (may_wait(n, fd)) run_on_worker(n, fd);
    else respond(n.id, serve(n, fd));
}

// What the program's filter sends here.
const int kTrapped[] = {SYS_socket,   SYS_bind,      SYS_connect,     SYS_listen,     SYS_accept,    SYS_accept4,
                        SYS_getsockname, SYS_getpeername, SYS_sendto,  SYS_recvfrom,   SYS_sendmsg,   SYS_recvmsg,
                        SYS_sendmmsg, SYS_recvmmsg,  SYS_shutdown,    SYS_setsockopt, SYS_getsockopt, SYS_ioctl,
                        SYS_fcntl,    SYS_close,     SYS_close_range, SYS_dup,        SYS_dup2,      SYS_dup3,
                        SYS_read,     SYS_write,     SYS_readv,       SYS_writev,     SYS_pread64,   SYS_pwrite64,
                        SYS_preadv,   SYS_pwritev,   SYS_preadv2,     SYS_pwritev2};

std::vector<sock_filter> program_filter() {
    Bpf b;
    const int allow = b.label(), notify = b.label();
    b.ld(kOffArch);
    b.jmp(BPF_JEQ, AUDIT_ARCH_X86_64, -1, allow);
    b.ld(kOffNr);
    b.jmp(BPF_JGE, 0x40000000u, allow, -1);  // x32: not ours
    for (const int nr : kTrapped) b.jmp(BPF_JEQ, uint32_t(nr), notify, -1);
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    b.bind(notify);
    b.ret(SECCOMP_RET_USER_NOTIF);
    std::vector<sock_filter> code;
    (void)b.finish(&code);  // (some 40 instructions, every jump short)
    return code;
}

// Sockets this process inherited at exec (a program with the shim exec'd a static one) are
// the child's too, at the same numbers: its entries are dups of them; ours let go, so each
// socket closes when the program closes it.
void hand_inherited_to(pid_t child) {
    if (!g_active.load()) return;
    std::vector<int> mine;
    {
        Runtime& r = runtime();
        std::lock_guard<usnet::CallLock> g(r.mu);
        for (const auto& [fd, u] : r.fds) mine.push_back(fd);
    }
    Proc& p = g_procs[child];
    g_tgid[child] = child;
    for (int fd : mine) {
        if (same_file(child, fd, fd)) p.fds[fd] = ::dup(fd);
        ::close(fd);
    }
}

// The child: the filter, then the program. `tell` carries the listener's number to us, which
// takes it with pidfd_getfd; the child's first trapped call waits until we have.
[[noreturn]] void child_main(char** argv, int tell) {
    const int probe = ::open("/dev/null", O_RDONLY);  // the lowest free number: the listener's
    ::close(probe);
    (void)!::write(tell, &probe, sizeof probe);
    std::vector<sock_filter> code = program_filter();
    if (const long l = seccomp_install(code, SECCOMP_FILTER_FLAG_NEW_LISTENER); l < 0) {
        std::fprintf(stderr, "usnet run: cannot trap the program's socket calls: seccomp: %s\n", std::strerror(int(-l)));
        _exit(70);
    }
    ::close(tell);  // (trapped: returns once the supervisor holds the listener)
    unsetenv("LD_PRELOAD");  // a dynamic program it execs is served here too, not by a shim of its own
    unsetenv("USNET_TRAP");
    execv(argv[0], argv + 1);
    std::fprintf(stderr, "usnet run: %s: %s\n", argv[1], std::strerror(errno));
    _exit(127);
}

bool take_listener(pid_t child, int number) {
    const int pidfd = int(syscall(SYS_pidfd_open, child, 0));
    if (pidfd < 0) return false;
    for (int i = 0; i < 20000 && g_listener < 0; ++i) {
        const int fd = int(syscall(SYS_pidfd_getfd, pidfd, number, 0));
        char link[64] = {};
        if (fd >= 0 && readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1) > 0 &&
            std::strstr(link, "seccomp")) {
            g_listener = fd;
            break;
        }
        if (fd >= 0) ::close(fd);
        if (waitpid(child, nullptr, WNOHANG) == child) break;
        usleep(250);
    }
    ::close(pidfd);
    return g_listener >= 0;
}

void forward(int sig, siginfo_t* info, void*) {
    // From kill(2): passed on. From the terminal: the program has it already.
    if (g_child > 0 && (info->si_code == SI_USER || info->si_code == SI_QUEUE)) kill(g_child, sig);
}

// The program's status as its own: its exit code, or its signal.
[[noreturn]] void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        flush_at_exit();
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    std::exit(WIFEXITED(status) ? WEXITSTATUS(status) : 70);
}

}  // namespace

}  // namespace usnet::shim

#pragma GCC visibility push(default)
// `usnet run` of a statically linked program (cli/run.cpp), or the shim's execve of one,
// calls this in a process with the shim loaded: argv is the program's file, then its argv.
// Returns only on failure to start.
extern "C" int usnet_supervise(char** argv) {
    using namespace usnet::shim;
    g_bad = static_cast<const char*>(mmap(nullptr, size_t(1) << 32, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    g_zeros = static_cast<const char*>(mmap(nullptr, size_t(1) << 32, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    int tell[2];
    if (pipe2(tell, O_CLOEXEC) != 0) return 70;
    prctl(PR_SET_CHILD_SUBREAPER, 1);  // the program's orphans stay ours: we end when the last is gone
    REAL(fork);  // (libc's: the shim's would make a keeper for the one host)
    const pid_t child = real_fork();
    if (child < 0) return 70;
    if (child == 0) child_main(argv, tell[1]);
    ::close(tell[1]);
    int number = -1;
    if (::read(tell[0], &number, sizeof number) != ssize_t(sizeof number) || !take_listener(child, number)) {
        std::fprintf(stderr, "usnet run: cannot trap the program's socket calls (no seccomp listener)\n");
        kill(child, SIGKILL);
        return 70;
    }
    ::close(tell[0]);
    g_child = child;
    hand_inherited_to(child);
    // (Older kernels refuse the flag: then each answer is an ordinary wake-up.)
    native::ioctl(g_listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, reinterpret_cast<void*>(SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP));
    struct sigaction kick{};
    kick.sa_handler = [](int) {};
    sigaction(kKick, &kick, nullptr);  // (no SA_RESTART: a worker's call ends with EINTR)
    struct sigaction fw{};
    fw.sa_sigaction = forward;
    fw.sa_flags = SA_SIGINFO | SA_RESTART;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaction(sig, &fw, nullptr);
    seccomp_notif_sizes sizes{};
    syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes);
    std::vector<char> buf(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
    int status = 0;
    bool child_done = false;
    auto last_sweep = std::chrono::steady_clock::now();
    for (;;) {
        int timeout = 100;
        {
            std::lock_guard<std::mutex> g(g_jobs.mu);
            if (!g_jobs.running.empty()) timeout = 10;
        }
        if (g_active.load()) {
            Runtime& r = runtime();
            std::lock_guard<usnet::CallLock> g(r.mu);
            r.world.net->settle_now();
            sync_signals(r);
            const usnet::Time next = r.world.net->next_event(), now = r.world.net->now();
            if (next != usnet::kNever) timeout = int(std::clamp<usnet::Time>((next - now) / usnet::kMs, 1, timeout));
        }
        // (Busy-polling the listener here was tried: with the synchronous wake-ups it gained
        // nothing, the program sleeps at each call either way.)
        pollfd p{g_listener, POLLIN, 0};
        const int k = native::poll(&p, 1, timeout);
        int st;
        for (pid_t w; (w = waitpid(-1, &st, WNOHANG)) > 0;)
            if (w == child) child_done = true, g_child = -1, status = st;
        if (k > 0 && (p.revents & POLLIN)) {
            std::memset(buf.data(), 0, buf.size());
            auto* n = reinterpret_cast<seccomp_notif*>(buf.data());
            kick_interrupted();  // (first: a call restarted after a signal must meet its record)
            if (native::ioctl(g_listener, SECCOMP_IOCTL_NOTIF_RECV, n) == 0) handle(*n);
        } else if (k > 0 && (p.revents & (POLLHUP | POLLERR))) {
            break;  // no process of the program is left
        }
        kick_interrupted();
        if (std::chrono::steady_clock::now() - last_sweep > std::chrono::seconds(1)) {
            sweep();
            last_sweep = std::chrono::steady_clock::now();
        }
    }
    while (!child_done) {
        int st;
        const pid_t w = waitpid(-1, &st, 0);
        if (w == child) status = st;
        if (w == child || (w < 0 && errno != EINTR)) break;
    }
    exit_like(status);
}
#pragma GCC visibility pop
#else
#pragma GCC visibility push(default)
extern "C" int usnet_supervise(char** argv) {
    std::fprintf(stderr, "usnet run: %s is statically linked: served on x86_64 only\n", argv[0]);
    return 2;
}
#pragma GCC visibility pop
#endif
