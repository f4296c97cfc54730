#!/usr/bin/env bash
# The README's test command: installs what is missing, then builds and runs the four test lanes.
#   1 native      everything, host compiler
#   2 vnni-emu    AVX-512 VNNI kernels compiled against SIMDe with clang, run on this AVX2 machine
#   3 aarch64     kernels + runtime cross-built, run under qemu -cpu max and -cpu neoverse-n1
#   4 sanitize    ASan + UBSan over the unit tests (clang), plus short libFuzzer runs
# Usage: tools/test.sh [lane ...]   (default: all four). Build folders are reused between runs.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tools/deps.sh --no-python || { echo "kiln: dependency installation failed"; exit 1; }

jobs=${KILN_JOBS:-$(nproc)}
lanes=("$@")
[ ${#lanes[@]} -gt 0 ] || lanes=(native vnni-emu aarch64 sanitize)
failed=()

banner() { printf '\n==== lane %s ====\n' "$1"; }

configure_build() {  # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -Wno-dev "$@" >"$dir.configure.log" 2>&1 \
    || { mkdir -p "$dir"; cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1 || { tail -n 60 "$dir.build.log"; return 1; }
}

run_ctest() {  # dir, ctest args...
  local dir=$1; shift
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 "$@"
}

lane_native() {
  configure_build build -DCMAKE_BUILD_TYPE=Release && run_ctest build
}

lane_vnni_emu() {
  configure_build build-vnni-emu -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DKILN_AVX512_EMULATION=ON -DKILN_BUILD_HOST_TOOLS=OFF &&
    KILN_EXPECT_ISA=avx512vnni run_ctest build-vnni-emu -L kernels
}

lane_aarch64() {
  configure_build build-aarch64 -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" -DKILN_BUILD_HOST_TOOLS=OFF || return 1
  echo "-- qemu -cpu max (dotprod + i8mm)"
  KILN_QEMU_CPU=max KILN_EXPECT_ISA=i8mm run_ctest build-aarch64 || return 1
  echo "-- qemu -cpu neoverse-n1 (dotprod, no i8mm)"
  KILN_QEMU_CPU=neoverse-n1 KILN_EXPECT_ISA=neondot run_ctest build-aarch64
}

lane_sanitize() {
  configure_build build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DKILN_SANITIZE=ON -DKILN_FUZZ=ON -DKILN_BUILD_BENCH=OFF &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_ctest build-sanitize -LE install
}

start=$SECONDS
for lane in "${lanes[@]}"; do
  banner "$lane"
  t0=$SECONDS
  case $lane in
    native) lane_native ;;
    vnni-emu) lane_vnni_emu ;;
    aarch64) lane_aarch64 ;;
    sanitize) lane_sanitize ;;
    *) echo "unknown lane '$lane' (native, vnni-emu, aarch64, sanitize)"; false ;;
  esac
  rc=$?
  echo "lane $lane: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || failed+=("$lane")
done
echo
echo "kiln tests: ${#lanes[@]} lane(s) in $((SECONDS - start)) s; failed: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
