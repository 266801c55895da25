#!/usr/bin/env bash
# exec and descriptor numbers under `usnet run`:
#  - a program exec'd from a usnet program keeps the shim (LD_PRELOAD is inherited): its
#    own UDP socket behaves as on the kernel (getpeername ENOTCONN, connect, getpeername);
#  - close-on-exec: sockets made with SOCK_CLOEXEC, or marked FD_CLOEXEC with fcntl, are
#    closed in the new program; an inheritable one is still the same socket there (bound to
#    its port), as on the kernel;
#  - a usnet socket at a descriptor >= FD_SETSIZE works with poll, epoll and select (a big
#    bitmap through ctypes), and select with nfds > FD_SETSIZE looks at as many descriptors
#    as the kernel does (its descriptor table's size), EBADF for a closed one within it.
# stdout is compared with the same scripts on the kernel.
set -uo pipefail
usnet=$(readlink -f "$1")
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/parent.py" <<'PY'
import fcntl, os, socket, sys
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.set_inheritable(True)
b.bind(("127.0.0.1", 9980))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.set_inheritable(True)
fcntl.fcntl(c.fileno(), fcntl.F_SETFD, fcntl.FD_CLOEXEC)
for label, s in (("SOCK_CLOEXEC", a), ("inheritable", b), ("FD_CLOEXEC", c)):
    print(label, "F_GETFD:", fcntl.fcntl(s.fileno(), fcntl.F_GETFD))
sys.stdout.flush()
os.execv(sys.executable, [sys.executable, "child.py", str(a.fileno()), str(b.fileno()), str(c.fileno())])
PY
cat >"$tmp/child.py" <<'PY'
import errno, os, socket, sys
fds = [int(x) for x in sys.argv[1:4]]
for label, fd in zip(("SOCK_CLOEXEC", "inheritable", "FD_CLOEXEC"), fds):
    try:
        os.fstat(fd)
        print(label, "after exec: open")
    except OSError as x:
        print(label, "after exec:", errno.errorcode[x.errno])
# What the inherited descriptor is (stderr).
try:
    i = socket.socket(fileno=fds[1])
    print("inherited:", i.getsockname(), file=sys.stderr)
except OSError as x:
    print("inherited:", errno.errorcode[x.errno], file=sys.stderr)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.getpeername()
except OSError as x:
    print("getpeername:", errno.errorcode[x.errno])
s.connect(("127.0.0.1", 7777))
print("getpeername:", s.getpeername(), "sockname address:", s.getsockname()[0])
PY
cat >"$tmp/high.py" <<'PY'
import ctypes, errno, os, resource, select, socket
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9990))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
os.dup2(s.fileno(), 1500)
h = socket.socket(fileno=1500)
print("fd 1500 name:", h.getsockname())
c.sendto(b"high1", ("127.0.0.1", 9990))
p = select.poll()
p.register(1500, select.POLLIN)
print("poll:", p.poll(1000))
e = select.epoll()
e.register(1500, select.EPOLLIN)
print("epoll:", e.poll(1))
print("recv:", h.recv(10))
print("poll drained:", p.poll(50))

libc = ctypes.CDLL(None, use_errno=True)
class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]
Bits = ctypes.c_ulong * 128  # 8192 descriptors
def bitmap(*fds):
    b = Bits()
    for fd in fds:
        b[fd // 64] |= 1 << (fd % 64)
    return b
def isset(b, fd):
    return bool((b[fd // 64] >> (fd % 64)) & 1)
def sel(nfds, fds, ms):
    b = bitmap(*fds)
    tv = timeval(0, ms * 1000)
    r = libc.select(nfds, ctypes.byref(b), None, None, ctypes.byref(tv))
    e = ctypes.get_errno()
    return (r if r >= 0 else errno.errorcode[e]), [fd for fd in fds if isset(b, fd)]
print("select fd 1500, idle:", sel(1501, [1500], 50))
c.sendto(b"high2", ("127.0.0.1", 9990))
print("select fd 1500:", sel(1501, [1500], 1000))
print("select nfds 5000, low fd:", sel(5000, [s.fileno()], 1000))
# nfds beyond the descriptor table (2048 here): bits there are not looked at ...
print("select nfds 5000, bit 3000 set:", sel(5000, [1500, 3000], 1000))
# ... but a closed descriptor within it is EBADF.
print("select nfds 5000, bit 1600 set:", sel(5000, [1500, 1600], 1000))
print("recv:", s.recv(10))
PY
cat >"$tmp/run.sh" <<'SH'
# $1: a command prefix ("" on the kernel)
cd "$(dirname "$0")"
timeout 30 $1 python3 parent.py 2>err; echo "exit=$?"
timeout 30 $1 python3 high.py 2>&1; echo "exit=$?"
SH
u=$(bash "$tmp/run.sh" "$usnet run --")
uerr=$(cat "$tmp/err")
echo "usnet:"; echo "$u"; echo "usnet stderr: $uerr"
status=0
grep -q "^getpeername: ('127.0.0.1', 7777)" <<<"$u" || { echo "FAIL: the exec'd program"; status=1; }
grep -q "^select fd 1500: (1, \[1500\])" <<<"$u" || { echo "FAIL: select on fd 1500"; status=1; }
[ "$uerr" = "inherited: ('127.0.0.1', 9980)" ] || { echo "FAIL: the inherited socket is not the same socket after exec"; status=1; }
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  k=$(unshare -n sh -c 'ip link set lo up && bash "$0" ""' "$tmp/run.sh")
  echo "kernel:"; echo "$k"; echo "kernel stderr: $(cat "$tmp/err")"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; }
elif [ $status = 0 ]; then
  echo "SKIP: no network namespace to compare with the kernel"; exit 77
fi
exit $status
