#!/usr/bin/env bash
# The bundled demo in small: W8A8 (percentile) of the Fashion-MNIST ResNet-style model, calibrated on
# 128 training images, evaluated on the first 500 test images: top-1 within 1 point of FP32 on
# them, and the integer model and QFloat give the same prediction on every image.
# Usage: cli_fmnist_test.sh KILN_CLI REPO_ROOT
set -u
kiln=$1 root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/cli_lib.sh"
fmnist_setup
test_set=(--data "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" --limit 500)

"$kiln" quantize "$model" --calib "$data/train-images-idx3-ubyte.gz" --samples 128 --method percentile "${pre[@]}" \
  --quiet -o "$tmp/w8a8.kiln" >/dev/null || fail "quantize"
f=$("$kiln" eval "$model" "${test_set[@]}" "${pre[@]}" --json) || fail "fp32 eval: $f"
q=$("$kiln" eval "$tmp/w8a8.kiln" "${test_set[@]}" --compare-simulate --json) || fail "w8a8 eval: $q"
echo "fp32: $f"
echo "w8a8: $q"
[ "$(json_field "$q" samples)" = 500 ] || fail "samples: $q"
[ "$(json_field "$q" agree)" = 500 ] || fail "integer and QFloat predictions differ: $q"
awk -v a="$(json_field "$f" top1)" -v b="$(json_field "$q" top1)" 'BEGIN { exit !(a - b <= 1.0 && a > 85) }' ||
  fail "W8A8 top-1 $(json_field "$q" top1) vs FP32 $(json_field "$f" top1)"
echo "cli fashion-mnist: ok"
