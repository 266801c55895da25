// Stack: construction, interface/address/route configuration, and the driving loop.
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <type_traits>

#include "core/stack_impl.hpp"
#include "socket/socket_layer.hpp"

namespace usnet {

StackConfig config_from_host(StackConfig c) {
    auto read = [](const char* path, auto* v) {
        std::ifstream f(path);
        long long x;
        if (f >> x && x > 0) *v = static_cast<std::remove_pointer_t<decltype(v)>>(x);
    };
    read("/proc/sys/net/core/rmem_default", &c.rmem_default);
    read("/proc/sys/net/core/rmem_max", &c.rmem_max);
    read("/proc/sys/net/core/wmem_default", &c.wmem_default);
    read("/proc/sys/net/core/wmem_max", &c.wmem_max);
    read("/proc/sys/net/ipv4/ip_default_ttl", &c.default_ttl);
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    unsigned lo, hi;
    if (range >> lo >> hi && lo > 0 && lo <= hi && hi < 65536) {
        c.port_lo = uint16_t(lo);
        c.port_hi = uint16_t(hi);
    }
    return c;
}

StackImpl::StackImpl(StackConfig c) : cfg(std::move(c)), rng(cfg.seed) {
    // Warm the pool so steady-state traffic never reaches the heap.
    pool.reserve(256, 16);
}

Time StackImpl::realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return Time(ts.tv_sec) * kSec + ts.tv_nsec;
}

StackImpl::~StackImpl() {
    // Sockets hold packets; release them before the pool goes.
    fds.clear();
    for (auto& i : ifaces)
        for (auto& n : i->neigh) n.pending.clear();
}

int StackImpl::add_interface(std::unique_ptr<link::Interface> ifc) {
    int idx = 1;
    for (auto& i : ifaces) idx = std::max(idx, i->ifindex + 1);
    ifc->ifindex = idx;
    ifaces.push_back(std::move(ifc));
    return idx;
}

void StackImpl::run_timers() {
    const Time t = now();
    link.timers(t);
    ip.timers(t);
    link.run_backlog();
    // (A timer that went away without a new one set leaves the kept time early: counted
    // again here, after the one wasted look it cost.)
    next_due_changes_ = ~uint64_t(0);
}

Time StackImpl::next_deadline() const {
    const uint64_t changes = g_deadline_changes.load(std::memory_order_relaxed);
    if (changes != next_due_changes_) {
        next_due_ = std::min(link.next_deadline(), ip.next_deadline());
        next_due_changes_ = changes;
    }
    return next_due_;
}

bool SoloEnv::run_until(FnRef<bool()> ready, Time deadline) {
    for (;;) {
        if (ready()) return true;
        const Time next = s_.next_deadline();
        if (next == kNever && deadline == kNever) return false;
        if (next > deadline) {
            now_ = std::max(now_, deadline);
            return ready();
        }
        now_ = std::max(now_, next);
        s_.run_timers();
    }
}

namespace {
struct DropRow {
    const char* name;
    const char* text;
};
const DropRow kDrops[] = {
#define USNET_DROP_ROW(name, text) {#name, text},
    USNET_DROP_REASONS(USNET_DROP_ROW)
#undef USNET_DROP_ROW
};
}  // namespace

const char* drop_name(DropReason r) { return kDrops[size_t(r)].name; }
const char* drop_text(DropReason r) { return kDrops[size_t(r)].text; }

// "drop: WHAT: TEXT (Name, N so far)", built by appending: g++ 12 at -O3 sees a false
// -Wrestrict overlap in chains of std::string operator+ (GCC bug 105651).
static std::string drop_line(const std::string& what, DropReason r, uint64_t count) {
    std::string line = "drop: ";
    line += what;
    line += ": ";
    line += drop_text(r);
    line += " (";
    line += drop_name(r);
    line += ", ";
    line += std::to_string(count);
    line += " so far)";
    return line;
}

