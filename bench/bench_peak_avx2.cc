// Peak loops for AVX2 (compiled with -mavx2 -mfma). Eight independent accumulator chains; an empty
// asm statement per iteration keeps the operands from being treated as loop-invariant.
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

uint64_t peak_avx2_maddubs_madd_add(uint64_t iterations) {
  __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  __m256i acc[8];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (uint64_t i = 0; i < iterations; ++i) {
    asm volatile("" : "+x"(a), "+x"(b));
    for (auto& x : acc) x = _mm256_add_epi32(x, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
  }
  return fold(acc);
}

uint64_t peak_avx2_madd_add(uint64_t iterations) {
  __m256i a = _mm256_set1_epi16(200), b = _mm256_set1_epi16(-100);
  __m256i acc[8];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (uint64_t i = 0; i < iterations; ++i) {
    asm volatile("" : "+x"(a), "+x"(b));
    for (auto& x : acc) x = _mm256_add_epi32(x, _mm256_madd_epi16(a, b));
  }
  return fold(acc);
}

uint64_t peak_avx2_maddubs_addw(uint64_t iterations) {
  __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  __m256i acc[8];
  for (auto& x : acc) x = _mm256_setzero_si256();
  for (uint64_t i = 0; i < iterations; ++i) {
    asm volatile("" : "+x"(a), "+x"(b));
    for (auto& x : acc) x = _mm256_add_epi16(x, _mm256_maddubs_epi16(a, b));
  }
  return fold(acc);
}

}  // namespace kiln::bench
