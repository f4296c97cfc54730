#!/usr/bin/env bash
# Installs kiln into a temporary prefix, builds examples/classify against it with find_package(kiln),
# converts a test model to a .kiln file, and classifies an image.
# Usage: test_classify.sh CMAKE BUILD_DIR KILN_CLI SOURCE_DIR
set -eu
cmake=$1 build=$2 kiln=$3 src=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
"$cmake" -S "$src/examples/classify" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
"$cmake" --build "$tmp/build" >/dev/null
model="$src/tests/models/mobilenetv2.onnx"
"$kiln" run "$model" --save-kiln "$tmp/model.kiln" >/dev/null
out=$("$tmp/build/classify" "$tmp/model.kiln" "$src/tests/models/sample.png")
echo "$out"
[ "$(echo "$out" | grep -c '^  [1-5]\. class ')" -eq 5 ]
