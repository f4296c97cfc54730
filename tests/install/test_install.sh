#!/usr/bin/env bash
# Installs kiln into a temporary prefix, then configures, builds and runs a consumer project that
# finds it with find_package(kiln) and links kiln::runtime.
set -eu
cmake=$1 build=$2 consumer=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
"$cmake" -S "$consumer" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
"$cmake" --build "$tmp/build" >/dev/null
"$tmp/build/consumer"
