#!/usr/bin/env bash
# Checks that every name in docs/linux-names.txt occurs in a Linux source tree (a whole
# word, in net/, fs/, include/ or drivers/net/); prints the ones that do not.
#   usage: scripts/check-linux-names.sh /usr/src/linux-source-6.12
# (Debian: apt-get install linux-source-6.1, then unpack /usr/src/linux-source-6.1.tar.xz.)
set -euo pipefail
src=${1:?usage: $0 KERNEL_SOURCE_DIR}
list="$(dirname "$0")/../docs/linux-names.txt"
missing=0
while read -r name _; do
  case "$name" in ''|'#'*) continue ;; esac
  word=${name##*->}  # a field as the kernel writes it: inet->inet_dport
  if ! grep -rqw --include='*.[ch]' -- "$word" "$src/net" "$src/fs" "$src/include" "$src/drivers/net/loopback.c" 2>/dev/null; then
    echo "not in $src: $name"
    missing=$((missing + 1))
  fi
done <"$list"
echo "$missing missing"
[ "$missing" = 0 ]
