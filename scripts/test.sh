#!/usr/bin/env bash
# Build and run every test: once under ASan+UBSan (Debug), then the regular build, in the
# Release configuration a user builds (whose CTest summary is the last one printed). Both
# with warnings as errors, which a user's own build leaves off (USNET_WERROR). The
# conformance tests create their own private network namespaces; without root they report
# themselves skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DUSNET_SANITIZE=ON -DUSNET_BUILD_BENCH=OFF -DUSNET_WERROR=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -j"$jobs" --output-on-failure --timeout 300)
./scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DUSNET_WERROR=ON
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)
