// Classic BPF socket filters: SO_ATTACH_FILTER's checks (sk_attach_filter, bpf_check_classic),
// SO_DETACH_FILTER, SO_LOCK_FILTER and SO_GET_FILTER, and what a program sees and decides
// on each datagram (sk_filter_trim_cap): 0 drops, n keeps n bytes from the transport header.
// A value a program computes is made visible as the length of what it lets through.
#include <linux/filter.h>
#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "harness.hpp"

using namespace conformance;

namespace {

using Prog = std::vector<sock_filter>;

sock_filter S(uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) { return sock_filter{code, jt, jf, k}; }

int attach(T& t, int fd, const Prog& p, const char* what, uint16_t len = 0xffff) {
    t.note(what);
    sock_fprog fp{len == 0xffff ? uint16_t(p.size()) : len, const_cast<sock_filter*>(p.data())};
    return t.setsockopt_raw(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp);
}

// getsockopt(SO_GET_FILTER) with room for `room` instructions; logs the count and the codes.
void get_filter(T& t, int fd, socklen_t room, bool null = false) {
    std::vector<sock_filter> buf(64);
    socklen_t l = room;
    errno = 0;
    const int r = t.api().getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, null ? nullptr : buf.data(), &l);
    std::string line = "getsockopt(SO_GET_FILTER,room=" + std::to_string(room) + (null ? ",null" : "") + ") = ";
    if (r < 0) {
        line += std::string("-1 ") + (strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    } else {
        line += "0 len=" + std::to_string(l);
        for (socklen_t i = 0; !null && room && i < l && i < 64; ++i)
            line += " " + std::to_string(buf[i].code) + ":" + std::to_string(buf[i].k);
    }
    t.trace.push_back(line);
}

int udp(T& t, Host h = kHost) { return t.socket(AF_INET, SOCK_DGRAM, 0, h); }
int bound(T& t, const char* ip, uint16_t port, Host h = kHost) {
    int s = udp(t, h);
    t.bind(s, addr(ip, port));
    return s;
}

// A program that lets through 8 + (value % 1000) bytes, value being what `load` leaves in A.
Prog show(Prog load) {
    load.push_back(S(BPF_ALU | BPF_MOD | BPF_K, 1000));
    load.push_back(S(BPF_ALU | BPF_ADD | BPF_K, 8));
    load.push_back(S(BPF_RET | BPF_A, 0));
    return load;
}

const std::string kBig(1100, 'x');

// Attach, send the big datagram from tx to `to`, and receive what the filter kept.
void probe(T& t, int rx, int tx, const sockaddr_in& to, const Prog& p, const char* what) {
    attach(t, rx, p, what);
    t.sendto(tx, kBig, to);
    t.poll1(rx, POLLIN, 1000);
    t.recv(rx, 2048, MSG_DONTWAIT | MSG_TRUNC);
}

uint32_t anc(int off) { return uint32_t(SKF_AD_OFF + off); }
uint32_t net(int off) { return uint32_t(SKF_NET_OFF + off); }
uint32_t ll(int off) { return uint32_t(SKF_LL_OFF + off); }

}  // namespace

