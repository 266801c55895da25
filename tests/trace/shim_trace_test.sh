#!/usr/bin/env bash
# Every call the shim routes has a trace: a python3 program's sockets, dup, read/write,
# epoll, a poll over a usnet socket and a pipe, and close of a duplicated descriptor, under
# `usnet run --trace`, each appear as a tree whose first line is the program's call with
# the program's own descriptor numbers.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
# The interpreter itself, not a wrapper script that forks first (pyenv's shim): after a fork
# the program's calls are made in the keeper, whose trace lacks the shim's own lines.
py=$(python3 -c 'import sys; print(sys.executable)')
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/prog.py" <<'PY'
import os, select, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9500))
d = os.dup(s.fileno())
print("dup", d)
os.write(d, b"") if False else None
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(("127.0.0.1", 9500))
os.write(c.fileno(), b"hello")
print("read0", os.read(s.fileno(), 0))
print("read", os.read(s.fileno(), 100))
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLIN)
c.send(b"again")
print("epoll", ep.poll(1))
r, w = os.pipe()
p = select.poll()
p.register(s.fileno(), select.POLLIN)
p.register(r, select.POLLIN)
print("poll", sorted(fd for fd, _ in p.poll(1000)))
s.recv(100)
os.close(d)
s.close()
PY
out=$(cd "$tmp" && "$usnet" run --trace="$tmp/trace.log" -- "$py" prog.py 2>&1) || { echo "FAIL: the program failed: $out"; exit 1; }
echo "$out"
status=0
expect() { grep -qE "$1" "$tmp/trace.log" || { echo "FAIL: no tree starting '$1'"; status=1; }; }
expect '^socket\(AF_INET, SOCK_DGRAM\|SOCK_CLOEXEC, 0\) = 3$'
expect '^bind\(3, 127\.0\.0\.1:9500\) = 0$'
expect '^fcntl\(3, F_DUPFD_CLOEXEC, 0\) = 4$'
expect '^  f_dupfd: descriptor 4 names the same socket as descriptor 3'
expect '^socket\(AF_INET, SOCK_DGRAM\|SOCK_CLOEXEC, 0\) = 5$'
expect '^connect\(5, 127\.0\.0\.1:9500\) = 0$'
expect '^                fd 3 \(127\.0\.0\.1:9500\): compute_score = 2$'
expect '^write\(5, 5 bytes, 0\) = 5$'
expect '^  ksys_write -> vfs_write -> sock_write_iter\(5\): UDP socket -> __sock_sendmsg$'
expect '^read\(3, 0\) = 0$'
expect '^read\(3, 100, 0\) = 5$'
expect '^epoll_ctl\([0-9]+, EPOLL_CTL_ADD, 3, 0x1\) = 0$'
expect '^epoll_wait\([0-9]+\) reports fd 3 0x1$'
expect '^poll\(2 fds, 1000\) = 1$'
expect 'do_sys_poll -> do_poll: 1 usnet and 1 kernel descriptors'
expect '^close\(4\) = 0$'
expect '^  close\(4\) -> fput: 1 other descriptor\(s\) still name the socket; it stays open$'
expect '^close\(3\) = 0$'
[ $status = 0 ] || cat "$tmp/trace.log"
exit $status
