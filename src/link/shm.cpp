#include "link/shm.hpp"
#include "wire/checksum.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>

namespace usnet::link::shm {

timespec* relative_timeout(Time timeout, timespec* ts) {
    if (timeout == kNever) return nullptr;
    ts->tv_sec = time_t(timeout / kSec);
    ts->tv_nsec = long(timeout % kSec);
    return ts;
}

long (*volatile blocking_syscall)(long, ...) = ::syscall;

CancelPoint::CancelPoint() { pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old_); }
CancelPoint::~CancelPoint() { pthread_setcanceltype(old_, nullptr); }

bool futex_wait(std::atomic<uint32_t>* w, uint32_t seen, Time timeout, bool shared, bool cancel_point) {
    timespec ts{};
    timespec* tsp = relative_timeout(timeout, &ts);
    const int saved = errno;  // a call that then succeeds leaves errno alone
    const int op = shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
    long r;
    if (cancel_point) {
        CancelPoint cancel;
        r = blocking_syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, seen, tsp, nullptr, 0);
    } else {
        r = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, seen, tsp, nullptr, 0);
    }
    const bool intr = r != 0 && errno == EINTR;
    errno = saved;
    return intr;
}

void futex_wake(std::atomic<uint32_t>* w, bool shared) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

Mac port_mac(uint32_t port, uint32_t mac_id) {
    return Mac{{0x02, 0x75, 0x6e, uint8_t(mac_id >> 8), uint8_t(mac_id), uint8_t(port)}};
}

uint32_t port_of_mac(const Mac& m, uint32_t mac_id) {
    if (m.b[0] == 0x02 && m.b[1] == 0x75 && m.b[2] == 0x6e && m.b[3] == uint8_t(mac_id >> 8) &&
        m.b[4] == uint8_t(mac_id) && m.b[5] < kMaxPorts)
        return m.b[5];
    return 0;
}

Fabric::~Fabric() {
    if (r_) munmap(r_, sizeof(Region));
}

int Fabric::create() {
    const int fd = int(syscall(SYS_memfd_create, "usnet-fabric", 1u /* MFD_CLOEXEC */));
    if (fd < 0) return -1;
    if (ftruncate(fd, sizeof(Region)) != 0 || !map(fd)) {
        syscall(SYS_close, fd);
        return -1;
    }
    // A fresh memfd reads as zeros: only the header and the slot sequence numbers need
    // values (the rings' pages are touched, and so allocated, only as ports are used).
    r_->hdr.magic = kMagic;
    r_->hdr.version = kVersion;
    return fd;
}

