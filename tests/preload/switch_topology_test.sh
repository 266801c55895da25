#!/usr/bin/env bash
# `usnet run`'s topology: --addr, --gateway (an address or none), --route, --mtu and a
# --topology FILE, seen by a python3 program through connect + getsockname (the source
# address and route chosen), IP_MTU, ENETUNREACH without a route, and ping of the
# switch's gateway at a non-default address. Mistakes (a bad topology line, a file that
# cannot be read, no switch at the path) end `usnet run` with exit 2 and a clear message.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need python3
cat >"$tmp/where.py" <<'PY'
import errno, socket, sys
IP_MTU = 14
for dst in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((dst, 53))
        print(dst, "from", s.getsockname()[0], "mtu", s.getsockopt(socket.IPPROTO_IP, IP_MTU))
    except OSError as e:
        print(dst, errno.errorcode[e.errno])
PY
cat >"$tmp/ping.py" <<'PY'
import socket, sys
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.settimeout(float(sys.argv[2]))
p.sendto(b"\x08\x00\x00\x00\x00\x00\x00\x01hi", (sys.argv[1], 0))
try:
    reply, src = p.recvfrom(100)
    print("ping reply type", reply[0], "from", src[0])
except socket.timeout:
    print("ping timeout")
PY
# A switch whose gateway lives in 10.0.3.0/24.
start_switch --gateway 10.0.3.1/24

echo "== flags"
out=$("$usnet" run --switch "$sock" --addr 10.0.3.5/24 --gateway none --route '192.168.0.0/16 via 10.0.3.254' --mtu 1400 \
      -- python3 "$tmp/where.py" 10.0.3.9 192.168.7.7 8.8.8.8 2>&1; echo "exit=$?")
echo "$out"
check "on-link destination: source 10.0.3.5, mtu 1400" '^10\.0\.3\.9 from 10\.0\.3\.5 mtu 1400$' "$out"
check "routed destination via --route" '^192\.168\.7\.7 from 10\.0\.3\.5 mtu 1400$' "$out"
check "--gateway none: no default route" '^8\.8\.8\.8 ENETUNREACH$' "$out"

out=$("$usnet" run --switch "$sock" --addr 10.0.3.6/24 --gateway 10.0.3.1 -- python3 "$tmp/where.py" 8.8.8.8 2>&1; echo "exit=$?")
echo "$out"
check "--gateway: default route, default mtu 1500" '^8\.8\.8\.8 from 10\.0\.3\.6 mtu 1500$' "$out"
out=$("$usnet" run --switch "$sock" --addr 10.0.3.6/24 --gateway 10.0.3.1 -- python3 "$tmp/ping.py" 10.0.3.1 5 2>&1)
echo "$out"
check "the switch's gateway 10.0.3.1 answers ping" '^ping reply type 0 from 10\.0\.3\.1$' "$out"

echo "== --topology FILE"
cat >"$tmp/topo.txt" <<TOPO
# a host on the test's switch
addr 10.0.3.5/24      # its address
gateway 10.0.3.1
mtu 1400
route 192.168.0.0/16 via 10.0.3.254

switch $sock
seed 7
TOPO
out=$("$usnet" run --topology "$tmp/topo.txt" -- python3 "$tmp/where.py" 8.8.8.8 192.168.1.1 10.0.3.77 2>&1; echo "exit=$?")
echo "$out"
check "topology file: default route via its gateway" '^8\.8\.8\.8 from 10\.0\.3\.5 mtu 1400$' "$out"
check "topology file: its route" '^192\.168\.1\.1 from 10\.0\.3\.5 mtu 1400$' "$out"
check "topology file: exit 0" '^exit=0$' "$out"
check "topology file: the host attached to the switch" 'attached: pid [0-9]+, 10\.0\.3\.5,' "$(cat "$sock.log")"
# A flag after --topology overrides the file's line.
out=$("$usnet" run --topology="$tmp/topo.txt" --mtu 1280 -- python3 "$tmp/where.py" 10.0.3.77 2>&1)
check "--mtu after --topology wins" '^10\.0\.3\.77 from 10\.0\.3\.5 mtu 1280$' "$out"
out=$("$usnet" run --topology "$tmp/topo.txt" -- python3 "$tmp/ping.py" 10.0.3.1 5 2>&1)
check "topology file host pings the gateway" '^ping reply type 0 from 10\.0\.3\.1$' "$out"

