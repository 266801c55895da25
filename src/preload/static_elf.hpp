// Whether an executable is a statically linked ELF program (no PT_INTERP: no dynamic loader,
// so LD_PRELOAD never loads the shim into it). Shared by `usnet run` and the shim's execve,
// which each read the file their own way (the shim's reads must not meet its own trap).
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>

namespace usnet::shim {

// read(buf, n, offset) -> whether all n bytes were read.
template <class Read>
bool static_elf(Read read) {
    Elf64_Ehdr eh{};
    if (!read(&eh, sizeof eh, uint64_t(0)) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
        return false;
    for (int i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph{};
        if (!read(&ph, sizeof ph, eh.e_phoff + uint64_t(i) * sizeof ph)) return false;
        if (ph.p_type == PT_INTERP) return false;
    }
    return true;
}

}  // namespace usnet::shim