bool Fabric::map(int memfd) {
    void* p = mmap(nullptr, sizeof(Region), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (p == MAP_FAILED) return false;
    r_ = static_cast<Region*>(p);
    for (auto& t : tail_seen_) t.store(0, std::memory_order_relaxed);  // (a lower bound for any ring)
    if (r_->hdr.magic != 0 && (r_->hdr.magic != kMagic || r_->hdr.version != kVersion)) {
        munmap(p, sizeof(Region));
        r_ = nullptr;
        return false;
    }
    return true;
}

void Fabric::reset_ring(uint32_t p) {
    Ring& ring = r_->rings[p];
    // Every slot's seq is at most head (pos+1 of a position before it), so none reads as
    // written for a position from head on.
    const uint64_t head = ring.head.load(std::memory_order_relaxed);
    ring.tail.store(head, std::memory_order_relaxed);
    // An owner killed while it slept never counted itself out: left standing, its count
    // would cost every frame to the new owner a futex wake.
    ring.sleepers.store(0, std::memory_order_relaxed);
    ring.full_drops.store(0, std::memory_order_relaxed);
    ring.bad_frames.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

Slot* Fabric::claim(uint32_t to, uint32_t len, uint64_t* pos_out) {
    if (to >= kMaxPorts || len > kMaxFrame || !r_->hdr.ports[to].used.load(std::memory_order_acquire)) return nullptr;
    Ring& ring = r_->rings[to];
    uint64_t pos = ring.head.load(std::memory_order_relaxed);
    // The slot for pos was last the frame of pos - kSlots: free once the tail passed it.
    // (Signed: a pos already stale may lie behind a tail read since; its claim then fails.)
    auto full = [&](uint64_t tail) { return int64_t(pos - tail) >= int64_t(kSlots); };
    do {
        if (full(tail_seen_[to].load(std::memory_order_relaxed))) {
            const uint64_t tail = ring.tail.load(std::memory_order_acquire);
            tail_seen_[to].store(tail, std::memory_order_relaxed);
            if (full(tail)) {
                ring.full_drops.fetch_add(1, std::memory_order_relaxed);
                return nullptr;
            }
        }
    } while (!ring.head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed));
    *pos_out = pos;
    return &ring.slots[pos % kSlots];
}

void Fabric::publish(uint32_t to, uint32_t from, Slot* s, uint64_t pos, uint32_t len, uint16_t flags) {
    s->len = len | uint32_t(flags) << kSlotFlagShift;
    s->from = uint16_t(from);
    s->seq.store(pos + 1, std::memory_order_release);
    ring_bell(to);
}

bool Fabric::push(uint32_t to, uint32_t from, const uint8_t* frame, uint32_t len, uint16_t flags) {
    uint64_t pos;
    Slot* s = claim(to, len, &pos);
    if (!s) return false;
    std::memcpy(s->data, frame, len);
    publish(to, from, s, pos, len, flags);
    return true;
}

uint32_t Fabric::destination(const uint8_t* frame, bool* flood) const {
    Mac dst;
    std::memcpy(dst.b.data(), frame, 6);
    *flood = !r_->hdr.via_switch && dst.is_multicast();
    return r_->hdr.via_switch || *flood ? 0 : port_of_mac(dst, r_->hdr.mac_id);
}

uint32_t Fabric::send(uint32_t from, const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload, uint32_t plen,
                      uint32_t csum_start) {
    const uint32_t len = hlen + plen;
    bool flood;
    const uint32_t to = destination(hdr, &flood);
    if (!flood) {
        uint64_t pos;
        Slot* s = claim(to, len, &pos);
        if (!s) return 1;
        gather(s->data, hdr, hlen, payload);
        uint16_t flags = 0;
        if (csum_start) {
            // Host to host it stays partial; the switch may capture it or pass it to an
            // uplink, so for port 0 it is finished here.
            if (to != 0) flags = kSlotCsumPartial;
            else wire::complete_partial_checksum(s->data, len, csum_start, 6);
        }
        publish(to, from, s, pos, len, flags);
        return 0;
    }
    // Flooding, as a learning switch does for broadcast and multicast: the whole frame, its
    // checksum finished, to every other port.
    if (len > kMaxFrame) return 1;
    uint8_t frame[kMaxFrame];
    gather(frame, hdr, hlen, payload);
    if (csum_start) wire::complete_partial_checksum(frame, len, csum_start, 6);
    uint32_t refused = 0;
    for (uint32_t p = 0; p < kMaxPorts; ++p)
        if (p != from && r_->hdr.ports[p].used.load(std::memory_order_acquire) && !push(p, from, frame, len)) ++refused;
    return refused;
}

void Fabric::gather(uint8_t* out, const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload) {
    std::memcpy(out, hdr, hlen);
    out += hlen;
    for (const iovec& v : payload) {
        if (v.iov_len) std::memcpy(out, v.iov_base, v.iov_len);
        out += v.iov_len;
    }
}

bool Fabric::wait(uint32_t p, Time timeout) { return sleep(p, arm(p), timeout); }

uint32_t Fabric::arm(uint32_t p) {
    Ring& ring = r_->rings[p];
    ring.sleepers.fetch_add(1, std::memory_order_seq_cst);
    return ring.bell.load(std::memory_order_seq_cst);
}

bool Fabric::sleep(uint32_t p, uint32_t seen, Time timeout) {
    Ring& ring = r_->rings[p];
    SleeperOut<uint32_t> out{&ring.sleepers};
    // Checked after announcing ourselves: a producer that published before this sees the
    // frame here; one that publishes after sees a sleeper and rings.
    return !pending(p) && futex_wait(&ring.bell, seen, timeout, true, true);
}

std::atomic<uint32_t>* Fabric::bell(uint32_t p) { return &r_->rings[p].bell; }

void Fabric::ring_bell(uint32_t p, bool fence) {
    Ring& ring = r_->rings[p];
    if (fence) std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ring.sleepers.load(std::memory_order_relaxed) == 0) return;
    ring.bell.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&ring.bell, true);
}

// Raw system calls: inside `usnet run` the libc socket calls are the shim's.
FdMessage::FdMessage(const void* msg, size_t len, int fd) : iov{const_cast<void*>(msg), len} {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fd < 0) return;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
}

bool send_with_fd(int sock, const void* msg, size_t len, int fd) {
    FdMessage f(msg, len, fd);
    ssize_t n;
    do n = ssize_t(syscall(SYS_sendmsg, sock, &f.m, MSG_NOSIGNAL));
    while (n < 0 && errno == EINTR);
    return n == ssize_t(len);
}

bool recv_with_fd(int sock, void* msg, size_t len, int* fd) {
    *fd = -1;
    iovec iov{msg, len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t n;
    do n = ssize_t(syscall(SYS_recvmsg, sock, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL));
    while (n < 0 && errno == EINTR);
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n == ssize_t(len);
}

}  // namespace usnet::link::shm