echo "== no switch: a private segment with the gateway"
out=$("$usnet" run --addr 172.16.0.10/16 --gateway 172.16.0.1 --mtu 9000 -- python3 "$tmp/where.py" 172.16.5.5 1.1.1.1 2>&1)
echo "$out"
check "private segment: on-link" '^172\.16\.5\.5 from 172\.16\.0\.10 mtu 9000$' "$out"
check "private segment: via gateway" '^1\.1\.1\.1 from 172\.16\.0\.10 mtu 9000$' "$out"
out=$("$usnet" run --addr 172.16.0.10/16 --gateway 172.16.0.1 -- python3 "$tmp/ping.py" 172.16.0.1 5 2>&1)
check "private segment: the gateway answers ping" '^ping reply type 0 from 172\.16\.0\.1$' "$out"

echo "== mistakes"
expect_exit2() {  # NAME PATTERN COMMAND...: exit code 2 and PATTERN on stderr, the program never ran
    local name=$1 pattern=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >"$tmp/ran"); rc=$?
    echo "$err (exit $rc)"
    check "$name: exit 2" '^2$' "$rc"
    check "$name: message" "$pattern" "$err"
    [ -s "$tmp/ran" ] && { echo "FAIL: $name: the program ran"; status=1; }
}
printf 'addr 10.0.3.5/24\nmtu 1400\nroute 10.9.0.0/16 over 10.0.3.254\n' >"$tmp/bad.txt"
expect_exit2 "bad route line" '^usnet run: topology line 3 \(route 10\.9\.0\.0/16 over 10\.0\.3\.254\): expected: route NET/N via GW' \
    "$usnet" run --topology "$tmp/bad.txt" -- echo ran
printf 'addr 10.0.3.5/24\ncolour blue\n' >"$tmp/bad2.txt"
expect_exit2 "unknown keyword" '^usnet run: topology line 2 \(colour blue\): unknown; expected addr, gateway, mtu, route, switch, tap, pcap or seed' \
    "$usnet" run --topology "$tmp/bad2.txt" -- echo ran
expect_exit2 "bad --addr" 'topology line 1 \(addr 10\.0\.3\.5\): expected ADDRESS/PREFIX' \
    "$usnet" run --addr 10.0.3.5 -- echo ran
expect_exit2 "mtu out of range" 'mtu must be 68\.\.65535' "$usnet" run --mtu 20 -- echo ran
expect_exit2 "unreadable topology file" '^usnet run: cannot read topology file .*/nonexistent\.txt' \
    "$usnet" run --topology "$tmp/nonexistent.txt" -- echo ran
expect_exit2 "no switch at the path" "^usnet run: no switch at $tmp/none\\.sock \\(start one with: usnet switch --socket $tmp/none\\.sock\\)" \
    "$usnet" run --switch "$tmp/none.sock" --addr 10.0.3.5/24 -- echo ran
# A socket file left by a switch killed with SIGKILL, and a plain file: no switch either.
"$usnet" switch --socket "$tmp/stale.sock" 2>/dev/null & stale=$!
wait_for_file() { local i; for i in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_for_file "$tmp/stale.sock"; kill -KILL "$stale"; wait "$stale" 2>/dev/null
expect_exit2 "stale switch socket" "^usnet run: no switch at $tmp/stale\\.sock" \
    "$usnet" run --switch "$tmp/stale.sock" --addr 10.0.3.5/24 -- echo ran
: >"$tmp/plain"
expect_exit2 "plain file as the switch" "^usnet run: no switch at $tmp/plain" \
    "$usnet" run --switch "$tmp/plain" -- echo ran
# usnet run's probe of the live switch (a connection that says nothing) leaves no trace.
attached=$(grep -c 'attached: pid' "$sock.log"); other=$(grep -cvE 'listening on|attached: pid|left \(pid' "$sock.log")
check "switch log: 6 hosts attached, no other line" '^6 0$' "$attached $other"
expect_exit2 "switch: bad --gateway" '^usnet switch: --gateway: expected ADDRESS/PREFIX or none' \
    "$usnet" switch --socket "$tmp/other.sock" --gateway 10.0.3.1
exit $status
