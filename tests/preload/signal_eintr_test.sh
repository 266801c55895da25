#!/usr/bin/env bash
# A signal handler that runs while a usnet socket call blocks: recv/recvfrom/read end with
# EINTR, or restart when the handler has SA_RESTART (unless SO_RCVTIMEO is set); poll and
# select end with EINTR either way; a call that succeeds leaves errno alone. The probe's
# output must be the kernel's, on the default world and on a `usnet switch`; and
# `sockperf sr` (which stops on SIGINT through EINTR) exits when interrupted.
# The probe linked statically (served by the supervisor) prints the kernel's lines too.
# Usage: signal_eintr_test.sh USNET_CLI SIGNAL_PROBE_PROGRAM [STATIC_PROBE]
usnet=$1
prog=$2 static_prog=$3
source "$(dirname "$0")/switch_lib.sh"
u=$(timeout 30 "$usnet" run -- "$prog" 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
check "probe finished under usnet" '^done$' "$u"
check "EINTR without SA_RESTART" '^recv, handler without SA_RESTART +-1 EINTR handled=1$' "$u"
check "SA_RESTART restarts the receive" '^recvfrom, SA_RESTART: restarted, gets the late datagram +4 +handled=1$' "$u"
start_switch
s=$(timeout 30 "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- "$prog" 2>&1; echo "exit=$?")
if [ "$s" = "$u" ]; then echo "PASS: the same on a switch"; else echo "FAIL: on a switch:"; diff <(echo "$u") <(echo "$s"); status=1; fi
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    k=$(unshare -n sh -c 'ip link set lo up && timeout 30 "$0" 2>&1; echo "exit=$?"' "$prog")
    if [ "$u" = "$k" ]; then echo "PASS: the same as the kernel"; else echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; fi
fi
if [ -n "$static_prog" ] && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    ks=$(unshare -n sh -c 'ip link set lo up && timeout 30 "$0" 2>&1; echo "exit=$?"' "$static_prog")
    us=$(timeout 60 unshare -n "$usnet" run -- "$static_prog" 2>&1; echo "exit=$?")
    check "statically linked: probe finished" '^done$' "$us"
    check "statically linked: SO_RCVTIMEO under SA_RESTART gives EINTR" '^recv, SA_RESTART but SO_RCVTIMEO set +-1 EINTR handled=1$' "$us"
    if [ "$us" = "$ks" ]; then echo "PASS: statically linked: the same as the kernel"
    else echo "FAIL: statically linked: usnet and the kernel differ:"; diff <(echo "$ks") <(echo "$us"); status=1; fi
fi
if command -v sockperf >/dev/null; then
    bg sp "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- sockperf sr -i 10.0.2.17 -p 11111 >"$tmp/sp.out" 2>&1
    wait_attach 10.0.2.17
    # SIGINT must land once sockperf blocks in its receive loop: a signal before its handler
    # is installed, or between its exit-flag check and recvfrom, tests nothing (the same
    # race exists on the kernel), and a loaded CI machine hits that window.
    for _ in $(seq 200); do grep -q 'to block on socket' "$tmp/sp.out" && break; sleep 0.05; done
    sleep 0.2
    kill -INT "$sp"
    for _ in $(seq 40); do kill -0 "$sp" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$sp" 2>/dev/null; then echo "FAIL: sockperf sr still runs 2 s after SIGINT"; status=1
    else wait "$sp"; check "sockperf sr exits 0 on SIGINT" '^0$' "$?"; fi
fi
exit $status
