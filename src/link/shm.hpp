// Shared-memory Ethernet: the wire between processes attached to one `usnet switch`.
//
// The switch owns a memfd holding one receive ring per port (port 0 is the switch itself,
// with its gateway). A sender writes a frame straight into the ring of the port its
// destination MAC names, so a frame between two programs crosses one copy and no syscall;
// a sleeping receiver is woken through a futex on its ring, only when it sleeps. When the
// switch injects faults, delays or captures, every frame goes through port 0 instead and
// the switch forwards it (the direct path would bypass those).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>

#include "usnet/types.hpp"

namespace usnet::link::shm {

constexpr uint32_t kMaxPorts = 32;
constexpr uint32_t kSlots = 512;  // frames a port can have waiting; more are dropped, counted
constexpr uint32_t kSlotBytes = 2048;
constexpr uint32_t kMaxFrame = kSlotBytes - 16;
constexpr uint32_t kMaxMtu = 2000;
constexpr uint32_t kPrefetchBytes = 256;  // of a slot, fetched as soon as its frame is seen
constexpr uint64_t kMagic = 0x757366616272696bULL;  // "usfabrik"
constexpr uint32_t kVersion = 4;
// Slot flags, in the high bits of a slot's length word. kSlotCsumPartial: the frame's UDP
// checksum holds only the pseudo-header sum, left for the receiver to trust as Linux trusts
// a local CHECKSUM_PARTIAL datagram crossing a veth (only on the direct path between two
// hosts; see Fabric::send).
constexpr uint16_t kSlotCsumPartial = 1;
constexpr uint32_t kSlotFlagShift = 24;

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "rings are shared between processes: their atomics must be address-free");

// A ring is many-producer, one-consumer. Only producers write a slot, and the consumer only
// reads it: a slot's lines then cross between cores once a frame (as in the shared-memory
// floor), where a consumer that marked slots free would hand them back modified, costing the
// next producer two more transfers inside its sendto. A producer learns what is free from the
// consumer's tail, which it reads only when its own view of it says the ring is full.
struct Slot {
    std::atomic<uint64_t> seq;  // pos+1 once the frame for position pos is written
    uint32_t len;  // the frame's length; flags (kSlot*) in the bits from kSlotFlagShift
    uint16_t from;  // sending port
    uint16_t pad;
    uint8_t data[kMaxFrame];
};
static_assert(sizeof(Slot) == kSlotBytes);

struct Ring {
    alignas(64) std::atomic<uint64_t> head;  // next position a producer claims
    alignas(64) std::atomic<uint64_t> tail;  // next position the (one) consumer reads; all before it are free
    alignas(64) std::atomic<uint32_t> bell;  // futex word: bumped to wake sleepers
    std::atomic<uint32_t> sleepers;
    std::atomic<uint64_t> full_drops;        // frames refused because the ring was full
    std::atomic<uint64_t> bad_frames;        // slots with an impossible length, skipped
    alignas(64) Slot slots[kSlots];
};

struct PortInfo {
    std::atomic<uint32_t> used;
    uint32_t pid;
    uint32_t addr;  // the host's address, for `usnet switch` listings
    uint8_t mac[6];
    uint8_t pad[2];
};

struct Header {
    uint64_t magic;
    uint32_t version;
    uint32_t via_switch;  // 1: every frame goes to port 0 (faults, delay or capture are on)
    uint32_t mac_id;      // bytes 3-4 of the ports' MACs: 0, or unique when bridged (uplinks)
    PortInfo ports[kMaxPorts];
};

struct Region {
    Header hdr;
    alignas(64) Ring rings[kMaxPorts];
};

// Futex wait and wake. shared: the word is in memory mapped by several processes (the
// rings); otherwise the cheaper process-private kind. The wait returns whether a signal
// handler ran in this thread meanwhile (the wait then ends early). cancel_point: the wait
// is where a blocked call sleeps, which pthread_cancel may end (see CancelPoint).
bool futex_wait(std::atomic<uint32_t>* w, uint32_t seen, Time timeout, bool shared, bool cancel_point = false);

// A blocked socket call is a cancellation point, as Linux's recv and poll are: glibc lets
// pthread_cancel in asynchronously for the length of the system call (LIBC_CANCEL_ASYNC),
// and so does this around a sleep's system call. The thread then unwinds from there, so
// whatever the sleeper changed before it (a sleeper counted, a lock let go) must be put
// back by destructors.
// Counts a sleeper out as it leaves its sleep, also as a cancelled thread unwinds from it.
template <class T>
struct SleeperOut {
    std::atomic<T>* count;  // null: nothing was counted
    ~SleeperOut() {
        if (count) count->fetch_sub(1, std::memory_order_relaxed);
    }
};

