// The subset of iproute2 the scenarios use, applied to a usnet Stack: `ip` for the usnet
// runner's hosts and for the gateway host the shim runner attaches to a switch.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include "usnet/stack.hpp"

namespace conformance {

inline bool ip_prefix(const std::string& s, usnet::Ip4* a, int* len) {
    if (s == "default") {
        *a = usnet::Ip4();
        *len = 0;
        return true;
    }
    auto slash = s.find('/');
    *len = slash == std::string::npos ? 32 : std::stoi(s.substr(slash + 1));
    return usnet::Ip4::parse(s.substr(0, slash), a);
}

inline int usnet_ip(usnet::Stack& s, const std::string& args) {
    std::istringstream in(args);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    usnet::Ip4 a;
    int len = 0;
    if (w.size() >= 3 && w[0] == "route" && w[1] == "del") return ip_prefix(w[2], &a, &len) && s.del_route(a, len) == 0 ? 0 : 1;
    if (w.size() >= 4 && w[0] == "route" && w[1] == "add") {
        usnet::RouteSpec r;
        size_t i = 2;
        if (w[2] == "blackhole" || w[2] == "unreachable" || w[2] == "prohibit") {
            r.type = w[2] == "blackhole" ? usnet::RouteType::Blackhole
                     : w[2] == "unreachable" ? usnet::RouteType::Unreachable : usnet::RouteType::Prohibit;
            i = 3;
        }
        if (!ip_prefix(w[i], &r.dst, &r.prefix_len)) return 1;
        for (++i; i + 1 < w.size(); i += 2) {
            if (w[i] == "via" && !usnet::Ip4::parse(w[i + 1], &r.gateway)) return 1;
            if (w[i] == "dev") r.ifindex = s.ifindex_of(w[i + 1]);
            if (w[i] == "src" && !usnet::Ip4::parse(w[i + 1], &r.prefsrc)) return 1;
            if (w[i] == "metric") r.metric = uint32_t(std::stoul(w[i + 1]));
        }
        if (r.type == usnet::RouteType::Unicast && r.gateway.any() && !r.ifindex) return 1;
        return s.add_route(r) == 0 ? 0 : 1;
    }
    if (w.size() >= 5 && w[0] == "link" && w[1] == "set") {
        const int idx = s.ifindex_of(w[2]);
        if (w[3] == "mtu") return s.set_mtu(idx, uint32_t(std::stoul(w[4]))) == 0 ? 0 : 1;
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

}  // namespace conformance
