#!/usr/bin/env bash
# `kiln run` end to end: .npy and image inputs, --save-outputs, --json, --save-graph, and clear
# errors. Usage: cli_run_test.sh KILN_CLI MODELS_DIR
set -u
kiln=$1 models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$kiln" run "$models/resnet18.onnx" --input "$models/resnet18.input.npy" --save-outputs "$tmp" --topk 3) ||
  fail "npy run: $out"
echo "$out" | grep -q "output output \[1,10\]" || fail "no output line: $out"
[ "$(echo "$out" | grep -c '#[1-3] class')" -eq 3 ] || fail "expected a top-3: $out"
[ -s "$tmp/output.npy" ] || fail "--save-outputs wrote nothing"
head -c 6 "$tmp/output.npy" | grep -q NUMPY || fail "output.npy is not a .npy file"

json=$("$kiln" run "$models/mobilenetv2.onnx" --input "input=$models/sample.png" --mean 0.5 --std 0.25 --json) ||
  fail "image run: $json"
echo "$json" | grep -q '"topk": \[\[{"class": ' || fail "bad json: $json"

"$kiln" run "$models/unet_like.onnx" --save-graph "$tmp/u.kgraph" || fail "--save-graph"
"$kiln" run "$tmp/u.kgraph" --input "$models/unet_like.input.npy" --save-outputs "$tmp" >/dev/null || fail "kgraph run"
[ -s "$tmp/output.npy" ] || fail "kgraph output missing"

err=$("$kiln" run "$models/resnet18.onnx" --input "$tmp/missing.npy" 2>&1) && fail "missing input accepted"
echo "$err" | grep -q "kiln: error:" || fail "unclear error: $err"
err=$("$kiln" run "$models/resnet18.onnx" --input "$models/unet_like.input.npy" 2>&1) && fail "wrong shape accepted"
echo "$err" | grep -q "expects" || fail "unclear shape error: $err"
err=$("$kiln" run "$models/sample.png" --input "$models/resnet18.input.npy" 2>&1) && fail "non-model accepted"
echo "$err" | grep -q "not an ONNX model" || fail "unclear model error: $err"
echo "kiln run: ok"
