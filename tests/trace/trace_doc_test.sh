#!/usr/bin/env bash
# docs/trace.md is generated from a real run (scripts/trace-doc.sh); it must not drift from
# one. The ephemeral port and what depends on it (checksums, IP ids) are masked.
set -uo pipefail
usnet=$1 seed=$2 src=$3
[ -f "$seed" ] || { echo "SKIP: seed note $seed not found"; exit 77; }
mask() { sed -E 's/\b(3[2-9][0-9]{3}|[45][0-9]{4}|60[0-9]{3})\b/EPH/g; s/checksum 0x[0-9a-f]{4}/checksum 0xCSUM/'; }
fresh=$("$src/scripts/trace-doc.sh" "$usnet" "$seed") || { echo "FAIL: scripts/trace-doc.sh failed"; exit 1; }
if ! diff -u <(mask <"$src/docs/trace.md") <(mask <<<"$fresh"); then
  echo "FAIL: docs/trace.md differs from a fresh run (regenerate: scripts/trace-doc.sh build/src/cli/usnet ../shared/seed/000_d712f153b9942fe0.txt > docs/trace.md)"
  exit 1
fi
grep -q '^getpeername(3) = -1 ENOTCONN$' <<<"$fresh" || { echo "FAIL: no getpeername tree in the document"; exit 1; }
grep -q '^connect(3, 8.8.8.8:53) = 0$' <<<"$fresh" || { echo "FAIL: no connect tree in the document"; exit 1; }
