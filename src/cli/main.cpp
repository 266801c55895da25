// The usnet command: demo, bench.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"usnet: a userspace UDP/IPv4 stack with Linux's socket semantics"};
    app.require_subcommand(1);
    auto* demo = app.add_subcommand("demo", "Replay the seed note's getpeername experiment on the kernel and on usnet");
    auto* bench = app.add_subcommand("bench", "Measure usnet against the kernel in the same run");
    // `run` passes everything after it to the program untouched, so it is parsed by hand.
    app.add_subcommand("run", "Run PROGRAM with its IPv4 datagram sockets in usnet: usnet run -- PROGRAM [ARGS...]");
    if (argc >= 2 && std::string(argv[1]) == "run") return usnet::cli::run_program({argv + 2, argv + argc}, argv[0]);
    if (argc >= 2 && std::string(argv[1]) == "__supervise") return usnet::cli::supervise({argv + 2, argv + argc});
    app.add_subcommand("explain", "Every reason a call fails with an errno: usnet explain ENOTCONN getpeername");
    if (argc >= 2 && std::string(argv[1]) == "explain") return usnet::cli::run_explain({argv + 2, argv + argc});
    app.add_subcommand("stat", "Counters of a program running under usnet run: usnet stat PID");
    if (argc >= 2 && std::string(argv[1]) == "stat") return usnet::cli::run_stat({argv + 2, argv + argc});
    app.add_subcommand("ip", "Change a running program's usnet stack as ip changes the kernel's: usnet ip PID route add ...");
    if (argc >= 2 && std::string(argv[1]) == "ip") return usnet::cli::run_ip({argv + 2, argv + argc});
    usnet::cli::SwitchCliOptions sopt;
    auto* sw = app.add_subcommand("switch", "A virtual Ethernet switch for programs under usnet run --switch PATH");
    sw->add_option("--socket", sopt.socket, "Unix socket path the switch listens on")->required();
    sw->add_option("--gateway", sopt.gateway, "The simulated gateway host's address, or none")->default_val("10.0.2.2/24");
    sw->add_option("--delay", sopt.delay_us, "One-way delay per frame, microseconds");
    sw->add_option("--jitter", sopt.jitter_us, "Extra delay, uniform in [0, jitter] microseconds");
    sw->add_option("--loss", sopt.loss, "Probability a frame is lost")->check(CLI::Range(0.0, 1.0));
    sw->add_option("--duplicate", sopt.duplicate, "Probability a frame is delivered twice")->check(CLI::Range(0.0, 1.0));
    sw->add_option("--reorder", sopt.reorder, "Probability a frame is held back (reordered)")->check(CLI::Range(0.0, 1.0));
    sw->add_option("--pcap", sopt.pcap, "Write every frame to this pcap file");
    sw->add_option("--seed", sopt.seed, "Seed of the fault injection");
    sw->add_option("--uplink", sopt.uplinks,
                   "Join the segment to tap:NAME (a TAP device) or vxlan:REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]] "
                   "(repeat for more)");
    usnet::cli::BenchOptions bopt;
    bench->add_option("what", bopt.what, "What to measure: loopback (one process), pingpong (two processes, over a usnet switch) or tap (to and from the kernel over a TAP)")->default_val("loopback");
    bench->add_flag("--json", bopt.json, "Print the figures as JSON");
    bench->add_option("--seconds", bopt.seconds, "Seconds per measurement")->default_val(1.0);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // A usage mistake is exit status 2, as for every other command line tool.
        app.exit(e);
        return 2;
    }
    if (*demo) return usnet::cli::run_demo();
    if (*bench) return usnet::cli::run_bench(bopt);
    if (*sw) return usnet::cli::run_switch(sopt);
    return 0;
}
