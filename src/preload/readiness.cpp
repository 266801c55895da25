// Readiness: poll, select and epoll over a mix of usnet and kernel descriptors. A usnet
// socket is an eventfd to the kernel; once the kernel waits on one, each eventfd holds a
// token exactly while its socket is readable (or has an error), and what is reported for a
// usnet socket is taken from usnet.
#include "shim.hpp"

namespace usnet::shim {

// Readiness signalling, switched on the first time a program hands a usnet descriptor to
// the kernel's poll/select/epoll: each usnet socket's eventfd then holds a token exactly
// while the socket is readable (or has an error or hang-up), so the kernel can wait on a
// mix of usnet and kernel descriptors. Until then no call pays for it.
std::atomic<bool> g_signal{false};

short usnet_mask(usnet::Stack& st, int u) { return short(st.poll_events(u) & (POLLIN | POLLOUT | POLLRDHUP | POLLERR | POLLHUP | POLLNVAL)); }

// Brings every eventfd in line with its socket. Caller holds the runtime lock.
void sync_signals(Runtime& r) {
    if (g_client.load(std::memory_order_relaxed)) return;  // the keeper keeps every client's tokens
    NATIVE(read);
    NATIVE(write);
    for (const auto& [fd, u] : r.fds) {
        const bool want = usnet_mask(r.stack(), u) & (POLLIN | POLLERR | POLLHUP | POLLRDHUP);
        bool& have = r.signalled[fd];
        // A datagram that arrives while the socket is already readable still wakes: another
        // write to the eventfd is another edge for EPOLLET, as sk_data_ready is on Linux.
        const uint64_t w = r.stack().wakeups(u);
        uint64_t& seen = r.woken[fd];
        const bool new_edge = want && have && w != seen;
        seen = w;
        if (want == have && !new_edge) continue;
        uint64_t v = 1;
        if (want) (void)!real_write(fd, &v, sizeof v);
        else (void)!real_read(fd, &v, sizeof v);  // drains the token (non-blocking eventfd)
        have = want;
    }
}

void enable_signals(Runtime& r) {
    if (!g_signal.exchange(true)) sync_signals(r);
}

std::atomic<bool> g_epoll_used{false};
constexpr uint64_t kEpTagBase = 0x75736e6500000000ull;  // "usne" in the high bytes

// The eventfd's registration: always EPOLLIN (its token carries errors and hang-ups);
// without EPOLLIN or EPOLLOUT in the interest, edge-triggered, so a token that only means
// "readable" wakes the wait once instead of spinning.
uint32_t ep_kernel_events(uint32_t user) {
    uint32_t k = user | EPOLLIN;
    if (!(user & (EPOLLIN | EPOLLOUT))) k |= EPOLLET;
    return k;
}

void ep_erase(EpollTable& t, uint64_t tag) {
    auto it = t.by_tag.find(tag);
    if (it == t.by_tag.end()) return;
    auto k = t.by_key.find({it->second.epfd, it->second.fd});
    if (k != t.by_key.end() && k->second == tag) t.by_key.erase(k);
    if (--t.count[it->second.epfd] <= 0) t.count.erase(it->second.epfd);
    t.by_tag.erase(it);
}


uint32_t usnet_epoll_mask(usnet::Stack& st, int u) {
    pollfd p{u, short(POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP), 0};
    st.poll(&p, 1, 0);
    return uint16_t(p.revents);
}

// Rewrites the events the kernel returned for tagged items. Caller holds the lock.
int ep_translate(Runtime& r, int epfd, epoll_event* ev, int k) {
    NATIVE(epoll_ctl);
    EpollTable& t = epolls();
    int out = 0;
    for (int i = 0; i < k; ++i) {
        const uint64_t tag = ev[i].data.u64;
        if ((tag & ~0xffffffffull) != kEpTagBase) {
            ev[out++] = ev[i];
            continue;
        }
        auto it = t.by_tag.find(tag);
        if (it == t.by_tag.end() || it->second.epfd != epfd) continue;  // removed meanwhile (DEL in another thread)
        const EpItem& e = it->second;
        const uint32_t rep = (g_client.load() ? remote().epoll_mask(e.u) : usnet_epoll_mask(r.stack(), e.u)) & (e.events | EPOLLERR | EPOLLHUP);
        if (rep) {
            ev[out].events = rep;
            ev[out].data = e.data;
            ++out;
            if (g_tracing.load(std::memory_order_relaxed)) {
                char mask[16];
                std::snprintf(mask, sizeof mask, "%#x", rep);
                t_shown_fd = e.fd;
                t_shown_u = e.u;
                r.stack().trace_shim_call(usnet::ShimTrace::EpollWait, "epoll_wait",
                                          "epoll_wait(" + std::to_string(epfd) + ") reports fd " + std::to_string(e.fd) + " " + mask,
                                          0, e.u, {std::to_string(e.fd), mask});
            }
        } else if (e.events & EPOLLONESHOT) {
            // A stale token fired the one shot: arm it again, the program has not seen it.
            epoll_event kev{};
            kev.events = ep_kernel_events(e.events);
            kev.data.u64 = tag;
            real_epoll_ctl(epfd, EPOLL_CTL_MOD, e.fd, &kev);
        }
    }
    return out;
}

// wait(ns) is the real call with a timeout in nanoseconds (-1: none). may_spin: the wait
// keeps the program's signal mask (epoll_pwait with a mask of its own does not), so that it
// may busy-poll first, as a blocked usnet call does, in place of two wake-ups a datagram
// (the pump's, then the program's in the kernel).
template <class W>
int ep_wait(int epfd, epoll_event* ev, long long timeout_ns, W wait, bool may_spin = true) {
    if (!g_epoll_used.load(std::memory_order_acquire)) return wait(timeout_ns);
    Runtime& r = runtime();
    bool mine;
    {
        std::lock_guard<usnet::CallLock> g(r.mu);
        mine = epolls().count.count(epfd) != 0;
    }
    // (Never wait holding the lock: an epoll instance without usnet items, in one thread,
    // held up every usnet call of the others until its wait ended.)
    if (!mine) return wait(timeout_ns);
    const auto start = std::chrono::steady_clock::now();
    auto left_now = [&] {
        if (timeout_ns <= 0) return timeout_ns;
        const long long spent = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
        return spent >= timeout_ns ? 0 : timeout_ns - spent;
    };
    // First only a look (what is ready already, kernel descriptors too, returns at once),
    // then a busy poll for frames, then the wait. (Not in a keeper's client: it learns of its
    // sockets from the keeper's tokens alone.)
    bool look = may_spin && r.busy_poll > 0 && timeout_ns != 0 && !g_client.load(std::memory_order_relaxed);
    for (;;) {
        const long long left = left_now();
        {
            std::lock_guard<usnet::CallLock> g(r.mu);
            sync_signals(r);
        }
        const int k = wait(look ? 0 : left);
        if (k < 0 || (k == 0 && !look)) return k;
        if (k > 0) {
            int out;
            {
                std::lock_guard<usnet::CallLock> g(r.mu);
                out = ep_translate(r, epfd, ev, k);
                sync_signals(r);
            }
            if (out > 0 || left == 0) return out;  // else only stale tokens woke it: wait on
        }
        if (look) {
            look = false;
            bool interrupted;
            {
                std::lock_guard<usnet::CallLock> g(r.mu);
                interrupted = r.world.net->busy_wait_input(left < 0 ? r.busy_poll : left);
            }
            if (interrupted) return errno = EINTR, -1;  // a handler ran: epoll_wait's EINTR
        }
    }
}

// fdt->max_fds, the number of descriptors select() looks at. The kernel sizes the table
// for the highest descriptor opened (alloc_fdtable) and never shrinks it, so a size once
// found bounds it from below: it is looked for again only for an nfds beyond it.
std::atomic<int> g_fd_table_seen{64};  // NR_OPEN_DEFAULT
int fd_table_size();
int select_nfds(int n) {
    if (n <= g_fd_table_seen.load(std::memory_order_relaxed)) return n;
    const int size = fd_table_size();
    if (size > g_fd_table_seen.load(std::memory_order_relaxed)) g_fd_table_seen.store(size, std::memory_order_relaxed);
    return std::min(n, std::max(size, g_fd_table_seen.load(std::memory_order_relaxed)));
}
// The table the program alone would have, from its highest open descriptor: the shim's
// `usnet stat` listener, parked at a high number, is left out.
int fd_table_size() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return INT_MAX;
    long hi = -1;
    while (const dirent* e = readdir(d)) {
        const long fd = std::strtol(e->d_name, nullptr, 10);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && !shim_own_fd(fd) && fd != dirfd(d)) hi = std::max(hi, fd);
    }
    closedir(d);
    if (hi < 64) return 64;
    long nr = hi / 128 + 1;  // alloc_fdtable: whole 1 KiB blocks of pointers, a power of two
    long p2 = 1;
    while (p2 < nr) p2 <<= 1;
    return int(std::min<long>(p2 * 128, INT_MAX));
}


