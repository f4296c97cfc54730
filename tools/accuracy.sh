#!/usr/bin/env bash
# Measures the rows of docs/accuracy.md: for each bundled Fashion-MNIST model and each configuration,
# `kiln quantize` (512 calibration images from the training set) then `kiln eval` on the 10,000 test
# images. Prints one markdown row per run: model | config | top-1 | top-5 | calibration seconds.
# Usage: tools/accuracy.sh MODEL CONFIG [CONFIG ...]
#   MODEL  resnet | mbv2;   CONFIG  name:options, e.g. "w2a4_brecq:--wbits 2 --abits 4 --method brecq"
# Environment: KILN (default build/bin/kiln), OUT (default build/accuracy) for the .kiln files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN:-$root/build/bin/kiln}
out=${OUT:-$root/build/accuracy}
data=/usr/share/datasets/fashion-mnist
model=$1
shift
onnx=$root/examples/fashion-mnist/${model}_fmnist.onnx
pre=(--gray --mean 0.2860 --std 0.3530)
mkdir -p "$out"
field() { sed -n "s/.*\"$2\": *\\([0-9.]*\\).*/\\1/p" <<<"$1" | head -n1; }
for cfg in "$@"; do
  name=${cfg%%:*}
  read -r -a opts <<<"${cfg#*:}"
  file=$out/${model}_${name}.kiln
  t0=$(date +%s.%N)
  "$kiln" quantize "$onnx" --calib "$data/train-images-idx3-ubyte.gz" --samples 512 "${pre[@]}" "${opts[@]}" \
    --quiet -o "$file" >/dev/null
  t1=$(date +%s.%N)
  r=$("$kiln" eval "$file" --data "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
    --batch 100 --json)
  printf '| %s | %s | `%s` | %s | %s | %.0f s |\n' "$model" "$name" "${cfg#*:}" "$(field "$r" top1)" \
    "$(field "$r" top5)" "$(echo "$t1 - $t0" | bc)"
done
