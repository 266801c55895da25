#!/usr/bin/env bash
# A libevent server (tests/programs/libevent_udp.cpp: level-triggered, edge-triggered and
# re-added one-shot read events, and a timer) and its client across a usnet switch, on each
# of libevent's epoll, poll and select backends, compared with the same pair on the kernel:
# the same replies, each burst answered at once (memcached's replies once waited for the
# next datagram under the epoll backend).
usnet=$1 prog=$2
source "$(dirname "$0")/pair_lib.sh"
for backend in epoll poll select; do
  server="exec '$prog' server 10.0.2.16 9300 $backend"
  client="'$prog' client 10.0.2.16 9300"
  u=$(on_usnet "$server" "$client")
  grep -q "backend $backend" "$tmp/usnet-server.log" || { echo "FAIL: $backend: the server did not start"; cat "$tmp/usnet-server.log"; status=1; }
  check "usnet, $backend: every burst answered at once" '^fast$' "$u"
  check "usnet, $backend: edge-triggered replies" '^edge b3-2$' "$u"
  check "usnet, $backend: re-added one-shot replies" '^oneshot b3-2$' "$u"
  k=$(on_kernel "$server" "$client")
  same "usnet and the kernel, $backend: the same replies" "$u" "$k"
done
exit $status
