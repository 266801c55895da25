// The operation language of the differential search: generation from a seed, and the
// interpreter that runs a sequence through the scenario API.
#include "ops.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>

#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace conformance {

namespace {

// ---------------------------------------------------------------- names and values

struct Named {
    const char* name;
    long value;
};

const Named kLevels[] = {{"SOL_SOCKET", SOL_SOCKET}, {"SOL_IP", SOL_IP}, {"SOL_UDP", SOL_UDP}, {"SOL_TCP", 6}, {"SOL_RAW", 255}};

const Named kOptNames[] = {
    {"SO_REUSEADDR", SO_REUSEADDR},     {"SO_REUSEPORT", SO_REUSEPORT},   {"SO_BROADCAST", SO_BROADCAST},
    {"SO_RCVBUF", SO_RCVBUF},           {"SO_SNDBUF", SO_SNDBUF},         {"SO_PRIORITY", SO_PRIORITY},
    {"SO_NO_CHECK", SO_NO_CHECK},       {"SO_DONTROUTE", SO_DONTROUTE},   {"SO_KEEPALIVE", SO_KEEPALIVE},
    {"SO_RCVLOWAT", SO_RCVLOWAT},       {"SO_RXQ_OVFL", SO_RXQ_OVFL},     {"SO_BINDTODEVICE", SO_BINDTODEVICE},
    {"SO_LINGER", SO_LINGER},           {"SO_TYPE", SO_TYPE},             {"SO_ERROR", SO_ERROR},
    {"SO_PROTOCOL", SO_PROTOCOL},       {"SO_DOMAIN", SO_DOMAIN},         {"SO_ACCEPTCONN", SO_ACCEPTCONN},
    {"SO_OOBINLINE", SO_OOBINLINE},     {"SO_DEBUG", SO_DEBUG},           {"SO_MARK", SO_MARK},
    {"SO_PASSCRED", SO_PASSCRED},       {"SO_SNDLOWAT", SO_SNDLOWAT},     {"SO_BINDTOIFINDEX", SO_BINDTOIFINDEX},
    {"IP_TTL", IP_TTL},                 {"IP_TOS", IP_TOS},               {"IP_RECVERR", IP_RECVERR},
    {"IP_PKTINFO", IP_PKTINFO},         {"IP_RECVTTL", IP_RECVTTL},       {"IP_RECVTOS", IP_RECVTOS},
    {"IP_MTU_DISCOVER", IP_MTU_DISCOVER}, {"IP_MULTICAST_TTL", IP_MULTICAST_TTL}, {"IP_MULTICAST_LOOP", IP_MULTICAST_LOOP},
    {"IP_MULTICAST_ALL", IP_MULTICAST_ALL}, {"IP_FREEBIND", IP_FREEBIND}, {"IP_BIND_ADDRESS_NO_PORT", IP_BIND_ADDRESS_NO_PORT},
    {"IP_RECVORIGDSTADDR", IP_RECVORIGDSTADDR}, {"IP_HDRINCL", IP_HDRINCL}, {"IP_OPTIONS", IP_OPTIONS},
    {"IP_MULTICAST_IF", IP_MULTICAST_IF}, {"IP_ADD_MEMBERSHIP", IP_ADD_MEMBERSHIP}, {"IP_DROP_MEMBERSHIP", IP_DROP_MEMBERSHIP},
    {"IP_MTU", IP_MTU},                 {"IP_TRANSPARENT", IP_TRANSPARENT}, {"IP_MINTTL", IP_MINTTL},
    {"IP_ADD_SOURCE_MEMBERSHIP", IP_ADD_SOURCE_MEMBERSHIP}, {"IP_DROP_SOURCE_MEMBERSHIP", IP_DROP_SOURCE_MEMBERSHIP},
    {"IP_BLOCK_SOURCE", IP_BLOCK_SOURCE}, {"IP_UNBLOCK_SOURCE", IP_UNBLOCK_SOURCE},
    {"MCAST_JOIN_GROUP", MCAST_JOIN_GROUP}, {"MCAST_LEAVE_GROUP", MCAST_LEAVE_GROUP},
    {"MCAST_JOIN_SOURCE_GROUP", MCAST_JOIN_SOURCE_GROUP}, {"MCAST_LEAVE_SOURCE_GROUP", MCAST_LEAVE_SOURCE_GROUP},
    {"MCAST_BLOCK_SOURCE", MCAST_BLOCK_SOURCE}, {"MCAST_UNBLOCK_SOURCE", MCAST_UNBLOCK_SOURCE},
    {"UDP_CORK", UDP_CORK},             {"UDP_SEGMENT", UDP_SEGMENT},     {"UDP_NO_CHECK6_TX", UDP_NO_CHECK6_TX},
    {"UDP_GRO", UDP_GRO},
    {"SO_ATTACH_FILTER", SO_ATTACH_FILTER}, {"SO_DETACH_FILTER", SO_DETACH_FILTER},
    {"SO_LOCK_FILTER", SO_LOCK_FILTER},
};

// Classic BPF programs the search attaches by name (option value "bpf:NAME[,LEN]").
struct NamedProg {
    const char* name;
    std::vector<sock_filter> insns;
};
const std::vector<NamedProg>& programs() {
    static const std::vector<NamedProg> p = {
        {"drop", {{BPF_RET | BPF_K, 0, 0, 0}}},
        {"all", {{BPF_RET | BPF_K, 0, 0, 0xffffffff}}},
        {"keep10", {{BPF_RET | BPF_K, 0, 0, 10}}},
        {"keep3", {{BPF_RET | BPF_K, 0, 0, 3}}},
        {"len-2", {{BPF_LD | BPF_W | BPF_LEN, 0, 0, 0}, {BPF_ALU | BPF_SUB | BPF_K, 0, 0, 2}, {BPF_RET | BPF_A, 0, 0, 0}}},
        {"udp-only", {{BPF_LD | BPF_B | BPF_ABS, 0, 0, uint32_t(SKF_NET_OFF + 9)}, {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 17},
                      {BPF_RET | BPF_K, 0, 0, 0xffff}, {BPF_RET | BPF_K, 0, 0, 0}}},
        {"port7000", {{BPF_LD | BPF_H | BPF_ABS, 0, 0, 2}, {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 7000},
                      {BPF_RET | BPF_K, 0, 0, 0xffff}, {BPF_RET | BPF_K, 0, 0, 0}}},
        {"pkttype", {{BPF_LD | BPF_W | BPF_ABS, 0, 0, uint32_t(SKF_AD_OFF + SKF_AD_PKTTYPE)},
                     {BPF_ALU | BPF_ADD | BPF_K, 0, 0, 8}, {BPF_RET | BPF_A, 0, 0, 0}}},
        {"past-end", {{BPF_LD | BPF_W | BPF_ABS, 0, 0, 100}, {BPF_RET | BPF_K, 0, 0, 0xffff}}},
        {"no-ret", {{BPF_LD | BPF_IMM, 0, 0, 1}}},
        {"bad-jump", {{BPF_JMP | BPF_JA, 0, 0, 3}, {BPF_RET | BPF_K, 0, 0, 1}}},
    };
    return p;
}

const Named kMsgFlags[] = {{"DONTWAIT", MSG_DONTWAIT}, {"PEEK", MSG_PEEK},   {"TRUNC", MSG_TRUNC},
                           {"MORE", MSG_MORE},         {"OOB", MSG_OOB},     {"DONTROUTE", MSG_DONTROUTE},
                           {"CONFIRM", MSG_CONFIRM},   {"WAITALL", MSG_WAITALL}, {"ERRQUEUE", MSG_ERRQUEUE},
                           {"NOSIGNAL", MSG_NOSIGNAL}};

bool lookup(const Named* t, size_t n, const std::string& s, long* v) {
    for (size_t i = 0; i < n; ++i)
        if (s == t[i].name) return *v = t[i].value, true;
    char* end = nullptr;
    const long x = std::strtol(s.c_str(), &end, 0);
    if (!s.empty() && *end == 0) return *v = x, true;
    return false;
}
template <size_t N>
bool lookup(const Named (&t)[N], const std::string& s, long* v) {
    return lookup(t, N, s, v);
}

bool parse_flags(const std::string& s, int* out) {
    *out = 0;
    if (s == "0") return true;
    std::stringstream in(s);
    for (std::string f; std::getline(in, f, '|');) {
        long v;
        if (!lookup(kMsgFlags, f, &v)) return false;
        *out |= int(v);
    }
    return true;
}

// "10.0.2.2:53"
bool parse_addr(const std::string& s, std::string* ip, uint16_t* port) {
    const size_t c = s.rfind(':');
    if (c == std::string::npos) return false;
    *ip = s.substr(0, c);
    *port = uint16_t(std::strtoul(s.c_str() + c + 1, nullptr, 10));
    in_addr a;
    return inet_pton(AF_INET, ip->c_str(), &a) == 1;
}

// A payload of n bytes; "echoN" starts with an ICMP echo request header (for ping sockets).
std::string payload(const std::string& spec) {
    const bool echo = spec.rfind("echo", 0) == 0;
    const size_t n = std::strtoul(spec.c_str() + (echo ? 4 : 0), nullptr, 10);
    std::string p(n, '\0');
    for (size_t i = 0; i < n; ++i) p[i] = char('a' + i % 26);
    if (echo) {
        const unsigned char hdr[8] = {8, 0, 0, 0, 0, 0, 0, 1};
        for (size_t i = 0; i < 8 && i < n; ++i) p[i] = char(hdr[i]);
    }
    return p;
}

// An option value: "int:N", "str:eth0", "mreq:GROUP,IF", "mreqn:GROUP,IF,INDEX",
// "linger:ON,SECS", "addr:A", "bytes:N" (zeros), "mreqs:GROUP,IF,SOURCE", "bpf:PROGRAM[,LEN]",
// "greq:INDEX,GROUP", "gsreq:INDEX,GROUP,SOURCE" (AF_INET sockaddr_storages).
std::string option_value(const std::string& v) {
    const size_t colon = v.find(':');
    const std::string kind = v.substr(0, colon), arg = colon == std::string::npos ? "" : v.substr(colon + 1);
    std::vector<std::string> parts;
    std::stringstream in(arg);
    for (std::string p; std::getline(in, p, ',');) parts.push_back(p);
    auto ip = [](const std::string& s) {
        in_addr a{};
        inet_pton(AF_INET, s.c_str(), &a);
        return a;
    };
    std::string out;
    if (kind == "int") {
        const int x = int(std::strtol(arg.c_str(), nullptr, 0));
        out.assign(reinterpret_cast<const char*>(&x), sizeof x);
    } else if (kind == "str") {
        out = arg;
        out.push_back('\0');
    } else if (kind == "mreq" && parts.size() == 2) {
        ip_mreq m{ip(parts[0]), ip(parts[1])};
        out.assign(reinterpret_cast<const char*>(&m), sizeof m);
    } else if (kind == "mreqn" && parts.size() == 3) {
        ip_mreqn m{ip(parts[0]), ip(parts[1]), std::atoi(parts[2].c_str())};
        out.assign(reinterpret_cast<const char*>(&m), sizeof m);
    } else if (kind == "mreqs" && parts.size() == 3) {
        ip_mreq_source m{ip(parts[0]), ip(parts[1]), ip(parts[2])};
        out.assign(reinterpret_cast<const char*>(&m), sizeof m);
    } else if ((kind == "greq" && parts.size() == 2) || (kind == "gsreq" && parts.size() == 3)) {
        auto ss = [&](const std::string& a) {
            sockaddr_storage x{};
            auto* sin = reinterpret_cast<sockaddr_in*>(&x);
            sin->sin_family = AF_INET;
            sin->sin_addr = ip(a);
            return x;
        };
        if (kind == "greq") {
            group_req g{};
            g.gr_interface = uint32_t(std::atoi(parts[0].c_str()));
            g.gr_group = ss(parts[1]);
            out.assign(reinterpret_cast<const char*>(&g), sizeof g);
        } else {
            group_source_req g{};
            g.gsr_interface = uint32_t(std::atoi(parts[0].c_str()));
            g.gsr_group = ss(parts[1]);
            g.gsr_source = ss(parts[2]);
            out.assign(reinterpret_cast<const char*>(&g), sizeof g);
        }
    } else if (kind == "linger" && parts.size() == 2) {
        linger l{std::atoi(parts[0].c_str()), std::atoi(parts[1].c_str())};
        out.assign(reinterpret_cast<const char*>(&l), sizeof l);
    } else if (kind == "addr") {
        in_addr a = ip(arg);
        out.assign(reinterpret_cast<const char*>(&a), sizeof a);
    } else if (kind == "bytes") {
        out.assign(std::strtoul(arg.c_str(), nullptr, 10), '\0');
    } else if (kind == "bpf" && !parts.empty()) {
        // A sock_fprog pointing at the named program (which outlives the call).
        for (const auto& p : programs())
            if (parts[0] == p.name) {
                sock_fprog fp{uint16_t(parts.size() > 1 ? std::atoi(parts[1].c_str()) : int(p.insns.size())),
                              const_cast<sock_filter*>(p.insns.data())};
                out.assign(reinterpret_cast<const char*>(&fp), sizeof fp);
            }
    }
    return out;
}

// Control messages for sendmsg: "none", "ttl=N", "tos=N", "pktinfo=ADDR", "pktinfo-if=N",
// "short" (a header cut short).
std::string control(const std::string& spec) {
    auto one = [](int level, int type, const void* data, size_t len) {
        std::string c(CMSG_SPACE(len), '\0');
        cmsghdr h{};
        h.cmsg_len = CMSG_LEN(len);
        h.cmsg_level = level;
        h.cmsg_type = type;
        std::memcpy(c.data(), &h, sizeof h);
        std::memcpy(c.data() + CMSG_LEN(0), data, len);
        return c;
    };
    if (spec.rfind("ttl=", 0) == 0 || spec.rfind("tos=", 0) == 0) {
        const int v = std::atoi(spec.c_str() + 4);
        return one(SOL_IP, spec[1] == 't' ? IP_TTL : IP_TOS, &v, sizeof v);
    }
    if (spec.rfind("pktinfo=", 0) == 0) {
        in_pktinfo pi{};
        inet_pton(AF_INET, spec.c_str() + 8, &pi.ipi_spec_dst);
        return one(SOL_IP, IP_PKTINFO, &pi, sizeof pi);
    }
    if (spec.rfind("pktinfo-if=", 0) == 0) {
        in_pktinfo pi{};
        pi.ipi_ifindex = std::atoi(spec.c_str() + 11);
        return one(SOL_IP, IP_PKTINFO, &pi, sizeof pi);
    }
    if (spec == "short") return std::string(8, '\0');
    return "";
}

// ---------------------------------------------------------------- generation

class Gen {
public:
    explicit Gen(uint64_t seed) : rng_(seed * 0x9e3779b97f4a7c15ull + 12345) {}

