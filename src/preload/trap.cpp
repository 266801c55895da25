// The system-call trap: socket calls that never pass through libc's wrappers still reach
// usnet. libuv calls sendmmsg through syscall(2), Go makes its own system calls, and glibc's
// own functions (getaddrinfo, getifaddrs, if_nametoindex, the resolver) call its internal
// __socket, __connect, __close: none of them meets an interposer.
//
// A seccomp filter sends those system calls to a SIGSYS handler that routes them exactly as
// the interposers would. It traps by where the call comes from: the system-call
// instructions of the executable mappings present at start (the program, libc, the other
// libraries), never the shim's (whose own calls go through native.cpp's gate) nor the
// dynamic loader's. So:
//   - socket, descriptor (close, dup, fcntl, ioctl) and poll/select/epoll calls trap from
//     anywhere in those mappings, libc included;
//   - read, write and their vector forms trap only outside libc's text (libc's syscall()
//     counts as outside): libc's own reads are stdio's, and a read through the libc
//     wrapper already met the interposer;
//   - rt_sigprocmask with a new mask traps, so SIGSYS is never blocked (a blocked SIGSYS at
//     a trapped call would kill the process); rt_sigaction traps for SIGSYS, and from
//     outside libc for every signal (Go installs its handlers with its own system calls).
// The filter is inherited across fork and exec. Its sites are this image's: after exec a
// program without the shim runs untouched by it (a static one is served by the supervisor,
// supervise.cpp), one with the shim installs its own filter (see "where system calls come
// from" below).
#include "bpf.hpp"
#include "native.hpp"
#include "shim.hpp"

#include <elf.h>
#include <link.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

namespace usnet::shim {

std::atomic<bool> g_trap_on{false};

namespace {
pid_t g_pid = 0;  // this process, as fork's child handler last saw it
}  // namespace

// A child made with CLONE_VM (vfork, posix_spawn) runs on our memory until it execs: its
// descriptor calls must not touch the parent's tables.
bool in_vm_child() { return usnet_gate(SYS_getpid) != g_pid; }

#if defined(__x86_64__)

namespace {

constexpr uint32_t kTrapData = 0x75e7;  // SECCOMP_RET_DATA of our traps: si_errno tells them apart
constexpr long kSigsetSize = _NSIG / 8;
constexpr unsigned long kSaRestorer = 0x04000000;  // SA_RESTORER (the kernel's; glibc hides it)

// ---------------- where system calls come from ----------------
// A filter stays on across exec, and the new program's code lies where the kernel puts it:
// sometimes on what was libc's text before (every time with address randomization off, as
// under gdb or `setarch -R`). A trap before the new program's shim has its handler in kills
// it. So the handler goes in first (handler_first), and the filter traps at the exact
// addresses of the image's system-call instructions at start (the address after each
// `syscall` or `int 0x80`, as the kernel reports it), not over a library's whole span: the
// new program's loader, which runs before any handler can be in, meets one of them only by
// an exact coincidence (with randomization on, a page-aligned shift that maps one of its
// few sites onto one of ours: about 1 in 10^8 an exec and inherited filter). Once the new
// shim's handler is in, a call an old filter traps is routed as the program's own.

struct Code {
    uintptr_t lo, hi;
    bool libc;
    bool scan;  // a file's mapping we can read: its sites, else its whole span
};

struct Image {
    std::vector<Code> code;     // the executable mappings but the shim's and the loader's
    uintptr_t sc_lo, sc_hi;     // libc's syscall(): a call from it is the program's own
};

struct Sites {
    std::vector<uintptr_t> libc, other;  // sorted; `other` has syscall()'s
    std::vector<Range> libc_spans, other_spans;
};

// coarse: whole spans only (a smaller filter, for an image with too many sites).
Sites sites_of(const Image& im, bool coarse) {
    Sites s;
    for (const Code& c : im.code) {
        if (coarse || !c.scan) {
            if (c.libc && im.sc_lo >= c.lo && im.sc_hi <= c.hi) {
                add_range(s.libc_spans, c.lo, im.sc_lo);
                add_range(s.other_spans, im.sc_lo, im.sc_hi);
                add_range(s.libc_spans, im.sc_hi, c.hi);
            } else {
                add_range(c.libc ? s.libc_spans : s.other_spans, c.lo, c.hi);
            }
            continue;
        }
        for_each_syscall_site(reinterpret_cast<const unsigned char*>(c.lo), c.hi - c.lo, [&](size_t i) {
            const uintptr_t at = c.lo + i;
            const bool own = !c.libc || (at >= im.sc_lo && at < im.sc_hi);
            (own ? s.other : s.libc).push_back(at + 2);
        });
    }
    std::sort(s.libc.begin(), s.libc.end());
    std::sort(s.other.begin(), s.other.end());
    return s;
}

bool read_image(Image* out, std::string* why) {
    const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = "cannot read /proc/self/maps";
        return false;
    }
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    native::close(fd);

