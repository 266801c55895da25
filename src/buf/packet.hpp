// Packet buffers: one contiguous buffer with headroom so each layer can prepend its
// header in place (no copy on the way down) and strip it in place (no copy on the way up).
// Buffers come from a pool of fixed size classes; after warm-up no datagram allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "usnet/types.hpp"

namespace usnet::buf {

// Room reserved in front of the payload: Ethernet(14) + IPv4 with options(60) + UDP(8) + slack.
constexpr uint32_t kHeadroom = 128;

// Metadata that travels with a packet up the stack (filled in by each layer on receive).
struct Meta {
    int ifindex = 0;        // receiving (or sending) interface
    Ip4 src, dst;           // IPv4 addresses of the datagram
    uint16_t sport = 0, dport = 0;  // UDP ports (host order) once parsed
    uint8_t ttl = 0, tos = 0;
    uint8_t route_flags = 0;  // RouteFlags of the input route (broadcast / multicast / local)
    uint16_t ip_id = 0;
    uint32_t truesize = 0;  // what the datagram charges against a receive buffer (Linux skb->truesize)
    uint32_t l3_off = 0;    // offset of the IPv4 header from the buffer start, kept for ICMP quoting
    Mac src_mac;
    uint32_t drops = 0;     // the socket's drop count when this was queued (SO_RXQ_OVFL)
    Time tstamp = 0;        // CLOCK_REALTIME ns at enqueue, when the socket asked (skb->tstamp); 0: none
    int loop_dev = 0;       // a looped-back copy of a broadcast/multicast sent on this device
    int in_dev = 0;         // the device it really came in on (IPCB(skb)->iif: lo for local traffic)
    bool mc_copy = false;   // a copy dev_loopback_xmit looped back (skb->pkt_type PACKET_LOOPBACK)
    uint32_t mark = 0;      // skb->mark: the sender's SO_MARK, kept on traffic within the host
    bool csum_ok = false;   // checksum known good (came through loopback), like CHECKSUM_UNNECESSARY
    // The UDP checksum holds only the pseudo-header sum; the device finishes it
    // (CHECKSUM_PARTIAL, for a TAP with a virtio header).
    bool csum_partial = false;
    // Error-queue entries (IP_RECVERR): the sock_extended_err fields and the offender.
    int ee_errno = 0;
    uint8_t ee_origin = 0, ee_type = 0, ee_code = 0;
    uint32_t ee_info = 0;
    Ip4 offender;
};

class Pool;
class PacketPtr;

class Packet {
public:
    uint8_t* data() { return buf_ + head_; }
    const uint8_t* data() const { return buf_ + head_; }
    uint32_t size() const { return tail_ - head_; }
    uint32_t headroom() const { return head_; }
    uint32_t tailroom() const { return cap_ - tail_; }
    uint32_t capacity() const { return cap_; }
    std::span<uint8_t> bytes() { return {data(), size()}; }
    std::span<const uint8_t> bytes() const { return {data(), size()}; }
    uint8_t* base() { return buf_; }
    uint32_t head_offset() const { return head_; }

    // Prepend n bytes (a header); returns a pointer to them. Caller guarantees headroom.
    uint8_t* push(uint32_t n) { head_ -= n; return data(); }
    // Strip n bytes from the front.
    void pull(uint32_t n) { head_ += n; }
    // Append n bytes at the tail; returns a pointer to them.
    uint8_t* put(uint32_t n) { uint8_t* p = buf_ + tail_; tail_ += n; return p; }
    void trim(uint32_t len) { if (len < size()) tail_ = head_ + len; }
    void reset(uint32_t headroom) { head_ = tail_ = headroom; meta = Meta{}; }
    // Restore the front to an earlier head offset (e.g. back to the IP header for ICMP quoting).
    void set_head(uint32_t off) { head_ = off; }

