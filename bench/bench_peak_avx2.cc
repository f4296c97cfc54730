// Peak loops for AVX2 (compiled with -mavx2 -mfma). Eight independent accumulator chains, each with
// its own multiply per iteration.
#include <immintrin.h>

#include "bench_peak.h"

namespace kiln::bench {
namespace {

inline uint64_t fold(const __m256i (&acc)[8]) {
  __m256i s = acc[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_epi32(s, acc[i]);
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0) ^ _mm256_extract_epi64(s, 3));
}

}  // namespace

// The loops are asm: as intrinsics, gcc computes the (loop-invariant per iteration) product once
// and adds it to all eight chains, which measured vpaddd throughput, not the multiplier's.
#define KILN_CHAINS(body) body(0, 12) body(1, 13) body(2, 14) body(3, 15) body(4, 12) body(5, 13) body(6, 14) body(7, 15)
// The accumulators are plain locals (an array would be stored back to memory around every asm).
#define KILN_ACC_OPERANDS \
  [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7)
#define KILN_ACC_LOCALS __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
#define KILN_FOLD_LOCALS fold({c0, c1, c2, c3, c4, c5, c6, c7})

uint64_t peak_avx2_maddubs_madd_add(uint64_t iterations) {
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  KILN_ACC_LOCALS;
#define KILN_TRIPLE(i, t)                          \
  "vpmaddubsw %[b], %[a], %%ymm" #t "\n\t"          \
  "vpmaddwd %[ones], %%ymm" #t ", %%ymm" #t "\n\t"  \
  "vpaddd %%ymm" #t ", %[c" #i "], %[c" #i "]\n\t"
  for (uint64_t i = 0; i < iterations; ++i) {
    __asm__ volatile(KILN_CHAINS(KILN_TRIPLE)
                     : KILN_ACC_OPERANDS
                     : [a] "x"(a), [b] "x"(b), [ones] "x"(ones)
                     : "xmm12", "xmm13", "xmm14", "xmm15");
  }
#undef KILN_TRIPLE
  return KILN_FOLD_LOCALS;
}

uint64_t peak_avx2_madd_add(uint64_t iterations) {
  const __m256i a = _mm256_set1_epi16(200), b = _mm256_set1_epi16(-100);
  KILN_ACC_LOCALS;
#define KILN_PAIR(i, t)                     \
  "vpmaddwd %[b], %[a], %%ymm" #t "\n\t"     \
  "vpaddd %%ymm" #t ", %[c" #i "], %[c" #i "]\n\t"
  for (uint64_t i = 0; i < iterations; ++i) {
    __asm__ volatile(KILN_CHAINS(KILN_PAIR)
                     : KILN_ACC_OPERANDS
                     : [a] "x"(a), [b] "x"(b)
                     : "xmm12", "xmm13", "xmm14", "xmm15");
  }
#undef KILN_PAIR
  return KILN_FOLD_LOCALS;
}

uint64_t peak_avx2_maddubs_addw(uint64_t iterations) {
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  KILN_ACC_LOCALS;
#define KILN_PAIR(i, t)                       \
  "vpmaddubsw %[b], %[a], %%ymm" #t "\n\t"     \
  "vpaddw %%ymm" #t ", %[c" #i "], %[c" #i "]\n\t"
  for (uint64_t i = 0; i < iterations; ++i) {
    __asm__ volatile(KILN_CHAINS(KILN_PAIR)
                     : KILN_ACC_OPERANDS
                     : [a] "x"(a), [b] "x"(b)
                     : "xmm12", "xmm13", "xmm14", "xmm15");
  }
#undef KILN_PAIR
  return KILN_FOLD_LOCALS;
}

#undef KILN_ACC_OPERANDS
#undef KILN_ACC_LOCALS
#undef KILN_FOLD_LOCALS
#undef KILN_CHAINS

}  // namespace kiln::bench
