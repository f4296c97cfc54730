// The requant.h epilogue on 4 int32 lanes with NEON, for the convolution kernels. Same operations
// in the same order as kiln::kernels::requantize (separate multiply and add, never vfma; fcvtns
// rounds half to even).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kiln/kernels/requant.h"

namespace kiln::kernels::neon {

struct Requant4 {
  float32x4_t lo, hi, out_scale, hs_mul, res_mul, three, six, zero;
  int32x4_t zo, rzp;
  bool residual, hardswish;

  explicit Requant4(const RequantParams& p)
      : lo(vdupq_n_f32(static_cast<float>(p.qmin - p.zero_point))),
        hi(vdupq_n_f32(static_cast<float>(p.qmax - p.zero_point))),
        out_scale(vdupq_n_f32(p.out_scale)),
        hs_mul(vdupq_n_f32(p.hardswish_multiplier)),
        res_mul(vdupq_n_f32(p.residual_multiplier)),
        three(vdupq_n_f32(3.0f)),
        six(vdupq_n_f32(6.0f)),
        zero(vdupq_n_f32(0.0f)),
        zo(vdupq_n_s32(p.zero_point)),
        rzp(vdupq_n_s32(p.residual_zero_point)),
        residual(p.residual != nullptr),
        hardswish(p.activation == Activation::hardswish) {}

  // acc: 4 accumulators; m: their multipliers; r: their residual codes (as int32, ignored without
  // a residual). Returns the output codes as int32.
  int32x4_t apply(int32x4_t acc, float32x4_t m, int32x4_t r) const {
    float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), m);
    if (residual) v = vaddq_f32(v, vmulq_f32(vcvtq_f32_s32(vsubq_s32(r, rzp)), res_mul));
    if (hardswish) {
      const float32x4_t t = vmulq_f32(v, out_scale);
      // fmaxnm/fminnm treat NaN as std::fmax/std::fmin do.
      const float32x4_t g = vminnmq_f32(vmaxnmq_f32(vaddq_f32(t, three), zero), six);
      v = vmulq_f32(vmulq_f32(t, g), hs_mul);
    }
    v = vminq_f32(vmaxq_f32(v, lo), hi);
    return vaddq_s32(vcvtnq_s32_f32(v), zo);
  }
};

}  // namespace kiln::kernels::neon
