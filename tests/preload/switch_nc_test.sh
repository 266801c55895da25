#!/usr/bin/env bash
# netcat-openbsd across `usnet switch`: `nc -u -l` on host 10.0.2.16 and `nc -u` on
# 10.0.2.17, each under its own `usnet run`. The client's line reaches the server, and the
# server (connected to its first peer) sends its stdin back to the client.
usnet=$1
source "$(dirname "$0")/switch_lib.sh"
need nc
start_switch
mkfifo "$tmp/srv_in" "$tmp/cli_in"
exec 3<>"$tmp/srv_in" 4<>"$tmp/cli_in"  # open both ends first: no blocking open
bg srv "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- nc -u -l 5001 <"$tmp/srv_in" >"$tmp/srv.out" 2>"$tmp/srv.err"
wait_attach 10.0.2.16
bg cli "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- nc -u 10.0.2.16 5001 <"$tmp/cli_in" >"$tmp/cli.out" 2>"$tmp/cli.err"
echo "hello from the client" >&4
wait_for "$tmp/srv.out" "hello from the client"
echo "hello from the server" >&3
wait_for "$tmp/cli.out" "hello from the server"
echo "second line from the client" >&4
wait_for "$tmp/srv.out" "second line"
check "server received the client's lines" $'hello from the client' "$(cat "$tmp/srv.out")"
check "server received the client's second line" 'second line from the client' "$(cat "$tmp/srv.out")"
check "client received the server's line" 'hello from the server' "$(cat "$tmp/cli.out")"
check "switch logged the client attaching" "attached: pid [0-9]+, 10\\.0\\.2\\.17," "$(cat "$sock.log")"
[ -s "$tmp/srv.err" ] && { echo "server stderr:"; cat "$tmp/srv.err"; }
[ -s "$tmp/cli.err" ] && { echo "client stderr:"; cat "$tmp/cli.err"; }
exec 3>&- 4>&-
exit $status
