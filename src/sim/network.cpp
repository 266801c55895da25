// The simulated network: an event queue of frames in flight on a virtual clock.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <thread>
#include <random>

#include "core/stack_impl.hpp"
#include "usnet/sim.hpp"

namespace usnet::sim {

namespace {

struct PortRef;

class PcapWriter {
public:
    bool open(const std::string& path) {
        out_.open(path, std::ios::binary | std::ios::trunc);
        if (!out_) return false;
        // Classic pcap, nanosecond timestamps, LINKTYPE_ETHERNET.
        const uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, 262144, 1};
        out_.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
        return bool(out_);
    }
    void write(Time t, const uint8_t* p, uint32_t n) {
        if (!out_) return;
        const uint32_t rec[4] = {uint32_t(t / kSec), uint32_t(t % kSec), n, n};
        out_.write(reinterpret_cast<const char*>(rec), sizeof rec);
        out_.write(reinterpret_cast<const char*>(p), n);
        out_.flush();
    }
    bool is_open() const { return out_.is_open(); }

private:
    std::ofstream out_;
};

}  // namespace

struct Port;

struct Segment {
    std::string name;
    LinkParams params;
    std::vector<Port*> ports;
    PcapWriter pcap;
};

struct Port : link::Port {
    Network::Impl* net = nullptr;
    int segment = 0;
    StackImpl* host = nullptr;
    int ifindex = 0;
    Mac mac;
    bool cut = false;
    void transmit(buf::PacketPtr frame) override;
};

struct Event {
    Time t;
    uint64_t seq;
    Port* to;
    buf::Packet* frame;  // owned; freed through its pool
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Network::Impl {
    Time now = 0;
    // Real-time mode (a program under `usnet run`): the clock follows CLOCK_MONOTONIC and a
    // blocked call sleeps, releasing the callers' lock, until a frame, a timer or another
    // thread's call (notified from settle_now) can change things.
    bool realtime = false;
    std::recursive_mutex* mu = nullptr;
    std::condition_variable_any cv;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    Time real_now() const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    }
    void sync_clock() {
        if (realtime) now = std::max(now, real_now());
    }
    uint64_t seq = 0;
    std::mt19937_64 rng;
    std::vector<std::unique_ptr<Stack>> hosts;
    std::vector<std::unique_ptr<Segment>> segments;
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
    uint64_t delivered = 0, dropped = 0;
    uint32_t next_mac = 1;