// select: is a usnet socket among the descriptors asked about? Only those bits are read
// (guarded); *fault says a set could not be read (the kernel then answers EFAULT).
bool select_wants_usnet(int n, fd_set* rd, fd_set* wr, fd_set* ex, bool* fault) {
    *fault = false;
    if (n <= 0 || !g_active.load(std::memory_order_acquire)) return false;
    std::vector<int> mine;
    {
        Runtime& r = runtime();
        std::lock_guard<usnet::CallLock> g(r.mu);
        for (const auto& [fd, u] : r.fds)
            if (fd < n) mine.push_back(fd);
    }
    bool any = false;
    for (int fd : mine)
        for (fd_set* s : {rd, wr, ex}) {
            if (!s) continue;
            const __fd_mask* w = &s->fds_bits[fd / NFDBITS];
            if (!readable(w, sizeof *w)) {
                *fault = true;
                return false;
            }
            if ((static_cast<unsigned long>(*w) >> (fd % NFDBITS)) & 1) any = true;
        }
    return any;
}

}  // namespace usnet::shim

using namespace usnet::shim;

// The interposers are the only symbols the shim exports (it is built with hidden visibility).
#pragma GCC visibility push(default)
extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
    NATIVE(poll);
    if (!g_active.load(std::memory_order_acquire) || n > nfds_t(INT_MAX) / sizeof(pollfd) || !writable(fds, n * sizeof(pollfd)))
        return real_poll(fds, n, timeout);
    bool any_usnet = false, any_kernel = false;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd < 0) continue;
        if (usnet_fd(fds[i].fd) >= 0) any_usnet = true;
        else any_kernel = true;
    }
    if (!any_usnet) return real_poll(fds, n, timeout);
    Runtime& r = runtime();
    if (!any_kernel && !g_client.load()) {  // (a client's sockets: the keeper's tokens, as in a mix)
        std::lock_guard<usnet::CallLock> g(r.mu);
        std::vector<pollfd> v(fds, fds + n);
        for (auto& p : v)
            if (p.fd >= 0) p.fd = usnet_fd(p.fd);
        const int ret = r.stack().poll(v.data(), n, timeout);
        for (nfds_t i = 0; i < n; ++i) fds[i].revents = v[i].revents;
        return ret;
    }
    // A mix: the kernel waits on everything, usnet sockets through their eventfds; the
    // answer for a usnet socket is then taken from usnet itself.
    {
        std::lock_guard<usnet::CallLock> g(r.mu);
        enable_signals(r);
    }
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        int waited = timeout;
        if (timeout > 0) {
            const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
            waited = spent >= timeout ? 0 : timeout - int(spent);
        }
        const int k = real_poll(fds, n, waited);
        if (k < 0) return k;
        int ready = 0;
        {
            std::lock_guard<usnet::CallLock> g(r.mu);
            int mine = 0, theirs = 0;
            std::string masks;
            for (nfds_t i = 0; i < n; ++i) {
                if (fds[i].fd < 0) continue;
                const int u = usnet_fd(fds[i].fd);
                if (u >= 0) {
                    const short now = g_client.load() ? remote().poll_events(u) : usnet_mask(r.stack(), u);
                    fds[i].revents = short(now & (fds[i].events | POLLERR | POLLHUP | POLLNVAL));
                    ++mine;
                    if (g_tracing.load(std::memory_order_relaxed)) {
                        char m[16];
                        std::snprintf(m, sizeof m, "%#x", unsigned(now));
                        masks += (masks.empty() ? "fd " : ", fd ") + std::to_string(fds[i].fd) + " " + m;
                    }
                } else {
                    ++theirs;
                }
                if (fds[i].revents) ++ready;
            }
            sync_signals(r);
            if ((ready || waited == 0) && g_tracing.load(std::memory_order_relaxed))
                r.stack().trace_shim_call(usnet::ShimTrace::PollMixed, "poll",
                                          "poll(" + std::to_string(n) + " fds, " + std::to_string(timeout) + ") = " + std::to_string(ready),
                                          ready, -1, {std::to_string(mine), std::to_string(theirs), masks});
        }
        if (ready || waited == 0) return ready;
    }
}

