#!/usr/bin/env bash
# python3's socket module under `usnet run`: a UDP server and client in one process over
# 127.0.0.1 (blocking, timeout and non-blocking reads, getpeername before and after
# connect, a thread blocked in recvfrom woken by another thread's send), compared with the same script on the kernel in a private network namespace.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/udp.py" <<'PY'
import errno, socket
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", 9999))
# Descriptor numbers as on the kernel: nothing of the shim's holds a low number meanwhile
# (its control thread once blocked in accept, which reserves the lowest free number).
import os, time
time.sleep(0.05)
nul = os.open("/dev/null", os.O_RDONLY)
print("descriptors: first socket", srv.fileno(), "then a file", nul)
os.close(nul)
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for args in ((socket.AF_INET, socket.SOCK_DGRAM, 0), (socket.AF_INET, socket.SOCK_DGRAM, 99)):
    try:
        socket.socketpair(*args)
        print("socketpair", args[2], "made a pair")
    except OSError as e:
        print("socketpair", args[2], errno.errorcode[e.errno])
cli.sendto(b"ping", ("127.0.0.1", 9999))
data, peer = srv.recvfrom(100)
print("server got", data, "from port in ephemeral range:", 32768 <= peer[1] <= 60999)
srv.sendto(b"pong", peer)
print("client got", cli.recv(100))
try:
    cli.getpeername()
except OSError as e:
    print("getpeername:", errno.errorcode[e.errno])
cli.connect(("127.0.0.1", 9999))
print("peer", cli.getpeername())
srv.settimeout(0.2)
try:
    srv.recv(10)
except socket.timeout:
    print("timeout as expected")
srv.setblocking(False)
try:
    srv.recv(10)
except BlockingIOError:
    print("EAGAIN as expected")
c2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c2.connect(("127.0.0.1", 9))
c2.send(b"x")
try:
    c2.recv(10)
except ConnectionRefusedError:
    print("ECONNREFUSED as expected")
print("SO_RCVBUF", cli.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0)
# One thread blocked in recvfrom while the main thread sends.
import threading, time
got = []
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 9998))
t = threading.Thread(target=lambda: got.append(r.recvfrom(100)[0]))
t.start()
time.sleep(0.1)
cli.sendto(b"threaded", ("127.0.0.1", 9998))
t.join(5)
print("thread got", got)
PY
u=$(cd "$tmp" && "$usnet" run -- python3 udp.py 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
status=0
grep -q "EAGAIN as expected" <<<"$u" || status=1
grep -q "thread got \[b'threaded'\]" <<<"$u" || { echo "FAIL: the blocked thread was not woken"; status=1; }
if [ "$(id -u)" = 0 ]; then
  k=$(cd "$tmp" && unshare -n sh -c 'ip link set lo up && python3 udp.py 2>&1; echo "exit=$?"')
  echo "kernel:"; echo "$k"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ"; status=1; }
fi
exit $status
