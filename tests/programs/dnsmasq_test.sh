#!/usr/bin/env bash
# dnsmasq as a DNS server and dig (bind9's, on libuv) as its client, across a usnet switch,
# compared with the same pair on the kernel. dnsmasq finds its interfaces with SIOCGIF*
# ioctls and netlink; dig sends with sendmmsg through syscall(2) (the shim's trap). Then
# again with --bind-interfaces, the server's kernel namespace with its loopback up as on an
# ordinary host: dnsmasq also binds a TCP listener to 10.0.2.16, and TCP is the kernel's,
# which lacks that address (the shim binds it with IP_FREEBIND: kernel_bind).
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need dnsmasq dig
server="exec dnsmasq -k --user=root --no-resolv --no-hosts --listen-address=10.0.2.16 \
--address=/example.test/10.0.2.99 --address=/v4only.test/10.0.2.98 --log-facility=- --pid-file=$tmp/dnsmasq.pid"
client="for n in example.test www.example.test v4only.test; do dig @10.0.2.16 \$n A +short +tries=1 +time=3; done; \
dig @10.0.2.16 nothing.invalid A +tries=1 +time=3 +noall +comments | grep -o 'status: [A-Z]*'; echo dig=\$?"
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: dnsmasq answers dig" '^10\.0\.2\.99$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same answers" "$u" "$k"
server=${server/--listen-address=10.0.2.16/--listen-address=10.0.2.16 --bind-interfaces}
u=$(SERVER_LO=up on_usnet "$server" "$client")
grep -q 'failed to create listening socket' "$tmp/usnet-server.log" && { echo "FAIL: --bind-interfaces:"; cat "$tmp/usnet-server.log"; status=1; }
check "usnet, --bind-interfaces: dnsmasq answers dig" '^10\.0\.2\.99$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel, --bind-interfaces: the same answers" "$u" "$k"
exit $status
