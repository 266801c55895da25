#!/usr/bin/env bash
# python3 across `usnet switch`, server and client in separate processes: asyncio
# (loop.create_datagram_endpoint) on 10.0.2.16 <- 10.0.2.17, then the socket module
# (blocking recvfrom with a timeout, connect/getpeername/getsockname, send/recv, ICMP port
# unreachable as ConnectionRefusedError, ping of the switch's gateway through an ICMP
# datagram socket) on 10.0.2.18 <- 10.0.2.19; a broadcast and a multicast datagram from
# 10.0.2.22 reach both 10.0.2.20 and 10.0.2.21 (members of the group).
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need python3
start_switch
cat >"$tmp/aio_srv.py" <<'PY'
import asyncio
class Echo(asyncio.DatagramProtocol):
    def __init__(self, done): self.done, self.n = done, 0
    def connection_made(self, t): self.t = t; print("server ready", flush=True)
    def datagram_received(self, data, addr):
        print("server got", data.decode(), "from", addr[0], flush=True)
        self.t.sendto(data.upper(), addr)
        self.n += 1
        if self.n == 3: self.done.set_result(True)
async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    t, _ = await loop.create_datagram_endpoint(lambda: Echo(done), local_addr=("10.0.2.16", 7000))
    await asyncio.wait_for(done, 10)
    t.close()
asyncio.run(main())
PY
cat >"$tmp/aio_cli.py" <<'PY'
import asyncio
class Cli(asyncio.DatagramProtocol):
    def __init__(self, q): self.q = q
    def datagram_received(self, data, addr): self.q.put_nowait((data, addr))
    def error_received(self, exc): print("error", exc, flush=True)
async def main():
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    t, _ = await loop.create_datagram_endpoint(lambda: Cli(q), remote_addr=("10.0.2.16", 7000))
    print("client local", t.get_extra_info("sockname")[0])
    for word in ("alpha", "beta", "gamma"):
        t.sendto(word.encode())
        data, addr = await asyncio.wait_for(q.get(), 5)
        print("client got", data.decode(), "from", addr)
    t.close()
asyncio.run(main())
PY
bg srv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- python3 "$tmp/aio_srv.py" >"$tmp/aio_srv.out" 2>&1
wait_for "$tmp/aio_srv.out" "server ready" 10 || { echo "FAIL: asyncio server did not start"; cat "$tmp/aio_srv.out"; exit 1; }
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- python3 "$tmp/aio_cli.py" 2>&1; echo "exit=$?")
wait "$srv"; echo "server exit=$?" >>"$tmp/aio_srv.out"
echo "--- asyncio client:"; echo "$out"; echo "--- asyncio server:"; cat "$tmp/aio_srv.out"
check "asyncio client's local address" '^client local 10\.0\.2\.17$' "$out"
check "asyncio client got 3 answers" "client got GAMMA from \('10\.0\.2\.16', 7000\)" "$out"
check "asyncio client exited 0" '^exit=0$' "$out"
srv_out=$(cat "$tmp/aio_srv.out")
check "asyncio server got alpha" 'server got alpha from 10\.0\.2\.17' "$srv_out"
check "asyncio server got gamma" 'server got gamma from 10\.0\.2\.17' "$srv_out"
check "asyncio server exited 0" '^server exit=0$' "$srv_out"

cat >"$tmp/sock_srv.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7001))
s.settimeout(10)
print("server ready", flush=True)
for _ in range(2):
    data, peer = s.recvfrom(2048)
    print("server got", len(data), "bytes from", peer[0], "port", peer[1], flush=True)
    s.sendto(data[::-1], peer)
PY
cat >"$tmp/sock_cli.py" <<'PY'
import errno, os, socket
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.bind(("0.0.0.0", 6001))
c.sendto(b"hello switch", ("10.0.2.18", 7001))
data, peer = c.recvfrom(100)
print("client got", data, "from", peer)
try:
    c.getpeername()
except OSError as e:
    print("getpeername before connect:", errno.errorcode[e.errno])