    Ops run() {
        const int n = 4 + int(below(25));
        // Start with a socket or two, as programs do.
        out_.push_back("socket 0 " + pick({"udp", "udp", "udp", "ping"}));
        if (chance(60)) out_.push_back("socket 1 " + pick({"udp", "udp", "ping"}));
        while (int(out_.size()) < n) one();
        return out_;
    }

private:
    uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }
    bool chance(int percent) { return int(below(100)) < percent; }
    std::string pick(std::initializer_list<const char*> xs) { return *(xs.begin() + below(xs.size())); }
    std::string slot() { return std::to_string(below(10) < 8 ? below(2) : below(4)); }

    std::string address() {
        return pick({"127.0.0.1", "127.0.0.1", "127.0.0.2", "10.0.2.15", "10.0.2.2", "10.0.2.2", "10.0.2.255",
                     "255.255.255.255", "224.0.0.1", "239.1.2.3", "0.0.0.0", "8.8.8.8", "192.0.2.1"});
    }
    std::string port() { return pick({"7000", "7000", "7001", "7001", "7002", "9", "53", "0"}); }
    std::string dest() { return address() + ":" + port(); }
    std::string local() {
        return pick({"0.0.0.0", "0.0.0.0", "127.0.0.1", "127.0.0.1", "10.0.2.15", "127.0.0.2", "10.0.2.255", "224.0.0.1",
                     "239.1.2.3", "8.8.8.8", "255.255.255.255"}) +
               ":" + pick({"7000", "7001", "7002", "0", "0", "53"});
    }
    std::string size() {
        if (chance(25)) return "echo" + pick({"8", "16", "64", "1472"});
        return pick({"0", "1", "5", "100", "100", "1472", "1473", "3000", "65507", "65508"});
    }
    std::string send_flags() {
        if (chance(70)) return "0";
        return pick({"DONTWAIT", "MORE", "OOB", "DONTROUTE", "CONFIRM", "DONTWAIT|MORE", "NOSIGNAL"});
    }
    std::string recv_flags() {
        return pick({"DONTWAIT", "DONTWAIT", "DONTWAIT", "DONTWAIT|PEEK", "DONTWAIT|TRUNC", "DONTWAIT|PEEK|TRUNC",
                     "DONTWAIT|OOB", "DONTWAIT|WAITALL"});
    }
    std::string len16() { return chance(85) ? "16" : pick({"0", "8", "15", "17", "128", "200"}); }