void StackImpl::report_drop(DropReason r, Ip4 src, uint16_t sport, Ip4 dst, uint16_t dport) {
    std::string what = src.str();
    if (sport) what.append(":").append(std::to_string(sport));
    what += " -> ";
    what += dst.str();
    if (dport) what.append(":").append(std::to_string(dport));
    drop_observer(r, drop_line(what, r, ctr.drops[size_t(r)]));
}

void StackImpl::drop_frame(DropReason r, const uint8_t* frame, uint32_t len) {
    ++ctr.drops[size_t(r)];
    if (!drop_observer) return;
    std::string what = "a frame";
    if (len >= 12) {
        Mac dst, src;
        std::memcpy(dst.b.data(), frame, 6);
        std::memcpy(src.b.data(), frame + 6, 6);
        what = "frame ";
        what.append(src.str()).append(" -> ").append(dst.str());
    }
    what.append(" (").append(std::to_string(len)).append(" bytes)");
    drop_observer(r, drop_line(what, r, ctr.drops[size_t(r)]));
}

std::string counters_text(const Counters& c) {
    std::string out;
    for_each_counter(c, [&](const char* sec, const char* name, uint64_t v) {
        if (v) out += std::string(sec) + name + " " + std::to_string(v) + "\n";
    });
    for (size_t i = 0; i < size_t(DropReason::Count); ++i)
        if (c.drops[i]) out += std::string("UsnetDrop") + kDrops[i].name + " " + std::to_string(c.drops[i]) + "\n";
    return out;
}

void Stack::set_tracer(TraceSink sink, TraceOptions opts) {
    impl_->tracer = nullptr;
    impl_->tracer_owned.reset();
    if (!sink) return;
    impl_->tracer_owned = std::make_unique<trace::Tracer>(std::move(sink), std::move(opts));
    impl_->tracer = impl_->tracer_owned.get();
}

bool Stack::tracing() const { return impl_->tracer != nullptr; }

void Stack::trace_shim_call(ShimTrace kind, const char* call, const std::string& head, long ret, int fd,
                            const std::vector<std::string>& v) {
    trace::Tracer* t = impl_->tracer;
    if (!t) return;
    t->begin_call(call, fd);
    auto at = [&](size_t i) { return i < v.size() ? v[i] : std::string(); };
    switch (kind) {
        case ShimTrace::Dup: t->step(trace::P::ShimDup, {at(0), at(1), at(2)}); break;
        case ShimTrace::EpollCtl: t->step(trace::P::ShimEpollCtl, {at(0), at(1), at(2)}); break;
        case ShimTrace::EpollWait: t->step(trace::P::ShimEpollWait, {at(0), at(1)}); break;
        case ShimTrace::CloseRef: t->step(trace::P::ShimCloseRef, {at(0), at(1)}); break;
        case ShimTrace::PollMixed: t->step(trace::P::ShimPollMixed, {at(0), at(1), at(2)}); break;
        case ShimTrace::ReadZero: t->step(trace::P::ShimReadZero, {}); break;
    }
    t->end_call(head, ret, fd);
}

void Stack::set_drop_observer(std::function<void(DropReason, const std::string&)> fn) {
    impl_->drop_observer = std::move(fn);
}

Stack::Stack(StackConfig cfg) : impl_(std::make_unique<StackImpl>(std::move(cfg))) {}
Stack::~Stack() = default;

int Stack::add_loopback() {
    auto ifc = std::make_unique<link::Interface>();
    ifc->name = "lo";
    ifc->mtu = 65536;
    ifc->loopback = true;
    const int idx = impl_->add_interface(std::move(ifc));
    add_address(idx, Ip4(127, 0, 0, 1), 8);
    return idx;
}

