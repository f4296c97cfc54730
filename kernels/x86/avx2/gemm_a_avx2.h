// A's 4-byte k-groups broadcast for the AVX2 GEMM micro-kernels; include only from sources compiled
// with the avx2 flags (kernels-internal).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gemm/a_bytes.h"

namespace kiln::kernels::avx2_gemm {

// The 4 bytes at p in every 32-bit lane.
inline __m256i broadcast32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

}  // namespace kiln::kernels::avx2_gemm
