// Classic BPF for the seccomp filters: the system-call trap's (trap.cpp), its per-descriptor
// ones, and the static-program supervisor's (supervise.cpp).
#pragma once

#include "native.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

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
