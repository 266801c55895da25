// Classic BPF for the seccomp filters: the system-call trap's (trap.cpp), its per-descriptor
// ones, and the static-program supervisor's (supervise.cpp).
#pragma once

#include "native.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace usnet::shim {

// A small assembler for classic BPF: forward jumps to labels, resolved at the end.
class Bpf {
public:
    int label() {
        at_.push_back(-1);
        return int(at_.size()) - 1;
    }
    void bind(int l) { at_[size_t(l)] = int(code_.size()); }
    void ld(uint32_t off) { code_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off)); }
    void ret(uint32_t v) { code_.push_back(BPF_STMT(BPF_RET | BPF_K, v)); }
    void ja(int l) {
        fix_.push_back({code_.size(), l, -1, true});
        code_.push_back(BPF_STMT(BPF_JMP | BPF_JA, 0));
    }
    // Conditional jump: -1 means the next instruction.
    void jmp(uint16_t op, uint32_t k, int jt, int jf) {
        fix_.push_back({code_.size(), jt, jf, false});
        code_.push_back(BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0));
    }
    // Raw conditional jump with offsets in instructions.
    void jraw(uint16_t op, uint32_t k, uint8_t jt, uint8_t jf) { code_.push_back(BPF_JUMP(BPF_JMP | op | BPF_K, k, jt, jf)); }
    bool finish(std::vector<sock_filter>* out) {
        for (const Fix& f : fix_) {
            auto off = [&](int l, long* o) {
                if (l < 0) return *o = 0, true;
                *o = long(at_[size_t(l)]) - long(f.pc) - 1;
                return at_[size_t(l)] >= 0 && *o >= 0;
            };
            long t = 0, e = 0;
            if (!off(f.jt, &t) || !off(f.jf, &e)) return false;
            if (f.always) {
                code_[f.pc].k = uint32_t(t);
            } else {
                if (t > 255 || e > 255) return false;
                code_[f.pc].jt = uint8_t(t);
                code_[f.pc].jf = uint8_t(e);
            }
        }
        *out = code_;
        return code_.size() < BPF_MAXINSNS;
    }

private:
    struct Fix {
        size_t pc;
        int jt, jf;
        bool always;
    };
    std::vector<sock_filter> code_;
    std::vector<int> at_;
    std::vector<Fix> fix_;
};

inline constexpr uint32_t kOffNr = offsetof(seccomp_data, nr);
inline constexpr uint32_t kOffArch = offsetof(seccomp_data, arch);
inline constexpr uint32_t kOffIpLo = offsetof(seccomp_data, instruction_pointer);
inline constexpr uint32_t kOffIpHi = offsetof(seccomp_data, instruction_pointer) + 4;

struct Range {
    uintptr_t lo, hi;  // [lo, hi)
};

// Splits at 4 GiB boundaries: the filter compares the two halves of an address apart.
inline void add_range(std::vector<Range>& v, uintptr_t lo, uintptr_t hi) {
    while (lo < hi) {
        const uintptr_t end = std::min<uintptr_t>(hi, (lo | 0xffffffffull) + 1);
        if (!v.empty() && v.back().hi == lo && (v.back().lo >> 32) == (lo >> 32)) v.back().hi = end;
        else v.push_back({lo, end});
        lo = end;
    }
}

// A binary search of the low halves v[lo, hi) (the high half already matched): returns trap on
// one of them, else jumps to miss. About 1.3 instructions a site (also once the kernel has
// made them eBPF, which it counts: 32K in all for a process's filters). Conditional jumps
// stay short; an `ja` goes far.
inline void emit_search(Bpf& b, const std::vector<uint32_t>& v, size_t lo, size_t hi, int miss, uint32_t trap) {
    constexpr size_t kLeaf = 16;
    if (hi - lo <= kLeaf) {
        for (size_t i = lo; i < hi; ++i) b.jraw(BPF_JEQ, v[i], uint8_t(hi - i), 0);  // to the ret
        b.ja(miss);
        b.ret(trap);
        return;
    }
    const size_t mid = lo + (hi - lo) / 2;
    const int right = b.label();
    b.jraw(BPF_JGE, v[mid], 0, 1);
    b.ja(right);
    emit_search(b, v, lo, mid, miss, trap);
    b.bind(right);
    emit_search(b, v, mid, hi, miss, trap);
}

