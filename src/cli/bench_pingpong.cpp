// usnet bench pingpong: round trips between two processes. usnet: two programs under the
// shim on a `usnet switch` (run by this process); kernel: the same programs over 127.0.0.1
// inside a private network namespace. Each setting twice: both ends spinning on
// non-blocking receives, and both ends blocking in recv. Then sockperf (if installed) in
// the same two settings. The settings take turns over rounds.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/kernel_ns.hpp"
#include "usnet/sim.hpp"

extern char** environ;

namespace usnet::cli {

namespace {

constexpr size_t kSize = 64;
constexpr size_t kFrameOverhead = 14 + 20 + 8;  // Ethernet, IPv4 and UDP headers around a datagram

// A process with extra environment; its stdout into *out_fd (a pipe) when asked.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int* out_fd) {
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    for (const auto& x : env) envs.push_back(x);
    std::vector<char*> a, e;
    for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
    for (const auto& x : envs) e.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int p[2] = {-1, -1};
    if (out_fd) {
        if (pipe2(p, O_CLOEXEC) != 0) return -1;
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return rc == 0 ? pid : -1;
}

std::string read_all(int fd) {
    std::string s;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR);)
        if (n > 0) s.append(buf, size_t(n));
    close(fd);
    return s;
}

void reap(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

// A server and a client; the client's stdout.
std::string run_pair(const std::vector<std::string>& server, const std::vector<std::string>& client,
                     const std::vector<std::string>& env_server, const std::vector<std::string>& env_client) {
    const pid_t s = spawn(server, env_server, nullptr);
    if (s < 0) return "fail cannot start " + server[0];
    usleep(200 * 1000);  // sockperf's client does not wait for its server
    int out = -1;
    const pid_t c = spawn(client, env_client, &out);
    if (c < 0) {
        reap(s);
        return "fail cannot start " + client[0];
    }
    std::string text = read_all(out);
    waitpid(c, nullptr, 0);
    reap(s);
    return text;
}

struct Rtt {
    double median = NAN, mean = NAN, p99 = NAN;
    std::string error;
};

// A worker's "ok MEDIAN MEAN P99 COUNT [FLOOR]"; the paired floor's median into *floor.
Rtt parse_worker(const std::string& out, double* floor = nullptr) {
    Rtt r;
    std::istringstream in(out);
    std::string word;
    double count = 0;
    in >> word;
    if (word != "ok" || !(in >> r.median >> r.mean >> r.p99 >> count) || (floor && !(in >> *floor))) {
        r = Rtt{};
        r.error = out.empty() ? "no output" : out.substr(0, out.find('\n'));
    }
    return r;
}

// sockperf prints round trips in microseconds with --full-rtt.
Rtt parse_sockperf(const std::string& out) {
    Rtt r;
    auto number_after = [&](const std::string& key) {
        const auto k = out.find(key);
        return k == std::string::npos ? NAN : std::atof(out.c_str() + k + key.size());
    };
    r.median = number_after("percentile 50.000 =") * 1000;
    r.mean = number_after("avg-rtt=") * 1000;
    r.p99 = number_after("percentile 99.000 =") * 1000;
    if (!std::isfinite(r.median)) {
        // Its last line says why (a sockperf client does not wait for its server).
        std::string last = out.substr(0, out.find_last_not_of('\n') + 1);
        last = last.substr(last.find_last_of('\n') + 1);
        r.error = "no sockperf summary" + (last.empty() ? std::string() : ": " + last);
    }
    return r;
}

struct Setting {
    Rtt ours, sockperf;
};

// One setting's figures, a round each; reported as the median of each figure over the
// rounds that gave one (the first error if none did).
constexpr int kRounds = 3;
using Rounds = std::vector<Rtt>;
double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
Rtt median_of(const Rounds& rounds) {
    std::vector<double> med, mean, p99;
    for (const Rtt& r : rounds)
        if (r.error.empty()) {
            med.push_back(r.median);
            mean.push_back(r.mean);
            p99.push_back(r.p99);
        }
    if (med.empty()) return rounds.empty() ? Rtt{NAN, NAN, NAN, "not measured"} : rounds.front();
    return Rtt{median(med), median(mean), median(p99), ""};
}

// Both tools in both modes against one server address. env: how each end is started.
void measure(const std::string& worker, const std::string& addr, double seconds,
             const std::vector<std::string>& env_server, const std::vector<std::string>& env_client, bool sockperf,
             Setting* spin, Setting* block) {
    const std::string secs = fmt::format("{}", seconds);
    for (Setting* st : {spin, block}) {
        const std::string mode = st == spin ? "spin" : "block";
        st->ours = parse_worker(run_pair({worker, "server", addr, "9100", mode},
                                         {worker, "client", addr, "9100", mode, secs, std::to_string(kSize)},
                                         env_server, env_client));
        if (!sockperf) {
            st->sockperf.error = "sockperf is not installed";
            continue;
        }
        // sockperf's spinning client busy-polls a non-blocking socket; its server waits in
        // epoll either way (a --nonblocked server stalls even on the kernel).
        // (sockperf counts whole seconds.) Its client sizes its table of sent sequence numbers
        // for (1 + seconds) * mps, and "max" mps assumes a rate far below a fast shared-memory
        // round trip, which then ends the run with "_seqN > m_maxSequenceNo"; a stated rate
        // above anything reached here sizes the table for it (both stacks get the same flags).
        const std::string whole = std::to_string(std::max(1L, std::lround(seconds)));
        std::vector<std::string> cl = {"sockperf", "pp", "-i", addr, "-p", "11111", "-t", whole, "-m", std::to_string(kSize),
                                       "--full-rtt", "--mps", "5000000"};
        if (st == spin) cl.push_back("--nonblocked");
        st->sockperf = parse_sockperf(run_pair({"sockperf", "sr", "-i", addr, "-p", "11111"}, cl, env_server, env_client));
    }
}

std::string encode(const Rtt& r) {
    return r.error.empty() ? fmt::format("{} {} {}", r.median, r.mean, r.p99) : "x " + r.error;
}

bool have(const char* prog) {
    const std::string cmd = std::string("command -v ") + prog + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

std::string fmt_us(double ns) { return std::isfinite(ns) ? fmt::format("{:.2f}", ns / 1000) : "-"; }
std::string json_ns(double v) { return std::isfinite(v) ? fmt::format("{:.0f}", v) : "null"; }

}  // namespace

int bench_pingpong(const BenchOptions& o) {
    const std::string worker = find_beside("usnet-pingpong"), preload = find_preload();
    if (worker.empty() || preload.empty()) {
        fmt::print(stderr, "usnet bench pingpong: cannot find usnet-pingpong or libusnet-preload.so next to usnet\n");
        return 1;
    }
    const bool sockperf = have("sockperf");

    // The settings take turns, round after round: on a VM the host moves the two virtual
    // CPUs nearer or further apart from one second to the next, which changes a spinning
    // round trip several times over; turns make that weigh on every setting alike.
    const double slice = o.seconds / kRounds;
    Rounds kspin_ours, kblock_ours, kspin_perf, kblock_perf, uspin_ours, ublock_ours, uspin_perf, ublock_perf, usleep_rtt,
        paired_rtt, floor_rtt;
    std::vector<double> paired_floor;

    // usnet: a switch in this process, each end a program under the shim attached to it.
    const std::string sock = fmt::format("/tmp/usnet-bench-{}.sock", getpid());
    std::atomic<bool> stop{false};
    std::string serr;
    std::thread sw([&] {
        sim::SwitchOptions so;
        so.socket_path = sock;
        sim::run_switch(so, stop, &serr, [](const std::string&) {});
    });
    for (int i = 0; i < 100 && access(sock.c_str(), F_OK) != 0; ++i) usleep(10 * 1000);
    auto env = [&](const char* addr) {
        return std::vector<std::string>{"LD_PRELOAD=" + preload, fmt::format("USNET_WORLD=switch {}\naddr {}\n", sock, addr)};
    };
    // Blocking again with busy polling off (`usnet run --busy-poll 0`): every wait sleeps
    // and is woken, as on the kernel, which does not busy-poll loopback.
    auto sleeping = [&](const char* addr) {
        auto e = env(addr);
        e.push_back("USNET_BUSY_POLL=0");
        return e;
    };

    for (int round = 0; round < kRounds; ++round) {
        // The kernel: both ends inside one private network namespace, over 127.0.0.1.
        Setting kspin, kblock;
        std::string out, why;
        std::fflush(stdout);
        const bool kok = run_in_private_netns(
            [&] {
                measure(worker, "127.0.0.1", slice, {}, {}, sockperf, &kspin, &kblock);
                return encode(kspin.ours) + "\n" + encode(kblock.ours) + "\n" + encode(kspin.sockperf) + "\n" +
                       encode(kblock.sockperf) + "\n";
            },
            &out, &why);
        if (kok) {
            std::istringstream in(out);
            std::string line;
            for (Rtt* r : {&kspin.ours, &kblock.ours, &kspin.sockperf, &kblock.sockperf}) {
                std::getline(in, line);
                std::istringstream l(line);
                if (line.rfind("x ", 0) == 0) *r = Rtt{NAN, NAN, NAN, line.substr(2)};
                else l >> r->median >> r->mean >> r->p99;
            }
        } else {
            for (Rtt* r : {&kspin.ours, &kblock.ours, &kspin.sockperf, &kblock.sockperf}) r->error = why;
        }
        kspin_ours.push_back(kspin.ours);
        kblock_ours.push_back(kblock.ours);
        kspin_perf.push_back(kspin.sockperf);
        kblock_perf.push_back(kblock.sockperf);

        Setting uspin, ublock;
        measure(worker, "10.0.2.16", slice, env("10.0.2.16/24"), env("10.0.2.17/24"), sockperf, &uspin, &ublock);
        uspin_ours.push_back(uspin.ours);
        ublock_ours.push_back(ublock.ours);
        uspin_perf.push_back(uspin.sockperf);
        ublock_perf.push_back(ublock.sockperf);
        usleep_rtt.push_back(parse_worker(run_pair({worker, "server", "10.0.2.16", "9100", "block"},
                                                   {worker, "client", "10.0.2.16", "9100", "block",
                                                    fmt::format("{}", slice), std::to_string(kSize)},
                                                   sleeping("10.0.2.16/24"), sleeping("10.0.2.17/24"))));

        // Paired: spinning again, the same two processes also bouncing the frame through
        // shared memory between round trips, so that the floor and usnet are measured on one
        // placement of the VM's CPUs, and their difference is the stacks' own share.
        const std::string file = fmt::format("/tmp/usnet-bench-{}-pair", getpid());
        double pf = NAN;
        paired_rtt.push_back(parse_worker(run_pair({worker, "server", "10.0.2.16", "9100", "spin", file},
                                                   {worker, "client", "10.0.2.16", "9100", "spin",
                                                    fmt::format("{}", slice), std::to_string(kSize), file},
                                                   env("10.0.2.16/24"), env("10.0.2.17/24")),
                                          &pf));
        unlink(file.c_str());
        if (std::isfinite(pf)) paired_floor.push_back(pf);

        // The floor: the same frame bounced between two processes through shared memory, no stack.
        int fout = -1;
        const pid_t f = spawn({worker, "shm", fmt::format("{}", slice), std::to_string(kSize + kFrameOverhead)}, {}, &fout);
        floor_rtt.push_back(f < 0 ? parse_worker("") : parse_worker(read_all(fout)));
        if (f > 0) waitpid(f, nullptr, 0);
    }
    stop = true;
    sw.join();

    struct Row {
        const char* tool;
        const char* mode;
        const Rounds& us_rounds;
        const Rounds& k_rounds;
        Rtt us = median_of(us_rounds), k = median_of(k_rounds);
    };
    const Row rows[] = {{"usnet-pingpong", "spinning", uspin_ours, kspin_ours},
                        {"usnet-pingpong", "blocking", ublock_ours, kblock_ours},
                        {"usnet-pingpong", "sleeping", usleep_rtt, kblock_ours},
                        {"usnet-pingpong", "paired", paired_rtt, kspin_ours},
                        {"sockperf", "spinning", uspin_perf, kspin_perf},
                        {"sockperf", "blocking", ublock_perf, kblock_perf},
                        {"shared memory", "spinning", floor_rtt, kspin_ours}};
    const double paired_floor_median = median(paired_floor);
    if (o.json) {
        std::string j = "[";
        bool first = true;
        for (const Row& r : rows) {
            const double ratio = r.us.median / r.k.median;
            j += fmt::format("{}{{\"tool\":\"{}\",\"mode\":\"{}\",\"size\":{},\"usnet_rtt_ns\":{},\"kernel_rtt_ns\":{},"
                             "\"ratio\":{},\"usnet_mean_ns\":{},\"kernel_mean_ns\":{},\"usnet_p99_ns\":{},\"kernel_p99_ns\":{}",
                             first ? "" : ",", r.tool, r.mode, kSize, json_ns(r.us.median), json_ns(r.k.median),
                             std::isfinite(ratio) ? fmt::format("{:.3f}", ratio) : "null", json_ns(r.us.mean),
                             json_ns(r.k.mean), json_ns(r.us.p99), json_ns(r.k.p99));
            // Each round's median, to show how far the machine moved during the run.
            auto each = [](const Rounds& v) {
                std::string a;
                for (const Rtt& x : v) a += (a.empty() ? "" : ",") + json_ns(x.median);
                return "[" + a + "]";
            };
            j += fmt::format(",\"usnet_rounds_ns\":{},\"kernel_rounds_ns\":{}", each(r.us_rounds), each(r.k_rounds));
            if (&r.us_rounds == &paired_rtt)
                j += fmt::format(",\"floor_rtt_ns\":{},\"share_ns\":{}", json_ns(paired_floor_median),
                                 json_ns(r.us.median - paired_floor_median));
            if (!r.us.error.empty()) j += fmt::format(",\"usnet_error\":\"{}\"", r.us.error);
            if (!r.k.error.empty()) j += fmt::format(",\"kernel_error\":\"{}\"", r.k.error);
            j += "}";
            first = false;
        }
        fmt::print("{}]\n", j);
        return 0;
    }
    fmt::print("usnet bench pingpong: {}-byte UDP round trips between two processes, {:.3g} s each, taking turns in {} rounds\n",
               kSize, o.seconds, kRounds);
    fmt::print("usnet: two programs under usnet run on a usnet switch; kernel: the same over 127.0.0.1 in a private netns\n");
    fmt::print("figures are median round trips in microseconds (mean and p99 with --json), each the median of\n"
               "the rounds' figures; sleeping: blocking with usnet's busy polling off (usnet run --busy-poll 0),\n"
               "against the kernel's blocking; shared memory: the same frame bounced between two processes\n"
               "through shared memory with no stack (the floor of any shared-memory wire on this machine),\n"
               "against the kernel's spinning usnet-pingpong; paired: spinning, the same two processes also\n"
               "bouncing the frame through shared memory between round trips (the floor where the VM put them)\n\n");
    fmt::print("{:<16} {:<9} {:>12} {:>12} {:>13}\n", "tool", "mode", "usnet us", "kernel us", "usnet/kernel");
    for (const Row& r : rows) {
        const double ratio = r.us.median / r.k.median;
        fmt::print("{:<16} {:<9} {:>12} {:>12} {:>13}\n", r.tool, r.mode, fmt_us(r.us.median), fmt_us(r.k.median),
                   std::isfinite(ratio) ? fmt::format("{:.3f}", ratio) : "-");
        if (!r.us.error.empty()) fmt::print("  usnet: {}\n", r.us.error);
        if (!r.k.error.empty()) fmt::print("  kernel: {}\n", r.k.error);
    }
    const Rtt paired = median_of(paired_rtt);
    if (std::isfinite(paired_floor_median) && std::isfinite(paired.median))
        fmt::print("\npaired: usnet {} us, the floor in the same processes {} us: the stacks' share {} us\n",
                   fmt_us(paired.median), fmt_us(paired_floor_median), fmt_us(paired.median - paired_floor_median));
    return 0;
}

}  // namespace usnet::cli
