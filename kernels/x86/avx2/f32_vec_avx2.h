// The 8-lane AVX2+FMA vector type behind the templated fp32 kernels (kernels/f32/f32_simd_impl.h).
// Include only from sources compiled with the avx2 flags.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstring>

namespace kiln::kernels::f32::detail {
namespace {

struct VecAvx2 {
  using T = __m256;
  static constexpr size_t N = 8;

  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T load_partial(const float* p, size_t n) {
    float buf[N] = {};
    std::memcpy(buf, p, n * sizeof(float));
    return _mm256_loadu_ps(buf);
  }
  static void store_partial(float* p, T v, size_t n) {
    float buf[N];
    _mm256_storeu_ps(buf, v);
    std::memcpy(p, buf, n * sizeof(float));
  }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T zero() { return _mm256_setzero_ps(); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  // max/min return the second operand when either is NaN, like the scalar (a > b ? a : b).
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }    // a * b + c
  static T fnma(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b
  static T sqrt(T a) { return _mm256_sqrt_ps(a); }
  static T bit_and(T a, T b) { return _mm256_and_ps(a, b); }
  static T bit_or(T a, T b) { return _mm256_or_ps(a, b); }
  static T bit_xor(T a, T b) { return _mm256_xor_ps(a, b); }
  // 2^n from t = n + 1.5 * 2^23 (n an integer in [-126, 127]): the integer bits of t hold n.
  static T exp2_from_magic(T t) {
    const __m256i bits = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(bits, _mm256_set1_epi32(0x3F800000)));
  }
  static float hsum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace kiln::kernels::f32::detail
