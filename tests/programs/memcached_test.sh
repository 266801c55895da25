#!/usr/bin/env bash
# memcached -U (libevent, its epoll backend) answering a UDP client across a usnet switch,
# compared with the same pair on the kernel in a private namespace: the same replies, each
# within a fraction of a second (a reply used to wait for the next datagram or about a
# second: the epoll emulation waited in the kernel holding the shim's lock).
usnet=$1
source "$(dirname "$0")/../preload/switch_lib.sh"
need memcached python3
cat >"$tmp/client.py" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
addr = (sys.argv[1], 11311)
slowest = 0.0
def req(i, cmd):
    global slowest
    t = time.time()
    s.sendto(struct.pack("!HHHH", i, 0, 1, 0) + cmd, addr)
    d, _ = s.recvfrom(2048)
    slowest = max(slowest, time.time() - t)
    return d[8:].decode()
for i in range(20):
    print(req(2 * i, b"set k%d 0 0 5\r\nv%04d\r\n" % (i, i)).strip())
    print(req(2 * i + 1, b"get k%d\r\n" % i).replace("\r\n", " ").strip())
print(req(99, b"get nothere\r\n").strip())
print("slow" if slowest > 0.25 else "fast")
PY
run_pair() {  # run_pair PREFIX_FOR_SERVER PREFIX_FOR_CLIENT SERVER_ADDR
  local srv=$1 cli=$2 addr=$3
  $srv memcached -u root -U 11311 -p 0 -l "$addr" -t 2 >"$tmp/mc.log" 2>&1 &
  local mc=$!
  _pids+=($mc)
  sleep 0.5
  $cli python3 "$tmp/client.py" "$addr" 2>&1
  kill $mc 2>/dev/null; wait $mc 2>/dev/null
}
start_switch --gateway none
u=$(run_pair "$usnet run --switch $sock --addr 10.0.2.16/24 --" "$usnet run --switch $sock --addr 10.0.2.17/24 --" 10.0.2.16)
echo "$u" | tail -4
check "usnet: every reply, each fast" '^fast$' "$u"
check "usnet: a miss" '^END$' "$u"
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  k=$(unshare -n bash -c "ip link set lo up; $(declare -f run_pair); tmp=$tmp; _pids=(); run_pair '' '' 127.0.0.1")
  echo "$k" | tail -4
  if [ "$u" = "$k" ]; then echo "PASS: usnet and the kernel give the same replies"
  else echo "FAIL: usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); status=1; fi
else
  echo "(kernel comparison skipped: needs root and network namespaces)"
fi
exit $status
