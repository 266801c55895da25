#!/usr/bin/env bash
# exec on a switch: the exec'd program keeps the shim and, attaching again under the same
# pid, gets its port and MAC back, so a peer that learned the MAC before the exec reaches it
# (sending until the new image, however slow to start, has bound the port again).
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need python3
start_switch
cat >"$tmp/peer.py" <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7200))
s.settimeout(10)
d, a = s.recvfrom(100)
s.sendto(d.upper(), a)
# The other program execs meanwhile; until its new image has bound the port again a datagram
# finds nobody, so "two" goes again every 0.3 s until the new image acknowledges it.
time.sleep(0.3)
s.settimeout(0.3)
for _ in range(30):
    s.sendto(b"two", a)
    try:
        if s.recvfrom(100)[0] == b"ack":
            break
    except socket.timeout:
        pass
PY
cat >"$tmp/first.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7400))
s.settimeout(5)
s.sendto(b"one", ("10.0.2.17", 7200))
print("before exec:", s.recv(100), flush=True)
os.execv(sys.executable, [sys.executable, sys.argv[1]])
PY
cat >"$tmp/second.py" <<'PY'
import os, socket
print("exec'd program preloaded:", "libusnet-preload" in os.environ.get("LD_PRELOAD", ""), flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7400))
s.settimeout(5)
d, a = s.recvfrom(100)
s.sendto(b"ack", a)
print("after exec:", d, a[0])
PY
bg peer_pid "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- python3 "$tmp/peer.py"
wait_attach 10.0.2.17
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- python3 "$tmp/first.py" "$tmp/second.py" 2>&1)
echo "$out"
check "before exec" "before exec: b'ONE'" "$out"
check "the exec'd program has the shim" "exec'd program preloaded: True" "$out"
check "reached after exec" "after exec: b'two' 10.0.2.17" "$out"
log=$(cat "$sock.log")
# The host keeps port 2 and its MAC: the new image attaches again in its place, or never
# left (a program that had forked, or that keeps a socket across exec, hands the keeper on).
check "the same port (and MAC) after exec" "port 2 attached: pid ([0-9]+), 10\.0\.2\.16, 02:75:6e:00:00:02" "$log"
if grep -qE "port [013-9][0-9]* attached: .*10\.0\.2\.16" <<<"$log"; then echo "FAIL: the exec'd program took another port"; status=1; fi
exit $status
