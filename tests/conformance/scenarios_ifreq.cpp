// Interface ioctls on a datagram socket: sock_ioctl -> dev_ifconf (SIOCGIFCONF), sock_do_ioctl
// -> inet_ioctl -> devinet_ioctl (addresses), then dev_ioctl (flags, index, mtu...), with
// hostile names, indexes and pointers, and the setters root may use in its namespace.
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "harness.hpp"

using namespace conformance;

namespace {

int udp(T& t) { return t.socket(AF_INET, SOCK_DGRAM); }

// The first bytes of ifr_addr: a sockaddr_in.
std::string sin_bytes(const char* ip, sa_family_t fam = AF_INET) {
    sockaddr_in a = addr(ip, 0, fam);
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
}
template <class V>
std::string raw(V v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

#define REQ(r) r, #r

void getters(T& t, int fd, const std::string& name) {
    t.ioctl_ifreq(fd, REQ(SIOCGIFFLAGS), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFINDEX), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFMTU), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFMETRIC), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFTXQLEN), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFMAP), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFHWADDR), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFADDR), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFNETMASK), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFBRDADDR), name);
    t.ioctl_ifreq(fd, REQ(SIOCGIFDSTADDR), name);
}

}  // namespace

SCENARIO(Ifreq, GettersOnUdpSocket) {
    int s = udp(t);
    getters(t, s, "lo");
    getters(t, s, "eth0");
}

SCENARIO(Ifreq, GettersOnPingSocket) {
    int s = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    getters(t, s, "eth0");
}

SCENARIO(Ifreq, HostileNames) {
    int s = udp(t);
    getters(t, s, "nope0");
    getters(t, s, "");
    // Sixteen bytes without a NUL: the kernel cuts the name at IFNAMSIZ - 1 and writes that back.
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0xxxxxxxxxxxx");
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0xxxxxxxxxxxx");
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), std::string("eth0\0xxxxxxxxxxx", 16));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), std::string("eth0\0xxxxxxxxxxx", 16));
    t.ioctl_ifreq(s, REQ(SIOCGIFMTU), std::string("lo\0xxxxxxxxxxxxx", 16));
    // A label (alias) name: the device part finds the device; no address has the label.
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0:1");
    t.ioctl_ifreq(s, REQ(SIOCGIFINDEX), "eth0:1");
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0:1");
    t.ioctl_ifreq(s, REQ(SIOCGIFHWADDR), "lo:x");
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "ETH0");
}

SCENARIO(Ifreq, NullPointers) {
    int s = udp(t);
    const std::pair<unsigned long, const char*> reqs[] = {
        {REQ(SIOCGIFFLAGS)}, {REQ(SIOCGIFINDEX)}, {REQ(SIOCGIFMTU)},   {REQ(SIOCGIFADDR)}, {REQ(SIOCGIFNETMASK)},
        {REQ(SIOCGIFNAME)},  {REQ(SIOCGIFHWADDR)}, {REQ(SIOCGIFTXQLEN)}, {REQ(SIOCSIFFLAGS)}, {REQ(SIOCSIFADDR)},
        {REQ(SIOCSIFMTU)},   {0x89f0, "0x89f0"}};
    for (const auto& [r, n] : reqs) t.ioctl_ifreq(s, r, n, "eth0", {}, true);
    t.ioctl_ifconf(s, 0, false, true);
}

SCENARIO(Ifreq, NameOfIndex) {
    int s = udp(t);
    for (int i : {1, 2, 0, -1, 99})
        t.ioctl_ifreq(s, REQ(SIOCGIFNAME), "", raw(i));
    t.ioctl_ifreq(s, REQ(SIOCGIFNAME), "junkjunkjunkjun", raw(1));
}

SCENARIO(Ifreq, Ifconf) {
    int s = udp(t);
    t.ioctl_ifconf(s, 0, true);
    t.ioctl_ifconf(s, 1000, true);
    t.ioctl_ifconf(s, -5, true);
    t.ioctl_ifconf(s, 0);
    t.ioctl_ifconf(s, 39);
    t.ioctl_ifconf(s, 40);
    t.ioctl_ifconf(s, 79);
    t.ioctl_ifconf(s, 80);
    t.ioctl_ifconf(s, 400);
    t.ioctl_ifconf(s, -1);
    // A second address on eth0, and one on a device that is down: each is an entry.
    t.ip("addr add 10.0.3.5/16 dev eth0");
    t.ioctl_ifconf(s, 400);
    t.ip("link set eth0 down");
    t.ioctl_ifconf(s, 400);
}

