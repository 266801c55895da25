#!/usr/bin/env bash
# No heap allocation per call: a program sends datagrams to its own socket and receives
# them under `usnet run`, alone (the shim's own stack) and after fork (in the child and the
# parent, each call a request to the keeper); alloc_probe counts every malloc, calloc,
# realloc and memalign in the process, the shim's included. A per-call allocation would
# show as thousands in 8000 calls; a few are one-time work (a thread's first trapped call
# learns its stack). Usage: alloc_test.sh USNET_CLI ALLOC_PROBE_PROGRAM
set -uo pipefail
usnet=$1
prog=$2
out=$(timeout 60 "$usnet" run -- "$prog" 2>&1)
echo "$out"
status=0
for phase in "alone" "forked child" "parent after fork"; do
  n=$(sed -n "s/^$phase: \([0-9]*\) allocations in 8000 calls$/\1/p" <<<"$out")
  if [ -z "$n" ]; then
    echo "FAIL: no count for $phase"
    status=1
  elif [ "$n" -ge 40 ]; then
    echo "FAIL: $phase: $n allocations in 8000 calls"
    status=1
  fi
done
exit $status
