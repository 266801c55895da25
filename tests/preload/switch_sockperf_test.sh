#!/usr/bin/env bash
# sockperf across `usnet switch`: `sockperf sr` on 10.0.2.16, a ping-pong run and a
# throughput run from 10.0.2.17. The summaries must show observations, a latency and a
# nonzero message rate.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need sockperf
start_switch
bg srv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- sockperf sr -i 10.0.2.16 -p 11111 >"$tmp/srv.out" 2>&1
wait_attach 10.0.2.16
wait_for "$tmp/srv.out" "Warmup stage|Test started|ready|UDP sockets" 3
sleep 0.3
# --mps: sockperf's client sizes its table of sequence numbers for (1 + seconds) * mps, and
# its default ("max") assumes about 600,000 messages a second, which a round trip through
# shared memory outruns when the VM puts the two CPUs close ("_seqN > m_maxSequenceNo").
pp=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- sockperf pp -i 10.0.2.16 -p 11111 -t 1 --mps 5000000 2>&1; echo "exit=$?")
echo "--- ping-pong:"; echo "$pp"
check "ping-pong exited 0" '^exit=0$' "$pp"
check "ping-pong counted observations" 'Summary: Latency is [0-9.]+ usec|Summary: Latency' "$pp"
check "ping-pong: nonzero valid messages" '\[Valid Duration\] RunTime=[0-9.]+ sec; SentMessages=[1-9][0-9]*; ReceivedMessages=[1-9][0-9]*' "$pp"
check "ping-pong: observations" 'Total [1-9][0-9]* observations' "$pp"
check "ping-pong: no dropped or out-of-order" '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0' "$pp"
tp=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- sockperf tp -i 10.0.2.16 -p 11111 -t 1 2>&1; echo "exit=$?")
echo "--- throughput:"; echo "$tp"
check "throughput exited 0" '^exit=0$' "$tp"
check "throughput: nonzero message rate" 'Summary: Message Rate is [1-9][0-9]* \[msg/sec\]' "$tp"
check "throughput: messages sent" 'Total of [1-9][0-9]* messages sent' "$tp"
# The server prints what it received when interrupted.
kill -INT "$srv"
wait_for "$tmp/srv.out" "ReceivedMessages|received" 5
echo "--- server:"; cat "$tmp/srv.out"
check "server received and handled messages" 'Total [1-9][0-9]* messages received' "$(cat "$tmp/srv.out")"
exit $status
