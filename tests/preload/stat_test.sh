#!/usr/bin/env bash
# `usnet stat PID` reads the counters of a program running under `usnet run`.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null' EXIT
"$usnet" run -- python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3): s.sendto(b"x", ("127.0.0.1", 9))
print("ready", flush=True)
time.sleep(10)
' >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q ready "$tmp/out" 2>/dev/null && break; sleep 0.05; done
out=$("$usnet" stat "$pid")
echo "$out"
status=0
grep -qx 'UdpOutDatagrams 3' <<<"$out" || { echo "FAIL: no UdpOutDatagrams 3"; status=1; }
grep -qx 'UdpNoPorts 3' <<<"$out" || { echo "FAIL: no UdpNoPorts 3"; status=1; }
grep -qx 'UsnetDropNoSocket 3' <<<"$out" || { echo "FAIL: no drop count"; status=1; }
"$usnet" stat 1 >/dev/null 2>&1 && { echo "FAIL: pid 1 has no usnet stack"; status=1; }
exit $status
