#pragma once
#include <string>

namespace usnet::cli {

int run_demo();

struct BenchOptions {
    std::string what = "loopback";
    bool json = false;
    double seconds = 1.0;
};
int run_bench(const BenchOptions& o);

}  // namespace usnet::cli
