#!/usr/bin/env bash
# dnsmasq as a DNS server and dig (bind9's, on libuv) as its client, across a usnet switch,
# compared with the same pair on the kernel. dnsmasq finds its interfaces with SIOCGIF*
# ioctls and netlink; dig sends with sendmmsg through syscall(2) (the shim's trap). Not
# --bind-interfaces: dnsmasq also binds a TCP listener to the address, and TCP is the
# kernel's (which has no 10.0.2.16); bound to the wildcard, it stays in its namespace.
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
exit $status
