#!/usr/bin/env bash
# Waiting on usnet sockets and kernel descriptors together under `usnet run`: select,
# poll and epoll over a UDP socket and a pipe, dup of a socket, and a thread that sends
# while the main thread waits, compared with the same script on the kernel.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/mux.py" <<'PY'
import os, select, socket, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9997))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pr, pw = os.pipe()

def ready(r):
    return sorted("sock" if x is s or x == s.fileno() else "pipe" for x in r)

print("select idle:", ready(select.select([s, pr], [], [], 0.05)[0]))
c.sendto(b"a", ("127.0.0.1", 9997))
print("select sock:", ready(select.select([s, pr], [], [], 1)[0]))
s.recv(10)
os.write(pw, b"x")
print("select pipe:", ready(select.select([s, pr], [], [], 1)[0]))
os.read(pr, 1)

p = select.poll()
p.register(s, select.POLLIN)
p.register(pr, select.POLLIN)
threading.Timer(0.1, lambda: c.sendto(b"b", ("127.0.0.1", 9997))).start()
ev = p.poll(2000)
print("poll woke by thread:", [("sock" if fd == s.fileno() else "pipe", e) for fd, e in ev])
s.recv(10)

e = select.epoll()
e.register(s.fileno(), select.EPOLLIN)
e.register(pr, select.EPOLLIN)
print("epoll idle:", e.poll(0.05))
c.sendto(b"c", ("127.0.0.1", 9997))
print("epoll sock:", [("sock" if fd == s.fileno() else "pipe") for fd, _ in e.poll(1)])
print("recv:", s.recv(10))
print("epoll drained:", e.poll(0.05))

d = socket.socket(fileno=os.dup(s.fileno()))
c.sendto(b"via-dup", ("127.0.0.1", 9997))
print("dup recv:", d.recv(20), "same name:", d.getsockname() == s.getsockname())
d.close()
c.sendto(b"after-dup-close", ("127.0.0.1", 9997))
print("original still works:", s.recv(20))

# fork: the child keeps using the inherited socket; the parent's is unharmed.
pid = os.fork()
if pid == 0:
    c.sendto(b"from-child", ("127.0.0.1", 9997))
    print("child recv:", s.recv(20), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
c.sendto(b"from-parent", ("127.0.0.1", 9997))
print("parent recv:", s.recv(20))
PY
u=$(cd "$tmp" && timeout 30 "$usnet" run -- python3 mux.py 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
status=0
grep -q "original still works" <<<"$u" || status=1
if [ "$(id -u)" = 0 ]; then
  k=$(cd "$tmp" && unshare -n sh -c 'ip link set lo up && timeout 30 python3 mux.py 2>&1; echo "exit=$?"')
  echo "kernel:"; echo "$k"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ"; status=1; }
fi
exit $status
