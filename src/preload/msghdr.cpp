// Message headers and buffers, checked in the kernel's order before the stack sees them: a
// range that cannot be read or written becomes a null pointer (the stack then fails with
// EFAULT where the kernel would), or EFAULT at once where the kernel fails before anything.
#include <linux/filter.h>
#include <net/if.h>
#include "shim.hpp"

namespace usnet::shim {

// A data buffer the stack reads (send): itself, or null when bad.
const void* in_buf(const void* b, size_t n) { return readable(b, std::min(n, kMaxCopy)) ? b : nullptr; }

// An address the kernel copies in with move_addr_to_kernel (only a length in 1..128 is
// copied; others fail with EINVAL or mean "no address").
bool addr_in_bad(const void* a, socklen_t len) {
    return int(len) > 0 && len <= sizeof(sockaddr_storage) && !readable(a, len);
}

// The iovec buffers the stack will use: first 64 KiB of data.
bool iov_ok(const iovec* iov, size_t n, bool write) {
    size_t left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(iov[i].iov_len, left);
        if (!probe_range(reinterpret_cast<uintptr_t>(iov[i].iov_base), len, write)) return false;
        left -= len;
    }
    return true;
}
// A copy of the array with each bad buffer null (the stack fails with EFAULT there).
std::vector<iovec> iov_fixed(const iovec* iov, size_t n, bool write) {
    std::vector<iovec> v(iov, iov + n);
    size_t left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(v[i].iov_len, left);
        if (len && !probe_range(reinterpret_cast<uintptr_t>(v[i].iov_base), len, write)) v[i].iov_base = nullptr;
        left -= len;
    }
    return v;
}

// A sendmsg msghdr checked in the kernel's order (copy_msghdr_from_user, import_iovec,
// the control copy in ____sys_sendmsg, then the data as the protocol copies it). Returns
// -1 for "fail with EFAULT now"; else *out is the msghdr to hand to the stack.
int check_send_msghdr(const msghdr* m, msghdr* out, std::vector<iovec>* iovs) {
    *out = *m;
    if (out->msg_name && int(out->msg_namelen) < 0) return 0;  // EINVAL from the stack
    if (out->msg_name && out->msg_namelen &&
        !readable(out->msg_name, std::min<size_t>(out->msg_namelen, sizeof(sockaddr_storage))))
        return -1;
    if (out->msg_iovlen > 1024) return 0;  // EMSGSIZE from the stack
    if (out->msg_iovlen && !readable(out->msg_iov, out->msg_iovlen * sizeof(iovec))) {
        out->msg_iov = nullptr;
        return 0;
    }
    if (out->msg_controllen && out->msg_controllen <= size_t(INT_MAX) && !readable(out->msg_control, out->msg_controllen))
        return -1;
    if (!iov_ok(out->msg_iov, out->msg_iovlen, false)) {
        *iovs = iov_fixed(out->msg_iov, out->msg_iovlen, false);
        out->msg_iov = iovs->data();
    }
    return 0;
}

template <class S>
ssize_t sendmsg_checked(S& st, int u, const msghdr* m, int f) {
    if (!readable(m, sizeof *m)) return st.sendmsg(u, nullptr, f);
    msghdr c;
    std::vector<iovec> iovs;
    if (check_send_msghdr(m, &c, &iovs) < 0) return efault<ssize_t>();
    return st.sendmsg(u, &c, f);
}

template <class S>
int sendmmsg_checked(S& st, int u, mmsghdr* m, unsigned v, int f) {
    const unsigned n = std::min(v, 1024u);
    bool clean = true;
    for (unsigned i = 0; i < n && clean; ++i) {
        msghdr c;
        std::vector<iovec> iovs;
        clean = writable(&m[i], sizeof m[i]) && check_send_msghdr(&m[i].msg_hdr, &c, &iovs) == 0 && c.msg_iov == m[i].msg_hdr.msg_iov;
    }
    if (clean) return st.sendmmsg(u, m, v, f);
    // __sys_sendmmsg one message at a time: the first failure ends the batch.
    unsigned i = 0;
    for (; i < n; ++i) {
        const ssize_t r = writable(&m[i], sizeof m[i]) ? sendmsg_checked(st, u, &m[i].msg_hdr, f) : efault<ssize_t>();
        if (r < 0) {
            if (i == 0) return -1;
            break;
        }
        m[i].msg_len = unsigned(r);
    }
    return int(i);
}

