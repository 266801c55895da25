// Interface ioctls, answered from the stack's interfaces as Linux answers them on a socket:
// sock_ioctl -> dev_ifconf (SIOCGIFCONF); sock_do_ioctl -> inet_ioctl -> devinet_ioctl (the
// IPv4 address requests, AF_INET and AF_PACKET sockets only); then, for what the protocol
// leaves (-ENOIOCTLCMD), dev_ioctl (flags, index, mtu, hardware address, the setters).
// Also SIOCGSTAMP/SIOCGSTAMPNS (sock_gettstamp).
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "socket/socket_layer.hpp"

// <linux/sockios.h> clashes with glibc's <bits/ioctls.h>; the numbers it adds:
#ifndef SIOCGSTAMP_OLD
#define SIOCGSTAMP_OLD 0x8906
#define SIOCGSTAMPNS_OLD 0x8907
#endif
#ifndef SIOCGSTAMP_NEW
#define SIOCGSTAMP_NEW _IOR(0x89, 0x06, long long[2])
#define SIOCGSTAMPNS_NEW _IOR(0x89, 0x07, long long[2])
#endif
#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif
#ifndef SIOCGHWTSTAMP
#define SIOCSHWTSTAMP 0x89b0
#define SIOCGHWTSTAMP 0x89b1
#endif
#ifndef SIOCETHTOOL
#define SIOCETHTOOL 0x8946
#endif
#ifndef SIOCGMIIPHY
#define SIOCGMIIPHY 0x8947
#define SIOCGMIIREG 0x8948
#define SIOCSMIIREG 0x8949
#endif
#ifndef SIOCWANDEV
#define SIOCWANDEV 0x894A
#endif
#ifndef SIOCBONDENSLAVE
#define SIOCBONDENSLAVE 0x8990
#define SIOCBONDRELEASE 0x8991
#define SIOCBONDSETHWADDR 0x8992
#define SIOCBONDSLAVEINFOQUERY 0x8993
#define SIOCBONDINFOQUERY 0x8994
#define SIOCBONDCHANGEACTIVE 0x8995
#endif
#ifndef SIOCBRADDIF
#define SIOCBRADDIF 0x89a2
#define SIOCBRDELIF 0x89a3
#endif

