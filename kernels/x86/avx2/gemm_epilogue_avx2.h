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

// The u8 epilogue of whole 16-column rows without a residual or hardswish, two rows at a time, with
// requant.h's codes: the product is clamped above in float, rounded half to even, narrowed by two
// saturating packs and one vpermd per 32 values (instead of two packs per 8), the zero point added
// in int16 and the lower clamp applied to the bytes (vpmaxub qmin). The lower clamp may move after
// the rounding: below qmin - zp (an integer) the rounded value, or INT32_MIN beyond the int32
// range, stays at most that bound through every saturating step, and the byte max gives qmin.
template <int M>
inline void store_u8_rows(const __m256i (&acc)[M][2], __m256i bias0, __m256i bias1, __m256 mult0, __m256 mult1,
                          uint8_t* c, size_t c_stride, const GemmEpilogue& ep) {
  const __m256 hi = _mm256_set1_ps(static_cast<float>(ep.qmax - ep.zero_point));
  const __m256i zp16 = _mm256_set1_epi16(static_cast<int16_t>(ep.zero_point));
  const __m256i qmin = _mm256_set1_epi8(static_cast<char>(ep.qmin));
  // After packs_epi32 of each row's halves and packus_epi16 of two rows, 128-bit lane 0 holds the
  // dwords (row a cols 0-3, a 8-11, b 0-3, b 8-11) and lane 1 the same for cols 4-7 and 12-15.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  auto codes = [&](__m256i x, __m256i bias, __m256 mult) {
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(x, bias)), mult);
    return _mm256_cvtps_epi32(_mm256_min_ps(v, hi));
  };
  for (int m = 0; m < M; m += 2) {
    const int m1 = m + 1 < M ? m + 1 : m;
    const __m256i r0 = _mm256_adds_epi16(_mm256_packs_epi32(codes(acc[m][0], bias0, mult0), codes(acc[m][1], bias1, mult1)), zp16);
    const __m256i r1 =
        _mm256_adds_epi16(_mm256_packs_epi32(codes(acc[m1][0], bias0, mult0), codes(acc[m1][1], bias1, mult1)), zp16);
    const __m256i bytes = _mm256_max_epu8(_mm256_permutevar8x32_epi32(_mm256_packus_epi16(r0, r1), order), qmin);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c + m * c_stride), _mm256_castsi256_si128(bytes));
    if (m + 1 < M) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(c + (m + 1) * c_stride), _mm256_extracti128_si256(bytes, 1));
    }
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
  if (ep.output == GemmOutput::u8 && r == nullptr && ep.activation != Activation::hardswish && nc == kNr) {
    store_u8_rows<M>(acc, bias0, bias1, mult0, mult1, static_cast<uint8_t*>(c), c_stride, ep);
    return;
  }
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
