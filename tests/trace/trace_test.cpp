// Tracing: every Linux name a trace can print is in docs/linux-names.txt; the filters; the
// C API; what a trace says about a call that fails; one thread's trees kept whole while
// another thread's call blocks.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <mutex>
#include <thread>

#include "../sim_helpers.hpp"
#include "core/trace.hpp"
#include "usnet/usnet.h"

using namespace usnet;
using namespace usnet::test;

namespace {

std::set<std::string> listed_names() {
    std::ifstream in(std::string(USNET_SOURCE_DIR) + "/docs/linux-names.txt");
    std::set<std::string> names;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        names.insert(line.substr(0, line.find_first_of(" \t")));
    }
    return names;
}

// The backticked names of a template, but for `{}` (a name given at run time).
std::vector<std::string> template_names(const std::string& t) {
    std::vector<std::string> out;
    for (size_t a = t.find('`'); a != std::string::npos; a = t.find('`', a + 1)) {
        const size_t b = t.find('`', a + 1);
        if (b == std::string::npos) {
            out.push_back("<unbalanced backtick>");
            break;
        }
        if (t.substr(a + 1, b - a - 1) != "{}") out.push_back(t.substr(a + 1, b - a - 1));
        a = b;
    }
    return out;
}

TEST(TraceNames, EveryNameOfEveryTracePointIsListed) {
    const auto names = listed_names();
    ASSERT_GT(names.size(), 200u) << "docs/linux-names.txt not found or empty";
    size_t checked = 0;
    for (size_t i = 0; i < trace::kPointCount; ++i) {
        const auto& p = trace::point(trace::P(i));
        for (const auto& n : template_names(p.tmpl)) {
            EXPECT_TRUE(names.count(n)) << "trace point " << p.id << " names `" << n << "`, which docs/linux-names.txt does not list";
            ++checked;
        }
    }
    EXPECT_GT(checked, 250u);
    // The names given at run time: entry functions, protocol handlers, the errno table's rules.
    for (const auto& n : trace::name_args())
        EXPECT_TRUE(names.count(n)) << "`" << n << "` reaches a trace at run time but docs/linux-names.txt does not list it";
}

TEST(TraceNames, TemplatesTakeTheirArguments) {
    // Each {} is filled in order; a template with a stray brace would print it.
    for (size_t i = 0; i < trace::kPointCount; ++i) {
        const std::string t = trace::point(trace::P(i)).tmpl;
        for (size_t k = 0; k < t.size(); ++k)
            if (t[k] == '{' || t[k] == '}') {
                const bool pair = (t[k] == '{' && k + 1 < t.size() && t[k + 1] == '}') || (t[k] == '}' && k > 0 && t[k - 1] == '{');
                EXPECT_TRUE(pair) << trace::point(trace::P(i)).id << ": " << t;
            }
    }
}

TEST(TraceNames, AnUnlistedNameAtRunTimeIsMarked) {
    // A handler name that is not a Linux name shows up as such rather than passing quietly.
    auto w = sim::make_default_world(1);
    std::string out;
    w.host->set_tracer([&](const std::string& t) { out += t; });
    trace::Tracer* tr = w.host->impl().tracer;
    tr->begin_event("test");
    tr->step(trace::P::RecvOps, {"udp_recvmsg", "not_a_kernel_table"});
    tr->end_event();
    EXPECT_NE(out.find("<unlisted name: not_a_kernel_table>"), std::string::npos) << out;
    EXPECT_NE(out.find("recvmsg = udp_recvmsg [<unlisted"), std::string::npos) << out;
}

struct Traced {
    sim::DefaultWorld w = sim::make_default_world(1);
    std::vector<std::string> trees;
    explicit Traced(TraceOptions o = {}) {
        w.host->set_tracer([this](const std::string& t) { trees.push_back(t); }, std::move(o));
    }
    Stack& h() { return *w.host; }
    std::string all() const {
        std::string s;
        for (const auto& t : trees) s += t;
        return s;
    }
};

TEST(Trace, OffByDefaultAndOffAgain) {
    auto w = sim::make_default_world(1);
    EXPECT_FALSE(w.host->tracing());
    std::vector<std::string> trees;
    w.host->set_tracer([&](const std::string& t) { trees.push_back(t); });
    EXPECT_TRUE(w.host->tracing());
    w.host->socket(AF_INET, SOCK_DGRAM, 0);
    w.host->set_tracer(nullptr);
    EXPECT_FALSE(w.host->tracing());
    w.host->socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(trees.size(), 1u);
    EXPECT_EQ(trees[0].substr(0, trees[0].find('\n')), "socket(AF_INET, SOCK_DGRAM, 0) = 3");
}

TEST(Trace, GetpeernameBeforeConnectIsTheSeedNotesPath) {
    Traced t;
    const int s = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    socklen_t l = sizeof a;
    ASSERT_EQ(t.h().getpeername(s, sa(a), &l), -1);
    EXPECT_EQ(t.trees.back(),
              "getpeername(3) = -1 ENOTCONN\n"
              "  __sys_getpeername -> sockfd_lookup_light(3): UDP socket\n"
              "  sock->ops->getname = inet_getname [inet_dgram_ops], peer=1\n"
              "    inet->inet_dport == 0 (no peer: sendto does not set one; connect does) -> -ENOTCONN\n");
}