SCENARIO(Filter, AttachChecksLengthAndProgram) {
    int s = udp(t);
    const Prog ok{S(BPF_RET | BPF_K, 0xffffffff)};
    sock_fprog fp{1, const_cast<sock_filter*>(ok.data())};
    for (socklen_t len : {0u, 3u, 4u, 8u, 15u, 17u, 24u}) t.setsockopt_raw(s, SOL_SOCKET, SO_ATTACH_FILTER, &fp, len);
    t.setsockopt_raw(s, SOL_SOCKET, SO_ATTACH_FILTER, nullptr, sizeof fp);
    t.setsockopt_raw(s, SOL_SOCKET, SO_ATTACH_FILTER, nullptr, 0);
    sock_fprog nullprog{1, nullptr};
    t.setsockopt_raw(s, SOL_SOCKET, SO_ATTACH_FILTER, &nullprog, sizeof nullprog);
    attach(t, s, ok, "no instructions", 0);
    attach(t, s, ok, "more than BPF_MAXINSNS", 4097);
    attach(t, s, {S(0xffff, 0), S(BPF_RET | BPF_K, 1)}, "unknown opcode");
    attach(t, s, {S(BPF_ST | BPF_W, 0), S(BPF_RET | BPF_K, 1)}, "BPF_ST with a size");
    attach(t, s, {S(BPF_ALU | BPF_NEG | BPF_X, 0), S(BPF_RET | BPF_K, 1)}, "NEG with BPF_X");
    attach(t, s, {S(BPF_LD | BPF_IMM, 1)}, "no final return");
    attach(t, s, {S(BPF_RET | BPF_K, 1), S(BPF_LD | BPF_IMM, 1)}, "return not last");
    attach(t, s, {S(BPF_JMP | BPF_JA, 1), S(BPF_RET | BPF_K, 1)}, "ja past the end");
    attach(t, s, {S(BPF_JMP | BPF_JA, 0), S(BPF_RET | BPF_K, 1)}, "ja 0");
    attach(t, s, {S(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), S(BPF_RET | BPF_K, 1)}, "jt past the end");
    attach(t, s, {S(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1), S(BPF_RET | BPF_K, 1)}, "jf past the end");
    attach(t, s, {S(BPF_JMP | BPF_JSET | BPF_K, 0, 0, 0), S(BPF_RET | BPF_K, 1)}, "jset to next");
    attach(t, s, {S(BPF_ALU | BPF_DIV | BPF_K, 0), S(BPF_RET | BPF_K, 1)}, "div by constant 0");
    attach(t, s, {S(BPF_ALU | BPF_MOD | BPF_K, 0), S(BPF_RET | BPF_K, 1)}, "mod by constant 0");
    attach(t, s, {S(BPF_ALU | BPF_DIV | BPF_X, 0), S(BPF_RET | BPF_K, 1)}, "div by X");
    attach(t, s, {S(BPF_ALU | BPF_LSH | BPF_K, 32), S(BPF_RET | BPF_K, 1)}, "lsh 32");
    attach(t, s, {S(BPF_ALU | BPF_RSH | BPF_K, 31), S(BPF_RET | BPF_K, 1)}, "rsh 31");
    attach(t, s, {S(BPF_ST, 16), S(BPF_RET | BPF_K, 1)}, "store to M[16]");
    attach(t, s, {S(BPF_LD | BPF_MEM, 3), S(BPF_RET | BPF_K, 1)}, "load of a word never stored");
    attach(t, s, {S(BPF_STX, 3), S(BPF_LDX | BPF_MEM, 3), S(BPF_RET | BPF_A, 0)}, "load after store");
    attach(t, s,
           {S(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1), S(BPF_ST, 2), S(BPF_LD | BPF_MEM, 2), S(BPF_RET | BPF_A, 0)},
           "load stored on one path only");
    attach(t, s,
           {S(BPF_ST, 2), S(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1), S(BPF_ST, 3), S(BPF_LD | BPF_MEM, 2), S(BPF_RET | BPF_A, 0)},
           "load stored before the branch");
    for (int off : {0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60}) {
        t.note("ancillary " + std::to_string(off));
        sock_filter p[2] = {S(BPF_LD | BPF_W | BPF_ABS, anc(off)), S(BPF_RET | BPF_A, 0)};
        sock_fprog f{2, p};
        t.setsockopt_raw(s, SOL_SOCKET, SO_ATTACH_FILTER, &f, sizeof f);
    }
    attach(t, s, {S(BPF_LD | BPF_W | BPF_ABS, anc(64)), S(BPF_RET | BPF_A, 0)}, "ancillary past SKF_AD_MAX");
    attach(t, s, {S(BPF_LD | BPF_W | BPF_ABS, anc(2)), S(BPF_RET | BPF_A, 0)}, "ancillary not aligned");
    attach(t, s, {S(BPF_LD | BPF_B | BPF_ABS, anc(8)), S(BPF_RET | BPF_A, 0)}, "ancillary as a byte load");
    attach(t, s, {S(BPF_LD | BPF_W | BPF_IND, anc(64)), S(BPF_RET | BPF_A, 0)}, "indirect load in the ancillary area");
    attach(t, s, {S(BPF_LD | BPF_W | BPF_ABS, net(0)), S(BPF_RET | BPF_A, 0)}, "SKF_NET_OFF load");
    t.getsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER);
    get_filter(t, s, 0);
    get_filter(t, s, 1);
    get_filter(t, s, 2);
    get_filter(t, s, 5);
}

