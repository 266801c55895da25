#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace usnet::cli {

int run_demo();
// `usnet run`: exec the program with libusnet-preload.so preloaded (returns only on failure).
// `usnet explain ERRNO CALL` / `usnet explain --markdown`.
int run_explain(const std::vector<std::string>& args);
std::string errors_markdown();
// `usnet stat PID`.
int run_stat(const std::vector<std::string>& args);
// `usnet ip PID ARGS...`.
int run_ip(const std::vector<std::string>& args);
// usnet's files found next to the running binary (build or install tree); "" if absent.
std::string find_beside(const std::string& file);
std::string find_preload();
int run_program(const std::vector<std::string>& args, const char* argv0);
int supervise(const std::vector<std::string>& args);  // `usnet __supervise`: a static program under usnet run

struct BenchOptions {
    std::string what = "loopback";
    bool json = false;
    double seconds = 1.0;
};
int run_bench(const BenchOptions& o);
int bench_pingpong(const BenchOptions& o);
int bench_tap(const BenchOptions& o);

struct SwitchCliOptions {
    std::string socket;
    std::string pcap;
    std::string gateway = "10.0.2.2/24";
    double delay_us = 0, jitter_us = 0;
    double loss = 0, duplicate = 0, reorder = 0;
    uint64_t seed = 1;
    std::vector<std::string> uplinks;
};
// `usnet switch`: serves until SIGINT or SIGTERM.
int run_switch(const SwitchCliOptions& o);

}  // namespace usnet::cli
