# Sourced by the switch_*_test.sh scripts: a private temporary directory, a `usnet switch`
# started in the background on a socket in it, and cleanup of everything started here.
#   usnet=$1; source switch_lib.sh
#   need PROGRAM...            skip (exit 77) unless every PROGRAM is installed
#   start_switch [FLAGS...]    start a switch on $sock (its log: $sock.log); set sock to
#                              another path under $tmp first to run several switches
#   stop_switch                SIGTERM the last switch started and wait for it to exit
#   bg VAR CMD...              run CMD in the background, its pid in VAR, killed at exit
#   wait_for FILE PATTERN [S]  wait up to S seconds (default 5) for PATTERN in FILE
#   wait_attach ADDR           wait until a host with address ADDR attached to the switch,
#                              then a little longer (a host attaches at its first socket call)
#   check NAME PATTERN TEXT    grep -E PATTERN in TEXT, print PASS/FAIL, set status=1 on failure
# KEEP=DIR in the environment copies the temporary directory (logs, outputs) to DIR at exit.
set -uo pipefail
tmp=$(mktemp -d)
sock="$tmp/switch.sock"
status=0
_pids=()
cleanup() {
    [ -n "${KEEP:-}" ] && cp -r "$tmp" "$KEEP"
    local p
    for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

need() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null || { echo "SKIP: $p is not installed"; exit 77; }
    done
}

start_switch() {
    "$usnet" switch --socket "$sock" "$@" 2>"$sock.log" &
    _switch=$!
    _pids+=($!)
    wait_for "$sock.log" "listening on" 5 && return 0
    echo "FAIL: the switch did not start"; cat "$sock.log"; exit 1
}

stop_switch() {
    kill -TERM "$_switch" 2>/dev/null
    wait "$_switch"
}

bg() {
    local var=$1; shift
    "$@" <&0 &  # (without <&0 a background job's stdin is /dev/null)
    _pids+=($!)
    printf -v "$var" '%s' "$!"
}

wait_for() {
    local file=$1 pattern=$2 secs=${3:-5} i
    for i in $(seq $((secs * 20))); do
        grep -qE -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

wait_attach() {
    wait_for "$sock.log" "attached: pid [0-9]+, ${1//./\\.}," 5 || {
        echo "FAIL: no host $1 attached to the switch"; cat "$sock.log"; exit 1; }
    sleep 0.3
}

check() {
    local name=$1 pattern=$2 text=$3
    if grep -qE -- "$pattern" <<<"$text"; then
        echo "PASS: $name"
    else
        echo "FAIL: $name (no /$pattern/ in:)"; sed 's/^/    | /' <<<"$text"
        status=1
    fi
}
