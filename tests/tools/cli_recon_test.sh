#!/usr/bin/env bash
# kiln quantize --method brecq|adaround|qdrop end to end, in small: the Fashion-MNIST ResNet-style
# model at W2A4 (first and last layers 8-bit), 128 calibration images, a few iterations per unit,
# evaluated on the first 500 test images. Reconstruction beats nearest rounding by a wide margin,
# the settings are recorded in the .kiln, and the integer model predicts exactly what its QFloat
# simulation predicts on every image (the .kiln after reconstruction keeps the Q == QFloat contract).
# Usage: cli_recon_test.sh KILN_CLI REPO_ROOT
set -u
kiln=$1 root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/cli_lib.sh"
fmnist_setup
calib=(--calib "$data/train-images-idx3-ubyte.gz" --samples 128 --wbits 2 --abits 4)
test_set=(--data "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" --limit 500)

"$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method mse --quiet -o "$tmp/nearest.kiln" >/dev/null ||
  fail "quantize mse"
"$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method brecq --iters 150 --lr 0.01 -o "$tmp/brecq.kiln" \
  >"$tmp/brecq.log" 2>&1 || fail "quantize brecq: $(cat "$tmp/brecq.log")"
grep -q "brecq unit 1/7" "$tmp/brecq.log" || fail "no per-unit progress: $(cat "$tmp/brecq.log")"
grep -q "loss" "$tmp/brecq.log" || fail "no loss in the progress: $(cat "$tmp/brecq.log")"
"$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method adaround --iters 5 --quiet -o "$tmp/ada.kiln" \
  >/dev/null || fail "quantize adaround"
"$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method qdrop --iters 5 --granularity stage --quiet \
  -o "$tmp/qdrop.kiln" >/dev/null || fail "quantize qdrop"
n=$("$kiln" eval "$tmp/nearest.kiln" "${test_set[@]}" --json) || fail "nearest eval: $n"
b=$("$kiln" eval "$tmp/brecq.kiln" "${test_set[@]}" --compare-simulate --json) || fail "brecq eval: $b"
echo "nearest w2a4: $n"
echo "brecq w2a4:   $b"
[ "$(json_field "$b" agree)" = 500 ] || fail "integer and QFloat predictions differ after reconstruction: $b"
awk -v a="$(json_field "$n" top1)" -v b="$(json_field "$b" top1)" 'BEGIN { exit !(b - a >= 20) }' ||
  fail "BRECQ top-1 $(json_field "$b" top1) is not 20 points above nearest rounding's $(json_field "$n" top1)"
# Widths other than 8/4/2 (3-bit codes on the int4 kernels, 5-bit on int8): integer == QFloat too.
for wa in "3 3" "5 4"; do
  set -- $wa
  "$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --wbits $1 --abits $2 --method mse --quiet \
    -o "$tmp/w$1a$2.kiln" >/dev/null || fail "quantize w$1a$2"
  r=$("$kiln" eval "$tmp/w$1a$2.kiln" "${test_set[@]}" --limit 200 --compare-simulate --json) || fail "eval w$1a$2: $r"
  [ "$(json_field "$r" agree)" = 200 ] || fail "w$1a$2: integer and QFloat predictions differ: $r"
done
# BRECQ with the Fisher-diagonal loss: weights reported per unit, recorded, integer == QFloat.
"$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method brecq --loss fisher --iters 20 -o "$tmp/fisher.kiln" \
  >"$tmp/fisher.log" 2>&1 || fail "quantize brecq --loss fisher: $(cat "$tmp/fisher.log")"
grep -q "Fisher weight mean" "$tmp/fisher.log" || fail "no Fisher weights reported: $(cat "$tmp/fisher.log")"
"$kiln" inspect "$tmp/fisher.kiln" --json | grep -q '"recon.loss":"fisher"' || fail "Fisher loss not recorded"
r=$("$kiln" eval "$tmp/fisher.kiln" "${test_set[@]}" --limit 200 --compare-simulate --json) || fail "eval fisher: $r"
[ "$(json_field "$r" agree)" = 200 ] || fail "fisher: integer and QFloat predictions differ: $r"
i=$("$kiln" inspect "$tmp/qdrop.kiln" --json) || fail "inspect"
echo "$i" | grep -q '"recon.granularity":"stage"' || fail "granularity not recorded: $i"
echo "$i" | grep -q '"recon.qdrop":"true"' || fail "qdrop not recorded"
d=$("$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method brecq --dry-run --quiet) || fail "dry run: $d"
echo "$d" | grep -q "reconstruction units (brecq, block granularity): 7" || fail "dry run lists no units: $d"
[ ! -e "$tmp/dry.kiln" ] || fail "dry run wrote a file"
# Deterministic for a seed whatever the thread count: the same logits from models calibrated on 1
# and on 2 threads (QDrop, so that the dropping and the input mixing are covered too).
for t in 1 2; do
  "$kiln" quantize "$model" "${calib[@]}" "${pre[@]}" --method qdrop --iters 20 --seed 7 --threads $t --quiet \
    -o "$tmp/t$t.kiln" >/dev/null || fail "quantize qdrop --threads $t"
  mkdir -p "$tmp/out$t"
  "$kiln" run "$tmp/t$t.kiln" --input "$root/examples/fashion-mnist/test_image_0.pgm" --save-outputs "$tmp/out$t" \
    >/dev/null || fail "run t$t.kiln"
done
for f in "$tmp"/out1/*.npy; do
  cmp -s "$f" "$tmp/out2/$(basename "$f")" || fail "1 and 2 threads give different models ($(basename "$f"))"
done
# A trained MobileNetV3-style model (hardswish, squeeze-excitation gates, 5x5 depthwise) at W4A4:
# BRECQ well above nearest rounding (about 92 against 78 on these 500 images), integer == QFloat.
m3=$root/examples/fashion-mnist/mbv3_fmnist.onnx
m3_calib=(--calib "$data/train-images-idx3-ubyte.gz" --samples 128 --wbits 4 --abits 4)
"$kiln" quantize "$m3" "${m3_calib[@]}" "${pre[@]}" --method mse --quiet -o "$tmp/m3_nearest.kiln" >/dev/null ||
  fail "quantize mbv3 mse"
"$kiln" quantize "$m3" "${m3_calib[@]}" "${pre[@]}" --method brecq --iters 150 --lr 0.01 --quiet \
  -o "$tmp/m3_brecq.kiln" >/dev/null || fail "quantize mbv3 brecq"
n=$("$kiln" eval "$tmp/m3_nearest.kiln" "${test_set[@]}" --json) || fail "mbv3 nearest eval: $n"
b=$("$kiln" eval "$tmp/m3_brecq.kiln" "${test_set[@]}" --compare-simulate --json) || fail "mbv3 brecq eval: $b"
echo "mbv3 nearest w4a4: $n"
echo "mbv3 brecq w4a4:   $b"
[ "$(json_field "$b" agree)" = 500 ] || fail "mbv3: integer and QFloat predictions differ: $b"
awk -v a="$(json_field "$n" top1)" -v b="$(json_field "$b" top1)" 'BEGIN { exit !(b - a >= 8 && b >= 88) }' ||
  fail "mbv3 BRECQ top-1 $(json_field "$b" top1) vs nearest rounding's $(json_field "$n" top1)"
echo "cli reconstruction: ok"
