#!/usr/bin/env bash
# The switch's capture and faults, seen by real programs (python3 under `usnet run`):
#   --pcap FILE: tshark reads the file without complaint and shows the UDP datagrams (and
#                the ARP exchange before them);
#   --duplicate 1: every datagram arrives twice;
#   --loss 1: none arrives (the receiver times out, the sender sees nothing);
#   --delay US: a round trip takes at least twice the delay;
#   --reorder P (with a delay): datagrams sent 2 ms apart arrive out of order, none lost.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need python3 tshark
cat >"$tmp/recv.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
s.settimeout(float(sys.argv[1]))   # seconds to wait for the first datagram
got = []
try:
    while True:
        data, peer = s.recvfrom(100)
        s.settimeout(float(sys.argv[2]))   # then seconds of silence that end the count
        got.append(int(data.split()[1]))
        if len(sys.argv) > 3: s.sendto(data, peer)   # echo mode
except socket.timeout:
    pass
print("received", len(got), "distinct", len(set(got)), "each twice", all(got.count(i) == 2 for i in set(got)), flush=True)
print("in order:", got == sorted(got), flush=True)
PY
cat >"$tmp/send.py" <<'PY'
import socket, sys, time
n = int(sys.argv[1])
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(0.5)
for i in range(n):
    c.sendto(b"seq %d" % i, ("10.0.2.16", 9000))
    time.sleep(0.002)
got = 0
try:
    while True:
        c.recvfrom(100); got += 1
except socket.timeout:
    pass
print("sent", n, "sender saw", got, "datagrams", flush=True)
PY
cat >"$tmp/rtt.py" <<'PY'
import socket, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
rtts = []
for i in range(5):
    t = time.monotonic()
    c.sendto(b"seq %d" % i, ("10.0.2.16", 9000))
    c.recvfrom(100)
    rtts.append((time.monotonic() - t) * 1000)
print("min rtt ms %.1f" % min(rtts), "at least 40:", min(rtts) >= 40, "under 1000:", max(rtts) < 1000, flush=True)
PY

# run_pair "FIRST IDLE [echo]" SENDER_SCRIPT SENDER_ARGS...: the receiver on .16 waits
# FIRST seconds for a datagram, then counts until IDLE seconds of silence; the sender on .17;
# sets
# $recv_out and $send_out.
run_pair() {
    local rargs=$1; shift
    bg rcv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- python3 "$tmp/recv.py" $rargs >"$sock.recv" 2>&1
    wait_for "$sock.recv" ready 10 || { echo "FAIL: receiver did not start"; cat "$sock.recv"; exit 1; }
    send_out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- python3 "$@" 2>&1; echo "exit=$?")
    wait "$rcv"
    recv_out=$(cat "$sock.recv")
    echo "  receiver: $recv_out"; echo "  sender: $send_out" | tr '\n' ' '; echo
}

echo "== --pcap"
sock=$tmp/pcap.sock
start_switch --pcap "$tmp/cap.pcap"
run_pair "10 0.5" "$tmp/send.py" 5
stop_switch
check "pcap: receiver got the 5 datagrams" '^received 5 distinct 5' "$recv_out"
tsh=$(tshark -r "$tmp/cap.pcap" 2>"$tmp/tshark.err"); echo "tshark exit=$?" >>"$tmp/tshark.err"
echo "$tsh"
check "tshark read the capture" '^tshark exit=0$' "$(cat "$tmp/tshark.err")"
warn=$(grep -v 'Running as user "root"' "$tmp/tshark.err" | grep -v '^tshark exit=0$')
if [ -z "$warn" ]; then echo "PASS: tshark printed no warning"; else echo "FAIL: tshark warned: $warn"; status=1; fi
check "capture shows the UDP datagrams" '10\.0\.2\.17 → 10\.0\.2\.16 +UDP .* → 9000 Len=5' "$tsh"
check "capture shows 5 of them" '^5$' "$(grep -cE '10\.0\.2\.17 → 10\.0\.2\.16 +UDP' <<<"$tsh")"
check "capture shows the ARP exchange" 'ARP .*Who has 10\.0\.2\.16\? Tell 10\.0\.2\.17' "$tsh"
fields=$(tshark -r "$tmp/cap.pcap" -Y udp -T fields -e ip.src -e udp.dstport -e data.data 2>/dev/null | head -1)
check "tshark decodes the payload" $'^10\\.0\\.2\\.17\t9000\t73657120' "$fields"
# Hosts leave UDP checksums partial between each other (as over a veth); what the switch
# sees (and captures) is finished: tshark, asked to verify, finds every checksum good.
sums=$(tshark -r "$tmp/cap.pcap" -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE -Y udp \
    -T fields -e udp.checksum.status -e ip.checksum.status 2>/dev/null | sort | uniq -c | sed 's/^ *//')
check "every captured UDP and IP checksum verifies" $'^5 1\t1$' "$sums"

echo "== --duplicate 1"
sock=$tmp/dup.sock
start_switch --duplicate 1
run_pair "10 0.5" "$tmp/send.py" 10
check "duplicate: each datagram arrived twice" '^received 20 distinct 10 each twice True$' "$recv_out"

echo "== --loss 1"
sock=$tmp/loss.sock
start_switch --loss 1
run_pair "2 0.5 echo" "$tmp/send.py" 10
check "loss: the receiver got nothing" '^received 0 distinct 0' "$recv_out"
check "loss: the sender saw nothing" '^sent 10 sender saw 0 datagrams' "$send_out"

echo "== --delay 20000"
sock=$tmp/delay.sock
start_switch --delay 20000
run_pair "10 1 echo" "$tmp/rtt.py"
check "delay: round trip at least 2 x 20 ms" 'at least 40: True under 1000: True' "$send_out"
check "delay: echo server got the 5 pings" '^received 5 distinct 5' "$recv_out"

echo "== --delay 20000 --reorder 0.5"
sock=$tmp/reorder.sock
start_switch --delay 20000 --reorder 0.5 --seed 3
run_pair "10 0.5" "$tmp/send.py" 30
check "reorder: all 30 arrived" '^received 30 distinct 30' "$recv_out"
check "reorder: not in the order sent" '^in order: False' "$recv_out"
exit $status
