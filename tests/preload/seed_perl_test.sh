#!/usr/bin/env bash
# The seed note's perl script, unmodified but for its file name, under `usnet run`, compared
# with the same script on the kernel (in a private network namespace with a default route).
# Also a connect() variant that prints the peer.
set -uo pipefail
usnet=$1 seed=$2
[ -f "$seed" ] || { echo "SKIP: seed note $seed not found"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The note's first perl block is the experiment.
awk '/^```perl/{n++; inb=1; next} /^```/{inb=0} inb && n==1' "$seed" >"$tmp/getpeername.pl"
grep -q 'getpeername' "$tmp/getpeername.pl" || { echo "FAIL: could not extract the script"; exit 1; }
cat >"$tmp/connected.pl" <<'PERL'
use strict;
use warnings;
use Socket;
socket(my $socket, PF_INET, SOCK_DGRAM, 0) or die $!;
my $sock_addr = pack_sockaddr_in(53, inet_aton('8.8.8.8'));
connect($socket, $sock_addr) or die $!;
send($socket, '', 0, $sock_addr);
my ($port, $addr) = unpack_sockaddr_in(getpeername($socket) or die $!);
print inet_ntoa($addr), ":$port\n";
PERL

run_usnet() { (cd "$tmp" && LANG=C "$usnet" run -- perl "$1" 2>&1; echo "exit=$?"); }
run_kernel() {
  (cd "$tmp" && LANG=C unshare -n sh -c '
     ip link set lo up && ip link add eth0 type veth peer name gw0 &&
     ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip link set gw0 up &&
     ip route add default via 10.0.2.2 || exit 99
     perl "$0" 2>&1; echo "exit=$?"' "$1")
}

status=0
expect='Transport endpoint is not connected at getpeername.pl line 11.'
for script in getpeername.pl connected.pl; do
  u=$(run_usnet "$script")
  echo "usnet  ($script): $u"
  if [ "$script" = getpeername.pl ] && ! grep -qxF "$expect" <<<"$u"; then
    echo "FAIL: usnet did not print the seed note's line"; status=1
  fi
  if [ "$script" = connected.pl ] && ! grep -qx '8.8.8.8:53' <<<"$u"; then
    echo "FAIL: the connected variant did not print its peer"; status=1
  fi
  if [ "$(id -u)" = 0 ] && k=$(run_kernel "$script") && ! grep -q 'exit=99' <<<"$k"; then
    echo "kernel ($script): $k"
    [ "$u" = "$k" ] || { echo "FAIL: usnet and the kernel differ"; status=1; }
  else
    echo "(kernel comparison skipped: needs root and network namespaces)"
  fi
done
# --explain adds the reason line, on stderr or in a file, and changes nothing else.
e=$(cd "$tmp" && LANG=C "$usnet" run --explain -- perl getpeername.pl 2>&1)
echo "usnet --explain: $e"
# (the descriptor is the program's own real number: 3 when run by hand, more under ctest)
grep -qE '^usnet: getpeername\(fd [0-9]+\): ENOTCONN: this socket has no peer; sendto\(\) does not set one, connect\(\) does \[inet_getname\] \(UDP socket, local 0\.0\.0\.0:[0-9]+ \(port chosen by usnet\), no peer\)$' <<<"$e" \
  || { echo "FAIL: no reason line"; status=1; }
grep -qxF "$expect" <<<"$e" || { echo "FAIL: --explain changed what the program printed"; status=1; }
f=$(cd "$tmp" && LANG=C "$usnet" run --explain="$tmp/why.log" -- perl getpeername.pl 2>&1)
[ "$f" = "$expect" ] || { echo "FAIL: --explain=FILE wrote to the terminal: $f"; status=1; }
grep -q 'ENOTCONN' "$tmp/why.log" || { echo "FAIL: --explain=FILE wrote nothing"; status=1; }
# --stat prints the stack's counters when the program exits.
st=$(cd "$tmp" && LANG=C "$usnet" run --stat -- perl getpeername.pl 2>&1)
echo "usnet --stat: $st"
grep -qx 'UdpOutDatagrams 1' <<<"$st" || { echo "FAIL: --stat did not report the datagram sent"; status=1; }
exit $status
