// The differential suite through the shim: each scenario is executed by a real,
// dynamically linked program (usnet_scenario_runner) under `usnet run`, and its trace is
// compared with the kernel's. One CTest test per scenario, labelled `shim`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include <cstdio>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace {

// A `usnet switch` without a gateway of its own, for as long as it is in scope: the
// scenario runner attaches the gateway host to it (see shim_runner.cpp).
class Switch {
public:
    Switch() {
        char tmpl[] = "/tmp/usnet-shim-conformance-XXXXXX";
        if (!mkdtemp(tmpl)) return;
        dir_ = tmpl;
        path = dir_ + "/switch.sock";
        const std::string cli = USNET_CLI;
        const char* argv[] = {cli.c_str(), "switch", "--socket", path.c_str(), "--gateway", "none", nullptr};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        if (posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 200 && access(path.c_str(), F_OK) != 0; ++i) usleep(10 * 1000);
    }
    ~Switch() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
        }
        if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
    }
    std::string path;

private:
    std::string dir_;
    pid_t pid_ = -1;
};

std::vector<std::string> run_through_shim(const std::string& name, std::string* err, const Switch* sw = nullptr) {
    const std::string world = sw ? "USNET_GATEWAY_SWITCH=" + sw->path + " " : "";
    const std::string flags = sw ? " --switch " + sw->path + " --addr 10.0.2.15/24 --gateway 10.0.2.2" : "";
    // The program runs in a network namespace of its own: what it asks of the kernel (a
    // scenario's kernel-owned socket, an interface ioctl the shim should have answered)
    // can never reach this machine's interfaces. (Without the privilege for that, such
    // calls could not change them either.)
    static const bool own_ns = std::system("unshare -n true >/dev/null 2>&1") == 0;
    const std::string cmd = world + (own_ns ? "unshare -n " : "") + USNET_CLI + " run" + flags + " -- " +
                            USNET_SCENARIO_RUNNER + " " + name + " 2>&1";
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
        auto shim = run_through_shim(s_.suite + "." + s_.name, &err);
        ASSERT_TRUE(err.empty()) << err;
        std::unique_ptr<Switch> sw;
        if (shim.size() == 1 && shim[0] == "UNSUPPORTED") {
            // It needs the gateway host: again on a switch, with the gateway attached to it.
            sw = std::make_unique<Switch>();
            shim = run_through_shim(s_.suite + "." + s_.name, &err, sw.get());
            ASSERT_TRUE(err.empty()) << err;
        }
        ASSERT_FALSE(shim.size() == 1 && shim[0] == "UNSUPPORTED") << "the runner could not run it even on a switch";
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