    void setopt() {
        const std::string s = slot();
        switch (below(10)) {
            case 9:
                if (chance(70)) {
                    out_.push_back("setopt " + s + " SOL_SOCKET SO_ATTACH_FILTER bpf:" +
                                   pick({"drop", "all", "keep10", "keep3", "len-2", "udp-only", "port7000", "pkttype",
                                         "past-end", "no-ret", "bad-jump"}) +
                                   (chance(90) ? "" : "," + pick({"0", "5000"})) + " " + pick({"16", "16", "16", "8"}));
                } else {
                    out_.push_back("setopt " + s + " SOL_SOCKET " + pick({"SO_DETACH_FILTER", "SO_DETACH_FILTER", "SO_LOCK_FILTER"}) +
                                   " int:" + pick({"1", "0"}) + " " + pick({"4", "4", "2"}));
                }
                break;
            case 0:
                out_.push_back("setopt " + s + " SOL_SOCKET " +
                               pick({"SO_REUSEADDR", "SO_REUSEPORT", "SO_BROADCAST", "SO_NO_CHECK", "SO_DONTROUTE",
                                     "SO_KEEPALIVE", "SO_RXQ_OVFL", "SO_OOBINLINE", "SO_DEBUG", "SO_PASSCRED"}) +
                               " int:" + pick({"1", "1", "0", "2", "-1"}) + " " + pick({"4", "4", "4", "0", "1", "8"}));
                break;
            case 1:
                out_.push_back("setopt " + s + " SOL_SOCKET " + pick({"SO_RCVBUF", "SO_SNDBUF", "SO_RCVLOWAT", "SO_PRIORITY", "SO_MARK", "SO_SNDLOWAT"}) +
                               " int:" + pick({"0", "1", "2304", "4096", "100000", "7", "-5"}) + " 4");
                break;
            case 2:
                out_.push_back("setopt " + s + " SOL_SOCKET SO_BINDTODEVICE str:" + pick({"lo", "eth0", "nope0", ""}) + " " +
                               pick({"16", "5", "3", "0"}));
                break;
            case 3:
                out_.push_back("setopt " + s + " SOL_SOCKET SO_LINGER linger:" + pick({"1", "0", "7"}) + "," +
                               pick({"0", "5", "-1"}) + " " + pick({"8", "8", "4", "16"}));
                break;
            case 4:
                out_.push_back("setopt " + s + " SOL_IP " +
                               pick({"IP_TTL", "IP_TOS", "IP_MULTICAST_TTL", "IP_MTU_DISCOVER", "IP_MINTTL"}) + " int:" +
                               pick({"-1", "0", "1", "2", "5", "64", "255", "256", "16"}) + " " + pick({"4", "4", "1", "0", "2"}));
                break;
            case 5:
                out_.push_back("setopt " + s + " SOL_IP " +
                               pick({"IP_RECVERR", "IP_PKTINFO", "IP_RECVTTL", "IP_RECVTOS", "IP_MULTICAST_LOOP",
                                     "IP_MULTICAST_ALL", "IP_FREEBIND", "IP_BIND_ADDRESS_NO_PORT", "IP_RECVORIGDSTADDR",
                                     "IP_HDRINCL", "IP_TRANSPARENT"}) +
                               " int:" + pick({"1", "1", "0"}) + " " + pick({"4", "4", "1", "0"}));
                break;
            case 6: {
                const std::string g = pick({"224.0.0.1", "239.1.2.3", "239.1.2.3", "10.0.2.2", "0.0.0.0"});
                const std::string i = pick({"0.0.0.0", "10.0.2.15", "127.0.0.1", "8.8.8.8"});
                if (chance(35)) {
                    // Source-specific and protocol-independent membership options.
                    const std::string src = pick({"10.0.2.2", "10.0.2.2", "10.0.2.15", "127.0.0.1", "0.0.0.0"});
                    const std::string idx = pick({"0", "1", "2", "2", "9"});
                    switch (below(3)) {
                        case 0:
                            out_.push_back("setopt " + s + " SOL_IP " +
                                           pick({"IP_ADD_SOURCE_MEMBERSHIP", "IP_ADD_SOURCE_MEMBERSHIP", "IP_DROP_SOURCE_MEMBERSHIP",
                                                 "IP_BLOCK_SOURCE", "IP_UNBLOCK_SOURCE"}) +
                                           " mreqs:" + g + "," + i + "," + src + " " + pick({"12", "12", "12", "8", "16"}));
                            break;
                        case 1:
                            out_.push_back("setopt " + s + " SOL_IP " + pick({"MCAST_JOIN_GROUP", "MCAST_JOIN_GROUP", "MCAST_LEAVE_GROUP"}) +
                                           " greq:" + idx + "," + g + " " + pick({"136", "136", "8"}));
                            break;
                        default:
                            out_.push_back("setopt " + s + " SOL_IP " +
                                           pick({"MCAST_JOIN_SOURCE_GROUP", "MCAST_JOIN_SOURCE_GROUP", "MCAST_LEAVE_SOURCE_GROUP",
                                                 "MCAST_BLOCK_SOURCE", "MCAST_UNBLOCK_SOURCE"}) +
                                           " gsreq:" + idx + "," + g + "," + src + " " + pick({"264", "264", "263"}));
                            break;
                    }
                    break;
                }
                const bool n = chance(40);
                out_.push_back("setopt " + s + " SOL_IP " + pick({"IP_ADD_MEMBERSHIP", "IP_ADD_MEMBERSHIP", "IP_DROP_MEMBERSHIP"}) +
                               (n ? " mreqn:" + g + "," + i + "," + pick({"0", "1", "2", "9"}) + " " + pick({"12", "12", "8"})
                                  : " mreq:" + g + "," + i + " " + pick({"8", "8", "4", "12"})));
                break;
            }
            case 7:
                out_.push_back("setopt " + s + " SOL_IP IP_MULTICAST_IF " +
                               (chance(50) ? "addr:" + pick({"10.0.2.15", "127.0.0.1", "0.0.0.0", "8.8.8.8"}) + " 4"
                                           : "mreqn:0.0.0.0," + pick({"10.0.2.15", "0.0.0.0"}) + "," + pick({"0", "1", "2", "7"}) + " 12"));
                break;
            default:
                out_.push_back("setopt " + s + " " + pick({"SOL_UDP", "SOL_UDP", "SOL_TCP", "SOL_RAW"}) + " " +
                               pick({"UDP_CORK", "UDP_SEGMENT", "UDP_NO_CHECK6_TX", "UDP_GRO"}) + " int:" +
                               pick({"0", "1", "100", "1400", "65535"}) + " " + pick({"4", "4", "2", "1", "0"}));
                break;
        }
    }

