#!/usr/bin/env bash
# `usnet run --tap` with real programs against the kernel, in a private network namespace
# this script makes for itself (unshare -n): a persistent TAP owned by an unprivileged user
# (uid 65534) serves that user's programs without root. Linux pings a python server on it
# and talks UDP to it; a python client on it talks to a Linux server; the capture reads
# cleanly in tshark. A missing, busy, foreign or non-TAP device is reported before the
# program starts (exit 2), and so is a bad `usnet switch --uplink`. Root may let usnet
# create the TAP, which lasts as long as the program.
usnet=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make a namespace and a TAP"; exit 77; }
if [ -z "${USNET_IN_NETNS:-}" ]; then
    unshare -n true 2>/dev/null || { echo "SKIP: unshare -n is not permitted here"; exit 77; }
    [ -w /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
    command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
    exec unshare -n -m --propagation private env USNET_IN_NETNS=1 "$0" "$@"
fi
source "$(dirname "$0")/../preload/switch_lib.sh"
need python3
chmod 777 "$tmp"  # the unprivileged programs write their output and capture here
# usnet and its preload library where uid 65534 can read them: the build tree may lie under
# a directory only root may enter (/root on a fresh machine).
mkdir -p "$tmp/bin" && cp "$usnet" "$(dirname "$usnet")/../preload/libusnet-preload.so" "$tmp/bin/" && chmod 755 "$tmp/bin"
usnet=$tmp/bin/usnet
nobody=65534
nobody_cmd=(setpriv --reuid=$nobody --regid=$nobody --clear-groups)
as_nobody() { "${nobody_cmd[@]}" "$@"; }
# The TUN device node usable by every user, as distributions ship it (crw-rw-rw-), in this
# private mount namespace only: the machine's own node is left as it is.
if ! as_nobody test -w /dev/net/tun; then
    out=$(as_nobody "$usnet" run --tap tap0 --addr 10.7.0.2/24 -- true 2>&1)
    check "no access to /dev/net/tun: says so" "^usnet run: cannot open /dev/net/tun: Permission denied" "$out"
    mount -t tmpfs -o mode=755 usnet-dev /dev/net && mknod -m 666 /dev/net/tun c 10 200 || { echo "FAIL: cannot make /dev/net/tun"; exit 1; }
fi
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ping_group_range="0 2147483647"
ip tuntap add dev tap0 mode tap user $nobody group $nobody
ip addr add 10.7.0.1/24 dev tap0
ip link set tap0 up

# A UDP echo server as uid 65534 on tap0, with a capture; it answers one datagram.
bg srv "${nobody_cmd[@]}" "$usnet" run --tap tap0 --addr 10.7.0.2/24 --pcap "$tmp/run.pcap" -- python3 -u -c '
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
print("ready uid", os.getuid(), flush=True)
s.settimeout(10)
d, a = s.recvfrom(2048)
s.sendto(d.upper(), a)
print("served", a[0], flush=True)
s.settimeout(1)
try:
    s.recv(10)  # a moment more on the link, then leave
except OSError:
    pass
' >"$tmp/srv.out" 2>"$tmp/srv.err"
wait_for "$tmp/srv.out" "^ready" 10 || { echo "FAIL: the server did not start"; cat "$tmp/srv.err"; exit 1; }
check "the server runs as uid 65534 on a TAP it owns" "^ready uid 65534$" "$(cat "$tmp/srv.out")"

# While it holds tap0, another program cannot have it.
out=$(as_nobody "$usnet" run --tap tap0 --addr 10.7.0.3/24 -- true 2>&1); rc=$?
check "busy: exit 2" "^2$" "$rc"
check "busy: says so" "^usnet run: TAP device tap0 is busy: another program has it open" "$out"

# Linux pings it (a kernel ping socket) and sends it a datagram.
linux=$(python3 - <<'PY'
import socket, struct
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.settimeout(3)
for seq in (1, 2, 3):
    p.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, seq) + b"x" * 48, ("10.7.0.2", 0))
    r = p.recv(200)
    print("echo reply", r[0], "seq", struct.unpack("!H", r[6:8])[0], "len", len(r))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
u.sendto(b"hello usnet", ("10.7.0.2", 7000))
print("reply", u.recv(100).decode())
PY
)
echo "$linux"
check "Linux pings usnet" "^echo reply 0 seq 3 len 56$" "$linux"
check "Linux's datagram is served" "^reply HELLO USNET$" "$linux"
check "Linux learned usnet's MAC by ARP" "10.7.0.2 lladdr 02:75:74:.* (REACHABLE|STALE|DELAY)" "$(ip neigh show dev tap0)"
wait "$srv"
check "the server saw Linux's address" "^served 10.7.0.1$" "$(cat "$tmp/srv.out")"