namespace usnet::sock {

namespace {

constexpr unsigned kSockIocType = 0x89;  // SOCK_IOC_TYPE: is_socket_ioctl_cmd

int err(Err e, int fd) { return fail(e, "ioctl", fd); }

// What dev_get_flags reports: dev->flags, gflags' PROMISC/ALLMULTI, RUNNING while up.
int dev_flags(const link::Interface& i) {
    int f = i.loopback ? IFF_LOOPBACK : IFF_BROADCAST;
    f |= i.user_flags >= 0 ? i.user_flags : (i.loopback ? 0 : IFF_MULTICAST);
    if (i.up) f |= IFF_UP | IFF_RUNNING;  // netif_oper_up: the link (lo, the wire) has carrier
    return f;
}

link::Interface* dev_by_name(StackImpl& s, const char* name) {
    for (auto& i : s.ifaces)
        if (std::strncmp(i->name.c_str(), name, IFNAMSIZ) == 0) return i.get();
    return nullptr;
}

// inet_abc_len: the classful prefix SIOCSIFADDR gives an address (-1: not assignable).
int abc_len(Ip4 a) {
    if (a.is_zeronet() || a.is_lbcast()) return 0;
    if ((a.v & 0x80000000u) == 0) return 8;
    if ((a.v & 0xc0000000u) == 0x80000000u) return 16;
    if ((a.v & 0xe0000000u) == 0xc0000000u) return 24;
    if ((a.v & 0xf0000000u) == 0xf0000000u) return 32;  // class E
    return -1;                                          // multicast
}

bool contiguous(uint32_t mask) {  // bad_mask's test
    const uint32_t inv = ~mask;
    return (inv & (inv + 1)) == 0;
}

int mask_len(uint32_t mask) { return __builtin_popcount(mask); }

void put_sin(ifreq& ifr, Ip4 a) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = a.net();
    std::memcpy(&ifr.ifr_addr, &sin, sizeof sin);
}

// Replaces an address's fields the way devinet_ioctl does (inet_del_ifa, change,
// inet_insert_ifa): its routes go and come back.
void rewrite_ifa(StackImpl& s, link::Interface& dev, size_t i, int prefix, Ip4 brd) {
    link::IfAddr a = dev.addrs[i];
    s.del_address(dev.ifindex, a.addr, a.prefix);
    s.add_address(dev.ifindex, a.addr, prefix);
    for (auto& x : dev.addrs)
        if (x.addr == a.addr) x.ifa_broadcast = brd;
}

bool privileged(StackImpl& s) { return s.cfg.privileged; }  // ns_capable(CAP_NET_ADMIN)

// devinet_ioctl: the IPv4 address requests. ifr is the caller's ifreq, copied in.
int devinet_ioctl(StackImpl& s, unsigned long cmd, ifreq& ifr, int fd) {
    sockaddr_in sin_orig;
    std::memcpy(&sin_orig, &ifr.ifr_addr, sizeof sin_orig);
    ifr.ifr_name[IFNAMSIZ - 1] = 0;
    char* colon = std::strchr(ifr.ifr_name, ':');
    if (colon) *colon = 0;
    bool tryaddrmatch = false;
    switch (cmd) {
        case SIOCGIFADDR:
        case SIOCGIFBRDADDR:
        case SIOCGIFDSTADDR:
        case SIOCGIFNETMASK: {
            tryaddrmatch = sin_orig.sin_family == AF_INET;
            sockaddr_in z{};
            z.sin_family = AF_INET;
            std::memcpy(&ifr.ifr_addr, &z, sizeof z);
            break;
        }
        case SIOCSIFFLAGS:
            if (!privileged(s)) return err(Err::IfPermission, fd);
            break;
        case SIOCSIFADDR:
        case SIOCSIFBRDADDR:
        case SIOCSIFDSTADDR:
        case SIOCSIFNETMASK:
            if (!privileged(s)) return err(Err::IfPermission, fd);
            if (sin_orig.sin_family != AF_INET) return err(Err::IfInvalid, fd);
            break;
        default:  // SIOCGIFPFLAGS, SIOCSIFPFLAGS
            return err(Err::IfInvalid, fd);
    }
    link::Interface* dev = dev_by_name(s, ifr.ifr_name);
    if (!dev) return err(Err::IfNoDevice, fd);
    if (colon) *colon = ':';
    USNET_TRACE(s.tracer, IoctlDev, "devinet_ioctl", std::string(ifr.ifr_name) + " is ifindex " + std::to_string(dev->ifindex));
    // Every usnet address carries its device's name as label (no aliases).
    const bool label = dev->name == ifr.ifr_name;
    long ifa = -1;
    if (label && tryaddrmatch)
        for (size_t i = 0; i < dev->addrs.size(); ++i)
            if (dev->addrs[i].addr.net() == sin_orig.sin_addr.s_addr) {
                ifa = long(i);
                break;
            }
    if (label && ifa < 0 && !dev->addrs.empty()) ifa = 0;
    if (ifa < 0 && cmd != SIOCSIFADDR && cmd != SIOCSIFFLAGS) return err(Err::IfNoAddr, fd);
    link::IfAddr* a = ifa >= 0 ? &dev->addrs[size_t(ifa)] : nullptr;
    sockaddr_in sin;
    std::memcpy(&sin, &ifr.ifr_addr, sizeof sin);
    const Ip4 val = Ip4::from_net(sin.sin_addr.s_addr);
    switch (cmd) {
        case SIOCGIFADDR: put_sin(ifr, a->addr); break;
        case SIOCGIFBRDADDR: put_sin(ifr, a->ifa_broadcast); break;
        case SIOCGIFDSTADDR: put_sin(ifr, a->addr); break;  // ifa_address: the local one off point-to-point
        case SIOCGIFNETMASK: put_sin(ifr, Ip4(prefix_mask(a->prefix))); break;
        case SIOCSIFFLAGS:
            if (colon) {
                // An alias's flags: no usnet address has an alias label.
                return err(Err::IfNoAddr, fd);
            }
            return kIfNotMine;  // dev_change_flags: the caller does it (as dev_ifsioc)
        case SIOCSIFADDR: {
            const int plen = abc_len(val);
            if (plen < 0) return err(Err::IfInvalid, fd);
            if (colon) return err(Err::IfUsnetLimit, fd);  // a new alias label
            if (a && a->addr == val) break;
            if (a) s.del_address(dev->ifindex, a->addr, a->prefix);
            if (val.any()) break;  // inet_set_ifa: 0.0.0.0 only removes
            s.add_address(dev->ifindex, val, plen);
            // A broadcast device's classful broadcast (the prefix route's is separate).
            if (!dev->loopback && plen < 31)
                for (auto& x : dev->addrs)
                    if (x.addr == val) x.ifa_broadcast = Ip4(val.v | ~prefix_mask(plen));
            break;
        }
        case SIOCSIFBRDADDR:
            a->ifa_broadcast = val;
            break;
        case SIOCSIFDSTADDR:
            // ifa_address apart from ifa_local only makes sense point to point.
            if (val != a->addr) return err(Err::IfUsnetLimit, fd);
            break;
        case SIOCSIFNETMASK: {
            if (!contiguous(val.v)) return err(Err::IfInvalid, fd);
            const uint32_t old_mask = prefix_mask(a->prefix);
            if (old_mask == val.v) break;
            Ip4 brd = a->ifa_broadcast;
            const int plen = mask_len(val.v);
            // The broadcast follows the mask when it was the old mask's.
            if (!dev->loopback && plen < 31 && brd == Ip4(a->addr.v | ~old_mask)) brd = Ip4(a->addr.v | ~val.v);
            rewrite_ifa(s, *dev, size_t(ifa), plen, brd);
            break;
        }
    }
    return 0;
}

// dev_change_flags: IFF_UP opens or closes the device; the other changeable bits are kept
// and reported (usnet's links do not act on them: IFF_NOARP, IFF_PROMISC...).
void change_flags(StackImpl& s, link::Interface& dev, int flags) {
    constexpr int kChangeable = IFF_DEBUG | IFF_NOTRAILERS | IFF_NOARP | IFF_DYNAMIC | IFF_MULTICAST | IFF_PORTSEL |
                                IFF_AUTOMEDIA | IFF_PROMISC | IFF_ALLMULTI;
    dev.user_flags = flags & kChangeable;
    s.set_link_up(dev.ifindex, flags & IFF_UP);
}

// dev_ifsioc: the setters (CAP_NET_ADMIN checked by the caller).
int dev_ifsioc(StackImpl& s, unsigned long cmd, ifreq& ifr, int fd) {
    link::Interface* dev = dev_by_name(s, ifr.ifr_name);
    if (!dev) return err(Err::IfNoDevice, fd);
    USNET_TRACE(s.tracer, IoctlDev, "dev_ioctl", std::string(ifr.ifr_name) + " is ifindex " + std::to_string(dev->ifindex));
    switch (cmd) {
        case SIOCSIFFLAGS: change_flags(s, *dev, ifr.ifr_flags); return 0;
        case SIOCSIFMETRIC: return err(Err::IfNotSupported, fd);
        case SIOCSIFMTU: {
            // dev_set_mtu: lo takes any size from 0, Ethernet (veth) 68..65535.
            const int mtu = ifr.ifr_mtu;
            if (uint32_t(mtu) == dev->mtu) return 0;
            if (mtu < (dev->loopback ? 0 : 68) || (!dev->loopback && mtu > 65535)) return err(Err::IfInvalid, fd);
            if (mtu < 68 || mtu > 65536) return err(Err::IfUsnetLimit, fd);  // lo below IPv4's minimum or above 64k
            s.set_mtu(dev->ifindex, uint32_t(mtu));
            return 0;
        }
        case SIOCSIFHWADDR: {
            if (dev->loopback) return err(Err::IfNotSupported, fd);  // no ndo_set_mac_address
            if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) return err(Err::IfInvalid, fd);
            const auto* m = reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data);
            // eth_prepare_mac_addr_change: is_valid_ether_addr.
            if ((m[0] & 1) || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) return err(Err::IfNoAddr, fd);
            std::memcpy(dev->mac.b.data(), m, 6);
            return 0;
        }
        case SIOCSIFTXQLEN:
            if (ifr.ifr_qlen < 0) return err(Err::IfInvalid, fd);
            dev->txqlen = uint32_t(ifr.ifr_qlen);
            return 0;
        case SIOCADDMULTI:
        case SIOCDELMULTI:
            // The link-layer filter: lo has none (no ndo_set_rx_mode); usnet's Ethernet
            // accepts every multicast frame, so a filter entry changes nothing.
            if (dev->loopback || ifr.ifr_hwaddr.sa_family != AF_UNSPEC) return err(Err::IfInvalid, fd);
            return 0;
        case SIOCSIFMAP:
        case SIOCGMIIPHY:
        case SIOCGMIIREG:
        case SIOCSMIIREG:
        case SIOCGHWTSTAMP:
        case SIOCSHWTSTAMP:
        case SIOCWANDEV:
        case SIOCBONDENSLAVE:
        case SIOCBONDRELEASE:
        case SIOCBONDSETHWADDR:
        case SIOCBONDSLAVEINFOQUERY:
        case SIOCBONDINFOQUERY:
        case SIOCBONDCHANGEACTIVE:
        case SIOCBRADDIF:
        case SIOCBRDELIF:
            return err(Err::IfNotSupported, fd);  // lo and veth implement none of these
        default:
            if (cmd >= SIOCDEVPRIVATE && cmd <= SIOCDEVPRIVATE + 15) return err(Err::IfNotSupported, fd);
            // SIOCSIFNAME, SIOCSIFHWBROADCAST, SIOCSIFSLAVE
            return err(Err::IfUsnetLimit, fd);
    }
}

