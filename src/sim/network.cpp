// The simulated network: an event queue of frames in flight on a virtual clock.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <mutex>
#include <optional>
#include <utility>
#include <queue>
#include <thread>
#include <random>

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/stack_impl.hpp"
#include "link/pcap.hpp"
#include "link/shm.hpp"
#include "link/tap.hpp"
#include "usnet/sim.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"

namespace usnet::sim {

namespace {

struct PortRef;

// Set when this thread's wait in run_until_realtime ended because a signal handler ran.
thread_local bool t_interrupted [[gnu::tls_model("initial-exec")]] = false;
// Set by note_signal_handler when a handler runs on this thread while its gate is open,
// and the futex word the thread is about to sleep on, which the handler moves so that the
// sleep cannot begin after the handler ran (a handler that ran between opening the gate
// and the sleep would otherwise go unseen, and the call sleep on).
thread_local volatile bool t_sig_ran [[gnu::tls_model("initial-exec")]] = false;
thread_local std::atomic<uint32_t>* t_wait_word [[gnu::tls_model("initial-exec")]] = nullptr;

// A blocked call sees every signal handler that runs while it waits, as the kernel's wait
// loops see signal_pending: signals stay blocked while the thread is awake in the loop and
// are let in only around each sleep, so none runs unseen between two sleeps.
class SignalGate {
public:
    SignalGate() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old_);
    }
    ~SignalGate() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    SignalGate(const SignalGate&) = delete;
    SignalGate& operator=(const SignalGate&) = delete;
    // Before a sleep: whether a signal with a handler is pending that the program's own mask
    // lets through (opening the gate runs the handler at once: the wait is interrupted).
    bool handler_pending() const {
        sigset_t p;
        if (sigpending(&p) != 0) return false;
        for (int sig = 1; sig < NSIG; ++sig) {
            if (sigismember(&p, sig) != 1 || sigismember(&old_, sig) == 1) continue;
            struct sigaction a {};
            if (sigaction(sig, nullptr, &a) != 0) continue;
            if ((a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != nullptr : a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN)
                return true;
        }
        return false;
    }
    void open() const { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    const sigset_t* program_mask() const { return &old_; }
    // Open around a futex sleep on w, whose value before opening was seen.
    bool sleep_on(std::atomic<uint32_t>* w, FnRef<bool(uint32_t)> sleep, uint32_t seen) const {
        t_sig_ran = false;
        t_wait_word = w;
        struct Forget {  // also as a cancelled thread unwinds (the gate's owner restores the mask)
            ~Forget() { t_wait_word = nullptr; }
        } forget;
        open();
        // A handler that runs once the gate is open moved *w from seen: the sleep returns at once.
        bool interrupted = sleep(seen);
        close();
        return interrupted || t_sig_ran;
    }
    void close() const {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
    }

private:
    sigset_t old_;
};

}  // namespace

struct Port;

// A learning bridge's forwarding database for the MACs behind a segment's uplinks: the
// uplink each was last seen on, aged out after the bridge default of 300 s. Direct-mapped:
// a MAC whose slot another took is flooded again (never sent to the wrong port), and it
// never grows.
struct Fdb {
    static constexpr size_t kSlots = 4096;
    static constexpr Time kAgeing = 300 * kSec;
    struct Entry {
        Mac mac;
        Port* port = nullptr;
        Time seen = 0;
    };
    std::array<Entry, kSlots> e{};
    static size_t slot(const Mac& m) {
        uint32_t h = 2166136261u;
        for (uint8_t b : m.b) h = (h ^ b) * 16777619u;
        return h % kSlots;
    }
    void learn(const Mac& m, Port* p, Time now) { e[slot(m)] = Entry{m, p, now}; }
    Port* find(const Mac& m, Time now) const {
        const Entry& x = e[slot(m)];
        return x.port && x.mac == m && now - x.seen < kAgeing ? x.port : nullptr;
    }
};

struct Segment {
    std::string name;
    LinkParams params;
    std::vector<Port*> ports;
    link::PcapWriter pcap;
    std::unique_ptr<Fdb> fdb;  // with uplinks only
};

struct Port : link::Port {
    Network::Impl* net = nullptr;
    int segment = 0;
    StackImpl* host = nullptr;  // null for an external port
    ExternalPort* ext = nullptr;
    bool removed = false;  // an external port whose host left
    bool uplink = false;   // stands for every MAC behind a link to another segment
    int horizon = 0;       // uplinks of one non-zero horizon never forward to each other
    int ifindex = 0;
    Mac mac;
    bool cut = false;
    void transmit(buf::PacketPtr frame) override;
};

// A host's link to outside the process (a `usnet switch`, a TAP device): the world takes
// frames from it, and a blocked call sleeps on it until one comes or another thread rings.
struct OutsideLink : link::Port {
    Network::Impl* net = nullptr;
    StackImpl* host = nullptr;
    int ifindex = 0;
    bool detached = false;  // a forked child's copy: the link is the parent's
    // Frames waiting outside, into the host.
    virtual void poll() = 0;
    // Whether looking for frames is as cheap as a memory read (then every settle_now looks;
    // otherwise only calls that receive or wait do).
    virtual bool cheap_poll() const = 0;
    // Sleeps until a frame arrives, ring() is called (if rung) or timeout ns pass; true if
    // a signal handler ran meanwhile.
    // With a gate, signals are let in for the sleep only (the gate's program mask).
    virtual bool wait(Time timeout, bool rung = true, const SignalGate* gate = nullptr) = 0;
    // wait(rung) in two steps: arm counts a sleeper, so that ring() from then on is not
    // lost; called under the callers' lock, before it is let go (a ring between letting go
    // and counting ourselves would otherwise go unheard). sleep_armed waits and uncounts.
    virtual uint32_t arm() = 0;
    virtual bool sleep_armed(uint32_t armed, Time timeout, const SignalGate& gate) = 0;
    // A frame is waiting outside (only where cheap_poll).
    virtual bool pending() const { return false; }
    // Network::offer_input: the first frame waiting, where it lies (only where cheap_poll).
    virtual Env::Offered offer(const udp::DirectRx&) { return Env::Offered::Declined; }
    virtual void ring() = 0;
    // A forked child lets go of its copy, leaving the link to the parent.
    virtual void detach() = 0;
    virtual std::vector<int> fds() const = 0;
};

// Host side of a `usnet switch`: the interface's frames go into the shared fabric.
struct SwitchLink : OutsideLink {
    uint32_t port = 0;
    int ctl = -1;  // the control connection: the switch frees our port when it closes
    link::shm::Fabric fab;
    SwitchLink() { takes_parts = true; }
    ~SwitchLink() override {
        if (ctl >= 0) syscall(SYS_close, ctl);
    }
    void transmit(buf::PacketPtr frame) override;
    void transmit_parts(const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload, uint32_t plen,
                        bool csum_partial) override;
    void poll() override;
    bool cheap_poll() const override { return true; }
    bool wait(Time timeout, bool, const SignalGate* gate) override {  // frames ring it too
        if (!gate) return fab.wait(port, timeout);
        return sleep_armed(arm(), timeout, *gate);
    }
    uint32_t arm() override { return fab.arm(port); }
    bool sleep_armed(uint32_t seen, Time timeout, const SignalGate& gate) override {
        return gate.sleep_on(fab.bell(port), [&](uint32_t v) { return fab.sleep(port, v, timeout); }, seen);
    }
    bool pending() const override { return fab.pending(port); }
    Env::Offered offer(const udp::DirectRx& want) override;
    // Only this process's blocked calls sleep on our ring for ring(), and they count
    // themselves under the callers' lock, which the ringer holds: no fence needed.
    void ring() override { fab.ring_bell(port, false); }
    void detach() override {
        if (ctl >= 0) syscall(SYS_close, ctl);  // our copy only: the parent's stays open
        ctl = -1;
    }
    std::vector<int> fds() const override { return {ctl}; }
};

// A host on a TAP device.
struct TapLink : OutsideLink {
    std::unique_ptr<link::TapDevice> dev;
    void transmit(buf::PacketPtr frame) override;
    void poll() override;
    bool cheap_poll() const override { return false; }  // a read(2) to learn there is nothing
    bool wait(Time timeout, bool rung, const SignalGate* gate) override {
        return dev->wait(timeout, rung, gate ? gate->program_mask() : nullptr);  // ppoll sets the mask atomically
    }
    uint32_t arm() override {
        dev->arm();
        return 0;
    }
    bool sleep_armed(uint32_t, Time timeout, const SignalGate& gate) override {
        return dev->wait_armed(timeout, true, gate.program_mask());
    }
    void ring() override { dev->ring(); }
    void detach() override { dev->forget(); }
    std::vector<int> fds() const override { return dev->fds(); }
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
    usnet::CallLock* mu = nullptr;
    // Without a switch a blocked call sleeps on this word (a futex, so that a signal
    // handler ends the wait, as it ends a blocking call on the kernel); settle_now bumps it.
    std::atomic<uint32_t> bell{0};
    std::atomic<int> sleepers{0};
    // Busy polling (as Linux's SO_BUSY_POLL): a blocked call first looks, without the lock,
    // for up to busy_poll ns before it sleeps, so that an answer coming soon is taken without
    // the sleep and wake-up (on a VM the wake-up of an idle CPU dominates a round trip).
    // settle_now bumps `changes` while anyone spins.
    Time busy_poll = 0;
    std::atomic<int> spinners{0};
    std::atomic<uint32_t> changes{0};
    // How long a wait may busy-poll: only where looking costs a memory read, and never on one
    // CPU (the spin would hold up the very thread that could answer).
    Time spin_budget() const {
        static const bool several_cpus = std::thread::hardware_concurrency() > 1;
        return mu && several_cpus && (!up || up->cheap_poll()) ? busy_poll : 0;
    }
    // Who sleeps on the link's bell besides frames' senders: this process's blocked calls
    // (counted under mu), which any call's change may concern; and the shim's pump
    // (wait_switch), which only frames and timers concern: until pump_until, its sleep's end
    // (kNotWaiting: awake).
    std::atomic<int> call_sleepers{0};
    static constexpr Time kNotWaiting = -1;
    std::atomic<Time> pump_until{kNotWaiting};
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    Time real_now() const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    }
    void sync_clock() {
        if (realtime) now = std::max(now, real_now());
    }
    // The clock as each call settles the world: CLOCK_MONOTONIC_COARSE, a tick behind at
    // most (what the kernel's own timers, in jiffies, go by), for a fifth of a precise
    // read's cost. Deadlines and stamps read now(), which is precise.
    void sync_clock_coarse() {
        if (!realtime) return;
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        now = std::max(now, Time(ts.tv_sec) * kSec + ts.tv_nsec - t0_ns);
    }
    const Time t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
    uint64_t seq = 0;
    std::mt19937_64 rng;
    std::vector<std::unique_ptr<Stack>> hosts;
    std::vector<std::unique_ptr<Segment>> segments;
    std::vector<std::unique_ptr<Port>> externals;  // by id
    buf::Pool pool;                                 // frames injected from external ports
    OutsideLink* up = nullptr;                          // owned by the host's interface
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
    uint64_t delivered = 0, dropped = 0;
    uint32_t next_mac = 1;