    void getopt() {
        const std::string s = slot();
        static const char* const names[][2] = {
            {"SOL_SOCKET", "SO_TYPE"},      {"SOL_SOCKET", "SO_ERROR"},        {"SOL_SOCKET", "SO_PROTOCOL"},
            {"SOL_SOCKET", "SO_DOMAIN"},    {"SOL_SOCKET", "SO_RCVBUF"},       {"SOL_SOCKET", "SO_SNDBUF"},
            {"SOL_SOCKET", "SO_REUSEADDR"}, {"SOL_SOCKET", "SO_BROADCAST"},    {"SOL_SOCKET", "SO_ACCEPTCONN"},
            {"SOL_SOCKET", "SO_LINGER"},    {"SOL_SOCKET", "SO_BINDTODEVICE"}, {"SOL_SOCKET", "SO_PRIORITY"},
            {"SOL_IP", "IP_TTL"},           {"SOL_IP", "IP_TOS"},              {"SOL_IP", "IP_MTU"},
            {"SOL_IP", "IP_MTU_DISCOVER"},  {"SOL_IP", "IP_MULTICAST_TTL"},    {"SOL_IP", "IP_MULTICAST_IF"},
            {"SOL_IP", "IP_RECVERR"},       {"SOL_IP", "IP_PKTINFO"},          {"SOL_IP", "IP_OPTIONS"},
            {"SOL_UDP", "UDP_CORK"},        {"SOL_UDP", "UDP_SEGMENT"},        {"SOL_TCP", "1"},
            {"SOL_SOCKET", "SO_ATTACH_FILTER"}, {"SOL_SOCKET", "SO_LOCK_FILTER"},
        };
        const auto& n = names[below(sizeof names / sizeof names[0])];
        out_.push_back("getopt " + s + " " + n[0] + " " + n[1] + " " + pick({"4", "4", "4", "16", "1", "0", "2", "64"}));
    }