// dev_ioctl, on the caller's ifreq copied in; *copyout: whether it goes back.
int dev_ioctl(StackImpl& s, unsigned long cmd, ifreq& ifr, bool* copyout, int fd) {
    *copyout = true;
    if (cmd == SIOCGIFNAME) {  // dev_ifname
        ifr.ifr_name[IFNAMSIZ - 1] = 0;
        link::Interface* dev = s.iface(ifr.ifr_ifindex);
        if (!dev) return err(Err::IfNoDevice, fd);
        std::memcpy(ifr.ifr_name, dev->name.c_str(), dev->name.size() + 1);
        return 0;
    }
    ifr.ifr_name[IFNAMSIZ - 1] = 0;
    char* colon = std::strchr(ifr.ifr_name, ':');
    if (colon) *colon = 0;
    auto restore = [&] {
        if (colon) *colon = ':';
    };
    switch (cmd) {
        case SIOCGIFFLAGS:
        case SIOCGIFMETRIC:
        case SIOCGIFMTU:
        case SIOCGIFSLAVE:
        case SIOCGIFMAP:
        case SIOCGIFINDEX:
        case SIOCGIFTXQLEN:
        case SIOCGIFHWADDR: {  // dev_ifsioc_locked, dev_get_mac_address
            link::Interface* dev = dev_by_name(s, ifr.ifr_name);
            restore();
            if (!dev) return err(Err::IfNoDevice, fd);
            USNET_TRACE(s.tracer, IoctlDev, "dev_ioctl", std::string(ifr.ifr_name) + " is ifindex " + std::to_string(dev->ifindex));
            switch (cmd) {
                case SIOCGIFFLAGS: ifr.ifr_flags = short(dev_flags(*dev)); break;
                case SIOCGIFMETRIC: ifr.ifr_metric = 0; break;
                case SIOCGIFMTU: ifr.ifr_mtu = int(dev->mtu); break;
                case SIOCGIFSLAVE: return err(Err::IfInvalid, fd);
                case SIOCGIFMAP:  // no device memory, I/O port or interrupt: all zero
                    ifr.ifr_map.mem_start = ifr.ifr_map.mem_end = 0;
                    ifr.ifr_map.base_addr = 0;
                    ifr.ifr_map.irq = ifr.ifr_map.dma = ifr.ifr_map.port = 0;
                    break;
                case SIOCGIFINDEX: ifr.ifr_ifindex = dev->ifindex; break;
                case SIOCGIFTXQLEN: ifr.ifr_qlen = int(dev->txqlen); break;
                case SIOCGIFHWADDR:
                    // dev->type; addr_len (6 for both) bytes of the address, the rest left.
                    std::memcpy(ifr.ifr_hwaddr.sa_data, dev->loopback ? Mac{}.b.data() : dev->mac.b.data(), 6);
                    ifr.ifr_hwaddr.sa_family = dev->loopback ? ARPHRD_LOOPBACK : ARPHRD_ETHER;
                    break;
            }
            return 0;
        }
        case SIOCETHTOOL: {
            link::Interface* dev = dev_by_name(s, ifr.ifr_name);
            restore();
            *copyout = false;
            if (!dev) return err(Err::IfNoDevice, fd);
            return err(Err::IfUsnetLimit, fd);
        }
        case SIOCGIFMEM:
        case SIOCSIFMEM:
        case SIOCSIFLINK:
            restore();
            return err(Err::IoctlUnknown, fd);
        case SIOCSIFMAP:
        case SIOCSIFTXQLEN:
        case SIOCGMIIPHY:
        case SIOCGMIIREG:
        case SIOCSIFNAME:
        case SIOCSIFFLAGS:
        case SIOCSIFMETRIC:
        case SIOCSIFMTU:
        case SIOCSIFHWADDR:
        case SIOCSIFSLAVE:
        case SIOCADDMULTI:
        case SIOCDELMULTI:
        case SIOCSIFHWBROADCAST:
        case SIOCSMIIREG:
        case SIOCBONDENSLAVE:
        case SIOCBONDRELEASE:
        case SIOCBONDSETHWADDR:
        case SIOCBONDCHANGEACTIVE:
        case SIOCBRADDIF:
        case SIOCBRDELIF:
        case SIOCSHWTSTAMP:
            *copyout = false;
            if (!privileged(s)) return restore(), err(Err::IfPermission, fd);
            [[fallthrough]];
        case SIOCBONDSLAVEINFOQUERY:
        case SIOCBONDINFOQUERY:
        case SIOCGHWTSTAMP: {
            *copyout = false;
            restore();
            if (colon) *colon = 0;
            const int r = dev_ifsioc(s, cmd, ifr, fd);
            restore();
            return r;
        }
        default:
            restore();
            if (cmd == SIOCWANDEV || (cmd >= SIOCDEVPRIVATE && cmd <= SIOCDEVPRIVATE + 15)) {
                *copyout = false;
                return dev_by_name(s, ifr.ifr_name) ? err(Err::IfNotSupported, fd) : err(Err::IfNoDevice, fd);
            }
            return err(Err::IoctlUnknown, fd);
    }
}