    Meta meta;
    Packet* next = nullptr;  // intrusive link for queues

private:
    friend class Pool;
    friend class PacketPtr;
    friend Pool* owner_of(const Packet* p);
    Pool* pool_ = nullptr;  // the pool it returns to
    uint8_t* buf_ = nullptr;
    uint32_t cap_ = 0;
    uint32_t head_ = 0, tail_ = 0;
    uint8_t cls_ = 0;
};

// Headers written in front of one another, each layer pushing its own as on a Packet, for a
// payload that stays where it is (the datagram short cut: the program's buffers).
struct HeaderStack {
    static constexpr uint32_t kRoom = 64;
    uint8_t room[kRoom];
    uint32_t head = kRoom;
    uint8_t* push(uint32_t n) { return room + (head -= n); }
    const uint8_t* data() const { return room + head; }
    uint32_t size() const { return kRoom - head; }
};

// Owning handle; returns the packet to its pool on destruction.
class PacketPtr {
public:
    PacketPtr() = default;
    explicit PacketPtr(Packet* p) : p_(p) {}
    PacketPtr(PacketPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    PacketPtr& operator=(PacketPtr&& o) noexcept {
        if (this != &o) { reset(); p_ = std::exchange(o.p_, nullptr); }
        return *this;
    }
    ~PacketPtr() { reset(); }
    Packet* operator->() const { return p_; }
    Packet& operator*() const { return *p_; }
    Packet* get() const { return p_; }
    explicit operator bool() const { return p_ != nullptr; }
    Packet* release() { return std::exchange(p_, nullptr); }
    inline void reset();  // defined after Pool: inline, as every handle's destructor runs it

private:
    Packet* p_ = nullptr;
};

// Size classes: a small class for anything that fits one Ethernet frame, a large one for
// loopback-sized datagrams (lo mtu 65536) and reassembly.
class Pool {
public:
    static constexpr uint32_t kSmall = 2048;
    static constexpr uint32_t kLarge = 65536 + 2 * kHeadroom;

    Pool() = default;
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    ~Pool();

    // A packet whose capacity is at least headroom + len, with head at `headroom`.
    // Returns null only if memory is exhausted (the caller reports ENOBUFS).
    PacketPtr alloc(uint32_t len, uint32_t headroom = kHeadroom);
    void free(Packet* p) {
        p->next = free_[p->cls_];
        free_[p->cls_] = p;
        --in_use_;
    }

    // Pre-populate so that the first datagrams do not allocate either.
    void reserve(uint32_t small, uint32_t large);
    uint64_t heap_allocations() const { return heap_allocs_; }
    // Bytes the pool holds (it never gives memory back: the peak of what was in use).
    uint64_t bytes() const { return bytes_; }
    uint32_t in_use() const { return in_use_; }

private:
    void grow(int cls, uint32_t count);
    Packet* free_[2] = {nullptr, nullptr};
    std::vector<void*> chunks_;
    uint64_t heap_allocs_ = 0;
    uint64_t bytes_ = 0;
    uint32_t in_use_ = 0;
};

// The pool that owns a packet; set by the pool on allocation.
inline Pool* owner_of(const Packet* p) { return p->pool_; }

void PacketPtr::reset() {
    if (p_) {
        p_->pool_->free(p_);
        p_ = nullptr;
    }
}

// FIFO of packets linked through Packet::next; never allocates.
class Queue {
public:
    Queue() = default;
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    Queue(Queue&& o) noexcept : head_(o.head_), tail_(o.tail_), len_(o.len_) { o.head_ = o.tail_ = nullptr; o.len_ = 0; }
    Queue& operator=(Queue&& o) noexcept {
        if (this != &o) {
            clear();
            head_ = o.head_; tail_ = o.tail_; len_ = o.len_;
            o.head_ = o.tail_ = nullptr; o.len_ = 0;
        }
        return *this;
    }
    ~Queue() { clear(); }
    void push(PacketPtr p) {
        Packet* raw = p.release();
        raw->next = nullptr;
        if (tail_) tail_->next = raw; else head_ = raw;
        tail_ = raw;
        ++len_;
    }
    PacketPtr pop() {
        Packet* p = head_;
        if (!p) return {};
        head_ = p->next;
        if (!head_) tail_ = nullptr;
        p->next = nullptr;
        --len_;
        return PacketPtr(p);
    }
    Packet* front() const { return head_; }
    bool empty() const { return head_ == nullptr; }
    uint32_t size() const { return len_; }
    void clear() { while (head_) pop(); }
    template <class F> void for_each(F&& f) const { for (Packet* p = head_; p; p = p->next) f(*p); }

private:
    Packet* head_ = nullptr;
    Packet* tail_ = nullptr;
    uint32_t len_ = 0;
};

}  // namespace usnet::buf
