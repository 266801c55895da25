// `usnet switch`: hosts in other processes share one Ethernet segment through a fabric of
// shared-memory rings (link/shm). This process hands out ports over a Unix socket, runs
// the gateway host, and, when faults, delay or capture are on, forwards every frame
// through a simulated segment that applies them.
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "link/shm.hpp"
#include "sim/switch_uplink.hpp"
#include "usnet/sim.hpp"

namespace usnet::sim {

namespace {

namespace shm = link::shm;

// A remote host as the simulated segment sees it: what reaches it goes into its ring.
struct RemoteHost : ExternalPort {
    shm::Fabric* fab = nullptr;
    uint32_t port = 0;
    int id = -1;      // its external port in the Network
    int conn = -1;    // its control connection
    pid_t peer_pid = 0;
    void deliver(const uint8_t* frame, uint32_t len) override { fab->push(port, 0, frame, len); }
};

std::string ip_str(uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
           "." + std::to_string(a & 255);
}

class Switch {
public:
    Switch(const SwitchOptions& o, const std::function<void(const std::string&)>& log) : opt_(o), log_(log), net_(o.seed) {}

    bool start(std::string* err, bool* uplink_failed) {
        if (!opt_.uplinks.empty()) {
            uplinks_ = open_uplinks(opt_.uplinks, err);
            if (uplinks_.empty()) return *uplink_failed = true, false;
            for (const auto& u : uplinks_) seg_mtu_ = std::min(seg_mtu_, u->mtu());
        }
        memfd_ = fab_.create();
        if (memfd_ < 0) return (*err = std::string("memfd: ") + std::strerror(errno)), false;
        const LinkParams& p = opt_.params;
        via_switch_ = !opt_.pcap.empty() || p.latency || p.jitter || p.loss > 0 || p.duplicate > 0 || p.reorder > 0;
        fab_.region()->hdr.via_switch = via_switch_;
        // Bridged to other segments, the ports' MACs must not repeat another switch's.
        uint16_t id = 0;
        while (!uplinks_.empty() && id == 0)
            if (getrandom(&id, sizeof id, 0) != sizeof id) id = uint16_t(getpid());
        fab_.region()->hdr.mac_id = id;
        fab_.reset_ring(0);
        fab_.region()->hdr.ports[0].used.store(1, std::memory_order_release);
        net_.set_realtime(&mu_);
        seg_ = net_.add_segment("switch", p);
        if (!opt_.pcap.empty() && !net_.capture(seg_, opt_.pcap))
            return (*err = "cannot write " + opt_.pcap), false;
        if (!opt_.gateway.any()) {
            Stack& gw = net_.add_host("gateway");
            const int ifx = net_.attach(gw, seg_, "eth0", std::min(1500u, seg_mtu_));
            gw.add_address(ifx, opt_.gateway, opt_.prefix);
        }
        for (const auto& u : uplinks_) {
            std::lock_guard<usnet::CallLock> g(mu_);
            u->attach(net_, seg_);
        }
        listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (opt_.socket_path.empty() || opt_.socket_path.size() >= sizeof a.sun_path)
            return (*err = "bad socket path"), false;
        std::memcpy(a.sun_path, opt_.socket_path.data(), opt_.socket_path.size());
        // A socket file left by a switch that is gone is replaced; a live one is not.
        struct stat st{};
        if (::stat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            ::close(probe);
            if (live) return (*err = "a switch is already listening on " + opt_.socket_path), false;
            ::unlink(a.sun_path);
        }
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_, 16) != 0)
            return (*err = opt_.socket_path + ": " + std::strerror(errno)), false;
        log_("usnet switch: listening on " + opt_.socket_path + (via_switch_ ? " (frames pass through the switch)" : " (frames go host to host)") +
             (opt_.gateway.any() ? "" : ", gateway " + ip_str(opt_.gateway.v) + "/" + std::to_string(opt_.prefix)));
        for (const auto& u : uplinks_)
            log_("usnet switch: uplink " + u->name() + " (hosts' mtu up to " + std::to_string(seg_mtu_) + ")");
        return true;
    }

    void serve(const std::atomic<bool>& stop) {
        std::thread control([&] { control_loop(stop); });
        // Each uplink has a thread that waits for its frames and injects them.
        std::vector<std::thread> readers;
        for (const auto& u : uplinks_)
            readers.emplace_back([&, up = u.get()] {
                while (!stop.load(std::memory_order_relaxed)) {
                    up->wait(100 * kMs);
                    std::lock_guard<usnet::CallLock> g(mu_);
                    up->take_in(net_);
                    net_.settle_now();
                    flush_uplinks();
                }
            });
        while (!stop.load(std::memory_order_relaxed)) {
            Time next;
            {
                std::lock_guard<usnet::CallLock> g(mu_);
                // From the hosts: frames for the gateway, or (via the switch) for anyone.
                fab_.drain(0, [&](uint32_t from, const uint8_t* data, uint32_t len, uint16_t) {
                    if (from < shm::kMaxPorts && hosts_[from].id >= 0) net_.inject(hosts_[from].id, data, len, !via_switch_);
                });
                net_.settle_now();
                flush_uplinks();
                next = net_.next_event();
            }
            const Time now = net_.now();
            const Time cap = 100 * kMs;
            fab_.wait(0, next == kNever ? cap : std::clamp<Time>(next - now, 0, cap));
        }
        control.join();
        for (auto& r : readers) r.join();
        for (const auto& u : uplinks_) log_("usnet switch: uplink " + u->stats());
        ::close(listen_);
        ::unlink(opt_.socket_path.c_str());
    }

private:
    void flush_uplinks() {
        for (const auto& u : uplinks_) u->flush();
    }