    double uniform() { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

    void schedule(Port* to, buf::PacketPtr frame, Time delay) {
        events.push(Event{now + delay, seq++, to, frame.release()});
    }

    void send(Port* from, buf::PacketPtr frame) {
        Segment& seg = *segments[size_t(from->segment)];
        if (from->cut) {
            ++dropped;
            return;
        }
        if (seg.pcap.is_open()) seg.pcap.write(now, frame->data(), frame->size());
        const LinkParams& p = seg.params;
        Mac dst;
        std::memcpy(dst.b.data(), frame->data(), 6);
        Port* targets[64];
        int n = 0;
        for (Port* q : seg.ports) {
            if (q == from || n == 64) continue;
            if (!dst.is_multicast() && !(q->mac == dst)) continue;
            if (q->cut) {
                // A copy the partition swallowed: count it like the sender-side cut above
                // and the in-flight cut in deliver_due (it used to vanish uncounted).
                ++dropped;
                continue;
            }
            targets[n++] = q;
        }
        for (int i = 0; i < n; ++i) {
            if (p.loss > 0 && uniform() < p.loss) {
                ++dropped;
                continue;
            }
            const int copies = (p.duplicate > 0 && uniform() < p.duplicate) ? 2 : 1;
            for (int c = 0; c < copies; ++c) {
                Time delay = p.latency;
                if (p.jitter > 0) delay += Time(rng() % uint64_t(p.jitter + 1));
                if (p.reorder > 0 && uniform() < p.reorder) delay += p.latency;
                buf::PacketPtr f;
                if (i + 1 == n && c + 1 == copies) {
                    f = std::move(frame);
                } else {
                    f = buf::owner_of(frame.get())->alloc(frame->size());
                    if (!f) continue;
                    std::memcpy(f->put(frame->size()), frame->data(), frame->size());
                }
                schedule(targets[i], std::move(f), delay);
            }
        }
    }

    void deliver_due() {
        while (!events.empty() && events.top().t <= now) {
            Event e = events.top();
            events.pop();
            buf::PacketPtr f(e.frame);
            link::Interface* ifc = e.to->host->iface(e.to->ifindex);
            if (!ifc || e.to->cut) {
                ++dropped;
                continue;
            }
            ++delivered;
            // Each host frees into its own pool, so a frame crossing hosts is copied once.
            if (buf::owner_of(f.get()) != &e.to->host->pool) {
                buf::PacketPtr c = e.to->host->pool.alloc(f->size());
                if (!c) continue;
                std::memcpy(c->put(f->size()), f->data(), f->size());
                f = std::move(c);
            }
            e.to->host->link.receive_frame(*ifc, std::move(f));
        }
    }

    Time next_time() const {
        Time t = events.empty() ? kNever : events.top().t;
        for (const auto& h : hosts) t = std::min(t, const_cast<Stack&>(*h).next_deadline());
        return t;
    }

    void step_to(Time t) {
        now = std::max(now, t);
        deliver_due();
        for (auto& h : hosts)
            if (h->next_deadline() <= now) h->poll_timers();
    }
};

void Port::transmit(buf::PacketPtr frame) {
    net->sync_clock();
    net->send(this, std::move(frame));
}

Network::Network(uint64_t seed) : impl_(std::make_unique<Impl>()) { impl_->rng.seed(seed); }

Network::~Network() {
    while (!impl_->events.empty()) {
        buf::PacketPtr f(impl_->events.top().frame);
        impl_->events.pop();
    }
    // Hosts own the ports' memory through their interfaces; drop hosts before segments.
    impl_->hosts.clear();
}

Stack& Network::add_host(const std::string& name, StackConfig cfg) {
    cfg.name = name;
    if (cfg.seed == 1) cfg.seed = impl_->rng();
    auto h = std::make_unique<Stack>(cfg);
    h->set_env(this);
    h->add_loopback();
    impl_->hosts.push_back(std::move(h));
    return *impl_->hosts.back();
}

int Network::add_segment(const std::string& name, LinkParams p) {
    auto s = std::make_unique<Segment>();
    s->name = name;
    s->params = p;
    impl_->segments.push_back(std::move(s));
    return int(impl_->segments.size() - 1);
}

int Network::attach(Stack& host, int segment, const std::string& ifname, uint32_t mtu) {
    auto port = std::make_unique<Port>();
    port->net = impl_.get();
    port->segment = segment;
    port->host = &host.impl();
    const uint32_t id = impl_->next_mac++;
    port->mac = Mac{{0x02, 0x00, uint8_t(id >> 24), uint8_t(id >> 16), uint8_t(id >> 8), uint8_t(id)}};
    auto ifc = std::make_unique<link::Interface>();
    ifc->name = ifname;
    ifc->mtu = mtu;
    ifc->mac = port->mac;
    ifc->port = port.get();
    impl_->segments[size_t(segment)]->ports.push_back(port.get());
    Port* raw = port.get();
    ifc->owned_port = std::move(port);
    const int idx = host.impl().add_interface(std::move(ifc));
    raw->ifindex = idx;
    return idx;
}

void Network::set_params(int segment, LinkParams p) { impl_->segments[size_t(segment)]->params = p; }

void Network::set_partitioned(Stack& host, int segment, bool cut) {
    for (Port* p : impl_->segments[size_t(segment)]->ports)
        if (p->host == &host.impl()) p->cut = cut;
}

bool Network::capture(int segment, const std::string& path) { return impl_->segments[size_t(segment)]->pcap.open(path); }
uint64_t Network::frames_delivered() const { return impl_->delivered; }
uint64_t Network::frames_dropped() const { return impl_->dropped; }
Time Network::now() const { return impl_->realtime ? std::max(impl_->now, impl_->real_now()) : impl_->now; }

void Network::set_realtime(std::recursive_mutex* mu) {
    impl_->realtime = true;
    impl_->mu = mu;
    impl_->now = impl_->real_now();
}

bool Network::run_until_realtime(FnRef<bool()> ready, Time deadline) {
    Impl& n = *impl_;
    for (;;) {
        n.sync_clock();
        n.step_to(n.now);
        if (ready()) return true;
        if (n.now >= deadline) return ready();
        const Time next = std::min(n.next_time(), deadline);
        if (!n.mu) {
            // Nobody else can reach this world: sleep to the next event, or give up.
            if (next == kNever) return false;
            std::this_thread::sleep_for(std::chrono::nanoseconds(next - n.now));
            continue;
        }
        // The caller holds mu (once); waiting releases it so other threads can call in.
        std::unique_lock<std::recursive_mutex> lk(*n.mu, std::adopt_lock);
        if (next == kNever) n.cv.wait(lk);
        else n.cv.wait_for(lk, std::chrono::nanoseconds(next - n.now));
        lk.release();
    }
}

bool Network::run_until(FnRef<bool()> ready, Time deadline) {
    if (impl_->realtime) return run_until_realtime(ready, deadline);
    for (;;) {
        if (ready()) return true;
        const Time t = impl_->next_time();
        if (t == kNever && deadline == kNever) return false;
        if (t > deadline) {
            impl_->now = std::max(impl_->now, deadline);
            return ready();
        }
        impl_->step_to(t);
    }
}

void Network::settle_now() {
    if (impl_->realtime) {
        impl_->sync_clock();
        impl_->step_to(impl_->now);
        impl_->cv.notify_all();  // a blocked call in another thread may now be ready
        return;
    }
    // Only frames already due need delivering; an empty or future queue costs one compare.
    while (!impl_->events.empty() && impl_->events.top().t <= impl_->now) impl_->deliver_due();
}

void Network::run_for(Time d) {
    const Time end = impl_->now + d;
    run_until([] { return false; }, end);
}

DefaultWorld make_default_world(uint64_t seed, StackConfig host_cfg) {
    DefaultWorld w;
    w.net = std::make_unique<Network>(seed);
    Network& n = *w.net;
    // Zero latency: like the kernel's veth, a reply arrives within the call that caused it.
    LinkParams p;
    p.latency = 0;
    w.segment = n.add_segment("eth0", p);
    host_cfg.seed = seed * 2 + 1;
    Stack& host = n.add_host("host", host_cfg);
    StackConfig gcfg;
    gcfg.seed = seed * 2 + 2;
    Stack& gw = n.add_host("gateway", gcfg);
    const int h_eth = n.attach(host, w.segment, "eth0", 1500);
    const int g_eth = n.attach(gw, w.segment, "eth0", 1500);
    host.add_address(h_eth, Ip4(10, 0, 2, 15), 24);
    gw.add_address(g_eth, Ip4(10, 0, 2, 2), 24);
    RouteSpec def;
    def.gateway = Ip4(10, 0, 2, 2);
    def.ifindex = h_eth;
    host.add_route(def);
    w.host = &host;
    w.gateway = &gw;
    return w;
}

}  // namespace usnet::sim
