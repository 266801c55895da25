// The tracer: templates rendered into indented trees, filtered, handed to the sink.
#include "core/trace.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace usnet::trace {

thread_local Tracer* t_current [[gnu::tls_model("initial-exec")]] = nullptr;
thread_local const char* t_call_as [[gnu::tls_model("initial-exec")]] = nullptr;

namespace {

const PointDef kPoints[] = {
#define USNET_TRACE_DEF(id, tmpl) {#id, tmpl},
    USNET_TRACE_POINTS(USNET_TRACE_DEF)
#undef USNET_TRACE_DEF
};

// Linux names that reach a template as arguments (besides the errno table's rules).
const char* const kNameArgs[] = {
    // system call entries
    "__sys_bind", "__sys_connect", "__sys_getsockname", "__sys_getpeername", "__sys_sendto", "__sys_sendmsg",
    "__sys_sendmmsg", "__sys_recvfrom", "__sys_recvmsg", "__sys_recvmmsg", "__sys_shutdown", "__sys_setsockopt",
    "__sys_getsockopt", "__sys_listen", "__sys_accept4", "sock_ioctl", "do_fcntl", "sock_read_iter",
    "sock_write_iter", "sock_close",
    // protocol tables and their handlers
    "udp_prot", "ping_prot", "udp_recvmsg", "ping_recvmsg", "udp_setsockopt", "udp_getsockopt", "udp_lib_setsockopt", "udp_lib_getsockopt", "ip_setsockopt", "ip_getsockopt",
    "do_ip_setsockopt", "do_ip_getsockopt", "udp_ioctl", "udp_lib_close", "ping_close", "udp_lib_unhash", "ping_unhash", "udp_err",
    "ping_err", "udp_rcv", "icmp_rcv", "igmp_rcv", "sock_no_listen", "sock_no_accept", "close_fd",
    // interface ioctls and receive timestamps
    "dev_ifconf", "dev_ioctl", "devinet_ioctl", "sock_gettstamp",
    // the shim's descriptor calls
    "fget_raw", "ksys_dup3", "f_dupfd",
};

const char* const kCalls[] = {"socket",  "socketpair", "bind",     "connect",  "getsockname", "getpeername",
                              "send",    "sendto",     "sendmsg",  "sendmmsg", "recv",        "recvfrom",
                              "recvmsg", "recvmmsg",   "read",     "write",    "readv",       "writev",
                              "shutdown", "close",     "setsockopt", "getsockopt", "ioctl",   "fcntl",
                              "poll",    "listen",     "accept",   "dup",      "dup2",        "dup3",
                              "epoll_ctl", "epoll_wait"};

// The Linux names in a rule such as "inet_bind/ip4_datagram_connect",
// "fib_props[RTN_BLACKHOLE]" or "do_ip_setsockopt(IP_MULTICAST_IF)". Parts naming usnet
// itself ("usnet simulation") or nothing ("(various)") are not Linux names.
template <class F>
void for_each_name(std::string_view rule, F&& f) {
    size_t pos = 0;
    while (pos <= rule.size()) {
        size_t end = rule.find('/', pos);
        if (end == std::string_view::npos) end = rule.size();
        std::string_view part = rule.substr(pos, end - pos);
        part = part.substr(0, std::min(part.find('['), part.find('(')));
        if (!part.empty() && part.rfind("usnet", 0) != 0) f(part);
        pos = end + 1;
    }
}

bool listed(std::string_view name) {
    bool ok = true;
    const auto& all = name_args();
    for_each_name(name, [&](std::string_view part) {
        ok = ok && std::find(all.begin(), all.end(), part) != all.end();
    });
    return ok;
}

}  // namespace

const PointDef& point(P p) { return kPoints[size_t(p)]; }

std::string event_head(EventKind k, const std::string& what, long n) {
    switch (k) {
        case EventKind::Frame: return what + " receives a frame of " + std::to_string(n) + " bytes";
        case EventKind::Loopback: return "lo delivers " + std::to_string(n) + " bytes (softirq)";
        case EventKind::Timer: return "timer: " + what;
    }
    return what;
}

const std::vector<std::string>& name_args() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> v(std::begin(kNameArgs), std::end(kNameArgs));
        for (int i = 1; i < int(Err::Count); ++i)
            for_each_name(rule_of(Err(i)), [&](std::string_view part) {
                if (std::find(v.begin(), v.end(), part) == v.end()) v.emplace_back(part);
            });
        return v;
    }();
    return all;
}

Tracer::Tracer(TraceSink sink, TraceOptions o) : sink_(std::move(sink)), opts_(std::move(o)) {
    static std::atomic<uint64_t> next{1};
    id_ = next++;
}

Tracer::State& Tracer::state() {
    thread_local std::vector<std::pair<uint64_t, std::unique_ptr<State>>> states;
    for (auto& [id, st] : states)
        if (id == id_) return *st;
    states.emplace_back(id_, std::make_unique<State>());
    return *states.back().second;
}

