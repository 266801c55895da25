// The classic BPF checker and interpreter (src/socket/filter.cpp) on their own: the limits
// the kernel's checker draws, netlink attribute searches, and random programs over random
// datagrams (whatever the checker accepts runs without reading outside the datagram; the
// sanitizer build would catch it).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "socket/filter.hpp"

using namespace usnet::sock;

namespace {

sock_filter S(uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) { return sock_filter{code, jt, jf, k}; }

FilterInput over(const std::vector<uint8_t>& bytes, size_t net_len = 0) {
    FilterInput in;
    in.net = bytes.data();
    in.data = bytes.data() + net_len;
    in.len = uint32_t(bytes.size() - net_len);
    return in;
}

}  // namespace

TEST(Filter, LengthLimits) {
    std::vector<sock_filter> p(BPF_MAXINSNS, S(BPF_LD | BPF_IMM, 1));
    p.back() = S(BPF_RET | BPF_A, 0);
    EXPECT_TRUE(filter_valid(p.data(), p.size()));
    p.insert(p.begin(), S(BPF_LD | BPF_IMM, 1));
    EXPECT_FALSE(filter_valid(p.data(), p.size()));  // 4097 instructions
    EXPECT_FALSE(filter_valid(p.data(), 0));
    EXPECT_FALSE(filter_valid(nullptr, 1));
}

TEST(Filter, JumpsMustLandInside) {
    // ja k is valid while k < len - 1 - pc.
    const std::vector<sock_filter> ok{S(BPF_JMP | BPF_JA, 1), S(BPF_RET | BPF_K, 1), S(BPF_RET | BPF_K, 2)};
    EXPECT_TRUE(filter_valid(ok.data(), ok.size()));
    EXPECT_EQ(filter_run(ok, FilterInput{}), 2u);
    const std::vector<sock_filter> bad{S(BPF_JMP | BPF_JA, 2), S(BPF_RET | BPF_K, 1), S(BPF_RET | BPF_K, 2)};
    EXPECT_FALSE(filter_valid(bad.data(), bad.size()));
}

TEST(Filter, ScratchWordsFollowEveryPath) {
    // Stored on both branches: valid. On one only: refused.
    const std::vector<sock_filter> both{S(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2), S(BPF_ST, 1), S(BPF_JMP | BPF_JA, 1),
                                        S(BPF_ST, 1), S(BPF_LD | BPF_MEM, 1), S(BPF_RET | BPF_A, 0)};
    EXPECT_TRUE(filter_valid(both.data(), both.size()));
    const std::vector<sock_filter> one{S(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2), S(BPF_ST, 1), S(BPF_JMP | BPF_JA, 1),
                                       S(BPF_ST, 2), S(BPF_LD | BPF_MEM, 1), S(BPF_RET | BPF_A, 0)};
    EXPECT_FALSE(filter_valid(one.data(), one.size()));
}

TEST(Filter, NetlinkAttributeSearch) {
    // Two attributes at offset 4 of the datagram: (len 8, type 3), then a nest (len 12,
    // type 7) holding (len 8, type 5).
    std::vector<uint8_t> d(4, 0);
    auto attr = [&](uint16_t len, uint16_t type) {
        d.push_back(uint8_t(len));
        d.push_back(uint8_t(len >> 8));
        d.push_back(uint8_t(type));
        d.push_back(uint8_t(type >> 8));
    };
    attr(8, 3);
    d.insert(d.end(), 4, 0xaa);
    attr(12, 7);
    attr(8, 5);
    d.insert(d.end(), 4, 0xbb);
    auto find = [&](uint32_t anc, uint32_t a, uint32_t x) {
        const std::vector<sock_filter> p{S(BPF_LD | BPF_IMM, a), S(BPF_LDX | BPF_IMM, x),
                                         S(BPF_LD | BPF_W | BPF_ABS, uint32_t(SKF_AD_OFF) + anc), S(BPF_RET | BPF_A, 0)};
        EXPECT_TRUE(filter_valid(p.data(), p.size()));
        return filter_run(p, over(d));
    };
    EXPECT_EQ(find(SKF_AD_NLATTR, 4, 3), 4u);
    EXPECT_EQ(find(SKF_AD_NLATTR, 4, 7), 12u);
    EXPECT_EQ(find(SKF_AD_NLATTR, 4, 5), 0u);        // nested: not at the top level
    EXPECT_EQ(find(SKF_AD_NLATTR_NEST, 12, 5), 16u);  // inside the nest at 12
    EXPECT_EQ(find(SKF_AD_NLATTR, 1000, 3), 0u);      // A past the end
}