SCENARIO(Ifreq, AddressMatch) {
    int s = udp(t);
    t.ip("addr add 10.0.3.5/16 dev eth0");
    // devinet_ioctl: an AF_INET address in the request picks that address of the label.
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0", sin_bytes("10.0.3.5"));
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0", sin_bytes("10.0.2.15"));
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0", sin_bytes("10.0.3.5", AF_INET6));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0", sin_bytes("10.0.3.5"));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0", sin_bytes("10.9.9.9"));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0");
    t.ip("addr del 10.0.2.15/24 dev eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0");
    t.ip("addr del 10.0.3.5/16 dev eth0");
    // No IPv4 address left: EADDRNOTAVAIL, while the device answers the rest.
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0");
    t.ioctl_ifconf(s, 400);
}

SCENARIO(Ifreq, OtherRequests) {
    int s = udp(t);
    t.ioctl_ifreq(s, REQ(SIOCGIFSLAVE), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFPFLAGS), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFMEM), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFCOUNT), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCSIFLINK), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCSIFMETRIC), "eth0", raw(5));
    t.ioctl_ifreq(s, REQ(SIOCSIFMAP), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCRTMSG), "eth0");
    t.ioctl_ifreq(s, 0x89f0, "0x89f0", "eth0");  // a socket ioctl number nobody answers
    t.ioctl_ifreq(s, 0x5490, "0x5490", "eth0");  // not a socket ioctl at all
    t.ioctl_ifreq(s, REQ(SIOCGIFSLAVE), "nope0");
    t.ioctl_ifreq(s, REQ(SIOCSIFMETRIC), "nope0", raw(5));
}

SCENARIO(Ifreq, SetFlags) {
    int s = udp(t);
    t.ioctl_ifreq(s, REQ(SIOCSIFFLAGS), "eth0", raw(short(IFF_BROADCAST | IFF_MULTICAST)));
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0");
    t.sendto(s, "x", addr("10.0.2.2", 9));
    t.ioctl_ifreq(s, REQ(SIOCSIFFLAGS), "eth0", raw(short(IFF_UP | IFF_BROADCAST | IFF_MULTICAST)));
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0");
    t.sendto(s, "x", addr("10.0.2.2", 9));  // the default route went with the link
    t.sendto(s, "x", addr("10.0.2.7", 9));
    t.ioctl_ifreq(s, REQ(SIOCSIFFLAGS), "nope0", raw(short(IFF_UP)));
    t.ioctl_ifreq(s, REQ(SIOCSIFFLAGS), "eth0:1", raw(short(IFF_UP)));
    // Setting the flags it has: nothing changes.
    t.ioctl_ifreq(s, REQ(SIOCSIFFLAGS), "lo", raw(short(IFF_UP | IFF_LOOPBACK)));
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "lo");
}

SCENARIO(Ifreq, SetFlagsOnKernelSocket) {
    int k = t.kernel_socket(AF_UNIX, SOCK_DGRAM);
    int s = udp(t);
    t.ioctl_ifreq(k, REQ(SIOCSIFFLAGS), "eth0", raw(short(IFF_BROADCAST | IFF_MULTICAST)));
    t.ioctl_ifreq(k, REQ(SIOCGIFFLAGS), "eth0");
    t.sendto(s, "x", addr("10.0.2.2", 9));
    t.ioctl_ifreq(k, REQ(SIOCSIFFLAGS), "eth0", raw(short(IFF_UP | IFF_BROADCAST | IFF_MULTICAST)));
    t.ioctl_ifreq(s, REQ(SIOCGIFFLAGS), "eth0");
    t.ioctl_ifreq(k, REQ(SIOCSIFFLAGS), "nope0", raw(short(IFF_UP)));
    t.close(k);
}

