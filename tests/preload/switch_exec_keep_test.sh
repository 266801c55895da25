#!/usr/bin/env bash
# exec on a switch with sockets open: one without close-on-exec survives the exec as on
# the kernel. A python3 program (10.0.2.17) binds three sockets, talks on one, and execs
# another program, naming two fds in its argv: A, made by libc's socket() without
# SOCK_CLOEXEC (through ctypes: python's own sockets are close-on-exec), and B, a python
# socket made inheritable (FD_CLOEXEC cleared); C stays close-on-exec. The exec'd program
# finds A and B open with their names, family and type, receives on each a datagram the
# peer (10.0.2.16) sends to its port and replies from it (the peer saw the reply come from
# that port); C's fd is closed and its port free. The same two programs and peer on the
# kernel, in two network namespaces joined by a veth pair, print the same lines.
# (switch_exec_test.sh covers an exec that leaves no socket open: the port and MAC come
# back when the new program binds again.)
usnet=$1
source "$(dirname "$0")/../programs/pair_lib.sh"
need python3
cat >"$tmp/peer.py" <<'PY'
# "go PORT": a "ping PORT" to that port of the sender's address, then a report of the
# reply (its bytes and where it came from) to the sender; anything else: an echo in capitals.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.2.16", 7000))
s.settimeout(30)
while True:
    d, a = s.recvfrom(2000)
    if d.startswith(b"go "):
        port = int(d.split()[1])
        s.sendto(b"ping %d" % port, (a[0], port))
        try:
            d2, a2 = s.recvfrom(2000)
            s.sendto(b"got %s from %s:%d" % (d2, a2[0].encode(), a2[1]), a)
        except OSError as e:
            s.sendto(b"no reply: %s" % str(e).encode(), a)
    else:
        s.sendto(d.upper(), a)
PY
cat >"$tmp/first.py" <<'PY'
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(socket.AF_INET, socket.SOCK_DGRAM, 0)   # no SOCK_CLOEXEC
if fd < 0:
    sys.exit("socket: " + os.strerror(ctypes.get_errno()))
a = socket.socket(fileno=fd)
a.bind(("0.0.0.0", 7400))
a.settimeout(5)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.bind(("0.0.0.0", 7401))
b.set_inheritable(True)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(("0.0.0.0", 7402))
print("before exec: A close-on-exec", a.get_inheritable() is False,
      "B", b.get_inheritable() is False, "C", c.get_inheritable() is False, flush=True)
a.sendto(b"hello", ("10.0.2.16", 7000))
print("before exec: A echo", a.recv(100), flush=True)
os.execv(sys.executable, [sys.executable, sys.argv[1], str(a.fileno()), str(b.fileno()), str(c.fileno())])
PY
cat >"$tmp/second.py" <<'PY'
import errno, fcntl, os, socket, sys
PEER = ("10.0.2.16", 7000)
def why(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else str(e)
try:  # (first: a socket made here could take the fd number C had)
    os.fstat(int(sys.argv[3]))
    print("after exec: C still open", flush=True)
except OSError as e:
    print("after exec: C", why(e), flush=True)
ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ctl.settimeout(5)
for name, fd in zip("AB", map(int, sys.argv[1:3])):
    try:
        print(f"after exec: {name} close-on-exec", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC), flush=True)
        s = socket.socket(fileno=fd)
        s.settimeout(5)
        print(f"after exec: {name}", s.family.name, s.type.name, s.getsockname(), flush=True)
        port = s.getsockname()[1]
        ctl.sendto(b"go %d" % port, PEER)
        d, a = s.recvfrom(100)
        print(f"after exec: {name} received", d, "from", a, flush=True)
        s.sendto(b"pong from " + name.encode(), a)
        print(f"after exec: {name} peer reports", ctl.recv(200), flush=True)
    except Exception as e:
        print(f"after exec: {name}", why(e), flush=True)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("0.0.0.0", 7402))
    print("after exec: C's port is free", flush=True)
except OSError as e:
    print("after exec: bind C's port", why(e), flush=True)
PY
u=$(on_usnet "exec python3 $tmp/peer.py" "exec python3 $tmp/first.py $tmp/second.py")
echo "$u"
check "usnet: A is open after exec, with its name" "after exec: A AF_INET SOCK_DGRAM \('0.0.0.0', 7400\)" "$u"
check "usnet: A received after exec" "after exec: A received b'ping 7400' from \('10.0.2.16', 7000\)" "$u"
check "usnet: A's reply came from its port" "after exec: A peer reports b'got pong from A from 10.0.2.17:7400'" "$u"
check "usnet: B's reply came from its port" "after exec: B peer reports b'got pong from B from 10.0.2.17:7401'" "$u"
k=$(on_kernel "exec python3 $tmp/peer.py" "exec python3 $tmp/first.py $tmp/second.py")
same "usnet and the kernel: the same lines" "$u" "$k"
exit $status