TEST(Filter, LoadsOutsideTheDatagramEndTheProgram) {
    const std::vector<uint8_t> d(28, 7);  // a 20-byte "IP header" and 8 bytes of datagram
    const std::vector<sock_filter> w{S(BPF_LD | BPF_W | BPF_ABS, 5), S(BPF_RET | BPF_K, 99)};
    EXPECT_EQ(filter_run(w, over(d, 20)), 0u);  // bytes 5..8 of 8
    const std::vector<sock_filter> h{S(BPF_LD | BPF_H | BPF_ABS, 6), S(BPF_RET | BPF_K, 99)};
    EXPECT_EQ(filter_run(h, over(d, 20)), 99u);
    const std::vector<sock_filter> net{S(BPF_LD | BPF_W | BPF_ABS, uint32_t(SKF_NET_OFF + 24)), S(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(filter_run(net, over(d, 20)), 0x07070707u);
    const std::vector<sock_filter> net_past{S(BPF_LD | BPF_W | BPF_ABS, uint32_t(SKF_NET_OFF + 25)), S(BPF_RET | BPF_K, 1)};
    EXPECT_EQ(filter_run(net_past, over(d, 20)), 0u);
    const std::vector<sock_filter> no_mac{S(BPF_LD | BPF_B | BPF_ABS, uint32_t(SKF_LL_OFF)), S(BPF_RET | BPF_K, 1)};
    EXPECT_EQ(filter_run(no_mac, over(d, 20)), 0u);
}

TEST(Filter, RandomProgramsStayInsideTheDatagram) {
    std::mt19937 rng(7);
    static const uint16_t codes[] = {
        BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS, BPF_LD | BPF_W | BPF_IND,
        BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND, BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM,
        BPF_LD | BPF_MEM, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
        BPF_ALU | BPF_ADD | BPF_X, BPF_ALU | BPF_DIV | BPF_X, BPF_ALU | BPF_MOD | BPF_X, BPF_ALU | BPF_LSH | BPF_X,
        BPF_ALU | BPF_NEG, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_JMP | BPF_JA, BPF_JMP | BPF_JGT | BPF_X,
        BPF_JMP | BPF_JSET | BPF_K, BPF_RET | BPF_A, BPF_RET | BPF_K};
    const uint32_t ks[] = {0, 1, 2, 3, 8, 15, 20, 100, 0xffffffff, uint32_t(SKF_NET_OFF), uint32_t(SKF_NET_OFF + 9),
                           uint32_t(SKF_LL_OFF), uint32_t(SKF_LL_OFF + 12), uint32_t(SKF_AD_OFF),
                           uint32_t(SKF_AD_OFF + SKF_AD_NLATTR), uint32_t(SKF_AD_OFF + SKF_AD_NLATTR_NEST),
                           uint32_t(SKF_AD_OFF + SKF_AD_RANDOM)};
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::vector<sock_filter> p(1 + rng() % 12);
        for (auto& in : p) {
            in.code = codes[rng() % std::size(codes)];
            in.k = ks[rng() % std::size(ks)] ^ ((rng() & 1) ? 0 : rng() % 4);
            in.jt = uint8_t(rng() % 4);
            in.jf = uint8_t(rng() % 4);
        }
        if (!filter_valid(p.data(), p.size())) continue;
        ++accepted;
        std::vector<uint8_t> buf(34 + rng() % 64);  // 14 link + 20 net + datagram
        for (auto& b : buf) b = uint8_t(rng());
        FilterInput in;
        in.mac = buf.data();
        in.net = buf.data() + 14;
        in.data = buf.data() + 34;
        in.len = uint32_t(buf.size() - 34);
        in.mac_len = uint32_t(buf.size());
        (void)filter_run(p, in);
    }
    EXPECT_GT(accepted, 500);  // the checker let enough through to exercise the interpreter
}