SCENARIO(Ifreq, SetMtu) {
    int s = udp(t);
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "eth0", raw(1400));
    t.ioctl_ifreq(s, REQ(SIOCGIFMTU), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "eth0", raw(67));
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "eth0", raw(-1));
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "eth0", raw(65536));
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "eth0", raw(1400));
    t.ioctl_ifreq(s, REQ(SIOCSIFMTU), "nope0", raw(1400));
    t.ioctl_ifreq(s, REQ(SIOCGIFMTU), "eth0");
    t.setsockopt_int(s, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
    t.sendto(s, std::string(1400, 'x'), addr("10.0.2.2", 9));
    t.sendto(s, std::string(1372, 'x'), addr("10.0.2.2", 9));
}

SCENARIO(Ifreq, SetAddress) {
    int s = udp(t);
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("10.0.2.99"));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFBRDADDR), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFDSTADDR), "eth0");
    t.ioctl_ifconf(s, 400);
    t.bind(s, addr("10.0.2.15", 0));
    t.bind(s, addr("10.0.2.99", 0));
    // The netmask: a legal one recomputes the broadcast that followed the old one.
    t.ioctl_ifreq(s, REQ(SIOCSIFNETMASK), "eth0", sin_bytes("255.255.255.0"));
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFBRDADDR), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCSIFNETMASK), "eth0", sin_bytes("255.0.255.0"));
    t.ioctl_ifreq(s, REQ(SIOCSIFNETMASK), "eth0", sin_bytes("255.255.0.0", AF_INET6));
    t.ioctl_ifreq(s, REQ(SIOCSIFBRDADDR), "eth0", sin_bytes("10.0.2.254"));
    t.ioctl_ifreq(s, REQ(SIOCGIFBRDADDR), "eth0");
    // Wrong family, multicast, unknown device.
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("10.0.2.98", AF_INET6));
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("224.0.0.9"));
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "nope0", sin_bytes("10.0.2.98"));
    t.ioctl_ifreq(s, REQ(SIOCSIFNETMASK), "nope0", sin_bytes("255.0.0.0"));
    // The same address again: nothing changes.
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("10.0.2.99"));
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0");
    t.sendto(s, "x", addr("10.0.2.2", 9));
}

SCENARIO(Ifreq, SetAddressOnBareDevice) {
    int s = udp(t);
    t.ip("addr del 10.0.2.15/24 dev eth0");
    t.ioctl_ifreq(s, REQ(SIOCSIFNETMASK), "eth0", sin_bytes("255.255.255.0"));
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("192.168.7.1"));
    t.ioctl_ifreq(s, REQ(SIOCGIFNETMASK), "eth0");
    t.ioctl_ifreq(s, REQ(SIOCGIFBRDADDR), "eth0");
    t.bind(s, addr("192.168.7.1", 0));
    // 0.0.0.0 removes the address (inet_set_ifa).
    t.ioctl_ifreq(s, REQ(SIOCSIFADDR), "eth0", sin_bytes("0.0.0.0"));
    t.ioctl_ifreq(s, REQ(SIOCGIFADDR), "eth0");
    t.ioctl_ifconf(s, 400);
}

SCENARIO(Ifreq, KernelOwnedSockets) {
    // Programs list interfaces on whatever socket they have: Linux answers the device
    // ioctls on every family (dev_ioctl), the address ones only through inet_ioctl.
    for (int fam : {AF_UNIX, AF_NETLINK}) {
        int k = t.kernel_socket(fam, SOCK_DGRAM);
        t.ioctl_ifconf(k, 0, true);
        t.ioctl_ifconf(k, 400);
        t.ioctl_ifreq(k, REQ(SIOCGIFFLAGS), "eth0");
        t.ioctl_ifreq(k, REQ(SIOCGIFINDEX), "eth0");
        t.ioctl_ifreq(k, REQ(SIOCGIFMTU), "lo");
        t.ioctl_ifreq(k, REQ(SIOCGIFHWADDR), "eth0");
        t.ioctl_ifreq(k, REQ(SIOCGIFNAME), "", raw(1));
        t.ioctl_ifreq(k, REQ(SIOCGIFFLAGS), "nope0");
        t.ioctl_ifreq(k, REQ(SIOCGIFADDR), "eth0");
        t.ioctl_ifreq(k, REQ(SIOCGIFNETMASK), "eth0");
        t.ioctl_ifreq(k, REQ(SIOCGIFFLAGS), "eth0", {}, true);
        t.close(k);
    }
}
