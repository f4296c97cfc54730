// This machine's measured int8 multiply-accumulate peak, per ISA, one thread: the instruction
// sequences the GEMM kernels are (ideally) limited by, run on independent accumulators.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/isa.h"

namespace kiln::bench {

struct PeakLoop {
  std::string name;                       // peak/<name>
  kernels::Isa isa;
  double macs_per_iteration;              // multiply-adds one call of run() does per iteration
  uint64_t (*run)(uint64_t iterations);  // returns a value that depends on every accumulator
};

// Every loop this build has (callers check cpu_supports(loop.isa)).
std::vector<PeakLoop> peak_loops();
// The reference peak (GOPS, 1 thread) that "pct_peak" counters divide by: for avx2 the
// vpmaddubsw + vpmaddwd + vpaddd sequence (the "int8 peak", what oneDNN runs), for
// avx512vnni zmm vpdpbusd. Measured once per process; 0 when the ISA has no loop here.
double reference_peak_gops(kernels::Isa isa);

// The peak loop that bounds the inner loop of the (isa, wbits) GEMM micro-kernel (GOPS, 1 thread,
// measured once per process): avx2 int8 the exact vpmaddwd + vpaddd loop, avx2 int4 vpmaddubsw +
// vpaddw, avx512vnni vpdpbusd; 0 where this build has no such loop.
double bound_peak_gops(kernels::Isa isa, int wbits);

// Loops of the x86 translation units (compiled with their ISA's flags).
uint64_t peak_avx2_maddubs_madd_add(uint64_t iterations);  // 32 MAC per ymm triple (inexact int8)
uint64_t peak_avx2_madd_add(uint64_t iterations);          // 16 MAC per vpmaddwd + vpaddd (exact int8)
uint64_t peak_avx2_maddubs_addw(uint64_t iterations);      // 32 MAC per vpmaddubsw + vpaddw (int4)
uint64_t peak_avx512vnni_dpbusd(uint64_t iterations);      // 64 MAC per zmm vpdpbusd

}  // namespace kiln::bench