// select over usnet sockets goes through poll, as core_sys_select would: it looks at
// min(nfds, the descriptor table's size) descriptors, fails with EBADF for a closed one,
// writes back whole words of each set and the time left.
int select(int n, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
    NATIVE(select);
    bool fault = false;
    if (!select_wants_usnet(n, rd, wr, ex, &fault)) return real_select(n, rd, wr, ex, tv);
    // A bad or negative timeout: the kernel's EFAULT or EINVAL.
    if (tv && (!writable(tv, sizeof *tv) || tv->tv_sec < 0 || tv->tv_usec < 0)) return real_select(n, rd, wr, ex, tv);
    const int m = select_nfds(n);
    const size_t words = (size_t(m) + NFDBITS - 1) / NFDBITS;
    fd_set* sets[3] = {rd, wr, ex};
    std::vector<unsigned long> in[3], out[3];
    for (int k = 0; k < 3; ++k) {
        if (!sets[k]) continue;
        if (!writable(sets[k], words * sizeof(__fd_mask))) return real_select(n, rd, wr, ex, tv);
        in[k].resize(words);
        std::memcpy(in[k].data(), sets[k]->fds_bits, words * sizeof(__fd_mask));
        if (m % NFDBITS) in[k][words - 1] &= (1ul << (m % NFDBITS)) - 1;
        out[k].assign(words, 0);
    }
    auto bit = [](const std::vector<unsigned long>& v, int fd) { return !v.empty() && ((v[size_t(fd) / NFDBITS] >> (fd % NFDBITS)) & 1); };
    std::vector<pollfd> p;
    for (int fd = 0; fd < m; ++fd) {
        short ev = 0;
        if (bit(in[0], fd)) ev |= POLLIN;
        if (bit(in[1], fd)) ev |= POLLOUT;
        if (bit(in[2], fd)) ev |= POLLPRI;
        if (ev) p.push_back({fd, ev, 0});
    }
    long long timeout_us = tv ? (long long)tv->tv_sec * 1000000 + tv->tv_usec : -1;
    const auto start = std::chrono::steady_clock::now();
    const int r = poll(p.data(), p.size(), timeout_us < 0 ? -1 : int(std::min<long long>((timeout_us + 999) / 1000, INT_MAX)));
    if (r < 0) return r;
    int bits = 0;
    for (const auto& x : p) {
        if (x.revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
        auto set = [&](int k) { out[k][size_t(x.fd) / NFDBITS] |= 1ul << (x.fd % NFDBITS); ++bits; };
        if ((x.events & POLLIN) && (x.revents & (POLLIN | POLLHUP | POLLERR))) set(0);
        if ((x.events & POLLOUT) && (x.revents & (POLLOUT | POLLERR))) set(1);
        if ((x.events & POLLPRI) && (x.revents & POLLPRI)) set(2);
    }
    for (int k = 0; k < 3; ++k)
        if (sets[k]) std::memcpy(sets[k]->fds_bits, out[k].data(), words * sizeof(__fd_mask));
    if (tv) {
        const long long spent = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        const long long left = std::max<long long>(timeout_us - spent, 0);
        *tv = timeval{time_t(left / 1000000), suseconds_t(left % 1000000)};
    }
    return bits;
}

// epoll_ctl on a usnet socket registers its eventfd under a tag of ours (see ep_translate).
int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    NATIVE(epoll_ctl);
    const int u = usnet_fd(fd);
    if (u < 0) return real_epoll_ctl(epfd, op, fd, ev);
    Runtime& r = runtime();
    std::lock_guard<usnet::CallLock> g(r.mu);
    enable_signals(r);
    EpollTable& t = epolls();
    const auto key = std::make_pair(epfd, fd);
    if (op == EPOLL_CTL_DEL) {
        const int ret = real_epoll_ctl(epfd, op, fd, ev);
        if (ret == 0)
            if (auto k = t.by_key.find(key); k != t.by_key.end()) ep_erase(t, k->second);
        return ret;
    }
    // Anything the kernel refuses before reading the event (or cannot read it) stays its answer.
    if ((op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD) || !readable(ev, sizeof *ev)) return real_epoll_ctl(epfd, op, fd, ev);
    uint64_t tag;
    if (op == EPOLL_CTL_ADD) {
        tag = kEpTagBase | (t.next++ & 0xffffffffull);
    } else {
        auto k = t.by_key.find(key);
        if (k == t.by_key.end()) return real_epoll_ctl(epfd, op, fd, ev);
        tag = k->second;
    }
    epoll_event kev = *ev;
    kev.events = ep_kernel_events(ev->events);
    kev.data.u64 = tag;
    const int ret = real_epoll_ctl(epfd, op, fd, &kev);
    if (ret != 0) return ret;
    if (op == EPOLL_CTL_ADD) {
        t.by_key[key] = tag;
        ++t.count[epfd];
    }
    t.by_tag[tag] = EpItem{epfd, fd, u, ev->events, ev->data};
    g_epoll_used.store(true, std::memory_order_release);
    if (g_tracing.load(std::memory_order_relaxed)) {
        const char* opname = op == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : "EPOLL_CTL_MOD";
        char ev_hex[16];
        std::snprintf(ev_hex, sizeof ev_hex, "%#x", ev->events);
        t_shown_fd = fd;
        t_shown_u = u;
        r.stack().trace_shim_call(usnet::ShimTrace::EpollCtl, "epoll_ctl",
                                  "epoll_ctl(" + std::to_string(epfd) + ", " + opname + ", " + std::to_string(fd) + ", " + ev_hex + ") = 0",
                                  0, u, {std::string(opname), std::to_string(fd), ev_hex});
    }
    return 0;
}