// dev_ifconf + inet_gifconf: one struct ifreq per IPv4 address (its label, its address),
// device by device; with no buffer, the length all of them need.
int dev_ifconf(StackImpl& s, void* arg, int fd) {
    if (!arg) return err(Err::Fault, fd);
    ifconf ifc;
    std::memcpy(&ifc, arg, sizeof ifc);
    char* pos = ifc.ifc_buf;
    const int len = ifc.ifc_len;
    const int size = int(sizeof(ifreq));
    int total = 0;
    for (auto& dev : s.ifaces) {
        // Primary addresses first, then secondaries (__inet_insert_ifa's order).
        for (int pass = 0; pass < 2; ++pass)
            for (auto& a : dev->addrs) {
                if (a.secondary != (pass == 1)) continue;
                if (!pos) {
                    total += size;
                    continue;
                }
                if (len - total < size) break;
                ifreq r;
                std::memset(&r, 0, sizeof r);
                std::memcpy(r.ifr_name, dev->name.c_str(), std::min<size_t>(dev->name.size(), IFNAMSIZ - 1));
                put_sin(r, a.addr);
                std::memcpy(pos + total, &r, sizeof r);
                total += size;
            }
    }
    USNET_TRACE(s.tracer, IoctlDev, "dev_ifconf", std::to_string(total / size) + " addresses, ifc_len = " + std::to_string(total));
    std::memcpy(reinterpret_cast<char*>(arg) + offsetof(ifconf, ifc_len), &total, sizeof total);
    return 0;
}