    void* sc = dlsym(RTLD_NEXT, "syscall");
    Dl_info di{};
    const ElfW(Sym)* sym = nullptr;
    if (!sc || !dladdr1(sc, &di, reinterpret_cast<void**>(const_cast<ElfW(Sym)**>(&sym)), RTLD_DL_SYMENT) || !sym || !di.dli_fname) {
        *why = "cannot find libc's syscall()";
        return false;
    }
    out->sc_lo = reinterpret_cast<uintptr_t>(sc);
    out->sc_hi = out->sc_lo + std::max<uintptr_t>(sym->st_size, 1);
    struct Map {
        uintptr_t lo, hi;
        bool read, exec;
        std::string path;
    };
    std::vector<Map> maps;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        const std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        unsigned long lo = 0, hi = 0;
        char perms[8] = {};
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3) continue;
        maps.push_back({lo, hi, perms[0] == 'r', perms[2] == 'x',
                        path_at > 0 && size_t(path_at) <= line.size() ? line.substr(size_t(path_at)) : ""});
    }
    // Each file by an address inside it (dladdr's names may differ from the maps' by a symlink).
    auto path_at = [&](uintptr_t a) {
        for (const Map& m : maps)
            if (a >= m.lo && a < m.hi) return m.path;
        return std::string();
    };
    const std::string libc_path = path_at(out->sc_lo);
    const std::string shim_path = path_at(reinterpret_cast<uintptr_t>(&read_image));
    const std::string loader_path = path_at(getauxval(AT_BASE));
    bool has_libc = false;
    for (const Map& m : maps) {
        if (!m.exec || m.path == "[vdso]" || m.path == "[vsyscall]") continue;
        if (!m.path.empty() && (m.path == shim_path || m.path == loader_path)) continue;
        const bool libc = !m.path.empty() && m.path == libc_path;
        has_libc |= libc;
        // (Anonymous code may be rewritten later: its whole span.)
        out->code.push_back({m.lo, m.hi, libc, m.read && !m.path.empty() && m.path[0] == '/'});
    }
    if (!has_libc) {
        *why = "libc's text not found in /proc/self/maps";
        return false;
    }
    return true;
}

// ---------------- the filter ----------------

constexpr uint32_t arg_lo(int i) { return uint32_t(offsetof(seccomp_data, args) + 8 * size_t(i)); }
constexpr uint32_t kTrap = SECCOMP_RET_TRAP | kTrapData;

enum class Cat { Outside, Anywhere, Sigaction, Procmask };

struct Trapped {
    int nr;
    Cat cat;
};

// What traps (see the head of this file).
const Trapped kTrapped[] = {
    {SYS_read, Cat::Outside},          {SYS_write, Cat::Outside},         {SYS_readv, Cat::Outside},
    {SYS_writev, Cat::Outside},        {SYS_pread64, Cat::Outside},       {SYS_pwrite64, Cat::Outside},
    {SYS_preadv, Cat::Outside},        {SYS_pwritev, Cat::Outside},       {SYS_preadv2, Cat::Outside},
    {SYS_pwritev2, Cat::Outside},      {SYS_socket, Cat::Anywhere},       {SYS_socketpair, Cat::Anywhere},
    {SYS_bind, Cat::Anywhere},         {SYS_connect, Cat::Anywhere},      {SYS_listen, Cat::Anywhere},
    {SYS_accept, Cat::Anywhere},       {SYS_accept4, Cat::Anywhere},      {SYS_getsockname, Cat::Anywhere},
    {SYS_getpeername, Cat::Anywhere},  {SYS_sendto, Cat::Anywhere},       {SYS_recvfrom, Cat::Anywhere},
    {SYS_sendmsg, Cat::Anywhere},      {SYS_recvmsg, Cat::Anywhere},      {SYS_sendmmsg, Cat::Anywhere},
    {SYS_recvmmsg, Cat::Anywhere},     {SYS_shutdown, Cat::Anywhere},     {SYS_setsockopt, Cat::Anywhere},
    {SYS_getsockopt, Cat::Anywhere},   {SYS_ioctl, Cat::Anywhere},        {SYS_fcntl, Cat::Anywhere},
    {SYS_close, Cat::Anywhere},        {SYS_close_range, Cat::Anywhere},  {SYS_dup, Cat::Anywhere},
    {SYS_dup2, Cat::Anywhere},         {SYS_dup3, Cat::Anywhere},         {SYS_poll, Cat::Anywhere},
    {SYS_ppoll, Cat::Anywhere},        {SYS_select, Cat::Anywhere},       {SYS_pselect6, Cat::Anywhere},
    {SYS_epoll_ctl, Cat::Anywhere},    {SYS_epoll_wait, Cat::Anywhere},   {SYS_epoll_pwait, Cat::Anywhere},
    {SYS_epoll_pwait2, Cat::Anywhere}, {SYS_execve, Cat::Anywhere},       {SYS_execveat, Cat::Anywhere},
    {SYS_rt_sigaction, Cat::Sigaction}, {SYS_rt_sigprocmask, Cat::Procmask},
};

