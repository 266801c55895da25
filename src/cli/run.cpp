// `usnet run -- PROGRAM [ARGS...]`: the program runs unmodified, its IPv4 datagram sockets
// served by a usnet stack in its own process (the default world).
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "preload/static_elf.hpp"
#include "usnet/sim.hpp"
#include "usnet/trace.hpp"

namespace usnet::cli {

// A file of usnet's next to this binary: build tree (same or ../preload) or install tree
// (../lib*/usnet).
std::string find_beside(const std::string& file) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) {
        // No /proc/self/exe to read (a chroot without /proc, a process that may not read
        // its own): the path it was started by, when that names a file.
        const std::string argv0 = program_invocation_name;
        if (argv0.find('/') == std::string::npos) return "";
        exe = fs::absolute(argv0, ec);
        if (ec) return "";
    }
    const fs::path dir = exe.parent_path();
    for (const fs::path& c : {dir / file, dir / "../preload" / file, dir / "../lib/usnet" / file,
                              dir / "../lib64/usnet" / file, dir / "../lib/x86_64-linux-gnu/usnet" / file}) {
        if (fs::exists(c, ec)) return fs::canonical(c, ec).string();
    }
    return "";
}

std::string find_preload() {
    if (const char* p = std::getenv("USNET_PRELOAD")) return p;
    return find_beside("libusnet-preload.so");
}

