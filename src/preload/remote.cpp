// A client of the keeper (keeper.cpp): once a program has forked, each usnet call it makes is
// one request over its Unix socket to the keeper, which makes the call on the one stack.
// The shim has already checked the program's pointers (msghdr.cpp); what goes over the wire
// is bytes: addresses, options, control messages and data, copied both ways. A call that
// would block is made with MSG_DONTWAIT in the keeper and waited out here, on the socket's
// eventfd (its token says readable), so a signal interrupts it as it would on Linux.
#include "shim.hpp"

#include "link/shm.hpp"

#include <linux/filter.h>
#include <net/if.h>
#include <sys/syscall.h>

namespace usnet::shim {

std::atomic<bool> g_client{false};

Remote& remote() {
    static auto* r = new Remote;  // never destroyed: programs call socket functions at exit
    return *r;
}

namespace wire {

// The bytes an ioctl's argument has, as ioctl_arg (msghdr.cpp) checks them.
size_t ioctl_arg_size(unsigned long req) {
    if (req == FIONREAD || req == TIOCOUTQ || req == FIONBIO) return sizeof(int);
    if (_IOC_TYPE(req) != 0x89) return 0;
    if ((req & 0xff) == 0x06 || (req & 0xff) == 0x07) return 16;  // SIOCGSTAMP, SIOCGSTAMPNS
    if (req == SIOCGIFCONF) return sizeof(ifconf);
    return sizeof(ifreq);
}

}  // namespace wire

namespace {

using wire::Rep;
using wire::Req;

// One request's bytes, built in place.
// A request's fields after its header, built in this thread's buffer, which is kept from call
// to call: once it has grown to a call's size, a call allocates nothing. A call made while
// one is being built (from a signal handler) builds in a buffer of its own.
class Msg {
public:
    Msg() : b(t_busy ? own_ : t_buf) {
        if (&b == &t_buf) t_busy = true;
        b.clear();
    }
    ~Msg() {
        if (&b == &t_buf) t_busy = false;
    }
    Msg(const Msg&) = delete;
    Msg& operator=(const Msg&) = delete;
    void put(const void* p, size_t n) {
        if (n) b.insert(b.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
    }

private:
    static thread_local std::vector<char> t_buf;
    static thread_local bool t_busy;
    std::vector<char> own_;

public:
    std::vector<char>& b;  // (malloc'd, so 8-aligned at its start: recvmsg keeps its lengths there)
};
thread_local std::vector<char> Msg::t_buf;
thread_local bool Msg::t_busy = false;

// A reply: the header and its fields.
struct Reply {
    Rep h;
    const char* blob = nullptr;
    const char* ctl = nullptr;
    const char* data = nullptr;
};

thread_local std::vector<char> t_in;

// Sends one request (with fd passed along when >= 0) and takes its reply. False, with
// errno EIO, when the keeper is gone.
bool transact(int conn, Req h, const Msg& tail, int fd, Reply* out) {
    link::shm::FdMessage out_msg(&h, sizeof h, fd);
    iovec parts[2] = {out_msg.iov, {const_cast<char*>(tail.b.data()), tail.b.size()}};
    out_msg.m.msg_iov = parts;
    out_msg.m.msg_iovlen = 2;
    NATIVE(sendmsg);
    NATIVE(recv);
    ssize_t n;
    do n = real_sendmsg(conn, &out_msg.m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno = EIO, false;
    t_in.resize(sizeof(Rep) + 2 * wire::kMaxBlob + wire::kMaxData);
    // The keeper answers within microseconds; sleeping for it would cost a wake-up each
    // side (10-30 us each on a VM). So look first, as a blocked call busy-polls.
    n = -1;
    errno = EAGAIN;
    static thread_local SpinBudget spin [[gnu::tls_model("initial-exec")]];
    if (const usnet::Time budget = runtime().busy_poll)
        n = spin.poll(
            budget, [&] { return real_recv(conn, t_in.data(), t_in.size(), MSG_DONTWAIT); },
            [](ssize_t r) { return r >= 0 || (errno != EAGAIN && errno != EINTR); });
    while (n < 0 && (errno == EAGAIN || errno == EINTR)) n = real_recv(conn, t_in.data(), t_in.size(), 0);
    if (n < ssize_t(sizeof(Rep))) return errno = EIO, false;
    std::memcpy(&out->h, t_in.data(), sizeof(Rep));
    const char* p = t_in.data() + sizeof(Rep);
    out->blob = p;
    out->ctl = p + out->h.n_blob;
    out->data = out->ctl + out->h.n_ctl;
    return true;
}

// The call's result, with errno.
long finish(const Reply& r) {
    if (r.h.ret < 0) errno = r.h.err;
    return long(r.h.ret);
}

// Waits, without the runtime lock, for the socket to become readable (its eventfd's
// token) or a little while for writable. 0: look again; -1 with errno EINTR or EAGAIN.
int wait_out(bool for_read, int64_t block_ns, std::chrono::steady_clock::time_point deadline) {
    int ms = -1;
    if (block_ns > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return errno = EAGAIN, -1;
        ms = int(std::min<long long>(left + 1, INT_MAX));
    }
    if (!for_read) ms = ms < 0 ? 1 : std::min(ms, 1);  // (no token says writable)
    Runtime& r = runtime();
    NATIVE(poll);
    pollfd p{t_shown_fd, POLLIN, 0};
    r.mu.unlock();
    const int k = real_poll(for_read ? &p : nullptr, for_read ? 1 : 0, ms);
    const int e = errno;
    r.mu.lock();
    if (k < 0 && e == EINTR) {
        // sock_intr_errno: a restart under SA_RESTART only without a timeout.
        if (block_ns == 0 && usnet::signal_handlers_restart()) return 0;
        return errno = EINTR, -1;
    }
    return 0;
}

// Makes a call that may block: in the keeper without blocking, waited out here.
template <class Once>
long blocking(bool for_read, Once once) {
    std::chrono::steady_clock::time_point deadline{};
    bool first = true;
    for (;;) {
        Reply rep;
        if (!once(&rep)) return -1;
        if (rep.h.ret >= 0 || rep.h.err != EAGAIN || rep.h.block_ns < 0) return finish(rep);
        if (first && rep.h.block_ns > 0) deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(rep.h.block_ns);
        first = false;
        if (wait_out(for_read, rep.h.block_ns, deadline) < 0) return -1;
    }
}

Req req(wire::Op op, int u) {
    Req h;
    h.op = op;
    h.u = u;
    h.shown_fd = t_shown_fd;
    return h;
}

// A simple call: numbers in, a number out.
long plain(wire::Op op, int u, int64_t a = 0, int64_t b = 0, int64_t c = 0) {
    Req h = req(op, u);
    h.a = a, h.b = b, h.c = c;
    Reply rep;
    return transact(remote().conn, h, Msg(), -1, &rep) ? finish(rep) : -1;
}

// Copies back the bytes the keeper's call changed (so nothing is written the call did not write).
void copy_changed(void* dst, const char* before, const char* after, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (before[i] != after[i]) static_cast<char*>(dst)[i] = after[i];
}

}  // namespace

int Remote::socket(int domain, int type, int protocol, int eventfd) {
    Req h = req(wire::Socket, -1);
    h.a = domain, h.b = type, h.c = protocol;
    Reply rep;
    return transact(conn, h, Msg(), eventfd, &rep) ? int(finish(rep)) : -1;
}

bool Remote::adopt(int fd, const std::vector<int>& us) {
    Req h = req(wire::Adopt, -1);
    Msg m;
    m.put(us.data(), us.size() * sizeof(int));
    h.n_data = m.b.size();
    Reply rep;
    return transact(conn, h, m, fd, &rep) && rep.h.ret == 0;
}

int Remote::close(int u) { return int(plain(wire::Close, u)); }
int Remote::shutdown(int u, int how) { return int(plain(wire::Shutdown, u, how)); }
int Remote::listen(int u, int backlog) { return int(plain(wire::Listen, u, backlog)); }
int Remote::accept(int u, sockaddr*, socklen_t*) { return int(plain(wire::Accept, u)); }  // (a datagram socket refuses first)
int Remote::fcntl(int u, int cmd, long arg) { return int(plain(wire::Fcntl, u, cmd, arg)); }
short Remote::poll_events(int u) { return short(plain(wire::Masks, u, 0)); }
uint32_t Remote::epoll_mask(int u) { return uint32_t(plain(wire::Masks, u, 1)); }

std::string Remote::control(const std::string& line) {
    Req h = req(wire::Control, -1);
    Msg m;
    m.put(line.data(), std::min(line.size(), wire::kMaxBlob));
    h.n_blob = uint32_t(m.b.size());
    Reply rep;
    if (!transact(conn, h, m, -1, &rep)) return "error: the keeper process is gone\n";
    return std::string(rep.data, rep.h.n_data);
}

static int addr_call(wire::Op op, int u, const sockaddr* a, socklen_t l) {
    Req h = req(op, u);
    h.a = l;
    Msg m;
    if (!a) h.nulls |= wire::kName;
    else m.put(a, std::min<size_t>(l, sizeof(sockaddr_storage)));
    h.n_blob = uint32_t(m.b.size());
    Reply rep;
    return transact(remote().conn, h, m, -1, &rep) ? int(finish(rep)) : -1;
}
int Remote::bind(int u, const sockaddr* a, socklen_t l) { return addr_call(wire::Bind, u, a, l); }
int Remote::connect(int u, const sockaddr* a, socklen_t l) { return addr_call(wire::Connect, u, a, l); }

static int name_call(int u, bool peer, sockaddr* a, socklen_t* l) {
    Req h = req(wire::GetName, u);
    h.a = peer;
    if (!l) h.nulls |= wire::kLen;
    else h.b = *l;
    if (!a) h.nulls |= wire::kName;
    Reply rep;
    if (!transact(remote().conn, h, Msg(), -1, &rep)) return -1;
    if (rep.h.ret == 0 && l) {
        if (a) std::memcpy(a, rep.blob, std::min<size_t>(rep.h.n_blob, size_t(std::max<int>(int(*l), 0))));
        *l = socklen_t(rep.h.len_a);
    }
    return int(finish(rep));
}
int Remote::getsockname(int u, sockaddr* a, socklen_t* l) { return name_call(u, false, a, l); }
int Remote::getpeername(int u, sockaddr* a, socklen_t* l) { return name_call(u, true, a, l); }

ssize_t Remote::sendmsg(int u, const msghdr* m, int f) {
    Req h = req(wire::SendMsg, u);
    h.flags = f;
    Msg tail;
    if (!m) {
        h.nulls |= wire::kMsg;
    } else {
        h.a = m->msg_namelen;
        if (!m->msg_name) h.nulls |= wire::kName;
        else tail.put(m->msg_name, std::min<size_t>(m->msg_namelen, sizeof(sockaddr_storage)));
        h.n_blob = uint32_t(tail.b.size());
        h.b = int64_t(m->msg_controllen);
        if (!m->msg_control) h.nulls |= wire::kCtl;
        else tail.put(m->msg_control, std::min<size_t>(m->msg_controllen, 16384));
        h.n_ctl = uint32_t(tail.b.size() - h.n_blob);
        h.c = int64_t(m->msg_iovlen);
        if (!m->msg_iov) h.nulls |= wire::kArg;
        else if (m->msg_iovlen <= 1024) {
            uint64_t total = 0;
            for (size_t i = 0; i < m->msg_iovlen; ++i) {
                const uint64_t len = m->msg_iov[i].iov_base ? m->msg_iov[i].iov_len : (m->msg_iov[i].iov_len | wire::kIovNull);
                tail.put(&len, sizeof len);
                if (m->msg_iov[i].iov_base) total += m->msg_iov[i].iov_len;
            }
            h.n_iov = uint32_t(m->msg_iovlen);
            // Larger than any datagram: the keeper's call fails on the length alone.
            if (total <= wire::kMaxData)
                for (size_t i = 0; i < m->msg_iovlen; ++i)
                    if (m->msg_iov[i].iov_base) tail.put(m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
            h.n_data = total <= wire::kMaxData ? total : 0;
        }
    }
    return blocking(false, [&](Reply* rep) { return transact(conn, h, tail, -1, rep); });
}

ssize_t Remote::send(int u, const void* b, size_t n, int f) { return sendto(u, b, n, f, nullptr, 0); }

ssize_t Remote::sendto(int u, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    iovec v{const_cast<void*>(b), n};
    msghdr m{};
    m.msg_name = const_cast<sockaddr*>(to);
    m.msg_namelen = to ? tl : 0;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return sendmsg(u, &m, f);
}

// __sys_sendmmsg: one message at a time; the first failure ends the batch.
int Remote::sendmmsg(int u, mmsghdr* m, unsigned v, int f) {
    unsigned i = 0;
    for (; i < std::min(v, 1024u); ++i) {
        const ssize_t r = sendmsg(u, &m[i].msg_hdr, f);
        if (r < 0) {
            if (i == 0) return -1;
            break;
        }
        m[i].msg_len = unsigned(r);
    }
    return int(i);
}

ssize_t Remote::recvmsg(int u, msghdr* m, int f) {
    Req h = req(wire::RecvMsg, u);
    h.flags = f;
    Msg tail;  // the iovecs' lengths, first in the tail
    if (!m) {
        h.nulls |= wire::kMsg;
    } else {
        h.a = m->msg_namelen;
        if (!m->msg_name) h.nulls |= wire::kName;
        h.b = int64_t(m->msg_controllen);
        if (!m->msg_control) h.nulls |= wire::kCtl;
        h.c = int64_t(m->msg_iovlen);
        if (!m->msg_iov) h.nulls |= wire::kArg;
        else if (m->msg_iovlen <= 1024) {
            for (size_t i = 0; i < m->msg_iovlen; ++i) {
                const uint64_t len = m->msg_iov[i].iov_base ? m->msg_iov[i].iov_len : (m->msg_iov[i].iov_len | wire::kIovNull);
                tail.put(&len, sizeof len);
            }
            h.n_iov = uint32_t(m->msg_iovlen);
        }
    }
    return blocking(true, [&](Reply* rep) {
        if (!transact(conn, h, tail, -1, rep)) return false;
        if (rep->h.ret < 0 || !m) return true;
        if (m->msg_name) std::memcpy(m->msg_name, rep->blob, std::min<size_t>(rep->h.n_blob, m->msg_namelen));
        m->msg_namelen = socklen_t(rep->h.len_a);
        if (m->msg_control) std::memcpy(m->msg_control, rep->ctl, std::min<size_t>(rep->h.n_ctl, m->msg_controllen));
        m->msg_controllen = size_t(rep->h.len_b);
        m->msg_flags = rep->h.msg_flags;
        const auto* lens = reinterpret_cast<const uint64_t*>(tail.b.data());
        wire::for_each_span(lens, h.n_iov, wire::kMaxData, [&](size_t i, size_t off, size_t len) {
            if (off < rep->h.n_data) std::memcpy(m->msg_iov[i].iov_base, rep->data + off, std::min<size_t>(len, rep->h.n_data - off));
        });
        return true;
    });
}

ssize_t Remote::recv(int u, void* b, size_t n, int f) { return recvfrom(u, b, n, f, nullptr, nullptr); }

ssize_t Remote::recvfrom(int u, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    iovec v{b, n};
    msghdr m{};
    m.msg_name = fl ? from : nullptr;
    m.msg_namelen = fl ? *fl : 0;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    const ssize_t r = recvmsg(u, &m, f);
    if (r >= 0 && fl && from) *fl = m.msg_namelen;
    return r;
}

// __sys_recvmmsg: each message as recvmsg; MSG_WAITFORONE stops waiting after the first; the
// timeout is looked at after each message.
int Remote::recvmmsg(int u, mmsghdr* m, unsigned v, int f, timespec* t) {
    const auto end = t ? std::chrono::steady_clock::now() + std::chrono::seconds(t->tv_sec) + std::chrono::nanoseconds(t->tv_nsec)
                       : std::chrono::steady_clock::time_point::max();
    unsigned i = 0;
    for (; i < std::min(v, 1024u); ++i) {
        const ssize_t r = recvmsg(u, &m[i].msg_hdr, (i && (f & MSG_WAITFORONE)) ? (f | MSG_DONTWAIT) : f);
        if (r < 0) {
            if (i == 0) return -1;
            break;
        }
        m[i].msg_len = unsigned(r);
        if (t && std::chrono::steady_clock::now() >= end) {
            ++i;
            break;
        }
    }
    return int(i);
}

int Remote::setsockopt(int u, int lv, int n, const void* v, socklen_t l) {
    Req h = req(wire::SetOpt, u);
    h.a = lv, h.b = n, h.c = l;
    Msg tail;
    const size_t len = std::min<size_t>(l, wire::kMaxBlob);
    if (!v || !readable(v, len)) {
        h.nulls |= wire::kArg;
    } else {
        tail.put(v, len);
        // SO_ATTACH_FILTER points at its program: the instructions go along.
        if (lv == SOL_SOCKET && n == SO_ATTACH_FILTER && l == sizeof(sock_fprog)) {
            const auto* fp = static_cast<const sock_fprog*>(v);
            if (fp->filter && fp->len <= BPF_MAXINSNS && readable(fp->filter, fp->len * sizeof(sock_filter)))
                tail.put(fp->filter, fp->len * sizeof(sock_filter));
        }
    }
    h.n_blob = uint32_t(tail.b.size());
    Reply rep;
    return transact(conn, h, tail, -1, &rep) ? int(finish(rep)) : -1;
}

int Remote::getsockopt(int u, int lv, int n, void* v, socklen_t* l) {
    Req h = req(wire::GetOpt, u);
    h.a = lv, h.b = n;
    if (!l) h.nulls |= wire::kLen;
    else h.c = int(*l);
    if (!v) h.nulls |= wire::kArg;
    Reply rep;
    if (!transact(conn, h, Msg(), -1, &rep)) return -1;
    if (rep.h.ret >= 0 && l) {
        // SO_GET_FILTER's length counts instructions.
        const size_t unit = (lv == SOL_SOCKET && n == SO_GET_FILTER) ? sizeof(sock_filter) : 1;
        if (v) std::memcpy(v, rep.blob, std::min<size_t>(rep.h.n_blob, size_t(rep.h.len_a) * unit));
        *l = socklen_t(rep.h.len_a);
    }
    return int(finish(rep));
}

static int ioctl_call(wire::Op op, int u, unsigned long req_nr, void* arg) {
    Req h = req(op, u);
    h.a = long(req_nr);
    const size_t size = wire::ioctl_arg_size(req_nr);
    Msg tail;
    if (!arg) h.nulls |= wire::kArg;
    else tail.put(arg, size);
    const bool conf = req_nr == SIOCGIFCONF && arg;
    if (conf && !static_cast<ifconf*>(arg)->ifc_buf) h.c = 1;  // (asks the length only)
    h.n_blob = uint32_t(tail.b.size());
    Reply rep;
    if (!transact(remote().conn, h, tail, -1, &rep)) return -1;
    if (rep.h.ret >= 0 && arg) {
        if (conf) {
            auto* c = static_cast<ifconf*>(arg);
            ifconf out;
            std::memcpy(&out, rep.blob, sizeof out);
            if (c->ifc_buf) std::memcpy(c->ifc_buf, rep.data, std::min<size_t>(rep.h.n_data, size_t(std::max(out.ifc_len, 0))));
            c->ifc_len = out.ifc_len;
        } else {
            copy_changed(arg, tail.b.data(), rep.blob, std::min<size_t>(size, rep.h.n_blob));
        }
    }
    return int(finish(rep));
}
int Remote::ioctl(int u, unsigned long req_nr, void* arg) { return ioctl_call(wire::Ioctl, u, req_nr, arg); }
int Remote::dev_ioctl(int family, unsigned long req_nr, void* arg) { return ioctl_call(wire::DevIoctl, family, req_nr, arg); }

}  // namespace usnet::shim