// Binary search over the trapped numbers; a leaf jumps to its category's block.
void emit_tree(Bpf& b, std::vector<Trapped>::const_iterator lo, std::vector<Trapped>::const_iterator hi, int allow,
               const int cat_label[4]) {
    if (hi - lo <= 3) {
        for (auto it = lo; it != hi; ++it) b.jmp(BPF_JEQ, uint32_t(it->nr), cat_label[int(it->cat)], -1);
        b.ja(allow);
        return;
    }
    const auto mid = lo + (hi - lo) / 2;
    const int right = b.label();
    b.jmp(BPF_JGE, uint32_t(mid->nr), right, -1);
    emit_tree(b, lo, mid, allow, cat_label);
    b.bind(right);
    emit_tree(b, mid, hi, allow, cat_label);
}

bool build_filter(const Sites& s, std::vector<sock_filter>* out) {
    Bpf b;
    // The site blocks are long: short jumps reach them through two `ja`s (t_any, t_outside).
    const int allow = b.label(), sigact = b.label(), procmask = b.label(), t_any = b.label(), t_outside = b.label(),
              any = b.label(), outside = b.label();
    const int cat_label[4] = {t_outside, t_any, sigact, procmask};
    // Another ABI (int 0x80, x32) from the program's code: trapped, and refused.
    b.ld(kOffArch);
    b.jmp(BPF_JEQ, AUDIT_ARCH_X86_64, -1, t_any);
    b.ld(kOffNr);
    b.jmp(BPF_JGE, 0x40000000u, t_any, -1);
    std::vector<Trapped> t(std::begin(kTrapped), std::end(kTrapped));
    std::sort(t.begin(), t.end(), [](const Trapped& x, const Trapped& y) { return x.nr < y.nr; });
    emit_tree(b, t.cbegin(), t.cend(), allow, cat_label);
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    // rt_sigaction: SIGSYS from anywhere, any other signal from outside libc.
    b.bind(sigact);
    b.ld(arg_lo(0));
    b.jmp(BPF_JEQ, SIGSYS, t_any, t_outside);
    // rt_sigprocmask: only with a new mask (a null set only reads it).
    b.bind(procmask);
    b.ld(arg_lo(1));
    b.jmp(BPF_JEQ, 0, -1, t_any);
    b.ld(arg_lo(1) + 4);
    b.jmp(BPF_JEQ, 0, -1, t_any);
    b.ret(SECCOMP_RET_ALLOW);
    b.bind(t_any);
    b.ja(any);
    b.bind(t_outside);
    b.ja(outside);
    b.bind(any);  // libc's sites, then the others'
    emit_sites(b, s.libc, s.libc_spans, kTrap, outside);
    b.bind(outside);
    emit_sites(b, s.other, s.other_spans, kTrap);
    return b.finish(out);
}

// ---------------- the handler ----------------

thread_local int t_in_trap [[gnu::tls_model("initial-exec")]] = 0;

long kret(long r) { return r == -1 ? -long(errno) : r; }

// The kernel's struct sigaction for rt_sigaction.
struct KSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
};

struct sigaction from_kernel(const KSigaction& k) {
    struct sigaction s{};
    s.sa_handler = reinterpret_cast<sighandler_t>(k.handler);
    s.sa_flags = int(k.flags);
    s.sa_restorer = reinterpret_cast<void (*)()>(k.restorer);
    std::memcpy(&s.sa_mask, &k.mask, 8);
    return s;
}

// rt_sigreturn, as glibc's __restore_rt (unwinders know a signal frame by these bytes).
extern "C" void usnet_sigreturn();
asm(R"(
    .text
    .globl usnet_sigreturn
    .hidden usnet_sigreturn
    .type usnet_sigreturn, @function
usnet_sigreturn:
    movq $15, %rax
    syscall
    .size usnet_sigreturn, .-usnet_sigreturn
)");

constexpr uint64_t kSigsysBit = 1ull << (SIGSYS - 1);

std::mutex g_sys_mu;
struct sigaction g_user_sigsys{};  // the program's own SIGSYS action

uint64_t& uc_mask(ucontext_t* uc) { return *reinterpret_cast<uint64_t*>(&uc->uc_sigmask); }

