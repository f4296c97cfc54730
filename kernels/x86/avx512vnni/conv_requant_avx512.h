// The requant.h epilogue on 16 int32 lanes with AVX-512, for the convolution kernels. Same
// operations in the same order as kiln::kernels::requantize (no FMA; cvtps2dq rounds half to even).
#pragma once

#include <cstddef>
#include <cstdint>

#include "avx512_intrinsics.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels::avx512 {

// Mask of the first n <= 16 lanes (or bytes of a 16-byte group).
inline uint16_t lane_mask16(size_t n) { return n >= 16 ? uint16_t{0xFFFF} : static_cast<uint16_t>((1u << n) - 1u); }
inline uint64_t byte_mask64(size_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1u; }

struct Requant16 {
  __m512 lo, hi, out_scale, hs_mul, res_mul, three, six, zero;
  __m512i zo, rzp;
  bool residual, hardswish;

  explicit Requant16(const RequantParams& p)
      : lo(_mm512_set1_ps(static_cast<float>(p.qmin - p.zero_point))),
        hi(_mm512_set1_ps(static_cast<float>(p.qmax - p.zero_point))),
        out_scale(_mm512_set1_ps(p.out_scale)),
        hs_mul(_mm512_set1_ps(p.hardswish_multiplier)),
        res_mul(_mm512_set1_ps(p.residual_multiplier)),
        three(_mm512_set1_ps(3.0f)),
        six(_mm512_set1_ps(6.0f)),
        zero(_mm512_setzero_ps()),
        zo(_mm512_set1_epi32(p.zero_point)),
        rzp(_mm512_set1_epi32(p.residual_zero_point)),
        residual(p.residual != nullptr),
        hardswish(p.activation == Activation::hardswish) {}

  // acc: 16 accumulators; mult: their multipliers; r32: their residual codes as int32 (ignored
  // without a residual). Returns the output codes as int32.
  template <bool kResidual, bool kHardswish>
  __m512i apply_t32(__m512i acc, __m512 mult, __m512i r32) const {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    if constexpr (kResidual) {
      const __m512 rf = _mm512_cvtepi32_ps(_mm512_sub_epi32(r32, rzp));
      v = _mm512_add_ps(v, _mm512_mul_ps(rf, res_mul));
    }
    if constexpr (kHardswish) {
      const __m512 t = _mm512_mul_ps(v, out_scale);
      // max(x, 0) returns 0 for a NaN x, as std::fmax does.
      const __m512 g = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(t, three), zero), six);
      v = _mm512_mul_ps(_mm512_mul_ps(t, g), hs_mul);
    }
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), zo);
  }

  // acc: 16 accumulators of channels [c, c + n); m: the multipliers from c; r: the residual codes
  // from c (ignored without a residual). Returns the output codes as int32 (lanes >= n undefined).
  __m512i apply(__m512i acc, const float* m, const uint8_t* r, size_t n) const {
    const uint16_t k = lane_mask16(n);
    const __m512 mult = _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(k, m));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    if (residual) {
      const __m128i rb = _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(k, r));
      const __m512 rf = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(rb), rzp));
      v = _mm512_add_ps(v, _mm512_mul_ps(rf, res_mul));
    }
    if (hardswish) {
      const __m512 t = _mm512_mul_ps(v, out_scale);
      // max(x, 0) returns 0 for a NaN x, as std::fmax does.
      const __m512 g = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(t, three), zero), six);
      v = _mm512_mul_ps(_mm512_mul_ps(t, g), hs_mul);
    }
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), zo);
  }
};

// Four vectors of 16 codes (each in [0, 255]) to 64 bytes in order q0, q1, q2, q3.
inline __m512i pack_codes64(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  __m512i r = _mm512_castsi128_si512(_mm512_cvtusepi32_epi8(q0));
  r = _mm512_inserti32x4(r, _mm512_cvtusepi32_epi8(q1), 1);
  r = _mm512_inserti32x4(r, _mm512_cvtusepi32_epi8(q2), 2);
  return _mm512_inserti32x4(r, _mm512_cvtusepi32_epi8(q3), 3);
}

}  // namespace kiln::kernels::avx512
