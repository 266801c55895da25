#!/usr/bin/env bash
# in.tftpd (tftpd-hpa) as a standalone daemon, which reads each request on its listening
# socket, forks, and leaves the transfer to the child (the child closes its copy of the
# listening socket, binds a new port and connects it to the client), and the tftp client,
# across a usnet switch, compared with the same pair on the kernel: a 5000-byte file (ten
# blocks), a 1024-byte one (two full blocks, then an empty one), both at once (two children
# alive together), a missing file (the child's error packet), and the daemon still answering
# after all that (its listening socket outlived every child's close of it).
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need in.tftpd tftp cmp
mkdir -p "$tmp/root" "$tmp/got"
head -c 5000 /dev/urandom >"$tmp/root/big.bin"
head -c 1024 /dev/urandom >"$tmp/root/two.bin"
# -L: listen, in the foreground; -s: chroot into the directory (the child, after it made
# its socket); -u: the user the child becomes (the default, nobody, cannot read $tmp).
server="exec timeout 60 in.tftpd -L -4 -u $(id -un) -s $tmp/root -a 10.0.2.16:6969"
# Each side fetches into a directory of its own; every tftp is bounded by timeout (tftp-hpa
# retries for 25 s), and the bytes fetched are compared with the originals.
client='d=$(mktemp -d -p '"$tmp"'/got); cd "$d" || exit 1
get() { timeout 8 tftp -m binary 10.0.2.16 6969 -c get "$1" "$2" 2>&1; echo "get $1: tftp=$?"; }
same_bytes() { if cmp -s '"$tmp"'/root/$1 $2; then echo "$2: $(wc -c <$2) bytes, the same"; else echo "$2: differs ($(wc -c <$2 2>/dev/null) bytes)"; fi; }
get big.bin big1; same_bytes big.bin big1
get two.bin two1; same_bytes two.bin two1
get big.bin big2 >big2.out & get two.bin two2 >two2.out & wait
cat big2.out two2.out; same_bytes big.bin big2; same_bytes two.bin two2
get missing.bin missing
[ -e missing ] && echo "missing: a local file was left, $(wc -c <missing) bytes" || echo "missing: no local file"
get big.bin big3; same_bytes big.bin big3'
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: the 5000-byte file arrived whole" '^big1: 5000 bytes, the same$' "$u"
check "usnet: the 1024-byte file arrived whole" '^two1: 1024 bytes, the same$' "$u"
check "usnet: two transfers at once" '^big2: 5000 bytes, the same$' "$u"
check "usnet: the daemon answers after its children exited" '^big3: 5000 bytes, the same$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same fetches and errors" "$u" "$k"
exit $status
