#!/usr/bin/env bash
# Newcomer's first command: install dependencies, build, run the demo, then the seed note's
# perl script, unmodified, under `usnet run`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
./build/src/cli/usnet demo
echo
echo "The seed note's perl script (examples/getpeername.pl) under usnet run:"
echo "\$ usnet run -- perl getpeername.pl"
status=0
(cd examples && LANG=C ../build/src/cli/usnet run -- perl getpeername.pl) || status=$?
echo "(exit status $status, as on Linux: perl's die exits with errno ENOTCONN = 107)"
[ "$status" = 107 ]
