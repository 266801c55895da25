#!/usr/bin/env bash
# Bad user pointers (PROT_NONE and read-only pages, (void*)1) in every socket call under
# `usnet run`: the same returns and errnos as the kernel (EFAULT, datagrams consumed or
# not), the program's own epoll_data through epoll_pwait/epoll_pwait2, the program's own
# SIGSEGV handler and default action for its own faults, and no crash. Usage: efault_test.sh USNET_CLI EFAULT_PROBE_PROGRAM
set -uo pipefail
usnet=$1
prog=$2
u=$(timeout 30 "$usnet" run -- "$prog" 2>&1; echo "exit=$?")
echo "usnet:"; echo "$u"
status=0
grep -q '^done$' <<<"$u" || { echo "FAIL: the program did not finish under usnet"; status=1; }
grep -q 'EFAULT' <<<"$u" || status=1
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  k=$(unshare -n sh -c 'ip link set lo up && timeout 30 "$0" 2>&1; echo "exit=$?"' "$prog")
  echo "kernel:"; echo "$k"
  [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ:"; diff <(echo "$k") <(echo "$u"); status=1; }
elif [ $status = 0 ]; then
  echo "SKIP: no network namespace to compare with the kernel"; exit 77
fi
exit $status
