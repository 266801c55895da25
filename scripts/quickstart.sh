#!/usr/bin/env bash
# Newcomer's first command: install dependencies, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
./build/src/cli/usnet demo