// Returns trap when the instruction pointer is one of the sites (sorted) or lies in one of
// the spans (each within a 4 GiB line: add_range); else jumps to miss, or allows (-1).
inline void emit_sites(Bpf& b, const std::vector<uintptr_t>& sites, const std::vector<Range>& spans, uint32_t trap,
                       int miss = -1) {
    for (const Range& r : spans) {  // six instructions a span, every jump local
        b.ld(kOffIpHi);
        b.jraw(BPF_JEQ, uint32_t(r.lo >> 32), 0, 4);
        b.ld(kOffIpLo);
        b.jraw(BPF_JGE, uint32_t(r.lo), 0, 2);
        b.jraw(BPF_JGT, uint32_t(r.hi - 1), 1, 0);
        b.ret(trap);
    }
    for (size_t i = 0; i < sites.size();) {  // by their high half
        size_t j = i;
        std::vector<uint32_t> low;
        for (; j < sites.size() && (sites[j] >> 32) == (sites[i] >> 32); ++j)
            if (low.empty() || low.back() != uint32_t(sites[j])) low.push_back(uint32_t(sites[j]));
        const int next = b.label();
        b.ld(kOffIpHi);
        b.jraw(BPF_JEQ, uint32_t(sites[i] >> 32), 1, 0);
        b.ja(next);
        b.ld(kOffIpLo);
        emit_search(b, low, 0, low.size(), next, trap);
        b.bind(next);
        i = j;
    }
    if (miss >= 0) b.ja(miss);
    else b.ret(SECCOMP_RET_ALLOW);
}

#if defined(__x86_64__)
// Each `0f 05` (syscall) and `cd 80` (int 0x80) in p[0, n), by its offset; 16 bytes a step
// (a byte at a time took over a millisecond of every program's start for bash's 3 MB of
// code). A pair inside a longer instruction is a site never used.
template <class F>
void for_each_syscall_site(const unsigned char* p, size_t n, F f) {
    const __m128i k0f = _mm_set1_epi8(0x0f), k05 = _mm_set1_epi8(0x05), kcd = _mm_set1_epi8(char(0xcd)),
                  k80 = _mm_set1_epi8(char(0x80));
    size_t i = 0;
    for (; i + 17 <= n; i += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1));
        const __m128i m = _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(x, k0f), _mm_cmpeq_epi8(y, k05)),
                                       _mm_and_si128(_mm_cmpeq_epi8(x, kcd), _mm_cmpeq_epi8(y, k80)));
        for (unsigned bits = unsigned(_mm_movemask_epi8(m)); bits; bits &= bits - 1) f(i + size_t(__builtin_ctz(bits)));
    }
    for (; i + 1 < n; ++i)
        if ((p[i] == 0x0f && p[i + 1] == 0x05) || (p[i] == 0xcd && p[i + 1] == 0x80)) f(i);
}
#endif

// Installs a filter on the calling thread (flags: SECCOMP_FILTER_FLAG_*): 0, the listener
// with NEW_LISTENER, or -errno.
inline long seccomp_install(std::vector<sock_filter>& code, unsigned long flags) {
    sock_fprog prog{uint16_t(code.size()), code.data()};
    long r = usnet_gate(SYS_seccomp, SECCOMP_SET_MODE_FILTER, long(flags), long(&prog));
    if (r == -EACCES) {  // without CAP_SYS_ADMIN a filter needs no_new_privs
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        r = usnet_gate(SYS_seccomp, SECCOMP_SET_MODE_FILTER, long(flags), long(&prog));
    }
    return r;
}

}  // namespace usnet::shim
