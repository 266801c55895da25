// The trap's filter code for "is the caller one of these addresses": a binary search over
// hundreds of sites in several 4 GiB regions, and spans. Run here by a small classic-BPF
// interpreter over seccomp_data, so every branch and far jump is checked without a kernel.
#include "preload/bpf.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>

namespace usnet::shim {
namespace {

constexpr uint32_t kTrap = SECCOMP_RET_TRAP | 0x1234;

// Classic BPF as seccomp runs it: loads of 32-bit words of seccomp_data, jumps, returns.
uint32_t run(const std::vector<sock_filter>& code, const seccomp_data& d) {
    uint32_t a = 0;
    for (size_t pc = 0; pc < code.size(); ++pc) {
        const sock_filter& f = code[pc];
        switch (f.code) {
            case BPF_LD | BPF_W | BPF_ABS: {
                EXPECT_EQ(f.k % 4, 0u);
                EXPECT_LE(f.k + 4, sizeof d);
                std::memcpy(&a, reinterpret_cast<const char*>(&d) + f.k, 4);
                break;
            }
            case BPF_RET | BPF_K: return f.k;
            case BPF_JMP | BPF_JA: pc += f.k; break;
            case BPF_JMP | BPF_JEQ | BPF_K: pc += a == f.k ? f.jt : f.jf; break;
            case BPF_JMP | BPF_JGE | BPF_K: pc += a >= f.k ? f.jt : f.jf; break;
            case BPF_JMP | BPF_JGT | BPF_K: pc += a > f.k ? f.jt : f.jf; break;
            default: ADD_FAILURE() << "opcode " << f.code; return 0;
        }
    }
    ADD_FAILURE() << "ran off the end";
    return 0;
}

uint32_t at(const std::vector<sock_filter>& code, uintptr_t ip) {
    seccomp_data d{};
    d.instruction_pointer = ip;
    return run(code, d);
}

std::vector<sock_filter> build(const std::vector<uintptr_t>& sites, const std::vector<Range>& spans) {
    Bpf b;
    emit_sites(b, sites, spans, kTrap);
    std::vector<sock_filter> code;
    EXPECT_TRUE(b.finish(&code));
    return code;
}

TEST(TrapSites, EverySiteTrapsAndNothingBesideIt) {
    std::mt19937_64 rng(7);
    // A libc's worth of sites in one region, a program's few in another, one in a third.
    std::set<uintptr_t> set;
    for (int i = 0; i < 600; ++i) set.insert(0x7f3a12000000ull + rng() % 0x160000);
    for (int i = 0; i < 40; ++i) set.insert(0x55d0a0400000ull + rng() % 0xc0000);
    set.insert(0x400123);
    const std::vector<uintptr_t> sites(set.begin(), set.end());
    const auto code = build(sites, {});
    // About 1.3 instructions a site: a process's filters may hold 32K in all, one an exec.
    EXPECT_LT(code.size(), sites.size() * 14 / 10 + 40);
    for (uintptr_t s : sites) {
        ASSERT_EQ(at(code, s), kTrap) << std::hex << s;
        if (!set.count(s + 1)) {
            ASSERT_EQ(at(code, s + 1), SECCOMP_RET_ALLOW) << std::hex << s + 1;
        }
        if (!set.count(s - 1)) {
            ASSERT_EQ(at(code, s - 1), SECCOMP_RET_ALLOW) << std::hex << s - 1;
        }
        // The same low half in another region, or one page away, is not a site.
        ASSERT_EQ(at(code, s + (1ull << 32)), SECCOMP_RET_ALLOW);
        if (!set.count(s + 4096)) {
            ASSERT_EQ(at(code, s + 4096), SECCOMP_RET_ALLOW);
        }
    }
    for (int i = 0; i < 20000; ++i) {
        const uintptr_t ip = 0x7f3a12000000ull + rng() % 0x200000;
        ASSERT_EQ(at(code, ip), set.count(ip) ? kTrap : SECCOMP_RET_ALLOW) << std::hex << ip;
    }
    EXPECT_EQ(at(code, 0), SECCOMP_RET_ALLOW);
    EXPECT_EQ(at(code, ~uintptr_t(0)), SECCOMP_RET_ALLOW);
}

TEST(TrapSites, SpansTrapInsideOnly) {
    std::vector<Range> spans;
    add_range(spans, 0x7ffff0000000ull, 0x800000010000ull);  // crosses a 4 GiB line: split
    add_range(spans, 0x401000, 0x402000);
    ASSERT_EQ(spans.size(), 3u);
    const auto code = build({0x500002}, spans);
    EXPECT_EQ(at(code, 0x7ffff0000000ull), kTrap);
    EXPECT_EQ(at(code, 0x7fffffffffffull), kTrap);
    EXPECT_EQ(at(code, 0x800000000000ull), kTrap);
    EXPECT_EQ(at(code, 0x80000000ffffull), kTrap);
    EXPECT_EQ(at(code, 0x800000010000ull), SECCOMP_RET_ALLOW);
    EXPECT_EQ(at(code, 0x7fffefffffffull), SECCOMP_RET_ALLOW);
    EXPECT_EQ(at(code, 0x401000), kTrap);
    EXPECT_EQ(at(code, 0x401fff), kTrap);
    EXPECT_EQ(at(code, 0x402000), SECCOMP_RET_ALLOW);
    EXPECT_EQ(at(code, 0x500002), kTrap);
    EXPECT_EQ(at(code, 0x500001), SECCOMP_RET_ALLOW);
}

// libc's sites, then on a miss the program's (the trap's "from anywhere" check).
TEST(TrapSites, AMissFallsThroughToTheNextSet) {
    Bpf b;
    const int next = b.label();
    std::vector<uintptr_t> libc, prog;
    for (uintptr_t i = 0; i < 100; ++i) libc.push_back(0x7f0000001000ull + 37 * i);
    for (uintptr_t i = 0; i < 30; ++i) prog.push_back(0x560000002000ull + 101 * i);
    emit_sites(b, libc, {}, kTrap, next);
    b.bind(next);
    emit_sites(b, prog, {}, kTrap);
    std::vector<sock_filter> code;
    ASSERT_TRUE(b.finish(&code));
    for (uintptr_t s : libc) EXPECT_EQ(at(code, s), kTrap);
    for (uintptr_t s : prog) EXPECT_EQ(at(code, s), kTrap);
    EXPECT_EQ(at(code, libc[5] + 1), SECCOMP_RET_ALLOW);
    EXPECT_EQ(at(code, prog[5] + 1), SECCOMP_RET_ALLOW);
}

#if defined(__x86_64__)
// The 16-byte scan finds exactly what a byte-at-a-time one does, at any length and offset.
TEST(TrapSites, TheScanFindsEveryPair) {
    std::mt19937 rng(3);
    for (int round = 0; round < 300; ++round) {
        std::vector<unsigned char> buf(size_t(rng() % 200) + 1);
        for (auto& c : buf) {  // dense in the bytes that matter
            const unsigned char pick[] = {0x0f, 0x05, 0xcd, 0x80, 0x90};
            c = rng() % 3 ? pick[rng() % 5] : (unsigned char)rng();
        }
        const size_t skip = rng() % 4;
        const unsigned char* p = buf.data() + std::min(skip, buf.size());
        const size_t n = buf.size() - std::min(skip, buf.size());
        std::vector<size_t> want, got;
        for (size_t i = 0; i + 1 < n; ++i)
            if ((p[i] == 0x0f && p[i + 1] == 0x05) || (p[i] == 0xcd && p[i + 1] == 0x80)) want.push_back(i);
        for_each_syscall_site(p, n, [&](size_t i) { got.push_back(i); });
        std::sort(got.begin(), got.end());
        ASSERT_EQ(got, want) << "length " << n;
    }
}
#endif

TEST(TrapSites, NoSitesAllowsEverything) {
    const auto code = build({}, {});
    EXPECT_EQ(at(code, 0x7f0000000000ull), SECCOMP_RET_ALLOW);
}

}  // namespace
}  // namespace usnet::shim
