// Bad user pointers: EFAULT, never a crash.
#include "shim.hpp"

namespace usnet::shim {

// Linux answers EFAULT when copy_from_user/copy_to_user meets an unmapped page (or, for
// output, a read-only one). Before the stack touches a user range of a usnet call, the
// shim probes it: one byte per page, a read for input and an atomic add of 0 (a write that
// changes nothing) for output, under a SIGSEGV/SIGBUS handler that jumps back when the
// probe faults. sigsetjmp without the signal mask: no system call on the fast path. A
// range that fails is handed to the stack as a null pointer, which fails with EFAULT where
// the kernel's copy would (a received datagram is consumed, as udp_recvmsg does).
// Receive and send buffers are probed up to 64 KiB (kMaxCopy): no datagram is longer.

thread_local sigjmp_buf* t_probe [[gnu::tls_model("initial-exec")]] = nullptr;
std::atomic<bool> g_probe_installed{false};
std::mutex g_sig_mu;
struct sigaction g_user_act[2];  // the program's own SIGSEGV and SIGBUS actions
using sigaction_fn = int(int, const struct sigaction*, struct sigaction*);
sigaction_fn* g_real_sigaction = nullptr;

int fault_slot(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

// A fault outside a probe goes to the program's handler, or gets the default action.
void probe_handler(int sig, siginfo_t* info, void* ctx) {
    if (sigjmp_buf* jb = t_probe) {
        t_probe = nullptr;
        siglongjmp(*jb, 1);
    }
    const int slot = fault_slot(sig);
    struct sigaction a = g_user_act[slot];
    if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
        const bool sent = info && info->si_code <= 0;  // kill/tgkill/sigqueue: no instruction to retry
        if (a.sa_handler == SIG_IGN && sent) return;
        struct sigaction d{};
        d.sa_handler = SIG_DFL;
        sigemptyset(&d.sa_mask);
        g_real_sigaction(sig, &d, nullptr);
        if (sent) raise(sig);
        return;  // the faulting instruction runs again, under the default action
    }
    if (a.sa_flags & SA_RESETHAND) {
        g_user_act[slot].sa_handler = SIG_DFL;
        g_user_act[slot].sa_flags &= ~SA_SIGINFO;
    }
    sigset_t m = a.sa_mask;
    if (!(a.sa_flags & SA_NODEFER)) sigaddset(&m, sig);
    pthread_sigmask(SIG_BLOCK, &m, nullptr);  // the handler's mask; sigreturn restores ours
    if (a.sa_flags & SA_SIGINFO) a.sa_sigaction(sig, info, ctx);
    else a.sa_handler(sig);
}

// Installed with the first probe; the program's earlier actions are kept to chain to.
void install_probe_handler() {
    if (g_probe_installed.load(std::memory_order_acquire)) return;
    std::lock_guard<std::mutex> g(g_sig_mu);
    if (g_probe_installed.load(std::memory_order_relaxed)) return;
    g_real_sigaction = real<sigaction_fn>("sigaction");
    struct sigaction ours{};
    ours.sa_sigaction = probe_handler;
    ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    g_real_sigaction(SIGSEGV, &ours, &g_user_act[0]);
    g_real_sigaction(SIGBUS, &ours, &g_user_act[1]);
    g_probe_installed.store(true, std::memory_order_release);
}

// A locked write of the byte's own value: needs write access, changes nothing. Not an atomic
// add of 0 in C++: clang lowers that idempotent update to a fence and a load, which a
// read-only page lets through (the copy into it then faulted in the program).
[[gnu::always_inline]] inline void touch_for_write(volatile char* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("lock orb $0, %0" : "+m"(*p)::"memory");
#else
    char v = *p;  // (a compare-and-swap, which compilers do not turn into a load)
    __atomic_compare_exchange_n(p, &v, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#endif
}

// One byte per page of [a, last]: read, or written as it is (touch_for_write).
[[gnu::noinline, gnu::no_sanitize_address]] void touch_pages(uintptr_t a, uintptr_t last, bool write) {
    for (uintptr_t x = a;;) {
        if (write) touch_for_write(reinterpret_cast<volatile char*>(x));
        else (void)*reinterpret_cast<const volatile char*>(x);
        const uintptr_t next = (x | (kProbePage - 1)) + 1;
        if (next == 0 || next > last) break;
        x = next;
    }
}

[[gnu::noinline]] bool touch_guarded(uintptr_t a, uintptr_t last, bool write) {
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0)) return false;  // the handler cleared t_probe
    t_probe = &jb;
    touch_pages(a, last, write);
    t_probe = nullptr;
    return true;
}

constinit thread_local uintptr_t t_stack_lo [[gnu::tls_model("initial-exec")]] = 0;
constinit thread_local uintptr_t t_stack_hi [[gnu::tls_model("initial-exec")]] = 0;

