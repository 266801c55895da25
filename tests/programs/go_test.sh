#!/usr/bin/env bash
# A Go program (go_udp/main.go: Go's net package, which makes its own system calls and
# waits in its epoll netpoller) built twice: statically (CGO_ENABLED=0: no loader, served by
# usnet run's supervisor) and against libc (cgo: the shim, its system calls through the
# trap). Each prints the same on the kernel and under usnet run, in private network
# namespaces, and its socket calls are usnet's (the trace shows them). Its interface list
# comes over netlink: under usnet run the kernel's lo is down and bare, so "lo: 127.0.0.1/8
# up: true" is usnet's answer.
usnet=$1
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null || { echo "SKIP: needs root and network namespaces"; exit 77; }
command -v go >/dev/null || { echo "SKIP: go is not installed (golang-go)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GOCACHE="$tmp/cache" GOPATH="$tmp/gopath" GO111MODULE=off GOFLAGS=
src=$(dirname "$0")/go_udp/main.go
status=0
for kind in static cgo; do
  cgo=0; [ $kind = cgo ] && cgo=1
  if ! CGO_ENABLED=$cgo go build -o "$tmp/udp-$kind" "$src" 2>"$tmp/build.log"; then
    echo "FAIL: go build ($kind)"; cat "$tmp/build.log"; status=1; continue
  fi
  linked=$(ldd "$tmp/udp-$kind" >/dev/null 2>&1 && echo dynamic || echo static)
  [ $kind = cgo ] && want=dynamic || want=static
  [ "$linked" = $want ] || { echo "FAIL: the $kind build is $linked"; status=1; }
  k=$(unshare -n sh -c "ip link set lo up; '$tmp/udp-$kind'" 2>&1)
  u=$(timeout 30 unshare -n "$usnet" run --trace="$tmp/trace-$kind" -- "$tmp/udp-$kind" 2>&1)
  echo "$u"
  if [ "$u" = "$k" ] && grep -q '^reply: echo:msg 2 <nil>$' <<<"$u"; then echo "PASS: Go ($kind): usnet and the kernel print the same"
  else echo "FAIL: Go ($kind): usnet and the kernel differ"; diff <(echo "$k") <(echo "$u"); status=1; fi
  for call in 'socket(AF_INET, SOCK_DGRAM' 'connect(' 'getsockname(' 'recvfrom('; do
    grep -q "^$call" "$tmp/trace-$kind" && echo "PASS: Go ($kind): usnet traced $call" || { echo "FAIL: Go ($kind): no $call in usnet's trace"; status=1; }
  done
done
exit $status
