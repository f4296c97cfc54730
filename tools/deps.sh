#!/usr/bin/env bash
# Installs the Debian packages kiln needs. Idempotent; silent when everything is present.
# Usage: tools/deps.sh [--no-python]   (--no-python skips PyTorch/ONNX, which only the scripts
# that make test models need)
set -euo pipefail
packages=(
  build-essential cmake ninja-build git pkg-config
  clang llvm libclang-rt-14-dev                   # emulated AVX-512 lane, libFuzzer, llvm-mca
  libgtest-dev googletest libbenchmark-dev        # tests (googletest: sources for the cross build)
  libdnnl-dev libxnnpack-dev libpthreadpool-dev   # calibrator backend, benchmark peers
  ocl-icd-opencl-dev                              # dnnl-config.cmake requires OpenCL (a Recommends)
  libonnx-dev libprotobuf-dev protobuf-compiler   # ONNX importer
  libflatbuffers-dev flatbuffers-compiler         # .kiln format
  libstb-dev libsimde-dev                         # images, AVX-512 emulation
  zlib1g-dev                                      # gzipped IDX calibration data
  g++-aarch64-linux-gnu qemu-user-static          # aarch64 lane
  dataset-fashion-mnist                           # the bundled demo's data
)
if [ "${1:-}" != "--no-python" ]; then
  packages+=(python3-torch python3-onnx python3-numpy)
fi
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "kiln: installing ${#missing[@]} Debian package(s): ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
