// `usnet stat PID`: the counters of a program running under `usnet run`, nstat style.
// `usnet ip PID ARGS...`: change that program's stack as `ip` changes the kernel's.
// Both ask the abstract Unix socket its shim serves ("@usnet-stat-PID").
#include <fmt/core.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace usnet::cli {

namespace {

// Sends one request line to the program's shim; its answer in *reply. False (said on
// stderr) if the program cannot be reached.
bool ask(const char* cmd, const std::string& pid, const std::string& request, std::string* reply) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fmt::print(stderr, "usnet {}: socket: {}\n", cmd, std::strerror(errno));
        return false;
    }
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "usnet-stat-" + pid;
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
        fmt::print(stderr, "usnet {}: process {} has no usnet stack to ask ({}); is it running under usnet run "
                           "and has it made a socket?\n", cmd, pid, std::strerror(errno));
        ::close(fd);
        return false;
    }
    const std::string line = request + "\n";
    (void)!::write(fd, line.data(), line.size());
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) reply->append(buf, size_t(n));
    ::close(fd);
    return true;
}

bool is_pid(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

int run_stat(const std::vector<std::string>& args) {
    if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
        fmt::print("usage: usnet stat PID   the counters of a program running under usnet run, nstat style\n");
        return 0;
    }
    if (args.size() != 1 || !is_pid(args[0])) {
        fmt::print(stderr, "usage: usnet stat PID   (a program running under usnet run)\n");
        return 2;
    }
    std::string text;
    if (!ask("stat", args[0], "stat", &text)) return 1;
    fmt::print("{}", text);
    return 0;
}

int run_ip(const std::vector<std::string>& args) {
    if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
        fmt::print("usage: usnet ip PID route add|del NET/N [via G] [dev eth0] | link set eth0 mtu N|up|down |\n"
                   "                   addr add|del A/N dev eth0\n"
                   "  changes a running program's usnet stack as ip changes the kernel's (its own user or root)\n");
        return 0;
    }
    if (args.size() < 2 || !is_pid(args[0])) {
        fmt::print(stderr,
                   "usage: usnet ip PID route add|del ... | link set eth0 mtu N|up|down | addr add|del A/N dev eth0\n");
        return 2;
    }
    std::string request = "ip";
    for (size_t i = 1; i < args.size(); ++i) request += " " + args[i];
    std::string reply;
    if (!ask("ip", args[0], request, &reply)) return 1;
    if (reply.rfind("ok", 0) == 0) return 0;
    fmt::print(stderr, "usnet ip: {}", reply.empty() ? "no answer\n" : reply);
    return reply.find("not understood") != std::string::npos ? 2 : 1;
}

}  // namespace usnet::cli
