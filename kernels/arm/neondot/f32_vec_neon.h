// The 4-lane NEON vector type behind the templated fp32 kernels (kernels/f32/f32_simd_impl.h).
// Plain AArch64 Advanced SIMD; compiled in the neondot sources.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstring>

namespace kiln::kernels::f32::detail {
namespace {

struct VecNeon {
  using T = float32x4_t;
  static constexpr size_t N = 4;

  static T load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, T v) { vst1q_f32(p, v); }
  static T load_partial(const float* p, size_t n) {
    float buf[N] = {};
    std::memcpy(buf, p, n * sizeof(float));
    return vld1q_f32(buf);
  }
  static void store_partial(float* p, T v, size_t n) {
    float buf[N];
    vst1q_f32(buf, v);
    std::memcpy(p, buf, n * sizeof(float));
  }
  static T set1(float x) { return vdupq_n_f32(x); }
  static T broadcast(const float* p) { return vld1q_dup_f32(p); }
  static T zero() { return vdupq_n_f32(0.0f); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T mul(T a, T b) { return vmulq_f32(a, b); }
  static T div(T a, T b) { return vdivq_f32(a, b); }
  // Same NaN behaviour as x86 maxps/minps and the scalar reference: (a > b ? a : b).
  static T max(T a, T b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static T min(T a, T b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T fnma(T a, T b, T c) { return vfmsq_f32(c, a, b); }
  static T sqrt(T a) { return vsqrtq_f32(a); }
  static T bit_and(T a, T b) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
  static T bit_or(T a, T b) { return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
  static T bit_xor(T a, T b) { return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
  static T exp2_from_magic(T t) {
    const int32x4_t bits = vshlq_n_s32(vreinterpretq_s32_f32(t), 23);
    return vreinterpretq_f32_s32(vaddq_s32(bits, vdupq_n_s32(0x3F800000)));
  }
  static float hsum(T v) { return vaddvq_f32(v); }
  static float hmax(T v) { return vmaxvq_f32(v); }
};

}  // namespace
}  // namespace kiln::kernels::f32::detail