bool Tracer::in_call() {
    for (const auto& f : state().frames)
        if (f.call) return true;
    return false;
}

const char* Tracer::call_name() {
    const State& st = state();
    for (auto it = st.frames.rbegin(); it != st.frames.rend(); ++it)
        if (it->call) return it->name;
    return "";
}

bool Tracer::wanted_call(const char* call) const {
    if (opts_.calls.empty()) return true;
    return std::find(opts_.calls.begin(), opts_.calls.end(), call) != opts_.calls.end();
}

void Tracer::write_line(State& st, int depth, const std::string& text) {
    if (!st.frames.empty() && !st.frames.back().keep) return;
    std::string line(size_t(2 * depth), ' ');
    line += text;
    line += '\n';
    if (st.frames.empty()) {
        sink_(line);  // a step outside any call or event stands alone
        return;
    }
    st.buf += line;
}

void Tracer::step(P p, std::initializer_list<Arg> args) {
    State& st = state();
    const char* t = kPoints[size_t(p)].tmpl;
    std::string out;
    auto arg = args.begin();
    for (const char* c = t; *c; ++c) {
        if (*c == '`') {
            if (c[1] == '{' && c[2] == '}' && c[3] == '`') {
                // A Linux name given at run time: it must be one the list knows.
                const std::string& v = arg != args.end() ? (arg++)->s : std::string();
                out += listed(v) ? v : "<unlisted name: " + v + ">";
                c += 3;
            }
            continue;
        }
        if (c[0] == '{' && c[1] == '}') {
            if (arg != args.end()) out += (arg++)->s;
            ++c;
            continue;
        }
        out += *c;
    }
    write_line(st, st.depth, out);
    // A step that gives the call its errno ("-> -ENOTCONN") has said why the call failed.
    const size_t at = out.rfind("-> -E");
    if (at != std::string::npos && at + 5 < out.size() && std::isupper(static_cast<unsigned char>(out[at + 5])))
        for (auto it = st.frames.rbegin(); it != st.frames.rend(); ++it)
            if (it->call) {
                it->explained = true;
                break;
            }
}

void Tracer::fail(Err e) {
    State& st = state();
    for (auto it = st.frames.rbegin(); it != st.frames.rend(); ++it) {
        if (!it->call) continue;
        if (it->explained) return;
        it->explained = true;
        const char* n = strerrorname_np(to_errno(e));
        step(P::Fail, {rule_of(e), n ? n : "?", reason_of(e)});
        return;
    }
}

void Tracer::begin_call(const char* call, int fd) {
    State& st = state();
    const bool parent_keep = st.frames.empty() || st.frames.back().keep;
    st.frames.push_back({true, parent_keep && wanted_call(call), st.buf.size(), st.depth, fd, call, false});
    ++st.depth;
    t_current = this;
}

void Tracer::end_call(const std::string& head, long ret, int fd) {
    State& st = state();
    Frame f = st.frames.back();
    st.frames.pop_back();
    st.depth = f.depth;
    if (fd < 0) fd = f.fd;
    bool keep = f.keep && (!opts_.errors_only || ret < 0);
    if (keep && !opts_.fds.empty())
        keep = fd >= 0 && std::find(opts_.fds.begin(), opts_.fds.end(), shown(fd)) != opts_.fds.end();
    if (keep) st.buf.insert(f.start, std::string(size_t(2 * f.depth), ' ') + head + "\n");
    else st.buf.resize(f.start);
    if (!in_call()) t_current = nullptr;
    flush_if_top(st);
}

void Tracer::begin_event(const std::string& head) {
    State& st = state();
    // Inside a call the event is part of its tree; alone it is shown unless the trace is
    // narrowed to some calls, descriptors or errors.
    const bool alone = st.frames.empty();
    const bool keep = opts_.inbound && (alone ? opts_.calls.empty() && opts_.fds.empty() && !opts_.errors_only
                                              : st.frames.back().keep);
    st.frames.push_back({false, keep, st.buf.size(), st.depth, -1, "", false});
    if (keep) st.buf += std::string(size_t(2 * st.depth), ' ') + head + "\n";
    ++st.depth;
}

void Tracer::end_event() {
    State& st = state();
    Frame f = st.frames.back();
    st.frames.pop_back();
    st.depth = f.depth;
    if (!f.keep) st.buf.resize(f.start);
    flush_if_top(st);
}

void Tracer::flush_if_top(State& st) {
    if (!st.frames.empty() || st.buf.empty()) return;
    std::string out;
    out.swap(st.buf);
    sink_(out);
}

}  // namespace usnet::trace

namespace usnet {

void trace_call_as(const char* call) { trace::t_call_as = call; }

const std::vector<std::string>& trace_call_names() {
    static const std::vector<std::string> all(std::begin(trace::kCalls), std::end(trace::kCalls));
    return all;
}

}  // namespace usnet
