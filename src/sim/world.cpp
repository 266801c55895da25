// The world a program under `usnet run` gets: parsed from a topology text, built as a
// host on a private segment with a gateway, or as a host on a `usnet switch`; and the `ip`
// commands that change it while it runs.
#include <arpa/inet.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "usnet/sim.hpp"

namespace usnet::sim {

namespace {

bool parse_ip(const std::string& s, Ip4* out) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
    *out = Ip4(ntohl(a.s_addr));
    return true;
}

bool parse_prefix(const std::string& s, Ip4* addr, int* len) {
    const auto slash = s.find('/');
    if (slash == std::string::npos || !parse_ip(s.substr(0, slash), addr)) return false;
    char* end = nullptr;
    const long n = std::strtol(s.c_str() + slash + 1, &end, 10);
    if (*end || n < 0 || n > 32 || slash + 1 == s.size()) return false;
    *len = int(n);
    return true;
}

}  // namespace

bool parse_world(const std::string& text, WorldSpec* spec, std::string* err) {
    std::istringstream in(text);
    std::string line;
    int no = 0;
    while (std::getline(in, line)) {
        ++no;
        if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) w.push_back(x);
        if (w.empty()) continue;
        auto bad = [&](const std::string& why) {
            *err = "line " + std::to_string(no) + " (" + line + "): " + why;
            return false;
        };
        const std::string& k = w[0];
        if (k == "addr" && w.size() == 2) {
            Ip4 a;
            int n;
            if (!parse_prefix(w[1], &a, &n) || n == 0) return bad("expected ADDRESS/PREFIX, as 10.0.2.16/24");
            spec->addrs.emplace_back(a, n);
        } else if (k == "gateway" && w.size() == 2) {
            if (w[1] == "none") spec->gateway = Ip4();
            else if (!parse_ip(w[1], &spec->gateway)) return bad("expected an address or none");
            spec->gateway_set = true;
        } else if (k == "mtu" && w.size() == 2) {
            char* end = nullptr;
            const long m = std::strtol(w[1].c_str(), &end, 10);
            if (*end || m < 68 || m > 65535) return bad("mtu must be 68..65535");
            spec->mtu = uint32_t(m);
            spec->mtu_set = true;
        } else if (k == "route" && (w.size() == 4 || w.size() == 3)) {
            RouteSpec r;
            if (!parse_prefix(w[1], &r.dst, &r.prefix_len)) return bad("expected NET/PREFIX");
            if (w.size() == 4 && w[2] == "via") {
                if (!parse_ip(w[3], &r.gateway)) return bad("expected a gateway address after via");
            } else if (w.size() == 4 && w[2] == "dev") {
                if (w[3] != "eth0") return bad("the only device is eth0");
            } else if (w.size() == 3 && (w[2] == "blackhole" || w[2] == "unreachable" || w[2] == "prohibit")) {
                r.type = w[2] == "blackhole" ? RouteType::Blackhole
                         : w[2] == "unreachable" ? RouteType::Unreachable : RouteType::Prohibit;
            } else {
                return bad("expected: route NET/N via GW | dev eth0 | blackhole | unreachable | prohibit");
            }
            spec->routes.push_back(r);
        } else if (k == "switch" && w.size() == 2) {
            spec->switch_path = w[1];
        } else if (k == "tap" && w.size() == 2) {
            spec->tap.name = w[1];
        } else if (k == "pcap" && w.size() == 2) {
            spec->pcap = w[1];
        } else if (k == "seed" && w.size() == 2) {
            spec->seed = std::strtoull(w[1].c_str(), nullptr, 10);
        } else {
            return bad("unknown; expected addr, gateway, mtu, route, switch, tap, pcap or seed");
        }
    }
    if (!spec->tap.name.empty() && !spec->switch_path.empty()) {
        *err = "a host is on a switch or on a TAP device, not both (a switch takes a TAP as its uplink)";
        return false;
    }
    if (!spec->tap.name.empty() && spec->addrs.empty()) {
        *err = "a host on a TAP device needs its address (addr A/N)";
        return false;
    }
    if (!spec->pcap.empty() && !spec->switch_path.empty()) {
        *err = "a switch captures its own frames: usnet switch --pcap FILE";
        return false;
    }
    return true;
}

namespace {

// "default", ADDR (a /32) or ADDR/N.
bool ip_prefix(const std::string& s, Ip4* a, int* len) {
    if (s == "default") {
        *a = Ip4();
        *len = 0;
        return true;
    }
    if (s.find('/') == std::string::npos) {
        *len = 32;
        return parse_ip(s, a);
    }
    return parse_prefix(s, a, len);
}

// The commands come from outside the process: a bad number is an error, never a throw.
bool parse_u32(const std::string& s, uint32_t* v) {
    char* end = nullptr;
    errno = 0;
    const unsigned long n = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end || errno || n > UINT32_MAX || s[0] == '-') return false;
    *v = uint32_t(n);
    return true;
}

}  // namespace

