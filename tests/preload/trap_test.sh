#!/usr/bin/env bash
# trap_probe on the kernel and under `usnet run`, both in private network namespaces: the
# same lines (children of popen, system, posix_spawn and vfork, a thread started with every
# signal blocked making raw socket calls, the program's own SIGSYS handler, fork).
usnet=$1 probe=$2
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
k=$(unshare -n sh -c "ip link set lo up; '$probe'" 2>&1)
u=$(timeout 20 unshare -n "$usnet" run -- "$probe" 2>&1)
echo "$u"
if [ "$u" = "$k" ]; then echo "PASS: usnet and the kernel print the same"; exit 0; fi
echo "FAIL: usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); exit 1
