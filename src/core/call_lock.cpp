#include "usnet/call_lock.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace usnet {

namespace {
void futex(std::atomic<uint32_t>* w, int op, uint32_t v) {
    const int saved = errno;  // the caller's errno is the program's
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, v, nullptr, nullptr, 0);
    errno = saved;
}
}  // namespace

// Drepper's "Futexes are tricky", mutex 3: 2 marks that someone may sleep, so the holder's
// unlock wakes one; a little spinning first, since calls hold the lock for microseconds.
void CallLock::wait() {
    for (int i = 0; i < 100; ++i) {
        uint32_t free = 0;
        if (state_.load(std::memory_order_relaxed) == 0 &&
            state_.compare_exchange_weak(free, 1, std::memory_order_acquire, std::memory_order_relaxed))
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    while (state_.exchange(2, std::memory_order_acquire) != 0) futex(&state_, FUTEX_WAIT_PRIVATE, 2);
}

void CallLock::wake() { futex(&state_, FUTEX_WAKE_PRIVATE, 1); }

}  // namespace usnet
