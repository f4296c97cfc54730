// The AVX2 variant of the quantized element-wise and pooling primitives (compiled with -mavx2).
// Bit-exact with qops.h: products and sums in separate instructions (no FMA), the clamp before the
// conversion, cvtps2dq's round-half-to-even (the default MXCSR mode) standing for nearbyint, then
// + zero point. Codes are in [0, 255] after the clamp, so the saturating packs change nothing.
// Tails (n % 16) go through the scalar spec functions.
#include <immintrin.h>

#include <algorithm>

#include "q/q_variants.h"

namespace kiln::kernels::q::detail {
namespace {

struct Finish {
  __m256 lo, hi;
  __m256i zo;
  explicit Finish(const QOut& o)
      : lo(_mm256_set1_ps(static_cast<float>(o.qmin - o.zero_point))),
        hi(_mm256_set1_ps(static_cast<float>(o.qmax - o.zero_point))),
        zo(_mm256_set1_epi32(o.zero_point)) {}
  // q_finish on 8 lanes, as int32.
  __m256i operator()(__m256 v) const {
    v = _mm256_max_ps(v, lo);
    v = _mm256_min_ps(v, hi);
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zo);
  }
};

// 16 int32 codes in [0, 255] -> 16 bytes, in order.
inline void store16(uint8_t* y, __m256i a, __m256i b) {
  __m256i p = _mm256_packs_epi32(a, b);        // a0-3 b0-3 | a4-7 b4-7
  p = _mm256_permute4x64_epi64(p, 0xD8);       // a0-3 a4-7 | b0-3 b4-7
  const __m128i u = _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(y), u);
}

inline __m256i load8_u8(const uint8_t* x) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x)));
}

void quantize_avx2(const float* x, uint8_t* y, size_t n, float scale, const QOut& o) {
  const Finish fin(o);
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 v = _mm256_loadu_ps(x + i + 8 * h);
      const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
      q[h] = _mm256_blendv_epi8(fin(_mm256_div_ps(v, s)), fin.zo, _mm256_castps_si256(nan));
    }
    store16(y + i, q[0], q[1]);
  }
  for (; i < n; ++i) y[i] = q_quantize(x[i], scale, o);
}

void dequantize_avx2(const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale) {
  const __m256i z = _mm256_set1_epi32(zero_point);
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(load8_u8(x + i), z));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(v, s));
  }
  for (; i < n; ++i) y[i] = q_dequantize(x[i], zero_point, scale);
}

void requantize_avx2(const uint8_t* x, uint8_t* y, size_t n, int32_t zi, float m, const QOut& o) {
  const Finish fin(o);
  const __m256i z = _mm256_set1_epi32(zi);
  const __m256 mv = _mm256_set1_ps(m);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(load8_u8(x + i + 8 * h), z));
      q[h] = fin(_mm256_mul_ps(v, mv));
    }
    store16(y + i, q[0], q[1]);
  }
  for (; i < n; ++i) y[i] = q_requantize(x[i], zi, m, o);
}

// No byte gather in AVX2: a 256-entry table is looked up fastest by plain (unrolled) loads.
void lut_avx2(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    y[i] = table[x[i]];
    y[i + 1] = table[x[i + 1]];
    y[i + 2] = table[x[i + 2]];
    y[i + 3] = table[x[i + 3]];
  }
  for (; i < n; ++i) y[i] = table[x[i]];
}

// 8 codes of an operand that advances (step 1) or is one broadcast code (step 0), minus its zero point.
inline __m256i operand8(const uint8_t* p, size_t step, size_t i, __m256i z) {
  return _mm256_sub_epi32(step ? load8_u8(p + i) : _mm256_set1_epi32(p[0]), z);
}

void add_avx2(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const AddParams& p) {
  const Finish fin(p.out);
  const __m256i za = _mm256_set1_epi32(p.a_zero_point), zb = _mm256_set1_epi32(p.b_zero_point);
  const __m256 ma = _mm256_set1_ps(p.a_multiplier), mb = _mm256_set1_ps(p.b_multiplier);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const size_t k = i + 8 * h;
      const __m256 xa = _mm256_mul_ps(_mm256_cvtepi32_ps(operand8(a, as, k, za)), ma);
      const __m256 xb = _mm256_mul_ps(_mm256_cvtepi32_ps(operand8(b, bs, k, zb)), mb);
      q[h] = fin(_mm256_add_ps(xa, xb));
    }
    store16(y + i, q[0], q[1]);
  }
  for (; i < n; ++i) {
    y[i] = q_add(a[i * as], p.a_zero_point, p.a_multiplier, b[i * bs], p.b_zero_point, p.b_multiplier, p.out);
  }
}

void mul_avx2(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const MulParams& p) {
  const Finish fin(p.out);
  const __m256i za = _mm256_set1_epi32(p.a_zero_point), zb = _mm256_set1_epi32(p.b_zero_point);
  const __m256 m = _mm256_set1_ps(p.multiplier);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const size_t k = i + 8 * h;
      const __m256i prod = _mm256_mullo_epi32(operand8(a, as, k, za), operand8(b, bs, k, zb));
      q[h] = fin(_mm256_mul_ps(_mm256_cvtepi32_ps(prod), m));
    }
    store16(y + i, q[0], q[1]);
  }
  for (; i < n; ++i) y[i] = q_mul(a[i * as], p.a_zero_point, b[i * bs], p.b_zero_point, p.multiplier, p.out);
}

void max_taps_avx2(uint8_t* y, const uint8_t* const* x, size_t taps, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[0] + i));
    for (size_t t = 1; t < taps; ++t) m = _mm256_max_epu8(m, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t] + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), m);
  }
  for (; i < n; ++i) {
    uint8_t m = x[0][i];
    for (size_t t = 1; t < taps; ++t) m = std::max(m, x[t][i]);
    y[i] = m;
  }
}

void sum_row_avx2(int32_t* acc, const uint8_t* x, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i* d = reinterpret_cast<__m256i*>(acc + i);
    _mm256_storeu_si256(d, _mm256_add_epi32(_mm256_loadu_si256(d), load8_u8(x + i)));
  }
  for (; i < n; ++i) acc[i] += x[i];
}

void avg_finish_avx2(const int32_t* sum, uint8_t* y, size_t n, int32_t sub, float wm, const QOut& o) {
  const Finish fin(o);
  const __m256i s = _mm256_set1_epi32(sub);
  const __m256 m = _mm256_set1_ps(wm);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sum + i + 8 * h)), s);
      q[h] = fin(_mm256_mul_ps(_mm256_cvtepi32_ps(v), m));
    }
    store16(y + i, q[0], q[1]);
  }
  for (; i < n; ++i) y[i] = q_avg(sum[i] - sub, wm, o);
}

}  // namespace

const Variant* avx2_variant() {
  static const Variant v{"avx2",  quantize_avx2, dequantize_avx2, requantize_avx2, lut_avx2,
                         add_avx2, mul_avx2,     max_taps_avx2,    sum_row_avx2,    avg_finish_avx2};
  return &v;
}

}  // namespace kiln::kernels::q::detail