SCENARIO(Filter, DetachLockAndGet) {
    int s = udp(t);
    int v = 0;
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, &v, 2);
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, nullptr, 4);
    get_filter(t, s, 0);
    get_filter(t, s, 4);
    get_filter(t, s, 4, true);
    const Prog p{S(BPF_LD | BPF_W | BPF_LEN, 0), S(BPF_JMP | BPF_JGT | BPF_K, 20, 0, 1), S(BPF_RET | BPF_K, 0),
                 S(BPF_RET | BPF_A, 0)};
    attach(t, s, p, "four instructions");
    get_filter(t, s, 0);
    get_filter(t, s, 3);
    get_filter(t, s, 4);
    get_filter(t, s, 9);
    get_filter(t, s, 0, true);
    get_filter(t, s, 4, true);
    t.getsockopt_int(s, SOL_SOCKET, SO_GET_FILTER, 2);
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
    get_filter(t, s, 4);
    // SO_LOCK_FILTER: once set, the filter cannot change and the lock cannot be lifted.
    t.getsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER);
    t.setsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER, 0);
    t.setsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER, 5);
    t.getsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER);
    t.setsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER, 1);
    t.setsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER, 0);
    t.setsockopt_int(s, SOL_SOCKET, SO_LOCK_FILTER, 0, 2);
    attach(t, s, p, "attach while locked");
    attach(t, s, p, "invalid and locked", 0);
    t.setsockopt_raw(s, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
    // A socket locked with a filter keeps it.
    int r = bound(t, "127.0.0.1", 7040);
    attach(t, r, {S(BPF_RET | BPF_K, 10)}, "keep 2 bytes of payload");
    t.setsockopt_int(r, SOL_SOCKET, SO_LOCK_FILTER, 1);
    t.setsockopt_raw(r, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
    attach(t, r, {S(BPF_RET | BPF_K, 0)}, "replace while locked");
    int tx = udp(t);
    t.sendto(tx, "locked-in", addr("127.0.0.1", 7040));
    t.recv(r, 2048, MSG_DONTWAIT);
    t.close(r);
    // Ping sockets take filters too.
    int p2 = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    attach(t, p2, p, "on a ping socket");
    get_filter(t, p2, 4);
    t.setsockopt_raw(p2, SOL_SOCKET, SO_DETACH_FILTER, &v, sizeof v);
}

SCENARIO(Filter, ReturnValueTrimsOrDrops) {
    int r = bound(t, "127.0.0.1", 7041);
    int tx = bound(t, "127.0.0.1", 7042);
    t.setsockopt_int(r, SOL_SOCKET, SO_RXQ_OVFL, 1);
    // A datagram queued before the filter is attached is not filtered.
    t.sendto(tx, "queued-before", addr("127.0.0.1", 7041));
    attach(t, r, {S(BPF_RET | BPF_K, 0)}, "drop everything");
    t.recv(r, 2048, MSG_DONTWAIT);
    for (uint32_t k : {0u, 1u, 7u, 8u, 9u, 12u, 17u, 18u, 19u, 1000u, 0xffffffffu}) {
        attach(t, r, {S(BPF_RET | BPF_K, k)}, ("return " + std::to_string(k)).c_str());
        t.sendto(tx, "0123456789", addr("127.0.0.1", 7041));
        t.ioctl_int(r, FIONREAD, "FIONREAD");
        t.recv(r, 2048, MSG_DONTWAIT | MSG_TRUNC);
    }
    // Return A: the datagram's own length from its UDP header, less 3.
    attach(t, r, {S(BPF_LD | BPF_H | BPF_ABS, 4), S(BPF_ALU | BPF_SUB | BPF_K, 3), S(BPF_RET | BPF_A, 0)}, "udp length - 3");
    t.sendto(tx, "abcdefghij", addr("127.0.0.1", 7041));
    t.recv(r, 4, MSG_DONTWAIT);
    // Connected receivers and each multicast/broadcast copy run their own filter.
    auto shared = [&] {
        int s = udp(t);
        t.setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
        t.bind(s, addr("0.0.0.0", 7043));
        return s;
    };
    int c = shared(), d = shared(), e = shared();
    attach(t, c, {S(BPF_RET | BPF_K, 11)}, "c keeps 3");
    attach(t, e, {S(BPF_RET | BPF_K, 0)}, "e drops");
    t.setsockopt_int(tx, SOL_SOCKET, SO_BROADCAST, 1);
    t.sendto(tx, "to-all-hosts", addr("224.0.0.1", 7043));
    t.poll1(c, POLLIN, 1000);
    t.recv(c, 2048, MSG_DONTWAIT);
    t.recv(d, 2048, MSG_DONTWAIT);
    t.recv(e, 2048, MSG_DONTWAIT);
}

SCENARIO(Filter, LoadsFromTheDatagram) {
    int r = bound(t, "127.0.0.1", 7044);
    int tx = bound(t, "127.0.0.1", 7045);
    const sockaddr_in to = addr("127.0.0.1", 7044);
    probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, 0)}), "ld [0]: ports");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_H | BPF_ABS, 2)}), "ldh [2]: dport");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, 5)}), "ldb [5]: length low byte");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, 8)}), "ldb [8]: payload");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, 1107)}), "ldb [last]");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, 1108)}), "ldb [len]: past the end");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, 1105)}), "ld [len-3]: past the end");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_LEN, 0)}), "len");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_W | BPF_LEN, 0), S(BPF_MISC | BPF_TXA, 0)}), "ldx len; txa");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, net(8))}), "net ttl");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, net(9))}), "net protocol");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_H | BPF_ABS, net(2))}), "net total length");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, net(0))}), "net version/ihl");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, net(16))}), "net daddr");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, net(-1))}), "before SKF_NET_OFF");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_H | BPF_ABS, ll(12))}), "link ethertype (lo)");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, ll(0))}), "link dst (lo)");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_B | BPF_ABS, uint32_t(-5))}), "offset -5");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_B | BPF_MSH, net(0)), S(BPF_LD | BPF_H | BPF_IND, net(2))}),
          "ldxb 4*([net]&0xf); ldh [x+net+2]: dport");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_IMM, 3), S(BPF_LD | BPF_B | BPF_IND, 2)}), "ldb [x+2]");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_IMM, uint32_t(-3)), S(BPF_LD | BPF_B | BPF_IND, 2)}), "ldb [x+2], x=-3");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_IMM, 2000), S(BPF_LD | BPF_B | BPF_IND, 2)}), "ldb [x+2] past the end");
    probe(t, r, tx, to, show({S(BPF_LDX | BPF_B | BPF_MSH, 5000)}), "ldxb msh past the end");
}

