#!/usr/bin/env bash
# A usnet socket as stdio's descriptor: bash's `echo >/dev/udp/...` (the redirection makes
# the socket stdout, then libc's own write sends), printf, coreutils echo exec'd onto it
# (a socket kept across exec), a socket kept at fd 5, and, if busybox-static is installed,
# a statically linked echo (the supervisor). Same output on the kernel and under usnet run,
# each in a private network namespace.
usnet=$1
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
command -v socat >/dev/null || { echo "SKIP: socat is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
static=:
# (ldd: "not a dynamic executable" for a static one)
command -v busybox >/dev/null && ! ldd "$(command -v busybox)" >/dev/null 2>&1 && static=
script='got=$(mktemp -p '"$tmp"')
timeout 5 socat -u UDP-RECV:9999 - >"$got" & sleep 0.5
echo builtin-echo >/dev/udp/127.0.0.1/9999; echo "echo: $?"
printf "printf %s\n" x >/dev/udp/127.0.0.1/9999; echo "printf: $?"
/bin/echo coreutils-echo >/dev/udp/127.0.0.1/9999; echo "/bin/echo: $?"
exec 5>/dev/udp/127.0.0.1/9999; echo on-fd-5 >&5; echo "fd 5: $?"
{ echo two; echo lines; } >&5; exec 5>&-
'"$static"' busybox echo static-echo >/dev/udp/127.0.0.1/9999; echo "busybox echo: $?"
echo end >/dev/udp/127.0.0.1/9999; sleep 0.3; kill %1 2>/dev/null; wait
echo "received:"; cat "$got"'
k=$(unshare -n bash -c "ip link set lo up; $script" 2>&1)
u=$(timeout 30 unshare -n "$usnet" run -- bash -c "$script" 2>&1)
echo "$u"
if [ "$u" = "$k" ] && grep -q '^builtin-echo$' <<<"$u"; then echo "PASS: usnet and the kernel print the same"; exit 0; fi
echo "FAIL: usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); exit 1
