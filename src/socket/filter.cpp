// Classic BPF for socket filters. The checker follows bpf_check_classic; the interpreter
// follows what the kernel runs after translating classic BPF to eBPF: 32-bit arithmetic,
// shifts by X taken modulo 32, a division or modulo by X == 0 ending the program with 0,
// and a packet load that falls outside the datagram ending it with 0 as well.
#include "socket/filter.hpp"

#include <cstring>

namespace usnet::sock {

namespace {

// chk_code_allowed: the opcodes classic BPF defines.
bool code_allowed(uint16_t c) {
    switch (c) {
        case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
        case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
        case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
        case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
        case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X:
        case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
        case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
        case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
        case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
        case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
        case BPF_ALU | BPF_NEG:
        case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
        case BPF_LD | BPF_W | BPF_LEN:
        case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
        case BPF_LD | BPF_IMM: case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_W | BPF_LEN: case BPF_LDX | BPF_B | BPF_MSH:
        case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_MEM:
        case BPF_ST: case BPF_STX:
        case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
        case BPF_RET | BPF_K: case BPF_RET | BPF_A:
        case BPF_JMP | BPF_JA:
        case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
            return true;
        default: return false;
    }
}

bool is_cond_jump(uint16_t c) {
    return BPF_CLASS(c) == BPF_JMP && BPF_OP(c) != BPF_JA;
}

// bpf_anc_helper: the ancillary loads Linux knows (SKF_AD_OFF + one of these).
bool known_ancillary(uint32_t k) {
    const uint32_t off = k - uint32_t(SKF_AD_OFF);
    return k >= uint32_t(SKF_AD_OFF) && off < SKF_AD_MAX && off % 4 == 0;
}

// check_load_and_stores: a scratch word must be stored on every path before it is loaded.
bool loads_follow_stores(const sock_filter* f, size_t n) {
    std::vector<uint16_t> masks(n, 0xffff);
    uint16_t valid = 0;
    for (size_t pc = 0; pc < n; ++pc) {
        valid &= masks[pc];
        const uint16_t c = f[pc].code;
        if (c == BPF_ST || c == BPF_STX) {
            valid |= uint16_t(1u << f[pc].k);
        } else if (c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM)) {
            if (!(valid & (1u << f[pc].k))) return false;
        } else if (c == (BPF_JMP | BPF_JA)) {
            masks[pc + 1 + f[pc].k] &= valid;
            valid = 0xffff;
        } else if (is_cond_jump(c)) {
            masks[pc + 1 + f[pc].jt] &= valid;
            masks[pc + 1 + f[pc].jf] &= valid;
            valid = 0xffff;
        }
    }
    return true;
}

// struct nlattr walking for SKF_AD_NLATTR(_NEST) (nla_find).
uint32_t nla_find(const uint8_t* base, const uint8_t* p, int64_t rem, uint32_t type) {
    while (rem >= 4) {
        uint16_t len, t;
        std::memcpy(&len, p, 2);
        std::memcpy(&t, p + 2, 2);
        if (len < 4 || len > rem) break;
        if ((t & 0x3fff) == type) return uint32_t(p - base);
        const uint32_t step = (len + 3u) & ~3u;
        rem -= step;
        p += step;
    }
    return 0;
}

}  // namespace

bool filter_valid(const sock_filter* f, size_t n) {
    if (!f || n == 0 || n > BPF_MAXINSNS) return false;  // bpf_check_basics_ok
    for (size_t pc = 0; pc < n; ++pc) {
        const sock_filter& i = f[pc];
        if (!code_allowed(i.code)) return false;
        switch (i.code) {
            case BPF_ALU | BPF_DIV | BPF_K:
            case BPF_ALU | BPF_MOD | BPF_K:
                if (i.k == 0) return false;
                break;
            case BPF_ALU | BPF_LSH | BPF_K:
            case BPF_ALU | BPF_RSH | BPF_K:
                if (i.k >= 32) return false;
                break;
            case BPF_LD | BPF_MEM: case BPF_LDX | BPF_MEM: case BPF_ST: case BPF_STX:
                if (i.k >= BPF_MEMWORDS) return false;
                break;
            case BPF_JMP | BPF_JA:
                if (i.k >= uint32_t(n - 1 - pc)) return false;
                break;
            case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
                if (i.k >= uint32_t(SKF_AD_OFF) && !known_ancillary(i.k)) return false;
                break;
            default:
                if (is_cond_jump(i.code) && (pc + i.jt + 1 >= n || pc + i.jf + 1 >= n)) return false;
        }
    }
    const uint16_t last = f[n - 1].code;
    if (last != (BPF_RET | BPF_K) && last != (BPF_RET | BPF_A)) return false;
    return loads_follow_stores(f, n);
}

