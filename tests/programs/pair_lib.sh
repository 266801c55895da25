# Sourced by the programs tests: a server host 10.0.2.16/24 and a client host 10.0.2.17/24
# on one segment, made twice: two `usnet run` hosts on a `usnet switch`, and two private
# network namespaces joined by a veth pair. The same commands run on both, so their output
# can be compared byte for byte.
#   usnet=$1; source pair_lib.sh
#   on_usnet SERVER CLIENT   run SERVER (a shell command) on 10.0.2.16 in the background, then
#                            CLIENT on 10.0.2.17; prints CLIENT's output; SERVER is stopped
#   on_kernel SERVER CLIENT  the same on the kernel (skips the test without root/netns)
#   same NAME A B            PASS if A equals B, else FAIL with a diff
# on_usnet and on_kernel run in $(...): they clean up after themselves (the namespaces are
# also removed at exit, should the test be interrupted).
# SERVER_WAIT (seconds, default 1) is how long the server gets to start. SERVER_LO=up brings
# up the loopback of the usnet server's kernel namespace first, as on an ordinary host
# (where the kernel then refuses a bind to an address it lacks).
source "$(dirname "${BASH_SOURCE[0]}")/../preload/switch_lib.sh"
_pair_cleanup() {
    local n
    for n in usnet-pair-$$-a usnet-pair-$$-b; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$n" 2>/dev/null; done
    cleanup
}
trap _pair_cleanup EXIT
unshare -n true 2>/dev/null || { echo "SKIP: needs network namespaces (unshare -n)"; exit 77; }
# Started here, not in on_usnet: that runs in a command substitution, which would wait for
# the switch (it holds the substitution's stdout) and forget its pid.
start_switch --gateway none

on_usnet() {
    local server=$1 client=$2 pid out
    # (in a network namespace of its own: what the program keeps in the kernel, a TCP
    # listener say, is private to it, as on the kernel side)
    unshare -n sh -c '[ "$1" != up ] || ip link set lo up; shift; exec "$@"' sh "${SERVER_LO:-}" \
        "$usnet" run --switch "$sock" --addr 10.0.2.16/24 -- bash -c "$server" >"$tmp/usnet-server.log" 2>&1 &
    pid=$!
    _pids+=($pid)
    sleep "${SERVER_WAIT:-1}"
    out=$(timeout 30 unshare -n "$usnet" run --switch "$sock" --addr 10.0.2.17/24 -- bash -c "$client" 2>&1)
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    printf '%s\n' "$out"
}

on_kernel() {
    local server=$1 client=$2 pid out n a=usnet-pair-$$-a b=usnet-pair-$$-b
    if [ "$(id -u)" != 0 ] || ! ip netns add "$a" 2>/dev/null; then echo "SKIP: the kernel pair needs root and network namespaces"; exit 77; fi
    ip netns add "$b"
    ip link add veth-s netns "$a" type veth peer name veth-c netns "$b"
    ip -n "$a" addr add 10.0.2.16/24 dev veth-s; ip -n "$a" link set veth-s up; ip -n "$a" link set lo up
    ip -n "$b" addr add 10.0.2.17/24 dev veth-c; ip -n "$b" link set veth-c up; ip -n "$b" link set lo up
    ip netns exec "$a" bash -c "$server" >"$tmp/kernel-server.log" 2>&1 &
    pid=$!
    sleep "${SERVER_WAIT:-1}"
    out=$(timeout 30 ip netns exec "$b" bash -c "$client" 2>&1)
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    for n in "$a" "$b"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$n"; done
    printf '%s\n' "$out"
}

same() {
    if [ "$2" = "$3" ]; then echo "PASS: $1"
    else echo "FAIL: $1"; diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | sed 's/^/    /'; status=1; fi
}
