// Sequences the random differential search found different once (tests/conformance/
// regressions/*.ops, written by usnet_diffsearch --save), replayed as scenarios
// Regress.<file name>, so a difference fixed stays fixed.
#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness.hpp"
#include "ops.hpp"

namespace {

struct LoadRegressions {
    LoadRegressions() {
        std::vector<std::string> names;
        if (DIR* d = opendir(USNET_REGRESSIONS_DIR)) {
            while (const dirent* e = readdir(d)) {
                const std::string n = e->d_name;
                if (n.size() > 4 && n.compare(n.size() - 4, 4, ".ops") == 0) names.push_back(n);
            }
            closedir(d);
        }
        std::sort(names.begin(), names.end());
        for (const auto& n : names) {
            conformance::Ops ops;
            if (!conformance::read_ops_file(std::string(USNET_REGRESSIONS_DIR) + "/" + n, &ops)) continue;
            std::string id = n.substr(0, n.size() - 4);
            std::replace(id.begin(), id.end(), '-', '_');
            conformance::registry().push_back(conformance::ops_scenario("Regress", id, std::move(ops)));
        }
    }
} load_regressions;

}  // namespace
