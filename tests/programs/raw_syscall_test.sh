#!/usr/bin/env bash
# A program that makes every socket call with syscall(2) (as libuv, Go and static binaries
# do), on the kernel and under `usnet run`: the same output, and the calls are usnet's (its
# trace shows them). Everything runs in private network namespaces, so a call that escaped
# to the kernel would meet a namespace without a loopback and differ. The same program
# linked statically gives the same output too.
usnet=$1 raw=$2 raw_static=$3
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
k=$(unshare -n sh -c "ip link set lo up; '$raw'" 2>&1)
u=$(unshare -n "$usnet" run --trace="$tmp/trace" -- "$raw" 2>&1)
if [ "$u" = "$k" ]; then echo "PASS: usnet and the kernel print the same ($(wc -l <<<"$k") calls)"
else echo "FAIL: usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); status=1; fi
for call in 'socket(AF_INET, SOCK_DGRAM, 0) = ' 'sendmmsg(' 'recvmmsg(' 'epoll_ctl(' 'readv(' 'dup3('; do
  grep -q "^$call" "$tmp/trace" && echo "PASS: usnet traced $call" || { echo "FAIL: no $call in usnet's trace"; status=1; }
done
grep -q 'thread: blocking recvfrom = 4 "wake"' <<<"$u" || { echo "FAIL: a thread blocked in a raw recvfrom was not woken"; status=1; }
# USNET_TRAP=0 turns the trap off: the raw calls then reach the kernel's empty namespace.
off=$(USNET_TRAP=0 timeout 5 unshare -n "$usnet" run -- "$raw" 2>&1)  # (its blocked thread waits for good)
[ "$off" != "$u" ] && echo "PASS: without the trap the raw calls miss usnet" || { echo "FAIL: USNET_TRAP=0 changed nothing"; status=1; }
# Linked statically (no loader, so no shim inside it): served by usnet's supervisor through
# seccomp user notification. The same output as on the kernel, and the calls are usnet's.
ks=$(unshare -n sh -c "ip link set lo up; '$raw_static'" 2>&1)
us=$(timeout 30 unshare -n "$usnet" run --trace="$tmp/strace" -- "$raw_static" 2>&1); rc=$?
if [ $rc = 0 ] && [ "$us" = "$ks" ]; then echo "PASS: statically linked, usnet and the kernel print the same"
else echo "FAIL: statically linked: exit $rc, output differs from the kernel's"; diff <(echo "$ks") <(echo "$us"); status=1; fi
for call in 'socket(AF_INET, SOCK_DGRAM, 0) = ' 'sendmmsg(' 'recvmmsg(' 'readv(' 'getpeername('; do
  grep -q "^$call" "$tmp/strace" && echo "PASS: statically linked: usnet traced $call" || { echo "FAIL: statically linked: no $call in usnet's trace"; status=1; }
done
exit $status
