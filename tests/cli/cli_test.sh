#!/usr/bin/env bash
# The usnet command behaves like a command line tool: -h and --help print help and exit 0
# for the command and every subcommand; an unknown option is an error with exit status 2.
set -uo pipefail
usnet=$1
status=0
expect() {  # expect STATUS PATTERN ARGS...
  local want=$1 pattern=$2; shift 2
  local out rc
  out=$("$usnet" "$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL: usnet $* exited $rc, not $want: $out"; status=1
  elif ! grep -qiE -- "$pattern" <<<"$out"; then echo "FAIL: usnet $* printed no '$pattern': $out"; status=1
  else echo "ok: usnet $* -> $rc"; fi
}
expect 0 'usage' --help
expect 0 'usage' -h
for sub in demo bench switch run explain stat ip; do
  expect 0 'usage' "$sub" --help
  expect 0 'usage' "$sub" -h
done
expect 0 '--trace' run --help
expect 2 'unknown option --bogus' run --bogus -- true
expect 2 'unknown option -x' run -x true
expect 2 'busy-poll takes microseconds' run --busy-poll x -- true
expect 2 'busy-poll takes microseconds' run --busy-poll=-1 -- true
expect 127 'No such file' run --busy-poll 0 -- /nonexistent/prog  # (accepted: it got as far as the program)
expect 0 '--busy-poll' run --help
expect 2 'not expected|unknown' bench --bogus
expect 2 'not expected|unknown' switch --socket /tmp/x --bogus
expect 2 'not expected|unknown' demo --bogus
expect 2 'usage' stat notapid
expect 2 'usage' ip notapid route add 1.2.3.0/24 via 10.0.2.2
expect 2 'usage' explain ENOTCONN
expect 2 '' nosuchsubcommand
exit $status
