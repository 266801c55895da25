#!/usr/bin/env bash
# Build and run every test: once under ASan+UBSan (Debug), the unit and shim tests built
# with clang, then the regular build, in the Release configuration a user builds (whose
# CTest summary is the last one printed). All
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
# clang, the other compiler a user may build with: the unit tests and the shim's tests (clang
# once compiled the shim's write probe of user memory into a plain load).
CC=clang CXX=clang++ ./scripts/build.sh build-clang -DCMAKE_BUILD_TYPE=Release -DUSNET_WERROR=ON -DUSNET_BUILD_BENCH=OFF
(cd build-clang && ctest -j"$jobs" --output-on-failure --timeout 300 -L 'unit|preload|programs')
./scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DUSNET_WERROR=ON
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)
