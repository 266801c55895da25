// Golden traces: scenarios of the differential suite run on usnet with a tracer on the
// host, compared with tests/trace/golden/<Suite>.<Name>.txt (USNET_UPDATE_GOLDEN=1 rewrites
// them). Each is then held against the kernel: every call the scenario logs on the kernel
// must appear in the trace, in order, with the same result, so the decisions a trace shows
// are the ones Linux takes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "usnet/stack.hpp"

namespace {

const conformance::Scenario* find(const std::string& name) {
    for (const auto& s : conformance::registry())
        if (s.suite + "." + s.name == name) return &s;
    return nullptr;
}

std::string traced_run(const conformance::Scenario& s) {
    std::string out;
    std::vector<std::string> ignored;
    conformance::UsnetRun how;
    how.fixed_config = true;  // rcvbuf and ports as the stack's defaults, whatever the machine
    how.on_host = [&](usnet::Stack& h) { h.set_tracer([&](const std::string& t) { out += t; }); };
    conformance::run_on_usnet(s, &ignored, how);
    return out;
}

// "send" for send, sendto and sendmsg (the harness sends with sendmsg), "recv" likewise.
std::string family(std::string call) {
    if (call.rfind("send", 0) == 0 && call != "sendmmsg") return "send";
    if (call.rfind("recv", 0) == 0 && call != "recvmmsg") return "recv";
    return call;
}

struct Call {
    std::string name, result;  // result: "ok" or "-1 EXXX"
    int64_t value = -1;         // the return value when it is a number
};

Call parse(const std::string& line) {
    Call c;
    c.name = family(line.substr(0, line.find_first_of("( ")));
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos) return c;
    std::string r = line.substr(eq + 3);
    if (r.rfind("-1 ", 0) == 0) {
        c.result = r.substr(0, r.find(' ', 3));
    } else {
        c.result = "ok";
        if (!r.empty() && std::isdigit(static_cast<unsigned char>(r[0]))) c.value = std::stoll(r);
    }
    return c;
}

// The calls on the host in the kernel's log, and the first line of each usnet tree.
std::vector<Call> kernel_calls(const std::vector<std::string>& lines) {
    std::vector<Call> out;
    for (const auto& l : lines)
        if (!l.empty() && l[0] != '#' && l.rfind("gw.", 0) != 0 && l.find(" = ") != std::string::npos) out.push_back(parse(l));
    return out;
}
std::vector<Call> trace_calls(const std::string& text) {
    std::vector<Call> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!l.empty() && l[0] != ' ' && l.find(" = ") != std::string::npos) out.push_back(parse(l));
    return out;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, TraceMatchesTheFileAndTheKernel) {
    const std::string name = GetParam();
    const conformance::Scenario* s = find(name);
    ASSERT_NE(s, nullptr) << "no scenario " << name;
    const std::string got = traced_run(*s);
    const std::string path = std::string(USNET_SOURCE_DIR) + "/tests/trace/golden/" + name + ".txt";
    if (std::getenv("USNET_UPDATE_GOLDEN")) {
        std::ofstream(path) << got;
    } else {
        std::ifstream in(path);
        std::stringstream want;
        want << in.rdbuf();
        EXPECT_EQ(got, want.str()) << "trace of " << name << " differs from " << path
                                   << " (USNET_UPDATE_GOLDEN=1 rewrites it)";
    }
    // Every call of the scenario, in order, with the kernel's result.
    std::vector<std::string> kernel;
    std::string why;
    if (!conformance::run_on_kernel(*s, &kernel, &why)) GTEST_SKIP() << "kernel side cannot run: " << why;
    const auto want = kernel_calls(kernel), have = trace_calls(got);
    ASSERT_FALSE(want.empty());
    size_t j = 0;
    for (const auto& k : want) {
        while (j < have.size() && have[j].name != k.name) ++j;
        ASSERT_LT(j, have.size()) << "the kernel's " << k.name << " (" << k.result << ") has no tree in the trace";
        EXPECT_EQ(have[j].result, k.result) << k.name << ": the trace says " << have[j].result << ", the kernel " << k.result;
        if (k.value >= 0 && k.name != "socket") {
            EXPECT_EQ(have[j].value, k.value) << k.name;
        }
        ++j;
    }
}

// The seed note's script and its connect() variant (each send needs ARP for the gateway),
// a datagram dropped because a connected socket's peer is someone else, and an ICMP port
// unreachable that becomes ECONNREFUSED.
INSTANTIATE_TEST_SUITE_P(Trace, Golden,
                         ::testing::Values("Seed.GetpeernameBeforeConnectIsENOTCONN", "Seed.GetpeernameAfterConnect",
                                           "Seed.ConnectedSocketOnlyHearsItsPeer",
                                           "Seed.GatewayPortUnreachableSurfacesOnce"),
                         [](const auto& info) {
                             std::string n = info.param.substr(info.param.find('.') + 1);
                             return n;
                         });

}  // namespace
