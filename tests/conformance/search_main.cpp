// usnet_diffsearch: the random differential search. For each seed, a call sequence
// (ops.hpp) runs twice on the kernel, in fresh private namespaces each time, and once on
// usnet; a sequence the kernel itself answers two ways is set aside, one where usnet differs
// is shrunk to the shortest sequence that still differs and printed (and, with --save DIR,
// written there as a regression scenario).
//
//   usnet_diffsearch --seeds 1..10000 [--save tests/conformance/regressions] [--quiet]
//
// Exit status: 0 no difference, 1 differences found, 77 the kernel side cannot run here.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "ops.hpp"

using namespace conformance;

namespace {

enum class Verdict { Same, Differs, KernelUnstable, Skip };

struct Outcome {
    Verdict v = Verdict::Same;
    std::vector<std::string> kernel, usnet;
    std::string why;
};

Outcome check(const Ops& ops) {
    Outcome o;
    const Scenario s = ops_scenario("Search", "seq", ops);
    std::vector<std::string> k2;
    if (!run_on_kernel(s, &o.kernel, &o.why)) return o.v = Verdict::Skip, o;
    run_on_usnet(s, &o.usnet);
    if (o.usnet == o.kernel) return o;  // (a second kernel run could only set it aside)
    run_on_kernel(s, &k2, &o.why);
    o.v = k2 == o.kernel ? Verdict::Differs : Verdict::KernelUnstable;
    return o;
}

// Delta debugging: drop chunks of operations, smaller and smaller, while the sequence still
// differs deterministically. The opening socket calls stay if removing them changes nothing
// but makes every later call EBADF: the difference must stay the same kind only in that it
// still differs.
Ops shrink(Ops ops, int* runs) {
    for (size_t chunk = ops.size() / 2; chunk >= 1; chunk = chunk > 1 ? chunk / 2 : 0) {
        for (size_t at = 0; at + chunk <= ops.size();) {
            Ops fewer(ops.begin(), ops.begin() + long(at));
            fewer.insert(fewer.end(), ops.begin() + long(at + chunk), ops.end());
            ++*runs;
            if (!fewer.empty() && check(fewer).v == Verdict::Differs) ops = std::move(fewer);
            else at += chunk;
        }
        if (chunk == 1) break;
    }
    return ops;
}

std::string diff_text(const Outcome& o) {
    std::string s;
    const size_t n = std::max(o.kernel.size(), o.usnet.size());
    for (size_t i = 0; i < n; ++i) {
        const std::string k = i < o.kernel.size() ? o.kernel[i] : "(none)";
        const std::string u = i < o.usnet.size() ? o.usnet[i] : "(none)";
        if (k == u) s += "     " + k + "\n";
        else s += "  !! kernel: " + k + "\n  !! usnet:  " + u + "\n";
    }
    return s;
}

bool parse_range(const char* s, uint64_t* a, uint64_t* b) {
    char* end = nullptr;
    *a = std::strtoull(s, &end, 10);
    if (end[0] != '.' || end[1] != '.') return false;
    *b = std::strtoull(end + 2, &end, 10);
    return *end == 0 && *a <= *b;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t first = 1, last = 100;
    std::string save;
    bool quiet = false, show = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--seeds" && i + 1 < argc && parse_range(argv[i + 1], &first, &last)) ++i;
        else if (a == "--save" && i + 1 < argc) save = argv[++i];
        else if (a == "--quiet") quiet = true;
        else if (a == "--show" && i + 1 < argc) {
            // Print a seed's sequence and both traces, without searching.
            const Ops ops = generate_ops(std::strtoull(argv[++i], nullptr, 10));
            std::fputs(ops_text(ops).c_str(), stdout);
            const Outcome o = check(ops);
            std::fputs(diff_text(o).c_str(), stdout);
            show = true;
        } else {
            std::fprintf(stderr, "usage: %s [--seeds A..B] [--save DIR] [--quiet] | --show SEED\n", argv[0]);
            return 2;
        }
    }
    if (show) return 0;
    const auto start = std::chrono::steady_clock::now();
    uint64_t same = 0, unstable = 0, found = 0;
    int shrink_runs = 0;
    for (uint64_t seed = first; seed <= last; ++seed) {
        const Ops ops = generate_ops(seed);
        const Outcome o = check(ops);
        if (o.v == Verdict::Skip) {
            std::printf("SKIP: the kernel side cannot run: %s\n", o.why.c_str());
            return 77;
        }
        if (o.v == Verdict::Same) {
            ++same;
            continue;
        }
        if (o.v == Verdict::KernelUnstable) {
            ++unstable;
            if (!quiet) std::printf("seed %llu: the kernel answers two ways; set aside\n", (unsigned long long)seed);
            continue;
        }
        ++found;
        const Ops small = shrink(ops, &shrink_runs);
        const Outcome d = check(small);
        std::printf("seed %llu: usnet differs from the kernel; shortest sequence (%zu of %zu operations):\n%s%s\n",
                    (unsigned long long)seed, small.size(), ops.size(), ops_text(small).c_str(), diff_text(d).c_str());
        if (!save.empty()) {
            std::ofstream f(save + "/seed-" + std::to_string(seed) + ".ops");
            f << "# Found by usnet_diffsearch (seed " << seed << "), shrunk from " << ops.size() << " operations.\n";
            f << ops_text(small);
        }
        std::fflush(stdout);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("seeds %llu..%llu: %llu sequences, %llu the same on usnet and the kernel, %llu set aside (the kernel "
                "answered two ways), %llu differ (%.1f s)\n",
                (unsigned long long)first, (unsigned long long)last, (unsigned long long)(last - first + 1),
                (unsigned long long)same, (unsigned long long)unstable, (unsigned long long)found, secs);
    return found ? 1 : 0;
}