// Make the sleep's system call through this: glibc declares syscall() as never throwing,
// and a frame whose call GCC then believes cannot throw has no unwind entry for it, so a
// cancellation unwinding from the sleep would end in std::terminate. A call through a
// pointer may throw, as far as GCC knows.
extern long (*volatile blocking_syscall)(long, ...);
class CancelPoint {
public:
    CancelPoint();
    ~CancelPoint();
    CancelPoint(const CancelPoint&) = delete;
    CancelPoint& operator=(const CancelPoint&) = delete;

private:
    int old_;
};
// A relative timeout for futex and ppoll in *ts; null (no limit) for kNever.
timespec* relative_timeout(Time timeout, timespec* ts);
void futex_wake(std::atomic<uint32_t>* w, bool shared);

// A spin-wait hint, between two looks at a ring (it leaves the core's other thread, and
// the line the sender writes, alone for a moment).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// A port's MAC: 02:75:6e:II:II:PP ("un" for usnet; II the switch's mac_id, so that hosts of
// switches bridged together differ). Any other unicast MAC is behind port 0.
Mac port_mac(uint32_t port, uint32_t mac_id = 0);
uint32_t port_of_mac(const Mac& m, uint32_t mac_id = 0);

// A mapped fabric.
class Fabric {
public:
    Fabric() = default;
    ~Fabric();
    Fabric(const Fabric&) = delete;
    Fabric& operator=(const Fabric&) = delete;

    // The switch: a new zeroed memfd with every ring empty. Returns the memfd or -1.
    int create();
    // A host: map the memfd the switch sent. False if it is not a fabric.
    bool map(int memfd);
    Region* region() const { return r_; }

