// AVX-512 intrinsics for kiln's AVX-512 kernels. Natively this is <immintrin.h>. In the emulated
// test lane (KILN_AVX512_EMULATED) the same names come from SIMDe, plus polyfills for what Debian's
// SIMDe 0.7.4~rc2 lacks or gets wrong. Add a polyfill here when a kernel needs one; keep each one
// exact (these run in the tests that prove the kernels).
#pragma once

#if !defined(KILN_AVX512_EMULATED)
#include <immintrin.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cstdint>
#include <cstring>

namespace kiln::kernels::avx512_polyfill {

template <class T, int N>
struct Lanes {
  T v[N];
};

template <class T, int N, class V>
inline Lanes<T, N> lanes(V x) {
  static_assert(sizeof(Lanes<T, N>) == sizeof(V));
  Lanes<T, N> l;
  std::memcpy(l.v, &x, sizeof(V));
  return l;
}

template <class V, class T, int N>
inline V from_lanes(const Lanes<T, N>& l) {
  static_assert(sizeof(Lanes<T, N>) == sizeof(V));
  V x;
  std::memcpy(&x, l.v, sizeof(V));
  return x;
}

inline simde__m512i maskz_loadu_epi8(uint64_t k, const void* p) {
  Lanes<int8_t, 64> r{};
  const int8_t* s = static_cast<const int8_t*>(p);
  for (int i = 0; i < 64; ++i) r.v[i] = ((k >> i) & 1) ? s[i] : int8_t{0};
  return from_lanes<simde__m512i>(r);
}

inline simde__m512i maskz_loadu_epi32(uint16_t k, const void* p) {
  Lanes<int32_t, 16> r{};
  const char* s = static_cast<const char*>(p);
  for (int i = 0; i < 16; ++i) {
    if ((k >> i) & 1) std::memcpy(&r.v[i], s + 4 * i, 4);
  }
  return from_lanes<simde__m512i>(r);
}

inline void mask_storeu_epi8(void* p, uint64_t k, simde__m512i x) {
  const auto l = lanes<int8_t, 64>(x);
  int8_t* d = static_cast<int8_t*>(p);
  for (int i = 0; i < 64; ++i) {
    if ((k >> i) & 1) d[i] = l.v[i];
  }
}

// Round to nearest even under the default MXCSR, as vcvtps2dq does; out of range gives INT32_MIN.
inline simde__m512i cvtps_epi32(simde__m512 x) {
  const auto l = lanes<float, 16>(x);
  Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) {
    const float f = l.v[i];
    if (!(f >= -2147483648.0f && f < 2147483648.0f)) {
      r.v[i] = INT32_MIN;
    } else {
      r.v[i] = static_cast<int32_t>(__builtin_nearbyintf(f));
    }
  }
  return from_lanes<simde__m512i>(r);
}

inline simde__m512 cvtepi32_ps(simde__m512i x) {
  const auto l = lanes<int32_t, 16>(x);
  Lanes<float, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = static_cast<float>(l.v[i]);
  return from_lanes<simde__m512>(r);
}

inline simde__m512i cvtepi8_epi32(simde__m128i x) {
  const auto l = lanes<int8_t, 16>(x);
  Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = l.v[i];
  return from_lanes<simde__m512i>(r);
}

inline simde__m512i cvtepu8_epi32(simde__m128i x) {
  const auto l = lanes<uint8_t, 16>(x);
  Lanes<int32_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = l.v[i];
  return from_lanes<simde__m512i>(r);
}

inline int32_t reduce_add_epi32(simde__m512i x) {
  const auto l = lanes<int32_t, 16>(x);
  uint32_t s = 0;  // wraps like the hardware adds
  for (int i = 0; i < 16; ++i) s += static_cast<uint32_t>(l.v[i]);
  return static_cast<int32_t>(s);
}

// Saturating int32 -> uint8 narrowing (vpmovusdb treats the source as unsigned).
inline simde__m128i cvtusepi32_epi8(simde__m512i x) {
  const auto l = lanes<uint32_t, 16>(x);
  Lanes<uint8_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = l.v[i] > 255u ? uint8_t{255} : static_cast<uint8_t>(l.v[i]);
  return from_lanes<simde__m128i>(r);
}

// Truncating int32 -> int8 narrowing (vpmovdb).
inline simde__m128i cvtepi32_epi8(simde__m512i x) {
  const auto l = lanes<int32_t, 16>(x);
  Lanes<int8_t, 16> r;
  for (int i = 0; i < 16; ++i) r.v[i] = static_cast<int8_t>(l.v[i]);
  return from_lanes<simde__m128i>(r);
}

}  // namespace kiln::kernels::avx512_polyfill

#define _mm512_maskz_loadu_epi8(k, p) ::kiln::kernels::avx512_polyfill::maskz_loadu_epi8((k), (p))
#define _mm512_maskz_loadu_epi32(k, p) ::kiln::kernels::avx512_polyfill::maskz_loadu_epi32((k), (p))
#define _mm512_mask_storeu_epi8(p, k, x) ::kiln::kernels::avx512_polyfill::mask_storeu_epi8((p), (k), (x))
#define _mm512_cvtps_epi32(x) ::kiln::kernels::avx512_polyfill::cvtps_epi32(x)
#define _mm512_cvtepi32_ps(x) ::kiln::kernels::avx512_polyfill::cvtepi32_ps(x)
#define _mm512_cvtepi8_epi32(x) ::kiln::kernels::avx512_polyfill::cvtepi8_epi32(x)
#define _mm512_cvtepu8_epi32(x) ::kiln::kernels::avx512_polyfill::cvtepu8_epi32(x)
#define _mm512_reduce_add_epi32(x) ::kiln::kernels::avx512_polyfill::reduce_add_epi32(x)
#define _mm512_cvtusepi32_epi8(x) ::kiln::kernels::avx512_polyfill::cvtusepi32_epi8(x)
#define _mm512_cvtepi32_epi8(x) ::kiln::kernels::avx512_polyfill::cvtepi32_epi8(x)
// SIMDe's alias of this one takes four arguments (it is the mask form's); use the function itself.
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16((a), (b))
#endif

#if defined(KILN_AVX512_EMULATED)
// Missing from SIMDe 0.7.4: arithmetic right shift of int32 lanes by an immediate (vpsrad).
namespace kiln::kernels::avx512_polyfill {
inline simde__m512i srai_epi32(simde__m512i x, unsigned int n) {
  auto l = lanes<int32_t, 16>(x);
  for (int i = 0; i < 16; ++i) l.v[i] = n > 31 ? (l.v[i] < 0 ? -1 : 0) : (l.v[i] >> n);
  return from_lanes<simde__m512i>(l);
}
}  // namespace kiln::kernels::avx512_polyfill
#undef _mm512_srai_epi32
#define _mm512_srai_epi32(x, n) ::kiln::kernels::avx512_polyfill::srai_epi32((x), (n))
#endif
