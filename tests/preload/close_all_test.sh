#!/usr/bin/env bash
# A daemon closes every descriptor it does not know at start (dnsmasq, inetd-style servers):
# by number from /proc/self/fd, or with close_range. Under usnet run, after a fork (the
# shell's `&`, so the process is a client of the keeper), that must not take the shim's own
# descriptors (the keeper connection, the trace file): the daemon's sockets, netlink
# included, then work as on the kernel. Compared with the kernel in private namespaces.
usnet=$1
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
py=$(command -v python3) || { echo "SKIP: no python3"; exit 77; }
py=$("$py" -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/daemon.py" <<'PY'
import os, socket, sys
if sys.argv[1] == "listed":
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass
else:
    os.closerange(3, 1 << 20)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.sendto(b"alive", s.getsockname())
print(sys.argv[1], s.recv(10))
os.read(s.fileno(), 0)  # (traced by this process itself, into the shim's trace file)
n = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
n.bind((0, 0))
print(sys.argv[1], "netlink bound:", n.getsockname()[0] > 0)
PY
script="true & wait; '$py' '$tmp/daemon.py' listed; '$py' '$tmp/daemon.py' range"
k=$(unshare -n bash -c "ip link set lo up; $script" 2>&1)
u=$(timeout 30 unshare -n "$usnet" run --trace="$tmp/trace" -- bash -c "$script" 2>&1)
echo "$u"
status=0
if [ "$u" = "$k" ] && grep -q "^range b'alive'$" <<<"$u"; then echo "PASS: usnet and the kernel print the same"
else echo "FAIL: usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); status=1; fi
[ "$(grep -c '^read([0-9]*, 0) = 0' "$tmp/trace")" = 2 ] && echo "PASS: the trace file outlived the daemons' closing" ||
  { echo "FAIL: the daemons' own trace lines are missing"; grep -v '^ ' "$tmp/trace"; status=1; }
exit $status