TEST(Trace, AFailureWithoutItsOwnStepNamesTheRule) {
    Traced t;
    const int s = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = sin4(Ip4(10, 0, 2, 2), 9);
    ASSERT_EQ(t.h().connect(s, sa(a), 8), -1);  // too short: the generic rule says why
    const std::string& tree = t.trees.back();
    EXPECT_EQ(tree.substr(0, tree.find('\n')), "connect(3, 10.0.2.2:9, len 8) = -1 EINVAL");
    EXPECT_NE(tree.find(std::string(rule_of(Err::AddrLen)) + " -> -EINVAL: " + reason_of(Err::AddrLen)), std::string::npos) << tree;
    // Exactly one line gives the errno.
    EXPECT_EQ(std::count(tree.begin(), tree.end(), '\n'), 6) << tree;
}

TEST(Trace, BadDescriptor) {
    Traced t;
    EXPECT_EQ(t.h().close(42), -1);
    EXPECT_EQ(t.trees.back(), "close(42) = -1 EBADF\n  close_fd -> sockfd_lookup_light(42): no socket with that descriptor -> -EBADF\n");
}

TEST(Trace, FilterByCall) {
    TraceOptions o;
    o.calls = {"connect", "getpeername"};
    Traced t(o);
    const int s = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = sin4(Ip4(10, 0, 2, 2), 53);
    ASSERT_EQ(t.h().connect(s, sa(a), sizeof a), 0);
    ASSERT_EQ(t.h().send(s, "x", 1, 0), 1);
    socklen_t l = sizeof a;
    ASSERT_EQ(t.h().getpeername(s, sa(a), &l), 0);
    ASSERT_EQ(t.trees.size(), 2u) << t.all();  // no socket, no send, no frames arriving
    EXPECT_EQ(t.trees[0].substr(0, 26), "connect(3, 10.0.2.2:53) = ");
    EXPECT_EQ(t.trees[1].substr(0, 30), "getpeername(3) = 0 (10.0.2.2:5");
}

TEST(Trace, FilterByDescriptorAsShown) {
    TraceOptions o;
    o.fds = {104};
    o.shown_fd = [](int fd) { return fd + 100; };  // as the shim shows its real descriptors
    Traced t(o);
    const int a = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    const int b = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(b, 4);
    t.h().close(a);
    t.h().close(b);
    ASSERT_EQ(t.trees.size(), 2u) << t.all();
    EXPECT_EQ(t.trees[0].substr(0, t.trees[0].find('\n')), "socket(AF_INET, SOCK_DGRAM, 0) = 104");
    EXPECT_NE(t.trees[0].find("sock_map_fd -> descriptor 104"), std::string::npos) << t.trees[0];
    EXPECT_EQ(t.trees[1].substr(0, t.trees[1].find('\n')), "close(104) = 0");
}

TEST(Trace, ErrorsOnly) {
    TraceOptions o;
    o.errors_only = true;
    Traced t(o);
    const int s = t.h().socket(AF_INET, SOCK_DGRAM, 0);
    char b[4];
    EXPECT_EQ(t.h().recv(s, b, sizeof b, MSG_DONTWAIT), -1);
    sockaddr_in a = sin4(Ip4(127, 0, 0, 1), 9000);
    EXPECT_EQ(t.h().bind(s, sa(a), sizeof a), 0);
    ASSERT_EQ(t.trees.size(), 1u) << t.all();
    EXPECT_EQ(t.trees[0].substr(0, t.trees[0].find('\n')), "recv(3, 4, MSG_DONTWAIT) = -1 EAGAIN");
}

TEST(Trace, InboundOnAndOff) {
    for (bool inbound : {true, false}) {
        TraceOptions o;
        o.inbound = inbound;
        Traced t(o);
        const int s = t.h().socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a = sin4(Ip4(127, 0, 0, 1), 9000);
        ASSERT_EQ(t.h().bind(s, sa(a), sizeof a), 0);
        ASSERT_EQ(t.h().sendto(s, "x", 1, 0, sa(a), sizeof a), 1);
        const std::string send = t.trees.back();
        // The looped-back datagram is delivered inside the call, and traced there.
        EXPECT_EQ(send.find("lo delivers 29 bytes (softirq)") != std::string::npos, inbound) << send;
        EXPECT_EQ(send.find("__udp_enqueue_schedule_skb(fd 3): rmem 0 + truesize 832 <= rcvbuf 212992") != std::string::npos, inbound)
            << send;
        // A frame from the wire outside any call is a tree of its own.
        const size_t before = t.trees.size();
        sockaddr_in g = sin4(Ip4(10, 0, 2, 2), 9);
        const int gs = t.w.gateway->socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in h = sin4(Ip4(10, 0, 2, 15), 9000);
        ASSERT_EQ(t.w.gateway->bind(gs, sa(g), sizeof g), 0);
        ASSERT_EQ(t.w.gateway->sendto(gs, "y", 1, 0, sa(h), sizeof h), 1);
        t.w.net->run_for(10 * kMs);
        bool frame_tree = false;
        for (size_t i = before; i < t.trees.size(); ++i) frame_tree = frame_tree || t.trees[i].rfind("eth0 receives a frame", 0) == 0;
        EXPECT_EQ(frame_tree, inbound) << t.all();
    }
}