namespace {

constexpr const char* kUsage =
    "usage: {} run [--explain[=FILE]] [--trace[=FILE|CALL,...]] [--trace-fd N] [--trace-errors]\n"
    "              [--trace-inbound=on|off] [--stat] [--topology FILE] [--addr A/N] [--gateway G|none]\n"
    "              [--mtu N] [--route 'NET/N via G'] [--switch PATH | --tap NAME] [--pcap FILE] [--seed N]\n"
    "              [--busy-poll US] -- PROGRAM [ARGS...]\n";

constexpr const char* kHelp =
    "Runs PROGRAM unmodified with its IPv4 datagram sockets (UDP and ICMP ping) in a usnet stack\n"
    "inside the process; everything else goes to the kernel.\n"
    "\n"
    "Explanations and traces (nothing the program sees changes):\n"
    "  --explain[=FILE]        one line per failing usnet call: the Linux rule that fired and why\n"
    "  --stat                  the stack's counters when the program exits\n"
    "  --trace[=FILE]          each call's path through the stack, in the kernel's terms (docs/trace.md)\n"
    "  --trace=CALL,...        only these calls, e.g. --trace=connect,getpeername\n"
    "  --trace-fd N            only calls on descriptor N\n"
    "  --trace-errors          only calls that fail\n"
    "  --trace-inbound=off     no trees for frames arriving and timers\n"
    "\n"
    "The world (default: eth0 10.0.2.15/24, gateway 10.0.2.2, a simulated private network):\n"
    "  --topology FILE         settings from a file, one a line (addr, gateway, mtu, route, switch, seed)\n"
    "  --addr A/N              eth0's address (more than once: more addresses)\n"
    "  --gateway G|none        the default route and simulated gateway\n"
    "  --mtu N                 eth0's mtu\n"
    "  --route 'NET/N via G'   a route (or: dev eth0 | blackhole | unreachable | prohibit)\n"
    "  --switch PATH           attach eth0 to a usnet switch (usnet switch --socket PATH)\n"
    "  --tap NAME              attach eth0 to a TAP device\n"
    "  --pcap FILE             capture eth0's frames\n"
    "  --seed N                the simulation's seed\n"
    "\n"
    "  --busy-poll US          a blocked call looks for up to US microseconds before it sleeps\n"
    "                          (as Linux's SO_BUSY_POLL; default 50, 0: sleep at once; on a switch\n"
    "                          or the private network, with more than one CPU); after a fork, each\n"
    "                          wait between a process and the keeper likewise\n"
    "  -h, --help              this help\n";
// --trace and its filters, as the shim's USNET_TRACE* variables. --trace=X takes a list of
// call names (connect,getpeername) as a filter and anything else as the file to write.
bool trace_option(std::vector<std::string>& cmd, bool* ok) {
    const std::string o = cmd.front();
    auto value = [&](const std::string& flag, std::string* v) {
        if (o == flag && cmd.size() >= 2 && cmd[1] != "--") return *v = cmd[1], cmd.erase(cmd.begin()), true;
        if (o.rfind(flag + "=", 0) == 0) return *v = o.substr(flag.size() + 1), true;
        return false;
    };
    std::string v;
    if (o == "--trace") {
        setenv("USNET_TRACE", "1", 1);
    } else if (o.rfind("--trace=", 0) == 0) {
        v = o.substr(8);
        bool calls = !v.empty();
        const auto& known = trace_call_names();
        for (size_t pos = 0; calls && pos <= v.size();) {
            const size_t end = std::min(v.find(',', pos), v.size());
            calls = std::find(known.begin(), known.end(), v.substr(pos, end - pos)) != known.end();
            pos = end + 1;
        }
        setenv("USNET_TRACE", "1", 1);
        setenv(calls ? "USNET_TRACE_CALLS" : "USNET_TRACE_FILE", v.c_str(), 1);
    } else if (value("--trace-fd", &v)) {
        setenv("USNET_TRACE", "1", 0);
        setenv("USNET_TRACE_FD", v.c_str(), 1);
    } else if (o == "--trace-errors") {
        setenv("USNET_TRACE", "1", 0);
        setenv("USNET_TRACE_ERRORS", "1", 1);
    } else if (value("--trace-inbound", &v)) {
        if (v != "on" && v != "off") {
            fmt::print(stderr, "usnet run: --trace-inbound takes on or off\n");
            return *ok = false, true;
        }
        setenv("USNET_TRACE", "1", 0);
        setenv("USNET_TRACE_INBOUND", v == "off" ? "0" : "1", 1);
    } else {
        return false;
    }
    return true;
}

// The world's lines (sim::parse_world): the topology file's, then the flags' in order.
bool world_option(std::vector<std::string>& cmd, std::string& world, bool* ok) {
    static const char* const kFlags[][2] = {{"--addr", "addr"},   {"--gateway", "gateway"}, {"--mtu", "mtu"},
                                            {"--route", "route"}, {"--switch", "switch"},   {"--seed", "seed"},
                                            {"--tap", "tap"},     {"--pcap", "pcap"}};
    const std::string o = cmd.front();
    for (const auto& [flag, key] : kFlags) {
        const std::string f = flag;
        std::string value;
        if (o == f && cmd.size() >= 2) value = cmd[1], cmd.erase(cmd.begin());
        else if (o.rfind(f + "=", 0) == 0) value = o.substr(f.size() + 1);
        else continue;
        world += std::string(key) + " " + value + "\n";
        return true;
    }
    if (o == "--topology" || o.rfind("--topology=", 0) == 0) {
        std::string path = o.size() > 10 ? o.substr(11) : "";
        if (path.empty() && cmd.size() >= 2) path = cmd[1], cmd.erase(cmd.begin());
        std::ifstream in(path);
        if (!in) {
            fmt::print(stderr, "usnet run: cannot read topology file {}\n", path);
            return *ok = false, true;
        }
        std::stringstream text;
        text << in.rdbuf();
        world = text.str() + "\n" + world;
        return true;
    }
    return false;
}

// Whether a switch listens at `path`: a socket file left by a switch that is gone (or any
// other file) is no switch. The switch takes a connection that says nothing and closes.
bool switch_listening(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return false;
    std::memcpy(a.sun_path, path.data(), path.size());
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return true;  // cannot tell: let the shim report what it finds
    const bool live = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return live;
}

// The file execvp would run for `name`.
std::string find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (size_t pos = 0; pos <= dirs.size();) {
        size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        const std::string dir = end > pos ? dirs.substr(pos, end - pos) : ".";
        const std::string f = dir + "/" + name;
        if (::access(f.c_str(), X_OK) == 0) return f;
        pos = end + 1;
    }
    return {};
}

// Whether `file` is a statically linked ELF program: no dynamic loader to load the shim,
// so `usnet run` serves it from outside (src/preload/supervise.cpp).
bool is_static_elf(const std::string& file) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // execvp reports it
    const bool r = usnet::shim::static_elf(
        [fd](void* b, size_t n, uint64_t off) { return ::pread(fd, b, n, off_t(off)) == ssize_t(n); });
    ::close(fd);
    return r;
}

// Why the dynamic loader would not load the shim into this program, or "": a set-id or
// file-capability program runs in secure mode, where LD_PRELOAD is ignored. Its sockets
// would silently be the kernel's.
std::string why_no_preload(const std::string& file) {
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) return {};
    if (((st.st_mode & S_ISUID) && st.st_uid != ::geteuid()) || ((st.st_mode & S_ISGID) && st.st_gid != ::getegid()))
        return "it is set-user-ID or set-group-ID: the loader runs it in secure mode and ignores LD_PRELOAD";
    return {};
}

}  // namespace

