#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds kiln for this machine, and runs
# the bundled default: `kiln info`, the kernel self-check, and the bundled Fashion-MNIST ResNet-style
# model (float) on a test image (label 9, "Ankle boot").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/deps.sh --no-python
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
cmake --build build -j "$(nproc)" --target kiln
build/bin/kiln info
build/bin/kiln selfcheck
build/bin/kiln run examples/fashion-mnist/resnet_fmnist.onnx --input examples/fashion-mnist/test_image_0.pgm \
  --gray --mean 0.2860 --std 0.3530 --topk 3
