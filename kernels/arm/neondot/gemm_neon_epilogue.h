// The requant.h epilogue for 4 columns in NEON, shared by the dotprod and i8mm GEMM kernels.
// Same operations in the same order as requantize(); vcvtnq rounds half to even.
#pragma once

#include <arm_neon.h>

#include <cstring>

#include "kiln/kernels/gemm.h"

namespace kiln::kernels::neon_gemm {

struct Epilogue {
  float32x4_t lo, hi, out_scale, hswish, three, zero, six, rmult;
  int32x4_t zo, rzp;
  explicit Epilogue(const GemmEpilogue& ep)
      : lo(vdupq_n_f32(static_cast<float>(ep.qmin - ep.zero_point))),
        hi(vdupq_n_f32(static_cast<float>(ep.qmax - ep.zero_point))),
        out_scale(vdupq_n_f32(ep.out_scale)),
        hswish(vdupq_n_f32(ep.hardswish_multiplier)),
        three(vdupq_n_f32(3.0f)),
        zero(vdupq_n_f32(0.0f)),
        six(vdupq_n_f32(6.0f)),
        rmult(vdupq_n_f32(ep.residual_multiplier)),
        zo(vdupq_n_s32(ep.zero_point)),
        rzp(vdupq_n_s32(ep.residual_zero_point)) {}
};

// Writes n <= 4 columns of one row; c is typed by ep.output.
inline void store4(const GemmEpilogue& ep, const Epilogue& e, int32x4_t acc, float32x4_t mult, const uint8_t* r,
                   void* c, size_t n) {
  if (ep.output == GemmOutput::i32) {
    if (n == 4) {
      vst1q_s32(static_cast<int32_t*>(c), acc);
    } else {
      int32_t buf[4];
      vst1q_s32(buf, acc);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), mult);
  if (ep.output == GemmOutput::f32) {
    if (n == 4) {
      vst1q_f32(static_cast<float*>(c), v);
    } else {
      float buf[4];
      vst1q_f32(buf, v);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  if (r != nullptr) {
    uint8_t rb[8] = {};
    std::memcpy(rb, r, n);
    const uint32x4_t ru = vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(rb))));
    const int32x4_t rd = vsubq_s32(vreinterpretq_s32_u32(ru), e.rzp);
    v = vaddq_f32(v, vmulq_f32(vcvtq_f32_s32(rd), e.rmult));
  }
  if (ep.activation == Activation::hardswish) {
    const float32x4_t t = vmulq_f32(v, e.out_scale);
    const float32x4_t g = vminq_f32(vmaxq_f32(vaddq_f32(t, e.three), e.zero), e.six);
    v = vmulq_f32(vmulq_f32(t, g), e.hswish);
  }
  v = vminq_f32(vmaxq_f32(v, e.lo), e.hi);
  const int32x4_t q = vaddq_s32(vcvtnq_s32_f32(v), e.zo);  // in [qmin, qmax] within 0..255
  const uint16x4_t q16 = vqmovun_s32(q);
  const uint8x8_t q8 = vqmovn_u16(vcombine_u16(q16, q16));
  uint8_t buf[8];
  vst1_u8(buf, q8);
  std::memcpy(c, buf, n);
}

}  // namespace kiln::kernels::neon_gemm