TEST(Trace, PeerFilterDropShowsTheScores) {
    Traced t;
    Stack& h = t.h();
    const int r = h.socket(AF_INET, SOCK_DGRAM, 0), b = h.socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in ra = sin4(Ip4(127, 0, 0, 1), 5000), peer = sin4(Ip4(127, 0, 0, 1), 5001), ba = sin4(Ip4(127, 0, 0, 1), 5002);
    ASSERT_EQ(h.bind(r, sa(ra), sizeof ra), 0);
    ASSERT_EQ(h.bind(b, sa(ba), sizeof ba), 0);
    ASSERT_EQ(h.connect(r, sa(peer), sizeof peer), 0);
    ASSERT_EQ(h.sendto(b, "x", 1, 0, sa(ra), sizeof ra), 1);
    const std::string& tree = t.trees.back();
    EXPECT_NE(tree.find("fd 3 (127.0.0.1:5000 connected to 127.0.0.1:5001): compute_score = -1 (its peer port 5001 is not the sender's 5002)"),
              std::string::npos)
        << tree;
    EXPECT_NE(tree.find("no socket: UDP_MIB_NOPORTS -> icmp_send(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)"), std::string::npos) << tree;
}

TEST(Trace, TreesOfOneThreadStayWholeWhileAnotherBlocks) {
    auto w = sim::make_default_world(1);
    usnet::CallLock mu;
    w.net->set_realtime(&mu);
    std::vector<std::string> trees;
    w.host->set_tracer([&](const std::string& t) { trees.push_back(t); });
    int s, o;
    {
        std::lock_guard<usnet::CallLock> g(mu);
        s = w.host->socket(AF_INET, SOCK_DGRAM, 0);
        o = w.host->socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a = sin4(Ip4(127, 0, 0, 1), 9100);
        ASSERT_EQ(w.host->bind(s, sa(a), sizeof a), 0);
    }
    std::thread reader([&] {
        std::lock_guard<usnet::CallLock> g(mu);
        char b[8];
        EXPECT_EQ(w.host->recv(s, b, sizeof b, 0), 2);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    {
        std::lock_guard<usnet::CallLock> g(mu);
        sockaddr_in a = sin4(Ip4(127, 0, 0, 1), 9100);
        ASSERT_EQ(w.host->sendto(o, "hi", 2, 0, sa(a), sizeof a), 2);
    }
    reader.join();
    std::lock_guard<usnet::CallLock> g(mu);
    // Each tree is one call's: the send's does not land inside the blocked recv's.
    int recv_trees = 0, send_trees = 0;
    for (const auto& t : trees) {
        if (t.rfind("recv(3, 8, 0) = 2\n", 0) == 0) {
            ++recv_trees;
            EXPECT_EQ(t.find("sendto("), std::string::npos) << t;
            EXPECT_NE(t.find("__skb_wait_for_more_packets: waiting (no timeout)"), std::string::npos) << t;
            EXPECT_NE(t.find("woken: a datagram arrived"), std::string::npos) << t;
        }
        if (t.rfind("sendto(4, 2 bytes, 0, 127.0.0.1:9100) = 2\n", 0) == 0) ++send_trees;
    }
    EXPECT_EQ(recv_trees, 1);
    EXPECT_EQ(send_trees, 1);
}

TEST(Trace, CApi) {
    usnet_world* w = usnet_world_new_default(1);
    usnet_stack* h = usnet_world_host(w);
    usnet_use(h);
    std::string out;
    auto cb = [](const char* tree, void* user) { *static_cast<std::string*>(user) += tree; };
    errno = 0;
    EXPECT_EQ(usnet_set_tracer(h, cb, &out, "connect,nosuchcall", -1, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    ASSERT_EQ(usnet_set_tracer(h, cb, &out, "getpeername", -1, USNET_TRACE_ERRORS_ONLY), 0);
    const int s = usnet_socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    socklen_t l = sizeof a;
    EXPECT_EQ(usnet_getpeername(s, sa(a), &l), -1);
    EXPECT_EQ(out.substr(0, out.find('\n')), "getpeername(3) = -1 ENOTCONN");
    ASSERT_EQ(usnet_set_tracer(h, nullptr, nullptr, nullptr, -1, 0), 0);
    out.clear();
    EXPECT_EQ(usnet_getpeername(s, sa(a), &l), -1);
    EXPECT_TRUE(out.empty());
    usnet_world_free(w);
}

}  // namespace