SCENARIO(Filter, Arithmetic) {
    int r = bound(t, "127.0.0.1", 7046);
    int tx = bound(t, "127.0.0.1", 7047);
    const sockaddr_in to = addr("127.0.0.1", 7046);
    auto alu = [&](uint16_t op, uint32_t a, uint32_t k, const char* what) {
        probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, a), S(uint16_t(BPF_ALU | op | BPF_K), k)}), what);
        probe(t, r, tx, to,
              show({S(BPF_LD | BPF_IMM, a), S(BPF_LDX | BPF_IMM, k), S(uint16_t(BPF_ALU | op | BPF_X), 0)}),
              (std::string(what) + " (X)").c_str());
    };
    alu(BPF_ADD, 0xfffffff0u, 0x20, "add wraps");
    alu(BPF_SUB, 5, 7, "sub wraps");
    alu(BPF_MUL, 0x10000001u, 0x30, "mul");
    alu(BPF_DIV, 1000000, 7, "div");
    alu(BPF_MOD, 1000003, 997, "mod");
    alu(BPF_AND, 0x3ff, 0x155, "and");
    alu(BPF_OR, 0x200, 0x55, "or");
    alu(BPF_XOR, 0x3ff, 0x155, "xor");
    alu(BPF_LSH, 3, 4, "lsh");
    alu(BPF_RSH, 0x80000000u, 22, "rsh");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, 5), S(BPF_LDX | BPF_IMM, 33), S(BPF_ALU | BPF_LSH | BPF_X, 0)}),
          "lsh by X = 33");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, 5), S(BPF_LDX | BPF_IMM, 0), S(BPF_ALU | BPF_DIV | BPF_X, 0)}),
          "div by X = 0");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, 5), S(BPF_LDX | BPF_IMM, 0), S(BPF_ALU | BPF_MOD | BPF_X, 0)}),
          "mod by X = 0");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, 5), S(BPF_ALU | BPF_NEG, 0)}), "neg");
    probe(t, r, tx, to, show({S(BPF_LD | BPF_IMM, 6), S(BPF_LDX | BPF_IMM, 3), S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_ALU_XOR_X))}),
          "ancillary xor x");
    probe(t, r, tx, to,
          show({S(BPF_LD | BPF_IMM, 77), S(BPF_ST, 15), S(BPF_LD | BPF_IMM, 1), S(BPF_MISC | BPF_TAX, 0), S(BPF_STX, 4),
                S(BPF_LD | BPF_MEM, 15), S(BPF_LDX | BPF_MEM, 4), S(BPF_ALU | BPF_ADD | BPF_X, 0)}),
          "scratch memory");
    // Jumps: each comparison picks 100 or 200.
    auto jmp = [&](uint16_t op, uint32_t a, uint32_t k, const char* what) {
        for (uint16_t src : {uint16_t(BPF_K), uint16_t(BPF_X)}) {
            Prog p{S(BPF_LD | BPF_IMM, a), S(BPF_LDX | BPF_IMM, k), S(uint16_t(BPF_JMP | op | src), k, 1, 0),
                   S(BPF_RET | BPF_K, 100), S(BPF_RET | BPF_K, 200)};
            probe(t, r, tx, to, p, (std::string(what) + (src == BPF_X ? " (X)" : "")).c_str());
        }
    };
    jmp(BPF_JEQ, 5, 5, "jeq equal");
    jmp(BPF_JEQ, 5, 6, "jeq differ");
    jmp(BPF_JGT, 0xffffffffu, 1, "jgt unsigned");
    jmp(BPF_JGT, 5, 5, "jgt equal");
    jmp(BPF_JGE, 5, 5, "jge equal");
    jmp(BPF_JSET, 6, 1, "jset none");
    jmp(BPF_JSET, 6, 2, "jset some");
    probe(t, r, tx, to, {S(BPF_JMP | BPF_JA, 1), S(BPF_RET | BPF_K, 100), S(BPF_RET | BPF_K, 300)}, "ja");
}

