// `usnet stat PID`: the counters of a program running under `usnet run`, nstat style, read
// from the abstract Unix socket its shim serves ("@usnet-stat-PID").
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

int run_stat(const std::vector<std::string>& args) {
    if (args.size() != 1 || args[0].find_first_not_of("0123456789") != std::string::npos) {
        fmt::print(stderr, "usage: usnet stat PID   (a program running under usnet run)\n");
        return 2;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fmt::print(stderr, "usnet stat: socket: {}\n", std::strerror(errno));
        return 1;
    }
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "usnet-stat-" + args[0];
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
        fmt::print(stderr, "usnet stat: process {} has no usnet stack to ask ({}); is it running under usnet run "
                           "and has it made a socket?\n", args[0], std::strerror(errno));
        ::close(fd);
        return 1;
    }
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    ::close(fd);
    fmt::print("{}", text);
    return 0;
}

}  // namespace usnet::cli