// rt_sigprocmask: the mask lives in the signal frame and takes effect at sigreturn, less
// SIGSYS (and what can never be blocked).
long emulate_procmask(const long* a, ucontext_t* uc) {
    if (a[3] != kSigsetSize) return -EINVAL;
    uint64_t set = 0;
    const bool has_set = a[1] != 0;
    if (has_set) {
        if (!readable(reinterpret_cast<void*>(a[1]), 8)) return -EFAULT;
        std::memcpy(&set, reinterpret_cast<void*>(a[1]), 8);
    }
    uint64_t& cur = uc_mask(uc);
    if (a[2]) {
        if (!writable(reinterpret_cast<void*>(a[2]), 8)) return -EFAULT;
        std::memcpy(reinterpret_cast<void*>(a[2]), &cur, 8);
    }
    if (!has_set) return 0;
    switch (a[0]) {
        case SIG_BLOCK: cur |= set; break;
        case SIG_UNBLOCK: cur &= ~set; break;
        case SIG_SETMASK: cur = set; break;
        default: return -EINVAL;
    }
    cur &= ~(kSigsysBit | (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    return 0;
}

// rt_sigaction: SIGSYS stays ours (the program's action is recorded and chained to);
// another signal's handler never blocks SIGSYS.
long emulate_sigaction(const long* a) {
    if (a[3] != kSigsetSize) return -EINVAL;
    const int sig = int(a[0]);
    auto* act = reinterpret_cast<const KSigaction*>(a[1]);
    auto* old = reinterpret_cast<KSigaction*>(a[2]);
    if ((act && !readable(act, sizeof *act)) || (old && !writable(old, sizeof *old))) return -EFAULT;
    if (sig != SIGSYS) {
        KSigaction k{};
        if (act) {
            k = *act;
            k.mask &= ~kSigsysBit;
        }
        return usnet_gate(SYS_rt_sigaction, sig, act ? long(&k) : 0, long(old), kSigsetSize);
    }
    if (in_vm_child()) return 0;  // posix_spawn's child resetting handlers: exec does it
    std::lock_guard<std::mutex> g(g_sys_mu);
    if (old) {
        old->handler = reinterpret_cast<void*>(g_user_sigsys.sa_handler);
        old->flags = unsigned(g_user_sigsys.sa_flags);
        old->restorer = reinterpret_cast<void*>(g_user_sigsys.sa_restorer);
        std::memcpy(&old->mask, &g_user_sigsys.sa_mask, 8);
    }
    if (act) g_user_sigsys = from_kernel(*act);
    return 0;
}

// A SIGSYS that is not ours (kill, or the program's own seccomp filter) gets the
// program's action, or the default one.
void chain_sigsys(siginfo_t* si, void* ctx) {
    struct sigaction a;
    {
        std::lock_guard<std::mutex> g(g_sys_mu);
        a = g_user_sigsys;
    }
    if (a.sa_handler == SIG_IGN) return;
    if (a.sa_handler == SIG_DFL) {
        KSigaction d{};
        d.handler = reinterpret_cast<void*>(SIG_DFL);
        usnet_gate(SYS_rt_sigaction, SIGSYS, long(&d), 0, kSigsetSize);
        usnet_gate(SYS_tgkill, usnet_gate(SYS_getpid), usnet_gate(SYS_gettid), SIGSYS);
        return;
    }
    if (a.sa_flags & SA_SIGINFO) a.sa_sigaction(SIGSYS, si, ctx);
    else a.sa_handler(SIGSYS);
}

template <class T>
T* P(long v) {
    return reinterpret_cast<T*>(v);
}

// A call on one descriptor: the interposer's if it is a usnet socket, else the kernel's.
#define ON_FD(fd, call)                                        \
    do {                                                       \
        if (usnet_fd(int(fd)) < 0) return usnet_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]); \
        return kret(call);                                     \
    } while (0)

// close_range in the kernel, less the shim's own descriptors: a daemon closing every
// descriptor at start must not take the keeper connection or the trace file with it.
long kernel_close_range(unsigned long first, unsigned long last, long flags) {
    if (first > last) return usnet_gate(SYS_close_range, long(first), long(last), flags);  // (EINVAL)
    for (const int fd : shim_own_fds()) {
        if (fd < 0 || (unsigned long)fd < first || (unsigned long)fd > last) continue;
        if ((unsigned long)fd > first)
            if (const long r = usnet_gate(SYS_close_range, long(first), fd - 1, flags); r != 0) return r;
        if ((unsigned long)fd == last) return 0;
        first = (unsigned long)fd + 1;
    }
    return usnet_gate(SYS_close_range, long(first), long(last), flags);
}

