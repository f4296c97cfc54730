// The requant.h epilogue of the AVX2 GEMM / igemm micro-kernels: 8 int32 accumulators of one row
// in, 8 (or fewer, the column tail) outputs of the epilogue's type written. Shared by the int8 and
// int4 kernels; include only from sources compiled with the avx2 flags.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "kiln/kernels/gemm.h"

namespace kiln::kernels::avx2_gemm {

struct Epilogue {
  __m256 lo, hi, out_scale, hswish, three, zero, six, rmult;
  __m256i zo, rzp;
  explicit Epilogue(const GemmEpilogue& ep)
      : lo(_mm256_set1_ps(static_cast<float>(ep.qmin - ep.zero_point))),
        hi(_mm256_set1_ps(static_cast<float>(ep.qmax - ep.zero_point))),
        out_scale(_mm256_set1_ps(ep.out_scale)),
        hswish(_mm256_set1_ps(ep.hardswish_multiplier)),
        three(_mm256_set1_ps(3.0f)),
        zero(_mm256_setzero_ps()),
        six(_mm256_set1_ps(6.0f)),
        rmult(_mm256_set1_ps(ep.residual_multiplier)),
        zo(_mm256_set1_epi32(ep.zero_point)),
        rzp(_mm256_set1_epi32(ep.residual_zero_point)) {}
};

// The epilogue on 8 columns (n <= 8 of them written); acc already holds the packed bias.
inline void store_cols(const GemmEpilogue& ep, const Epilogue& e, __m256i acc, __m256 mult, const uint8_t* r, void* c,
                       size_t n) {
  alignas(32) uint8_t buf[32];
  if (ep.output == GemmOutput::i32) {
    if (n == 8) {
      _mm256_storeu_si256(static_cast<__m256i*>(c), acc);
    } else {
      _mm256_store_si256(reinterpret_cast<__m256i*>(buf), acc);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
  if (ep.output == GemmOutput::f32) {
    if (n == 8) {
      _mm256_storeu_ps(static_cast<float*>(c), v);
    } else {
      _mm256_store_ps(reinterpret_cast<float*>(buf), v);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  if (r != nullptr) {
    // Whole groups of 8 with fixed-size moves: a memcpy of runtime length is a library call.
    int64_t bytes = 0;
    if (n == 8) {
      std::memcpy(&bytes, r, 8);
    } else {
      std::memcpy(&bytes, r, n);
    }
    const __m256i ri = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
    const __m256 rv = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ri, e.rzp)), e.rmult);
    v = _mm256_add_ps(v, rv);
  }
  if (ep.activation == Activation::hardswish) {
    const __m256 t = _mm256_mul_ps(v, e.out_scale);
    const __m256 g = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, e.three), e.zero), e.six);
    v = _mm256_mul_ps(_mm256_mul_ps(t, g), e.hswish);
  }
  v = _mm256_min_ps(_mm256_max_ps(v, e.lo), e.hi);
  const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), e.zo);  // in [qmin, qmax] within 0..255
  const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const __m128i q8 = _mm_packus_epi16(q16, q16);
  if (n == 8) {
    _mm_storel_epi64(static_cast<__m128i*>(c), q8);
  } else {
    const int64_t bytes = _mm_cvtsi128_si64(q8);
    std::memcpy(c, &bytes, n);
  }
}

// The epilogue of a whole M x 16 tile whose packed block starts at blk (bias[16], multiplier[16]).
template <int M>
inline void store_tile(const __m256i (&acc)[M][2], const uint8_t* blk, size_t nc, void* c, size_t c_stride,
                       const uint8_t* r, size_t r_stride, const GemmEpilogue& ep) {
  constexpr size_t kNr = 16;
  const __m256i bias0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
  const __m256i bias1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
  const __m256 mult0 = _mm256_loadu_ps(reinterpret_cast<const float*>(blk + 4 * kNr));
  const __m256 mult1 = _mm256_loadu_ps(reinterpret_cast<const float*>(blk + 4 * kNr + 32));
  const Epilogue e(ep);
  const size_t eb = ep.output == GemmOutput::u8 ? 1 : 4;
  const size_t n0 = nc < 8 ? nc : 8, n1 = nc > 8 ? nc - 8 : 0;
  for (int m = 0; m < M; ++m) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * eb;
    const uint8_t* rrow = r ? r + m * r_stride : nullptr;
    store_cols(ep, e, _mm256_add_epi32(acc[m][0], bias0), mult0, rrow, crow, n0);
    if (n1) store_cols(ep, e, _mm256_add_epi32(acc[m][1], bias1), mult1, rrow ? rrow + 8 : nullptr, crow + 8 * eb, n1);
  }
}

}  // namespace kiln::kernels::avx2_gemm