SCENARIO(Filter, AncillaryOnLoopback) {
    int r = bound(t, "0.0.0.0", 7048);
    int tx = bound(t, "127.0.0.1", 7049);
    t.setsockopt_int(tx, SOL_SOCKET, SO_MARK, 417);
    for (const char* dst : {"127.0.0.1", "10.0.2.15"}) {
        const sockaddr_in to = addr(dst, 7048);
        t.note(std::string("to ") + dst);
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PROTOCOL))}), "protocol");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PKTTYPE))}), "pkttype");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_IFINDEX))}), "ifindex");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_MARK))}), "mark");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_QUEUE))}), "queue");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_HATYPE))}), "hatype");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_VLAN_TAG))}), "vlan tag");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_VLAN_TAG_PRESENT))}), "vlan present");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_VLAN_TPID))}), "vlan tpid");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PAY_OFFSET))}), "payload offset");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_H | BPF_ABS, ll(12))}), "link ethertype");
        probe(t, r, tx, to, show({S(BPF_LD | BPF_W | BPF_ABS, ll(6))}), "link source");
    }
    // SKF_AD_NLATTR: the offset of the attribute of type X from A on.
    std::string nl(16, '\0');
    const uint16_t a1[2] = {8, 3}, a2[2] = {8, 9};
    std::memcpy(nl.data(), a1, 4);
    std::memcpy(nl.data() + 8, a2, 4);
    for (uint32_t type : {3u, 9u, 4u}) {
        attach(t, r, show({S(BPF_LD | BPF_IMM, 8), S(BPF_LDX | BPF_IMM, type), S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_NLATTR))}),
               ("nlattr type " + std::to_string(type)).c_str());
        t.sendto(tx, nl, addr("127.0.0.1", 7048));
        t.recv(r, 2048, MSG_DONTWAIT | MSG_TRUNC);
    }
}

