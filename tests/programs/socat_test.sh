#!/usr/bin/env bash
# socat as a UDP echo server (UDP4-LISTEN, which connects to its first peer, and PIPE) and
# as its client, across a usnet switch, compared with the same pair on the kernel.
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need socat
server="exec socat -T3 UDP4-LISTEN:7000,bind=10.0.2.16 PIPE"
client="for i in 1 2 3; do echo line\$i; sleep 0.2; done | socat -T1 - UDP4:10.0.2.16:7000,sourceport=7001; echo socat=\$?"
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: the three lines came back" '^line3$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same replies" "$u" "$k"
exit $status
