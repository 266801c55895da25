#!/usr/bin/env bash
# epoll over usnet sockets reports what Linux reports: EPOLLERR for a socket whose only
# news is an ICMP error (not EPOLLIN), EPOLLOUT for a writable socket, EPOLLHUP/EPOLLRDHUP
# after shutdown, only the registered interest (EPOLLRDNORM too), EPOLLONESHOT, MOD/DEL,
# close of a registered socket, a pipe alongside; compared with the same script on the kernel.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ep.py" <<'PY'
import errno, os, select, socket

names = {}
def name(fd):
    return names.get(fd, fd)
def bits(ev):
    out = [n for n in ("EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDNORM",
                       "EPOLLRDBAND", "EPOLLWRNORM", "EPOLLWRBAND", "EPOLLRDHUP") if ev & getattr(select, n)]
    return "|".join(out)
def show(label, evs):
    print(f"{label:34}", sorted((name(fd), bits(ev)) for fd, ev in evs))
def err(f):
    try:
        return f()
    except OSError as x:
        return errno.errorcode[x.errno]

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", 9))  # nobody listens there: ICMP port unreachable
pr, pw = os.pipe()
names.update({s.fileno(): "sock", pr: "pipe"})
e = select.epoll()
e.register(s.fileno(), select.EPOLLIN)
e.register(pr, select.EPOLLIN)
show("idle", e.poll(0.05))
s.send(b"x")
show("IN, error pending", e.poll(1))
show("IN, error pending, again", e.poll(0.05))
print("recv:", err(lambda: s.recv(10)))
show("IN, error taken", e.poll(0.05))
e.modify(s.fileno(), select.EPOLLIN | select.EPOLLOUT)
show("IN|OUT", e.poll(0.05))
e.modify(s.fileno(), select.EPOLLOUT | select.EPOLLWRNORM)
show("OUT|WRNORM", e.poll(0.05))
s.send(b"y")
show("OUT|WRNORM, error pending", e.poll(1))
print("recv:", err(lambda: s.recv(10)))
e.modify(s.fileno(), 0)
show("no interest", e.poll(0.05))
s.send(b"z")
show("no interest, error pending", e.poll(1))
print("recv:", err(lambda: s.recv(10)))
os.write(pw, b"p")
e.modify(s.fileno(), select.EPOLLIN)
show("pipe readable", e.poll(1))
os.read(pr, 1)

r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 9996))
names[r.fileno()] = "r"
e.register(r.fileno(), select.EPOLLIN | select.EPOLLRDNORM)
s.connect(("127.0.0.1", 9996))
s.send(b"d1")
show("data, IN|RDNORM", e.poll(1))
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
show("oneshot", e.poll(1))
show("oneshot, spent", e.poll(0.05))
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
show("oneshot, rearmed", e.poll(1))
print("recv:", r.recv(10))
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLET)
show("ET, nothing queued", e.poll(0.05))
s.send(b"d2")
show("ET, a datagram", e.poll(1))
show("ET, no new edge", e.poll(0.05))
s.send(b"d2b")
show("ET, a second datagram while readable", e.poll(1))
show("ET, no new edge again", e.poll(0.05))
print("recv:", r.recv(10))
print("recv:", r.recv(10))
e.unregister(r.fileno())
s.send(b"d3")
show("unregistered", e.poll(0.05))
print("recv:", r.recv(10))

# shutdown: hang-up events
e.modify(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
s.shutdown(socket.SHUT_RDWR)
show("shutdown RDWR, IN|RDHUP", e.poll(1))
e.modify(s.fileno(), select.EPOLLOUT)
show("shutdown RDWR, OUT", e.poll(1))

# A registered socket closed: its item goes; a new socket on the same number works.
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tfd = t.fileno()
names[tfd] = "t"
e.register(tfd, select.EPOLLIN)
t.close()
show("registered socket closed", e.poll(0.05))
t2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("same number:", t2.fileno() == tfd)
t2.bind(("127.0.0.1", 9995))
e.register(t2.fileno(), select.EPOLLIN)
t2.sendto(b"self", ("127.0.0.1", 9995))
show("new socket, same number", e.poll(1))
print("data of a usnet item in a second epoll:", end=" ")
e2 = select.epoll()
e2.register(t2.fileno(), select.EPOLLIN)
print(e2.poll(1) == [(t2.fileno(), select.EPOLLIN)])
e2.close()
show("first epoll unaffected", e.poll(1))
PY
u=$(cd "$tmp" && timeout 30 "$usnet" run -- python3 ep.py 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
status=0
grep -q "first epoll unaffected" <<<"$u" || status=1
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  k=$(cd "$tmp" && unshare -n sh -c 'ip link set lo up && timeout 30 python3 ep.py 2>&1; echo "exit=$?"')
  echo "kernel:"; echo "$k"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; }
elif [ $status = 0 ]; then
  echo "SKIP: no network namespace to compare with the kernel"; exit 77
fi
exit $status
