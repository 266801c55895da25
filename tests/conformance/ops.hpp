// Random call sequences for the differential search: a sequence is a list of operations in
// a small text language ("sendto 1 10.0.2.2:9 100 DONTWAIT"), generated from a seed, run
// through the scenario API (so it is traced and compared exactly like a hand-written
// scenario), shrunk when it shows a difference, and kept as a regression scenario
// (tests/conformance/regressions/*.ops).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"

namespace conformance {

// One operation: a verb and its arguments, as one line of text.
using Op = std::string;
using Ops = std::vector<Op>;

// The sequence for a seed: 4 to 28 operations over up to four sockets (slots 0..3), UDP and
// ping, valid and hostile arguments, traffic to this host, the gateway, broadcast and
// multicast, pauses that let ICMP and ARP complete.
Ops generate_ops(uint64_t seed);

// Runs the operations through t. An operation on a slot without a socket uses a
// descriptor that is never open (EBADF on both sides). Returns false, with why, for a line
// it does not understand.
bool run_ops(T& t, const Ops& ops, std::string* why = nullptr);

// A scenario that runs ops.
Scenario ops_scenario(const std::string& suite, const std::string& name, Ops ops);

// The regression files: "# comment" lines, then one operation a line.
bool read_ops_file(const std::string& path, Ops* ops);
std::string ops_text(const Ops& ops);

}  // namespace conformance
