#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds and runs a find_package consumer and
# a pkg-config C consumer against it.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/examples/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
out=$("$tmp/consumer/consumer")
echo "$out"
grep -q ENOTCONN <<<"$out"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs usnet)
# The static library is C++: link the C program with the C++ driver.
g++ -x c "$src/examples/consumer/pkgconfig_main.c" -x none $flags -o "$tmp/cconsumer"
out=$(LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/cconsumer")
echo "$out"
grep -q ENOTCONN <<<"$out"
