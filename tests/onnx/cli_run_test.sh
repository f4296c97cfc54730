#!/usr/bin/env bash
# `kiln run` end to end: .npy and image inputs, --save-outputs, --json, --save-kiln, and clear
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

# --save-kiln writes the float graph; running the .kiln gives exactly the ONNX model's outputs.
"$kiln" run "$models/unet_like.onnx" --save-kiln "$tmp/u.kiln" || fail "--save-kiln"
[ -s "$tmp/u.kiln" ] && [ ! -e "$tmp/u.kiln.tmp" ] || fail "--save-kiln left no file or a temporary"
mkdir -p "$tmp/from_onnx" "$tmp/from_kiln"
"$kiln" run "$models/unet_like.onnx" --input "$models/unet_like.input.npy" --save-outputs "$tmp/from_onnx" >/dev/null ||
  fail "onnx run"
"$kiln" run "$tmp/u.kiln" --input "$models/unet_like.input.npy" --save-outputs "$tmp/from_kiln" >/dev/null || fail "kiln run"
[ -s "$tmp/from_kiln/output.npy" ] || fail ".kiln output missing"
cmp -s "$tmp/from_onnx/output.npy" "$tmp/from_kiln/output.npy" || fail ".kiln and ONNX outputs differ"
"$kiln" inspect "$tmp/u.kiln" | grep -q "unet_like.onnx" || fail "source model not recorded"

err=$("$kiln" run "$models/resnet18.onnx" --input "$tmp/missing.npy" 2>&1) && fail "missing input accepted"
echo "$err" | grep -q "kiln: error:" || fail "unclear error: $err"
err=$("$kiln" run "$models/resnet18.onnx" --input "$models/unet_like.input.npy" 2>&1) && fail "wrong shape accepted"
echo "$err" | grep -q "expects" || fail "unclear shape error: $err"
err=$("$kiln" run "$models/sample.png" --input "$models/resnet18.input.npy" 2>&1) && fail "non-model accepted"
echo "$err" | grep -q "not an ONNX model" || fail "unclear model error: $err"
echo "kiln run: ok"
