#include "cli/kernel_ns.hpp"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace usnet::cli {

static bool lo_up() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    ::close(fd);
    return ok;
}

bool run_in_private_netns(const std::function<std::string()>& fn, std::string* out, std::string* why) {
    int p[2];
    if (pipe(p) != 0) {
        *why = std::strerror(errno);
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *why = std::strerror(errno);
        return false;
    }
    if (pid == 0) {
        ::close(p[0]);
        std::string msg;
        if (unshare(CLONE_NEWNET) != 0) msg = std::string("E") + "unshare(CLONE_NEWNET): " + std::strerror(errno);
        else if (!lo_up()) msg = "Ebringing up lo failed";
        else msg = "O" + fn();
        size_t off = 0;
        while (off < msg.size()) {
            ssize_t n = ::write(p[1], msg.data() + off, msg.size() - off);
            if (n <= 0) break;
            off += size_t(n);
        }
        _exit(0);
    }
    ::close(p[1]);
    std::string all;
    char buf[4096];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) all.append(buf, size_t(n));
    ::close(p[0]);
    waitpid(pid, nullptr, 0);
    if (all.empty() || all[0] != 'O') {
        *why = all.empty() ? "the namespace child died" : all.substr(1);
        return false;
    }
    *out = all.substr(1);
    return true;
}

}  // namespace usnet::cli
