#!/usr/bin/env bash
# ping (iputils) from one host to another across a usnet switch, compared with the same pair
# on the kernel: the replies, their sequence numbers and TTLs, and the summary (times left
# out). Under usnet, ping takes an ICMP datagram socket and reads receive times with
# SO_TIMESTAMP; it used to fall back to SIOCGSTAMP and say so.
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need ping python3
# The server host needs a socket to exist (the first socket builds the stack).
server="exec python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); time.sleep(30)'"
client="ping -c 3 -i 0.2 -W 2 10.0.2.16 2>&1 | sed -E -e 's/ time[=<][0-9.]+ ?ms//' -e 's/, time [0-9]+ms//' -e '/^rtt /d'"
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: three replies" '^3 packets transmitted, 3 received, 0% packet loss$' "$u"
if grep -q "SO_TIMESTAMP\|SIOCGSTAMP" <<<"$u"; then echo "FAIL: ping complained about timestamps"; status=1; fi
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same replies" "$u" "$k"
exit $status
