// The keeper path's adaptive busy polling (SpinBudget, src/preload/shim.hpp): a wait whose
// look finds nothing looks half as long next time, down to one look with a full look every
// 16th wait; a look that finds something restores the whole budget.
#include <gtest/gtest.h>

#include "preload/shim.hpp"

namespace {

using usnet::shim::SpinBudget;

// Runs one wait whose answer comes after `arrives_after` looks (never: -1); returns how
// many looks it made.
int wait_once(SpinBudget& sb, usnet::Time budget, int arrives_after) {
    int looks = 0;
    sb.poll(budget, [&] { return ++looks; }, [&](int n) { return arrives_after >= 0 && n > arrives_after; });
    return looks;
}

TEST(SpinBudget, NothingFoundHalvesTheLookDownToOneAndFindingRestoresIt) {
    SpinBudget sb;
    const usnet::Time full = 200 * usnet::kUs;
    // The first waits find nothing: each looks for about half as long as the last.
    const auto t0 = std::chrono::steady_clock::now();
    wait_once(sb, full, -1);
    const auto first = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(first, std::chrono::microseconds(200));
    int waits = 1;
    while (wait_once(sb, full, -1) > 1) ++waits;
    EXPECT_GE(waits, 10);  // 200 us halved to below one look takes a dozen or so waits
    EXPECT_LE(waits, 40);
    // Now a single look, except every 16th wait, which looks the whole budget again.
    int full_looks = 0;
    for (int i = 0; i < 32; ++i) full_looks += wait_once(sb, full, -1) > 1;
    EXPECT_EQ(full_looks, 2);
    // A full look that finds the answer restores the budget for the waits after it.
    for (int i = 0; i < 16 && wait_once(sb, full, 3) != 4; ++i) {
    }
    EXPECT_EQ(wait_once(sb, full, 5), 6);
    EXPECT_EQ(wait_once(sb, full, 50), 51);
}

}  // namespace