    void one() {
        const std::string s = slot();
        const uint64_t r = below(100);
        if (r < 7) {
            out_.push_back("socket " + s + " " +
                           pick({"udp", "udp", "udp", "ping", "udp-nonblock", "badproto", "badtype"}));
        } else if (r < 16) {
            out_.push_back("bind " + s + " " + local() + (chance(85) ? "" : " " + len16() + " " + pick({"inet", "unspec", "inet6"})));
        } else if (r < 24) {
            if (chance(12)) out_.push_back("connect " + s + " 0.0.0.0:0 16 unspec");
            else out_.push_back("connect " + s + " " + dest() + (chance(85) ? "" : " " + len16() + " " + pick({"inet", "inet6"})));
        } else if (r < 40) {
            out_.push_back("sendto " + s + " " + dest() + " " + size() + " " + send_flags());
        } else if (r < 45) {
            out_.push_back("send " + s + " " + size() + " " + send_flags());
        } else if (r < 49) {
            out_.push_back("sendmsg " + s + " " + (chance(70) ? dest() : "-") + " " + size() + " " +
                           pick({"ttl=1", "ttl=0", "ttl=300", "tos=16", "pktinfo=10.0.2.15", "pktinfo=127.0.0.1",
                                 "pktinfo=8.8.8.8", "pktinfo-if=1", "pktinfo-if=2", "pktinfo-if=9", "short", "none"}) +
                           " 0");
        } else if (r < 63) {
            out_.push_back("recv " + s + " " + pick({"2048", "2048", "64", "1", "0", "65536"}) + " " + recv_flags() + " " +
                           pick({"0", "256", "256", "16"}));
        } else if (r < 66) {
            out_.push_back("recverr " + s);
        } else if (r < 74) {
            setopt();
        } else if (r < 78) {
            getopt();
        } else if (r < 82) {
            out_.push_back(std::string(chance(50) ? "getsockname " : "getpeername ") + s + " " + pick({"16", "16", "8", "0", "4", "64"}));
        } else if (r < 84) {
            out_.push_back("shutdown " + s + " " + pick({"0", "1", "2", "3"}));
        } else if (r < 86) {
            out_.push_back("close " + s);
        } else if (r < 88) {
            out_.push_back("ioctl " + s + " " + pick({"FIONREAD", "FIONREAD", "SIOCOUTQ", "FIONBIO", "SIOCGSTAMP"}));
        } else if (r < 89) {
            out_.push_back("fcntl " + s + " " + pick({"F_GETFL", "F_SETFL_NONBLOCK", "F_SETFL_0", "F_GETFD"}));
        } else if (r < 92) {
            out_.push_back("poll " + s + " " + pick({"POLLIN", "POLLOUT", "POLLIN|POLLOUT", "POLLERR"}));
        } else if (r < 95) {
            out_.push_back("sleep " + pick({"10", "30", "30"}));
        } else if (r < 98) {
            out_.push_back(chance(70) ? "gwsend " + pick({"7000", "7001", "7002", "9"}) + " " + pick({"5", "100", "1472", "3000"})
                                      : "gwrecv");
        } else {
            out_.push_back("ip " + pick({"route del default", "link set eth0 mtu 1400", "route add 192.0.2.0/24 via 10.0.2.2",
                                         "addr add 10.0.2.16/24 dev eth0"}));
        }
    }

