// What `usnet run --explain` and `--trace` write: one line per failing usnet call, and the
// path of each call as a tree. Neither changes what the program sees.
#include "shim.hpp"

namespace usnet::shim {

// USNET_EXPLAIN=1 (or =FILE): one line per failing usnet call saying which Linux rule
// fired, on stderr (or appended to FILE). What the program sees does not change.
const char* explain_target() {
    // (Decided once: every failed call asks, a spinning receive's EAGAIN among them.)
    static const char* const target = [] {
        const char* where = std::getenv("USNET_EXPLAIN");
        return where && *where && std::strcmp(where, "0") != 0 ? where : nullptr;
    }();
    return target;
}

void write_explain(const std::string& line) {
    const int saved = errno;
    static int out = -1;
    if (out < 0) {
        REAL(open);
        const char* where = explain_target();
        const bool to_file = where && std::strcmp(where, "1") != 0;
        out = to_file ? real_open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
        if (out >= 0) out = g_explain_fd = park_high(out);
        if (out < 0) out = STDERR_FILENO;
    }
    NATIVE(write);
    (void)!real_write(out, line.data(), line.size());
    errno = saved;
}

// The descriptor the program passed to the call in progress on this thread, and the usnet
// socket it names: a trace shows the program's numbers, not the stack's.
thread_local int t_shown_fd [[gnu::tls_model("initial-exec")]] = -1;
thread_local int t_shown_u [[gnu::tls_model("initial-exec")]] = -1;
thread_local int t_new_socket_fd [[gnu::tls_model("initial-exec")]] = -1;  // the descriptor socket() is about to return
std::atomic<bool> g_tracing{false};

// USNET_TRACE=1 (or =FILE, or =CALL,CALL...): the path of each usnet call, as a tree, on
// stderr or appended to FILE. USNET_TRACE_CALLS, USNET_TRACE_FD, USNET_TRACE_ERRORS and
// USNET_TRACE_INBOUND=0 narrow it (set by usnet run's --trace* flags).
void setup_trace(usnet::Stack& st) {
    const char* v = std::getenv("USNET_TRACE");
    if (!v || !*v || std::strcmp(v, "0") == 0) return;
    usnet::TraceOptions o;
    auto split = [](const char* text, auto add) {
        std::string cur;
        for (const char* c = text;; ++c) {
            if (*c == ',' || !*c) {
                if (!cur.empty()) add(cur);
                cur.clear();
                if (!*c) break;
            } else {
                cur += *c;
            }
        }
    };
    std::string file;
    if (std::strcmp(v, "1") != 0) {
        // A list of call names narrows the trace; anything else is the file to write.
        bool calls = true;
        const auto& known = usnet::trace_call_names();
        split(v, [&](const std::string& x) { calls = calls && std::find(known.begin(), known.end(), x) != known.end(); });
        if (calls) split(v, [&](const std::string& x) { o.calls.push_back(x); });
        else file = v;
    }
    if (const char* c = std::getenv("USNET_TRACE_CALLS")) split(c, [&](const std::string& x) { o.calls.push_back(x); });
    if (const char* f = std::getenv("USNET_TRACE_FD")) split(f, [&](const std::string& x) { o.fds.push_back(std::atoi(x.c_str())); });
    if (const char* f = std::getenv("USNET_TRACE_FILE"); f && *f) file = f;
    const char* e = std::getenv("USNET_TRACE_ERRORS");
    o.errors_only = e && *e && std::strcmp(e, "0") != 0;
    const char* in = std::getenv("USNET_TRACE_INBOUND");
    o.inbound = !(in && (std::strcmp(in, "0") == 0 || std::strcmp(in, "off") == 0));
    o.shown_fd = [](int u) {
        if (u == t_shown_u) return t_shown_fd;
        // (A socket named by several descriptors, after dup, shows as the lowest.)
        int best = -1;
        for (const auto& [real, su] : runtime().fds)
            if (su == u && (best < 0 || real < best)) best = real;
        if (best >= 0) return best;
        return t_new_socket_fd >= 0 ? t_new_socket_fd : u;
    };
    int out = STDERR_FILENO;
    if (!file.empty()) {
        REAL(open);
        out = real_open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out >= 0) out = g_trace_fd = park_high(out);
        if (out < 0) out = STDERR_FILENO;
    }
    st.set_tracer(
        [out](const std::string& tree) {
            const int saved = errno;
            NATIVE(write);
            (void)!real_write(out, tree.data(), tree.size());
            errno = saved;
        },
        std::move(o));
    g_tracing = true;
}

// read(fd, buf, 0) on a socket: sock_read_iter returns 0 at once (a recv of 0 bytes would
// take a datagram).
ssize_t read_nothing(usnet::Stack& st, int fd, int u) {
    if (g_tracing.load(std::memory_order_relaxed))
        st.trace_shim_call(usnet::ShimTrace::ReadZero, "read", "read(" + std::to_string(fd) + ", 0) = 0", 0, u, {});
    return 0;
}

}  // namespace usnet::shim