    double uniform() { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

    void schedule(Port* to, buf::PacketPtr frame, Time delay) {
        events.push(Event{now + delay, seq++, to, frame.release()});
    }

    void send(Port* from, buf::PacketPtr frame, bool local_only = false) {
        Segment& seg = *segments[size_t(from->segment)];
        if (from->cut) {
            ++dropped;
            return;
        }
        if (seg.pcap.is_open()) seg.pcap.write(now, frame->data(), frame->size());
        const LinkParams& p = seg.params;
        Mac dst;
        std::memcpy(dst.b.data(), frame->data(), 6);
        // With uplinks the segment is a learning bridge: a unicast MAC no host here has goes
        // to the uplink it was seen behind, or, unknown, to every uplink.
        Port* learned = nullptr;
        bool flood_uplinks = false;
        if (seg.fdb && frame->size() >= 12) {
            Mac src;
            std::memcpy(src.b.data(), frame->data() + 6, 6);
            if (from->uplink && !src.is_multicast()) seg.fdb->learn(src, from, now);
            if (!dst.is_multicast() &&
                std::none_of(seg.ports.begin(), seg.ports.end(), [&](Port* q) { return !q->uplink && q->mac == dst; })) {
                learned = seg.fdb->find(dst, now);
                flood_uplinks = !learned;
            }
        }
        Port* targets[64];
        int n = 0;
        for (Port* q : seg.ports) {
            if (q == from || n == 64 || (local_only && q->ext && !q->uplink)) continue;
            if (q->uplink && from->horizon && q->horizon == from->horizon) continue;  // split horizon
            if (!dst.is_multicast() && (q->uplink ? !(flood_uplinks || q == learned) : !(q->mac == dst))) continue;
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
            if (e.to->ext) {
                ++delivered;
                e.to->ext->deliver(f->data(), f->size());
                continue;
            }
            link::Interface* ifc = e.to->host ? e.to->host->iface(e.to->ifindex) : nullptr;
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

    void poll_switch() {
        if (up && !up->detached) up->poll();
    }

    void step_to(Time t, bool poll_link = true) {
        now = std::max(now, t);
        if (poll_link) poll_switch();
        deliver_due();
        for (auto& h : hosts)
            if (h->next_deadline() <= now) h->poll_timers();
    }
};

void Port::transmit(buf::PacketPtr frame) {
    net->sync_clock();
    net->send(this, std::move(frame));
}

// Frames the switch put in our ring, into the host (one copy, into its own pool).
void SwitchLink::poll() {
    if (!fab.pending(port)) return;  // (every call's settle looks: the usual answer, cheaply)
    link::Interface* ifc = host->iface(ifindex);
    fab.drain(port, [&](uint32_t, const uint8_t* data, uint32_t len, uint16_t flags) {
        buf::PacketPtr f = host->pool.alloc(len);
        if (!f || !ifc) {
            ++net->dropped;
            return;
        }
        std::memcpy(f->put(len), data, len);
        if (flags & link::shm::kSlotCsumPartial) {
            // As a datagram from another namespace over a veth: trusted, never verified.
            f->meta.csum_ok = true;
            f->meta.csum_partial = true;
        }
        ++net->delivered;
        host->link.receive_frame(*ifc, std::move(f));
    });
}

// The frame first in our ring, where it lies, up the host's layers to a receiving call.
Env::Offered SwitchLink::offer(const udp::DirectRx& want) {
    if (!fab.pending(port)) return Env::Offered::None;
    link::Interface* ifc = host->iface(ifindex);
    const bool took = ifc && fab.take_first(port, [&](const uint8_t* data, uint32_t len, uint16_t flags) {
        const bool trusted = flags & link::shm::kSlotCsumPartial;  // (as in poll)
        return host->link.input_direct(*ifc, {data, len}, trusted, want);
    });
    if (!took) return Env::Offered::Declined;
    ++net->delivered;
    return Env::Offered::Taken;
}

// A batch from the TAP's queues, each frame read straight into the host's pool.
void TapLink::poll() {
    link::Interface* ifc = host->iface(ifindex);
    if (!ifc) return;
    dev->receive(host->pool, ifc->mtu + wire::kEthHeaderLen, [&](buf::PacketPtr f, bool cut) {
        ++net->delivered;
        if (cut) {
            // Longer than any buffer we read with: never looked at beyond its start.
            ++host->ctr.link.RxFrames;
            ++host->ctr.link.RxDropped;
            host->drop_frame(DropReason::FrameTooLong, f->data(), f->size());
            return;
        }
        host->link.receive_frame(*ifc, std::move(f));
    });
}

void TapLink::transmit(buf::PacketPtr frame) {
    if (detached || !dev->transmit(*frame)) {
        // A device that is down refuses frames (EIO), as a NIC's queue would.
        ++net->dropped;
        ++host->ctr.link.TxDropped;
    }
}

void SwitchLink::transmit(buf::PacketPtr frame) {
    transmit_parts(frame->data(), frame->size(), {}, 0, frame->meta.csum_partial);
}

void SwitchLink::transmit_parts(const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload, uint32_t plen,
                                bool csum_partial) {
    if (detached) {
        ++net->dropped;
        ++host->ctr.link.TxDropped;
        return;
    }
    // A full ring (its host is not keeping up) refuses the frame, as a device queue would:
    // counted as the interface's tx_dropped.
    const uint32_t csum_start = csum_partial ? wire::frame_udp_start(hdr, hlen) : 0;
    if (fab.send(port, hdr, hlen, payload, plen, csum_start) != 0) {
        ++net->dropped;
        ++host->ctr.link.TxDropped;
    }
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
// In real time: as of the last settle_now (each call's start), a tick behind at most.
Time Network::coarse_now() const { return impl_->now; }
Time Network::now() const { return impl_->realtime ? std::max(impl_->now, impl_->real_now()) : impl_->now; }

void Network::set_realtime(usnet::CallLock* mu) {
    impl_->realtime = true;
    impl_->mu = mu;
    impl_->now = impl_->real_now();
}

void Network::set_busy_poll(Time ns) { impl_->busy_poll = std::max<Time>(ns, 0); }

namespace {

// The busy-poll phase of a blocked call; the caller holds mu once and has counted itself
// among the spinners. Looks, with mu let go and signals as the program has them, until a
// frame waits outside, another thread's call may have changed things, a (wrapped) signal
// handler ran, or `budget` ns pass. Returns whether a handler ran.
bool spin(Network::Impl& n, Time budget) {
    const uint32_t seen = n.changes.load(std::memory_order_relaxed);
    t_sig_ran = false;
    n.mu->unlock();
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(budget);
    for (unsigned i = 1;; ++i) {
        if (t_sig_ran || n.changes.load(std::memory_order_acquire) != seen || (n.up && n.up->pending())) break;
        link::shm::cpu_relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    n.mu->lock();
    n.spinners.fetch_sub(1, std::memory_order_relaxed);
    return t_sig_ran;
}

// The callers' lock let go for a sleep and taken again after it: also as a thread whose
// sleep pthread_cancel ended unwinds, so that the frames above it let go of it as usual.
class LetGo {
public:
    explicit LetGo(usnet::CallLock& mu) : mu_(mu) { mu_.unlock(); }
    ~LetGo() { mu_.lock(); }
    LetGo(const LetGo&) = delete;
    LetGo& operator=(const LetGo&) = delete;

private:
    usnet::CallLock& mu_;
};

}  // namespace

bool Network::run_until_realtime(FnRef<bool()> ready, Time deadline, bool leave_input) {
    Impl& n = *impl_;
    t_interrupted = false;
    std::optional<SignalGate> gate;  // made before the first sleep
    Time spin_left = n.spin_budget();
    // (The caller takes it itself, or else takes it in and waits again; before any clock
    // read, which on a VM costs as much as the rest of a receive.)
    auto input_left = [&] { return leave_input && n.up && !n.up->detached && n.up->pending(); };
    // Nor may the steps take it in: a frame that lands just after input_left() looked would
    // go up the layers instead of to the caller. The next look (or the sleep's) finds it.
    const bool link_left = leave_input && n.up && n.up->cheap_poll();
    for (;;) {
        if (input_left()) return true;
        n.sync_clock();
        n.step_to(n.now, !link_left);
        if (ready()) return true;
        if (n.now >= deadline) return ready();
        const Time next = std::min(n.next_time(), deadline);
        if (spin_left > 0) {
            const Time t0 = n.real_now();
            n.spinners.fetch_add(1, std::memory_order_relaxed);
            const bool interrupted = spin(n, std::min(spin_left, next == kNever ? kNever : next - n.now));
            if (!interrupted && input_left()) return true;
            spin_left -= n.real_now() - t0;
            if (interrupted) {
                t_interrupted = true;
                n.sync_clock();
                n.step_to(n.now);
                return ready();
            }
            continue;
        }
        if (!n.mu) {
            // Only a real link can wake us (no other thread calls in): sleep on it.
            if (n.up) {
                n.up->wait(next == kNever ? kNever : next - n.now);
                continue;
            }
            // Nobody else can reach this world: sleep to the next event, or give up.
            if (next == kNever) return false;
            std::this_thread::sleep_for(std::chrono::nanoseconds(next - n.now));
            continue;
        }
        // The caller holds mu (once); waiting releases it so other threads can call in.
        const Time timeout = next == kNever ? kNever : next - n.now;
        if (!gate) gate.emplace();
        bool interrupted = gate->handler_pending();
        if (interrupted) {
            n.mu->unlock();
            gate->open();  // the handler runs here
            gate->close();
            n.mu->lock();
        } else if (n.up) {
            // Attached to a switch or a TAP: sleep on it (a frame, or our ring's bell, which
            // the switch's other hosts and this process's other threads (settle_now) ring).
            n.call_sleepers.fetch_add(1, std::memory_order_relaxed);
            link::shm::SleeperOut<int> out{&n.call_sleepers};  // (after mu is taken again)
            const uint32_t armed = n.up->arm();
            LetGo unlocked(*n.mu);
            interrupted = n.up->sleep_armed(armed, timeout, *gate);
        } else {
            // Read under mu: a change another thread makes after we let go of it is
            // followed by a bump (settle_now), so the futex does not sleep through it.
            n.sleepers.fetch_add(1, std::memory_order_seq_cst);
            link::shm::SleeperOut<int> out{&n.sleepers};  // (after mu is taken again)
            const uint32_t seen = n.bell.load(std::memory_order_seq_cst);
            LetGo unlocked(*n.mu);
            interrupted = gate->sleep_on(
                &n.bell, [&](uint32_t v) { return link::shm::futex_wait(&n.bell, v, timeout, false, true); }, seen);
        }
        if (interrupted) {
            // The caller decides between EINTR and waiting on (SA_RESTART).
            t_interrupted = true;
            n.sync_clock();
            n.step_to(n.now);
            return ready();
        }
    }
}

bool Network::busy_wait_input(Time budget) {
    Impl& n = *impl_;
    budget = std::min(budget, n.realtime ? n.spin_budget() : 0);
    if (budget <= 0) return false;
    n.spinners.fetch_add(1, std::memory_order_relaxed);
    const bool interrupted = spin(n, budget);
    settle_now();
    return interrupted;
}

bool Network::take_interrupt() { return std::exchange(t_interrupted, false); }

void note_signal_handler() noexcept {
    t_sig_ran = true;
    if (std::atomic<uint32_t>* w = t_wait_word) w->fetch_add(1, std::memory_order_relaxed);
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
        impl_->sync_clock_coarse();
        // (A link that costs a system call to look at is looked at by receiving calls only.)
        impl_->step_to(impl_->now, !impl_->up || impl_->up->cheap_poll());
        // A blocked call in another thread may now be ready. Sleepers register under mu,
        // which the caller holds, so none is missed when nobody is counted.
        if (impl_->spinners.load(std::memory_order_relaxed) > 0) impl_->changes.fetch_add(1, std::memory_order_release);
        if (impl_->sleepers.load(std::memory_order_seq_cst) > 0) {
            impl_->bell.fetch_add(1, std::memory_order_seq_cst);
            link::shm::futex_wake(&impl_->bell, false);
        }
        // (Not for a pump asleep till after every timer: a wake-up per call, for nothing.)
        const Time pump = impl_->pump_until.load(std::memory_order_relaxed);
        if (impl_->up && (impl_->call_sleepers.load(std::memory_order_relaxed) > 0 ||
                          (pump != Impl::kNotWaiting && impl_->next_time() < pump)))
            impl_->up->ring();
        return;
    }
    // Only frames already due need delivering; an empty or future queue costs one compare.
    while (!impl_->events.empty() && impl_->events.top().t <= impl_->now) impl_->deliver_due();
}

void Network::poll_input() { impl_->poll_switch(); }

Env::Offered Network::offer_input(const udp::DirectRx& want) {
    OutsideLink* up = impl_->up;
    if (!up) return Offered::None;  // (nothing outside: poll_input has nothing to take in)
    return up->detached ? Offered::Declined : up->offer(want);
}

bool Network::run_until_input(FnRef<bool()> ready, Time deadline) {
    if (impl_->realtime) return run_until_realtime(ready, deadline, true);
    return run_until(ready, deadline);
}

int Network::add_external(int segment, const Mac& mac, ExternalPort* out) {
    auto port = std::make_unique<Port>();
    port->net = impl_.get();
    port->segment = segment;
    port->ext = out;
    port->mac = mac;
    impl_->segments[size_t(segment)]->ports.push_back(port.get());
    impl_->externals.push_back(std::move(port));
    return int(impl_->externals.size() - 1);
}

int Network::add_uplink(int segment, ExternalPort* out, int horizon) {
    const int id = add_external(segment, Mac{}, out);
    Port& p = *impl_->externals[size_t(id)];
    p.uplink = true;
    p.horizon = horizon;
    Segment& seg = *impl_->segments[size_t(segment)];
    if (!seg.fdb) seg.fdb = std::make_unique<Fdb>();
    return id;
}

void Network::remove_external(int id) {
    Port* p = impl_->externals.at(size_t(id)).get();
    if (p->removed) return;
    auto& ports = impl_->segments[size_t(p->segment)]->ports;
    ports.erase(std::remove(ports.begin(), ports.end(), p), ports.end());
    // Frames still in flight to it are dropped on arrival, not delivered to freed memory.
    // (The Port itself stays, marked, so ids are never reused.)
    p->cut = true;
    p->ext = nullptr;
    p->removed = true;
}

void Network::inject(int id, const uint8_t* frame, uint32_t len, bool local_only) {
    Port* p = impl_->externals.at(size_t(id)).get();
    if (p->removed) return;
    buf::PacketPtr f = impl_->pool.alloc(len);
    if (!f) {
        ++impl_->dropped;
        return;
    }
    std::memcpy(f->put(len), frame, len);
    impl_->sync_clock();
    impl_->send(p, std::move(f), local_only);
}

Time Network::next_event() const { return impl_->next_time(); }

bool Network::has_switch() const { return impl_->up != nullptr; }

void Network::wait_switch(Time timeout) {
    // (On a TAP frames wake it; calls of other threads need not: the caller keeps up.)
    if (!impl_->up) return;
    impl_->pump_until.store(timeout == kNever ? kNever : impl_->real_now() + timeout, std::memory_order_relaxed);
    impl_->up->wait(timeout, false);
    impl_->pump_until.store(Impl::kNotWaiting, std::memory_order_relaxed);
}

void Network::pump(Time max_wait) {
    Impl& n = *impl_;
    Time timeout = max_wait;
    std::unique_lock<usnet::CallLock> g;
    if (n.mu) g = std::unique_lock<usnet::CallLock>(*n.mu, std::try_to_lock);
    if (!n.mu || g.owns_lock()) {
        n.sync_clock();
        n.step_to(n.now);
        if (const Time next = n.next_time(); next != kNever) timeout = std::clamp<Time>(next - n.now, kMs, max_wait);
        if (g.owns_lock()) g.unlock();
    } else {
        timeout = std::min(max_wait, kMs);  // a call is running: look again soon
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(timeout));
}

std::vector<int> Network::link_fds() const { return impl_->up ? impl_->up->fds() : std::vector<int>{}; }

void Network::detach_switch() {
    OutsideLink* up = impl_->up;
    if (!up) return;
    impl_->up = nullptr;
    up->detached = true;
    up->detach();
    for (auto& h : impl_->hosts)
        if (&h->impl() == up->host) {
            h->set_link_up(up->ifindex, false);
            h->set_world_note("this process's copy of the stack is detached from the switch (a child after fork keeps "
                              "loopback only; the switch port stays with the parent)");
        }
}

int Network::attach_switch(Stack& host, const std::string& path, const std::string& ifname, uint32_t mtu, Ip4 addr,
                           std::string* err) {
    namespace shm = link::shm;
    auto fail = [&](const std::string& why) {
        *err = why;
        return -1;
    };
    if (impl_->up) return fail("already attached to a switch or a TAP device");
    if (mtu > shm::kMaxMtu) return fail("mtu above " + std::to_string(shm::kMaxMtu));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return fail("socket path too long");
    std::memcpy(a.sun_path, path.data(), path.size());
    // Raw system calls: inside `usnet run` the libc socket calls are the shim's.
    auto link = std::make_unique<SwitchLink>();
    link->ctl = int(syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (link->ctl < 0) return fail(std::string("socket: ") + std::strerror(errno));
    if (syscall(SYS_connect, link->ctl, &a, sizeof a) != 0)
        return fail("cannot reach a switch at " + path + ": " + std::strerror(errno));
    shm::Hello hello;
    hello.pid = uint32_t(getpid());
    hello.addr = addr.v;
    hello.mtu = mtu;
    shm::Welcome w;
    int memfd = -1;
    if (!shm::send_with_fd(link->ctl, &hello, sizeof hello, -1) || !shm::recv_with_fd(link->ctl, &w, sizeof w, &memfd))
        return fail("the switch at " + path + " did not answer");
    if (w.magic != shm::kMagic || w.port <= 0 || w.port >= int32_t(shm::kMaxPorts)) {
        if (memfd >= 0) syscall(SYS_close, memfd);
        return fail(std::string("the switch refused: ") + (w.magic == shm::kMagic ? w.error : "not a usnet switch"));
    }
    const bool mapped = memfd >= 0 && link->fab.map(memfd);
    if (memfd >= 0) syscall(SYS_close, memfd);
    if (!mapped) return fail("cannot map the switch's memory");
    link->net = impl_.get();
    link->host = &host.impl();
    link->port = uint32_t(w.port);
    auto ifc = std::make_unique<link::Interface>();
    ifc->name = ifname;
    ifc->mtu = mtu;
    std::memcpy(ifc->mac.b.data(), w.mac, 6);
    // UDP checksums are left partial, as on a veth; Fabric::send finishes those that leave
    // the direct path between two hosts.
    ifc->tx_csum_offload = true;
    ifc->port = link.get();
    SwitchLink* raw = link.get();
    ifc->owned_port = std::move(link);
    raw->ifindex = host.impl().add_interface(std::move(ifc));
    impl_->up = raw;
    return raw->ifindex;
}

int Network::attach_tap(Stack& host, const TapOptions& o, const std::string& ifname, uint32_t mtu, Ip4 addr,
                        std::string* err) {
    if (impl_->up) {
        *err = "already attached to a switch or a TAP device";
        return -1;
    }
    auto link = std::make_unique<TapLink>();
    link->dev = link::TapDevice::open(o, err);
    if (!link->dev) return -1;
    link->net = impl_.get();
    link->host = &host.impl();
    auto ifc = std::make_unique<link::Interface>();
    ifc->name = ifname;
    ifc->mtu = mtu ? mtu : link->dev->kernel_mtu();
    ifc->mac = o.mac;
    if (ifc->mac == Mac{}) {
        // 02:75:74 ("ut") and a hash of the device and the address: the same every run, so
        // the kernel's neighbour entry for us stays right across restarts.
        uint32_t h = 2166136261u;
        for (char c : o.name + "/" + addr.str()) h = (h ^ uint8_t(c)) * 16777619u;
        ifc->mac = Mac{{0x02, 0x75, 0x74, uint8_t(h >> 16), uint8_t(h >> 8), uint8_t(h)}};
    }
    ifc->tx_csum_offload = link->dev->vnet_hdr() && o.tx_checksum_offload;
    ifc->port = link.get();
    TapLink* raw = link.get();
    ifc->owned_port = std::move(link);
    raw->ifindex = host.impl().add_interface(std::move(ifc));
    impl_->up = raw;
    return raw->ifindex;
}

void Network::run_for(Time d) {
    const Time end = now() + d;
    run_until([] { return false; }, end);
}

DefaultWorld make_default_world(uint64_t seed, StackConfig host_cfg) {
    WorldSpec spec;
    spec.seed = seed;
    std::string unused;  // without a switch, building cannot fail
    return build_world(spec, host_cfg, &unused);
}

}  // namespace usnet::sim
