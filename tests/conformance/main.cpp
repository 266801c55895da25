// One GoogleTest test per scenario; CTest sees each as its own test labelled conformance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "harness.hpp"

namespace {

class ScenarioTest : public ::testing::Test {
public:
    explicit ScenarioTest(const conformance::Scenario& s) : s_(s) {}
    void TestBody() override {
        std::vector<std::string> usnet_trace, kernel_trace;
        conformance::run_on_usnet(s_, &usnet_trace);
        std::string why;
        if (!conformance::run_on_kernel(s_, &kernel_trace, &why)) GTEST_SKIP() << "kernel side cannot run: " << why;
        const bool show = std::getenv("USNET_CONFORMANCE_SHOW") != nullptr;
        if (usnet_trace == kernel_trace && !show) return;
        std::ostringstream o;
        const size_t n = std::max(usnet_trace.size(), kernel_trace.size());
        for (size_t i = 0; i < n; ++i) {
            const std::string k = i < kernel_trace.size() ? kernel_trace[i] : "(none)";
            const std::string u = i < usnet_trace.size() ? usnet_trace[i] : "(none)";
            o << (k == u ? "   " : "!! ") << "kernel: " << k << "\n";
            if (k != u) o << "!! usnet:  " << u << "\n";
        }
        if (usnet_trace != kernel_trace) ADD_FAILURE() << "usnet differs from the kernel:\n" << o.str();
        else std::cout << o.str();
    }

private:
    const conformance::Scenario& s_;
};

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    for (const auto& s : conformance::registry()) {
        ::testing::RegisterTest(s.suite.c_str(), s.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                                [&s]() -> ::testing::Test* { return new ScenarioTest(s); });
    }
    return RUN_ALL_TESTS();
}