c.connect(("10.0.2.18", 7001))
print("peer", c.getpeername(), "local", c.getsockname())
# (While the server still runs: it exits after its second datagram.)
# No socket on the server host's port 7999: ICMP port unreachable comes back.
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.settimeout(5)
r.connect(("10.0.2.18", 7999))
r.send(b"x")
try:
    r.recv(10)
except ConnectionRefusedError:
    print("ECONNREFUSED from the other host")
big = bytes(range(256)) * 5   # 1280 bytes, still one frame
c.send(big)
print("big echo reversed:", c.recv(2048) == big[::-1])
# The switch's gateway answers ping (ICMP datagram socket).
try:
    p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    p.settimeout(5)
    p.sendto(b"\x08\x00\x00\x00\x00\x00\x00\x01payload", ("10.0.2.2", 0))
    reply, src = p.recvfrom(100)
    print("ping reply type", reply[0], "from", src[0])
except OSError as e:
    print("ping:", e)
PY
bg srv2 "$usnet" run --switch "$sock" --addr 10.0.2.18/24 -- python3 "$tmp/sock_srv.py" >"$tmp/sock_srv.out" 2>&1
wait_for "$tmp/sock_srv.out" "server ready" 10 || { echo "FAIL: socket server did not start"; cat "$tmp/sock_srv.out"; exit 1; }
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.19/24 -- python3 "$tmp/sock_cli.py" 2>&1; echo "exit=$?")
wait "$srv2"; echo "server exit=$?" >>"$tmp/sock_srv.out"
echo "--- socket client:"; echo "$out"; echo "--- socket server:"; cat "$tmp/sock_srv.out"
check "client got the reversed datagram" "client got b'hctiws olleh' from \('10\.0\.2\.18', 7001\)" "$out"
check "getpeername before connect" '^getpeername before connect: ENOTCONN$' "$out"
check "peer and local after connect" "^peer \('10\.0\.2\.18', 7001\) local \('10\.0\.2\.19', 6001\)$" "$out"
check "1280-byte echo" '^big echo reversed: True$' "$out"
check "ECONNREFUSED across the switch" '^ECONNREFUSED from the other host$' "$out"
check "gateway answers ping" '^ping reply type 0 from 10\.0\.2\.2$' "$out"
check "client exited 0" '^exit=0$' "$out"
check "server saw the client's address and port" 'server got 12 bytes from 10\.0\.2\.19 port 6001' "$(cat "$tmp/sock_srv.out")"
check "server exited 0" '^server exit=0$' "$(cat "$tmp/sock_srv.out")"

# Broadcast and multicast are flooded to every host on the switch.
cat >"$tmp/group_recv.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 8800))
mreq = struct.pack("4s4s", socket.inet_aton("239.1.2.3"), socket.inet_aton(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.settimeout(10)
print("ready", flush=True)
for _ in range(2):
    d, p = s.recvfrom(100)
    print("got", d.decode(), "from", p[0], flush=True)
PY
for h in 20 21; do
    bg "g$h" "$usnet" run --switch "$sock" --addr 10.0.2.$h/24 -- python3 "$tmp/group_recv.py" 10.0.2.$h >"$tmp/g$h.out" 2>&1
    wait_for "$tmp/g$h.out" ready 10 || { echo "FAIL: group receiver $h did not start"; cat "$tmp/g$h.out"; exit 1; }
done
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.22/24 -- python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(b"to-all", ("10.0.2.255", 8800))
s.sendto(b"to-group", ("239.1.2.3", 8800))
print("sent")' 2>&1)
wait "$g20"; wait "$g21"
for h in 20 21; do
    o=$(cat "$tmp/g$h.out"); echo "--- 10.0.2.$h:"; echo "$o"
    check "10.0.2.$h got the broadcast" '^got to-all from 10\.0\.2\.22$' "$o"
    check "10.0.2.$h got the multicast" '^got to-group from 10\.0\.2\.22$' "$o"
done
exit $status
