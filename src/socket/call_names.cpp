// Names of the socket API's constants, for a trace's first line.
#include "socket/call_names.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>

#include <cstring>

namespace usnet::sock {

namespace {

struct Named {
    int v;
    const char* name;
};

template <size_t N>
std::string lookup(const Named (&t)[N], int v) {
    for (const auto& e : t)
        if (e.v == v) return e.name;
    return std::to_string(v);
}

const Named kSolSocket[] = {
    {SO_DEBUG, "SO_DEBUG"},         {SO_REUSEADDR, "SO_REUSEADDR"},   {SO_TYPE, "SO_TYPE"},
    {SO_ERROR, "SO_ERROR"},         {SO_DONTROUTE, "SO_DONTROUTE"},   {SO_BROADCAST, "SO_BROADCAST"},
    {SO_SNDBUF, "SO_SNDBUF"},       {SO_RCVBUF, "SO_RCVBUF"},         {SO_SNDBUFFORCE, "SO_SNDBUFFORCE"},
    {SO_RCVBUFFORCE, "SO_RCVBUFFORCE"}, {SO_KEEPALIVE, "SO_KEEPALIVE"}, {SO_OOBINLINE, "SO_OOBINLINE"},
    {SO_NO_CHECK, "SO_NO_CHECK"},   {SO_PRIORITY, "SO_PRIORITY"},     {SO_LINGER, "SO_LINGER"},
    {SO_REUSEPORT, "SO_REUSEPORT"}, {SO_PASSCRED, "SO_PASSCRED"},     {SO_RCVLOWAT, "SO_RCVLOWAT"},
    {SO_SNDLOWAT, "SO_SNDLOWAT"},   {SO_RCVTIMEO_OLD, "SO_RCVTIMEO"}, {SO_SNDTIMEO_OLD, "SO_SNDTIMEO"},
    {SO_BINDTODEVICE, "SO_BINDTODEVICE"}, {SO_TIMESTAMP_OLD, "SO_TIMESTAMP"}, {SO_ACCEPTCONN, "SO_ACCEPTCONN"},
    {SO_MARK, "SO_MARK"},           {SO_RXQ_OVFL, "SO_RXQ_OVFL"},     {SO_BUSY_POLL, "SO_BUSY_POLL"},
    {SO_DOMAIN, "SO_DOMAIN"},       {SO_PROTOCOL, "SO_PROTOCOL"},     {SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX"},
};

const Named kSolIp[] = {
    {IP_TOS, "IP_TOS"},
    {IP_TTL, "IP_TTL"},
    {IP_HDRINCL, "IP_HDRINCL"},
    {IP_OPTIONS, "IP_OPTIONS"},
    {IP_RECVOPTS, "IP_RECVOPTS"},
    {IP_RETOPTS, "IP_RETOPTS"},
    {IP_PKTINFO, "IP_PKTINFO"},
    {IP_MTU_DISCOVER, "IP_MTU_DISCOVER"},
    {IP_RECVERR, "IP_RECVERR"},
    {IP_RECVTTL, "IP_RECVTTL"},
    {IP_RECVTOS, "IP_RECVTOS"},
    {IP_MTU, "IP_MTU"},
    {IP_FREEBIND, "IP_FREEBIND"},
    {IP_TRANSPARENT, "IP_TRANSPARENT"},
    {IP_MINTTL, "IP_MINTTL"},
    {IP_NODEFRAG, "IP_NODEFRAG"},
    {IP_CHECKSUM, "IP_CHECKSUM"},
    {IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT"},
    {IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"},
    {IP_MULTICAST_IF, "IP_MULTICAST_IF"},
    {IP_MULTICAST_TTL, "IP_MULTICAST_TTL"},
    {IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP"},
    {IP_ADD_MEMBERSHIP, "IP_ADD_MEMBERSHIP"},
    {IP_DROP_MEMBERSHIP, "IP_DROP_MEMBERSHIP"},
    {IP_MULTICAST_ALL, "IP_MULTICAST_ALL"},
    {IP_UNICAST_IF, "IP_UNICAST_IF"},
};

const Named kSolUdp[] = {{UDP_CORK, "UDP_CORK"},       {UDP_ENCAP, "UDP_ENCAP"},
                         {UDP_NO_CHECK6_TX, "UDP_NO_CHECK6_TX"}, {UDP_NO_CHECK6_RX, "UDP_NO_CHECK6_RX"},
                         {UDP_SEGMENT, "UDP_SEGMENT"}, {UDP_GRO, "UDP_GRO"}};

const Named kMsgFlags[] = {{MSG_OOB, "MSG_OOB"},           {MSG_PEEK, "MSG_PEEK"},         {MSG_DONTROUTE, "MSG_DONTROUTE"},
                           {MSG_CTRUNC, "MSG_CTRUNC"},     {MSG_TRUNC, "MSG_TRUNC"},       {MSG_DONTWAIT, "MSG_DONTWAIT"},
                           {MSG_EOR, "MSG_EOR"},           {MSG_WAITALL, "MSG_WAITALL"},   {MSG_CONFIRM, "MSG_CONFIRM"},
                           {MSG_ERRQUEUE, "MSG_ERRQUEUE"}, {MSG_NOSIGNAL, "MSG_NOSIGNAL"}, {MSG_MORE, "MSG_MORE"},
                           {MSG_WAITFORONE, "MSG_WAITFORONE"}, {MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"}};

}  // namespace

std::string family_name(int f) {
    static const Named t[] = {{AF_UNSPEC, "AF_UNSPEC"}, {AF_UNIX, "AF_UNIX"},     {AF_INET, "AF_INET"},
                              {AF_INET6, "AF_INET6"},   {AF_PACKET, "AF_PACKET"}, {AF_NETLINK, "AF_NETLINK"}};
    return lookup(t, f);
}

std::string type_name(int type) {
    static const Named t[] = {{SOCK_STREAM, "SOCK_STREAM"}, {SOCK_DGRAM, "SOCK_DGRAM"}, {SOCK_RAW, "SOCK_RAW"},
                              {SOCK_SEQPACKET, "SOCK_SEQPACKET"}};
    std::string s = lookup(t, type & 0xf);
    if (type & SOCK_NONBLOCK) s += "|SOCK_NONBLOCK";
    if (type & SOCK_CLOEXEC) s += "|SOCK_CLOEXEC";
    if (const int rest = type & ~(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC)) s += "|" + std::to_string(rest);
    return s;
}

std::string protocol_name(int p) {
    static const Named t[] = {{IPPROTO_UDP, "IPPROTO_UDP"}, {IPPROTO_ICMP, "IPPROTO_ICMP"}, {IPPROTO_TCP, "IPPROTO_TCP"}};
    return p == 0 ? "0" : lookup(t, p);
}

std::string msg_flags_name(int flags) {
    if (!flags) return "0";
    std::string s;
    for (const auto& e : kMsgFlags)
        if (flags & e.v) {
            s += (s.empty() ? "" : "|") + std::string(e.name);
            flags &= ~e.v;
        }
    if (flags) s += (s.empty() ? "" : "|") + std::to_string(flags);
    return s;
}

std::string level_name(int level) {
    static const Named t[] = {{SOL_SOCKET, "SOL_SOCKET"}, {SOL_IP, "SOL_IP"}, {SOL_UDP, "SOL_UDP"}, {SOL_RAW, "SOL_RAW"}};
    return lookup(t, level);
}

std::string option_name(int level, int name) {
    if (level == SOL_SOCKET) return lookup(kSolSocket, name);
    if (level == SOL_IP) return lookup(kSolIp, name);
    if (level == SOL_UDP) return lookup(kSolUdp, name);
    return std::to_string(name);
}

std::string ioctl_name(unsigned long req) {
    static const Named t[] = {{int(FIONREAD), "FIONREAD"},  {int(TIOCOUTQ), "SIOCOUTQ"},   {int(FIONBIO), "FIONBIO"},
                              {int(SIOCGSTAMP), "SIOCGSTAMP"}, {int(SIOCGIFCONF), "SIOCGIFCONF"},
                              {int(SIOCGIFFLAGS), "SIOCGIFFLAGS"}, {int(SIOCGIFADDR), "SIOCGIFADDR"},
                              {int(SIOCGIFINDEX), "SIOCGIFINDEX"}, {int(SIOCGIFMTU), "SIOCGIFMTU"},
                              {int(TCGETS), "TCGETS"}};
    std::string s = lookup(t, int(req));
    if (s == std::to_string(int(req))) {
        char hex[32];
        std::snprintf(hex, sizeof hex, "%#lx", req);
        return hex;
    }
    return s;
}

std::string fcntl_name(int cmd) {
    static const Named t[] = {{F_GETFL, "F_GETFL"}, {F_SETFL, "F_SETFL"},   {F_GETFD, "F_GETFD"},
                              {F_SETFD, "F_SETFD"}, {F_DUPFD, "F_DUPFD"},   {F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"}};
    return lookup(t, cmd);
}

std::string shutdown_name(int how) {
    static const Named t[] = {{SHUT_RD, "SHUT_RD"}, {SHUT_WR, "SHUT_WR"}, {SHUT_RDWR, "SHUT_RDWR"}};
    return lookup(t, how);
}

std::string sockaddr_arg(const sockaddr* a, socklen_t len) {
    if (!a) return "NULL";
    std::string s;
    if (int(len) < int(sizeof(sa_family_t))) {
        s = "{?}";
    } else {
        sockaddr_in sin{};
        std::memcpy(&sin, a, std::min<size_t>(len, sizeof sin));
        if (sin.sin_family == AF_INET) {
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof ip);
            s = std::string(ip) + ":" + std::to_string(ntohs(sin.sin_port));
        } else {
            s = "{" + family_name(sin.sin_family) + "}";
        }
    }
    if (len != sizeof(sockaddr_in)) s += ", len " + std::to_string(int(len));
    return s;
}

std::string errno_name(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

std::string result_str(long r, int err) { return r >= 0 ? std::to_string(r) : "-1 " + errno_name(err); }

}  // namespace usnet::sock
