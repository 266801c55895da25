#!/usr/bin/env bash
# logger sending to rsyslogd's imudp across a usnet switch, compared with the same pair on
# the kernel: the messages rsyslogd writes, in order.
usnet=$1
source "$(dirname "$0")/pair_lib.sh"
need rsyslogd logger
mkdir -p "$tmp/rs"
cat >"$tmp/rs/rsyslog.conf" <<CONF
global(workDirectory="$tmp/rs")
module(load="imudp")
input(type="imudp" port="5514" address="10.0.2.16")
template(name="m" type="string" string="%syslogtag% %msg%\n")
*.* action(type="omfile" file="$tmp/rs/out.log" template="m")
CONF
server="rm -f $tmp/rs/out.log; exec rsyslogd -n -f $tmp/rs/rsyslog.conf -i $tmp/rs/pid"
client="for i in 1 2 3; do logger -n 10.0.2.16 -P 5514 -d -t tag\$i \"message \$i\" || echo logger failed; done; sleep 1; cat $tmp/rs/out.log"
u=$(on_usnet "$server" "$client")
echo "$u"
check "usnet: rsyslogd wrote the three messages" '^tag3 message 3$' "$u"
k=$(on_kernel "$server" "$client")
same "usnet and the kernel: the same messages" "$u" "$k"
exit $status
