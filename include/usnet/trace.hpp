// Tracing: for every socket call, the path it took through the stack, in the kernel's own
// terms (the Linux functions and dispatch tables each step reproduces, the decisions and
// the values that decided them), as one indented tree per call. Datagrams, ARP and ICMP
// arriving, and timers firing, get trees of their own. See docs/trace.md.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace usnet {

struct TraceOptions {
    std::vector<std::string> calls;  // only these calls (e.g. "connect", "getpeername"); empty: all
    std::vector<int> fds;            // only calls on these descriptors (as shown); empty: all
    bool errors_only = false;        // only calls that fail
    bool inbound = true;             // trees for frames arriving and timers (and their parts inside calls)
    // The number a caller knows a descriptor by (the shim's real descriptor); identity if unset.
    std::function<int(int)> shown_fd;
};

// Receives each finished tree: its first line is the call and its result, e.g.
// "getpeername(3) = -1 ENOTCONN", then one indented line per step; ends with a newline.
using TraceSink = std::function<void(const std::string& tree)>;

// The socket calls a trace can be restricted to (TraceOptions::calls).
const std::vector<std::string>& trace_call_names();

}  // namespace usnet