// A recvmsg msghdr: what can fail before a datagram is taken becomes a null pointer for
// the stack; what the kernel only finds when copying out (the name, the msghdr's own
// fields) fails with EFAULT after the datagram is taken. A control buffer that cannot be
// written takes no control messages (put_cmsg's error is ignored by udp_recvmsg).
// How much of [b, b+n) can be written, in whole pages from the start.
size_t writable_prefix(void* b, size_t n) {
    size_t ok = 0;
    for (uintptr_t x = reinterpret_cast<uintptr_t>(b); b && ok < n;) {
        const uintptr_t next = (x | (kProbePage - 1)) + 1;
        if (!probe_range(x, 1, true)) break;
        ok += std::min<size_t>(next - x, n - ok);
        x = next;
    }
    return ok;
}

// The same over an iovec array (its first 64 KiB).
size_t iov_writable_prefix(const iovec* iov, size_t n) {
    size_t ok = 0, left = kMaxCopy;
    for (size_t i = 0; i < n && left; ++i) {
        const size_t len = std::min(iov[i].iov_len, left);
        const size_t w = writable_prefix(iov[i].iov_base, len);
        ok += w;
        if (w < len) break;
        left -= len;
    }
    return ok;
}

// Buffers whose first `ok` bytes can be written but not all: the kernel copies only the
// datagram's bytes and faults only when they reach past `ok`. The stack receives into a
// bounce buffer, which is then scattered. recv(msghdr*) is the stack's call.
template <class Recv>
ssize_t recv_bounce(msghdr* c, size_t ok, int f, Recv recv) {
    size_t total = 0;
    for (size_t i = 0; i < c->msg_iovlen; ++i) total += c->msg_iov[i].iov_len;
    total = std::min(total, kMaxCopy);
    std::vector<char> tmp(total);
    iovec one{tmp.data(), total};
    iovec* user = c->msg_iov;
    const size_t n = c->msg_iovlen;
    c->msg_iov = &one;
    c->msg_iovlen = 1;
    const ssize_t r = recv(c);
    c->msg_iov = user;
    c->msg_iovlen = n;
    if (r < 0) return r;
    const size_t copied = (f & MSG_TRUNC) ? std::min(size_t(r), total) : size_t(r);
    if (copied > ok) return efault<ssize_t>();
    for (size_t i = 0, off = 0; i < n && off < copied; ++i) {
        const size_t len = std::min(user[i].iov_len, copied - off);
        if (len) std::memcpy(user[i].iov_base, tmp.data() + off, len);
        off += len;
    }
    return r;
}

struct RecvFix {
    msghdr c{};
    std::vector<iovec> iovs;
    sockaddr_storage name{};
    alignas(cmsghdr) unsigned char ctl[1024];
    bool fault_after = false, ctl_bad = false, hdr_ok = true;
    size_t bounce_ok = 0;  // > 0: receive through a bounce buffer (see recv_bounce)
};

// Each bad buffer null instead (the stack fails with EFAULT if the datagram has bytes).
void null_bad_iovs(RecvFix* fx) {
    fx->iovs = iov_fixed(fx->c.msg_iov, fx->c.msg_iovlen, true);
    fx->c.msg_iov = fx->iovs.data();
    fx->bounce_ok = 0;
}

// Returns true when the user's msghdr can be handed over as it is.
bool check_recv_msghdr(msghdr* m, RecvFix* fx) {
    if (!readable(m, sizeof *m)) {
        fx->hdr_ok = false;
        fx->c = msghdr{};
        fx->c.msg_iovlen = 1;  // a null iovec array: EFAULT before anything is taken
        return false;
    }
    fx->c = *m;
    bool clean = true;
    if (!writable(m, sizeof *m)) fx->fault_after = true, clean = false;
    msghdr& c = fx->c;
    if (c.msg_name && int(c.msg_namelen) > 0 &&
        !writable(c.msg_name, std::min<size_t>(c.msg_namelen, sizeof(sockaddr_in)))) {
        c.msg_name = &fx->name;
        fx->fault_after = true;
        clean = false;
    }
    if (c.msg_iovlen > 1024) return clean;
    if (c.msg_iovlen && !readable(c.msg_iov, c.msg_iovlen * sizeof(iovec))) {
        c.msg_iov = nullptr;
        return false;
    }
    if (c.msg_control && c.msg_controllen && !writable(c.msg_control, std::min<size_t>(c.msg_controllen, sizeof fx->ctl))) {
        c.msg_control = fx->ctl;
        c.msg_controllen = std::min<size_t>(c.msg_controllen, sizeof fx->ctl);
        fx->ctl_bad = true;
        clean = false;
    }
    if (!iov_ok(c.msg_iov, c.msg_iovlen, true)) {
        fx->bounce_ok = iov_writable_prefix(c.msg_iov, c.msg_iovlen);
        if (!fx->bounce_ok) null_bad_iovs(fx);
        clean = false;
    }
    return clean;
}

