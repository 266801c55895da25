// NETLINK_ROUTE sockets answered from the stack: a program's `ip`, getifaddrs and
// if_nameindex see usnet's interfaces, addresses, routes and neighbours, and its rtnetlink
// changes act on the stack like `usnet ip`. The socket layer hands every call on a netlink
// descriptor to the functions below (they share the stack's descriptor numbers).
#pragma once
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace usnet {
class Stack;
class StackImpl;
}  // namespace usnet

namespace usnet::netlink {

struct NlSock {
    int fd = -1;
    int type = SOCK_RAW;
    uint32_t portid = 0;  // 0: not bound yet (netlink_autobind on first send or getsockname)
    bool bound = false;
    uint32_t groups = 0;  // multicast groups asked for (recorded; usnet sends no notifications)
    uint32_t dst_portid = 0, dst_group = 0;  // connect()
    int rcvbuf = 0, sndbuf = 0;
    bool nonblock = false, cloexec = false;
    // SOL_NETLINK options, stored and reported (netlink_setsockopt).
    bool pktinfo = false, broadcast_error = false, no_enobufs = false, listen_all_nsid = false;
    bool cap_ack = false, ext_ack = false, strict_chk = false;
    std::vector<uint32_t> memberships;  // NETLINK_ADD_MEMBERSHIP groups above 32
    std::deque<std::vector<uint8_t>> rx;  // answers, one datagram (skb) each
    uint64_t wakeups = 0;
};

// socket(AF_NETLINK, type, protocol): netlink_create's checks; returns the descriptor or -1.
int socket(StackImpl& s, int type, int protocol);
int close(StackImpl& s, int fd);
int bind(StackImpl& s, NlSock& n, const sockaddr* a, socklen_t len);
int connect(StackImpl& s, NlSock& n, const sockaddr* a, socklen_t len);
int getsockname(StackImpl& s, NlSock& n, sockaddr* a, socklen_t* len, bool peer);
ssize_t sendmsg(Stack& st, NlSock& n, const msghdr* m, int flags, const char* call);
ssize_t recvmsg(StackImpl& s, NlSock& n, msghdr* m, int flags, const char* call);
int setsockopt(StackImpl& s, NlSock& n, int level, int name, const void* v, socklen_t len);
int getsockopt(StackImpl& s, NlSock& n, int level, int name, void* v, socklen_t* len);
int ioctl(StackImpl& s, NlSock& n, unsigned long req, void* arg);
int fcntl(StackImpl& s, NlSock& n, int cmd, long arg);
int unsupported(StackImpl& s, NlSock& n, const char* call);  // shutdown/listen/accept
short poll_mask(const NlSock& n);
std::string describe(const NlSock& n);

}  // namespace usnet::netlink
