#!/usr/bin/env bash
# Statically linked clients (busybox-static: no dynamic loader, so no shim inside them;
# usnet run serves them through its seccomp supervisor) against dynamic daemons, across a
# usnet switch, compared with the same pair on the kernel: busybox nslookup asking dnsmasq,
# busybox tftp fetching from in.tftpd (a file of ten blocks, and a missing one). The client
# runs as `usnet run -- bash -c ...`: bash execs each static program (the shim's execve
# hands it to the supervisor, a process of the same host).
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need busybox dnsmasq in.tftpd cmp
ldd "$(command -v busybox)" >/dev/null 2>&1 && { echo "SKIP: busybox is not the static one (busybox-static)"; exit 77; }
mkdir -p "$tmp/root" "$tmp/got"
head -c 5000 /dev/urandom >"$tmp/root/big.bin"
server="timeout 60 in.tftpd -L -4 -u $(id -un) -s $tmp/root -a 10.0.2.16:6969 & \
exec timeout 60 dnsmasq -k --user=root --no-resolv --no-hosts --listen-address=10.0.2.16 \
--address=/example.test/10.0.2.99 --log-facility=- --pid-file=$tmp/dnsmasq.pid"
client='d=$(mktemp -d -p '"$tmp"'/got); cd "$d" || exit 1
timeout 10 busybox nslookup -type=a example.test 10.0.2.16 2>&1 | grep -E "^(Name|Address):"; echo "nslookup=${PIPESTATUS[0]}"
timeout 10 busybox tftp -g -r big.bin -l big 10.0.2.16 6969; echo "tftp big=$?"
cmp -s '"$tmp"'/root/big.bin big && echo "big: $(wc -c <big) bytes, the same" || echo "big: differs"
timeout 10 busybox tftp -g -r missing.bin -l missing 10.0.2.16 6969 2>&1; echo "tftp missing=$?"'
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: static nslookup answered by dnsmasq" '^Address: 10\.0\.2\.99$' "$u"
check "usnet: static tftp fetched the file whole" '^big: 5000 bytes, the same$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same answers, fetches and errors" "$u" "$k"
exit $status
