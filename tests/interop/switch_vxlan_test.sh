#!/usr/bin/env bash
# Two `usnet switch` processes, each in a private network namespace of its own (A, B), and
# a Linux vxlan device in a third (L, this script's, which also holds the underlay bridge
# 10.99.0.0/24) share the segment 10.0.2.0/24 on VNI 42. Real programs under `usnet run
# --switch` on either switch, and Linux, talk UDP across it; a host whose MTU exceeds what
# the VXLAN segment carries is refused; each switch logs its uplink's counters, and its
# capture reads cleanly in tshark.
usnet=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make namespaces and a vxlan device"; exit 77; }
if [ -z "${USNET_IN_NETNS:-}" ]; then
    unshare -n true 2>/dev/null || { echo "SKIP: unshare -n is not permitted here"; exit 77; }
    exec unshare -n env USNET_IN_NETNS=1 "$0" "$@"
fi
source "$(dirname "$0")/../preload/switch_lib.sh"
need python3 ethtool nsenter
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
bg hold_a unshare -n sleep 600
bg hold_b unshare -n sleep 600
for p in $hold_a $hold_b; do
    for _ in $(seq 100); do [ "$(readlink /proc/$p/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.01; done
done
in_a() { nsenter -t "$hold_a" -n "$@"; }
in_b() { nsenter -t "$hold_b" -n "$@"; }
ip link add br0 type bridge && ip addr add 10.99.0.1/24 dev br0 && ip link set br0 up || exit 1
ip link add ua type veth peer name u0 netns "$hold_a" && ip link set ua master br0 && ip link set ua up
ip link add ub type veth peer name u0 netns "$hold_b" && ip link set ub master br0 && ip link set ub up
in_a sh -c 'ip link set lo up && ip addr add 10.99.0.2/24 dev u0 && ip link set u0 up'
in_b sh -c 'ip link set lo up && ip addr add 10.99.0.3/24 dev u0 && ip link set u0 up'
# Linux's end: flooding to both switches, computing inner checksums itself (over a veth no
# NIC would finish them), its MTU the underlay's less 50 (dev br0).
ip link add vx0 type vxlan id 42 local 10.99.0.1 dev br0 dstport 4789
bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.2
bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.99.0.3
ethtool -K vx0 tx off >/dev/null
ip addr add 10.0.2.50/24 dev vx0 && ip link set vx0 up

sock="$tmp/a.sock"
bg sw_a nsenter -t "$hold_a" -n "$usnet" switch --socket "$sock" --gateway none --pcap "$tmp/a.pcap" \
    --uplink vxlan:10.99.0.1,vni=42 --uplink vxlan:10.99.0.3,vni=42 2>"$sock.log"
wait_for "$sock.log" "listening on" 5 || { echo "FAIL: switch A did not start"; cat "$sock.log"; exit 1; }
sock_a=$sock
sock="$tmp/b.sock"
bg sw_b nsenter -t "$hold_b" -n "$usnet" switch --socket "$sock" --gateway none --pcap "$tmp/b.pcap" \
    --uplink vxlan:10.99.0.1,vni=42 --uplink vxlan:10.99.0.2,vni=42 2>"$sock.log"
wait_for "$sock.log" "listening on" 5 || { echo "FAIL: switch B did not start"; cat "$sock.log"; exit 1; }
sock_b=$sock
check "switch A names its uplink and the segment's MTU" \
    "uplink vxlan:10.99.0.1:4789\+10.99.0.3:4789,vni=42 \(hosts' mtu up to 1450\)" "$(cat "$sock_a.log")"

# An echo server on switch A; it answers two datagrams.
bg srv "$usnet" run --switch "$sock_a" --addr 10.0.2.16/24 --mtu 1450 -- python3 -u -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
print("ready", flush=True)
s.settimeout(10)
for _ in range(2):
    d, a = s.recvfrom(2048)
    s.sendto(d + b" back from 10.0.2.16", a)
' >"$tmp/srv.out" 2>"$tmp/srv.err"
wait_for "$tmp/srv.out" "^ready" 5 || { echo "FAIL: the server did not start"; cat "$tmp/srv.err"; exit 1; }
# One datagram to the server, and its answer: from a host on switch B (across both
# switches and the VXLAN segment), and from Linux's vxlan device.
client='import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(sys.argv[1].encode(), ("10.0.2.16", 7000))
print(s.recv(200).decode())'
cli=$("$usnet" run --switch "$sock_b" --addr 10.0.2.17/24 --mtu 1450 -- python3 -c "$client" "from switch B" 2>&1)
check "a host on switch B reaches a host on switch A" "^from switch B back from 10.0.2.16$" "$cli"
lin=$(python3 -c "$client" "from linux" 2>&1)
check "Linux's vxlan device reaches the host on switch A" "^from linux back from 10.0.2.16$" "$lin"
wait "$srv"
check "Linux learned the host behind switch A" "02:75:6e:[0-9a-f:]+ dst 10.99.0.2" "$(bridge fdb show dev vx0)"
# A host with the default MTU does not fit the VXLAN segment.
big=$("$usnet" run --switch "$sock_a" --addr 10.0.2.30/24 -- python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)' 2>&1)
check "a host above the segment's MTU is refused" "mtu 1500 is above the 1450 the switch carries \(use --mtu 1450\)" "$big"

kill -TERM "$sw_a" "$sw_b"
wait "$sw_a" "$sw_b"
check "switch A logs its uplink's counters" "uplink vxlan:10.99.0.1:4789\+10.99.0.3:4789,vni=42: [1-9][0-9]* datagrams in, [1-9][0-9]* out; dropped: 0 malformed" "$(cat "$sock_a.log")"
if command -v tshark >/dev/null; then
    for s in a b; do
        frames=$(tshark -n -r "$tmp/$s.pcap" 2>/dev/null | wc -l)
        bad=$(tshark -n -r "$tmp/$s.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
              -Y '_ws.expert.severity >= warning || _ws.malformed' 2>/dev/null)
        check "switch $s's capture holds the exchange" "^([4-9]|[1-9][0-9]+)$" "$frames"
        check "tshark finds nothing wrong in switch $s's capture" "^$" "$bad"
    done
fi
exit $status
