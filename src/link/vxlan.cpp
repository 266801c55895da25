#include "link/vxlan.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "link/shm.hpp"
#include "wire/bytes.hpp"
#include "wire/ethernet.hpp"

namespace usnet::link {

namespace {

constexpr uint32_t kHdr = 8;
constexpr uint8_t kFlagI = 0x08;  // RFC 7348 5: the VNI is valid
constexpr uint32_t kSlot = kHdr + VxlanEndpoint::kMaxFrame;

sockaddr_in sin_of(Ip4 a, uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    s.sin_addr.s_addr = a.net();
    return s;
}

bool parse_port(const std::string& s, uint16_t* port) {
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || v <= 0 || v > 65535) return false;
    *port = uint16_t(v);
    return true;
}

// "ADDR[:PORT]", either part optional when allow_empty_addr.
bool parse_endpoint(const std::string& s, Ip4* a, uint16_t* port, bool allow_empty_addr) {
    const auto colon = s.find(':');
    const std::string host = s.substr(0, colon);
    if (colon != std::string::npos && !parse_port(s.substr(colon + 1), port)) return false;
    if (host.empty()) return allow_empty_addr;
    return Ip4::parse(host, a);
}

}  // namespace

bool parse_vxlan_spec(const std::string& spec, VxlanOptions* o, std::string* err) {
    std::istringstream in(spec);
    std::string part;
    bool first = true, have_vni = false;
    while (std::getline(in, part, ',')) {
        if (first) {
            VxlanRemote r;
            if (!parse_endpoint(part, &r.addr, &r.port, false) || r.addr.any() || r.addr.is_multicast()) {
                *err = "expected the remote endpoint's unicast address first, as 192.0.2.7 or 192.0.2.7:4789";
                return false;
            }
            o->remotes.push_back(r);
            first = false;
        } else if (part.rfind("vni=", 0) == 0) {
            char* end = nullptr;
            const long v = std::strtol(part.c_str() + 4, &end, 10);
            if (part.size() == 4 || *end || v < 0 || v > 0xffffff) {
                *err = "vni is a number from 0 to 16777215";
                return false;
            }
            o->vni = uint32_t(v);
            have_vni = true;
        } else if (part.rfind("local=", 0) == 0) {
            if (!parse_endpoint(part.substr(6), &o->local_addr, &o->local_port, true)) {
                *err = "expected local=[ADDR][:PORT]";
                return false;
            }
        } else {
            *err = "unknown setting " + part + " (expected vni=N or local=[ADDR][:PORT])";
            return false;
        }
    }
    if (first || !have_vni) {
        *err = "expected REMOTE[:PORT],vni=N[,local=[ADDR][:PORT]]";
        return false;
    }
    return true;
}