    // Empties port p's ring for a new owner (switch only). Positions only grow, so that
    // what producers remember of the tail stays a lower bound.
    void reset_ring(uint32_t p);
    // Copies a frame into port `to`'s ring; false if the ring is full or the port unused.
    bool push(uint32_t to, uint32_t from, const uint8_t* frame, uint32_t len, uint16_t flags = 0);
    // A frame from `from` to the ports its destination MAC names (direct path), or to port 0,
    // given as its headers (hdr, at least the Ethernet header) and a payload in pieces (a
    // program's buffers, or none), copied straight into the destination's slot: a datagram
    // between two programs crosses this one copy. Returns how many rings refused it.
    // csum_start: nonzero when the frame's UDP checksum (at that offset + 6) is partial; it
    // stays so only for one host on the direct path, and is finished in the frame first for
    // the switch, a flood or an uplink beyond it.
    uint32_t send(uint32_t from, const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload, uint32_t plen,
                  uint32_t csum_start = 0);
    uint32_t send(uint32_t from, const uint8_t* frame, uint32_t len, uint32_t csum_start = 0) {
        return send(from, frame, len, {}, 0, csum_start);
    }
    // Calls f(from, data, len, flags) for up to max waiting frames of port p; returns the count.
    template <class F>
    uint32_t drain(uint32_t p, F&& f, uint32_t max = 64) {
        Ring& ring = r_->rings[p];
        uint32_t n = 0;
        for (; n < max; ++n) {
            uint64_t pos;
            uint32_t len;
            uint16_t flags;
            Slot* s = first(ring, &pos, &len, &flags);
            if (!s) break;
            if (len <= kMaxFrame) f(uint32_t(s->from), s->data, len, flags);
            else ring.bad_frames.fetch_add(1, std::memory_order_relaxed);
            ring.tail.store(pos + 1, std::memory_order_release);  // the slot is free once read
        }
        return n;
    }
    // Offers port p's first waiting frame to f(data, len, flags), which reads it where it
    // lies; the slot is freed only if f returns true (took it). False when nothing waits.
    template <class F>
    bool take_first(uint32_t p, F&& f) {
        Ring& ring = r_->rings[p];
        uint64_t pos;
        uint32_t len;
        uint16_t flags;
        Slot* s = first(ring, &pos, &len, &flags);
        if (!s || len > kMaxFrame || !f(static_cast<const uint8_t*>(s->data), len, flags))
            return false;  // (drain counts a bad slot)
        ring.tail.store(pos + 1, std::memory_order_release);
        return true;
    }
    bool pending(uint32_t p) const {
        const Ring& ring = r_->rings[p];
        const uint64_t pos = ring.tail.load(std::memory_order_relaxed);
        const Slot& s = ring.slots[pos % kSlots];
        if (s.seq.load(std::memory_order_acquire) == pos + 1) return true;
        // Nothing yet: a look at the slot's second line too, so that a reader polling for the
        // next frame asks for both of its lines at once, not for the second only once the
        // first has shown the frame (a hit while nothing changes; a sender's write takes the
        // line back, as it must anyway). About 85 ns of a 0.95 us spinning round trip with
        // the CPUs far apart.
        __builtin_prefetch(reinterpret_cast<const char*>(&s) + 64);
        return false;
    }
    // Sleeps until port p's ring has a frame, its bell rings, or `timeout` ns pass (kNever:
    // no limit). Returns at once if a frame is already waiting. Returns whether a signal
    // handler ran in this thread meanwhile (the wait then ends early). The sleep is a
    // cancellation point.
    bool wait(uint32_t p, Time timeout);
    // wait() in two steps, for a caller that lets signals in only between them: arm
    // announces a sleeper and returns the bell's value; sleep waits unless it has moved.
    uint32_t arm(uint32_t p);
    bool sleep(uint32_t p, uint32_t seen, Time timeout);
    std::atomic<uint32_t>* bell(uint32_t p);
    // Wakes whoever sleeps on port p (costs a syscall only if someone does). fence: order
    // this thread's writes (a frame) before the look at the sleepers; without it, only for a
    // ringer that synchronises with the sleepers otherwise (a lock both hold).
    void ring_bell(uint32_t p, bool fence = true);

private:
    // The frame waiting first in a ring (null: none yet), its position, and its length and
    // flags from the slot's length word, read once: every attached process can write the
    // ring, so a length in it is never trusted (the caller checks it against kMaxFrame).
    static Slot* first(Ring& ring, uint64_t* pos, uint32_t* len, uint16_t* flags) {
        *pos = ring.tail.load(std::memory_order_relaxed);
        Slot& s = ring.slots[*pos % kSlots];
        if (s.seq.load(std::memory_order_acquire) != *pos + 1) return nullptr;
        const uint32_t word = s.len;
        *len = word & ((1u << kSlotFlagShift) - 1);
        *flags = uint16_t(word >> kSlotFlagShift);
        // The frame's next lines now, not when the payload is copied: each comes from the
        // sender's core, and would otherwise start to move only after the headers are read.
        // (A spinning reader of a 64-byte datagram gains about a tenth of its round trip when
        // its core is far from the sender's.)
        const char* line = reinterpret_cast<const char*>(&s);
        for (uint32_t off = 64; off < kPrefetchBytes && off < 16 + *len; off += 64) __builtin_prefetch(line + off);
        return &s;
    }
    // A slot of port `to`'s ring for a frame of len bytes (its position in *pos), or null:
    // the ring is full (counted) or the port unused. publish() hands it to the reader.
    Slot* claim(uint32_t to, uint32_t len, uint64_t* pos);
    void publish(uint32_t to, uint32_t from, Slot* s, uint64_t pos, uint32_t len, uint16_t flags);
    // The port a frame's destination MAC names (0: the switch), and whether it floods.
    uint32_t destination(const uint8_t* frame, bool* flood) const;
    static void gather(uint8_t* out, const uint8_t* hdr, uint32_t hlen, std::span<const iovec> payload);

    Region* r_ = nullptr;
    // Each ring's tail as this process last read it: a lower bound, as tails only grow.
    // (Atomic: a switch's uplink readers push from their own threads.)
    std::atomic<uint64_t> tail_seen_[kMaxPorts] = {};
};

// The control connection (a Unix stream socket): a host says hello, the switch answers
// with its port, MAC and the fabric's memfd (SCM_RIGHTS), and frees the port when the
// connection closes.
struct Hello {
    uint64_t magic = kMagic;
    uint32_t version = kVersion;
    uint32_t pid = 0;
    uint32_t addr = 0;
    uint32_t mtu = 1500;
};
struct Welcome {
    uint64_t magic = kMagic;
    int32_t port = -1;  // -1: refused, see error
    uint8_t mac[6] = {};
    char error[82] = {};
};

// One message for sendmsg, carrying a descriptor (SCM_RIGHTS) when fd >= 0.
struct FdMessage {
    iovec iov;
    msghdr m{};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
    FdMessage(const void* msg, size_t len, int fd);
    FdMessage(const FdMessage&) = delete;  // (m points into it)
};
bool send_with_fd(int sock, const void* msg, size_t len, int fd);
// Receives exactly len bytes; *fd gets a passed descriptor or -1.
bool recv_with_fd(int sock, void* msg, size_t len, int* fd);

}  // namespace usnet::link::shm
