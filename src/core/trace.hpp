// The tracer behind Stack::set_tracer: trace points (core/trace_points.hpp) write indented
// steps into the tree of the call (or arriving frame, or timer) in progress; the tree goes
// to the sink when it ends. Off, a trace point costs one test of a pointer.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/trace_points.hpp"
#include "usnet/errors.hpp"
#include "usnet/trace.hpp"
#include "usnet/types.hpp"

namespace usnet::trace {

struct PointDef {
    const char* id;
    const char* tmpl;
};
const PointDef& point(P p);
constexpr size_t kPointCount = size_t(P::Count);
// Every value that fills a `{}` (a Linux name given at run time): the system call entry
// functions, protocol tables and handlers, and each error rule of the errno table.
const std::vector<std::string>& name_args();

// A value for a template's {}: rendered when the step is written (tracing on only).
struct Arg {
    std::string s;
    Arg(const char* v) : s(v) {}
    Arg(std::string v) : s(std::move(v)) {}
    Arg(std::string_view v) : s(v) {}
    Arg(Ip4 a) : s(a.str()) {}
    Arg(bool b) : s(b ? "1" : "0") {}
    template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
    Arg(T v) : s(std::to_string(v)) {}
};

class Tracer {
public:
    Tracer(TraceSink sink, TraceOptions o);

    void step(P p, std::initializer_list<Arg> args);
    void indent() { ++state().depth; }
    void outdent() {
        State& st = state();
        if (st.depth > 0) --st.depth;
    }

    // A socket call: its steps are kept until end_call, which writes its first line (the
    // call and its result). fd: the descriptor it acted on or created (-1: the one given
    // at begin_call), for the descriptor filter.
    void begin_call(const char* call, int fd);
    void end_call(const std::string& head, long ret, int fd = -1);
    // A frame arriving or a timer firing: a tree of its own, or a subtree of the call in
    // progress (loopback traffic is delivered before the sending call returns).
    void begin_event(const std::string& head);
    void end_event();
    bool in_call();
    // The innermost call in progress on this thread ("" if none).
    const char* call_name();
    int shown(int fd) const { return opts_.shown_fd ? opts_.shown_fd(fd) : fd; }
    // The call failed: unless a step already said why, say which rule fired.
    void fail(Err e);

private:
    struct Frame {
        bool call;
        bool keep;         // false: filtered out (its lines are discarded)
        size_t start;      // where its first line goes in buf
        int depth;         // depth of its first line
        int fd;
        const char* name;
        bool explained;    // a step already reported the failing decision
    };
    // Each thread builds its own trees: a call blocked in one thread must not take in the
    // steps of another thread's calls or of frames a pump thread takes in meanwhile.
    struct State {
        std::vector<Frame> frames;
        std::string buf;
        int depth = 0;
    };
    State& state();
    void write_line(State& st, int depth, const std::string& text);
    void flush_if_top(State& st);
    bool wanted_call(const char* call) const;

