// What a program learns about its machine through libc and rtnetlink: getifaddrs,
// if_nameindex, if_nametoindex, getaddrinfo(AI_ADDRCONFIG), and its ARP table after one
// datagram to the gateway. netlink_test.sh runs it on the kernel and under `usnet run` and
// compares the output (MAC addresses print as their length only).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

static std::string addr_str(const sockaddr* sa) {
    if (!sa) return "-";
    if (sa->sa_family == AF_INET) {
        char b[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, b, sizeof b);
        return b;
    }
    if (sa->sa_family == AF_INET6) {
        char b[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, b, sizeof b);
        return b;
    }
    return "family " + std::to_string(sa->sa_family);
}

static void print_getifaddrs() {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        std::printf("getifaddrs: %s\n", std::strerror(errno));
        return;
    }
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        const int fam = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        std::printf("getifaddrs %s family %d flags 0x%x", i->ifa_name, fam, i->ifa_flags);
        if (fam == AF_PACKET) std::printf(" stats %s\n", i->ifa_data ? "yes" : "no");
        else
            std::printf(" addr %s netmask %s brd/dst %s\n", addr_str(i->ifa_addr).c_str(), addr_str(i->ifa_netmask).c_str(),
                        addr_str(i->ifa_broadaddr).c_str());
    }
    freeifaddrs(list);
}

static void print_nameindex() {
    struct if_nameindex* ni = ::if_nameindex();
    if (!ni) {
        std::printf("if_nameindex: %s\n", std::strerror(errno));
        return;
    }
    for (struct if_nameindex* p = ni; p->if_index; ++p) std::printf("if_nameindex %u %s\n", p->if_index, p->if_name);
    if_freenameindex(ni);
    for (const char* n : {"lo", "eth0", "eth9"}) std::printf("if_nametoindex %s %u\n", n, if_nametoindex(n));
    char buf[IF_NAMESIZE];
    for (unsigned i : {1u, 2u, 9u}) std::printf("if_indextoname %u %s\n", i, if_indextoname(i, buf) ? buf : "-");
}

static void print_addrinfo(const char* host, int flags) {
    addrinfo hints{};
    hints.ai_flags = flags;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host, "53", &hints, &res);
    std::printf("getaddrinfo %s flags 0x%x:", host ? host : "(null)", flags);
    if (rc != 0) std::printf(" %s", gai_strerror(rc));
    for (addrinfo* a = res; a; a = a->ai_next) std::printf(" %s", addr_str(a->ai_addr).c_str());
    std::printf("\n");
    if (res) freeaddrinfo(res);
}

// The ARP table through an RTM_GETNEIGH dump, as `ip neigh` reads it.
static void print_neighbours() {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        std::printf("netlink socket: %s\n", std::strerror(errno));
        return;
    }
    struct {
        nlmsghdr h;
        ndmsg m;
    } req{};
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_GETNEIGH;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 7;
    req.m.ndm_family = AF_INET;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
        std::printf("netlink sendto: %s\n", std::strerror(errno));
        close(fd);
        return;
    }
    for (bool done = false; !done;) {
        // MSG_PEEK|MSG_TRUNC first, for the size of the next datagram (as iproute2 does).
        const ssize_t want = recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
        if (want <= 0) break;
        std::string buf(size_t(want), '\0');
        const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n != want) {
            std::printf("netlink recv: %zd of %zd\n", n, want);
            break;
        }
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, unsigned(n)) && !done;) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                done = true;
                break;
            }
            auto* m = static_cast<ndmsg*>(NLMSG_DATA(h));
            std::string dst = "-";
            int lladdr = 0;
            int len = int(RTM_PAYLOAD(h));
            for (auto* a = RTM_RTA(m); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                if (a->rta_type == NDA_DST) {
                    char b[INET_ADDRSTRLEN];
                    inet_ntop(AF_INET, RTA_DATA(a), b, sizeof b);
                    dst = b;
                }
                if (a->rta_type == NDA_LLADDR) lladdr = int(RTA_PAYLOAD(a));
            }
            if (!(m->ndm_state & NUD_NOARP))
                std::printf("neighbour %s ifindex %d state 0x%x lladdr %d bytes\n", dst.c_str(), m->ndm_ifindex,
                            m->ndm_state, lladdr);
            unsigned rest = unsigned(n) - unsigned(reinterpret_cast<char*>(h) - buf.data());
            h = NLMSG_NEXT(h, rest);
        }
    }
    close(fd);
}

int main() {
    print_getifaddrs();
    print_nameindex();
    print_addrinfo("localhost", AI_ADDRCONFIG);
    print_addrinfo(nullptr, AI_ADDRCONFIG | AI_PASSIVE);
    print_addrinfo("127.0.0.1", AI_ADDRCONFIG | AI_NUMERICHOST);
    // One datagram to the gateway: its address is resolved, and the ARP entry shows.
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in gw{};
    gw.sin_family = AF_INET;
    gw.sin_port = htons(9);
    inet_pton(AF_INET, "10.0.2.2", &gw.sin_addr);
    if (sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&gw), sizeof gw) != 1) std::printf("sendto: %s\n", std::strerror(errno));
    usleep(200000);  // the kernel's ARP reply arrives in a moment (usnet's within the call)
    close(s);
    print_neighbours();
    return 0;
}
