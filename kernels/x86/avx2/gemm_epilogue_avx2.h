// The requant.h epilogue of the AVX2 GEMM / igemm micro-kernels: an M x 16 tile of int32 sums in,
// the outputs of the epilogue's type written (u8 two rows at a time, i32 / f32 by 8 columns). Shared
// by the int8 and int4 kernels; include only from sources compiled with the avx2 flags.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kiln/kernels/gemm.h"

namespace kiln::kernels::avx2_gemm {

// The i32 / f32 outputs (float islands) on n <= 8 columns: the sums as they are, or times the
// multipliers; acc already holds the packed bias. u8 outputs take store_u8_rows.
inline void store_wide_cols(const GemmEpilogue& ep, __m256i acc, __m256 mult, void* c, size_t n) {
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
  const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
  if (n == 8) {
    _mm256_storeu_ps(static_cast<float*>(c), v);
  } else {
    _mm256_store_ps(reinterpret_cast<float*>(buf), v);
    std::memcpy(c, buf, 4 * n);
  }
}

// The u8 epilogue (requant.h's codes) of rows of nc <= 16 columns, two rows at a time: the product,
// plus the residual and through hardswish in requant.h's order of operations, is clamped above in
// float, rounded half to even, narrowed by two saturating packs and one vpermd per 32 values
// (instead of two packs per 8), the zero point added in int16 and the lower clamp applied to the
// bytes (vpmaxub qmin). The lower clamp may move after the rounding: below qmin - zp (an integer)
// the rounded value, or INT32_MIN beyond the int32 range, stays at most that bound through every
// saturating step, and the byte max gives qmin.
template <int M, bool kResidual, bool kHardswish>
inline void store_u8_rows(const __m256i (&acc)[M][2], __m256i bias0, __m256i bias1, __m256 mult0, __m256 mult1,
                          size_t nc, const uint8_t* r, size_t r_stride, uint8_t* c, size_t c_stride,
                          const GemmEpilogue& ep) {
  const __m256 hi = _mm256_set1_ps(static_cast<float>(ep.qmax - ep.zero_point));
  const __m256i zp16 = _mm256_set1_epi16(static_cast<int16_t>(ep.zero_point));
  const __m256i qmin = _mm256_set1_epi8(static_cast<char>(ep.qmin));
  const __m256 rmult = _mm256_set1_ps(ep.residual_multiplier);
  const __m256i rzp = _mm256_set1_epi32(ep.residual_zero_point);
  const __m256 out_scale = _mm256_set1_ps(ep.out_scale), hswish = _mm256_set1_ps(ep.hardswish_multiplier);
  const __m256 three = _mm256_set1_ps(3.0f), six = _mm256_set1_ps(6.0f), zero = _mm256_setzero_ps();
  // After packs_epi32 of each row's halves and packus_epi16 of two rows, 128-bit lane 0 holds the
  // dwords (row a cols 0-3, a 8-11, b 0-3, b 8-11) and lane 1 the same for cols 4-7 and 12-15.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  // Row m's residual codes of columns 8h .. 8h + 7 as int32 (zero past nc).
  auto residual = [&](int m, int h) {
    const uint8_t* p = r + m * r_stride + 8 * h;
    const size_t n = nc > 8u * h ? std::min<size_t>(8, nc - 8 * h) : 0;
    int64_t bytes = 0;
    if (n == 8) {
      std::memcpy(&bytes, p, 8);
    } else {
      std::memcpy(&bytes, p, n);
    }
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
  };
  auto codes = [&](__m256i x, __m256i bias, __m256 mult, int m, int h) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(x, bias)), mult);
    if constexpr (kResidual) {
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(residual(m, h), rzp)), rmult));
    }
    if constexpr (kHardswish) {
      const __m256 t = _mm256_mul_ps(v, out_scale);
      const __m256 g = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, three), zero), six);
      v = _mm256_mul_ps(_mm256_mul_ps(t, g), hswish);
    }
    return _mm256_cvtps_epi32(_mm256_min_ps(v, hi));
  };
  auto store = [&](uint8_t* dst, __m128i bytes) {
    if (nc == 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), bytes);
    } else {
      alignas(16) uint8_t buf[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(buf), bytes);
      std::memcpy(dst, buf, nc);
    }
  };
  for (int m = 0; m < M; m += 2) {
    const int m1 = m + 1 < M ? m + 1 : m;
    const __m256i r0 = _mm256_adds_epi16(
        _mm256_packs_epi32(codes(acc[m][0], bias0, mult0, m, 0), codes(acc[m][1], bias1, mult1, m, 1)), zp16);
    const __m256i r1 = _mm256_adds_epi16(
        _mm256_packs_epi32(codes(acc[m1][0], bias0, mult0, m1, 0), codes(acc[m1][1], bias1, mult1, m1, 1)), zp16);
    const __m256i bytes = _mm256_max_epu8(_mm256_permutevar8x32_epi32(_mm256_packus_epi16(r0, r1), order), qmin);
    store(c + m * c_stride, _mm256_castsi256_si128(bytes));
    if (m + 1 < M) store(c + (m + 1) * c_stride, _mm256_extracti128_si256(bytes, 1));
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
  if (ep.output == GemmOutput::u8) {
    uint8_t* c8 = static_cast<uint8_t*>(c);
    const bool hs = ep.activation == Activation::hardswish;
    if (r != nullptr) {
      hs ? store_u8_rows<M, true, true>(acc, bias0, bias1, mult0, mult1, nc, r, r_stride, c8, c_stride, ep)
         : store_u8_rows<M, true, false>(acc, bias0, bias1, mult0, mult1, nc, r, r_stride, c8, c_stride, ep);
    } else {
      hs ? store_u8_rows<M, false, true>(acc, bias0, bias1, mult0, mult1, nc, r, r_stride, c8, c_stride, ep)
         : store_u8_rows<M, false, false>(acc, bias0, bias1, mult0, mult1, nc, r, r_stride, c8, c_stride, ep);
    }
    return;
  }
  const size_t n0 = nc < 8 ? nc : 8, n1 = nc > 8 ? nc - 8 : 0;
  for (int m = 0; m < M; ++m) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * 4;
    store_wide_cols(ep, _mm256_add_epi32(acc[m][0], bias0), mult0, crow, n0);
    if (n1) store_wide_cols(ep, _mm256_add_epi32(acc[m][1], bias1), mult1, crow + 32, n1);
  }
}

}  // namespace kiln::kernels::avx2_gemm
