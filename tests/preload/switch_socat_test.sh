#!/usr/bin/env bash
# socat across `usnet switch`: an echo server (UDP-LISTEN + PIPE, no fork) on 10.0.2.16
# and socat clients on 10.0.2.17; each client prints what the server sent back. Then a
# one-shot UDP-RECVFROM server answering through EXEC:rev.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need socat rev
start_switch
bg srv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- socat UDP-LISTEN:5002,reuseaddr PIPE 2>"$tmp/srv.err"
wait_attach 10.0.2.16
out=$(printf 'echo me over the switch\n' | timeout 10 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- \
      socat -t 1 - UDP:10.0.2.16:5002,sourceport=4000 2>&1; echo "exit=$?")
check "socat client got its line echoed" '^echo me over the switch$' "$out"
check "socat client exited 0" '^exit=0$' "$out"
# Same source port (UDP-LISTEN is connected to its first peer): a second exchange.
out=$(printf 'and again\n' | timeout 10 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- \
      socat -t 1 - UDP:10.0.2.16:5002,sourceport=4000 2>&1; echo "exit=$?")
check "second exchange echoed" '^and again$' "$out"

bg srv2 "$usnet" run --switch "$sock" --addr 10.0.2.18/24 -- socat UDP-RECVFROM:5003 EXEC:rev 2>"$tmp/srv2.err"
wait_attach 10.0.2.18
out=$(printf 'stressed\n' | timeout 10 "$usnet" run --switch "$sock" --addr 10.0.2.19/24 -- \
      socat -t 1 - UDP:10.0.2.18:5003 2>&1; echo "exit=$?")
check "UDP-RECVFROM + EXEC:rev answered" '^desserts$' "$out"
[ -s "$tmp/srv.err" ] && { echo "server stderr:"; cat "$tmp/srv.err"; }
[ -s "$tmp/srv2.err" ] && { echo "server 2 stderr:"; cat "$tmp/srv2.err"; }
exit $status
