#include "harness.hpp"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace conformance {

std::vector<Scenario>& registry() {
    static std::vector<Scenario> r;
    return r;
}

sockaddr_in addr(const char* ip, uint16_t port, sa_family_t fam) {
    sockaddr_in a{};
    a.sin_family = fam;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static const sockaddr* sa(const sockaddr_in& a) { return reinterpret_cast<const sockaddr*>(&a); }

std::string T::fmt_addr(const sockaddr_in& a, socklen_t len) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    const unsigned port = ntohs(a.sin_port);
    std::ostringstream o;
    if (a.sin_family != AF_INET) o << "family=" << a.sin_family << " ";
    o << ip << ":";
    if (port >= 32768 && port <= 60999) o << "EPH";
    else o << port;
    if (len != sizeof(sockaddr_in)) o << " len=" << len;
    return o.str();
}

static std::string quote(const char* p, size_t n) {
    std::ostringstream o;
    o << '"';
    for (size_t i = 0; i < n && i < 48; ++i) {
        const unsigned char c = static_cast<unsigned char>(p[i]);
        if (c >= 32 && c < 127 && c != '"' && c != '\\') o << c;
        else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            o << b;
        }
    }
    if (n > 48) o << "...(" << n << ")";
    o << '"';
    return o.str();
}

static std::string msg_flags(int f) {
    std::string s;
    auto add = [&](int bit, const char* name) {
        if (f & bit) {
            s += s.empty() ? "" : "|";
            s += name;
            f &= ~bit;
        }
    };
    add(MSG_TRUNC, "TRUNC");
    add(MSG_CTRUNC, "CTRUNC");
    add(MSG_ERRQUEUE, "ERRQUEUE");
    add(MSG_EOR, "EOR");
    if (f) s += (s.empty() ? "" : "|") + std::to_string(f);
    return s.empty() ? "0" : s;
}

std::string T::result(long r) {
    if (r >= 0) return std::to_string(r);
    const char* n = strerrorname_np(errno);
    return std::string("-1 ") + (n ? n : std::to_string(errno).c_str());
}

void T::log(const std::string& call, long r, const std::string& extra) {
    trace.push_back(call + " = " + result(r) + (extra.empty() ? "" : " " + extra));
}

bool T::autobound_ping(int fd) const {
    const auto it = ping_fds_.find(fd);
    return it != ping_fds_.end() && !it->second;
}

int T::socket(int domain, int type, int proto, Host h) {
    errno = 0;
    int r = api_.socket(h, domain, type, proto);
    if (r >= 0 && proto == IPPROTO_ICMP) ping_fds_[r] = false;
    else if (r >= 0) ping_fds_.erase(r);
    const std::string call = std::string(h == kGw ? "gw." : "") + "socket(" + std::to_string(domain) + "," +
                             std::to_string(type) + "," + std::to_string(proto) + ")";
    trace.push_back(call + " = " + (r >= 0 ? "fd" : result(r)));
    return r;
}

int T::bind(int fd, const sockaddr_in& a, socklen_t len) {
    int r = api_.bind(fd, sa(a), len);
    if (r == 0 && a.sin_port && ping_fds_.count(fd)) ping_fds_[fd] = true;
    log("bind(" + fmt_addr(a, len) + ")", r);
    return r;
}

int T::connect(int fd, const sockaddr_in& a, socklen_t len) {
    int r = api_.connect(fd, sa(a), len);
    log("connect(" + fmt_addr(a, len) + ")", r);
    return r;
}

int T::connect_unspec(int fd) {
    sockaddr_in a{};
    a.sin_family = AF_UNSPEC;
    int r = api_.connect(fd, sa(a), sizeof a);
    log("connect(AF_UNSPEC)", r);
    return r;
}

int T::getsockname(int fd, socklen_t len) {
    sockaddr_storage ss{};
    socklen_t l = len;
    int r = api_.getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l);
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof a);
    std::string shown = r == 0 ? fmt_addr(a, l) : "";
    if (r == 0 && autobound_ping(fd) && a.sin_port) shown = shown.substr(0, shown.find(':')) + ":ID" + (l != sizeof a ? " len=" + std::to_string(l) : "");
    log("getsockname(len=" + std::to_string(len) + ")", r, shown);
    return r;
}

int T::getpeername(int fd, socklen_t len) {
    sockaddr_storage ss{};
    socklen_t l = len;
    int r = api_.getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &l);
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof a);
    log("getpeername(len=" + std::to_string(len) + ")", r, r == 0 ? fmt_addr(a, l) : "");
    return r;
}