    std::mt19937_64 rng_;
    Ops out_;
};

// ---------------------------------------------------------------- interpretation

class Interp {
public:
    explicit Interp(T& t) : t_(t) {}

    bool run(const Ops& ops, std::string* why) {
        for (const auto& line : ops) {
            if (line.empty() || line[0] == '#') continue;
            std::stringstream in(line);
            std::vector<std::string> w;
            for (std::string x; in >> x;) w.push_back(x);
            if (!one(w)) {
                if (why) *why = "cannot run: " + line;
                return false;
            }
        }
        return true;
    }

private:
    // The descriptor of a slot; one that is never open when the slot has none.
    int fd(const std::string& s) {
        const int i = std::atoi(s.c_str()) & 3;
        return fds_[i] >= 0 ? fds_[i] : 900 + i;
    }

    bool one(const std::vector<std::string>& w) {
        if (w.empty()) return true;
        const std::string& v = w[0];
        const size_t n = w.size();
        if (v == "socket" && n == 3) return socket(std::atoi(w[1].c_str()) & 3, w[2]);
        if ((v == "bind" || v == "connect") && (n == 3 || n == 5)) {
            std::string ip;
            uint16_t port;
            if (!parse_addr(w[2], &ip, &port)) return false;
            sa_family_t fam = AF_INET;
            socklen_t len = sizeof(sockaddr_in);
            if (n == 5) {
                len = socklen_t(std::atoi(w[3].c_str()));
                fam = w[4] == "unspec" ? AF_UNSPEC : w[4] == "inet6" ? AF_INET6 : AF_INET;
            }
            const sockaddr_in a = addr(ip.c_str(), port, fam);
            if (v == "bind") t_.bind(fd(w[1]), a, len);
            else t_.connect(fd(w[1]), a, len);
            return true;
        }
        if ((v == "getsockname" || v == "getpeername") && n == 3) {
            const socklen_t len = socklen_t(std::atoi(w[2].c_str()));
            if (v == "getsockname") t_.getsockname(fd(w[1]), len);
            else t_.getpeername(fd(w[1]), len);
            return true;
        }
        if (v == "sendto" && n == 5) {
            std::string ip;
            uint16_t port;
            int flags;
            if (!parse_addr(w[2], &ip, &port) || !parse_flags(w[4], &flags)) return false;
            t_.sendto(fd(w[1]), payload(w[3]), addr(ip.c_str(), port), flags);
            return true;
        }
        if (v == "send" && n == 4) {
            int flags;
            if (!parse_flags(w[3], &flags)) return false;
            t_.send(fd(w[1]), payload(w[2]), flags);
            return true;
        }
        if (v == "sendmsg" && n == 6) {
            int flags;
            if (!parse_flags(w[5], &flags)) return false;
            sockaddr_in to{};
            bool have_to = w[2] != "-";
            if (have_to) {
                std::string ip;
                uint16_t port;
                if (!parse_addr(w[2], &ip, &port)) return false;
                to = addr(ip.c_str(), port);
            }
            t_.sendmsg(fd(w[1]), payload(w[3]), have_to ? &to : nullptr, control(w[4]), flags);
            return true;
        }
        if (v == "recv" && n == 5) {
            int flags;
            if (!parse_flags(w[3], &flags)) return false;
            flags |= MSG_DONTWAIT;  // never block: the kernel side would wait for ever
            t_.recv(fd(w[1]), size_t(std::atoi(w[2].c_str())), flags, size_t(std::atoi(w[4].c_str())));
            return true;
        }
        if (v == "recverr" && n == 2) {
            t_.recv_errqueue(fd(w[1]), 2048, MSG_DONTWAIT);
            return true;
        }
        if ((v == "setopt" || v == "getopt") && n >= 5) {
            long level, name;
            if (!lookup(kLevels, w[2], &level) || !lookup(kOptNames, w[3], &name)) return false;
            if (v == "getopt") {
                t_.getsockopt_raw(fd(w[1]), int(level), int(name), socklen_t(std::atoi(w[4].c_str())));
                return true;
            }
            if (n != 6) return false;
            std::string val = option_value(w[4]);
            const socklen_t len = socklen_t(std::atoi(w[5].c_str()));
            if (val.size() < len) val.resize(len, '\0');  // the bytes past the value are zeros
            t_.setsockopt_raw(fd(w[1]), int(level), int(name), val.data(), len);
            return true;
        }
        if (v == "shutdown" && n == 3) {
            t_.shutdown(fd(w[1]), std::atoi(w[2].c_str()));
            return true;
        }
        if (v == "close" && n == 2) {
            const int i = std::atoi(w[1].c_str()) & 3;
            t_.close(fd(w[1]));
            fds_[i] = -1;
            return true;
        }
        if (v == "ioctl" && n == 3) {
            if (w[2] == "FIONBIO") t_.ioctl_int(fd(w[1]), FIONBIO, "FIONBIO");  // *arg is -12345: non-zero, so on
            else if (w[2] == "FIONREAD") t_.ioctl_int(fd(w[1]), FIONREAD, "FIONREAD");
            else if (w[2] == "SIOCOUTQ") t_.ioctl_int(fd(w[1]), TIOCOUTQ, "SIOCOUTQ");
            else if (w[2] == "SIOCGSTAMP") t_.ioctl_int(fd(w[1]), 0x8906, "SIOCGSTAMP");
            else return false;
            return true;
        }
        if (v == "fcntl" && n == 3) {
            if (w[2] == "F_GETFL") t_.fcntl(fd(w[1]), F_GETFL, 0, "F_GETFL");
            else if (w[2] == "F_SETFL_NONBLOCK") t_.fcntl(fd(w[1]), F_SETFL, O_NONBLOCK, "F_SETFL");
            else if (w[2] == "F_SETFL_0") t_.fcntl(fd(w[1]), F_SETFL, 0, "F_SETFL");
            else if (w[2] == "F_GETFD") t_.fcntl(fd(w[1]), F_GETFD, 0, "F_GETFD");
            else return false;
            return true;
        }
        if (v == "poll" && n == 3) {
            short ev = 0;
            std::stringstream in(w[2]);
            for (std::string f; std::getline(in, f, '|');)
                ev |= f == "POLLIN" ? POLLIN : f == "POLLOUT" ? POLLOUT : f == "POLLERR" ? POLLERR : 0;
            t_.poll1(fd(w[1]), ev, 0);
            return true;
        }
        if (v == "sleep" && n == 2) {
            t_.sleep_ms(std::atoi(w[1].c_str()));
            return true;
        }
        if (v == "gwsend" && n == 3) {
            gw();
            t_.sendto(gw_, payload(w[2]), addr("10.0.2.15", uint16_t(std::atoi(w[1].c_str()))));
            return true;
        }
        if (v == "gwrecv" && n == 1) {
            gw();
            t_.recv(gw_, 2048, MSG_DONTWAIT);
            return true;
        }
        if (v == "ip" && n >= 2) {
            std::string args;
            for (size_t i = 1; i < n; ++i) args += (i > 1 ? " " : "") + w[i];
            t_.ip(args);
            return true;
        }
        return false;
    }