// After the stack's call on fx->c: the user's msghdr gets the fields the kernel writes back.
ssize_t finish_recv_msghdr(msghdr* m, RecvFix* fx, ssize_t r) {
    if (r < 0 || !fx->hdr_ok) return r;
    if (fx->ctl_bad) fx->c.msg_controllen = 0;
    if (fx->fault_after) return efault<ssize_t>();
    m->msg_namelen = fx->c.msg_namelen;
    m->msg_controllen = fx->c.msg_controllen;
    m->msg_flags = fx->c.msg_flags;
    return r;
}

template <class S>
ssize_t recvmsg_checked(S& st, int u, msghdr* m, int f) {
    if (!m) return st.recvmsg(u, nullptr, f);
    RecvFix fx;
    if (check_recv_msghdr(m, &fx)) return st.recvmsg(u, m, f);
    auto recv = [&](msghdr* x) { return st.recvmsg(u, x, f); };
    return finish_recv_msghdr(m, &fx, fx.bounce_ok ? recv_bounce(&fx.c, fx.bounce_ok, f, recv) : recv(&fx.c));
}

template <class S>
int recvmmsg_checked(S& st, int u, mmsghdr* m, unsigned v, int f, timespec* t) {
    if (t && !readable(t, sizeof *t)) return efault<int>();
    const unsigned n = std::min(v, 1024u);
    {
        RecvFix probe;
        bool all_ok = true;
        for (unsigned i = 0; i < n && all_ok; ++i)
            all_ok = writable(&m[i], sizeof m[i]) && check_recv_msghdr(&m[i].msg_hdr, &probe);
        if (all_ok) return st.recvmmsg(u, m, v, f, t);
    }
    std::vector<std::unique_ptr<RecvFix>> fx;
    bool clean = true;
    unsigned stop = n;  // a message whose copy-out fails ends the batch after it is taken
    for (unsigned i = 0; i < n; ++i) {
        fx.push_back(std::make_unique<RecvFix>());
        const bool entry_ok = writable(&m[i], sizeof m[i]);
        if (!entry_ok) fx[i]->hdr_ok = false, fx[i]->c = msghdr{}, fx[i]->c.msg_iovlen = 1;
        else if (check_recv_msghdr(&m[i].msg_hdr, fx[i].get())) continue;
        if (fx[i]->bounce_ok) null_bad_iovs(fx[i].get());  // no bounce within a batch
        clean = false;
        if (fx[i]->fault_after || !fx[i]->hdr_ok) {
            stop = i + 1;
            break;
        }
    }
    if (clean) return st.recvmmsg(u, m, v, f, t);
    std::vector<mmsghdr> local(stop);
    for (unsigned i = 0; i < stop; ++i) local[i].msg_hdr = fx[i]->c;
    const int r = st.recvmmsg(u, local.data(), stop, f, t);
    if (r < 0) return r;
    for (int i = 0; i < r; ++i) {
        if (finish_recv_msghdr(&m[i].msg_hdr, fx[i].get(), 0) < 0) return i == 0 ? -1 : i;  // taken, then EFAULT
        m[i].msg_len = local[i].msg_len;
    }
    return r;
}


// recvfrom: the datagram is taken before the address is copied out (a bad address or
// length pointer loses it, with EFAULT).
template <class S>
ssize_t recvfrom_checked(S& st, int u, void* bb, size_t n, int f, sockaddr* from, socklen_t* fl) {
    if (!from) return st.recvfrom(u, bb, n, f, nullptr, nullptr);
    if (fl && writable(fl, sizeof *fl)) {
        const int want = int(*fl);
        if (want <= 0 || writable(from, std::min<size_t>(size_t(want), sizeof(sockaddr_in))))
            return st.recvfrom(u, bb, n, f, from, fl);
    }
    sockaddr_storage tmp;
    socklen_t tl = sizeof tmp;
    if (st.recvfrom(u, bb, n, f, reinterpret_cast<sockaddr*>(&tmp), &tl) < 0) return -1;
    return efault<ssize_t>();
}

bool iov_total_is_zero(const iovec* iov, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (iov[i].iov_len) return false;
    return true;
}

