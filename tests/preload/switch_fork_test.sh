#!/usr/bin/env bash
# fork on a switch: parent and child are one host, sharing its sockets as on the kernel.
# A python3 program (10.0.2.17) binds, forks, and with a peer (10.0.2.16) checks, one step
# at a time (a pipe paces the two processes, so the lines come in one order): the inherited
# socket's name is the same in both; datagrams on it are read once, by one of the two,
# whether both wait in recv or the child reads what the parent left queued; the child sends
# off the host on the inherited socket (from its port) and on sockets of its own, and gets
# the replies; a port either one binds is in use for the other; the child's close of its
# copies leaves the parent's working and frees what only the child held; and the child goes
# on after the parent exited. A second program forks before making any socket: the child's
# port is in use for the parent, and their ephemeral ports differ. A third starts programs
# (subprocess, posix_spawn, system(), a daemon() child): its port is in use for each of
# them, and each talks to the peer. The same programs and peer
# on the kernel, in two network namespaces joined by a veth pair, print the same lines.
usnet=$1
source "$(dirname "$0")/../programs/pair_lib.sh"
need python3
cat >"$tmp/peer.py" <<'PY'
# "burst N": N datagrams d00.. to the sender; anything else: an echo in capitals to the
# sender and, unless it starts with "orphan", a report of where it came from to port 7101.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.2.16", 7000))
s.settimeout(30)
fixed = {7100, 7101, 7150, 7200, 7300}
while True:
    d, a = s.recvfrom(2000)
    if d.startswith(b"burst "):
        for i in range(int(d.split()[1])):
            s.sendto(b"d%02d" % i, a)
        continue
    port = str(a[1]) if a[1] in fixed else "a port of its own"
    if not d.startswith(b"orphan"):
        s.sendto(b"%s from %s:%s" % (d, a[0].encode(), port.encode()), (a[0], 7101))
    s.sendto(d.upper(), a)
PY
cat >"$tmp/fork.py" <<'PY'
import errno, os, select, socket, sys, time
PEER = ("10.0.2.16", 7000)

def say(who, *a):
    print(who + ":", *a, flush=True)

def why(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return str(e) or type(e).__name__

def udp(port=None, timeout=5.0):
    x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    x.settimeout(timeout)
    if port is not None:
        x.bind(("0.0.0.0", port))
    return x

def attempt(who, what, fn):
    try:
        r = fn()
        say(who, what, "ok" if r is None else r)
    except Exception as e:
        say(who, what, why(e))

def ask(x, msg):
    x.sendto(msg, PEER)
    return x.recv(100)

def drain(x, silence=1.0):
    got = []
    x.settimeout(silence)
    try:
        while True:
            got.append(x.recv(100).decode())
    except Exception:
        pass
    x.settimeout(5.0)
    return got

_buf = {}
def tell(fd, line):
    os.write(fd, (line + "\n").encode())

def hear(fd, secs=15):
    """The next line from the pipe fd, or None at its end (or after secs)."""
    b = _buf.get(fd, b"")
    deadline = time.monotonic() + secs
    while b"\n" not in b:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        b += chunk
    line, _, _buf[fd] = b.partition(b"\n")
    return line.decode()

s = udp(7100)    # shared by both after the fork
t = udp(7150)    # the parent closes its copy and exits; the child talks on
r = udp(7101)    # reports from the peer, for the parent (the child closes its copy)
say("parent", "before fork, echo", ask(s, b"hello"))
say("parent", "before fork, report", r.recv(100))
down_r, down_w = os.pipe()   # parent -> child
up_r, up_w = os.pipe()       # child -> parent

def child():
    global n2, n3
    os.close(down_w); os.close(up_r)
    r.close()
    while True:
        step = hear(down_r)
        if step == "getsockname":
            say("child", "getsockname", s.getsockname())
        elif step == "race":
            tell(up_w, "ready")
            tell(up_w, " ".join(drain(s)))
            continue
        elif step == "rest":
            tell(up_w, " ".join(drain(s)))
            continue
        elif step == "send":
            attempt("child", "inherited socket, echo", lambda: ask(s, b"child-inherited"))
            n2 = udp()
            attempt("child", "bind 7200", lambda: n2.bind(("0.0.0.0", 7200)))
            attempt("child", "own bound socket, echo", lambda: ask(n2, b"child-bound"))
            n3 = udp()
            attempt("child", "own unbound socket, echo", lambda: ask(n3, b"child-auto"))
        elif step == "bind":
            attempt("child", "bind 7300 (the parent's)", lambda: udp(7300).close())
            attempt("child", "bind 7100 (the inherited socket's)", lambda: udp(7100).close())
        elif step == "close":
            s.close(); n2.close(); n3.close()
            say("child", "closed its copy of the shared socket and its own two")
        elif step is None:
            break
        tell(up_w, "done")
    # The parent has exited (the pipe's end): the child goes on alone.
    time.sleep(0.5)
    attempt("child", "after the parent exited, inherited socket, echo", lambda: ask(t, b"orphan-inherited"))
    attempt("child", "after the parent exited, new socket, echo", lambda: ask(udp(), b"orphan-new"))

pid = os.fork()
if pid == 0:
    try:
        child()
    finally:
        sys.stdout.flush()
        os._exit(0)
os.close(down_r); os.close(up_w)

def step(name):
    tell(down_w, name)
    if hear(up_r) != "done":
        say("parent", "the child did not finish step", name)

step("getsockname")
say("parent", "getsockname", s.getsockname())

# Both wait in recv on the shared socket while the peer sends 20 datagrams.
tell(down_w, "race")
hear(up_r)
s.sendto(b"burst 20", PEER)
mine = drain(s)
theirs = (hear(up_r) or "").split()
every = ["d%02d" % i for i in range(20)]
if sorted(mine + theirs) == every:
    say("parent", "a burst of 20 with both reading: each datagram read once")
else:
    say("parent", "a burst of 20 with both reading: parent read", mine, "child read", theirs)

# The parent reads 10, the child then reads what is left queued on the socket.
s.sendto(b"burst 20", PEER)
first = []
try:
    for _ in range(10):
        first.append(s.recv(100).decode())
except Exception as e:
    say("parent", "reading the first 10:", why(e))
tell(down_w, "rest")
say("parent", "read", " ".join(first) or "nothing")
say("parent", "the child read", hear(up_r) or "nothing")

step("send")
for _ in range(3):
    attempt("parent", "report", lambda: r.recv(100))

attempt("parent", "bind 7200 (the child's)", lambda: udp(7200).close())
q = udp(7300)
step("bind")

step("close")
attempt("parent", "after the child closed its copy, echo", lambda: ask(s, b"again"))
attempt("parent", "after the child closed its copy, report", lambda: r.recv(100))
attempt("parent", "bind 7200 after the child closed it", lambda: udp(7200).getsockname())
t.close()
say("parent", "exiting")
PY
cat >"$tmp/early.py" <<'PY'
# A fork before the program made any socket (as a shell forks the commands it runs):
# parent and child are one host all the same.
import errno, os, socket
PEER = ("10.0.2.16", 7000)
def udp():
    x = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    x.settimeout(5)
    return x
def echo(x, msg):
    try:
        x.sendto(msg, PEER)
        return x.recv(100)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e)) if e.errno else str(e)
