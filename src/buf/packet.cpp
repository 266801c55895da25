#include "buf/packet.hpp"

#include <cstdlib>
#include <new>

namespace usnet::buf {

namespace {
// Each packet lives at the front of its own slot: [Packet header][bytes...].
constexpr uint32_t kSlotHeader = (sizeof(Packet) + 63) & ~63u;
constexpr uint32_t class_cap(int cls) { return cls == 0 ? Pool::kSmall : Pool::kLarge; }
}  // namespace

Pool::~Pool() {
    for (void* c : chunks_) std::free(c);
}

void Pool::grow(int cls, uint32_t count) {
    const uint32_t slot = kSlotHeader + class_cap(cls);
    auto* mem = static_cast<uint8_t*>(std::malloc(size_t(slot) * count));
    if (!mem) return;
    ++heap_allocs_;
    bytes_ += uint64_t(slot) * count;
    chunks_.push_back(mem);
    for (uint32_t i = 0; i < count; ++i) {
        Packet& p = *new (mem + size_t(i) * slot) Packet{};
        p.pool_ = this;
        p.buf_ = mem + size_t(i) * slot + kSlotHeader;
        p.cap_ = class_cap(cls);
        p.cls_ = uint8_t(cls);
        p.next = free_[cls];
        free_[cls] = &p;
    }
}

void Pool::reserve(uint32_t small, uint32_t large) {
    if (small) grow(0, small);
    if (large) grow(1, large);
}

PacketPtr Pool::alloc(uint32_t len, uint32_t headroom) {
    const uint64_t need = uint64_t(len) + headroom;
    int cls;
    if (need <= kSmall) cls = 0;
    else if (need <= kLarge) cls = 1;
    else return {};
    if (!free_[cls]) grow(cls, cls == 0 ? 256 : 16);
    Packet* p = free_[cls];
    if (!p) return {};
    free_[cls] = p->next;
    p->next = nullptr;
    p->reset(headroom);
    ++in_use_;
    return PacketPtr(p);
}

}  // namespace usnet::buf
