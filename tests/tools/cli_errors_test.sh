#!/usr/bin/env bash
# Acceptance 4 of issue 7: bad input never crashes `kiln quantize` (and the other data commands):
# missing, empty or corrupt calibration folder, unreadable image, wrong IDX magic, data shape not
# matching the model, NaN in a .npy, output path in a missing folder. Each is a clear error, a
# non-zero exit and no partial output file. Usage: cli_errors_test.sh KILN_CLI MODELS_DIR
set -u
kiln=$1 models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/cli_lib.sh"
model=$models/resnet18.onnx
mkdir -p "$tmp/out" "$tmp/empty" "$tmp/corrupt" "$tmp/badimg" "$tmp/nan" "$tmp/good"
out=$tmp/out/m.kiln
q() { "$kiln" quantize "$model" --samples 2 --quiet -o "$out" "$@"; }

cp "$models/resnet18.input.npy" "$tmp/good/a.npy"
expect_error "missing calibration folder" "no such|does not exist|cannot" q --calib "$tmp/nowhere"
expect_error "empty calibration folder" "empty|no .*files|no samples" q --calib "$tmp/empty"
head -c 300 "$models/resnet18.input.npy" >"$tmp/corrupt/a.npy"
echo "not a tensor" >"$tmp/corrupt/b.npy"
expect_error "corrupt calibration folder (.npy)" "npy|truncated|size|magic" q --calib "$tmp/corrupt"
head -c 120 "$models/sample.png" >"$tmp/badimg/a.png"
cp "$models/sample.png" "$tmp/badimg/b.png"
expect_error "unreadable image in a folder" "a.png" q --calib "$tmp/badimg" --size 64x64
printf '\x01\x02\x08\x03\x00\x00\x00\x02\x00\x00\x00\x40\x00\x00\x00\x40' >"$tmp/bad.idx"
head -c 8192 /dev/zero >>"$tmp/bad.idx"
expect_error "wrong IDX magic" "magic|idx" q --calib "$tmp/bad.idx" --calib-format idx
expect_error "data shape not matching the model" "shape|\[1,3,32,32\]|wants|expects" \
  q --calib "$models/unet_like.input.npy"
cp "$models/resnet18.input.npy" "$tmp/nan/a.npy"
off=$((10 + $(od -An -tu2 -j8 -N2 "$models/resnet18.input.npy" | tr -d ' ') + 4 * 1000))
printf '\x00\x00\xc0\x7f' | dd of="$tmp/nan/a.npy" bs=1 seek=$off conv=notrunc status=none
expect_error "NaN in a .npy" "nan" q --calib "$tmp/nan"
expect_error "output path in a missing folder" "folder|directory" \
  "$kiln" quantize "$model" --calib "$tmp/good" --quiet -o "$tmp/out/missing/m.kiln"
[ ! -e "$tmp/out/missing" ] || fail "the missing folder was created"
expect_error "reconstruction option without a reconstruction method" "go with --method" \
  q --calib "$tmp/good" --method mse --iters 10
expect_error "bad --granularity" "granularity" q --calib "$tmp/good" --method brecq --granularity cell
expect_error "--drop-prob without qdrop" "drop-prob" q --calib "$tmp/good" --method brecq --drop-prob 0.3
expect_error "--drop-until without qdrop" "drop-until go with" q --calib "$tmp/good" --method brecq --drop-until 0.5
expect_error "unknown --loss" "loss: mse or fisher" q --calib "$tmp/good" --method brecq --loss kl
expect_error "--loss without reconstruction" "go with --method" q --calib "$tmp/good" --method mse --loss fisher
expect_error "bad --lr" "lr" q --calib "$tmp/good" --method brecq --lr -1
echo '{"/blocks/blocks.0/conv1/Conv": {"float": true}}' >"$tmp/keep.json"
# Not an error: a layer the plan keeps float is a kept unit of reconstruction (evaluated, not trained).
log=$("$kiln" quantize "$model" --samples 2 --calib "$tmp/good" --method brecq --iters 1 --overrides "$tmp/keep.json" \
  -o "$tmp/keep.kiln" 2>&1) || fail "a kept-float layer with reconstruction: $log"
grep -q "kept (.*kept float by the plan" <<<"$log" || fail "a kept-float layer with reconstruction: not reported kept: $log"
echo "ok: a kept-float layer with reconstruction is a kept unit"
expect_error "bad --wbits" "wbits" q --calib "$tmp/good" --wbits 9
expect_error "unknown option" "unknown option" q --calib "$tmp/good" --frobnicate
echo "{\"wbits\": 4, \"nonsense\": 1}" >"$tmp/bad.json"
expect_error "unknown config key" "nonsense" q --calib "$tmp/good" --config "$tmp/bad.json"
echo '{"no_such_layer": {"float": true}}' >"$tmp/over.json"
expect_error "override naming no layer" "no_such_layer" q --calib "$tmp/good" --overrides "$tmp/over.json"
expect_error "model file that is not ONNX" "onnx|parse|model" \
  "$kiln" quantize "$models/sample.png" --calib "$tmp/good" --quiet -o "$out"

# eval / analyze / bench with bad data are errors too, never crashes.
expect_error "eval without labels" "labels" "$kiln" eval "$model" --data "$tmp/good"
echo "7" >"$tmp/labels.txt"
expect_error "eval on NaN data" "nan" "$kiln" eval "$model" --data "$tmp/nan" --labels "$tmp/labels.txt"
expect_error "eval on a corrupt folder" "npy|truncated|size|magic" "$kiln" eval "$model" --data "$tmp/corrupt" --labels "$tmp/labels.txt"
expect_error "eval --simulate of an ONNX model" "kiln" "$kiln" eval "$model" --data "$tmp/good" --labels "$tmp/labels.txt" --simulate
expect_error "bench quantized without --calib" "calib" "$kiln" bench "$model" --bits w8a8
expect_error "analyze with a non-.kiln" "kiln" "$kiln" analyze "$model" "$model" --data "$tmp/good"
echo "cli errors: ok"