namespace {

// bpf_skb_load_helper_*: a load at a signed offset; false when out of the datagram.
bool load(const FilterInput& in, int32_t off, uint32_t size, uint32_t* out) {
    const uint8_t* p;
    if (off >= 0) {
        if (uint32_t(off) > in.len || in.len - uint32_t(off) < size) return false;
        p = in.data + off;
    } else {
        // bpf_internal_load_pointer_neg_helper: SKF_NET_OFF and SKF_LL_OFF name the network
        // and link headers; the bytes must lie within the buffer.
        const uint8_t* end = in.data + in.len;
        if (off >= SKF_NET_OFF) p = in.net ? in.net + (int64_t(off) - SKF_NET_OFF) : nullptr;
        else if (off >= SKF_LL_OFF) p = in.mac ? in.mac + (int64_t(off) - SKF_LL_OFF) : nullptr;
        else p = nullptr;
        if (!p || p > end || uint32_t(end - p) < size) return false;
    }
    uint32_t v = 0;
    for (uint32_t i = 0; i < size; ++i) v = (v << 8) | p[i];
    *out = v;
    return true;
}

uint32_t ancillary(const FilterInput& in, uint32_t k, uint32_t a, uint32_t x) {
    switch (int(k - uint32_t(SKF_AD_OFF))) {
        case SKF_AD_PROTOCOL: return in.protocol;
        case SKF_AD_PKTTYPE: return in.pkttype;
        case SKF_AD_IFINDEX: return uint32_t(in.ifindex);
        case SKF_AD_MARK: return in.mark;
        case SKF_AD_HATYPE: return in.hatype;
        case SKF_AD_ALU_XOR_X: return a ^ x;
        case SKF_AD_RANDOM: return in.random;
        case SKF_AD_PAY_OFFSET: return 8;  // skb_get_poff: past the UDP (or ICMP) header
        case SKF_AD_NLATTR:
            if (in.len < 4 || a > in.len - 4) return 0;
            return nla_find(in.data, in.data + a, int64_t(in.len) - a, x);
        case SKF_AD_NLATTR_NEST: {
            if (in.len < 4 || a > in.len - 4) return 0;
            uint16_t len;
            std::memcpy(&len, in.data + a, 2);
            if (len > in.len - a) return 0;
            return nla_find(in.data, in.data + a + 4, int64_t(len) - 4, x);
        }
        // No VLANs, one queue, one CPU, no receive hash on usnet's devices.
        default: return 0;
    }
}

}  // namespace

uint32_t filter_run(const FilterProg& prog, const FilterInput& in) {
    uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {};
    const size_t n = prog.size();
    for (size_t pc = 0; pc < n; ++pc) {
        const sock_filter& i = prog[pc];
        const uint32_t k = i.k;
        const uint32_t src = BPF_SRC(i.code) == BPF_X ? X : k;
        switch (i.code) {
            case BPF_LD | BPF_W | BPF_ABS:
            case BPF_LD | BPF_H | BPF_ABS:
            case BPF_LD | BPF_B | BPF_ABS:
            case BPF_LD | BPF_W | BPF_IND:
            case BPF_LD | BPF_H | BPF_IND:
            case BPF_LD | BPF_B | BPF_IND: {
                const bool ind = BPF_MODE(i.code) == BPF_IND;
                if (!ind && k >= uint32_t(SKF_AD_OFF)) {
                    A = ancillary(in, k, A, X);
                    break;
                }
                const uint32_t size = BPF_SIZE(i.code) == BPF_W ? 4 : BPF_SIZE(i.code) == BPF_H ? 2 : 1;
                if (!load(in, int32_t(ind ? X + k : k), size, &A)) return 0;
                break;
            }
            case BPF_LD | BPF_W | BPF_LEN: A = in.len; break;
            case BPF_LDX | BPF_W | BPF_LEN: X = in.len; break;
            case BPF_LD | BPF_IMM: A = k; break;
            case BPF_LDX | BPF_IMM: X = k; break;
            case BPF_LD | BPF_MEM: A = M[k]; break;
            case BPF_LDX | BPF_MEM: X = M[k]; break;
            case BPF_LDX | BPF_B | BPF_MSH: {
                uint32_t b;
                if (!load(in, int32_t(k), 1, &b)) return 0;
                X = (b & 0xf) << 2;
                break;
            }
            case BPF_ST: M[k] = A; break;
            case BPF_STX: M[k] = X; break;
            case BPF_MISC | BPF_TAX: X = A; break;
            case BPF_MISC | BPF_TXA: A = X; break;
            case BPF_RET | BPF_K: return k;
            case BPF_RET | BPF_A: return A;
            case BPF_ALU | BPF_NEG: A = 0u - A; break;
            case BPF_JMP | BPF_JA: pc += k; break;
            default:
                if (BPF_CLASS(i.code) == BPF_ALU) {
                    switch (BPF_OP(i.code)) {
                        case BPF_ADD: A += src; break;
                        case BPF_SUB: A -= src; break;
                        case BPF_MUL: A *= src; break;
                        case BPF_DIV: if (!src) return 0; A /= src; break;
                        case BPF_MOD: if (!src) return 0; A %= src; break;
                        case BPF_AND: A &= src; break;
                        case BPF_OR: A |= src; break;
                        case BPF_XOR: A ^= src; break;
                        case BPF_LSH: A <<= (src & 31); break;
                        case BPF_RSH: A >>= (src & 31); break;
                    }
                } else if (BPF_CLASS(i.code) == BPF_JMP) {
                    bool t = false;
                    switch (BPF_OP(i.code)) {
                        case BPF_JEQ: t = A == src; break;
                        case BPF_JGT: t = A > src; break;
                        case BPF_JGE: t = A >= src; break;
                        case BPF_JSET: t = (A & src) != 0; break;
                    }
                    pc += t ? i.jt : i.jf;
                }
        }
    }
    return 0;  // unreachable for a checked program: its last instruction returns
}

}  // namespace usnet::sock
