// The lock a real-time world's callers hold around each socket call (usnet run's shim, a
// program with several threads on one Stack). Recursive, because a call may reach another
// through a callback; a futex underneath, so that an uncontended lock and unlock are two
// atomic instructions and a few loads (std::recursive_mutex costs several times that, on
// every datagram).
#pragma once
#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace usnet {

class CallLock {
public:
    CallLock() = default;
    CallLock(const CallLock&) = delete;
    CallLock& operator=(const CallLock&) = delete;

    void lock() {
        const uintptr_t me = self();
        if (owner_.load(std::memory_order_relaxed) == me) {
            ++depth_;
            return;
        }
        uint32_t free = 0;
        if (!state_.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed)) wait();
        owner_.store(me, std::memory_order_relaxed);
        depth_ = 1;
    }
    bool try_lock() {
        const uintptr_t me = self();
        if (owner_.load(std::memory_order_relaxed) == me) {
            ++depth_;
            return true;
        }
        uint32_t free = 0;
        if (!state_.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed)) return false;
        owner_.store(me, std::memory_order_relaxed);
        depth_ = 1;
        return true;
    }
    void unlock() {
        if (--depth_ > 0) return;
        owner_.store(0, std::memory_order_relaxed);
        if (state_.exchange(0, std::memory_order_release) == 2) wake();
    }
    // Whether the calling thread holds it.
    bool held() const { return owner_.load(std::memory_order_relaxed) == self(); }

private:
    // This thread (pthread_self is one load from the thread's own block).
    static uintptr_t self() { return uintptr_t(pthread_self()); }
    void wait();  // contended: sleeps on state_ (2: held, and someone sleeps)
    void wake();

    std::atomic<uint32_t> state_{0};  // 0 free, 1 held, 2 held with sleepers
    std::atomic<uintptr_t> owner_{0};  // pthread_self() of the holder, 0 when free
    uint32_t depth_ = 0;  // the owner's only
};

}  // namespace usnet
