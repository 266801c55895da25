#!/usr/bin/env bash
# fork on a switch: the child's copy of the stack is detached (its eth0 down: sends off
# the host fail with ENETUNREACH, loopback works), the parent keeps its port and talks on.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need python3
start_switch
cat >"$tmp/echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7200))
s.settimeout(10)
for _ in range(2):
    d, a = s.recvfrom(100)
    s.sendto(d.upper(), a)
PY
cat >"$tmp/fork.py" <<'PY'
import errno, os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"before", ("10.0.2.17", 7200))
print("parent before fork:", s.recvfrom(100)[0], flush=True)
pid = os.fork()
if pid == 0:
    try:
        s.sendto(b"child", ("10.0.2.17", 7200))
        print("child: sent off-host (unexpected)", flush=True)
    except OSError as e:
        print("child off-host:", errno.errorcode[e.errno], flush=True)
    lo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lo.bind(("127.0.0.1", 7300))
    lo.sendto(b"loop", ("127.0.0.1", 7300))
    print("child loopback:", lo.recv(10), flush=True)  # (os._exit flushes nothing)
    os._exit(0)
os.waitpid(pid, 0)
s.sendto(b"after", ("10.0.2.17", 7200))
print("parent after fork:", s.recvfrom(100)[0])
PY
bg echo_pid "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- python3 "$tmp/echo.py"
wait_attach 10.0.2.17
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- python3 "$tmp/fork.py" 2>&1)
echo "$out"
check "parent talks before fork" "parent before fork: b'BEFORE'" "$out"
check "child's off-host send fails" "child off-host: ENETUNREACH" "$out"
check "child's loopback works" "child loopback: b'loop'" "$out"
check "parent talks after fork" "parent after fork: b'AFTER'" "$out"
# --explain says why the child's send failed: its copy of the world lost the switch.
bg echo_pid2 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- python3 "$tmp/echo.py"
sleep 0.5
out=$(timeout 20 "$usnet" run --explain --switch "$sock" --addr 10.0.2.16/24 -- python3 "$tmp/fork.py" 2>&1)
echo "$out"
if grep -q 'ENETUNREACH.*detached from the switch' <<<"$out"; then echo "ok: --explain names the detached switch"
else echo "FAIL: --explain does not say the child is detached from the switch"; status=1; fi
exit $status
