#!/usr/bin/env bash
# Build and run every test: once under ASan+UBSan, then the regular build (whose CTest
# summary is the last one printed). The conformance tests create their own private
# network namespaces; without root they report themselves skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DUSNET_SANITIZE=ON -DUSNET_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -j"$jobs" --output-on-failure --timeout 300)
./scripts/build.sh build
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)