int StackImpl::add_address(int ifindex, Ip4 addr, int prefix_len) {
    link::Interface* ifc = iface(ifindex);
    if (!ifc) return -ENODEV;
    if (prefix_len < 0 || prefix_len > 32) return -EINVAL;
    for (auto& a : ifc->addrs)
        if (a.addr == addr) return -EEXIST;
    link::IfAddr a{addr, prefix_len, Ip4(addr.v | ~prefix_mask(prefix_len)), false, Ip4()};
    for (auto& x : ifc->addrs)
        if (!x.secondary && x.prefix == prefix_len && ((x.addr.v ^ addr.v) & prefix_mask(prefix_len)) == 0) a.secondary = true;
    ifc->addrs.push_back(a);
    ip.add_ifaddr_routes(*ifc, a);
    return 0;
}

int Stack::add_address(int ifindex, Ip4 addr, int prefix_len) { return impl_->add_address(ifindex, addr, prefix_len); }

int StackImpl::del_address(int ifindex, Ip4 addr, int prefix_len) {
    link::Interface* ifc = iface(ifindex);
    if (!ifc) return -ENODEV;
    for (size_t i = 0; i < ifc->addrs.size(); ++i) {
        if (ifc->addrs[i].addr == addr && ifc->addrs[i].prefix == prefix_len) {
            ip.del_ifaddr_routes(*ifc, ifc->addrs[i]);
            ifc->addrs.erase(ifc->addrs.begin() + long(i));
            if (ifc->addrs.empty()) ip.flush_dev_routes(ifindex, true);
            return 0;
        }
    }
    return -EADDRNOTAVAIL;
}

int Stack::del_address(int ifindex, Ip4 addr, int prefix_len) { return impl_->del_address(ifindex, addr, prefix_len); }

int Stack::add_route(const RouteSpec& r) {
    if (r.prefix_len < 0 || r.prefix_len > 32) return -EINVAL;
    if (r.ifindex && !impl_->iface(r.ifindex)) return -ENODEV;
    RouteSpec spec = r;
    spec.dst = Ip4(r.dst.v & prefix_mask(r.prefix_len));
    if (spec.type == RouteType::Unicast && !spec.ifindex) {
        // `ip route add ... via GW`: the device is the one that reaches GW directly.
        const ip::Route* via = impl_->ip.lookup(spec.gateway);
        if (!via || via->spec.type != RouteType::Unicast || !via->spec.gateway.any()) return -ENETUNREACH;
        spec.ifindex = via->spec.ifindex;
    }
    if (spec.type == RouteType::Unicast && !spec.gateway.any() && r.ifindex) {
        // fib_check_nh: a gateway must be on-link on the device named ("Nexthop has invalid
        // gateway": ENETUNREACH).
        const ip::Route* via = impl_->ip.lookup(spec.gateway);
        if (!via || via->spec.type != RouteType::Unicast || !via->spec.gateway.any() || via->spec.ifindex != r.ifindex)
            return -ENETUNREACH;
    }
    const bool local = spec.type == RouteType::Local || spec.type == RouteType::Broadcast;
    // `ip route add` asks for NLM_F_EXCL: a route with the same key (prefix and metric) in
    // the same table is EEXIST, whatever its type or next hop (fib_table_insert).
    for (const auto& x : impl_->ip.routes)
        if (x.local_table == local && x.spec.dst == spec.dst && x.spec.prefix_len == spec.prefix_len &&
            x.spec.metric == spec.metric)
            return -EEXIST;
    impl_->ip.add_route({spec, local, spec.gateway.any() && !local ? ip::Scope::Link : ip::Scope::Universe});
    return 0;
}

int Stack::del_route(Ip4 dst, int prefix_len) {
    return impl_->ip.del_route(Ip4(dst.v & prefix_mask(prefix_len)), prefix_len, false) ? 0 : -ESRCH;
}