std::unique_ptr<VxlanEndpoint> VxlanEndpoint::open(const VxlanOptions& o, std::string* err) {
    std::unique_ptr<VxlanEndpoint> e(new VxlanEndpoint);
    e->o_ = o;
    auto fail = [&](const std::string& why) {
        *err = why;
        return std::unique_ptr<VxlanEndpoint>();
    };
    e->fd_ = int(syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (e->fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
    // RFC 7348 4.3: VXLAN packets are never fragmented (DF set, too-big ones refused).
    const int pmtu = IP_PMTUDISC_DO;
    syscall(SYS_setsockopt, e->fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    const int buf = 4 << 20;
    syscall(SYS_setsockopt, e->fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    const sockaddr_in local = sin_of(o.local_addr, o.local_port);
    if (syscall(SYS_bind, e->fd_, &local, sizeof local) != 0)
        return fail("cannot bind the VXLAN socket to " + o.local_addr.str() + ":" + std::to_string(o.local_port) + ": " +
                    std::strerror(errno));
    uint32_t mtu = 65535;
    for (const VxlanRemote& r : o.remotes) {
        e->to_.push_back(sin_of(r.addr, r.port));
        // The path MTU towards the remote, as the route gives it (IP_MTU on a connected socket).
        const int probe = int(syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        int path = 0;
        socklen_t len = sizeof path;
        const bool ok = probe >= 0 && syscall(SYS_connect, probe, &e->to_.back(), sizeof(sockaddr_in)) == 0 &&
                        syscall(SYS_getsockopt, probe, IPPROTO_IP, IP_MTU, &path, &len) == 0;
        const int saved = errno;
        if (probe >= 0) syscall(SYS_close, probe);
        if (!ok) return fail("no route to the VXLAN remote " + r.addr.str() + ": " + std::strerror(saved));
        mtu = std::min(mtu, uint32_t(path));
    }
    if (mtu <= kOverhead + 68) return fail("the underlay's MTU (" + std::to_string(mtu) + ") leaves no room for frames");
    e->inner_mtu_ = std::min(mtu - kOverhead, kMaxFrame - wire::kEthHeaderLen);
    e->tx_buf_.resize(size_t(kBatch) * kSlot);
    e->rx_buf_.resize(size_t(kBatch) * kSlot);
    e->tx_len_.resize(kBatch);
    e->tx_to_.resize(kBatch);
    return e;
}

VxlanEndpoint::~VxlanEndpoint() {
    flush();
    if (fd_ >= 0) syscall(SYS_close, fd_);
}

void VxlanEndpoint::send(size_t r, const uint8_t* frame, uint32_t len) {
    if (len > inner_mtu_ + wire::kEthHeaderLen) {
        ++stats_.tx_too_big;
        return;
    }
    if (tx_n_ == kBatch) flush();
    uint8_t* slot = tx_buf_.data() + size_t(tx_n_) * kSlot;
    std::memset(slot, 0, kHdr);
    slot[0] = kFlagI;
    wire::store32(slot + 4, o_.vni << 8);
    std::memcpy(slot + kHdr, frame, len);
    tx_len_[tx_n_] = kHdr + len;
    tx_to_[tx_n_] = uint32_t(r);
    ++tx_n_;
}

void VxlanEndpoint::flush() {
    if (tx_n_ == 0) return;
    mmsghdr m[kBatch];
    iovec iov[kBatch];
    for (uint32_t i = 0; i < tx_n_; ++i) {
        iov[i] = {tx_buf_.data() + size_t(i) * kSlot, tx_len_[i]};
        m[i] = {};
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &to_[tx_to_[i]];
        m[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    uint32_t done = 0;
    while (done < tx_n_) {
        const long n = syscall(SYS_sendmmsg, fd_, m + done, tx_n_ - done, MSG_DONTWAIT);
        if (n <= 0) {
            // The one that failed (a full socket buffer, a path MTU shrunk under us) is
            // counted and skipped; the rest still go.
            ++stats_.tx_errors;
            ++done;
            continue;
        }
        stats_.tx += uint64_t(n);
        done += uint32_t(n);
    }
    tx_n_ = 0;
}

uint32_t VxlanEndpoint::receive(FnRef<void(size_t, const uint8_t*, uint32_t)> f) {
    mmsghdr m[kBatch];
    iovec iov[kBatch];
    sockaddr_in from[kBatch];
    for (uint32_t i = 0; i < kBatch; ++i) {
        iov[i] = {rx_buf_.data() + size_t(i) * kSlot, kSlot};
        m[i] = {};
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &from[i];
        m[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    const long n = syscall(SYS_recvmmsg, fd_, m, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return 0;
    for (long i = 0; i < n; ++i) {
        const uint8_t* d = rx_buf_.data() + size_t(i) * kSlot;
        const uint32_t len = m[i].msg_len;
        ++stats_.rx;
        // RFC 7348 5: the I flag must be set; the reserved bits are ignored on receipt.
        if (len < kHdr + wire::kEthHeaderLen || (m[i].msg_hdr.msg_flags & MSG_TRUNC) || !(d[0] & kFlagI)) {
            ++stats_.rx_bad_header;
            continue;
        }
        if ((wire::load32(d + 4) >> 8) != o_.vni) {
            ++stats_.rx_other_vni;
            continue;
        }
        // The remote by address and port (a usnet switch sends from its own port, and two may
        // share an address), else by address (Linux picks a source port a flow).
        size_t r = 0;
        while (r < to_.size() && !(to_[r].sin_addr.s_addr == from[i].sin_addr.s_addr && to_[r].sin_port == from[i].sin_port))
            ++r;
        if (r == to_.size())
            for (r = 0; r < to_.size() && to_[r].sin_addr.s_addr != from[i].sin_addr.s_addr;) ++r;
        if (r == to_.size()) {
            ++stats_.rx_unknown_remote;
            continue;
        }
        f(r, d + kHdr, len - kHdr);
    }
    return uint32_t(n);
}

void VxlanEndpoint::wait(Time timeout) {
    pollfd p{fd_, POLLIN, 0};
    timespec ts{};
    syscall(SYS_ppoll, &p, 1, shm::relative_timeout(timeout, &ts), nullptr, 0);
}

}  // namespace usnet::link
