// A timer's due time that announces each new value, so that the stack's earliest deadline
// can be kept instead of searched for on every call (StackImpl::next_deadline).
#pragma once
#include <atomic>
#include <cstdint>

#include "usnet/types.hpp"

namespace usnet {

// Bumped whenever any Deadline in the process is set: an earliest time computed before
// then may be too late. (Process-wide: a stack in another thread only costs a recount.)
inline std::atomic<uint64_t> g_deadline_changes{0};

class Deadline {
public:
    Deadline() = default;
    Deadline(Time t) : t_(t) { changed(); }  // NOLINT: as a Time
    Deadline(const Deadline& o) : t_(o.t_) { changed(); }
    Deadline& operator=(const Deadline& o) {
        t_ = o.t_;
        changed();
        return *this;
    }
    Deadline& operator=(Time t) {
        t_ = t;
        changed();
        return *this;
    }
    operator Time() const { return t_; }  // NOLINT
    Time get() const { return t_; }

private:
    static void changed() { g_deadline_changes.fetch_add(1, std::memory_order_relaxed); }
    Time t_ = kNever;
};

}  // namespace usnet