// close_range: usnet sockets in the range are closed as close() would; the kernel closes
// the rest (or marks them close-on-exec).
long route_close_range(const long* a) {
    const unsigned first = unsigned(a[0]), last = unsigned(a[1]);
    const unsigned flags = unsigned(a[2]);
    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last && g_active.load(std::memory_order_acquire)) {
        std::vector<int> mine;
        {
            Runtime& r = runtime();
            std::lock_guard<usnet::CallLock> g(r.mu);
            for (const auto& [fd, u] : r.fds)
                if (unsigned(fd) >= first && unsigned(fd) <= last) mine.push_back(fd);
        }
        for (int fd : mine) ::close(fd);
    }
    return kernel_close_range(first, last, long(flags));
}

// A vfork child closing descriptors before exec (Python's close_fds) leaves the keeper
// connection open: its exec passes the host on through it (exec_one_host). The connection
// is close-on-exec, so the new program never sees it.
long vm_child_close(long nr, const long* a) {
    const long conn = remote().conn;
    if (nr == SYS_close) return a[0] == conn && conn >= 0 ? 0 : usnet_gate(SYS_close, a[0]);
    return kernel_close_range((unsigned long)unsigned(a[0]), (unsigned long)unsigned(a[1]), a[2]);
}

long route(long nr, const long* a) {
    switch (nr) {
        case SYS_socket: return kret(::socket(int(a[0]), int(a[1]), int(a[2])));
        case SYS_socketpair: return kret(::socketpair(int(a[0]), int(a[1]), int(a[2]), P<int>(a[3])));
        case SYS_bind: return kret(::bind(int(a[0]), P<sockaddr>(a[1]), socklen_t(a[2])));  // (kernel_bind too)
        case SYS_connect: ON_FD(a[0], ::connect(int(a[0]), P<sockaddr>(a[1]), socklen_t(a[2])));
        case SYS_listen: ON_FD(a[0], ::listen(int(a[0]), int(a[1])));
        case SYS_accept: ON_FD(a[0], ::accept(int(a[0]), P<sockaddr>(a[1]), P<socklen_t>(a[2])));
        case SYS_accept4: ON_FD(a[0], ::accept4(int(a[0]), P<sockaddr>(a[1]), P<socklen_t>(a[2]), int(a[3])));
        case SYS_getsockname: ON_FD(a[0], ::getsockname(int(a[0]), P<sockaddr>(a[1]), P<socklen_t>(a[2])));
        case SYS_getpeername: ON_FD(a[0], ::getpeername(int(a[0]), P<sockaddr>(a[1]), P<socklen_t>(a[2])));
        case SYS_sendto:
            ON_FD(a[0], ::sendto(int(a[0]), P<void>(a[1]), size_t(a[2]), int(a[3]), P<sockaddr>(a[4]), socklen_t(a[5])));
        case SYS_recvfrom:
            ON_FD(a[0], ::recvfrom(int(a[0]), P<void>(a[1]), size_t(a[2]), int(a[3]), P<sockaddr>(a[4]), P<socklen_t>(a[5])));
        case SYS_sendmsg: ON_FD(a[0], ::sendmsg(int(a[0]), P<msghdr>(a[1]), int(a[2])));
        case SYS_recvmsg: ON_FD(a[0], ::recvmsg(int(a[0]), P<msghdr>(a[1]), int(a[2])));
        case SYS_sendmmsg: ON_FD(a[0], ::sendmmsg(int(a[0]), P<mmsghdr>(a[1]), unsigned(a[2]), int(a[3])));
        case SYS_recvmmsg: ON_FD(a[0], ::recvmmsg(int(a[0]), P<mmsghdr>(a[1]), unsigned(a[2]), int(a[3]), P<timespec>(a[4])));
        case SYS_shutdown: ON_FD(a[0], ::shutdown(int(a[0]), int(a[1])));
        case SYS_setsockopt: ON_FD(a[0], ::setsockopt(int(a[0]), int(a[1]), int(a[2]), P<void>(a[3]), socklen_t(a[4])));
        case SYS_getsockopt: ON_FD(a[0], ::getsockopt(int(a[0]), int(a[1]), int(a[2]), P<void>(a[3]), P<socklen_t>(a[4])));
        case SYS_ioctl: {
            int kr;  // an interface ioctl on a kernel-owned socket is usnet's too
            if (kernel_socket_if_ioctl(int(a[0]), (unsigned long)(a[1]), P<void>(a[2]), &kr)) return kret(kr);
            ON_FD(a[0], ::ioctl(int(a[0]), (unsigned long)(a[1]), P<void>(a[2])));
        }
        case SYS_fcntl: ON_FD(a[0], ::fcntl(int(a[0]), int(a[1]), a[2]));
        case SYS_read: ON_FD(a[0], ::read(int(a[0]), P<void>(a[1]), size_t(a[2])));
        case SYS_write: ON_FD(a[0], ::write(int(a[0]), P<void>(a[1]), size_t(a[2])));
        case SYS_readv: ON_FD(a[0], ::readv(int(a[0]), P<iovec>(a[1]), int(a[2])));
        case SYS_writev: ON_FD(a[0], ::writev(int(a[0]), P<iovec>(a[1]), int(a[2])));
        case SYS_preadv2:
        case SYS_pwritev2:
            // An offset of -1: the current position, as readv/writev (a socket has no other).
            if (a[3] == -1 && a[4] == -1) ON_FD(a[0], nr == SYS_preadv2 ? ::readv(int(a[0]), P<iovec>(a[1]), int(a[2]))
                                                                       : ::writev(int(a[0]), P<iovec>(a[1]), int(a[2])));
            [[fallthrough]];
        case SYS_pread64:
        case SYS_pwrite64:
        case SYS_preadv:
        case SYS_pwritev:
            if (usnet_fd(int(a[0])) >= 0) return -ESPIPE;  // a socket has no position
            return usnet_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        case SYS_close: return kret(::close(int(a[0])));
        case SYS_close_range: return route_close_range(a);
        case SYS_dup: ON_FD(a[0], ::dup(int(a[0])));
        case SYS_dup2: return kret(::dup2(int(a[0]), int(a[1])));
        case SYS_dup3: return kret(::dup3(int(a[0]), int(a[1]), int(a[2])));
        case SYS_poll: return kret(::poll(P<pollfd>(a[0]), nfds_t(a[1]), int(a[2])));
        case SYS_ppoll:
            if (a[3] && a[4] != kSigsetSize) return -EINVAL;
            return kret(::ppoll(P<pollfd>(a[0]), nfds_t(a[1]), P<timespec>(a[2]), P<sigset_t>(a[3])));
        case SYS_select: return kret(::select(int(a[0]), P<fd_set>(a[1]), P<fd_set>(a[2]), P<fd_set>(a[3]), P<timeval>(a[4])));
        case SYS_pselect6: {
            const sigset_t* mask = nullptr;
            if (a[5]) {
                struct {
                    const sigset_t* ss;
                    long len;
                } d;
                if (!readable(P<void>(a[5]), sizeof d)) return -EFAULT;
                std::memcpy(&d, P<void>(a[5]), sizeof d);
                if (d.ss && d.len != kSigsetSize) return -EINVAL;
                mask = d.ss;
            }
            return kret(::pselect(int(a[0]), P<fd_set>(a[1]), P<fd_set>(a[2]), P<fd_set>(a[3]), P<timespec>(a[4]), mask));
        }
        case SYS_epoll_ctl: ON_FD(a[2], ::epoll_ctl(int(a[0]), int(a[1]), int(a[2]), P<epoll_event>(a[3])));
        case SYS_epoll_wait: return kret(::epoll_wait(int(a[0]), P<epoll_event>(a[1]), int(a[2]), int(a[3])));
        case SYS_epoll_pwait:
            if (a[4] && a[5] != kSigsetSize) return -EINVAL;
            return kret(::epoll_pwait(int(a[0]), P<epoll_event>(a[1]), int(a[2]), int(a[3]), P<sigset_t>(a[4])));
        case SYS_epoll_pwait2:
            if (a[4] && a[5] != kSigsetSize) return -EINVAL;
            return kret(::epoll_pwait2(int(a[0]), P<epoll_event>(a[1]), int(a[2]), P<timespec>(a[3]), P<sigset_t>(a[4])));
        default: return usnet_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}
#undef ON_FD

// The handler runs on a stack of its own: a trapped call may come from a small stack (a
// goroutine's, a signal's alternate stack) and routing it takes more.
constexpr size_t kHandlerStack = 256 * 1024;
thread_local char* t_stack [[gnu::tls_model("initial-exec")]] = nullptr;

struct TrapCall {
    siginfo_t* si;
    ucontext_t* uc;
};

void handle(TrapCall* c) {
    greg_t* g = c->uc->uc_mcontext.gregs;
    const long nr = c->si->si_syscall;
    const long a[6] = {long(g[REG_RDI]), long(g[REG_RSI]), long(g[REG_RDX]), long(g[REG_R10]), long(g[REG_R8]), long(g[REG_R9])};
    long ret;
    if (c->si->si_arch != AUDIT_ARCH_X86_64 || (nr & 0x40000000)) {
        ret = -ENOSYS;  // int 0x80 and x32 system calls: usnet speaks only the x86-64 ABI
    } else if (nr == SYS_rt_sigprocmask) {
        ret = emulate_procmask(a, c->uc);
    } else if (nr == SYS_rt_sigaction) {
        ret = emulate_sigaction(a);
    } else if ((nr == SYS_execve || nr == SYS_execveat) && !t_in_trap) {
        ret = exec_one_host(nr, a);  // (a vfork child's too: it passes the keeper on)
    } else if (!t_in_trap && (nr == SYS_close || nr == SYS_close_range) && in_vm_child()) {
        ret = vm_child_close(nr, a);
    } else if (t_in_trap || in_vm_child()) {
        ret = usnet_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]);  // the shim's own, or a vfork child's
    } else {
        ++t_in_trap;
        ret = route(nr, a);
        --t_in_trap;
    }
    g[REG_RAX] = ret;
}