up_r, up_w = os.pipe()
down_r, down_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(up_r); os.close(down_w)
    c = udp()
    c.bind(("0.0.0.0", 7500))
    e = udp()
    print("early child: echo", echo(e, b"early-child"), flush=True)
    os.write(up_w, b"%d" % e.getsockname()[1])
    os.read(down_r, 1)       # holds 7500 until the parent tried it
    os._exit(0)
os.close(up_w); os.close(down_r)
theirs = int(os.read(up_r, 100) or b"0")
try:
    udp().bind(("0.0.0.0", 7500))
    print("early parent: bind 7500 (the child's) ok")
except OSError as ex:
    print("early parent: bind 7500 (the child's)", errno.errorcode[ex.errno])
e = udp()
print("early parent: echo", echo(e, b"early-parent"))
print("early parent: its port and the child's differ:", e.getsockname()[1] != theirs, flush=True)
os.write(down_w, b"x")
os.waitpid(pid, 0)
PY
cat >"$tmp/spawn.py" <<'PY'
# Programs started from a program (subprocess's vfork and exec, posix_spawn, system(), and
# a daemon() child) are processes of the same host: the parent's port is in use for them.
import ctypes, os, subprocess, sys
os.environ["PYTHONUNBUFFERED"] = "1"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7600))
code = '''import errno, socket, sys
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    t.bind(("0.0.0.0", 7600)); r = "ok"
except OSError as e:
    r = errno.errorcode[e.errno]
t.settimeout(5)
t.sendto(sys.argv[1].encode(), ("10.0.2.16", 7000))
print(sys.argv[1], "child: bind 7600", r, "echo", t.recv(100), flush=True)
'''
subprocess.run([sys.executable, "-c", code, "subprocess"])
pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code, "posix_spawn"], os.environ)
os.waitpid(pid, 0)
os.system("%s -c '%s' system" % (sys.executable, code.replace("'", "'\\''")))
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    if ctypes.CDLL(None).daemon(1, 1) == 0:  # the forked child exits; its child goes on
        os.dup2(w, 1)
        os.execv(sys.executable, [sys.executable, "-c", code, "daemon"])
    os._exit(1)
os.close(w)
out = b""
while chunk := os.read(r, 200):  # until the daemon child exits
    out += chunk
print(out.decode().strip())
PY
u=$(on_usnet "exec python3 $tmp/peer.py" "exec python3 $tmp/fork.py"
    on_usnet "exec python3 $tmp/peer.py" "exec python3 $tmp/early.py"
    on_usnet "exec python3 $tmp/peer.py" "exec python3 $tmp/spawn.py")
echo "$u"
check "usnet: the inherited socket has one name" "child: getsockname \('0.0.0.0', 7100\)" "$u"
check "usnet: the child reads what the parent left" "parent: the child read d10 d11 d12 d13 d14 d15 d16 d17 d18 d19$" "$u"
check "usnet: the child sends from the inherited port" "report b'child-inherited from 10.0.2.17:7100'" "$u"
check "usnet: the child's port is in use for the parent" "parent: bind 7200 \(the child's\) EADDRINUSE" "$u"
check "usnet: the child goes on after the parent exited" "child: after the parent exited, inherited socket, echo b'ORPHAN-INHERITED'" "$u"
check "usnet: forked before any socket, still one host" "early parent: bind 7500 \(the child's\) EADDRINUSE" "$u"
check "usnet: spawned and daemon() children are processes of the host" "daemon child: bind 7600 EADDRINUSE" "$u"
k=$(on_kernel "exec python3 $tmp/peer.py" "exec python3 $tmp/fork.py"
    on_kernel "exec python3 $tmp/peer.py" "exec python3 $tmp/early.py"
    on_kernel "exec python3 $tmp/peer.py" "exec python3 $tmp/spawn.py")
same "usnet and the kernel: the same lines" "$u" "$k"
exit $status