// readv/writev: import_iovec (EINVAL beyond 1024 entries, EFAULT for the array), then the
// socket's read_iter/write_iter.
template <class S>
ssize_t rw_iov(S& st, int u, const iovec* iov, int n, bool in) {
    if (n < 0 || n > 1024) {
        errno = EINVAL;
        return -1;
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(n);
    std::vector<iovec> fixed;
    if (n && !readable(iov, size_t(n) * sizeof(iovec))) m.msg_iov = nullptr;
    else if (in && iov_total_is_zero(iov, size_t(n))) return 0;  // sock_read_iter: nothing to read
    else if (!iov_ok(iov, size_t(n), in)) {
        if (const size_t ok = in ? iov_writable_prefix(iov, size_t(n)) : 0)
            return recv_bounce(&m, ok, 0, [&](msghdr* x) { return st.recvmsg(u, x, 0); });
        fixed = iov_fixed(iov, size_t(n), in);
        m.msg_iov = fixed.data();
    }
    return in ? st.recvmsg(u, &m, 0) : st.sendmsg(u, &m, 0);
}

// A bad option buffer becomes null (EFAULT from the stack). SO_ATTACH_FILTER also points at
// its program: __get_filter copies it after the lock and basic checks, so a bad program
// pointer is EFAULT only when the socket's filter is not locked (else EPERM, from the stack).
template <class S>
int setsockopt_checked(S& st, int u, int lv, int n, const void* v, socklen_t l) {
    if (int(l) > 0 && !readable(v, std::min<size_t>(l, 64))) return st.setsockopt(u, lv, n, nullptr, l);
    if (lv == SOL_SOCKET && n == SO_ATTACH_FILTER && l == sizeof(sock_fprog)) {
        const auto* fp = static_cast<const sock_fprog*>(v);
        if (fp->filter && fp->len && fp->len <= BPF_MAXINSNS && !readable(fp->filter, fp->len * sizeof(sock_filter))) {
            int locked = 0;
            socklen_t ll = sizeof locked;
            if (st.getsockopt(u, SOL_SOCKET, SO_LOCK_FILTER, &locked, &ll) == 0 && !locked) return efault<int>();
        }
    }
    return st.setsockopt(u, lv, n, v, l);
}

template <class S>
int getsockopt_checked(S& st, int u, int lv, int n, void* v, socklen_t* l) {
    if (!l || !writable(l, sizeof *l)) return st.getsockopt(u, lv, n, v, nullptr);
    const int want = int(*l);
    if (lv == SOL_SOCKET && n == SO_GET_FILTER && want > 0) {
        // sk_get_filter counts the length in instructions and copies the whole program.
        if (!writable(v, std::min<size_t>(size_t(want), BPF_MAXINSNS) * sizeof(sock_filter))) {
            socklen_t count = 0;
            if (st.getsockopt(u, lv, n, nullptr, &count) == 0 && count && size_t(want) >= count &&
                !writable(v, count * sizeof(sock_filter)))
                v = nullptr;
        }
        return st.getsockopt(u, lv, n, v, l);
    }
    if (want > 0 && !writable(v, std::min<size_t>(size_t(want), 64))) v = nullptr;
    return st.getsockopt(u, lv, n, v, l);
}

void* ioctl_arg(unsigned long req, void* arg) {
    if (req == FIONREAD || req == TIOCOUTQ) return writable(arg, sizeof(int)) ? arg : nullptr;
    if (req == FIONBIO) return readable(arg, sizeof(int)) ? arg : nullptr;
    if (_IOC_TYPE(req) != 0x89) return arg;
    // Socket ioctls (0x89xx): SIOCGSTAMP* write two 64-bit words, SIOCGIFCONF writes its
    // buffer and ifc_len, the rest read and write a struct ifreq (get/put_user_ifreq).
    if ((req & 0xff) == 0x06 || (req & 0xff) == 0x07) return writable(arg, 16) ? arg : nullptr;
    if (req == SIOCGIFCONF) {
        if (!writable(arg, sizeof(ifconf))) return nullptr;
        const ifconf* c = static_cast<const ifconf*>(arg);
        if (c->ifc_buf && c->ifc_len > 0 && !writable(c->ifc_buf, size_t(c->ifc_len))) return nullptr;
        return arg;
    }
    return writable(arg, sizeof(ifreq)) ? arg : nullptr;
}

// Each for the stack in this process and for the keeper's.
#define USNET_CHECKED_FOR(S)                                                                          \
    template ssize_t sendmsg_checked(S&, int, const msghdr*, int);                                    \
    template int sendmmsg_checked(S&, int, mmsghdr*, unsigned, int);                                  \
    template ssize_t recvmsg_checked(S&, int, msghdr*, int);                                          \
    template int recvmmsg_checked(S&, int, mmsghdr*, unsigned, int, timespec*);                      \
    template ssize_t recvfrom_checked(S&, int, void*, size_t, int, sockaddr*, socklen_t*);            \
    template ssize_t rw_iov(S&, int, const iovec*, int, bool);                                        \
    template int setsockopt_checked(S&, int, int, int, const void*, socklen_t);                       \
    template int getsockopt_checked(S&, int, int, int, void*, socklen_t*);
USNET_CHECKED_FOR(usnet::Stack)
USNET_CHECKED_FOR(Remote)

}  // namespace usnet::shim