int epoll_wait(int epfd, epoll_event* ev, int maxevents, int timeout) {
    NATIVE(epoll_wait);
    return ep_wait(epfd, ev, timeout < 0 ? -1 : timeout * 1000000ll, [&](long long ns) {
        return real_epoll_wait(epfd, ev, maxevents, ns < 0 ? -1 : int((ns + 999999) / 1000000));
    });
}
int epoll_pwait(int epfd, epoll_event* ev, int maxevents, int timeout, const sigset_t* mask) {
    NATIVE(epoll_pwait);
    return ep_wait(
        epfd, ev, timeout < 0 ? -1 : timeout * 1000000ll,
        [&](long long ns) { return real_epoll_pwait(epfd, ev, maxevents, ns < 0 ? -1 : int((ns + 999999) / 1000000), mask); },
        mask == nullptr);
}
int epoll_pwait2(int epfd, epoll_event* ev, int maxevents, const timespec* ts, const sigset_t* mask) {
    NATIVE(epoll_pwait2);
    if (ts && (!readable(ts, sizeof *ts) || ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
        return real_epoll_pwait2(epfd, ev, maxevents, ts, mask);  // the kernel's EFAULT or EINVAL
    return ep_wait(
        epfd, ev, ts ? ts->tv_sec * 1000000000ll + ts->tv_nsec : -1,
        [&](long long ns) {
            if (ns < 0) return real_epoll_pwait2(epfd, ev, maxevents, nullptr, mask);
            const timespec left{time_t(ns / 1000000000), long(ns % 1000000000)};
            return real_epoll_pwait2(epfd, ev, maxevents, &left, mask);
        },
        mask == nullptr);
}

// ppoll/pselect: the signal mask is applied around the wait, as the kernel would.
int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
    NATIVE(ppoll);
    if (!g_active.load(std::memory_order_acquire) || n > nfds_t(INT_MAX) / sizeof(pollfd) || !writable(fds, n * sizeof(pollfd)) ||
        (ts && !readable(ts, sizeof *ts)))
        return real_ppoll(fds, n, ts, mask);
    bool any = false;
    for (nfds_t i = 0; i < n && !any; ++i) any = fds[i].fd >= 0 && usnet_fd(fds[i].fd) >= 0;
    if (!any) return real_ppoll(fds, n, ts, mask);
    sigset_t old;
    if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
    const int timeout = ts ? int(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1;
    const int r = poll(fds, n, timeout);
    const int e = errno;
    if (mask) pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = e;
    return r;
}
int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return ppoll(fds, n, ts, mask);
}
int pselect(int n, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
    NATIVE(pselect);
    bool fault = false;
    if ((ts && !readable(ts, sizeof *ts)) || !select_wants_usnet(n, rd, wr, ex, &fault)) return real_pselect(n, rd, wr, ex, ts, mask);
    sigset_t old;
    if (mask) pthread_sigmask(SIG_SETMASK, mask, &old);
    timeval tv{}, *tvp = nullptr;
    if (ts) {
        tv = timeval{ts->tv_sec, ts->tv_nsec / 1000};
        tvp = &tv;
    }
    const int r = select(n, rd, wr, ex, tvp);
    const int e = errno;
    if (mask) pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = e;
    return r;
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < n) std::abort();
    return poll(fds, n, timeout);
}

}  // extern "C"
#pragma GCC visibility pop
