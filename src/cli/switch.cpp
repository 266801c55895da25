// `usnet switch --socket PATH`: a virtual Ethernet switch that programs under
// `usnet run --switch PATH` attach to, with a simulated gateway and optional faults.
#include <fmt/core.h>
#include <signal.h>

#include <atomic>

#include "cli/commands.hpp"
#include "usnet/sim.hpp"

namespace usnet::cli {

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }
}  // namespace

int run_switch(const SwitchCliOptions& o) {
    sim::SwitchOptions opt;
    opt.socket_path = o.socket;
    opt.pcap = o.pcap;
    opt.seed = o.seed;
    opt.params.latency = Time(o.delay_us * 1000);
    opt.params.jitter = Time(o.jitter_us * 1000);
    opt.params.loss = o.loss;
    opt.params.duplicate = o.duplicate;
    opt.params.reorder = o.reorder;
    opt.uplinks = o.uplinks;
    if (o.gateway == "none") {
        opt.gateway = Ip4();
    } else {
        sim::WorldSpec spec;
        std::string err;
        if (!sim::parse_world("addr " + o.gateway, &spec, &err)) {
            fmt::print(stderr, "usnet switch: --gateway: expected ADDRESS/PREFIX or none\n");
            return 2;
        }
        opt.gateway = spec.addrs.front().first;
        opt.prefix = spec.addrs.front().second;
    }
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::string err;
    bool uplink_failed = false;
    const bool ok = sim::run_switch(
        opt, g_stop, &err,
        [](const std::string& line) {
            fmt::print(stderr, "{}\n", line);
            std::fflush(stderr);
        },
        &uplink_failed);
    if (!ok) {
        fmt::print(stderr, "usnet switch: {}\n", err);
        return uplink_failed ? 2 : 1;  // a device missing, busy or not ours is a usage error
    }
    return 0;
}

}  // namespace usnet::cli
