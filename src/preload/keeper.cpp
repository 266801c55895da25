// One host across fork. On Linux a forked child shares its parent's sockets, ports, routes
// and link: they belong to the host, not to the process. Here the stack is the process's
// memory, which fork copies; so at the program's first fork with a usnet socket open, a
// keeper process is forked off first and keeps the stack as it stands (copy-on-write: no
// state is serialised), with the switch port and each socket's eventfd. From then on the
// program and each child are clients (remote.cpp): one connection each, whose sockets the
// keeper counts, so a socket closes when the last process holding it closes it or exits.
// The keeper ends when its last client does. Until a program forks nothing of this runs.
#include "shim.hpp"
#include "static_elf.hpp"

#include <linux/filter.h>
#include <net/if.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace usnet::shim {

uint32_t usnet_epoll_mask(usnet::Stack& st, int u);

namespace {

std::atomic<bool> g_making_keeper{false};  // fork's child handler: this child becomes the keeper
int g_child_conn = -1;                     // the connection made for the child being forked

using wire::Rep;
using wire::Req;

struct Client {
    int fd;
    std::unordered_map<int, int> held;  // the usnet sockets this process holds (value unused)
};

struct Keeper {
    std::vector<Client> clients;
    std::unordered_map<int, int> holders;  // usnet socket -> processes holding it
    std::unordered_map<int, int> efd;      // usnet socket -> its eventfd (the keeper's number)
    const char* zeros = nullptr;           // readable zeros: the data of sends longer than any datagram
};

// The reply being built; its tail in a buffer kept from request to request (the keeper serves
// one at a time), so that a reply allocates nothing once the buffer has grown to its size.
struct Out {
    Rep h;
    std::vector<char>& tail = buffer();
    static std::vector<char>& buffer() {
        static std::vector<char> b;
        b.clear();
        return b;
    }
    void put(const void* p, size_t n) {
        if (n) tail.insert(tail.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
    }
};

void drop(Runtime& r, Keeper& k, Client& c, int u) {
    if (!c.held.erase(u) || --k.holders[u] > 0) return;
    k.holders.erase(u);
    r.stack().close(u);
    const auto e = k.efd.find(u);
    if (e == k.efd.end()) return;
    NATIVE(close);
    r.fds.erase(e->second);
    r.signalled.erase(e->second);
    r.woken.erase(e->second);
    real_close(e->second);
    k.efd.erase(e);
}

// The timeout a call that found nothing would have blocked for: -1 not at all.
int64_t block_for(usnet::Stack& st, int u, int flags, bool rcv) {
    if ((flags & MSG_DONTWAIT) || (st.fcntl(u, F_GETFL) & O_NONBLOCK)) return -1;
    timeval tv{};
    socklen_t l = sizeof tv;
    if (st.getsockopt(u, SOL_SOCKET, rcv ? SO_RCVTIMEO_OLD : SO_SNDTIMEO_OLD, &tv, &l) != 0) return -1;
    return int64_t(tv.tv_sec) * 1000000000 + int64_t(tv.tv_usec) * 1000;
}

// A message's fields, checked against its size.
struct In {
    Req h;
    const char* blob;
    const char* ctl;
    const char* lens;
    const char* data;
    bool parse(const char* p, size_t n) {
        if (n < sizeof h) return false;
        std::memcpy(&h, p, sizeof h);
        const uint64_t need = sizeof h + uint64_t(h.n_blob) + h.n_ctl + uint64_t(h.n_iov) * 8 + h.n_data;
        if (need != n || h.n_iov > 1024) return false;
        blob = p + sizeof h;
        ctl = blob + h.n_blob;
        lens = ctl + h.n_ctl;  // (copied out before use: not aligned after a control of any length)
        data = ctl + h.n_ctl + h.n_iov * 8;
        return true;
    }
};

// The call a request names, made on the stack; its result in o.
void call(Runtime& r, Keeper& k, Client& c, const In& in, int passed, Out& o, std::vector<Client>* added) {
    usnet::Stack& st = r.stack();
    const Req& h = in.h;
    const int u = h.u;
    t_shown_fd = h.shown_fd;
    t_shown_u = u;
    long ret = -1;
    bool may_block = false, rcv = false;
    errno = 0;
    auto owned = [&] {
        if (c.held.count(u)) return true;
        errno = EBADF;
        return false;
    };
    alignas(16) char blob[wire::kMaxBlob];
    std::memcpy(blob, in.blob, std::min<size_t>(h.n_blob, sizeof blob));
    void* arg = (h.nulls & wire::kArg) ? nullptr : blob;
    auto* name = (h.nulls & wire::kName) ? nullptr : reinterpret_cast<sockaddr*>(blob);
    switch (h.op) {
        case wire::Socket: {
            t_new_socket_fd = h.shown_fd;
            ret = passed >= 0 ? st.socket(int(h.a), int(h.b), int(h.c)) : (errno = EBADF, -1);
            t_new_socket_fd = -1;
            if (ret >= 0) {
                r.fds.set(passed, int(ret));
                r.signalled[passed] = false;
                k.efd[int(ret)] = passed;
                k.holders[int(ret)] = 1;
                c.held[int(ret)] = 1;
                passed = -1;
            }
            break;
        }
        case wire::Close:
            if (owned()) drop(r, k, c, u), ret = 0;
            break;
        case wire::Adopt: {
            if (passed < 0) break;
            Client n{passed, {}};
            for (uint64_t i = 0; i + sizeof(int) <= h.n_data; i += sizeof(int)) {
                int v;
                std::memcpy(&v, in.data + i, sizeof v);
                if (k.holders.count(v) && !n.held.count(v)) n.held[v] = 1, ++k.holders[v];
            }
            added->push_back(std::move(n));
            passed = -1;
            ret = 0;
            break;
        }
        case wire::Bind:
            if (owned()) ret = st.bind(u, name, socklen_t(h.a));
            break;
        case wire::Connect:
            if (owned()) ret = st.connect(u, name, socklen_t(h.a));
            break;
        case wire::GetName: {
            if (!owned()) break;
            socklen_t len = socklen_t(h.b);
            sockaddr_storage a{};
            sockaddr* ap = (h.nulls & wire::kName) ? nullptr : reinterpret_cast<sockaddr*>(&a);
            socklen_t* lp = (h.nulls & wire::kLen) ? nullptr : &len;
            ret = h.a ? st.getpeername(u, ap, lp) : st.getsockname(u, ap, lp);
            if (ret == 0) {
                o.h.len_a = len;
                o.put(&a, std::min<size_t>({size_t(len), size_t(std::max<int64_t>(h.b, 0)), sizeof a}));
            }
            break;
        }
        case wire::Shutdown:
            if (owned()) ret = st.shutdown(u, int(h.a));
            break;
        case wire::Listen:
            if (owned()) ret = st.listen(u, int(h.a));
            break;
        case wire::Accept:
            if (owned()) ret = st.accept(u, nullptr, nullptr);
            break;
        case wire::SendMsg:
        case wire::RecvMsg: {
            if (!owned()) break;
            const bool send = h.op == wire::SendMsg;
            msghdr m{};
            alignas(16) static thread_local char ctl[16384];
            static thread_local std::vector<char> data;
            m.msg_name = name;
            m.msg_namelen = socklen_t(h.a);
            if (!(h.nulls & wire::kCtl)) {
                m.msg_control = ctl;
                m.msg_controllen = send ? h.n_ctl : std::min<size_t>(size_t(h.b), sizeof ctl);
                if (send) std::memcpy(ctl, in.ctl, std::min<size_t>(h.n_ctl, sizeof ctl));
            }
            static iovec iov[1024];  // (In::parse refuses more)
            static uint64_t lens[1024];
            m.msg_iovlen = size_t(h.c);
            m.msg_iov = (h.nulls & wire::kArg) ? nullptr : iov;
            std::memcpy(lens, in.lens, h.n_iov * sizeof(uint64_t));
            // Sends: the data in the request, or the zero region when longer than any
            // datagram (the call then fails on its length); receives: one flat buffer.
            if (send && h.n_data == 0) {
                for (size_t i = 0; i < h.n_iov; ++i)
                    iov[i] = lens[i] & wire::kIovNull ? iovec{nullptr, size_t(lens[i] & ~wire::kIovNull)}
                                                      : iovec{const_cast<char*>(k.zeros), size_t(lens[i])};
            } else {
                if (!send) data.resize(wire::kMaxData);
                char* base = send ? const_cast<char*>(in.data) : data.data();
                for (size_t i = 0; i < h.n_iov; ++i)
                    if (lens[i] & wire::kIovNull) iov[i] = iovec{nullptr, size_t(lens[i] & ~wire::kIovNull)};
                wire::for_each_span(lens, h.n_iov, send ? h.n_data : wire::kMaxData,
                                    [&](size_t i, size_t off, size_t len) { iov[i] = iovec{base + off, len}; });
            }
            msghdr* mp = (h.nulls & wire::kMsg) ? nullptr : &m;
            ret = send ? st.sendmsg(u, mp, h.flags | MSG_DONTWAIT) : st.recvmsg(u, mp, h.flags | MSG_DONTWAIT);
            may_block = true;
            rcv = !send;
            if (ret >= 0 && !send && mp) {
                o.h.msg_flags = m.msg_flags;
                o.h.len_a = m.msg_namelen;
                o.h.len_b = int64_t(m.msg_controllen);
                if (name) o.put(name, std::min<size_t>(m.msg_namelen, sizeof(sockaddr_storage)));
                o.h.n_blob = uint32_t(o.tail.size());
                if (m.msg_control) o.put(ctl, std::min<size_t>(m.msg_controllen, sizeof ctl));
                o.h.n_ctl = uint32_t(o.tail.size() - o.h.n_blob);
                size_t filled = 0;
                for (size_t i = 0; i < h.n_iov; ++i)
                    if (!(lens[i] & wire::kIovNull)) filled += iov[i].iov_len;
                o.h.n_data = std::min<size_t>(size_t(ret), filled);
                o.put(data.data(), o.h.n_data);
                o.h.ret = ret;
                return;
            }
            break;
        }
        case wire::SetOpt: {
            if (!owned()) break;
            // SO_ATTACH_FILTER: its program came after the sock_fprog.
            if (arg && h.a == SOL_SOCKET && h.b == SO_ATTACH_FILTER && h.n_blob >= sizeof(sock_fprog)) {
                auto* fp = static_cast<sock_fprog*>(arg);
                fp->filter = h.n_blob >= sizeof(sock_fprog) + fp->len * sizeof(sock_filter) && h.n_blob > sizeof(sock_fprog)
                                 ? reinterpret_cast<sock_filter*>(blob + sizeof(sock_fprog))
                                 : nullptr;
            }
            ret = st.setsockopt(u, int(h.a), int(h.b), arg, socklen_t(h.c));
            break;
        }
        case wire::GetOpt: {
            if (!owned()) break;
            socklen_t len = socklen_t(h.c);
            const bool filter = h.a == SOL_SOCKET && h.b == SO_GET_FILTER;
            ret = st.getsockopt(u, int(h.a), int(h.b), arg, (h.nulls & wire::kLen) ? nullptr : &len);
            if (ret >= 0) {
                o.h.len_a = len;
                if (arg) o.put(blob, std::min<size_t>(size_t(len) * (filter ? sizeof(sock_filter) : 1), sizeof blob));
            }
            break;
        }
        case wire::Ioctl:
        case wire::DevIoctl: {
            if (h.op == wire::Ioctl && !owned()) break;
            const unsigned long req_nr = (unsigned long)h.a;
            static thread_local std::vector<char> conf;
            if (arg && req_nr == SIOCGIFCONF) {
                auto* c2 = static_cast<ifconf*>(arg);
                conf.assign(std::min<size_t>(size_t(std::max(c2->ifc_len, 0)), wire::kMaxBlob), 0);
                c2->ifc_buf = h.c ? nullptr : conf.data();
                c2->ifc_len = int(conf.size());
                if (h.c) c2->ifc_len = 0;
            }
            ret = h.op == wire::Ioctl ? st.ioctl(u, req_nr, arg) : st.dev_ioctl(u, req_nr, arg);
            if (ret >= 0 && arg) {
                o.put(blob, std::max<size_t>(wire::ioctl_arg_size(req_nr), 0));
                o.h.n_blob = uint32_t(o.tail.size());
                if (req_nr == SIOCGIFCONF && !h.c) {
                    const size_t n = std::min<size_t>(size_t(std::max(static_cast<ifconf*>(arg)->ifc_len, 0)), conf.size());
                    o.put(conf.data(), n);
                    o.h.n_data = n;
                }
                o.h.ret = ret;
                return;
            }
            break;
        }
        case wire::Fcntl:
            if (owned()) ret = st.fcntl(u, int(h.a), long(h.b));
            break;
        case wire::Masks:
            if (!owned()) ret = POLLNVAL;
            else ret = h.a ? long(usnet_epoll_mask(st, u)) : long(usnet_mask(st, u));
            break;
        case wire::Control: {
            const std::string text = control_answer(std::string(in.blob, h.n_blob));
            o.h.n_blob = 0;
            o.put(text.data(), text.size());
            o.h.n_data = text.size();
            o.h.ret = 0;
            return;
        }
        default: errno = EINVAL;
    }
    if (passed >= 0) {
        NATIVE(close);
        real_close(passed);
    }
    o.h.ret = ret;
    o.h.n_blob = uint32_t(o.tail.size());
    if (ret >= 0) return;
    const int e = errno;
    o.h.err = e;
    // Waited out by the client: EAGAIN on a socket that would have blocked.
    std::string why = explain_target() ? "usnet: " + st.explain_last_error(h.shown_fd) + "\n" : std::string();
    if (may_block && e == EAGAIN) o.h.block_ns = block_for(st, u, h.flags, rcv);
    if (o.h.block_ns < 0 && !why.empty()) write_explain(why);
    errno = e;
}

void reply(int fd, const Out& o) {
    NATIVE(sendmsg);
    iovec v[2] = {{const_cast<Rep*>(&o.h), sizeof o.h}, {const_cast<char*>(o.tail.data()), o.tail.size()}};
    msghdr m{};
    m.msg_iov = v;
    m.msg_iovlen = 2;
    while (real_sendmsg(fd, &m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

// Takes one request; false when the client has gone.
bool serve_one(Runtime& r, Keeper& k, Client& c, std::vector<Client>* added) {
    NATIVE(recvmsg);
    alignas(8) static char buf[sizeof(Req) + wire::kMaxBlob + 16384 + 1024 * 8 + wire::kMaxData];
    iovec v{buf, sizeof buf};
    alignas(cmsghdr) char cb[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = cb;
    m.msg_controllen = sizeof cb;
    const ssize_t n = real_recvmsg(c.fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;
    int passed = -1;
    for (cmsghdr* x = CMSG_FIRSTHDR(&m); x; x = CMSG_NXTHDR(&m, x))
        if (x->cmsg_level == SOL_SOCKET && x->cmsg_type == SCM_RIGHTS) std::memcpy(&passed, CMSG_DATA(x), sizeof passed);
    Out o;
    In in;
    std::lock_guard<usnet::CallLock> g(r.mu);
    if (!in.parse(buf, size_t(n))) {
        o.h.ret = -1;
        o.h.err = EINVAL;
        if (passed >= 0) {
            NATIVE(close);
            real_close(passed);
        }
    } else {
        call(r, k, c, in, passed, o, added);
    }
    r.world.net->settle_now();
    sync_signals(r);
    reply(c.fd, o);
    return true;
}

// The program's descriptors, closed in the keeper (a pipe's reader would otherwise wait for
// the keeper, a listening socket would stay open): only the stack's own stay, with the
// sockets' eventfds, regular files (captures, traces) and stderr (--explain).
void close_program_fds(Runtime& r, int conn) {
    std::vector<int> keep = r.world.net->link_fds();
    keep.push_back(conn);
    for (const auto& [fd, u] : r.fds) keep.push_back(fd);
    DIR* d = opendir("/proc/self/fd");
    if (!d) return;
    std::vector<int> shut;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const int fd = std::atoi(e->d_name);
        struct stat s {};
        if (fd == dirfd(d) || fd == STDERR_FILENO || shim_own_fd(fd) || std::find(keep.begin(), keep.end(), fd) != keep.end() ||
            (fstat(fd, &s) == 0 && S_ISREG(s.st_mode)))
            continue;
        shut.push_back(fd);
    }
    closedir(d);
    NATIVE(close);
    for (int fd : shut) real_close(fd);
}

[[noreturn]] void keeper_main(int conn) {
    setsid();  // out of the program's session: its terminal's signals are not ours
    prctl(PR_SET_NAME, "usnet-keeper");
    for (int sig = 1; sig < 32; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGSYS && sig != SIGSEGV && sig != SIGBUS) signal(sig, SIG_IGN);
    Runtime& r = runtime();
    Keeper k;
    k.zeros = static_cast<const char*>(mmap(nullptr, size_t(1) << 32, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    {
        std::lock_guard<usnet::CallLock> g(r.mu);
        // One eventfd a socket (the program's dups are the same object).
        std::unordered_map<int, int> fds;
        NATIVE(close);
        for (const auto& [fd, u] : r.fds)
            if (!k.efd.count(u)) k.efd[u] = fd, fds[fd] = u;
        for (const auto& [fd, u] : r.fds)
            if (!fds.count(fd)) real_close(fd), r.signalled.erase(fd), r.woken.erase(fd);
        r.fds.assign(fds);
        Client first{conn, {}};
        for (const auto& [u, n] : r.refs) first.held[u] = 1, k.holders[u] = 1;
        k.clients.push_back(std::move(first));
        if (g_stat_fd >= 0) real_close(g_stat_fd), g_stat_fd = -1;
        close_program_fds(r, conn);
        start_stat_server();  // `usnet stat` and `usnet ip` of the keeper's pid reach the one stack
        g_signal.store(true);  // the tokens are every client's readiness
        sync_signals(r);
        g_pump_started = false;
        start_pump(r);
    }
    NATIVE(poll);
    bool served = false;  // the last turn served a request: another may follow at once
    SpinBudget spin;
    for (;;) {
        int timeout = 100;
        {
            std::lock_guard<usnet::CallLock> g(r.mu);
            r.world.net->settle_now();
            sync_signals(r);
            const usnet::Time next = r.world.net->next_event(), now = r.world.net->now();
            if (next != usnet::kNever) timeout = int(std::clamp<usnet::Time>((next - now) / usnet::kMs, 1, 100));
            if (k.clients.empty()) {
                flush_at_exit();
                if (const char* s = std::getenv("USNET_STAT"); s && *s && std::strcmp(s, "0") != 0) print_stats();
                _exit(0);
            }
        }
        std::vector<pollfd> p;
        for (const Client& c : k.clients) p.push_back({c.fd, POLLIN, 0});
        // Right after a request, the next one (a client's following call) usually comes
        // within microseconds: look for it before sleeping, as a blocked call busy-polls.
        int ready = 0;
        if (served && r.busy_poll > 0)
            ready = spin.poll(r.busy_poll, [&] { return real_poll(p.data(), p.size(), 0); }, [](int k) { return k != 0; });
        if (ready == 0) ready = real_poll(p.data(), p.size(), timeout);
        served = ready > 0;
        if (ready <= 0) continue;
        std::vector<Client> added;
        for (size_t i = p.size(); i-- > 0;) {
            if (!p[i].revents) continue;
            if (serve_one(r, k, k.clients[i], &added)) continue;
            std::lock_guard<usnet::CallLock> g(r.mu);
            Client gone = std::move(k.clients[i]);
            k.clients.erase(k.clients.begin() + long(i));
            std::vector<int> us;
            for (const auto& [u, v] : gone.held) us.push_back(u);
            for (int u : us) drop(r, k, gone, u);
            NATIVE(close);
            real_close(gone.fd);
            sync_signals(r);
        }
        for (Client& c : added) k.clients.push_back(std::move(c));
    }
}

// A connected pair for a client and the keeper, sized for the largest message.
bool conn_pair(int sv[2]) {
    NATIVE(socketpair);
    NATIVE(setsockopt);
    if (real_socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
    const int size = 1 << 20;
    for (int i = 0; i < 2; ++i) {
        real_setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        real_setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    return true;
}

// The keeper, forked through a middle process that exits at once, so the program's
// wait() never meets it. Caller holds the runtime lock.
bool make_keeper(Runtime& r) {
    int sv[2];
    if (!conn_pair(sv)) return false;
    NATIVE(close);
    REAL(fork);
    g_making_keeper = true;
    const pid_t mid = real_fork();
    if (mid == 0) {
        const pid_t k = real_fork();
        if (k == 0) {
            real_close(sv[0]);
            keeper_main(sv[1]);
        }
        _exit(k < 0 ? 1 : 0);
    }
    g_making_keeper = false;
    real_close(sv[1]);
    if (mid < 0) {
        real_close(sv[0]);
        return false;
    }
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        real_close(sv[0]);
        return false;
    }
    remote().conn = park_high(sv[0]);
    r.world.net->detach_switch();  // the keeper has the link now
    g_client.store(true);
    return true;
}

}  // namespace

// fork's handlers (runtime.cpp's pthread_atfork). Before: a client makes its child's
// connection, the keeper adopting the sockets the child inherits. After, in the parent:
// that end is the child's. In the child: it talks to the keeper on its own connection.
void before_fork(Runtime& r) {
    if (!g_client.load() || g_making_keeper) return;
    int sv[2];
    if (!conn_pair(sv)) return;
    std::vector<int> us;
    for (const auto& [u, n] : r.refs) us.push_back(u);
    NATIVE(close);
    if (remote().adopt(sv[1], us)) g_child_conn = sv[0];
    else real_close(sv[0]);
    real_close(sv[1]);
}
void after_fork_parent() {
    if (g_child_conn < 0) return;
    NATIVE(close);
    real_close(g_child_conn);
    g_child_conn = -1;
}
bool after_fork_child() {
    if (g_making_keeper) return true;  // the middle process or the keeper: make_keeper goes on
    if (!g_client.load()) return false;
    NATIVE(close);
    real_close(remote().conn);
    remote().conn = g_child_conn >= 0 ? park_high(g_child_conn) : -1;
    g_child_conn = -1;
    if (g_stat_fd >= 0) real_close(g_stat_fd), g_stat_fd = -1;
    return true;
}

// A statically linked program has no loader to load the shim: execve runs it under the
// supervisor instead (`usnet __supervise FILE ARGV...`, supervise.cpp), a process of this
// host with the shim loaded. Only when `usnet run` named itself (USNET_CLI) and the new
// environment keeps LD_PRELOAD (a program that removed it wants the kernel's sockets).
bool supervise_instead(const long* a, std::vector<char*>* args) {
    static const char* const cli = [] {
        const char* c = std::getenv("USNET_CLI");
        return c && *c ? strdup(c) : nullptr;
    }();
    const auto* path = reinterpret_cast<const char*>(a[0]);
    const auto* envp = reinterpret_cast<char* const*>(a[2]);
    bool preload = false;
    for (char* const* e = envp; e && *e; ++e) preload |= std::strncmp(*e, "LD_PRELOAD=", 11) == 0 && (*e)[11];
    if (!cli || !path || !preload) return false;
    const int fd = int(usnet_gate(SYS_openat, AT_FDCWD, long(path), O_RDONLY | O_CLOEXEC));
    if (fd < 0) return false;
    const bool is_static = static_elf([fd](void* buf, size_t n, uint64_t off) {
        return usnet_gate(SYS_pread64, fd, long(buf), long(n), long(off)) == long(n);
    });
    usnet_gate(SYS_close, fd);
    if (!is_static) return false;
    args->assign({const_cast<char*>(cli), const_cast<char*>("__supervise"), const_cast<char*>(path)});
    for (char* const* v = reinterpret_cast<char* const*>(a[1]); v && *v; ++v) args->push_back(*v);
    args->push_back(nullptr);
    return true;
}

// execve/execveat (trapped, or through the interposer): sockets without close-on-exec live on
// in the new program. They need the keeper (made now if the program never forked) and a
// connection of their own that survives exec, named to the new image's shim in
// USNET_INHERIT=CONN:FD=SOCKET,... (the old connection closes with the old image, and the
// keeper lets go of what only it held). The system call's result, or -errno.
long exec_one_host(long nr, const long* a) {
    const int env_at = nr == SYS_execve ? 2 : 3;
    int conn = -1;
    std::string inherit;
    // A vfork or posix_spawn child (our memory, its own descriptor table) passes on a
    // connection too: its parent became a client before it spawned (prepare_spawn).
    const bool vm = in_vm_child();
    if ((g_active.load(std::memory_order_acquire) || g_client.load()) && (!vm || g_client.load())) {
        Runtime& r = runtime();
        std::lock_guard<usnet::CallLock> g(r.mu);
        NATIVE(fcntl);
        NATIVE(close);
        std::vector<std::pair<int, int>> kept;
        std::vector<int> us;
        for (const auto& [fd, u] : r.fds)
            if (!(real_fcntl(fd, F_GETFD, 0) & FD_CLOEXEC)) {
                kept.emplace_back(fd, u);
                if (std::find(us.begin(), us.end(), u) == us.end()) us.push_back(u);
            }
        // (A client passes its connection on even without sockets: the new program is
        // still a process of this host.)
        int sv[2];
        if ((g_client.load() || (!kept.empty() && !vm && make_keeper(r))) && conn_pair(sv)) {
            if (remote().adopt(sv[1], us) && real_fcntl(sv[0], F_SETFD, 0) == 0) {
                conn = sv[0];
                inherit = "USNET_INHERIT=" + std::to_string(conn) + ":";
                for (const auto& [fd, u] : kept) inherit += std::to_string(fd) + "=" + std::to_string(u) + ",";
            } else {
                real_close(sv[0]);
            }
            real_close(sv[1]);
        }
    }
    long b[6] = {a[0], a[1], a[2], a[3], a[4], a[5]};
    std::vector<char*> args, env;
    const bool supervised = nr == SYS_execve && supervise_instead(a, &args);
    if (conn >= 0 || supervised) {
        for (char* const* e = reinterpret_cast<char* const*>(a[env_at]); e && *e; ++e)
            if (std::strncmp(*e, "USNET_INHERIT=", 14) != 0 && (!supervised || std::strncmp(*e, "USNET_TRAP=", 11) != 0))
                env.push_back(*e);
        if (conn >= 0) env.push_back(inherit.data());
        if (supervised) env.push_back(const_cast<char*>("USNET_TRAP=0"));  // (the program gets a filter of its own)
        env.push_back(nullptr);
        b[env_at] = long(env.data());
    }
    if (supervised) b[0] = long(args[0]), b[1] = long(args.data());
    const long ret = usnet_gate(nr, b[0], b[1], b[2], b[3], b[4], b[5]);
    if (conn >= 0) {  // exec failed: the keeper drops what the connection adopted
        NATIVE(close);
        real_close(conn);
    }
    return ret;
}

// A program exec'd with sockets of its parent image: its shim starts as a client.
bool inherited_at_exec() { return std::getenv("USNET_INHERIT") != nullptr; }

namespace {
[[gnu::constructor]] void take_inherited() {
    const char* v = std::getenv("USNET_INHERIT");
    if (!v) return;
    const std::string text = v;
    Runtime& r = runtime();  // (a world of its own, never used: see make_world)
    unsetenv("USNET_INHERIT");
    std::lock_guard<usnet::CallLock> g(r.mu);
    char* p = nullptr;
    const int conn = int(std::strtol(text.c_str(), &p, 10));
    if (*p != ':') return;
    remote().conn = park_high(conn);
    while (*++p) {
        const int fd = int(std::strtol(p, &p, 10));
        if (*p != '=') break;
        const int u = int(std::strtol(p + 1, &p, 10));
        r.fds.set(fd, u);
        ++r.refs[u];
        r.signalled[fd] = false;
        if (*p != ',') break;
    }
    g_client.store(true);
    g_active.store(true, std::memory_order_release);
}
}  // namespace

// The first fork or spawn makes the keeper, even before any socket: whatever parent and
// child open later, they open on one host (a shell's children too).
void prepare_spawn() {
    if (g_client.load() || in_vm_child()) return;
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    make_keeper(r);  // (if it cannot be made, a forked child has a detached copy, as before)
}

pid_t fork_one_host() {
    REAL(fork);
    prepare_spawn();
    return real_fork();
}

}  // namespace usnet::shim

// vfork cannot return through a wrapper of ours (its child runs on the caller's stack): the
// shim's vfork makes the keeper, then jumps to libc's with the caller's frame untouched.
extern "C" {
[[gnu::used]] void* usnet_real_vfork = nullptr;
[[gnu::used]] void usnet_before_vfork() {
    if (!usnet_real_vfork) usnet_real_vfork = dlsym(RTLD_NEXT, "vfork");
    usnet::shim::prepare_spawn();
}
}
#if defined(__x86_64__)
asm(R"(
    .text
    .globl vfork
    .type vfork, @function
vfork:
    sub $8, %rsp
    call usnet_before_vfork
    add $8, %rsp
    jmp *usnet_real_vfork(%rip)
    .size vfork, .-vfork
)");
#endif

#pragma GCC visibility push(default)
extern "C" {
pid_t fork(void) { return usnet::shim::fork_one_host(); }
// glibc's daemon() forks inside libc, out of the interposer's reach: the same steps here.
int daemon(int nochdir, int noclose) {
    const pid_t pid = usnet::shim::fork_one_host();
    if (pid < 0) return -1;
    if (pid > 0) _exit(0);
    if (setsid() < 0) return -1;
    if (!nochdir) (void)!chdir("/");
    if (!noclose) {
        const int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO) close(fd);
        }
    }
    return 0;
}
// system() and popen() spawn from inside libc too.
int system(const char* command) {
    REAL(system);
    if (command) usnet::shim::prepare_spawn();
    return real_system(command);
}
FILE* popen(const char* command, const char* type) {
    REAL(popen);
    usnet::shim::prepare_spawn();
    return real_popen(command, type);
}
int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                char* const argv[], char* const envp[]) {
    REAL(posix_spawn);
    usnet::shim::prepare_spawn();
    return real_posix_spawn(pid, path, fa, at, argv, envp);
}
int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                 char* const argv[], char* const envp[]) {
    REAL(posix_spawnp);
    usnet::shim::prepare_spawn();
    return real_posix_spawnp(pid, file, fa, at, argv, envp);
}
int execve(const char* path, char* const argv[], char* const envp[]) {
    const long a[6] = {long(path), long(argv), long(envp), 0, 0, 0};
    const long r = usnet::shim::exec_one_host(SYS_execve, a);
    if (r < 0) {
        errno = int(-r);
        return -1;
    }
    return int(r);
}
}
#pragma GCC visibility pop