bool is_inet_ifreq(unsigned long req) {
    switch (req) {
        case SIOCGIFADDR:
        case SIOCGIFBRDADDR:
        case SIOCGIFNETMASK:
        case SIOCGIFDSTADDR:
        case SIOCGIFPFLAGS:
        case SIOCSIFADDR:
        case SIOCSIFBRDADDR:
        case SIOCSIFNETMASK:
        case SIOCSIFDSTADDR:
        case SIOCSIFPFLAGS:
        case SIOCSIFFLAGS: return true;
        default: return false;
    }
}

// inet_ioctl's ifreq requests: devinet_ioctl, and SIOCSIFFLAGS's dev_change_flags.
int inet_ifreq(StackImpl& s, unsigned long req, void* arg, int fd) {
    if (!arg) return err(Err::Fault, fd);  // get_user_ifreq
    ifreq ifr;
    std::memcpy(&ifr, arg, sizeof ifr);
    int r = devinet_ioctl(s, req, ifr, fd);
    if (r == kIfNotMine) r = dev_ifsioc(s, req, ifr, fd);  // SIOCSIFFLAGS on the device itself
    if (r < 0) return r;
    if (req == SIOCGIFADDR || req == SIOCGIFBRDADDR || req == SIOCGIFNETMASK || req == SIOCGIFDSTADDR)
        std::memcpy(arg, &ifr, sizeof ifr);  // put_user_ifreq
    return 0;
}

}  // namespace

