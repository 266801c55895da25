// usnet_scenario_runner NAME: runs one conformance scenario with plain libc calls and
// prints its trace. Under `usnet run` those calls land in usnet's shim, so the differential
// suite runs through a real, dynamically linked program. Scenarios that need the gateway
// host or `ip` commands cannot run this way and report UNSUPPORTED.
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <fcntl.h>
#include <string>

#include "harness.hpp"
#include "libc_api.hpp"

namespace {

struct Unsupported {};

// Only the host's own calls: the gateway and `ip` are out of a program's reach.
class ShimApi : public conformance::LibcApi {
public:
    int socket(conformance::Host h, int d, int t, int p) override {
        if (h != conformance::kHost) throw Unsupported{};
        return ::socket(d, t, p);
    }
    int ip(conformance::Host, const std::string&) override { throw Unsupported{}; }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SUITE.NAME | --list\n", argv[0]);
        return 2;
    }
    const std::string want = argv[1];
    for (const auto& s : conformance::registry()) {
        const std::string name = s.suite + "." + s.name;
        if (want == "--list") {
            std::printf("%s\n", name.c_str());
            continue;
        }
        if (name != want) continue;
        ShimApi api;
        conformance::T t(api);
        try {
            s.fn(t);
        } catch (const Unsupported&) {
            std::printf("UNSUPPORTED\n");
            return 0;
        }
        for (const auto& l : t.trace) std::printf("%s\n", l.c_str());
        return 0;
    }
    return want == "--list" ? 0 : 3;
}