extern "C" void usnet_trap_on_stack(TrapCall* c, void (*fn)(TrapCall*), char* top);
asm(R"(
    .text
    .globl usnet_trap_on_stack
    .hidden usnet_trap_on_stack
    .type usnet_trap_on_stack, @function
usnet_trap_on_stack:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq %rdx, %rsp
    call *%rsi
    movq %rbp, %rsp
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size usnet_trap_on_stack, .-usnet_trap_on_stack
)");

void on_sigsys(int, siginfo_t* si, void* ctx) {
    if (si->si_code != 1 /* SYS_SECCOMP */ || si->si_errno != int(kTrapData)) return chain_sigsys(si, ctx);
    const int saved = errno;
    TrapCall c{si, static_cast<ucontext_t*>(ctx)};
    char sp_probe;
    const bool on_ours = t_stack && &sp_probe > t_stack && &sp_probe <= t_stack + kHandlerStack;
    if (!on_ours && !t_stack) {
        void* m = reinterpret_cast<void*>(usnet_gate(SYS_mmap, 0, kHandlerStack, PROT_READ | PROT_WRITE,
                                                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        if (reinterpret_cast<long>(m) > -4096 && reinterpret_cast<long>(m) < 0) m = nullptr;
        t_stack = static_cast<char*>(m);
    }
    if (on_ours || !t_stack) handle(&c);
    else usnet_trap_on_stack(&c, handle, t_stack + kHandlerStack - 64);
    errno = saved;
}

// ---------------- stdio on a socket ----------------
// libc's own reads and writes are left alone (they are stdio's), but a usnet socket can be
// stdio's too: bash's `echo >/dev/udp/...`, a socket made stdout, fdopen. So once a socket
// lands at a descriptor number, a small filter of its own traps the read/write family from
// libc's text on that number. Filters cannot be removed: the number stays trapped (a kernel
// file there later is passed on, a little slower). Past kMaxFdFilters numbers, one filter
// traps that family from libc on every number.

constexpr int kMaxFdFilters = 32;

std::mutex g_fdf_mu;
std::vector<Range> g_libc_spans;  // this image's libc, as the trap found it
std::vector<int> g_fdf_numbers;  // numbers with a filter (or waiting for the trap, if it is not on yet)
bool g_fdf_every = false;      // the filter for every number is in


// fd < 0: every number.
bool install_fd_filter(int fd) {
    Bpf b;
    const int allow = b.label(), check = b.label(), other_fd = b.label();
    b.ld(kOffArch);
    b.jmp(BPF_JEQ, AUDIT_ARCH_X86_64, -1, allow);
    b.ld(kOffNr);
    for (const Trapped& t : kTrapped)  // (the read/write family: what traps only outside libc)
        if (t.cat == Cat::Outside) b.jmp(BPF_JEQ, uint32_t(t.nr), check, -1);
    b.bind(allow);
    b.ret(SECCOMP_RET_ALLOW);
    b.bind(check);
    if (fd >= 0) {
        b.ld(arg_lo(0) + 4);
        b.jmp(BPF_JEQ, 0, -1, other_fd);
        b.ld(arg_lo(0));
        b.jmp(BPF_JEQ, uint32_t(fd), -1, other_fd);
    }
    // libc's whole span, not its sites: a filter for each number, and the kernel allows a
    // process 32K instructions of filters in all.
    emit_sites(b, {}, g_libc_spans, kTrap);
    b.bind(other_fd);
    b.ret(SECCOMP_RET_ALLOW);
    std::vector<sock_filter> code;
    return b.finish(&code) && seccomp_install(code, SECCOMP_FILTER_FLAG_TSYNC) == 0;
}

}  // namespace

void trap_socket_fd(int fd) {
    std::lock_guard<std::mutex> g(g_fdf_mu);
    if (g_fdf_every || fd < 0 || std::find(g_fdf_numbers.begin(), g_fdf_numbers.end(), fd) != g_fdf_numbers.end())
        return;
    const bool full = g_fdf_numbers.size() >= size_t(kMaxFdFilters);
    if (!g_trap_on.load(std::memory_order_acquire)) {  // (sockets inherited at exec, before install_trap)
        if (full) g_fdf_every = true;  // (for install_trap to make good)
        else g_fdf_numbers.push_back(fd);
        return;
    }
    if (full) {
        g_fdf_every = install_fd_filter(-1);
        return;
    }
    if (install_fd_filter(fd)) g_fdf_numbers.push_back(fd);
}

namespace {

// The handler goes in first, before any other constructor of ours, through the gate and with
// a restorer of our own: a filter inherited from the program that exec'd this one may trap
// libc's rt_sigaction, and a trap before the handler is in kills the process.
bool install_handler() {
    KSigaction k{}, old{};
    k.handler = reinterpret_cast<void*>(on_sigsys);
    k.flags = SA_SIGINFO | SA_NODEFER | kSaRestorer;
    k.restorer = reinterpret_cast<void*>(usnet_sigreturn);
    if (usnet_gate(SYS_rt_sigaction, SIGSYS, long(&k), long(&old), kSigsetSize) != 0) return false;
    if (old.handler != k.handler) g_user_sigsys = from_kernel(old);  // (again: keep the program's)
    // Unblock SIGSYS in this thread; threads made later inherit its mask.
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSYS);
    native::set_sigmask(SIG_UNBLOCK, &s, nullptr);
    return true;
}

bool trap_wanted() {
    const char* env = std::getenv("USNET_TRAP");
    return !(env && std::strcmp(env, "0") == 0);
}

[[gnu::constructor(101)]] void handler_first() {
    if (trap_wanted()) install_handler();
}

void install_trap() {
    if (!trap_wanted()) return;
    auto say = [](const std::string& why) {
        const std::string line = "usnet: system calls made without libc's wrappers will not reach usnet: " + why + "\n";
        (void)!::write(STDERR_FILENO, line.data(), line.size());
    };
    Image im;
    std::string why;
    if (!read_image(&im, &why)) return say(why);
    // (Again: a library's constructor may have set a SIGSYS action since handler_first.)
    if (!install_handler()) return say("cannot install the SIGSYS handler");
    // The sites; or, if they make too large a filter (or the filters inherited from the
    // programs before this one leave too little room), whole spans.
    long r = -E2BIG;
    for (const bool coarse : {false, true}) {
        std::vector<sock_filter> code;
        if (!build_filter(sites_of(im, coarse), &code)) continue;
        if ((r = seccomp_install(code, SECCOMP_FILTER_FLAG_TSYNC)) != -ENOMEM) break;
    }
    if (r == -E2BIG) return say("the filter does not fit (" + std::to_string(im.code.size()) + " mappings)");
    if (r != 0) return say(std::string("seccomp: ") + std::strerror(int(-r)));
    std::lock_guard<std::mutex> g(g_fdf_mu);
    g_libc_spans = sites_of(im, true).libc_spans;
    g_trap_on.store(true, std::memory_order_release);
    std::vector<int> waiting;
    waiting.swap(g_fdf_numbers);
    if (g_fdf_every) g_fdf_every = install_fd_filter(-1);
    else
        for (int fd : waiting)
            if (install_fd_filter(fd)) g_fdf_numbers.push_back(fd);
}

}  // namespace

