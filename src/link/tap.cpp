#include "link/tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "link/shm.hpp"
#include "wire/bytes.hpp"
#include "wire/checksum.hpp"
#include "wire/ethernet.hpp"

namespace usnet::link {

namespace {

// struct virtio_net_hdr (<linux/virtio_net.h> does not compile as C++), native endian as
// the TAP's legacy header is.
struct VnetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset;
};
static_assert(sizeof(VnetHdr) == 10);
constexpr uint8_t kVnetNeedsCsum = 1, kVnetDataValid = 2;

long sys_ioctl(int fd, unsigned long req, void* arg) { return syscall(SYS_ioctl, fd, req, arg); }
void sys_close(int fd) {
    if (fd >= 0) syscall(SYS_close, fd);
}

// What `ip link` knows of the device, through a socket of this thread's namespace.
struct IfInfo {
    bool exists = false;
    uint32_t mtu = 1500;
    Mac mac;
};

IfInfo if_info(const std::string& name) {
    IfInfo info;
    const int s = int(syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (s < 0) return info;
    ifreq r{};
    std::memcpy(r.ifr_name, name.data(), name.size());
    info.exists = sys_ioctl(s, SIOCGIFINDEX, &r) == 0;
    if (info.exists && sys_ioctl(s, SIOCGIFMTU, &r) == 0) info.mtu = uint32_t(r.ifr_mtu);
    if (info.exists && sys_ioctl(s, SIOCGIFHWADDR, &r) == 0) std::memcpy(info.mac.b.data(), r.ifr_hwaddr.sa_data, 6);
    sys_close(s);
    return info;
}

std::string attach_error(int e, const std::string& name, bool existed) {
    switch (e) {
        case EPERM:
        case EACCES:
            if (existed)
                return "not permitted to use TAP device " + name +
                       ": it belongs to another user or group (make one a user may use with: ip tuntap add dev " +
                       name + " mode tap user USER)";
            return "no TAP device " + name +
                   " in this network namespace, and creating one needs CAP_NET_ADMIN (make a persistent one first: "
                   "ip tuntap add dev " + name + " mode tap user USER)";
        case EBUSY:
            return "TAP device " + name +
                   " is busy: another program has it open (a TAP that is not multi_queue serves one reader)";
        case EINVAL:
            return name + " exists but is not a TAP device (a TUN device, or another kind of link)";
        default:
            return "cannot attach to TAP device " + name + ": " + std::strerror(e);
    }
}

Time wall_clock() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return Time(ts.tv_sec) * kSec + ts.tv_nsec;
}

}  // namespace

