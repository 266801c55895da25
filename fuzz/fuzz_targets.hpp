// Entry points of usnet's fuzz targets. Each fuzz_*.cpp defines one of these; built with
// USNET_FUZZ_ENTRY it also defines LLVMFuzzerTestOneInput (libFuzzer) calling it, and
// without it the function can be driven by an ordinary test (tests/fuzz_smoke_test.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "usnet/counters.hpp"

namespace usnet::fuzz {

// Every wire parser over the same bytes; whatever parses must re-emit consistently.
int wire_one(const uint8_t* data, size_t size);

// data[0] selects how the frame is presented (see fuzz_stack.cpp), data[1..] is an
// Ethernet frame handed to a simulated host's link layer (Link::receive_frame).
int stack_one(const uint8_t* data, size_t size);
// The counters of the host the stack target feeds (so a driver can see what it reached).
const Counters& stack_counters();

// Aborts with a message: the fuzzer reports the input that got here.
[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
    std::fprintf(stderr, "usnet fuzz check failed: %s (%s:%d)\n", what, file, line);
    std::abort();
}

}  // namespace usnet::fuzz

#define USNET_FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) ::usnet::fuzz::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)