// Recorded, not installed, while the trap is on (sigaction() and signal() in usermem.cpp).
bool trap_owns_signal(int sig) { return sig == SIGSYS && g_trap_on.load(std::memory_order_acquire); }
int trap_user_sigaction(const struct sigaction* act, struct sigaction* old) {
    std::lock_guard<std::mutex> g(g_sys_mu);
    if (old) *old = g_user_sigsys;
    if (act) g_user_sigsys = *act;
    return 0;
}

// The earliest the shim runs: before main, so the program's first call is already trapped.
[[gnu::constructor]] void trap_at_start() {
    g_pid = pid_t(usnet_gate(SYS_getpid));
    pthread_atfork(nullptr, nullptr, [] { g_pid = pid_t(usnet_gate(SYS_getpid)); });
    install_trap();
}

#else  // !__x86_64__

void trap_socket_fd(int) {}

[[gnu::constructor]] void trap_at_start() {
    g_pid = pid_t(usnet_gate(SYS_getpid));
    pthread_atfork(nullptr, nullptr, [] { g_pid = pid_t(usnet_gate(SYS_getpid)); });
}
bool trap_owns_signal(int) { return false; }
int trap_user_sigaction(const struct sigaction*, struct sigaction*) { return 0; }

#endif

}  // namespace usnet::shim

using namespace usnet::shim;

#pragma GCC visibility push(default)
extern "C" {

// The program's signal masks never block SIGSYS while the trap is on: a trapped call with
// SIGSYS blocked would kill the process.
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
    static auto* real_psm = real<int(int, const sigset_t*, sigset_t*)>("pthread_sigmask");
    if (!g_trap_on.load(std::memory_order_acquire) || !set) return real_psm(how, set, old);
    sigset_t s = *set;
    if (how != SIG_UNBLOCK) sigdelset(&s, SIGSYS);
    return native::set_sigmask(how, &s, old);
}
int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
    if (const int e = pthread_sigmask(how, set, old)) {
        errno = e;
        return -1;
    }
    return 0;
}

}  // extern "C"
#pragma GCC visibility pop
