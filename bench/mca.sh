#!/usr/bin/env bash
# llvm-mca on the inner loop of each GEMM micro-kernel, for the CPUs this machine cannot be:
#   AVX-512 VNNI on Ice Lake server, NEON dotprod on Neoverse N1, i8mm on Neoverse N2 (V1 beside it),
#   and AVX2 on Zen3 (the issue's reference machine).
# The kernel sources are compiled to assembly with the compilers of the build lanes (g++ for x86,
# aarch64-linux-gnu-g++ for ARM) and the same flags; the inner loop of each kernel family is the
# loop (label ... backward branch) with the most multiply-accumulate instructions: the int4 loop is
# the one that also unpacks nibbles; loops with calls or stack traffic (tails, epilogues) are skipped.
# One line per kernel:
#   kernel NAME cpu CPU mac_per_cycle X limit Y
# limit: the CPU's int8 MAC/cycle for that instruction (zmm vpdpbusd 2/cycle x 64 on Ice Lake server;
# sdot 2/cycle x 16 on N1; usmmla 2/cycle x 32 on N2, 4/cycle on V1; vpmaddwd 2/cycle x 16 on Zen3).
# Usage: bench/mca.sh [-v]   (-v prints each loop's llvm-mca summary too)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
verbose=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v llvm-mca >/dev/null || { echo "mca.sh: llvm-mca not found (Debian package llvm)"; exit 1; }

incs=(-I"$root/kernels/include" -I"$root/kernels")
compile() {  # compiler, source, out, flags...
  local cxx=$1 src=$2 out=$3; shift 3
  "$cxx" -std=c++20 -O3 -DNDEBUG -ffp-contract=off -fno-asynchronous-unwind-tables "${incs[@]}" "$@" -S "$src" -o "$out"
}

compile g++ "$root/kernels/x86/avx512vnni/gemm_avx512vnni.cc" "$tmp/vnni.s" \
  -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
compile g++ "$root/kernels/x86/avx2/gemm_avx2.cc" "$tmp/avx2.s" -mavx2 -mfma -mf16c
compile g++ "$root/kernels/x86/avx2/gemm_u8s4_avx2.cc" "$tmp/avx2_s4.s" -mavx2 -mfma -mf16c
have_arm=0
if command -v aarch64-linux-gnu-g++ >/dev/null; then
  compile aarch64-linux-gnu-g++ "$root/kernels/arm/neondot/gemm_neondot.cc" "$tmp/dot.s" -march=armv8.2-a+dotprod
  compile aarch64-linux-gnu-g++ "$root/kernels/arm/i8mm/gemm_i8mm.cc" "$tmp/mm.s" -march=armv8.2-a+dotprod+i8mm
  have_arm=1
fi

