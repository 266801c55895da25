// The C API: thin forwarding to the current Stack.
#include "usnet/usnet.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "usnet/sim.hpp"
#include "usnet/stack.hpp"

struct usnet_world {
    usnet::sim::DefaultWorld w;
};

namespace {
usnet::Stack* g_current = nullptr;
std::unique_ptr<usnet_world> g_default;
std::once_flag g_once;

usnet::Stack& cur() {
    if (!g_current) {
        std::call_once(g_once, [] {
            g_default = std::make_unique<usnet_world>();
            g_default->w = usnet::sim::make_default_world(1);
            if (!g_current) g_current = g_default->w.host;
        });
    }
    return *g_current;
}
}  // namespace

extern "C" {

usnet_world* usnet_world_new_default(uint64_t seed) {
    auto* w = new usnet_world;
    w->w = usnet::sim::make_default_world(seed);
    return w;
}
void usnet_world_free(usnet_world* w) {
    if (w && (reinterpret_cast<usnet::Stack*>(usnet_world_host(w)) == g_current ||
              reinterpret_cast<usnet::Stack*>(usnet_world_gateway(w)) == g_current))
        g_current = nullptr;
    delete w;
}
usnet_world* usnet_world_new_tap(const char* tap, const char* addr, const char* gateway, char* err, size_t errlen) {
    std::string text = std::string("tap ") + (tap ? tap : "") + "\naddr " + (addr ? addr : "") + "\n";
    if (gateway) text += std::string("gateway ") + gateway + "\n";
    usnet::sim::WorldSpec spec;
    std::string why;
    auto w = std::make_unique<usnet_world>();
    if (usnet::sim::parse_world(text, &spec, &why)) w->w = usnet::sim::build_world(spec, usnet::config_from_host(), &why);
    if (!w->w.net) {
        if (err && errlen) std::snprintf(err, errlen, "%s", why.c_str());
        return nullptr;
    }
    w->w.net->set_realtime(nullptr);  // one caller at a time: it sleeps on the TAP itself
    return w.release();
}
void usnet_world_run(usnet_world* w, int timeout_ms) {
    if (w && w->w.net && timeout_ms > 0) w->w.net->run_for(usnet::Time(timeout_ms) * usnet::kMs);
}
usnet_stack* usnet_world_host(usnet_world* w) { return reinterpret_cast<usnet_stack*>(w->w.host); }
usnet_stack* usnet_world_gateway(usnet_world* w) { return reinterpret_cast<usnet_stack*>(w->w.gateway); }
void usnet_use(usnet_stack* s) { g_current = reinterpret_cast<usnet::Stack*>(s); }
usnet_stack* usnet_current(void) { return reinterpret_cast<usnet_stack*>(&cur()); }

int usnet_set_tracer(usnet_stack* s, usnet_trace_fn fn, void* user, const char* calls, int fd, int flags) {
    auto& st = *reinterpret_cast<usnet::Stack*>(s);
    if (!fn) {
        st.set_tracer(nullptr);
        return 0;
    }
    usnet::TraceOptions o;
    if (calls) {
        const auto& known = usnet::trace_call_names();
        std::string all = calls;
        for (size_t pos = 0; pos <= all.size();) {
            const size_t end = std::min(all.find(',', pos), all.size());
            const std::string name = all.substr(pos, end - pos);
            if (std::find(known.begin(), known.end(), name) == known.end()) {
                errno = EINVAL;
                return -1;
            }
            o.calls.push_back(name);
            pos = end + 1;
        }
    }
    if (fd >= 0) o.fds.push_back(fd);
    o.errors_only = flags & USNET_TRACE_ERRORS_ONLY;
    o.inbound = !(flags & USNET_TRACE_NO_INBOUND);
    st.set_tracer([fn, user](const std::string& tree) { fn(tree.c_str(), user); }, std::move(o));
    return 0;
}

int usnet_socket(int d, int t, int p) { return cur().socket(d, t, p); }
int usnet_bind(int fd, const sockaddr* a, socklen_t l) { return cur().bind(fd, a, l); }
int usnet_connect(int fd, const sockaddr* a, socklen_t l) { return cur().connect(fd, a, l); }
int usnet_getsockname(int fd, sockaddr* a, socklen_t* l) { return cur().getsockname(fd, a, l); }
int usnet_getpeername(int fd, sockaddr* a, socklen_t* l) { return cur().getpeername(fd, a, l); }
ssize_t usnet_send(int fd, const void* b, size_t n, int f) { return cur().send(fd, b, n, f); }
ssize_t usnet_sendto(int fd, const void* b, size_t n, int f, const sockaddr* to, socklen_t tl) {
    return cur().sendto(fd, b, n, f, to, tl);
}
ssize_t usnet_sendmsg(int fd, const msghdr* m, int f) { return cur().sendmsg(fd, m, f); }
int usnet_sendmmsg(int fd, mmsghdr* m, unsigned int v, int f) { return cur().sendmmsg(fd, m, v, f); }
ssize_t usnet_recv(int fd, void* b, size_t n, int f) { return cur().recv(fd, b, n, f); }
ssize_t usnet_recvfrom(int fd, void* b, size_t n, int f, sockaddr* from, socklen_t* fl) {
    return cur().recvfrom(fd, b, n, f, from, fl);
}
ssize_t usnet_recvmsg(int fd, msghdr* m, int f) { return cur().recvmsg(fd, m, f); }
int usnet_recvmmsg(int fd, mmsghdr* m, unsigned int v, int f, timespec* t) { return cur().recvmmsg(fd, m, v, f, t); }
int usnet_shutdown(int fd, int how) { return cur().shutdown(fd, how); }
int usnet_close(int fd) { return cur().close(fd); }
int usnet_setsockopt(int fd, int lv, int n, const void* v, socklen_t l) { return cur().setsockopt(fd, lv, n, v, l); }
int usnet_getsockopt(int fd, int lv, int n, void* v, socklen_t* l) { return cur().getsockopt(fd, lv, n, v, l); }
int usnet_ioctl(int fd, unsigned long r, void* a) { return cur().ioctl(fd, r, a); }
int usnet_fcntl(int fd, int c, long a) { return cur().fcntl(fd, c, a); }
int usnet_poll(pollfd* f, nfds_t n, int t) { return cur().poll(f, n, t); }

const char* usnet_last_error_reason(void) {
    thread_local std::string text;
    text = cur().explain_last_error();
    return text.c_str();
}

}  // extern "C"
