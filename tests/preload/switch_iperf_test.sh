#!/usr/bin/env bash
# iperf 2 in UDP mode across `usnet switch`: `iperf -s -u` on 10.0.2.16, a one-second
# 20 Mbit/s client on 10.0.2.17. The server's report (printed by both sides) must show
# datagrams received and a loss figure under 5%.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need iperf
start_switch
bg srv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- iperf -s -u -p 5201 >"$tmp/srv.out" 2>&1
wait_attach 10.0.2.16
out=$(timeout 20 "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- iperf -c 10.0.2.16 -u -b 20M -t 1 -p 5201 2>&1; echo "exit=$?")
echo "--- client:"; echo "$out"
wait_for "$tmp/srv.out" "[0-9]+/ *[0-9]+ \(" 5
echo "--- server:"; cat "$tmp/srv.out"
check "client exited 0" '^exit=0$' "$out"
check "client printed the server report" 'Server Report' "$out"
# "[  1] 0.0000-1.0000 sec  2.50 MBytes  20.0 Mbits/sec   0.010 ms    0/ 1785 (0%)"
loss_ok() {  # the last "lost/total (P%)" of $1: total > 1000 and lost/total < 5%
    grep -oE '[0-9]+/ *[0-9]+ \([0-9.e+-]+%\)' <<<"$1" | tail -1 |
        awk -F'[/ (]+' '{ lost=$1; total=$2; if (total > 1000 && lost * 20 < total) print "loss ok: " lost "/" total; else print "bad loss: " $0 }'
}
check "server report (client side): datagrams received, loss < 5%" '^loss ok' "$(loss_ok "$out")"
check "server's own report: datagrams received, loss < 5%" '^loss ok' "$(loss_ok "$(cat "$tmp/srv.out")")"
exit $status