sockaddr_in T::name_of(int fd) {
    sockaddr_in a{};
    socklen_t l = sizeof a;
    api_.getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    return a;
}

ssize_t T::sendmsg(int fd, const std::string& data, const sockaddr_in* to, const std::string& control, int flags) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in dst{};
    if (to) {
        dst = *to;
        m.msg_name = &dst;
        m.msg_namelen = sizeof dst;
    }
    std::string ctl = control;
    if (!ctl.empty()) {
        m.msg_control = ctl.data();
        m.msg_controllen = ctl.size();
    }
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("sendmsg(" + std::to_string(data.size()) + "B" + (to ? " to " + fmt_addr(*to) : "") +
            (control.empty() ? "" : " +cmsg") + " flags=" + std::to_string(flags) + ")",
        r);
    return r;
}

ssize_t T::sendto(int fd, const std::string& data, const sockaddr_in& to, int flags, socklen_t len) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in dst = to;
    m.msg_name = &dst;
    m.msg_namelen = len;
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("sendto(" + std::to_string(data.size()) + "B, " + fmt_addr(to, len) + ", flags=" + std::to_string(flags) + ")", r);
    return r;
}

ssize_t T::send(int fd, const std::string& data, int flags) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = api_.sendmsg(fd, &m, flags);
    log("send(" + std::to_string(data.size()) + "B, flags=" + std::to_string(flags) + ")", r);
    return r;
}

static std::string decode_cmsgs(msghdr& m) {
    std::string out;
    if (!m.msg_control) return out;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        std::ostringstream o;
        const size_t dlen = c->cmsg_len - CMSG_LEN(0);
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TTL && dlen >= sizeof(int)) {
            int v;
            std::memcpy(&v, CMSG_DATA(c), sizeof v);
            o << "TTL=" << v;
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS && dlen >= 1) {
            o << "TOS=" << int(*CMSG_DATA(c));
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO && dlen >= sizeof(in_pktinfo)) {
            in_pktinfo pi;
            std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
            char a[16], b[16];
            inet_ntop(AF_INET, &pi.ipi_addr, a, sizeof a);
            inet_ntop(AF_INET, &pi.ipi_spec_dst, b, sizeof b);
            o << "PKTINFO(ifindex=" << (pi.ipi_ifindex == 1 ? "lo" : "eth") << ",addr=" << a << ",spec_dst=" << b << ")";
        } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR && dlen >= sizeof(sock_extended_err)) {
            sock_extended_err ee;
            std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
            o << "RECVERR(errno=" << (strerrorname_np(int(ee.ee_errno)) ? strerrorname_np(int(ee.ee_errno)) : "?")
              << ",origin=" << int(ee.ee_origin) << ",type=" << int(ee.ee_type) << ",code=" << int(ee.ee_code)
              << ",info=" << ee.ee_info << ",data=" << ee.ee_data;
            if (dlen >= sizeof ee + sizeof(sockaddr_in)) {
                sockaddr_in off;
                std::memcpy(&off, CMSG_DATA(c) + sizeof ee, sizeof off);
                o << ",offender=" << T::fmt_addr(off);
            }
            o << ")";
        } else {
            o << "cmsg(" << c->cmsg_level << "," << c->cmsg_type << "," << dlen << "B)";
        }
        out += (out.empty() ? "" : ",") + o.str();
    }
    return out;
}