# A usnet client as uid 65534 and a Linux server.
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.7.0.1", 7001))
s.settimeout(10)
d, a = s.recvfrom(100)
s.sendto(b"linux saw " + d + b" from " + a[0].encode(), a)
' &
ksrv=$!
# (until it is bound: a datagram before that draws a port unreachable)
for i in $(seq 100); do ss -Huln 'sport = 7001' | grep -q . && break; sleep 0.05; done
cli=$(as_nobody "$usnet" run --tap tap0 --addr 10.7.0.2/24 -- python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"hi", ("10.7.0.1", 7001))
print(s.recv(100).decode())
' 2>&1)
wait $ksrv
check "a usnet client reaches a Linux server" "^linux saw hi from 10.7.0.2$" "$cli"

# A program asleep in the kernel still answers pings (the shim's thread takes the TAP's
# frames in), and select over a usnet socket and a pipe wakes for a datagram from Linux.
bg sel "${nobody_cmd[@]}" "$usnet" run --tap tap0 --addr 10.7.0.2/24 -- python3 -u -c '
import os, select, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7002))
r, w = os.pipe()
print("ready", flush=True)
time.sleep(1.5)
ready, _, _ = select.select([s, r], [], [], 5)
print("selected", [("usnet" if x is s else "pipe") for x in ready], s.recv(100).decode(), flush=True)
' >"$tmp/sel.out" 2>&1
wait_for "$tmp/sel.out" "^ready" 10 || { echo "FAIL: the select program did not start"; cat "$tmp/sel.out"; exit 1; }
asleep=$(python3 - <<'PY'
import socket, struct, time
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.settimeout(1)
t = time.monotonic()
p.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"z" * 8, ("10.7.0.2", 0))
r = p.recv(100)
print("asleep, echo reply", r[0], "in under a second:", time.monotonic() - t < 1)
time.sleep(1.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"wake", ("10.7.0.2", 7002))
PY
)
check "a program asleep in the kernel answers a ping" "^asleep, echo reply 0 in under a second: True$" "$asleep"
wait "$sel"
check "select over a usnet socket and a pipe wakes for the datagram" "^selected \['usnet'\] wake$" "$(cat "$tmp/sel.out")"

# Devices that cannot be had: each reported before the program runs, exit 2.
expect2() {
    local name=$1 pattern=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    check "$name: exit 2" "^2$" "$rc"
    check "$name: message" "$pattern" "$out"
}
expect2 "missing, unprivileged" "^usnet run: no TAP device nosuch0 in this network namespace, and creating one needs CAP_NET_ADMIN" \
    as_nobody "$usnet" run --tap nosuch0 --addr 10.7.0.2/24 -- true
ip tuntap add dev tap1 mode tap user 0
expect2 "another user's" "^usnet run: not permitted to use TAP device tap1: it belongs to another user or group" \
    as_nobody "$usnet" run --tap tap1 --addr 10.7.0.2/24 -- true
ip tuntap add dev tun9 mode tun
expect2 "a TUN, not a TAP" "^usnet run: tun9 exists but is not a TAP device" "$usnet" run --tap tun9 --addr 10.7.0.2/24 -- true
ip link add veth9 type veth peer name veth10
expect2 "a veth, not a TAP" "^usnet run: veth9 exists but is not a TAP device" "$usnet" run --tap veth9 --addr 10.7.0.2/24 -- true
expect2 "no address" "^usnet run: topology a host on a TAP device needs its address" "$usnet" run --tap tap0 -- true
expect2 "switch uplink, another user's" "^usnet switch: uplink tap:tap1: not permitted to use TAP device tap1" \
    as_nobody "$usnet" switch --socket "$tmp/s.sock" --uplink tap:tap1
expect2 "switch uplink, bad vxlan" "^usnet switch: uplink vxlan:10.1.2.3: expected REMOTE\[:PORT\],vni=N" \
    "$usnet" switch --socket "$tmp/s.sock" --uplink vxlan:10.1.2.3
expect2 "switch uplink, unknown kind" "^usnet switch: uplink eth0: expected tap:NAME or vxlan:" \
    "$usnet" switch --socket "$tmp/s.sock" --uplink eth0

# Root may have usnet make the TAP: it exists while the program runs, and goes with it.
made=$("$usnet" run --tap tapnew --addr 10.8.0.2/24 -- python3 -c '
import os, socket, subprocess
socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the first socket builds the stack
# (as the kernel sees it: without the shim, whose netlink answers from usnet)
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
r = subprocess.run(["ip", "-o", "link", "show", "tapnew"], capture_output=True, text=True, env=env)
print(r.stdout, r.stderr)
' 2>&1)
check "usnet made the TAP for root" "tapnew: .*link/ether" "$made"
check "and it went with the program" "^$" "$(ip -o link show tapnew 2>/dev/null)"

if command -v tshark >/dev/null; then
    frames=$(tshark -n -r "$tmp/run.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE 2>/dev/null)
    echo "$frames"
    check "the capture holds the pings and the datagrams" "Echo \(ping\) reply.*" "$frames"
    check "the capture holds the served datagram" "10.7.0.2 → 10.7.0.1 +UDP .* 7000 → " "$frames"
    bad=$(tshark -n -r "$tmp/run.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
          -Y '_ws.expert.severity >= warning || _ws.malformed' 2>/dev/null)
    check "tshark finds nothing wrong in the capture" "^$" "$bad"
fi
exit $status