    void control_loop(const std::atomic<bool>& stop) {
        while (!stop.load(std::memory_order_relaxed)) {
            std::vector<pollfd> p{{listen_, POLLIN, 0}};
            for (uint32_t i = 1; i < shm::kMaxPorts; ++i)
                if (hosts_[i].conn >= 0) p.push_back({hosts_[i].conn, POLLIN, 0});
            if (::poll(p.data(), p.size(), 100) <= 0) continue;
            if (p[0].revents & POLLIN) admit();
            for (size_t k = 1; k < p.size(); ++k)
                if (p[k].revents) release(p[k].fd);  // a host only ever closes its connection
        }
        for (uint32_t i = 1; i < shm::kMaxPorts; ++i)
            if (hosts_[i].conn >= 0) release(hosts_[i].conn);
    }

    void admit() {
        const int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        timeval tv{1, 0};  // a host that connects and says nothing does not hold the switch up
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        shm::Hello h;
        int unused = -1;
        shm::Welcome w;
        if (!shm::recv_with_fd(c, &h, sizeof h, &unused) || h.magic != shm::kMagic || h.version != shm::kVersion) {
            if (unused >= 0) ::close(unused);
            ::close(c);
            return;
        }
        // (The kernel's view of the peer's pid, unlike the hello's, is unique in our namespace.)
        ucred peer{};
        socklen_t pl = sizeof peer;
        ::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &pl);
        // A program that exec'd attaches again under the same pid, its old connection closed
        // by the exec but not yet seen closed here: it gets its port (and MAC) back, so its
        // peers' ARP entries hold. (One process may also attach several live stacks.)
        uint32_t port = 1;
        for (uint32_t i = 1; i < shm::kMaxPorts; ++i)
            if (hosts_[i].conn >= 0 && hosts_[i].peer_pid == peer.pid && hung_up(hosts_[i].conn)) {
                release(hosts_[i].conn);
                port = i;
            }
        while (port < shm::kMaxPorts && hosts_[port].conn >= 0) ++port;
        if (port == shm::kMaxPorts || h.mtu > seg_mtu_) {
            if (port == shm::kMaxPorts) std::snprintf(w.error, sizeof w.error, "all ports are taken");
            else std::snprintf(w.error, sizeof w.error, "mtu %u is above the %u the switch carries (use --mtu %u)", h.mtu, seg_mtu_, seg_mtu_);
            shm::send_with_fd(c, &w, sizeof w, -1);
            ::close(c);
            return;
        }
        const Mac mac = shm::port_mac(port, fab_.region()->hdr.mac_id);
        shm::PortInfo& info = fab_.region()->hdr.ports[port];
        fab_.reset_ring(port);
        info.pid = h.pid;
        info.addr = h.addr;
        std::memcpy(info.mac, mac.b.data(), 6);
        RemoteHost& rh = hosts_[port];
        rh.fab = &fab_;
        rh.port = port;
        {
            std::lock_guard<usnet::CallLock> g(mu_);
            rh.id = net_.add_external(seg_, mac, &rh);
        }
        info.used.store(1, std::memory_order_release);
        w.port = int32_t(port);
        std::memcpy(w.mac, mac.b.data(), 6);
        if (!shm::send_with_fd(c, &w, sizeof w, memfd_)) {
            release_port(port);
            ::close(c);
            return;
        }
        rh.conn = c;
        rh.peer_pid = peer.pid;
        log_("usnet switch: port " + std::to_string(port) + " attached: pid " + std::to_string(h.pid) + ", " +
             ip_str(h.addr) + ", " + mac.str());
    }

    // A host never writes after its hello: readable means closed.
    static bool hung_up(int conn) {
        pollfd p{conn, POLLIN, 0};
        return ::poll(&p, 1, 0) > 0;
    }

    void release(int conn) {
        for (uint32_t i = 1; i < shm::kMaxPorts; ++i) {
            if (hosts_[i].conn != conn) continue;
            const uint32_t pid = fab_.region()->hdr.ports[i].pid;
            release_port(i);
            ::close(conn);
            hosts_[i].conn = -1;
            log_("usnet switch: port " + std::to_string(i) + " left (pid " + std::to_string(pid) + ")");
        }
    }

    void release_port(uint32_t port) {
        fab_.region()->hdr.ports[port].used.store(0, std::memory_order_release);
        std::lock_guard<usnet::CallLock> g(mu_);
        if (hosts_[port].id >= 0) net_.remove_external(hosts_[port].id);
        hosts_[port].id = -1;
    }

    SwitchOptions opt_;
    std::function<void(const std::string&)> log_;
    usnet::CallLock mu_;
    Network net_;
    shm::Fabric fab_;
    int memfd_ = -1;
    int listen_ = -1;
    int seg_ = 0;
    bool via_switch_ = false;
    RemoteHost hosts_[shm::kMaxPorts];
    std::vector<std::unique_ptr<SwitchUplink>> uplinks_;
    uint32_t seg_mtu_ = shm::kMaxMtu;  // the smallest an uplink carries
};

}  // namespace

bool run_switch(const SwitchOptions& opt, const std::atomic<bool>& stop, std::string* err,
                const std::function<void(const std::string&)>& log, bool* uplink_failed) {
    Switch sw(opt, log);
    bool failed_uplink = false;
    const bool ok = sw.start(err, &failed_uplink);
    if (uplink_failed) *uplink_failed = failed_uplink;
    if (!ok) return false;
    sw.serve(stop);
    return true;
}

}  // namespace usnet::sim