int ip_command(Stack& s, const std::string& args) {
    std::istringstream in(args);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    Ip4 a;
    int len = 0;
    if (w.size() >= 3 && w[0] == "route" && w[1] == "del") return ip_prefix(w[2], &a, &len) && s.del_route(a, len) == 0 ? 0 : 1;
    if (w.size() >= 4 && w[0] == "route" && w[1] == "add") {
        RouteSpec r;
        size_t i = 2;
        if (w[2] == "blackhole" || w[2] == "unreachable" || w[2] == "prohibit") {
            r.type = w[2] == "blackhole" ? RouteType::Blackhole
                     : w[2] == "unreachable" ? RouteType::Unreachable : RouteType::Prohibit;
            i = 3;
        }
        if (!ip_prefix(w[i], &r.dst, &r.prefix_len)) return 1;
        for (++i; i + 1 < w.size(); i += 2) {
            if (w[i] == "via" && !Ip4::parse(w[i + 1], &r.gateway)) return 1;
            if (w[i] == "dev") r.ifindex = s.ifindex_of(w[i + 1]);
            if (w[i] == "src" && !Ip4::parse(w[i + 1], &r.prefsrc)) return 1;
            if (w[i] == "metric" && !parse_u32(w[i + 1], &r.metric)) return 1;
        }
        if (r.type == RouteType::Unicast && r.gateway.any() && !r.ifindex) return 1;
        return s.add_route(r) == 0 ? 0 : 1;
    }
    if (w.size() >= 5 && w[0] == "link" && w[1] == "set") {
        const int idx = s.ifindex_of(w[2]);
        uint32_t mtu = 0;
        if (w[3] == "mtu") return parse_u32(w[4], &mtu) && s.set_mtu(idx, mtu) == 0 ? 0 : 1;
    }
    if (w.size() == 4 && w[0] == "link" && w[1] == "set") {
        const int idx = s.ifindex_of(w[2]);
        if (w[3] == "up" || w[3] == "down") return s.set_link_up(idx, w[3] == "up") == 0 ? 0 : 1;
    }
    if (w.size() >= 5 && w[0] == "addr" && (w[1] == "add" || w[1] == "del") && w[3] == "dev") {
        if (!ip_prefix(w[2], &a, &len)) return 1;
        const int idx = s.ifindex_of(w[4]);
        return (w[1] == "add" ? s.add_address(idx, a, len) : s.del_address(idx, a, len)) == 0 ? 0 : 1;
    }
    return 2;
}

DefaultWorld build_world(const WorldSpec& spec, StackConfig host_cfg, std::string* err) {
    DefaultWorld w;
    w.net = std::make_unique<Network>(spec.seed);
    Network& n = *w.net;
    host_cfg.seed = spec.seed * 2 + 1;
    Stack& host = n.add_host("host", host_cfg);
    const std::vector<std::pair<Ip4, int>> addrs =
        spec.addrs.empty() ? std::vector<std::pair<Ip4, int>>{{Ip4(10, 0, 2, 15), 24}} : spec.addrs;
    int eth;
    // A TAP has no simulated gateway: its default route is one the topology asked for.
    bool default_route = !spec.gateway.any();
    if (!spec.switch_path.empty()) {
        eth = n.attach_switch(host, spec.switch_path, "eth0", spec.mtu, addrs.front().first, err);
        if (eth < 0) return DefaultWorld{};
    } else if (!spec.tap.name.empty()) {
        TapOptions o = spec.tap;
        if (!spec.pcap.empty()) o.pcap = spec.pcap;
        eth = n.attach_tap(host, o, "eth0", spec.mtu_set ? spec.mtu : 0, addrs.front().first, err);
        if (eth < 0) return DefaultWorld{};
        default_route = default_route && spec.gateway_set;
    } else {
        // Zero latency: like the kernel's veth, a reply arrives within the call that caused it.
        w.segment = n.add_segment("eth0", LinkParams{.latency = 0});
        eth = n.attach(host, w.segment, "eth0", spec.mtu);
        if (!spec.gateway.any()) {
            StackConfig gcfg;
            gcfg.seed = spec.seed * 2 + 2;
            Stack& gw = n.add_host("gateway", gcfg);
            const int g_eth = n.attach(gw, w.segment, "eth0", spec.mtu);
            gw.add_address(g_eth, spec.gateway, addrs.front().second);
            w.gateway = &gw;
        }
        if (!spec.pcap.empty() && !n.capture(w.segment, spec.pcap)) {
            *err = "cannot write the capture file " + spec.pcap;
            return DefaultWorld{};
        }
    }
    for (const auto& [a, len] : addrs) host.add_address(eth, a, len);
    if (default_route) {
        RouteSpec def;
        def.gateway = spec.gateway;
        def.ifindex = eth;
        host.add_route(def);
    }
    for (RouteSpec r : spec.routes) {
        if (r.type == RouteType::Unicast) r.ifindex = eth;
        if (const int rc = host.add_route(r); rc < 0) {
            *err = "route " + r.dst.str() + "/" + std::to_string(r.prefix_len) + ": " + std::strerror(-rc);
            return DefaultWorld{};
        }
    }
    w.host = &host;
    return w;
}

}  // namespace usnet::sim
