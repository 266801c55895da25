#!/usr/bin/env bash
# pthread_cancel of a thread blocked in a usnet socket call (recv, recvmsg, read, poll,
# select, epoll_wait...): the call is a cancellation point, as on the kernel, and nothing
# stays held afterwards. The probe's output must be the kernel's, on the default world and
# on a `usnet switch`.
# Usage: cancel_test.sh USNET_CLI CANCEL_PROBE_PROGRAM
usnet=$1
prog=$2
source "$(dirname "$0")/switch_lib.sh"
u=$(timeout 60 "$usnet" run -- "$prog" 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
check "probe finished under usnet" '^done$' "$u"
check "a blocked recv is cancelled" '^recv: cancelled, cleanup ran$' "$u"
check "a new waiter afterwards gets its datagram" '^a new waiter after them: returned 4$' "$u"
start_switch
s=$(timeout 60 "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- "$prog" 2>&1; echo "exit=$?")
if [ "$s" = "$u" ]; then echo "PASS: the same on a switch"; else echo "FAIL: on a switch:"; diff <(echo "$u") <(echo "$s"); status=1; fi
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    k=$(unshare -n sh -c 'ip link set lo up && timeout 60 "$0" 2>&1; echo "exit=$?"' "$prog")
    if [ "$u" = "$k" ]; then echo "PASS: the same as the kernel"; else echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; fi
fi
exit $status
