// Interface ioctls on the program's kernel-owned sockets (AF_UNIX, AF_INET6, AF_NETLINK),
// through libc's ioctl and through syscall(2) (the shim's system-call trap): under
// `usnet run` they answer from usnet's interfaces, as Linux answers them on any socket
// family (dev_ioctl, dev_ifconf). A pipe keeps the kernel's answer (ENOTTY).
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

int call(bool raw, int fd, unsigned long req, void* arg) {
    if (!raw) return ioctl(fd, req, arg);
    const long r = syscall(SYS_ioctl, fd, req, arg);
    return int(r);
}

void probe(const char* what, int fd, bool raw) {
    const char* how = raw ? "syscall" : "libc";
    char buf[10 * sizeof(ifreq)];
    ifconf ifc{};
    ifc.ifc_len = sizeof buf;
    ifc.ifc_buf = buf;
    if (call(raw, fd, SIOCGIFCONF, &ifc) != 0) {
        std::printf("%s %s SIOCGIFCONF: %s\n", what, how, strerrorname_np(errno));
    } else {
        std::printf("%s %s SIOCGIFCONF:", what, how);
        for (int off = 0; off + int(sizeof(ifreq)) <= ifc.ifc_len; off += int(sizeof(ifreq))) {
            ifreq r;
            std::memcpy(&r, buf + off, sizeof r);
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&r.ifr_addr)->sin_addr, a, sizeof a);
            std::printf(" %s=%s", r.ifr_name, a);
        }
        std::printf("\n");
    }
    ifreq r{};
    std::strcpy(r.ifr_name, "eth0");
    if (call(raw, fd, SIOCGIFMTU, &r) == 0) std::printf("%s %s eth0 mtu %d\n", what, how, r.ifr_mtu);
    else std::printf("%s %s eth0 mtu: %s\n", what, how, strerrorname_np(errno));
    if (call(raw, fd, SIOCGIFFLAGS, &r) == 0) std::printf("%s %s eth0 flags %#x\n", what, how, unsigned(r.ifr_flags & 0xffff));
    else std::printf("%s %s eth0 flags: %s\n", what, how, strerrorname_np(errno));
    std::strcpy(r.ifr_name, "nope0");
    if (call(raw, fd, SIOCGIFINDEX, &r) == 0) std::printf("%s %s nope0 index %d\n", what, how, r.ifr_ifindex);
    else std::printf("%s %s nope0 index: %s\n", what, how, strerrorname_np(errno));
}

}  // namespace

int main() {
    const struct {
        const char* name;
        int domain, type, proto;
    } socks[] = {{"unix", AF_UNIX, SOCK_DGRAM, 0}, {"inet6", AF_INET6, SOCK_DGRAM, 0}, {"netlink", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE}};
    for (const auto& s : socks) {
        const int fd = socket(s.domain, s.type, s.proto);
        if (fd < 0) {
            std::printf("%s: socket: %s\n", s.name, strerrorname_np(errno));
            continue;
        }
        probe(s.name, fd, false);
        probe(s.name, fd, true);
        close(fd);
    }
    int p[2];
    if (pipe(p) == 0) {
        ifreq r{};
        std::strcpy(r.ifr_name, "eth0");
        std::printf("pipe libc: %s\n", ioctl(p[0], SIOCGIFMTU, &r) == 0 ? "0" : strerrorname_np(errno));
        std::printf("pipe syscall: %s\n", syscall(SYS_ioctl, p[0], SIOCGIFMTU, &r) == 0 ? "0" : strerrorname_np(errno));
    }
    return 0;
}
