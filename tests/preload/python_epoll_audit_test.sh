#!/usr/bin/env bash
# The epoll emulation against the kernel, as event libraries use it: level triggering
# reports a readable socket at every wait; edge triggering once per datagram; EPOLL_CTL_MOD
# re-arms an edge and a one-shot; one socket in several epoll instances; an epoll instance
# nested in another (the outer one reports the inner as readable); EPOLLEXCLUSIVE with two
# threads waiting (one datagram wakes one of them); a thread blocked in epoll_wait woken by
# another thread's send. The same script runs on the kernel in a private namespace.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ep.py" <<'PY'
import os, select, socket, threading, time

def bits(ev):
    return "|".join(n for n in ("EPOLLIN", "EPOLLOUT", "EPOLLERR", "EPOLLHUP") if ev & getattr(select, n))
def show(label, evs, names):
    print(f"{label:40}", sorted((names.get(fd, fd), bits(ev)) for fd, ev in evs))

r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 9980))
w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
w.connect(("127.0.0.1", 9980))
names = {r.fileno(): "r"}

# Level triggering: reported at every wait while a datagram waits.
e = select.epoll()
e.register(r.fileno(), select.EPOLLIN)
w.send(b"a")
show("LT, first wait", e.poll(1), names)
show("LT, second wait", e.poll(0.05), names)
r.recv(10)
show("LT, drained", e.poll(0.05), names)

# Edge triggering, and MOD re-arming it.
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLET)
w.send(b"b")
show("ET, new datagram", e.poll(1), names)
show("ET, no new edge", e.poll(0.05), names)
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLET)
show("ET, MOD re-arms (still readable)", e.poll(1), names)
r.recv(10)

# One-shot, re-armed by MOD while readable.
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
w.send(b"c")
show("oneshot", e.poll(1), names)
show("oneshot spent", e.poll(0.05), names)
e.modify(r.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
show("oneshot re-armed", e.poll(1), names)
r.recv(10)
e.modify(r.fileno(), select.EPOLLIN)

# The same socket in two instances: each reports it; draining clears both.
e2 = select.epoll()
e2.register(r.fileno(), select.EPOLLIN)
w.send(b"d")
show("two instances, first", e.poll(1), names)
show("two instances, second", e2.poll(1), names)
r.recv(10)
show("two instances, drained (first)", e.poll(0.05), names)
show("two instances, drained (second)", e2.poll(0.05), names)
e2.close()

# Nested: the outer instance watches the inner, which watches the socket.
outer = select.epoll()
inner = select.epoll()
inner.register(r.fileno(), select.EPOLLIN)
outer.register(inner.fileno(), select.EPOLLIN)
names[inner.fileno()] = "inner"
show("nested, idle", outer.poll(0.05), names)
w.send(b"e")
show("nested, outer sees inner", outer.poll(1), names)
show("nested, inner sees the socket", inner.poll(0.05), names)
r.recv(10)
show("nested, drained (inner)", inner.poll(0.05), names)
time.sleep(0.05)
show("nested, drained (outer)", outer.poll(0.05), names)
inner.close()
outer.close()

# A thread blocked in epoll_wait, woken by another thread's send.
got = []
def waiter():
    got.append(e.poll(5))
t = threading.Thread(target=waiter)
t.start()
time.sleep(0.1)
w.send(b"f")
t.join()
show("woken by another thread", got[0], names)
r.recv(10)

# EPOLLEXCLUSIVE: two threads wait in two instances; one datagram wakes one.
x1, x2 = select.epoll(), select.epoll()
x1.register(r.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
x2.register(r.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
woken = []
def xw(ep, n):
    if ep.poll(0.5):
        woken.append(n)
ts = [threading.Thread(target=xw, args=(x1, 1)), threading.Thread(target=xw, args=(x2, 2))]
for t in ts: t.start()
time.sleep(0.1)
w.send(b"g")
for t in ts: t.join()
print("EPOLLEXCLUSIVE: threads woken:", len(woken))
print("MOD of an EPOLLEXCLUSIVE item:", end=" ")
try:
    x1.modify(r.fileno(), select.EPOLLIN)
    print("ok")
except OSError as ex:
    print(os.strerror(ex.errno))
PY
u=$(cd "$tmp" && timeout 30 "$usnet" run -- python3 ep.py 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
status=0
grep -q "^exit=0$" <<<"$u" || status=1
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  k=$(cd "$tmp" && unshare -n sh -c 'ip link set lo up && timeout 30 python3 ep.py 2>&1; echo "exit=$?"')
  echo "kernel:"; echo "$k"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; }
elif [ $status = 0 ]; then
  echo "SKIP: no network namespace to compare with the kernel"; exit 77
fi
exit $status
