// The requant.h epilogue on 8 int32 lanes with AVX2, for the convolution kernels. Same operations
// in the same order as kiln::kernels::requantize (no FMA; cvtps2dq rounds half to even).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kiln/kernels/requant.h"

namespace kiln::kernels::avx2 {

struct Requant8 {
  __m256 lo, hi, out_scale, hs_mul, res_mul, three, six, zero;
  __m256i zo, rzp;
  bool residual, hardswish;

  explicit Requant8(const RequantParams& p)
      : lo(_mm256_set1_ps(static_cast<float>(p.qmin - p.zero_point))),
        hi(_mm256_set1_ps(static_cast<float>(p.qmax - p.zero_point))),
        out_scale(_mm256_set1_ps(p.out_scale)),
        hs_mul(_mm256_set1_ps(p.hardswish_multiplier)),
        res_mul(_mm256_set1_ps(p.residual_multiplier)),
        three(_mm256_set1_ps(3.0f)),
        six(_mm256_set1_ps(6.0f)),
        zero(_mm256_setzero_ps()),
        zo(_mm256_set1_epi32(p.zero_point)),
        rzp(_mm256_set1_epi32(p.residual_zero_point)),
        residual(p.residual != nullptr),
        hardswish(p.activation == Activation::hardswish) {}

  // acc: 8 accumulators; m: their multipliers; r: their 8 residual codes in the low 64 bits (ignored
  // without a residual). Returns the output codes as int32. kResidual / kHardswish must match the
  // params (kernels dispatch once per call; see apply() for the run-time form).
  template <bool kResidual, bool kHardswish>
  __m256i apply_t(__m256i acc, __m256 m, __m128i r) const {
    return apply_t32<kResidual, kHardswish>(acc, m, kResidual ? _mm256_cvtepu8_epi32(r) : _mm256_setzero_si256());
  }

  // The same with the residual codes already widened to int32.
  template <bool kResidual, bool kHardswish>
  __m256i apply_t32(__m256i acc, __m256 m, __m256i r32) const {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), m);
    if constexpr (kResidual) {
      const __m256 rf = _mm256_cvtepi32_ps(_mm256_sub_epi32(r32, rzp));
      v = _mm256_add_ps(v, _mm256_mul_ps(rf, res_mul));
    }
    if constexpr (kHardswish) {
      const __m256 t = _mm256_mul_ps(v, out_scale);
      // max(x, 0) returns 0 for a NaN x, as std::fmax does.
      const __m256 g = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, three), zero), six);
      v = _mm256_mul_ps(_mm256_mul_ps(t, g), hs_mul);
    }
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zo);
  }

  // The float value before the clamp (the shared first half of the epilogue).
  template <bool kResidual, bool kHardswish>
  __m256 value(__m256i acc, __m256 m, __m256i r32) const {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), m);
    if constexpr (kResidual) {
      const __m256 rf = _mm256_cvtepi32_ps(_mm256_sub_epi32(r32, rzp));
      v = _mm256_add_ps(v, _mm256_mul_ps(rf, res_mul));
    }
    if constexpr (kHardswish) {
      const __m256 t = _mm256_mul_ps(v, out_scale);
      const __m256 g = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, three), zero), six);
      v = _mm256_mul_ps(_mm256_mul_ps(t, g), hs_mul);
    }
    return v;
  }

  __m256i apply(__m256i acc, __m256 m, __m128i r) const {
    if (residual) return hardswish ? apply_t<true, true>(acc, m, r) : apply_t<true, false>(acc, m, r);
    return hardswish ? apply_t<false, true>(acc, m, r) : apply_t<false, false>(acc, m, r);
  }
};

// The requant.h epilogue of 32 channels held in "class order" (class k, int32 lane j = channel
// 4j + k: the depthwise layout), returned as 32 codes in channel order. The clamp is split around
// the conversion, which gives the same codes as clamping first (lo and hi are integers and
// rounding is monotonic): v is clamped above in float (so the conversion cannot overflow upwards;
// a value below -2^31 converts to INT_MIN), the int32 codes saturate to int16, the zero point is
// added with int16 saturation, packus clamps at 0 and max_epu8 at qmin. The packs leave byte
// 4k + i of each 128-bit lane holding class k lane i; one vpshufb transposes that to 4i + k.
struct ClassCodes32 {
  __m256i zo16, qmin8;
  __m256i transpose;
  explicit ClassCodes32(const RequantParams& p)
      : zo16(_mm256_set1_epi16(static_cast<int16_t>(p.zero_point))),
        qmin8(_mm256_set1_epi8(static_cast<char>(p.qmin))),
        transpose(_mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,  //
                                   0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)) {}

  // v0..v3: the classes' float values (Requant8::value), hi: Requant8::hi.
  __m256i codes(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 hi) const {
    const __m256i q0 = _mm256_cvtps_epi32(_mm256_min_ps(v0, hi));
    const __m256i q1 = _mm256_cvtps_epi32(_mm256_min_ps(v1, hi));
    const __m256i q2 = _mm256_cvtps_epi32(_mm256_min_ps(v2, hi));
    const __m256i q3 = _mm256_cvtps_epi32(_mm256_min_ps(v3, hi));
    const __m256i w01 = _mm256_adds_epi16(_mm256_packs_epi32(q0, q1), zo16);
    const __m256i w23 = _mm256_adds_epi16(_mm256_packs_epi32(q2, q3), zo16);
    return _mm256_max_epu8(_mm256_shuffle_epi8(_mm256_packus_epi16(w01, w23), transpose), qmin8);
  }
};

// Loads n <= 8 floats (the rest 0) without reading past them.
inline __m256 load_floats(const float* p, size_t n) {
  if (n >= 8) return _mm256_loadu_ps(p);
  alignas(32) float tmp[8] = {};
  std::memcpy(tmp, p, n * sizeof(float));
  return _mm256_load_ps(tmp);
}

// Loads n <= 8 bytes into the low 64 bits.
inline __m128i load_bytes8(const uint8_t* p, size_t n) {
  if (n >= 8) return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  alignas(16) uint8_t tmp[16] = {};
  std::memcpy(tmp, p, n);
  return _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
}

// Narrows four vectors of 8 codes (each in [0, 255]) to 32 bytes in lane order q0, q1, q2, q3.
inline __m256i pack_codes32(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Stores the first n <= 32 bytes of v.
inline void store_bytes(uint8_t* p, __m256i v, size_t n) {
  if (n >= 32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
    return;
  }
  if (n == 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(v));
    return;
  }
  alignas(32) uint8_t tmp[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), v);
  std::memcpy(p, tmp, n);
}

}  // namespace kiln::kernels::avx2