# extract ASM KIND OUT: writes the chosen loop of KIND (int8|int4) to OUT, prints its MACs per iteration.
extract() {
  /usr/bin/env python3 - "$@" <<'PY'
import re, sys
asm, kind, out = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(asm).read().split('\n')
label_at = {}
for i, l in enumerate(lines):
    m = re.match(r'^(\.L\w+):', l)
    if m: label_at[m.group(1)] = i
def macs(ins):
    s = ins.strip()
    if s.startswith('vpdpbusd') and '%zmm' in s: return 64
    if s.startswith('vpmaddwd') and '%ymm' in s: return 16
    if s.startswith('vpmaddubsw') and '%ymm' in s: return 32
    if re.match(r'(sdot|udot|usdot)\s', s): return 16
    if re.match(r'(usmmla|smmla|ummla)\s', s): return 32
    return 0
def unpacks_nibbles(body):
    text = '\n'.join(body)
    return bool(re.search(r'vpsllw|vpshufb|\bshl\s+v\d+\.16b|\bsshl\b', text))
branch = re.compile(r'^\s+(j\w+|b\.?\w*|cbnz|cbz|tbnz|tbz)\s+(?:[^,]*,\s*)*(\.L\w+)\s*$')
def back_target(l):
    m = branch.match(l)
    return m.group(2) if m else None
best = None
for i, l in enumerate(lines):
    m = re.match(r'^\s+(j\w+|b\.?\w*|cbnz|cbz|tbnz|tbz)\s+(?:[^,]*,\s*)*(\.L\w+)\s*$', l)
    if not m: continue
    target = m.group(2)
    start = label_at.get(target)
    if start is None or start >= i: continue
    body = lines[start:i + 1]
    mac = sum(macs(x) for x in body)
    if mac == 0: continue
    if (kind == 'int4') != unpacks_nibbles(body): continue
    # The steady-state inner loop: no calls and no stack traffic (spilled accumulators or the
    # epilogue's locals); the most MACs, then the fewest instructions.
    text = '\n'.join(body)
    if re.search(r'\bcall\b|\bbl\s|\(%rsp\)|\[sp', text): continue
    # Innermost loops only: a branch spanning an outer loop (tile setup, K loop and epilogue
    # together) would be measured as one huge "iteration".
    if any(back_target(x) in label_at and start <= label_at[back_target(x)] < start + len(body) - 1
           for x in body[:-1]): continue
    n_ins = sum(1 for x in body if x.strip() and not x.strip().startswith('.') and not x.strip().endswith(':'))
    key = (mac, -n_ins)
    if best is None or key > best[0]:
        best = (key, body, mac)
if best is None:
    print(0); sys.exit(0)
with open(out, 'w') as f:
    for x in best[1]:
        s = x.strip()
        if s.startswith('.') and not s.endswith(':'): continue  # directives
        f.write(x + '\n')
print(best[2])
PY
}

# report NAME ASM KIND TRIPLE CPU LIMIT
report() {
  local name=$1 asm=$2 kind=$3 triple=$4 cpu=$5 limit=$6
  local loop="$tmp/$name.$cpu.s"
  local mac
  mac=$(extract "$asm" "$kind" "$loop")
  if [ "$mac" = 0 ]; then
    echo "kernel $name cpu $cpu mac_per_cycle n/a limit $limit (inner loop not found)"
    return
  fi
  local out
  out=$(llvm-mca -mtriple="$triple" -mcpu="$cpu" -iterations=300 "$loop" 2>/dev/null)
  local cycles iters
  cycles=$(awk '/^Total Cycles:/ {print $3}' <<<"$out")
  iters=$(awk '/^Iterations:/ {print $2}' <<<"$out")
  awk -v n="$name" -v c="$cpu" -v m="$mac" -v it="$iters" -v cy="$cycles" -v lim="$limit" \
    'BEGIN { printf "kernel %s cpu %s mac_per_cycle %.1f limit %s\n", n, c, m * it / cy, lim }'
  if [ -n "$verbose" ]; then
    echo "  ($mac MACs per loop iteration; llvm-mca:)"
    sed -n '/^Iterations:/,/^Block RThroughput:/p' <<<"$out" | sed 's/^/    /'
  fi
}

report gemm_u8s8_8x32c4__avx512vnni "$tmp/vnni.s" int8 x86_64 icelake-server 128
report gemm_u8s4_8x32c4__avx512vnni "$tmp/vnni.s" int4 x86_64 icelake-server 128
report gemm_pa_u8s8_6x16c4__avx2 "$tmp/avx2.s" int8 x86_64 znver3 32
report gemm_u8s4_4x16c4__avx2 "$tmp/avx2_s4.s" int4 x86_64 znver3 64
if [ $have_arm = 1 ]; then
  report gemm_u8s8_4x16c4__neondot "$tmp/dot.s" int8 aarch64 neoverse-n1 32
  report gemm_u8s4_4x16c4__neondot "$tmp/dot.s" int4 aarch64 neoverse-n1 32
  report gemm_u8s8_4x16c8__i8mm "$tmp/mm.s" int8 aarch64 neoverse-n2 64
  report gemm_u8s4_4x16c8__i8mm "$tmp/mm.s" int4 aarch64 neoverse-n2 64
  report gemm_u8s8_4x16c8__i8mm "$tmp/mm.s" int8 aarch64 neoverse-v1 128
fi
