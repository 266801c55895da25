// The differential suite through the shim: each scenario is executed by a real,
// dynamically linked program (usnet_scenario_runner) under `usnet run`, and its trace is
// compared with the kernel's. One CTest test per scenario, labelled `shim`.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace {

std::vector<std::string> run_through_shim(const std::string& name, std::string* err) {
    const std::string cmd = std::string(USNET_CLI) + " run -- " + USNET_SCENARIO_RUNNER + " " + name + " 2>&1";
    std::vector<std::string> lines;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        *err = "popen failed";
        return lines;
    }
    char buf[4096];
    std::string all;
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) all.append(buf, n);
    const int st = pclose(p);
    if (st != 0) *err = "runner exited with status " + std::to_string(st) + ": " + all;
    std::istringstream in(all);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

class ShimScenario : public ::testing::Test {
public:
    explicit ShimScenario(const conformance::Scenario& s) : s_(s) {}
    void TestBody() override {
        std::string err;
        const auto shim = run_through_shim(s_.suite + "." + s_.name, &err);
        ASSERT_TRUE(err.empty()) << err;
        if (shim.size() == 1 && shim[0] == "UNSUPPORTED")
            GTEST_SKIP() << "needs the gateway host or `ip`, which a program under usnet run cannot reach";
        std::vector<std::string> kernel;
        std::string why;
        if (!conformance::run_on_kernel(s_, &kernel, &why)) GTEST_SKIP() << "kernel side cannot run: " << why;
        if (shim == kernel) return;
        std::ostringstream o;
        for (size_t i = 0; i < std::max(shim.size(), kernel.size()); ++i) {
            const std::string k = i < kernel.size() ? kernel[i] : "(none)";
            const std::string u = i < shim.size() ? shim[i] : "(none)";
            o << (k == u ? "   " : "!! ") << "kernel: " << k << "\n";
            if (k != u) o << "!! shim:   " << u << "\n";
        }
        ADD_FAILURE() << "usnet (through the shim) differs from the kernel:\n" << o.str();
    }

private:
    const conformance::Scenario& s_;
};

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    for (const auto& s : conformance::registry()) {
        ::testing::RegisterTest(("Shim_" + s.suite).c_str(), s.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                                [&s]() -> ::testing::Test* { return new ShimScenario(s); });
    }
    return RUN_ALL_TESTS();
}
