// Peak loop for AVX-512 VNNI (compiled with the avx512vnni flags): twelve independent zmm vpdpbusd
// chains, enough to cover its latency at two per cycle.
#include <immintrin.h>

#include "bench_peak.h"

namespace kiln::bench {

uint64_t peak_avx512vnni_dpbusd(uint64_t iterations) {
  __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  __m512i acc[12];
  for (auto& x : acc) x = _mm512_setzero_si512();
  for (uint64_t i = 0; i < iterations; ++i) {
    asm volatile("" : "+v"(a), "+v"(b));
    for (auto& x : acc) x = _mm512_dpbusd_epi32(x, a, b);
  }
  alignas(64) int64_t lanes[8];
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  _mm512_store_si512(lanes, s);
  return static_cast<uint64_t>(lanes[0] ^ lanes[7]);
}

}  // namespace kiln::bench
