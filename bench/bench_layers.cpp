// Per-layer benchmarks: wire (IPv4/UDP parse and emit, the Internet checksum), buf (pool
// alloc/free), and whole-stack UDP: sendto+recvfrom over 127.0.0.1, and a default-world
// send to the gateway 10.0.2.2 across the simulated Ethernet segment.
//
//   usnet_bench --benchmark_min_time=0.1
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "buf/packet.hpp"
#include "link/shm.hpp"
#include "core/stack_impl.hpp"
#include "usnet/sim.hpp"
#include "usnet/stack.hpp"
#include "wire/checksum.hpp"
#include "wire/ipv4.hpp"
#include "wire/udp.hpp"

namespace {

using namespace usnet;

const Ip4 kSrc(10, 0, 2, 15), kDst(10, 0, 2, 2);

std::vector<uint8_t> pattern(size_t n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 131 + 7);
    return v;
}

// ---------------- wire ----------------

void BM_Checksum(benchmark::State& st) {
    const auto data = pattern(size_t(st.range(0)));
    for (auto _ : st) {
        uint16_t c = wire::checksum(data.data(), data.size());
        benchmark::DoNotOptimize(c);
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * st.range(0));
}
BENCHMARK(BM_Checksum)->Arg(64)->Arg(1472);

wire::Ipv4Repr sample_ip(uint16_t payload) {
    wire::Ipv4Repr h;
    h.total_len = uint16_t(wire::kIpv4HeaderLen + payload);
    h.id = 0x1234;
    h.frag = wire::kIpDF;
    h.ttl = 64;
    h.proto = wire::kProtoUdp;
    h.src = kSrc;
    h.dst = kDst;
    return h;
}

