#!/usr/bin/env bash
# Acceptance 4 of issue 5: float ResNet-18 (full width, 224x224, batch 1, 1 thread) through kiln's
# Session against the sum of oneDNN's fp32 convolution times, both ISAs of this machine.
# Generates the model into the build folder when missing (it is not committed; needs Debian's
# python3-torch and python3-onnx through /usr/bin/python3), then runs kiln-bench-model.
# Usage: bench/run_model_bench.sh [BUILD_DIR] [benchmark flags...]
#   (default BUILD_DIR: build; default flags: the paired benchmark, 5 repetitions, medians)
# The acceptance figure is model_f32_paired/kiln_vs_onednn's counter `ratio` (kiln_ms /
# onednn_conv_ms; target <= 1.2); model_f32_conv/* give the per-layer view.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
bench="$build/bin/kiln-bench-model"
[ -x "$bench" ] || bench="$build/bench/kiln-bench-model"
if [ ! -x "$bench" ]; then
  echo "run_model_bench: $build has no kiln-bench-model; build it: ninja -C $build kiln-bench-model" >&2
  exit 1
fi
model="$build/models/resnet18_full.onnx"
if [ ! -s "$model" ]; then
  mkdir -p "$build/models"
  /usr/bin/python3 "$root/tests/models/make_models.py" --resnet18-full "$model.tmp.$$" >&2
  mv "$model.tmp.$$" "$model"
fi
flags=("$@")
if [ ${#flags[@]} -eq 0 ]; then
  flags=(--benchmark_filter='model_f32_paired' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
         --benchmark_min_time=2)
fi
echo "== default ISA (kiln: KILN_ISA unset; oneDNN: its best)"
"$bench" "$model" "${flags[@]}"
if grep -q avx2 /proc/cpuinfo 2>/dev/null; then
  echo "== AVX2 against AVX2 (KILN_ISA=avx2, ONEDNN_MAX_CPU_ISA=AVX2)"
  KILN_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 "$bench" "$model" "${flags[@]}"
fi