int StackImpl::set_link_up(int ifindex, bool up) {
    link::Interface* ifc = iface(ifindex);
    if (!ifc) return -ENODEV;
    if (ifc->up == up) return 0;
    ifc->up = up;
    // NETDEV_DOWN flushes every route through the device; NETDEV_UP restores only the
    // routes its addresses imply (fib_add_ifaddr), not the ones added by hand.
    ip.flush_dev_routes(ifindex, false);
    if (up)
        for (const auto& a : ifc->addrs) ip.add_ifaddr_routes(*ifc, a);
    return 0;
}

int Stack::set_link_up(int ifindex, bool up) { return impl_->set_link_up(ifindex, up); }

int StackImpl::set_mtu(int ifindex, uint32_t mtu) {
    link::Interface* ifc = iface(ifindex);
    if (!ifc) return -ENODEV;
    if (mtu < 68 || mtu > 65536) return -EINVAL;
    ifc->mtu = mtu;
    ++ip.genid;
    return 0;
}

int Stack::set_mtu(int ifindex, uint32_t mtu) { return impl_->set_mtu(ifindex, mtu); }

int Stack::ifindex_of(const std::string& name) const {
    for (auto& i : impl_->ifaces)
        if (i->name == name) return i->ifindex;
    return 0;
}

std::vector<InterfaceInfo> Stack::interfaces() const {
    std::vector<InterfaceInfo> out;
    for (auto& i : impl_->ifaces) {
        InterfaceInfo info{i->ifindex, i->name, i->mtu, i->up, i->loopback, i->mac, {}};
        for (auto& a : i->addrs) info.addrs.emplace_back(a.addr, a.prefix);
        out.push_back(info);
    }
    return out;
}

int Stack::setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
    if (netlink::NlSock* n = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        return netlink::setsockopt(*impl_, *n, level, name, val, len);
    }
    StackImpl& s = *impl_;
    return sock::traced(
        s, "setsockopt", fd,
        [&] {
            sock::DgramSock* sk = sock::enter(s, "__sys_setsockopt", fd);
            if (!sk) return sock::fail(Err::BadFd, "setsockopt", fd);
            return sock::do_setsockopt(s, sk, level, name, val, len);
        },
        [&](int r, int e) {
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + sock::level_name(level) + ", " +
                                      sock::option_name(level, name) + ", " + std::to_string(int(len)) + " bytes",
                                  r, e);
        });
}

int Stack::getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
    if (netlink::NlSock* n = impl_->nl_of(fd)) {
        trace::t_call_as = nullptr;
        return netlink::getsockopt(*impl_, *n, level, name, val, len);
    }
    StackImpl& s = *impl_;
    return sock::traced(
        s, "getsockopt", fd,
        [&] {
            sock::DgramSock* sk = sock::enter(s, "__sys_getsockopt", fd);
            if (!sk) return sock::fail(Err::BadFd, "getsockopt", fd);
            return sock::do_getsockopt(s, sk, level, name, val, len);
        },
        [&](int r, int e) {
            std::string extra;
            if (r == 0 && val && len && *len == sizeof(int)) {
                int v;
                std::memcpy(&v, val, sizeof v);
                extra = "(value " + std::to_string(v) + ")";
            }
            return sock::head_str(std::to_string(s.tracer->shown(fd)) + ", " + sock::level_name(level) + ", " +
                                      sock::option_name(level, name),
                                  r, e, extra);
        });
}

const Counters& Stack::counters() const { return impl_->ctr; }
void Stack::set_env(Env* env) { impl_->env = env ? env : &impl_->solo; }
Env& Stack::env() const { return *impl_->env; }
Time Stack::now() const { return impl_->now(); }
Time Stack::wall_time() const { return impl_->wall_now(); }
void Stack::poll_timers() { impl_->run_timers(); }

size_t Stack::unresolved_packets() const {
    size_t n = 0;
    for (const auto& ifc : impl_->ifaces)
        for (const auto& nb : ifc->neigh) n += nb.pending.size();
    return n;
}
Time Stack::next_deadline() const { return impl_->next_deadline(); }
const StackConfig& Stack::config() const { return impl_->cfg; }

}  // namespace usnet