void BM_Ipv4Emit(benchmark::State& st) {
    uint8_t buf[64] = {};
    wire::Ipv4Repr h = sample_ip(64);
    for (auto _ : st) {
        h.emit(buf);
        benchmark::DoNotOptimize(buf);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
}
BENCHMARK(BM_Ipv4Emit);

void BM_Ipv4Parse(benchmark::State& st) {
    const bool verify = st.range(0) != 0;
    std::vector<uint8_t> pkt(wire::kIpv4HeaderLen + 64);
    sample_ip(64).emit(pkt.data());
    for (auto _ : st) {
        wire::Ipv4Repr h;
        auto e = wire::Ipv4Repr::parse(pkt, &h, verify);
        benchmark::DoNotOptimize(e);
        benchmark::DoNotOptimize(h);
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
}
BENCHMARK(BM_Ipv4Parse)->ArgName("verify_csum")->Arg(0)->Arg(1);

void BM_UdpEmit(benchmark::State& st) {
    const uint32_t payload = uint32_t(st.range(0));
    const bool no_check = st.range(1) == 0;
    auto pkt = pattern(wire::kUdpHeaderLen + payload);
    wire::UdpRepr u{40000, 9, uint16_t(wire::kUdpHeaderLen + payload), 0};
    for (auto _ : st) {
        u.emit(pkt.data(), kSrc, kDst, no_check);
        benchmark::DoNotOptimize(pkt.data());
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(pkt.size()));
}
BENCHMARK(BM_UdpEmit)->ArgNames({"size", "csum"})->Args({64, 0})->Args({64, 1})->Args({1472, 0})->Args({1472, 1});

void BM_UdpParse(benchmark::State& st) {
    const uint32_t payload = uint32_t(st.range(0));
    const bool verify = st.range(1) != 0;
    auto pkt = pattern(wire::kUdpHeaderLen + payload);
    wire::UdpRepr{40000, 9, uint16_t(wire::kUdpHeaderLen + payload), 0}.emit(pkt.data(), kSrc, kDst, false);
    for (auto _ : st) {
        wire::UdpRepr u;
        auto e = wire::UdpRepr::parse(pkt, kSrc, kDst, &u, verify);
        benchmark::DoNotOptimize(e);
        benchmark::DoNotOptimize(u);
    }
    if (wire::UdpRepr u; wire::UdpRepr::parse(pkt, kSrc, kDst, &u, true) != wire::UdpError::Ok)
        st.SkipWithError("sample datagram does not parse");
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(pkt.size()));
}
BENCHMARK(BM_UdpParse)->ArgNames({"size", "csum"})->Args({64, 0})->Args({64, 1})->Args({1472, 0})->Args({1472, 1});

// ---------------- buf ----------------

void BM_PoolAllocFree(benchmark::State& st) {
    buf::Pool pool;
    pool.reserve(256, 16);
    const uint32_t len = uint32_t(st.range(0));
    const uint64_t before = pool.heap_allocations();
    for (auto _ : st) {
        auto p = pool.alloc(len);
        benchmark::DoNotOptimize(p.get());
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.counters["heap_allocs"] = double(pool.heap_allocations() - before);
}
BENCHMARK(BM_PoolAllocFree)->ArgName("len")->Arg(64)->Arg(1472)->Arg(9000);

// A burst: 64 packets held at once, then released (queue-like use).
void BM_PoolBurst64(benchmark::State& st) {
    buf::Pool pool;
    pool.reserve(256, 16);
    std::vector<buf::PacketPtr> held(64);
    for (auto _ : st) {
        for (auto& p : held) p = pool.alloc(1472);
        for (auto& p : held) p.reset();
    }
    st.SetItemsProcessed(int64_t(st.iterations()) * 64);
}
BENCHMARK(BM_PoolBurst64);

// ---------------- udp over loopback ----------------

sockaddr_in sin_of(Ip4 a, uint16_t port) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_addr.s_addr = a.net();
    s.sin_port = htons(port);
    return s;
}

// One thread: sendto then recvfrom, one datagram at a time, on a stack of its own (lo only).
void BM_UdpLoopback(benchmark::State& st) {
    const size_t size = size_t(st.range(0));
    Stack s;
    s.add_loopback();
    const int rx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const int tx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = sin_of(Ip4(127, 0, 0, 1), 9000);
    if (rx < 0 || tx < 0 || s.bind(rx, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
        st.SkipWithError("socket setup failed");
        return;
    }
    auto out = pattern(size);
    std::vector<uint8_t> in(65536);
    auto& pool = s.impl().pool;
    // Warm up (autobind, pool).
    s.sendto(tx, out.data(), size, 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    s.recvfrom(rx, in.data(), in.size(), 0, nullptr, nullptr);
    const uint64_t allocs0 = pool.heap_allocations();
    for (auto _ : st) {
        if (s.sendto(tx, out.data(), size, 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != ssize_t(size) ||
            s.recvfrom(rx, in.data(), in.size(), MSG_DONTWAIT, nullptr, nullptr) != ssize_t(size)) {
            st.SkipWithError("datagram lost");
            break;
        }
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(size));
    st.counters["heap_allocs"] = double(pool.heap_allocations() - allocs0);
}
BENCHMARK(BM_UdpLoopback)->ArgName("size")->Arg(64)->Arg(1472);

// The same with a tracer whose sink keeps nothing: what tracing costs when it is on (each
// call and each looped-back datagram rendered as a tree). Off, it costs BM_UdpLoopback.
void BM_UdpLoopbackTraced(benchmark::State& st) {
    Stack s;
    s.add_loopback();
    size_t bytes = 0;
    s.set_tracer([&](const std::string& tree) { bytes += tree.size(); });
    const int rx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const int tx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = sin_of(Ip4(127, 0, 0, 1), 9000);
    if (rx < 0 || tx < 0 || s.bind(rx, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
        st.SkipWithError("socket setup failed");
        return;
    }
    auto out = pattern(64);
    std::vector<uint8_t> in(65536);
    for (auto _ : st) {
        if (s.sendto(tx, out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 64 ||
            s.recvfrom(rx, in.data(), in.size(), MSG_DONTWAIT, nullptr, nullptr) != 64) {
            st.SkipWithError("datagram lost");
            break;
        }
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.counters["trace_bytes_per_datagram"] = double(bytes) / double(std::max<int64_t>(1, st.iterations()));
}
BENCHMARK(BM_UdpLoopbackTraced);

// The same over 127.0.0.1 on the default world's host (eth0 and a default route exist).
void BM_UdpLoopbackDefaultWorld(benchmark::State& st) {
    const size_t size = size_t(st.range(0));
    auto w = sim::make_default_world(1);
    Stack& s = *w.host;
    const int rx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const int tx = s.socket(AF_INET, SOCK_DGRAM, 0);
    const sockaddr_in dst = sin_of(Ip4(127, 0, 0, 1), 9000);
    if (rx < 0 || tx < 0 || s.bind(rx, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
        st.SkipWithError("socket setup failed");
        return;
    }
    auto out = pattern(size);
    std::vector<uint8_t> in(65536);
    s.sendto(tx, out.data(), size, 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    s.recvfrom(rx, in.data(), in.size(), 0, nullptr, nullptr);
    const uint64_t allocs0 = s.impl().pool.heap_allocations();
    for (auto _ : st) {
        if (s.sendto(tx, out.data(), size, 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != ssize_t(size) ||
            s.recvfrom(rx, in.data(), in.size(), MSG_DONTWAIT, nullptr, nullptr) != ssize_t(size)) {
            st.SkipWithError("datagram lost");
            break;
        }
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(size));
    st.counters["heap_allocs"] = double(s.impl().pool.heap_allocations() - allocs0);
}
BENCHMARK(BM_UdpLoopbackDefaultWorld)->ArgName("size")->Arg(64)->Arg(1472);

// ---------------- default world: host -> gateway 10.0.2.2 over simulated Ethernet ----------------

// The host's socket and a gateway socket bound to 0.0.0.0:9000, for the benchmarks below,
// with one datagram of `size` already exchanged (it resolves ARP for 10.0.2.2: the first
// datagram waits in the neighbour queue).
struct GatewayPair {
    explicit GatewayPair(size_t size) : out(pattern(size)), in(65536) {}
    sim::DefaultWorld w = sim::make_default_world(1);
    Stack& h = *w.host;
    Stack& g = *w.gateway;
    int tx = h.socket(AF_INET, SOCK_DGRAM, 0);
    int rx = g.socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst = sin_of(Ip4(10, 0, 2, 2), 9000);
    std::vector<uint8_t> out, in;
    const char* error = set_up();
    bool send() { return h.sendto(tx, out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) == ssize_t(out.size()); }
    bool recv(int flags = 0) { return g.recvfrom(rx, in.data(), in.size(), flags, nullptr, nullptr) == ssize_t(out.size()); }

private:
    const char* set_up() {
        const sockaddr_in any = sin_of(Ip4(), 9000);
        if (tx < 0 || rx < 0 || g.bind(rx, reinterpret_cast<const sockaddr*>(&any), sizeof any) != 0) return "socket setup failed";
        return send() && recv() ? nullptr : "warm-up datagram lost";
    }
};

// Each iteration: the host sends one datagram to 10.0.2.2:9000 (UDP, IPv4, Ethernet framing,
// a resolved ARP entry, the simulated segment, the gateway's receive path and a copy into its
// pool) and the gateway's recvfrom takes it. The send settles what is due, so on the default
// zero-latency link the datagram is already queued; with latency, recvfrom runs the world.
void BM_DefaultWorldSendToGateway(benchmark::State& st) {
    const size_t size = size_t(st.range(0));
    GatewayPair p(size);
    if (p.error) {
        st.SkipWithError(p.error);
        return;
    }
    const uint64_t allocs0 = p.h.impl().pool.heap_allocations() + p.g.impl().pool.heap_allocations();
    for (auto _ : st) {
        if (!p.send() || !p.recv()) {
            st.SkipWithError("datagram lost");
            break;
        }
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(size));
    st.counters["heap_allocs"] =
        double(p.h.impl().pool.heap_allocations() + p.g.impl().pool.heap_allocations() - allocs0);
}
BENCHMARK(BM_DefaultWorldSendToGateway)->ArgName("size")->Arg(64)->Arg(1472);

// Send only (no recvfrom in the timed loop): the host's output path, the segment and the
// gateway's input as far as its socket queue; every 64 datagrams, outside the timing, the
// world is run for 1 ms and the gateway's queue drained so nothing piles up.
void BM_DefaultWorldSendOnly(benchmark::State& st) {
    const size_t size = size_t(st.range(0));
    GatewayPair p(size);
    if (p.error) {
        st.SkipWithError(p.error);
        return;
    }
    int64_t n = 0;
    for (auto _ : st) {
        if (!p.send()) {
            st.SkipWithError("sendto failed");
            break;
        }
        if (++n % 64 == 0) {
            st.PauseTiming();
            p.w.net->run_for(kMs);
            while (p.recv(MSG_DONTWAIT)) {
            }
            st.ResumeTiming();
        }
    }
    st.SetItemsProcessed(int64_t(st.iterations()));
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(size));
}
BENCHMARK(BM_DefaultWorldSendOnly)->ArgName("size")->Arg(64)->Arg(1472);

// ---------------- link ----------------

// The switch's shared-memory wire alone: a frame (a 64-byte datagram's, 106 bytes) pushed
// into another process's ring and echoed back into ours, both ends spinning. One iteration
// is a round trip; with two CPUs, mostly the cost of moving the slots' lines between cores.
void BM_FabricRoundTrip(benchmark::State& st) {
    using namespace link::shm;
    Fabric f;
    const int memfd = f.create();
    if (memfd < 0) {
        st.SkipWithError("memfd");
        return;
    }
    for (uint32_t p : {1u, 2u}) {
        f.reset_ring(p);
        f.region()->hdr.ports[p].used.store(1);
    }
    const pid_t echo = fork();
    if (echo == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        Fabric g;
        if (!g.map(memfd)) _exit(1);
        uint8_t buf[kMaxFrame];
        for (uint32_t len = 0; len != 1;) {  // a 1-byte frame ends it
            while (g.drain(2, [&](uint32_t, const uint8_t* d, uint32_t l, uint16_t) { std::memcpy(buf, d, len = l); }, 1) == 0)
                cpu_relax();
            while (len != 1 && !g.push(1, 2, buf, len)) cpu_relax();
        }
        _exit(0);
    }
    uint8_t frame[106] = {}, back[kMaxFrame];
    for (auto _ : st) {
        while (!f.push(2, 1, frame, sizeof frame)) cpu_relax();
        while (f.drain(1, [&](uint32_t, const uint8_t* d, uint32_t l, uint16_t) { std::memcpy(back, d, l); }, 1) == 0) cpu_relax();
    }
    f.push(2, 1, frame, 1);
    waitpid(echo, nullptr, 0);
    close(memfd);
    st.SetItemsProcessed(int64_t(st.iterations()));
}
BENCHMARK(BM_FabricRoundTrip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
