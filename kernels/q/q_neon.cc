// The NEON variant of the quantized element-wise and pooling primitives (aarch64; plain NEON, built
// with the neondot flags). Bit-exact with qops.h: separate multiplies and adds (no FMA), the clamp
// before the conversion, vcvtnq_s32_f32's round-half-to-even standing for nearbyint, then + zero
// point; results are in [0, 255], so the saturating narrows change nothing. Tails use the scalar spec.
#include <arm_neon.h>

#include <algorithm>

#include "q/q_variants.h"

namespace kiln::kernels::q::detail {
namespace {

struct Finish {
  float32x4_t lo, hi;
  int32x4_t zo;
  explicit Finish(const QOut& o)
      : lo(vdupq_n_f32(static_cast<float>(o.qmin - o.zero_point))),
        hi(vdupq_n_f32(static_cast<float>(o.qmax - o.zero_point))),
        zo(vdupq_n_s32(o.zero_point)) {}
  int32x4_t operator()(float32x4_t v) const {
    v = vmaxq_f32(v, lo);
    v = vminq_f32(v, hi);
    return vaddq_s32(vcvtnq_s32_f32(v), zo);
  }
};

// 16 int32 codes in [0, 255] -> 16 bytes.
inline void store16(uint8_t* y, const int32x4_t q[4]) {
  const uint16x8_t a = vcombine_u16(vqmovun_s32(q[0]), vqmovun_s32(q[1]));
  const uint16x8_t b = vcombine_u16(vqmovun_s32(q[2]), vqmovun_s32(q[3]));
  vst1q_u8(y, vcombine_u8(vqmovn_u16(a), vqmovn_u16(b)));
}

// 16 codes widened to 4 x int32 (minus z).
inline void widen16(const uint8_t* x, int32x4_t z, int32x4_t out[4]) {
  const uint8x16_t v = vld1q_u8(x);
  const uint16x8_t l = vmovl_u8(vget_low_u8(v)), h = vmovl_u8(vget_high_u8(v));
  out[0] = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(l))), z);
  out[1] = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(l))), z);
  out[2] = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h))), z);
  out[3] = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(h))), z);
}
// As widen16 for an operand that advances (step 1) or is one broadcast code (step 0).
inline void operand16(const uint8_t* p, size_t step, size_t i, int32x4_t z, int32x4_t out[4]) {
  if (step) {
    widen16(p + i, z, out);
  } else {
    const int32x4_t v = vsubq_s32(vdupq_n_s32(p[0]), z);
    out[0] = out[1] = out[2] = out[3] = v;
  }
}

void quantize_neon(const float* x, uint8_t* y, size_t n, float scale, const QOut& o) {
  const Finish fin(o);
  const float32x4_t s = vdupq_n_f32(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t q[4];
    for (int h = 0; h < 4; ++h) {
      const float32x4_t v = vld1q_f32(x + i + 4 * h);
      const uint32x4_t ok = vceqq_f32(v, v);  // false for NaN -> zero point
      q[h] = vbslq_s32(ok, fin(vdivq_f32(v, s)), fin.zo);
    }
    store16(y + i, q);
  }
  for (; i < n; ++i) y[i] = q_quantize(x[i], scale, o);
}

void dequantize_neon(const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale) {
  const int32x4_t z = vdupq_n_s32(zero_point);
  const float32x4_t s = vdupq_n_f32(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t v[4];
    widen16(x + i, z, v);
    for (int h = 0; h < 4; ++h) vst1q_f32(y + i + 4 * h, vmulq_f32(vcvtq_f32_s32(v[h]), s));
  }
  for (; i < n; ++i) y[i] = q_dequantize(x[i], zero_point, scale);
}

void requantize_neon(const uint8_t* x, uint8_t* y, size_t n, int32_t zi, float m, const QOut& o) {
  const Finish fin(o);
  const int32x4_t z = vdupq_n_s32(zi);
  const float32x4_t mv = vdupq_n_f32(m);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t v[4];
    widen16(x + i, z, v);
    for (int h = 0; h < 4; ++h) v[h] = fin(vmulq_f32(vcvtq_f32_s32(v[h]), mv));
    store16(y + i, v);
  }
  for (; i < n; ++i) y[i] = q_requantize(x[i], zi, m, o);
}

// A 256-entry table in four 64-byte vqtbl4q lookups (indices out of a table's range give 0).
void lut_neon(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table) {
  uint8x16x4_t t[4];
  for (int k = 0; k < 4; ++k) {
    t[k].val[0] = vld1q_u8(table + 64 * k);
    t[k].val[1] = vld1q_u8(table + 64 * k + 16);
    t[k].val[2] = vld1q_u8(table + 64 * k + 32);
    t[k].val[3] = vld1q_u8(table + 64 * k + 48);
  }
  const uint8x16_t step = vdupq_n_u8(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint8x16_t idx = vld1q_u8(x + i);
    uint8x16_t r = vqtbl4q_u8(t[0], idx);
    idx = vsubq_u8(idx, step);
    r = vorrq_u8(r, vqtbl4q_u8(t[1], idx));
    idx = vsubq_u8(idx, step);
    r = vorrq_u8(r, vqtbl4q_u8(t[2], idx));
    idx = vsubq_u8(idx, step);
    r = vorrq_u8(r, vqtbl4q_u8(t[3], idx));
    vst1q_u8(y + i, r);
  }
  for (; i < n; ++i) y[i] = table[x[i]];
}

