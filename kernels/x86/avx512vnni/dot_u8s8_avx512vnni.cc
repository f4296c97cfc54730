#include "avx512_intrinsics.h"
#include "kiln/kernels/dot.h"

namespace kiln::kernels {

// vpdpbusd multiplies uint8 by int8 and adds groups of four into int32 without saturation.
int32_t dot_u8s8__avx512vnni(const uint8_t* a, const int8_t* b, size_t n) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
  }
  if (i < n) {
    const uint64_t mask = ~0ull >> (64 - (n - i));
    acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(mask, a + i), _mm512_maskz_loadu_epi8(mask, b + i));
  }
  // A store and a scalar sum, once per call: gcc 12's _mm512_reduce_add_epi32 trips -Wuninitialized.
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, acc);
  uint32_t total = 0;
  for (int32_t v : lanes) total += static_cast<uint32_t>(v);
  return static_cast<int32_t>(total);
}

}  // namespace kiln::kernels
