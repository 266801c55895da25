#!/usr/bin/env bash
# The program sees its usnet host as its machine: getifaddrs, if_nameindex,
# if_nametoindex, getaddrinfo(AI_ADDRCONFIG), its ARP table (netlink_view), and `ip -4 addr`,
# `ip link`, `ip -4 route`, `ip neigh`, then an address, route and link change through
# `ip -batch` seen by the dumps after it in the same process, under
# `usnet run --addr 10.0.2.16/24` and on the kernel in a namespace configured the same
# (lo, eth0 10.0.2.16/24 on a veth whose peer 10.0.2.2 is in a second namespace, default
# via 10.0.2.2, IPv6 off as usnet has none). Normalized explicitly: MAC addresses, the
# veth's peer (@ifN, link-netnsid), qdisc names.
usnet=$1 view=$2
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
command -v ip >/dev/null && command -v nsenter >/dev/null || { echo "SKIP: needs iproute2 and nsenter"; exit 77; }
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/batch" <<'B'
addr add 10.0.2.17/24 dev eth0
addr show dev eth0
route add 192.168.0.0/16 via 10.0.2.2 metric 5
route add 192.168.0.0/16 via 10.0.2.3 metric 5
route replace 192.168.0.0/16 via 10.0.2.3 metric 5
route change 192.169.0.0/16 via 10.0.2.3
route add blackhole 10.8.0.0/16
route add 10.9.0.0/16 via 10.0.2.2 src 10.0.2.99
link set eth0 mtu 1400
link set eth0 mtu 60
addr del 10.0.2.99/24 dev eth0
route del 10.99.0.0/16
route show table all
link show eth0
route get 10.0.2.2
route get 10.0.2.17
link set eth0 down
route
link set eth0 up
addr del 10.0.2.17/24 dev eth0
addr
B
# `ip neigh` first: each process under usnet run has a stack of its own, so the ARP entry
# netlink_view's datagram makes is its own (it prints it); the kernel's would outlive it.
script="echo '## ip neigh'; ip neigh; '$view'; echo '## ip -4 addr'; ip -4 addr; echo '## ip link'; ip link;
  echo '## ip -4 route'; ip -4 route; echo '## ip rule'; ip rule; echo '## ip -batch'; ip -force -batch '$tmp/batch' 2>&1"
off6='echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
k=$(unshare -n bash -c "
  $off6
  unshare -n sh -c '$off6; exec sleep 60' & gp=\$!
  for i in \$(seq 50); do [ \"\$(readlink /proc/\$gp/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ] && break; sleep 0.02; done
  ip link set lo up && ip link add eth0 type veth peer name eth0 netns \$gp &&
  ip addr add 10.0.2.16/24 dev eth0 && ip link set eth0 up &&
  nsenter -t \$gp -n sh -c 'ip link set lo up && ip addr add 10.0.2.2/24 dev eth0 && ip link set eth0 up' &&
  ip route add default via 10.0.2.2 || echo 'kernel namespace setup failed'
  for i in \$(seq 100); do ip -o link show eth0 | grep -q LOWER_UP && break; sleep 0.05; done
  $script
  kill \$gp" 2>&1)
u=$(unshare -n "$usnet" run --addr 10.0.2.16/24 -- bash -c "$script" 2>&1)
norm() {
  sed -E -e 's/([0-9a-f]{2}:){5}[0-9a-f]{2}/MAC/g' -e 's/@if[0-9]+//' -e 's/ link-netnsid [0-9]+//' -e 's/qdisc [a-z_]+/qdisc Q/'
}
kn=$(norm <<<"$k") un=$(norm <<<"$u")
grep -q '^getifaddrs eth0 family 2 ' <<<"$kn" || { echo "FAIL: the kernel side did not run: $k"; exit 1; }
# (if_nametoindex/if_indextoname ask with an ioctl on an AF_UNIX socket, glibc's
# __opensock: the shim answers interface ioctls on the program's kernel-owned sockets too.)
if [ "$kn" = "$un" ]; then echo "PASS: usnet and the kernel namespace show the same ($(wc -l <<<"$kn") lines)"
else echo "FAIL: usnet and the kernel namespace differ"; diff <(echo "$kn") <(echo "$un"); status=1; fi
check() { grep -q -- "$2" <<<"$un" && echo "PASS: $1" || { echo "FAIL: $1 (no '$2')"; status=1; }; }
check "getifaddrs lists usnet's eth0 address" '^getifaddrs eth0 family 2 flags 0x11043 addr 10.0.2.16 netmask 255.255.255.0'
check "if_nameindex lists usnet's interfaces" '^if_nameindex 2 eth0$'
check "the ARP entry of the gateway is reachable" '^neighbour 10.0.2.2 ifindex 2 state 0x2 lladdr 6 bytes'
check "an address added by ip -batch shows in its later dump" 'inet 10.0.2.17/24 scope global secondary eth0'
check "a route replaced by ip -batch shows in its later dump" '^192.168.0.0/16 via 10.0.2.3 dev eth0 metric 5'
check "a link set down shows in the later route dump (device routes gone)" '^blackhole 10.8.0.0/16'
[ $status = 0 ] || { echo "--- kernel:"; echo "$k"; echo "--- usnet:"; echo "$u"; }
exit $status
