// IP-level options given a zero-length value: do_ip_setsockopt checks optlen per option,
// so some fail with EINVAL (IP_TTL, IP_MINTTL, IP_FREEBIND, IP_TRANSPARENT, ...) while
// others read nothing and take 0.
#include <netinet/in.h>

#include "harness.hpp"

using namespace conformance;

SCENARIO(OptLen, IpOptionsWithEmptyValue) {
    const int s = t.socket(AF_INET, SOCK_DGRAM);
    const int one = 1;
    for (int name : {IP_TOS, IP_TTL, IP_RECVOPTS, IP_RETOPTS, IP_PKTINFO, IP_MTU_DISCOVER, IP_RECVERR,
                     IP_RECVTTL, IP_RECVTOS, IP_FREEBIND, IP_PASSSEC, IP_TRANSPARENT, IP_RECVORIGDSTADDR,
                     IP_MINTTL, IP_BIND_ADDRESS_NO_PORT, IP_RECVERR_RFC4884, IP_MULTICAST_TTL,
                     IP_MULTICAST_LOOP, IP_MULTICAST_ALL, IP_CHECKSUM})
        t.setsockopt_raw(s, SOL_IP, name, &one, 0);
}

SCENARIO(OptLen, StoredIpFlagsRoundTrip) {
    const int s = t.socket(AF_INET, SOCK_DGRAM);
    for (int name : {IP_PASSSEC, IP_CHECKSUM, IP_RECVERR_RFC4884}) {
        t.getsockopt_int(s, SOL_IP, name);
        t.setsockopt_int(s, SOL_IP, name, 1);
        t.getsockopt_int(s, SOL_IP, name);
        t.setsockopt_int(s, SOL_IP, name, 2);  // RFC4884: 0 or 1 only
        t.getsockopt_int(s, SOL_IP, name);
    }
}
