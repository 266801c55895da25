// Packet buffers: headroom arithmetic, the pool's size classes and reuse, the intrusive
// FIFO, and the promise that a warmed stack moves datagrams without touching the heap.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "buf/packet.hpp"
#include "core/stack_impl.hpp"
#include "usnet/sim.hpp"

// ---- allocation counting for this test binary ----
// Every global operator new is replaced; malloc/calloc/realloc are interposed as well (glibc
// only, and not under a sanitizer, which interposes them itself), so a heap allocation in
// the measured loop is seen whichever way it is made.
namespace {
std::atomic<uint64_t> g_news{0};
std::atomic<uint64_t> g_mallocs{0};
}  // namespace

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define USNET_NO_MALLOC_HOOK 1
#endif
#endif
#ifndef USNET_NO_MALLOC_HOOK
#define USNET_COUNT_MALLOC 1
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
void* malloc(size_t n) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) noexcept {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
}
#endif
#endif

namespace {
void* counted_new(size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    if (void* p = std::malloc(n)) return p;
    throw std::bad_alloc();
}
void* counted_new_aligned(size_t n, std::align_val_t al) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    const size_t a = std::max(size_t(al), sizeof(void*));
    void* p = nullptr;
    if (posix_memalign(&p, a, n ? n : 1) != 0) throw std::bad_alloc();
    return p;
}
}  // namespace

