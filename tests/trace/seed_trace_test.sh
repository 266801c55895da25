#!/usr/bin/env bash
# `usnet run --trace -- perl getpeername.pl`: the seed note's script, unmodified, prints
# the path each call took, compared with tests/trace/golden/seed_perl*.txt (the ephemeral
# port and the checksums that depend on it are masked). Also its connect() variant, and
# the trace's filters and file output through usnet run. USNET_UPDATE_GOLDEN=1 rewrites
# the golden files.
set -uo pipefail
usnet=$1 seed=$2 golden=$3
[ -f "$seed" ] || { echo "SKIP: seed note $seed not found"; exit 77; }
# Descriptors inherited from the test runner would shift the program's numbers.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-"; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```perl/{n++; inb=1; next} /^```/{inb=0} inb && n==1' "$seed" >"$tmp/getpeername.pl"
awk '/^```perl/{n++; inb=1; next} /^```/{inb=0} inb && n==2' "$seed" >"$tmp/connected.pl"
grep -q 'connect(' "$tmp/connected.pl" || { echo "FAIL: could not extract the scripts"; exit 1; }
mask() { sed -E 's/\b(3[2-9][0-9]{3}|[45][0-9]{4}|60[0-9]{3})\b/EPH/g; s/checksum 0x[0-9a-f]{4}/checksum 0xCSUM/'; }
status=0
for script in getpeername.pl connected.pl; do
  out=$(cd "$tmp" && LANG=C "$usnet" run --trace -- perl "$script" 2>&1 | mask)
  file="$golden/seed_perl_${script%.pl}.txt"
  if [ -n "${USNET_UPDATE_GOLDEN:-}" ]; then printf '%s\n' "$out" >"$file"; fi
  if ! diff -u "$file" <(printf '%s\n' "$out"); then echo "FAIL: the trace of $script differs from $file"; status=1; fi
done
# The lines the issue promised, in this order, for the seed script.
got=$(cd "$tmp" && LANG=C "$usnet" run --trace -- perl getpeername.pl 2>&1)
want='getpeername(3) = -1 ENOTCONN
  __sys_getpeername -> sockfd_lookup_light(3): UDP socket
  sock->ops->getname = inet_getname [inet_dgram_ops], peer=1
    inet->inet_dport == 0 (no peer: sendto does not set one; connect does) -> -ENOTCONN'
grep -qF "$want" <<<"$got" || { echo "FAIL: the getpeername tree is not the seed note's path"; status=1; }
# --trace=CALLS keeps those calls only; --trace=FILE writes there and leaves stderr alone.
only=$(cd "$tmp" && LANG=C "$usnet" run --trace=getpeername -- perl getpeername.pl 2>&1)
[ "$(grep -c '^[a-z]' <<<"$only")" = 1 ] && grep -q '^getpeername(3) = -1 ENOTCONN$' <<<"$only" \
  || { echo "FAIL: --trace=getpeername: $only"; status=1; }
plain=$(cd "$tmp" && LANG=C "$usnet" run --trace="$tmp/trace.log" -- perl getpeername.pl 2>&1)
[ "$plain" = 'Transport endpoint is not connected at getpeername.pl line 11.' ] || { echo "FAIL: --trace=FILE wrote to the terminal: $plain"; status=1; }
grep -q '^sendto(3, 0 bytes, 0, 8.8.8.8:53) = 0$' "$tmp/trace.log" || { echo "FAIL: --trace=FILE wrote no sendto tree"; status=1; }
# --trace-errors: only the failing call; --trace-inbound=off: no frames arriving.
err=$(cd "$tmp" && LANG=C "$usnet" run --trace-errors -- perl getpeername.pl 2>&1)
# (perl's TCGETS on the socket fails too: ENOTTY, as on Linux.)
heads=$(grep '^[a-z]' <<<"$err")
grep -q '^getpeername(3) = -1 ENOTCONN$' <<<"$heads" && ! grep -v ' = -1 E[A-Z]*$' <<<"$heads" | grep -qv 'at getpeername.pl' \
  || { echo "FAIL: --trace-errors: $err"; status=1; }
quiet=$(cd "$tmp" && LANG=C "$usnet" run --trace --trace-inbound=off -- perl getpeername.pl 2>&1)
grep -q 'receives a frame' <<<"$quiet" && { echo "FAIL: --trace-inbound=off still shows frames"; status=1; }
grep -q 'arp_solicit' <<<"$quiet" || { echo "FAIL: --trace-inbound=off lost the send's own steps"; status=1; }
"$usnet" run --trace-inbound=maybe -- true 2>/dev/null; [ $? = 2 ] || { echo "FAIL: a bad --trace-inbound value is not refused"; status=1; }
# The program sees the same thing with and without tracing.
[ "$(cd "$tmp" && LANG=C "$usnet" run -- perl getpeername.pl 2>&1; echo "exit=$?")" = \
  "$(cd "$tmp" && LANG=C "$usnet" run --trace="$tmp/t2.log" -- perl getpeername.pl 2>&1; echo "exit=$?")" ] \
  || { echo "FAIL: tracing changed what the program printed"; status=1; }
exit $status