namespace {
[[gnu::noinline]] void learn_stack() {
    t_stack_hi = 1;  // (unknown: never matches)
    pthread_attr_t at;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
        void* lo = nullptr;
        size_t size = 0;
        if (pthread_attr_getstack(&at, &lo, &size) == 0 && lo) {
            t_stack_lo = reinterpret_cast<uintptr_t>(lo);
            t_stack_hi = t_stack_lo + size;
        }
        pthread_attr_destroy(&at);
    }
}
}  // namespace

// True when every page of [p, p+n) can be read (or written).
bool probe_range(uintptr_t a, size_t n, bool write) {
    if (n == 0) return true;
    if (!a || a + n < a) return false;  // null, or wraps (access_ok fails)
    if (t_stack_hi == 0) learn_stack();
    if (on_own_stack(a, a + n)) return true;
    install_probe_handler();
    return touch_guarded(a, a + n - 1, write);
}


// Every other signal the program handles is installed through a trampoline that first tells
// a usnet call blocked on this thread that a handler ran (sim::note_signal_handler): the
// kernel's wait loops see signal_pending, and so must ours, even for a handler that ran in
// the instant between letting signals in and going to sleep. The program's own action is
// kept here and is what sigaction reports back.
struct sigaction g_user_other[NSIG];
bool g_wrapped[NSIG];

void signal_trampoline(int sig, siginfo_t* info, void* ctx) {
    usnet::sim::note_signal_handler();
    const struct sigaction a = g_user_other[sig];
    if (a.sa_flags & SA_RESETHAND) {  // the kernel has reset the action to SIG_DFL already
        g_wrapped[sig] = false;
        g_user_other[sig] = {};
    }
    if (a.sa_flags & SA_SIGINFO) a.sa_sigaction(sig, info, ctx);
    else a.sa_handler(sig);
}

bool has_handler(const struct sigaction& a) {
    return (a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != nullptr : a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN;
}

int wrapped_sigaction(sigaction_fn* real_sa, int sig, const struct sigaction* act, struct sigaction* old) {
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) return real_sa(sig, act, old);
    std::lock_guard<std::mutex> g(g_sig_mu);
    struct sigaction prev{};
    if (g_wrapped[sig]) prev = g_user_other[sig];
    else if (real_sa(sig, nullptr, &prev) != 0) return -1;
    if (act) {
        if (has_handler(*act)) {
            struct sigaction w = *act;
            w.sa_flags |= SA_SIGINFO;
            w.sa_sigaction = signal_trampoline;
            g_user_other[sig] = *act;  // before the trampoline can run
            if (real_sa(sig, &w, nullptr) != 0) return -1;
            g_wrapped[sig] = true;
        } else {
            if (real_sa(sig, act, nullptr) != 0) return -1;
            g_wrapped[sig] = false;
        }
    }
    if (old) *old = prev;
    return 0;
}

// Set when the shim itself fails a call with EFAULT (the stack has no reason on record).
thread_local bool t_shim_fault [[gnu::tls_model("initial-exec")]] = false;

}  // namespace usnet::shim

using namespace usnet::shim;

// The interposers are the only symbols the shim exports (it is built with hidden visibility).
#pragma GCC visibility push(default)
extern "C" {

// SIGSEGV and SIGBUS: once the probe handler is installed it stays; the program's own
// actions are recorded and chained to (see probe_handler).
int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
    static sigaction_fn* real_sa = real<sigaction_fn>("sigaction");
    const int slot = fault_slot(sig);
    if (g_trap_on.load(std::memory_order_acquire)) {
        if ((act && !readable(act, sizeof *act)) || (old && !writable(old, sizeof *old))) return efault<int>();
        if (trap_owns_signal(sig)) return trap_user_sigaction(act, old);
        if (act && sigismember(&act->sa_mask, SIGSYS) == 1) {  // a handler never blocks SIGSYS (trap.cpp)
            struct sigaction a = *act;
            sigdelset(&a.sa_mask, SIGSYS);
            return sigaction(sig, &a, old);
        }
    }
    if (slot < 0) return wrapped_sigaction(real_sa, sig, act, old);
    if (g_probe_installed.load(std::memory_order_acquire) &&
        ((act && !readable(act, sizeof *act)) || (old && !writable(old, sizeof *old))))
        return efault<int>();
    std::lock_guard<std::mutex> g(g_sig_mu);
    if (!g_probe_installed.load(std::memory_order_relaxed)) return real_sa(sig, act, old);
    if (old) *old = g_user_act[slot];
    if (act) g_user_act[slot] = *act;
    return 0;
}
sighandler_t signal(int sig, sighandler_t h) {
    // Through sigaction, so that a handler is wrapped (glibc's own signal() would not be).
    if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction a{}, old{};
    a.sa_handler = h;
    sigemptyset(&a.sa_mask);
    sigaddset(&a.sa_mask, sig);
    a.sa_flags = SA_RESTART;  // glibc's signal(): BSD semantics
    if (sigaction(sig, &a, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

}  // extern "C"
#pragma GCC visibility pop