void add_neon(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const AddParams& p) {
  const Finish fin(p.out);
  const int32x4_t za = vdupq_n_s32(p.a_zero_point), zb = vdupq_n_s32(p.b_zero_point);
  const float32x4_t ma = vdupq_n_f32(p.a_multiplier), mb = vdupq_n_f32(p.b_multiplier);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t va[4], vb[4], q[4];
    operand16(a, as, i, za, va);
    operand16(b, bs, i, zb, vb);
    for (int h = 0; h < 4; ++h) {
      const float32x4_t xa = vmulq_f32(vcvtq_f32_s32(va[h]), ma);
      const float32x4_t xb = vmulq_f32(vcvtq_f32_s32(vb[h]), mb);
      q[h] = fin(vaddq_f32(xa, xb));
    }
    store16(y + i, q);
  }
  for (; i < n; ++i) {
    y[i] = q_add(a[i * as], p.a_zero_point, p.a_multiplier, b[i * bs], p.b_zero_point, p.b_multiplier, p.out);
  }
}

void mul_neon(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const MulParams& p) {
  const Finish fin(p.out);
  const int32x4_t za = vdupq_n_s32(p.a_zero_point), zb = vdupq_n_s32(p.b_zero_point);
  const float32x4_t m = vdupq_n_f32(p.multiplier);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t va[4], vb[4], q[4];
    operand16(a, as, i, za, va);
    operand16(b, bs, i, zb, vb);
    for (int h = 0; h < 4; ++h) q[h] = fin(vmulq_f32(vcvtq_f32_s32(vmulq_s32(va[h], vb[h])), m));
    store16(y + i, q);
  }
  for (; i < n; ++i) y[i] = q_mul(a[i * as], p.a_zero_point, b[i * bs], p.b_zero_point, p.multiplier, p.out);
}

void max_taps_neon(uint8_t* y, const uint8_t* const* x, size_t taps, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint8x16_t m = vld1q_u8(x[0] + i);
    for (size_t t = 1; t < taps; ++t) m = vmaxq_u8(m, vld1q_u8(x[t] + i));
    vst1q_u8(y + i, m);
  }
  for (; i < n; ++i) {
    uint8_t m = x[0][i];
    for (size_t t = 1; t < taps; ++t) m = std::max(m, x[t][i]);
    y[i] = m;
  }
}

void sum_row_neon(int32_t* acc, const uint8_t* x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t v = vld1q_u8(x + i);
    const uint16x8_t l = vmovl_u8(vget_low_u8(v)), h = vmovl_u8(vget_high_u8(v));
    vst1q_s32(acc + i, vreinterpretq_s32_u32(vaddw_u16(vreinterpretq_u32_s32(vld1q_s32(acc + i)), vget_low_u16(l))));
    vst1q_s32(acc + i + 4, vreinterpretq_s32_u32(vaddw_u16(vreinterpretq_u32_s32(vld1q_s32(acc + i + 4)), vget_high_u16(l))));
    vst1q_s32(acc + i + 8, vreinterpretq_s32_u32(vaddw_u16(vreinterpretq_u32_s32(vld1q_s32(acc + i + 8)), vget_low_u16(h))));
    vst1q_s32(acc + i + 12, vreinterpretq_s32_u32(vaddw_u16(vreinterpretq_u32_s32(vld1q_s32(acc + i + 12)), vget_high_u16(h))));
  }
  for (; i < n; ++i) acc[i] += x[i];
}

void avg_finish_neon(const int32_t* sum, uint8_t* y, size_t n, int32_t sub, float wm, const QOut& o) {
  const Finish fin(o);
  const int32x4_t s = vdupq_n_s32(sub);
  const float32x4_t m = vdupq_n_f32(wm);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t q[4];
    for (int h = 0; h < 4; ++h) q[h] = fin(vmulq_f32(vcvtq_f32_s32(vsubq_s32(vld1q_s32(sum + i + 4 * h), s)), m));
    store16(y + i, q);
  }
  for (; i < n; ++i) y[i] = q_avg(sum[i] - sub, wm, o);
}

}  // namespace

const Variant* neon_variant() {
  static const Variant v{"neon",   quantize_neon, dequantize_neon, requantize_neon, lut_neon,
                         add_neon, mul_neon,      max_taps_neon,    sum_row_neon,    avg_finish_neon};
  return &v;
}

}  // namespace kiln::kernels::q::detail