// `usnet __supervise PROGRAM...`: run by `usnet run` with the shim preloaded; the shim's
// supervisor runs the statically linked PROGRAM.
int supervise(const std::vector<std::string>& args) {
    using Fn = int(char**);
    auto* fn = reinterpret_cast<Fn*>(dlsym(RTLD_DEFAULT, "usnet_supervise"));
    if (!fn || args.empty()) {
        fmt::print(stderr, "usnet: __supervise is for usnet run (the shim is not loaded)\n");
        return 2;
    }
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    return fn(argv.data());
}

int run_program(const std::vector<std::string>& args, const char* argv0) {
    std::vector<std::string> cmd = args;
    std::string world;
    // Options of `usnet run` come before `--` (or before the program); a program whose name
    // starts with - goes after `--`.
    while (!cmd.empty() && cmd.front().rfind("-", 0) == 0 && cmd.front() != "--") {
        const std::string o = cmd.front();
        bool ok = true;
        if (o == "-h" || o == "--help") {
            fmt::print(kUsage, argv0);
            fmt::print("\n{}", kHelp);
            return 0;
        }
        if (o == "--explain") setenv("USNET_EXPLAIN", "1", 1);
        else if (o.rfind("--explain=", 0) == 0) setenv("USNET_EXPLAIN", o.substr(10).c_str(), 1);
        else if (o == "--stat") setenv("USNET_STAT", "1", 1);
        else if (o == "--busy-poll" || o.rfind("--busy-poll=", 0) == 0) {
            std::string v = o.size() > 11 ? o.substr(12) : "";
            if (o.size() == 11 && cmd.size() >= 2) v = cmd[1], cmd.erase(cmd.begin());
            char* end = nullptr;
            const unsigned long us = v.empty() ? 0 : std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || *end || v[0] == '-' || us > 1000000) {
                fmt::print(stderr, "usnet run: --busy-poll takes microseconds, 0 to 1000000\n");
                return 2;
            }
            setenv("USNET_BUSY_POLL", v.c_str(), 1);
        }
        else if (!trace_option(cmd, &ok) && !world_option(cmd, world, &ok)) {
            fmt::print(stderr, "usnet run: unknown option {} (usnet run --help lists them)\n", o);
            return 2;
        }
        if (!ok) return 2;
        cmd.erase(cmd.begin());
    }
    if (!cmd.empty() && cmd.front() == "--") cmd.erase(cmd.begin());
    if (cmd.empty()) {
        fmt::print(stderr, kUsage, argv0);
        return 2;
    }
    if (!world.empty()) {
        // Checked here so a mistake is reported before the program starts; the shim reads
        // the same text from USNET_WORLD.
        sim::WorldSpec spec;
        std::string err;
        if (!sim::parse_world(world, &spec, &err)) {
            fmt::print(stderr, "usnet run: topology {}\n", err);
            return 2;
        }
        // Built once here on a private wire, so a route the stack refuses is reported now
        // (and on the TAP, so a device that is missing, busy or not ours is too).
        sim::WorldSpec dry = spec;
        dry.switch_path.clear();
        dry.pcap.clear();
        if (!sim::build_world(dry, {}, &err).net) {
            fmt::print(stderr, "usnet run: {}{}\n", spec.tap.name.empty() ? "topology: " : "", err);
            return 2;
        }
        if (!spec.switch_path.empty() && !switch_listening(spec.switch_path)) {
            fmt::print(stderr, "usnet run: no switch at {} (start one with: usnet switch --socket {})\n",
                       spec.switch_path, spec.switch_path);
            return 2;
        }
        setenv("USNET_WORLD", world.c_str(), 1);
    }
    const std::string lib = find_preload();
    if (lib.empty()) {
        std::error_code ec;
        fmt::print(stderr, "usnet run: cannot find libusnet-preload.so beside {} (set USNET_PRELOAD)\n",
                   std::filesystem::read_symlink("/proc/self/exe", ec).string());
        return 2;
    }
    std::string preload = lib;
    if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
    setenv("LD_PRELOAD", preload.c_str(), 1);
    const std::string file = find_program(cmd.front());
    if (const std::string why = file.empty() ? "" : why_no_preload(file); !why.empty()) {
        fmt::print(stderr, "usnet run: cannot run {} on usnet: {}\n", cmd.front(), why);
        return 2;
    }
    // (The shim execs a statically linked program through this binary too.)
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    setenv("USNET_CLI", self.c_str(), 1);
    if (!file.empty() && is_static_elf(file)) {
        // Served from outside: this binary again, as the supervisor, with the shim loaded
        // (and its in-process trap off: the program gets a filter of its own).
        setenv("USNET_TRAP", "0", 1);
        cmd.insert(cmd.begin(), {self, "__supervise", file});
    }
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fmt::print(stderr, "usnet run: {}: {}\n", cmd.front(), std::strerror(errno));
    return 127;
}

}  // namespace usnet::cli