int if_ioctl_early(StackImpl& s, int family, unsigned long req, void* arg, int fd) {
    if (req == SIOCGIFCONF) return dev_ifconf(s, arg, fd);
    if (family != AF_INET && family != AF_PACKET) return kIfNotMine;
    if (is_inet_ifreq(req)) return inet_ifreq(s, req, arg, fd);
    switch (req) {
        case SIOCRTMSG: return err(Err::IfInvalid, fd);
        case SIOCADDRT:
        case SIOCDELRT:
        case SIOCDARP:
        case SIOCGARP:
        case SIOCSARP: return err(Err::IfUsnetLimit, fd);  // ip_rt_ioctl, arp_ioctl: `usnet ip` instead
        default: return kIfNotMine;
    }
}

int if_ioctl_fallback(StackImpl& s, unsigned long req, void* arg, int fd) {
    // sock_do_ioctl after -ENOIOCTLCMD: only a socket ioctl number reaches dev_ioctl.
    if (_IOC_TYPE(req) != kSockIocType) return err(Err::IoctlUnknown, fd);
    if (!arg) return err(Err::Fault, fd);
    ifreq ifr;
    std::memcpy(&ifr, arg, sizeof ifr);
    bool copyout = true;
    const int r = dev_ioctl(s, req, ifr, &copyout, fd);
    if (r < 0) return r;
    if (copyout) std::memcpy(arg, &ifr, sizeof ifr);
    return r;
}

