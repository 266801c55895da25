#pragma once
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
int run_program(const std::vector<std::string>& args, const char* argv0);

struct BenchOptions {
    std::string what = "loopback";
    bool json = false;
    double seconds = 1.0;
};
int run_bench(const BenchOptions& o);

}  // namespace usnet::cli
