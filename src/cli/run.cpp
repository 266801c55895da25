// `usnet run -- PROGRAM [ARGS...]`: the program runs unmodified, its IPv4 datagram sockets
// served by a usnet stack in its own process (the default world).
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace usnet::cli {

namespace {

// The shim next to this binary: build tree (../preload) or install tree (../lib*/usnet).
std::string find_preload() {
    if (const char* p = std::getenv("USNET_PRELOAD")) return p;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return "";
    const fs::path dir = exe.parent_path();
    for (const fs::path& c : {dir / "../preload/libusnet-preload.so", dir / "../lib/usnet/libusnet-preload.so",
                              dir / "../lib64/usnet/libusnet-preload.so",
                              dir / "../lib/x86_64-linux-gnu/usnet/libusnet-preload.so"}) {
        if (fs::exists(c, ec)) return fs::canonical(c, ec).string();
    }
    return "";
}

}  // namespace

int run_program(const std::vector<std::string>& args, const char* argv0) {
    std::vector<std::string> cmd = args;
    // Options of `usnet run` come before `--` (or before the program).
    while (!cmd.empty() && cmd.front().rfind("--", 0) == 0 && cmd.front() != "--") {
        const std::string& o = cmd.front();
        if (o == "--explain") setenv("USNET_EXPLAIN", "1", 1);
        else if (o.rfind("--explain=", 0) == 0) setenv("USNET_EXPLAIN", o.substr(10).c_str(), 1);
        else if (o == "--stat") setenv("USNET_STAT", "1", 1);
        else {
            fmt::print(stderr, "usnet run: unknown option {}\n", o);
            return 2;
        }
        cmd.erase(cmd.begin());
    }
    if (!cmd.empty() && cmd.front() == "--") cmd.erase(cmd.begin());
    if (cmd.empty()) {
        fmt::print(stderr, "usage: {} run [--explain[=FILE]] [--stat] -- PROGRAM [ARGS...]\n", argv0);
        return 2;
    }
    const std::string lib = find_preload();
    if (lib.empty()) {
        fmt::print(stderr, "usnet run: cannot find libusnet-preload.so (set USNET_PRELOAD)\n");
        return 2;
    }
    std::string preload = lib;
    if (const char* old = std::getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
    setenv("LD_PRELOAD", preload.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    fmt::print(stderr, "usnet run: {}: {}\n", cmd.front(), std::strerror(errno));
    return 127;
}

}  // namespace usnet::cli