static ssize_t do_recv(T& t, Api& api, int fd, size_t cap, int flags, size_t control, const char* name,
                       std::vector<std::string>& trace, std::function<std::string(long)> result) {
    std::string buf(cap, '\0');
    iovec iov{buf.data(), cap};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    sockaddr_in from{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    std::string ctl(control, '\0');
    if (control) {
        m.msg_control = ctl.data();
        m.msg_controllen = control;
    }
    ssize_t r = api.recvmsg(fd, &m, flags);
    std::string extra;
    if (r >= 0 && t.autobound_ping(fd)) {
        // An echo reply (or a quoted request) carries the identifier the kernel chose, and a
        // checksum over it.
        for (size_t i = 2; i < 6 && i < std::min<size_t>(size_t(r), cap); ++i) buf[i] = '?';
    }
    if (r >= 0) {
        extra = "data=" + [&] {
            std::string q;
            const size_t n = std::min<size_t>(size_t(r), cap);
            std::ostringstream o;
            o << '"';
            for (size_t i = 0; i < n && i < 48; ++i) {
                const unsigned char c = static_cast<unsigned char>(buf[i]);
                if (c >= 32 && c < 127 && c != '"' && c != '\\') o << c;
                else {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\x%02x", c);
                    o << b;
                }
            }
            if (n > 48) o << "...";
            o << '"';
            return o.str();
        }();
        extra += " from=" + (m.msg_namelen ? T::fmt_addr(from, m.msg_namelen) : std::string("none"));
        extra += " flags=" + msg_flags(m.msg_flags);
        const std::string c = decode_cmsgs(m);
        if (!c.empty()) extra += " cmsg=[" + c + "]";
    }
    trace.push_back(std::string(name) + "(cap=" + std::to_string(cap) + ",flags=" + std::to_string(flags) + ") = " +
                    result(r) + (extra.empty() ? "" : " " + extra));
    return r;
}

ssize_t T::recv(int fd, size_t cap, int flags, size_t control) {
    return do_recv(*this, api_, fd, cap, flags, control, "recvmsg", trace, [this](long r) { return result(r); });
}

ssize_t T::recv_errqueue(int fd, size_t cap, int flags) {
    return do_recv(*this, api_, fd, cap, flags | MSG_ERRQUEUE, 512, "recvmsg_errqueue", trace,
                   [this](long r) { return result(r); });
}

int T::setsockopt_int(int fd, int level, int name, int v, socklen_t len) {
    int r = api_.setsockopt(fd, level, name, &v, len);
    log("setsockopt(" + std::to_string(level) + "," + std::to_string(name) + "," + std::to_string(v) +
            ",len=" + std::to_string(len) + ")",
        r);
    return r;
}

int T::setsockopt_raw(int fd, int level, int name, const void* v, socklen_t len) {
    int r = api_.setsockopt(fd, level, name, v, len);
    log("setsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",raw,len=" + std::to_string(len) + ")", r);
    return r;
}

int T::getsockopt_int(int fd, int level, int name, socklen_t len) {
    unsigned char buf[64] = {};
    socklen_t l = len;
    int r = api_.getsockopt(fd, level, name, buf, &l);
    std::string extra;
    if (r == 0) {
        int v = 0;
        std::memcpy(&v, buf, std::min<size_t>(l, sizeof v));
        extra = "value=" + std::to_string(v) + " len=" + std::to_string(l);
    }
    log("getsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",len=" + std::to_string(len) + ")", r, extra);
    return r == 0 ? [&] { int v = 0; std::memcpy(&v, buf, std::min<size_t>(l, sizeof v)); return v; }() : -1;
}

int T::getsockopt_raw(int fd, int level, int name, socklen_t len) {
    unsigned char buf[256] = {};
    socklen_t l = len;
    int r = api_.getsockopt(fd, level, name, buf, &l);
    std::string extra;
    if (r == 0) extra = "len=" + std::to_string(l) + " bytes=" + quote(reinterpret_cast<char*>(buf), l);
    log("getsockopt(" + std::to_string(level) + "," + std::to_string(name) + ",raw,len=" + std::to_string(len) + ")", r,
        extra);
    return r;
}

int T::set_rcvtimeo(int fd, int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    int r = api_.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    log("setsockopt(SO_RCVTIMEO," + std::to_string(ms) + "ms)", r);
    return r;
}

int T::shutdown(int fd, int how) {
    int r = api_.shutdown(fd, how);
    log("shutdown(" + std::to_string(how) + ")", r);
    return r;
}

int T::close(int fd) {
    int r = api_.close(fd);
    if (r == 0) ping_fds_.erase(fd);
    log("close", r);
    return r;
}

int T::ioctl_int(int fd, unsigned long req, const char* name) {
    int v = -12345;
    int r = api_.ioctl(fd, req, &v);
    log(std::string("ioctl(") + name + ")", r, r == 0 ? "value=" + std::to_string(v) : "");
    return r == 0 ? v : -1;
}

int T::fcntl(int fd, int cmd, long arg, const char* name) {
    int r = api_.fcntl(fd, cmd, arg);
    log(std::string("fcntl(") + name + "," + std::to_string(arg) + ")", r);
    return r;
}

int T::poll1(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    int r = api_.poll(&p, 1, timeout_ms);
    log("poll(events=" + std::to_string(events) + ",timeout=" + std::to_string(timeout_ms) + ")", r,
        r >= 0 ? "revents=" + std::to_string(p.revents) : "");
    return r >= 0 ? p.revents : -1;
}

int T::ip(const std::string& args, Host h) {
    int r = api_.ip(h, args);
    trace.push_back(std::string(h == kGw ? "gw." : "") + "ip " + args + " = " + std::to_string(r));
    return r;
}

}  // namespace conformance
