// The tracer behind Stack::set_tracer: trace points (core/trace_points.hpp) write indented
// steps into the tree of the call (or arriving frame, or timer) in progress; the tree goes
// to the sink when it ends. Off, a trace point costs one test of a pointer.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
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

// The tracer of the call in progress on this thread (for sock::fail), or null.
extern thread_local Tracer* t_current;

// The shim's name for the call when it differs from the stack's (read() is a recv).
extern thread_local const char* t_call_as;

// RAII indentation for the steps of a nested function.
class Indent {
public:
    explicit Indent(Tracer* t) : t_(t) {
        if (t_) t_->indent();
    }
    ~Indent() {
        if (t_) t_->outdent();
    }
    Indent(const Indent&) = delete;
    Indent& operator=(const Indent&) = delete;

private:
    Tracer* t_;
};

// An arriving frame or a timer, as a tree (or subtree) of its own.
class Event {
public:
    // head() names the event; it is only called when tracing.
    template <class F>
    Event(Tracer* t, F&& head) : t_(t) {
        if (t_) t_->begin_event(head());
    }
    ~Event() {
        if (t_) t_->end_event();
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

private:
    Tracer* t_;
};

}  // namespace usnet::trace

// A step at this point of the code; S is the StackImpl. Arguments are only evaluated when
// tracing.
#define USNET_TRACE(S, ID, ...)                                                       \
    do {                                                                              \
        if (__builtin_expect((S).tracer != nullptr, 0))                               \
            (S).tracer->step(::usnet::trace::P::ID, {__VA_ARGS__});                   \
    } while (0)
#define USNET_TRACE_CAT2(a, b) a##b
#define USNET_TRACE_CAT(a, b) USNET_TRACE_CAT2(a, b)
#define USNET_TRACE_INDENT(S) ::usnet::trace::Indent USNET_TRACE_CAT(usnet_trace_indent_, __LINE__)((S).tracer)
