// The world a stack lives in: a clock, and a way to let time pass while a call blocks.
// A simulation advances virtual time; a real deployment waits for real events.
#pragma once
#include <type_traits>
#include <utility>

#include "usnet/types.hpp"

namespace usnet {
namespace udp {
struct DirectRx;  // a receiving call's request for the short cut (src/udp/udp.hpp)
}

// A non-owning reference to a callable (no allocation, unlike std::function).
template <class Sig> class FnRef;
template <class R, class... A>
class FnRef<R(A...)> {
public:
    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FnRef>>>
    FnRef(F&& f) : obj_(const_cast<void*>(static_cast<const void*>(&f))),
                   call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}
    R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

private:
    void* obj_;
    R (*call_)(void*, A...);
};

class Env {
public:
    virtual ~Env() = default;
    virtual Time now() const = 0;
    // now() to within a clock tick (as the kernel's jiffies), for bookkeeping on every
    // packet where a precise read would cost more than the rest (a neighbour's last use).
    virtual Time coarse_now() const { return now(); }
    // Let the world run until ready() holds or the clock reaches deadline (kNever: no limit).
    // Returns ready(). Returns false early if nothing could ever make ready() true
    // (a closed simulation with no pending events and no deadline).
    virtual bool run_until(FnRef<bool()> ready, Time deadline) = 0;
    // Whether this thread's last run_until returned because a signal handler ran while it
    // waited (a world in real time only: the program's own signals). Reading it clears it.
    virtual bool take_interrupt() { return false; }
    // Process what is due at the current time (frames on zero-latency links), without
    // advancing the clock. Called after every send, so it must be cheap when idle.
    virtual void settle_now() { run_until([] { return false; }, now()); }
    // Take in frames that arrived from outside the process (a switch's ring) before a call
    // looks at its queues; a spinning non-blocking receive depends on it. Cheap when idle.
    virtual void poll_input() {}
    // The receive short cut: the first frame waiting outside the process, where it lies, up
    // through the host's layers to the receiving call (Link::input_direct); consumed only
    // if taken. Declined: not the call's, or a link that cannot be looked at this way (the
    // frame then waits for poll_input); None: nothing waits (poll_input would find nothing).
    enum class Offered { None, Taken, Declined };
    virtual Offered offer_input(const udp::DirectRx& /*want*/) { return Offered::Declined; }
    // run_until() for a caller that takes frames through offer_input: it also returns (true)
    // as soon as a frame waits outside, before taking it in.
    virtual bool run_until_input(FnRef<bool()> ready, Time deadline) { return run_until(ready, deadline); }
};

}  // namespace usnet
