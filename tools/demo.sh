#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds kiln for this machine, and runs
# the bundled default: `kiln info`, the kernel self-check, the bundled Fashion-MNIST ResNet-style
# model (float) on a test image (label 9, "Ankle boot"), then for both bundled models (ResNet-style
# and MobileNetV2-style): quantize W8A8 (percentile ranges) and W4A8 (MSE ranges) with 512
# calibration images from the training set, evaluate FP32 / W8A8 / W4A8 on the 10,000 test images
# and print the latency per bit-width. Outputs go to build/demo/. (The integer-vs-QFloat check on all
# 10,000 images, `kiln eval --compare-simulate`, is in docs/accuracy.md: QFloat is slower.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/deps.sh --no-python
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
cmake --build build -j "$(nproc)" --target kiln
kiln=build/bin/kiln
$kiln info
$kiln selfcheck
$kiln run examples/fashion-mnist/resnet_fmnist.onnx --input examples/fashion-mnist/test_image_0.pgm \
  --gray --mean 0.2860 --std 0.3530 --topk 3

data=/usr/share/datasets/fashion-mnist
out=build/demo
mkdir -p "$out"
pre=(--gray --mean 0.2860 --std 0.3530)
calib=(--calib "$data/train-images-idx3-ubyte.gz" --samples 512)
test_set=(--data "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz")
threads=$(nproc)
summary=()
for m in resnet mbv2; do
  onnx=examples/fashion-mnist/${m}_fmnist.onnx
  echo "== $m: quantize"
  $kiln quantize "$onnx" "${calib[@]}" "${pre[@]}" --method percentile --threads "$threads" -o "$out/${m}_w8a8.kiln"
  $kiln quantize "$onnx" "${calib[@]}" "${pre[@]}" --wbits 4 --method mse --threads "$threads" -o "$out/${m}_w4a8.kiln"
  echo "== $m: evaluate on the 10,000 test images"
  $kiln eval "$onnx" "${test_set[@]}" "${pre[@]}" --threads "$threads" --batch 100 | tee "$out/${m}_fp32.txt"
  $kiln eval "$out/${m}_w8a8.kiln" "${test_set[@]}" --threads "$threads" --batch 100 | tee "$out/${m}_w8a8.txt"
  $kiln eval "$out/${m}_w4a8.kiln" "${test_set[@]}" --threads "$threads" --batch 100 | tee "$out/${m}_w4a8.txt"
  echo "== $m: latency per bit-width (batch 1, 1 thread)"
  $kiln bench "$onnx" --calib "$data/train-images-idx3-ubyte.gz" --samples 64 "${pre[@]}" --bits fp32,w8a8,w4a8 \
    --warmup 20 --runs 200 | tee "$out/${m}_bench.txt"
  top1() { sed -n 's/.*top-1 \([0-9.]*\)%.*/\1/p' "$1" | head -n1; }
  summary+=("$(printf '%-7s FP32 %s%%  W8A8 %s%%  W4A8 %s%%' "$m" "$(top1 "$out/${m}_fp32.txt")" \
    "$(top1 "$out/${m}_w8a8.txt")" "$(top1 "$out/${m}_w4a8.txt")")")
done
echo "== top-1 on the Fashion-MNIST test set (10,000 images)"
printf '%s\n' "${summary[@]}"