    TraceSink sink_;
    TraceOptions opts_;
    uint64_t id_;  // tells this tracer's per-thread states from those of a tracer that is gone
};

// The out-of-line half of a trace point: the arguments are built here, so the traced
// function itself holds only a test and a call (its fast path stays as it was).
template <class F>
[[gnu::noinline, gnu::cold]] void cold_step(Tracer* t, P p, F&& args) {
    args(t, p);
}
[[gnu::noinline, gnu::cold]] inline void cold_indent(Tracer* t, int d) {
    if (d > 0) t->indent();
    else t->outdent();
}

// The tracer of the call in progress on this thread (for sock::fail), or null.
// Hot thread-locals are initial-exec: in a shared library (the shim, libusnet.so) the
// default model calls __tls_get_addr on every access; these few bytes fit the static TLS
// surplus glibc keeps even for a dlopen'ed library.
extern thread_local Tracer* t_current [[gnu::tls_model("initial-exec")]];

// The shim's name for the call when it differs from the stack's (read() is a recv).
extern thread_local const char* t_call_as [[gnu::tls_model("initial-exec")]];

// The tracer of the untraced copy of a function (USNET_TRACER): a constant null, so the
// trace points in that copy are not even compiled.
struct NoTracer {
    constexpr operator Tracer*() const { return nullptr; }
};
template <class T>
inline constexpr bool can_trace = !std::is_same_v<std::decay_t<T>, NoTracer>;
template <bool Tr, class S>
auto tracer_of(S& s) {
    if constexpr (Tr) return s.tracer;
    else return NoTracer{};
}

// RAII indentation for the steps of a nested function (nothing at all without a tracer).
template <class T>
class Indent;
template <>
class Indent<NoTracer> {
public:
    explicit Indent(NoTracer) {}
};
template <>
class Indent<Tracer*> {
public:
    explicit Indent(Tracer* t) : t_(t) {
        if (__builtin_expect(t_ != nullptr, 0)) cold_indent(t_, 1);
    }
    ~Indent() {
        if (__builtin_expect(t_ != nullptr, 0)) cold_indent(t_, -1);
    }
    Indent(const Indent&) = delete;
    Indent& operator=(const Indent&) = delete;

private:
    Tracer* t_;
};
Indent(NoTracer) -> Indent<NoTracer>;
Indent(Tracer*) -> Indent<Tracer*>;

// An arriving frame or a timer, as a tree (or subtree) of its own. Its first line is made
// from plain values (no closure), so the untraced copy keeps nothing of it.
enum class EventKind : uint8_t {
    Frame,     // "<dev> receives a frame of <n> bytes"
    Loopback,  // "lo delivers <n> bytes (softirq)"
    Timer,     // "timer: <what>"
};
std::string event_head(EventKind k, const std::string& what, long n);
template <class T>
class Event;
template <>
class Event<NoTracer> {
public:
    Event(NoTracer, EventKind, const std::string&, long) {}
};
template <>
class Event<Tracer*> {
public:
    Event(Tracer* t, EventKind k, const std::string& what, long n) : t_(t) {
        if (__builtin_expect(t_ != nullptr, 0)) begin(t_, k, what, n);
    }
    ~Event() {
        if (__builtin_expect(t_ != nullptr, 0)) end(t_);
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

private:
    [[gnu::noinline, gnu::cold]] static void begin(Tracer* t, EventKind k, const std::string& what, long n) {
        t->begin_event(event_head(k, what, n));
    }
    [[gnu::noinline, gnu::cold]] static void end(Tracer* t) { t->end_event(); }
    Tracer* t_;
};
Event(NoTracer, EventKind, const std::string&, long) -> Event<NoTracer>;
Event(Tracer*, EventKind, const std::string&, long) -> Event<Tracer*>;

}  // namespace usnet::trace

// A step at this point of the code; TR is the tracer (null: not tracing). Arguments are
// only evaluated when tracing, in a cold function of their own.
#define USNET_TRACE(TR, ID, ...)                                                                       \
    do {                                                                                               \
        if constexpr (::usnet::trace::can_trace<decltype(TR)>) {                                       \
            if (::usnet::trace::Tracer* const tr_at_ = (TR); __builtin_expect(tr_at_ != nullptr, 0))   \
                ::usnet::trace::cold_step(tr_at_, ::usnet::trace::P::ID,                               \
                                          [&](::usnet::trace::Tracer* t_, ::usnet::trace::P p_) {      \
                                              t_->step(p_, {__VA_ARGS__});                             \
                                          });                                                          \
        }                                                                                              \
    } while (0)
#define USNET_TRACE_CAT2(a, b) a##b
#define USNET_TRACE_CAT(a, b) USNET_TRACE_CAT2(a, b)
#define USNET_TRACE_INDENT(TR) ::usnet::trace::Indent USNET_TRACE_CAT(usnet_trace_indent_, __LINE__)(TR)
// `USNET_IF_TRACING(tr_) { ... }`: code only for tracing, gone from the untraced copy.
#define USNET_IF_TRACING(TR) if constexpr (::usnet::trace::can_trace<decltype(TR)>) if (TR)

// The datagram path is compiled twice, as template <bool Tr>: in the copy without tracing
// tr_ is a NoTracer and every trace point in it compiles to nothing; the stack picks the
// copy once, where a call or a frame enters (USNET_TRACED), and each copy calls the next
// layer's copy of the same kind.
#define USNET_TRACER(S) const auto tr_ = ::usnet::trace::tracer_of<Tr>(S)
#define USNET_TRACED(S, FN, ...) ((S).tracer ? FN<true>(__VA_ARGS__) : FN<false>(__VA_ARGS__))
