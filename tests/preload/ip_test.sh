#!/usr/bin/env bash
# `usnet ip PID ...` changes a running program's stack as `ip` changes the kernel's: the
# program sees the new routes, mtu and addresses at its next call.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null' EXIT
mkfifo "$tmp/go"
"$usnet" run -- python3 -c '
import errno, socket, sys
def attempt(what):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        print(what, "connected from", s.getsockname()[0], "mtu", s.getsockopt(socket.IPPROTO_IP, 14), flush=True)
    except OSError as e:
        print(what, errno.errorcode[e.errno], flush=True)
attempt("before:")
print("ready", flush=True)
open(sys.argv[1]).read()          # until the test has run its ip commands
attempt("after:")
' "$tmp/go" >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/out" 2>/dev/null && break; sleep 0.05; done
status=0
run() { "$usnet" ip "$pid" "$@"; echo "ip $* -> $?"; }
log=$(
  run route del default
  run addr add 10.0.9.5/24 dev eth0
  run route add 192.0.2.0/24 via 10.0.9.1 dev eth0
  run link set eth0 mtu 1400
  run route frobnicate
  run route add 192.0.2.0/24 via 10.0.9.1 dev eth0
  run link set eth0 mtu notanumber
)
echo go >"$tmp/go"
wait "$pid"; pid=
echo "$log"; cat "$tmp/out"
check() { grep -qx -- "$2" <<<"$3" && echo "PASS: $1" || { echo "FAIL: $1"; status=1; }; }
check "route del default" "ip route del default -> 0" "$log"
check "addr add" "ip addr add 10.0.9.5/24 dev eth0 -> 0" "$log"
check "route add" "ip route add 192.0.2.0/24 via 10.0.9.1 dev eth0 -> 0" "$log"
check "link mtu" "ip link set eth0 mtu 1400 -> 0" "$log"
check "not understood is exit 2" "ip route frobnicate -> 2" "$log"
check "a duplicate route is refused: exit 1" "ip route add 192.0.2.0/24 via 10.0.9.1 dev eth0 -> 1" "$log"
check "a bad number is refused, not a crash" "ip link set eth0 mtu notanumber -> 1" "$log"
check "before: the default route" "before: connected from 10.0.2.15 mtu 1500" "$(cat "$tmp/out")"
check "after: the new route, source and mtu" "after: connected from 10.0.9.5 mtu 1400" "$(cat "$tmp/out")"
"$usnet" ip 1 route del default >/dev/null 2>&1; [ $? = 1 ] && echo "PASS: no stack at pid 1" || { echo "FAIL: pid 1"; status=1; }
exit $status
