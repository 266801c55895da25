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

// The next socket call this thread makes on a traced stack is shown as `call`: the shim's
// read() is the stack's recv(), and its trace should say read.
void trace_call_as(const char* call);

// What a caller did itself with a usnet socket (the shim's dup and epoll), for
// Stack::trace_shim_call.
enum class ShimTrace {
    Dup,        // values: the kernel function, the new descriptor, the old one
    EpollCtl,   // values: the operation, the descriptor, the events
    EpollWait,  // values: the descriptor reported, its events
    CloseRef,   // values: the descriptor closed, how many still name the socket
    PollMixed,  // values: how many usnet and kernel descriptors, the usnet ones' masks
    ReadZero,   // values: (none): a read of 0 bytes takes nothing
};

}  // namespace usnet