void* operator new(size_t n) { return counted_new(n); }
void* operator new[](size_t n) { return counted_new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
    try { return counted_new(n); } catch (...) { return nullptr; }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
    try { return counted_new(n); } catch (...) { return nullptr; }
}
void* operator new(size_t n, std::align_val_t a) { return counted_new_aligned(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return counted_new_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

using namespace usnet;
using namespace usnet::buf;

namespace {

uint64_t heap_events() { return g_news.load() + g_mallocs.load(); }

TEST(AllocCounter, SeesAllocations) {
    // The counters themselves work (otherwise the zero-allocation test proves nothing).
    // Stored through volatile globals so the compiler cannot elide the new/delete pair.
    static int* volatile sink;
    const uint64_t n0 = g_news.load();
    sink = new int(5);
    EXPECT_EQ(g_news.load(), n0 + 1);
    delete sink;
#ifdef USNET_COUNT_MALLOC
    static void* volatile raw;
    const uint64_t m0 = g_mallocs.load();
    raw = std::malloc(100);
    EXPECT_GT(g_mallocs.load(), m0);
    std::free(raw);
#endif
}

TEST(Packet, PushPullPutTrim) {
    Pool pool;
    auto p = pool.alloc(100);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->headroom(), kHeadroom);
    EXPECT_EQ(p->size(), 0u);
    EXPECT_GE(p->tailroom(), 100u);
    EXPECT_EQ(p->capacity(), Pool::kSmall);

    uint8_t* body = p->put(10);
    std::memcpy(body, "0123456789", 10);
    EXPECT_EQ(p->size(), 10u);
    EXPECT_EQ(p->data(), body);

    uint8_t* hdr = p->push(4);
    EXPECT_EQ(hdr + 4, body);
    EXPECT_EQ(p->headroom(), kHeadroom - 4);
    EXPECT_EQ(p->size(), 14u);
    std::memcpy(hdr, "HDR:", 4);
    EXPECT_EQ(std::memcmp(p->data(), "HDR:0123456789", 14), 0);

    p->pull(4);
    EXPECT_EQ(p->data(), body);
    EXPECT_EQ(p->size(), 10u);
    const uint32_t head = p->head_offset();

    p->trim(4);
    EXPECT_EQ(p->size(), 4u);
    EXPECT_EQ(std::memcmp(p->data(), "0123", 4), 0);
    p->trim(100);  // trimming to more than the size changes nothing
    EXPECT_EQ(p->size(), 4u);

    p->pull(2);
    p->set_head(head);  // back to an earlier offset, as ICMP quoting does
    EXPECT_EQ(p->size(), 4u);
    EXPECT_EQ(std::memcmp(p->data(), "0123", 4), 0);

    EXPECT_EQ(p->bytes().size(), 4u);
    EXPECT_EQ(p->base() + p->head_offset(), p->data());

    p->meta.sport = 99;
    p->reset(kHeadroom);
    EXPECT_EQ(p->size(), 0u);
    EXPECT_EQ(p->meta.sport, 0);
    EXPECT_EQ(p->headroom(), kHeadroom);
}

TEST(Packet, FullHeadroomAndTailroomUsable) {
    Pool pool;
    auto p = pool.alloc(Pool::kSmall - kHeadroom);
    ASSERT_TRUE(p);
    // Fill everything: the whole buffer is writable.
    std::memset(p->put(p->tailroom()), 0xab, Pool::kSmall - kHeadroom);
    std::memset(p->push(kHeadroom), 0xcd, kHeadroom);
    EXPECT_EQ(p->size(), Pool::kSmall);
    EXPECT_EQ(p->headroom(), 0u);
    EXPECT_EQ(p->tailroom(), 0u);
    EXPECT_EQ(p->data()[0], 0xcd);
    EXPECT_EQ(p->data()[Pool::kSmall - 1], 0xab);
}

TEST(Pool, SizeClasses) {
    Pool pool;
    auto small = pool.alloc(Pool::kSmall - kHeadroom);
    ASSERT_TRUE(small);
    EXPECT_EQ(small->capacity(), Pool::kSmall);
    auto large = pool.alloc(Pool::kSmall - kHeadroom + 1);
    ASSERT_TRUE(large);
    EXPECT_EQ(large->capacity(), Pool::kLarge);
    auto max = pool.alloc(65536 + kHeadroom);
    ASSERT_TRUE(max);
    EXPECT_EQ(max->capacity(), Pool::kLarge);
    EXPECT_FALSE(pool.alloc(Pool::kLarge - kHeadroom + 1));  // nothing that big
    auto nohead = pool.alloc(Pool::kSmall, 0);
    ASSERT_TRUE(nohead);
    EXPECT_EQ(nohead->capacity(), Pool::kSmall);
    EXPECT_EQ(nohead->headroom(), 0u);
    EXPECT_EQ(owner_of(small.get()), &pool);
    EXPECT_EQ(owner_of(large.get()), &pool);
    EXPECT_EQ(pool.in_use(), 4u);
}

TEST(Pool, ReusesFreedPacketsWithoutHeap) {
    Pool pool;
    pool.reserve(4, 2);
    const uint64_t chunks = pool.heap_allocations();
    EXPECT_EQ(chunks, 2u);
    Packet* first;
    {
        auto p = pool.alloc(10);
        first = p.get();
        p->put(10)[0] = 1;
        p->meta.dport = 7;
        EXPECT_EQ(pool.in_use(), 1u);
    }
    EXPECT_EQ(pool.in_use(), 0u);
    auto again = pool.alloc(20);
    EXPECT_EQ(again.get(), first);          // the free list hands back the packet just freed
    EXPECT_EQ(again->size(), 0u);           // reset on reuse
    EXPECT_EQ(again->meta.dport, 0);
    again.reset();
    // Cycling far more packets than the reserve through the pool never grows it.
    for (int i = 0; i < 10000; ++i) {
        auto a = pool.alloc(100);
        auto b = pool.alloc(3000);
        ASSERT_TRUE(a && b);
    }
    EXPECT_EQ(pool.heap_allocations(), chunks);
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST(Pool, GrowsWhenExhausted) {
    Pool pool;
    pool.reserve(2, 0);
    std::vector<PacketPtr> held;
    for (int i = 0; i < 3; ++i) held.push_back(pool.alloc(10));
    EXPECT_EQ(pool.heap_allocations(), 2u);  // reserve + one growth
    EXPECT_EQ(pool.in_use(), 3u);
    for (auto& p : held) ASSERT_TRUE(p);
    // Distinct buffers.
    EXPECT_NE(held[0]->base(), held[1]->base());
    EXPECT_NE(held[1]->base(), held[2]->base());
    held.clear();
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST(PacketPtr, MoveAndRelease) {
    Pool pool;
    auto a = pool.alloc(1);
    Packet* raw = a.get();
    PacketPtr b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw);
    PacketPtr c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_EQ(pool.in_use(), 1u);
    Packet* r = c.release();
    EXPECT_FALSE(c);
    EXPECT_EQ(pool.in_use(), 1u);  // released, not freed
    PacketPtr back(r);
    back.reset();
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST(Queue, Fifo) {
    Pool pool;
    Queue q;
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.pop());
    EXPECT_EQ(q.front(), nullptr);
    for (int i = 0; i < 5; ++i) {
        auto p = pool.alloc(4);
        p->put(1)[0] = uint8_t(i);
        q.push(std::move(p));
    }
    EXPECT_EQ(q.size(), 5u);
    EXPECT_EQ(q.front()->data()[0], 0);
    int seen = 0;
    q.for_each([&](const Packet& p) { EXPECT_EQ(p.data()[0], seen++); });
    EXPECT_EQ(seen, 5);
    for (int i = 0; i < 3; ++i) {
        auto p = q.pop();
        ASSERT_TRUE(p);
        EXPECT_EQ(p->data()[0], i);
        EXPECT_EQ(p->next, nullptr);
    }
    // Interleave: push after partial drain keeps order.
    auto p = pool.alloc(4);
    p->put(1)[0] = 5;
    q.push(std::move(p));
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.pop()->data()[0], 3);
    EXPECT_EQ(q.pop()->data()[0], 4);
    EXPECT_EQ(q.pop()->data()[0], 5);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.size(), 0u);
    // Empty again, then reusable.
    q.push(pool.alloc(1));
    EXPECT_EQ(q.size(), 1u);
    q.clear();
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST(Queue, MoveAndDestructionReturnPackets) {
    Pool pool;
    {
        Queue a;
        for (int i = 0; i < 3; ++i) a.push(pool.alloc(1));
        Queue b(std::move(a));
        EXPECT_TRUE(a.empty());
        EXPECT_EQ(a.size(), 0u);
        EXPECT_EQ(b.size(), 3u);
        Queue c;
        c.push(pool.alloc(1));
        c = std::move(b);  // c's own packet is freed, b's taken over
        EXPECT_EQ(c.size(), 3u);
        EXPECT_EQ(pool.in_use(), 3u);
    }
    EXPECT_EQ(pool.in_use(), 0u);
}

sockaddr_in lo_addr(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// The central promise of the buffer design: once warm, sending and receiving datagrams
// through the whole stack (socket, UDP, IP, loopback, and back) allocates nothing.
TEST(ZeroAllocation, WarmStackSendRecv100k) {
    sim::DefaultWorld w = sim::make_default_world(3);
    Stack& h = *w.host;
    const int rx = h.socket(AF_INET, SOCK_DGRAM, 0);
    const int tx = h.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx, 0);
    ASSERT_GE(tx, 0);
    const sockaddr_in ra = lo_addr(9000), ta = lo_addr(9001);
    ASSERT_EQ(h.bind(rx, reinterpret_cast<const sockaddr*>(&ra), sizeof ra), 0);
    ASSERT_EQ(h.bind(tx, reinterpret_cast<const sockaddr*>(&ta), sizeof ta), 0);

    char out[256], in[256];
    for (size_t i = 0; i < sizeof out; ++i) out[i] = char(i);
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    auto once = [&](size_t len) -> bool {
        if (h.sendto(tx, out, len, 0, reinterpret_cast<const sockaddr*>(&ra), sizeof ra) != ssize_t(len)) return false;
        fl = sizeof from;
        if (h.recvfrom(rx, in, sizeof in, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fl) != ssize_t(len))
            return false;
        return in[len - 1] == out[len - 1] && from.sin_port == ta.sin_port;
    };
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(once(1 + size_t(i) % sizeof out));

    const uint64_t pool_allocs = h.impl().pool.heap_allocations();
    const uint64_t in_use = h.impl().pool.in_use();
    const uint64_t before = heap_events();
    const uint64_t news_before = g_news.load();
    int failures = 0;
    for (int i = 0; i < 100000; ++i)
        if (!once(1 + size_t(i) % sizeof out)) ++failures;
    const uint64_t after = heap_events();
    const uint64_t news_after = g_news.load();

    EXPECT_EQ(failures, 0);
    EXPECT_EQ(news_after - news_before, 0u) << "operator new called in the steady state";
    EXPECT_EQ(after - before, 0u) << "heap allocations in the steady state";
    EXPECT_EQ(h.impl().pool.heap_allocations(), pool_allocs);
    EXPECT_EQ(h.impl().pool.in_use(), in_use);
    EXPECT_EQ(h.counters().udp.InDatagrams, 101000u);
    EXPECT_EQ(h.counters().udp.OutDatagrams, 101000u);
    EXPECT_EQ(h.counters().udp.RcvbufErrors, 0u);
}

// The same through a connected pair using send/recv (the cached-route path).
TEST(ZeroAllocation, ConnectedSendRecv) {
    sim::DefaultWorld w = sim::make_default_world(4);
    Stack& h = *w.host;
    const int a = h.socket(AF_INET, SOCK_DGRAM, 0);
    const int b = h.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in aa = lo_addr(9100), ba = lo_addr(9101);
    ASSERT_EQ(h.bind(a, reinterpret_cast<const sockaddr*>(&aa), sizeof aa), 0);
    ASSERT_EQ(h.bind(b, reinterpret_cast<const sockaddr*>(&ba), sizeof ba), 0);
    ASSERT_EQ(h.connect(a, reinterpret_cast<const sockaddr*>(&ba), sizeof ba), 0);
    ASSERT_EQ(h.connect(b, reinterpret_cast<const sockaddr*>(&aa), sizeof aa), 0);
    char buf[64] = "ping";
    auto once = [&]() {
        return h.send(a, buf, 32, 0) == 32 && h.recv(b, buf, sizeof buf, MSG_DONTWAIT) == 32 &&
               h.send(b, buf, 16, 0) == 16 && h.recv(a, buf, sizeof buf, MSG_DONTWAIT) == 16;
    };
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(once());
    const uint64_t pool_allocs = h.impl().pool.heap_allocations();
    const uint64_t before = heap_events();
    int failures = 0;
    for (int i = 0; i < 20000; ++i)
        if (!once()) ++failures;
    const uint64_t after = heap_events();
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(after - before, 0u);
    EXPECT_EQ(h.impl().pool.heap_allocations(), pool_allocs);
}

}  // namespace