    bool socket(int i, const std::string& kind) {
        int r;
        if (kind == "udp") r = t_.socket(AF_INET, SOCK_DGRAM, 0);
        else if (kind == "ping") r = t_.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        else if (kind == "udp-nonblock") r = t_.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        else if (kind == "badproto") r = t_.socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP);
        else if (kind == "badtype") r = t_.socket(AF_INET, 12, 0);
        else return false;
        if (r >= 0) {
            if (fds_[i] >= 0) t_.close(fds_[i]);  // the slot's old socket goes (a program would leak it)
            fds_[i] = r;
        }
        return true;
    }

    void gw() {
        if (gw_ >= 0) return;
        gw_ = t_.socket(AF_INET, SOCK_DGRAM, 0, kGw);
        t_.bind(gw_, addr("10.0.2.2", 7100));
    }

    T& t_;
    int fds_[4] = {-1, -1, -1, -1};
    int gw_ = -1;
};

}  // namespace

Ops generate_ops(uint64_t seed) { return Gen(seed).run(); }

bool run_ops(T& t, const Ops& ops, std::string* why) { return Interp(t).run(ops, why); }

Scenario ops_scenario(const std::string& suite, const std::string& name, Ops ops) {
    return Scenario{suite, name, [ops = std::move(ops)](T& t) {
                        std::string why;
                        if (!run_ops(t, ops, &why)) t.note(why);
                    }};
}

bool read_ops_file(const std::string& path, Ops* ops) {
    std::ifstream in(path);
    if (!in) return false;
    ops->clear();
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#') ops->push_back(line);
    return true;
}

std::string ops_text(const Ops& ops) {
    std::string s;
    for (const auto& o : ops) s += o + "\n";
    return s;
}

}  // namespace conformance