bool if_is_stamp_req(unsigned long req) {
    return req == SIOCGSTAMP_OLD || req == SIOCGSTAMPNS_OLD || req == SIOCGSTAMP_NEW || req == SIOCGSTAMPNS_NEW;
}

int gettstamp(StackImpl& s, DgramSock* sk, unsigned long req, void* arg, int fd) {
    // sock_gettstamp: asking turns stamping on for later datagrams.
    sk->stamp_sock = true;
    Time t = sk->sk_stamp;
    if (t == kStampNone) {
        USNET_TRACE(s.tracer, IoctlDev, "sock_gettstamp", "sk_stamp is SK_DEFAULT_STAMP: nothing received yet");
        return err(Err::StampNone, fd);
    }
    if (t == 0) {  // received before stamping was on: the time of asking, kept
        t = s.wall_now();
        sk->sk_stamp = t;
    }
    if (!arg) return err(Err::Fault, fd);
    const bool timeval = req == SIOCGSTAMP_OLD || req == SIOCGSTAMP_NEW;
    int64_t v[2] = {t / kSec, t % kSec};
    if (timeval) v[1] /= 1000;
    USNET_TRACE(s.tracer, IoctlDev, "sock_gettstamp", "sk_stamp = " + std::to_string(v[0]) + "." + std::to_string(v[1]));
    std::memcpy(arg, v, sizeof v);
    return 0;
}

bool is_interface_ioctl(int family, unsigned long req) {
    if (req == SIOCGIFCONF || req == SIOCGIFNAME) return true;
    if (is_inet_ifreq(req)) {
        // AF_INET6's SIOCSIFADDR/SIOCSIFDSTADDR take an in6_ifreq (inet6_ioctl).
        if (family == AF_INET || family == AF_PACKET) return true;
        if (family == AF_INET6) return false;
        return req == SIOCSIFFLAGS;  // the rest reach dev_ioctl: ENOTTY, the kernel's own answer
    }
    switch (req) {
        case SIOCGIFFLAGS:
        case SIOCGIFMETRIC:
        case SIOCGIFMTU:
        case SIOCGIFSLAVE:
        case SIOCGIFMAP:
        case SIOCGIFINDEX:
        case SIOCGIFTXQLEN:
        case SIOCGIFHWADDR:
        case SIOCETHTOOL:
        case SIOCSIFMAP:
        case SIOCSIFTXQLEN:
        case SIOCGMIIPHY:
        case SIOCGMIIREG:
        case SIOCSIFNAME:
        case SIOCSIFMETRIC:
        case SIOCSIFMTU:
        case SIOCSIFHWADDR:
        case SIOCSIFSLAVE:
        case SIOCADDMULTI:
        case SIOCDELMULTI:
        case SIOCSIFHWBROADCAST:
        case SIOCSMIIREG:
        case SIOCGHWTSTAMP:
        case SIOCSHWTSTAMP:
        case SIOCWANDEV: return true;
        default: return req >= SIOCDEVPRIVATE && req <= SIOCDEVPRIVATE + 15;
    }
}

}  // namespace usnet::sock

namespace usnet {

bool Stack::is_interface_ioctl(int family, unsigned long req) { return sock::is_interface_ioctl(family, req); }

int Stack::dev_ioctl(int family, unsigned long req, void* arg) {
    StackImpl& s = *impl_;
    return sock::traced(
        s, "ioctl", -1,
        [&] {
            int r = sock::if_ioctl_early(s, family, req, arg, -1);
            if (r == sock::kIfNotMine) r = sock::if_ioctl_fallback(s, req, arg, -1);
            if (r >= 0) sock::ok_call();
            return r;
        },
        [&](int r, int e) { return sock::head_str("kernel socket, " + sock::ioctl_name(req), r, e); });
}

}  // namespace usnet