SCENARIO(Filter, AncillaryFromTheWire) {
    int r = bound(t, "0.0.0.0", 7050);
    int g = bound(t, "10.0.2.2", 7051, kGw);
    t.setsockopt_int(g, SOL_SOCKET, SO_BROADCAST, 1);
    t.setsockopt_int(g, SOL_SOCKET, SO_MARK, 9);
    for (const char* dst : {"10.0.2.15", "10.0.2.255", "224.0.0.1"}) {
        const sockaddr_in to = addr(dst, 7050);
        t.note(std::string("from the gateway to ") + dst);
        probe(t, r, g, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PKTTYPE))}), "pkttype");
        probe(t, r, g, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_HATYPE))}), "hatype");
        probe(t, r, g, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_MARK))}), "mark");
        probe(t, r, g, to, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PROTOCOL))}), "protocol");
        probe(t, r, g, to, show({S(BPF_LD | BPF_H | BPF_ABS, ll(12))}), "link ethertype");
        // (A unicast frame's destination is the veth's random address: not compared.)
        if (std::strcmp(dst, "10.0.2.15") != 0) {
            probe(t, r, g, to, show({S(BPF_LD | BPF_B | BPF_ABS, ll(0))}), "link destination, first byte");
            probe(t, r, g, to, show({S(BPF_LD | BPF_W | BPF_ABS, ll(2))}), "link destination, last four bytes");
        }
        probe(t, r, g, to, show({S(BPF_LD | BPF_B | BPF_ABS, net(8))}), "ttl");
    }
    // A multicast copy this host loops back to itself.
    int tx = bound(t, "0.0.0.0", 7052);
    const sockaddr_in mc = addr("224.0.0.1", 7050);
    t.note("looped back multicast");
    probe(t, r, tx, mc, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PKTTYPE))}), "pkttype");
    probe(t, r, tx, mc, show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_HATYPE))}), "hatype");
    probe(t, r, tx, mc, show({S(BPF_LD | BPF_B | BPF_ABS, ll(0))}), "link header first byte");
    probe(t, r, tx, mc, show({S(BPF_LD | BPF_B | BPF_ABS, ll(9))}), "link header byte 9");
}

SCENARIO(Filter, PingSocket) {
    int p = t.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    t.bind(p, addr("0.0.0.0", 4242));
    const std::string echo("\x08\x00\x00\x00\x00\x00\x00\x01payload-bytes", 21);
    // An echo request to this host, and what the filter leaves of the reply.
    auto round = [&](const Prog& prog, const std::string& what, int flags) {
        attach(t, p, prog, what.c_str());
        t.sendto(p, echo, addr("127.0.0.1", 0));
        t.poll1(p, POLLIN, 500);
        t.recv(p, 2048, flags);
    };
    for (uint32_t k : {0u, 1u, 4u, 8u, 10u, 0xffffu}) round({S(BPF_RET | BPF_K, k)}, "return " + std::to_string(k), MSG_DONTWAIT);
    round(show({S(BPF_LD | BPF_B | BPF_ABS, 0)}), "icmp type", MSG_DONTWAIT | MSG_TRUNC);
    round(show({S(BPF_LD | BPF_W | BPF_LEN, 0)}), "len", MSG_DONTWAIT | MSG_TRUNC);
    round(show({S(BPF_LD | BPF_W | BPF_ABS, anc(SKF_AD_PAY_OFFSET))}), "payload offset", MSG_DONTWAIT | MSG_TRUNC);
    // A dropped reply is not counted in SO_RXQ_OVFL (sock_queue_rcv_skb).
    t.setsockopt_int(p, SOL_SOCKET, SO_RXQ_OVFL, 1);
    attach(t, p, {S(BPF_RET | BPF_K, 0)}, "drop");
    t.sendto(p, echo, addr("127.0.0.1", 0));
    t.sleep_ms(100);
    round({S(BPF_RET | BPF_K, 100)}, "keep", MSG_DONTWAIT);
}
