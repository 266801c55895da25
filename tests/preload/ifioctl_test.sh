#!/usr/bin/env bash
# Interface ioctls on kernel-owned sockets under `usnet run` (ifioctl_probe): the program
# sees usnet's eth0 (10.0.3.5/24, mtu 1400) on its AF_UNIX, AF_INET6 and netlink sockets,
# through libc and through raw system calls, in a namespace whose kernel has no eth0 at all.
usnet=$1 probe=$2
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
k=$(unshare -n sh -c "ip link set lo up; '$probe'" 2>&1)
u=$(timeout 20 unshare -n "$usnet" run --addr 10.0.3.5/24 --mtu 1400 -- "$probe" 2>&1)
echo "--- kernel"; echo "$k"; echo "--- usnet"; echo "$u"
fail=0
want() { grep -qxF -- "$1" <<<"$u" || { echo "FAIL: missing under usnet: $1"; fail=1; }; }
for fam in unix inet6 netlink; do
  for how in libc syscall; do
    want "$fam $how SIOCGIFCONF: lo=127.0.0.1 eth0=10.0.3.5"
    want "$fam $how eth0 mtu 1400"
    want "$fam $how eth0 flags 0x1043"
    want "$fam $how nope0 index: ENODEV"
  done
done
want "pipe libc: ENOTTY"
want "pipe syscall: ENOTTY"
# The kernel's own namespace has no eth0: the answers above came from usnet.
grep -qxF "unix libc eth0 mtu: ENODEV" <<<"$k" || { echo "FAIL: the kernel side unexpectedly has an eth0"; fail=1; }
[ $fail = 0 ] && echo "PASS: interface ioctls on kernel-owned sockets answer from usnet"
exit $fail