std::unique_ptr<TapDevice> TapDevice::open(const TapOptions& o, std::string* err, int* code) {
    auto fail = [&](int e, const std::string& why) {
        if (code) *code = e;
        *err = why;
        return std::unique_ptr<TapDevice>();
    };
    if (o.name.empty() || o.name.size() >= IFNAMSIZ) return fail(EINVAL, "a TAP device name has 1 to 15 characters");
    const IfInfo before = if_info(o.name);
    std::unique_ptr<TapDevice> d(new TapDevice);
    d->name_ = o.name;
    const short base = short(IFF_TAP | IFF_NO_PI | (o.vnet_hdr ? IFF_VNET_HDR : 0));
    bool mq = o.queues > 1;
    const uint32_t want = std::min(std::max(o.queues, 1u), kMaxQueues);
    for (uint32_t i = 0; i < want; ++i) {
        const int fd = int(syscall(SYS_openat, AT_FDCWD, "/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (fd < 0)
            return fail(errno == ENOENT ? ENODEV : errno,
                        std::string("cannot open /dev/net/tun: ") + std::strerror(errno) +
                            " (is the tun module loaded, and /dev/net/tun present here?)");
        d->q_.push_back(fd);
        ifreq r{};
        std::memcpy(r.ifr_name, o.name.data(), o.name.size());
        r.ifr_flags = short(base | (mq ? IFF_MULTI_QUEUE : 0));
        long rc = sys_ioctl(fd, TUNSETIFF, &r);
        if (rc != 0 && errno == EINVAL && i == 0 && before.exists) {
            // tun_set_iff: a device made multi_queue (or not) is attached only that way.
            mq = !mq;
            r.ifr_flags = short(base | (mq ? IFF_MULTI_QUEUE : 0));
            rc = sys_ioctl(fd, TUNSETIFF, &r);
            if (rc != 0 && errno != EINVAL) mq = !mq;
        }
        if (rc != 0) return fail(errno, attach_error(errno, o.name, before.exists));
        if (!mq) break;  // a single-queue device takes one reader
    }
    d->created_ = !before.exists;
    // What the device really does: a multi-queue device keeps the flags its first queue set.
    ifreq g{};
    if (sys_ioctl(d->q_[0], TUNGETIFF, &g) == 0) d->vnet_ = (g.ifr_flags & IFF_VNET_HDR) != 0;
    if (d->vnet_) {
        int sz = sizeof(VnetHdr);
        sys_ioctl(d->q_[0], TUNSETVNETHDRSZ, &sz);
        // The kernel may then hand over UDP with its checksum left to us (CHECKSUM_PARTIAL).
        d->offload_ = sys_ioctl(d->q_[0], TUNSETOFFLOAD, reinterpret_cast<void*>(uintptr_t(TUN_F_CSUM))) == 0;
    }
    const IfInfo after = if_info(o.name);
    d->kernel_mtu_ = after.mtu;
    d->kernel_mac_ = after.mac;
    d->bell_ = int(syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (d->bell_ < 0) return fail(errno, std::string("eventfd: ") + std::strerror(errno));
    if (!o.pcap.empty() && !d->pcap_.open(o.pcap)) return fail(EIO, "cannot write the capture file " + o.pcap);
    return d;
}

TapDevice::~TapDevice() {
    // A persistent device keeps its offloads: leave it as a reader without a virtio
    // header expects it (complete checksums).
    if (offload_ && !q_.empty()) sys_ioctl(q_[0], TUNSETOFFLOAD, nullptr);
    for (int fd : q_) sys_close(fd);
    sys_close(bell_);
}

void TapDevice::forget() {
    for (int fd : q_) sys_close(fd);
    q_.clear();
    offload_ = false;
}

void TapDevice::capture(const uint8_t* frame, uint32_t len, bool partial) {
    uint8_t copy[65536 + 64];
    const uint32_t start = partial ? wire::frame_udp_start(frame, len) : 0;
    if (start && len <= sizeof copy) {
        std::memcpy(copy, frame, len);
        wire::complete_partial_checksum(copy, len, start, 6);
        frame = copy;
    }
    pcap_.write(wall_clock(), frame, len);
}

uint32_t TapDevice::receive(buf::Pool& pool, uint32_t max_frame, FnRef<void(buf::PacketPtr, bool)> f, uint32_t max) {
    const uint32_t vh = vnet_ ? sizeof(VnetHdr) : 0;
    // Room for what the kernel side may send (its MTU, a VLAN tag), and one byte more: a
    // read that fills the buffer was cut short.
    const uint32_t room = std::max(max_frame, kernel_mtu_ + wire::kEthHeaderLen) + 4 + vh + 1;
    uint32_t n = 0;
    if (q_.empty()) return 0;
    for (size_t k = 0; k < q_.size() && n < max; ++k) {
        const int fd = q_[(next_q_ + k) % q_.size()];
        while (n < max) {
            buf::PacketPtr p = pool.alloc(room);
            if (!p) return n;  // no memory: the frames wait in the kernel's queue
            const ssize_t r = ssize_t(syscall(SYS_read, fd, p->data(), room));
            if (r <= 0) break;  // EAGAIN: this queue is empty
            ++n;
            ++stats_.rx_frames;
            p->put(uint32_t(r));
            if (uint32_t(r) >= room) {
                ++stats_.rx_too_long;
                p->pull(vh);
                f(std::move(p), true);
                continue;
            }
            bool partial = false;
            if (vh) {
                VnetHdr h;
                std::memcpy(&h, p->data(), sizeof h);
                p->pull(vh);
                // NEEDS_CSUM: a datagram from this host, its checksum left to the receiver
                // (CHECKSUM_PARTIAL); DATA_VALID: already verified. Either way the kernel
                // vouches for it, as it does for its own sockets.
                partial = h.flags & kVnetNeedsCsum;
                p->meta.csum_ok = (h.flags & (kVnetNeedsCsum | kVnetDataValid)) != 0;
                p->meta.csum_partial = partial;
            }
            if (pcap_.is_open()) capture(p->data(), p->size(), partial);
            f(std::move(p), false);
        }
    }
    next_q_ = uint32_t((next_q_ + 1) % q_.size());
    return n;
}

bool TapDevice::transmit(buf::Packet& frame) {
    if (q_.empty()) return false;
    if (pcap_.is_open()) capture(frame.data(), frame.size(), frame.meta.csum_partial);
    long r;
    if (vnet_) {
        VnetHdr h{};
        if (frame.meta.csum_partial) {
            if (const uint32_t start = wire::frame_udp_start(frame.data(), frame.size())) {
                h.flags = kVnetNeedsCsum;
                h.csum_start = uint16_t(start);
                h.csum_offset = 6;  // offsetof(udphdr, check)
            }
        }
        if (frame.headroom() >= sizeof h) {
            std::memcpy(frame.push(sizeof h), &h, sizeof h);
            r = syscall(SYS_write, q_[0], frame.data(), frame.size());
            frame.pull(sizeof h);
        } else {
            iovec iov[2] = {{&h, sizeof h}, {frame.data(), frame.size()}};
            r = syscall(SYS_writev, q_[0], iov, 2);
        }
    } else {
        r = syscall(SYS_write, q_[0], frame.data(), frame.size());
    }
    if (r < 0) {
        ++stats_.tx_errors;
        return false;
    }
    ++stats_.tx_frames;
    return true;
}

bool TapDevice::transmit(const uint8_t* frame, uint32_t len) {
    if (q_.empty()) return false;
    if (pcap_.is_open()) capture(frame, len, false);
    VnetHdr h{};
    iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(frame), len}};
    const long r = vnet_ ? syscall(SYS_writev, q_[0], iov, 2) : syscall(SYS_write, q_[0], frame, len);
    if (r < 0) {
        ++stats_.tx_errors;
        return false;
    }
    ++stats_.tx_frames;
    return true;
}

bool TapDevice::wait(Time timeout, bool rung, const sigset_t* unblock) {
    if (rung) arm();
    return wait_armed(timeout, rung, unblock);
}

void TapDevice::arm() { sleepers_.fetch_add(1, std::memory_order_seq_cst); }

bool TapDevice::wait_armed(Time timeout, bool rung, const sigset_t* unblock) {
    shm::SleeperOut<uint32_t> out{rung ? &sleepers_ : nullptr};
    pollfd p[kMaxQueues + 1];
    nfds_t n = 0;
    for (int fd : q_) p[n++] = {fd, POLLIN, 0};
    p[n++] = {rung ? bell_ : -1, POLLIN, 0};  // (a negative descriptor is left out)
    timespec ts{};
    timespec* tsp = shm::relative_timeout(timeout, &ts);
    const int saved = errno;
    long r;
    {
        shm::CancelPoint cancel;  // a blocked call's sleep
        r = shm::blocking_syscall(SYS_ppoll, p, n, tsp, unblock, unblock ? size_t(_NSIG / 8) : size_t(0));
    }
    const bool interrupted = r < 0 && errno == EINTR;
    errno = saved;
    if (r > 0 && (p[n - 1].revents & POLLIN)) {
        uint64_t v;
        (void)!syscall(SYS_read, bell_, &v, sizeof v);
    }
    return interrupted;
}

void TapDevice::ring() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    const uint64_t v = 1;
    (void)!syscall(SYS_write, bell_, &v, sizeof v);
}

}  // namespace usnet::link
