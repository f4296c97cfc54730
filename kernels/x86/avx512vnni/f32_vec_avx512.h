// The 16-lane AVX-512F vector type behind the templated fp32 kernels (kernels/f32/f32_simd_impl.h).
// Include only from sources compiled with the avx512vnni flags (SIMDe in the emulated lane).
#pragma once

#include <cstddef>
#include <cstring>

#include "x86/avx512vnni/avx512_intrinsics.h"

namespace kiln::kernels::f32::detail {
namespace {

struct VecAvx512 {
  using T = __m512;
  static constexpr size_t N = 16;

  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T load_partial(const float* p, size_t n) {
    float buf[N] = {};
    std::memcpy(buf, p, n * sizeof(float));
    return _mm512_loadu_ps(buf);
  }
  static void store_partial(float* p, T v, size_t n) {
    float buf[N];
    _mm512_storeu_ps(buf, v);
    std::memcpy(p, buf, n * sizeof(float));
  }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static T zero() { return _mm512_setzero_ps(); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnma(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static T sqrt(T a) { return _mm512_sqrt_ps(a); }
  static T bit_and(T a, T b) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
  static T bit_or(T a, T b) { return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
  static T bit_xor(T a, T b) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
  static T exp2_from_magic(T t) {
    const __m512i bits = _mm512_slli_epi32(_mm512_castps_si512(t), 23);
    return _mm512_castsi512_ps(_mm512_add_epi32(bits, _mm512_set1_epi32(0x3F800000)));
  }
  static float hsum(T v) {
    float buf[N];
    _mm512_storeu_ps(buf, v);
    float s0 = 0.0f, s1 = 0.0f;
    for (size_t i = 0; i < N; i += 2) {
      s0 += buf[i];
      s1 += buf[i + 1];
    }
    return s0 + s1;
  }
  static float hmax(T v) {
    float buf[N];
    _mm512_storeu_ps(buf, v);
    float m = buf[0];
    for (size_t i = 1; i < N; ++i) m = buf[i] > m ? buf[i] : m;
    return m;
  }
};

}  // namespace
}  // namespace kiln::kernels::f32::detail
