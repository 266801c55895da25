// The scenario calls made with plain libc: what the kernel side uses, and what a program
// under `usnet run` uses (there libc's calls land in the shim). Hosts and `ip` are left to
// the subclass.
#pragma once
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "harness.hpp"

namespace conformance {

class LibcApi : public Api {
public:
    int bind(int fd, const sockaddr* a, socklen_t l) override { return ::bind(fd, a, l); }
    int connect(int fd, const sockaddr* a, socklen_t l) override { return ::connect(fd, a, l); }
    int getsockname(int fd, sockaddr* a, socklen_t* l) override { return ::getsockname(fd, a, l); }
    int getpeername(int fd, sockaddr* a, socklen_t* l) override { return ::getpeername(fd, a, l); }
    ssize_t sendmsg(int fd, const msghdr* m, int f) override { return ::sendmsg(fd, m, f | MSG_NOSIGNAL); }
    ssize_t recvmsg(int fd, msghdr* m, int f) override { return ::recvmsg(fd, m, f); }
    ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) override {
        return ::recvfrom(fd, b, n, f, a, l);
    }
    int setsockopt(int fd, int l, int n, const void* v, socklen_t len) override { return ::setsockopt(fd, l, n, v, len); }
    int getsockopt(int fd, int l, int n, void* v, socklen_t* len) override { return ::getsockopt(fd, l, n, v, len); }
    int shutdown(int fd, int how) override { return ::shutdown(fd, how); }
    int close(int fd) override { return ::close(fd); }
    int ioctl(int fd, unsigned long req, void* arg) override { return ::ioctl(fd, req, arg); }
    int fcntl(int fd, int cmd, long arg) override { return ::fcntl(fd, cmd, arg); }
    int poll(pollfd* f, nfds_t n, int t) override { return ::poll(f, n, t); }
    void sleep_ms(int ms) override { usleep(useconds_t(ms) * 1000); }
};

}  // namespace conformance
