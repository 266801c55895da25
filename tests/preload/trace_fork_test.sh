#!/usr/bin/env bash
# --trace after a fork: the calls the shim answers itself (epoll_ctl, epoll_wait's report,
# poll, a read of 0 bytes, dup) are traced from every process as before the fork, and the
# stack's calls, made in the keeper, are traced there; the same lines as without a fork.
set -uo pipefail
usnet=$1
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
# The interpreter itself: a python3 on PATH may be a wrapper script that forks (pyenv),
# which would make even the run without a fork a client of a keeper.
py=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/prog.py" <<'PY'
import os, socket, select, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9500))
if sys.argv[1] == "fork":
    pid = os.fork()
    if pid == 0:
        time.sleep(2)
        os._exit(0)
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLIN)
s.sendto(b"x", ("127.0.0.1", 9500))
print(ep.poll(1), flush=True)
os.read(s.fileno(), 0)
os.dup(s.fileno())
print(s.recv(10), flush=True)
PY
status=0
for mode in nofork fork; do
    out=$("$usnet" run --trace="$tmp/$mode.txt" -- "$py" "$tmp/prog.py" $mode 2>&1)
    echo "== $mode: $out"
    grep -q "b'x'" <<<"$out" || { echo "FAIL: $mode: the datagram was not read"; status=1; }
    # Each call's first line, without the descriptor numbers python happens to get.
    grep -E '^[a-z_0-9]+\(' "$tmp/$mode.txt" | sed -E 's/[0-9]+/N/g' >"$tmp/$mode.calls"
    cat "$tmp/$mode.calls"
    for want in 'epoll_ctl(N, EPOLL_CTL_ADD, N, NxN) = N' 'epoll_wait(N) reports fd N NxN' 'read(N, N) = N' \
                'fcntl(N, F_DUPFD_CLOEXEC, N) = N'; do
        grep -qxF "$want" "$tmp/$mode.calls" || { echo "FAIL: $mode: no line '$want'"; status=1; }
    done
done
# The stack's own calls: in-process as the program made them; after the fork, as the keeper
# makes them (sendto as a sendmsg that does not wait), which shows the keeper was in use.
grep -qxF 'sendto(N, N bytes, N, N.N.N.N:N) = N' "$tmp/nofork.calls" || { echo "FAIL: nofork: no sendto line"; status=1; }
grep -qxF 'sendmsg(N, {N bytes, name N.N.N.N:N}, MSG_DONTWAIT) = N' "$tmp/fork.calls" ||
    { echo "FAIL: fork: the sendto was not made in the keeper"; status=1; }
exit $status
