// A byte buffer whose last byte sits right before an inaccessible page, so a parser that
// reads even one byte past the span it was given faults at once (no sanitizer needed).
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

namespace usnet::test {

class GuardedBuffer {
public:
    explicit GuardedBuffer(size_t max_len) {
        page_ = size_t(::sysconf(_SC_PAGESIZE));
        data_pages_ = (max_len + page_ - 1) / page_ + 1;
        map_len_ = (data_pages_ + 1) * page_;
        void* m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) std::abort();
        base_ = static_cast<uint8_t*>(m);
        if (::mprotect(base_ + data_pages_ * page_, page_, PROT_NONE) != 0) std::abort();
    }
    ~GuardedBuffer() { ::munmap(base_, map_len_); }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;

    // Copies n bytes so that they end exactly at the guard page; returns the span.
    std::span<const uint8_t> place(const uint8_t* p, size_t n) {
        uint8_t* end = base_ + data_pages_ * page_;
        uint8_t* start = end - n;
        if (n) std::memcpy(start, p, n);
        return {start, n};
    }

private:
    size_t page_ = 0, data_pages_ = 0, map_len_ = 0;
    uint8_t* base_ = nullptr;
};

}  // namespace usnet::test
