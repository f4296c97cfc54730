// The fused epilogue of every integer GEMM and convolution, specified down to the operation.
//
// This scalar function IS the specification: the reference kernels call it, QFloat (calib/) calls
// it, and every SIMD kernel must reproduce it bit for bit (same operations, same order, no FMA,
// round half to even as cvtps2dq / fcvtns do under the default rounding mode).
//
// acc is the int32 accumulator sum_k (a[k] - za) * w[k][c] + bias[c]; the zero-point term is folded
// into the packed bias at pack time, so kernels add nothing per element before the epilogue.
//
//   v = float(acc) * multiplier[c]                        multiplier = s_in * s_w[c] / s_out
//   if residual:   v = v + float(r - zr) * residual_multiplier      residual_multiplier = s_r / s_out
//   if hardswish:  t = v * out_scale;  h = t * min(max(t + 3, 0), 6);  v = h * hardswish_multiplier
//                                                                   hardswish_multiplier = 1 / (6 s_out)
//   v = min(max(v, float(qmin - zo)), float(qmax - zo))  clamp first: no overflow in the conversion
//   q = int32(round_half_even(v)) + zo
//
// ReLU and ReLU6 (and any Clip) are not separate steps: they are qmin/qmax (rounding is monotonic,
// so clamping the rounded value and rounding the clamped value agree). 4-bit activations are the
// same kernels with qmax = 15.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace kiln::kernels {

enum class Activation : uint8_t {
  none,       // identity; ReLU/ReLU6/Clip are expressed through qmin/qmax
  hardswish,  // x * relu6(x + 3) / 6, in real units
};

struct RequantParams {
  const float* multiplier = nullptr;  // per output column (channel)
  int32_t zero_point = 0;             // zo
  int32_t qmin = 0;                   // clamp, in output codes
  int32_t qmax = 255;
  Activation activation = Activation::none;
  float out_scale = 1.0f;             // s_out; used by hardswish only
  float hardswish_multiplier = 1.0f;  // 1 / (6 s_out)
  // Optional residual operand, a uint8 tensor laid out like the output (row stride in elements).
  const uint8_t* residual = nullptr;
  size_t residual_stride = 0;
  int32_t residual_zero_point = 0;
  float residual_multiplier = 0.0f;
};

// Round half to even, as the hardware conversion does under the default rounding mode.
inline float round_half_even(float v) { return std::nearbyint(v); }

// The epilogue for one element. `residual_code` is ignored unless p.residual is set.
inline uint8_t requantize(int32_t acc, float multiplier, uint8_t residual_code, const RequantParams& p) {
  float v = static_cast<float>(acc) * multiplier;
  if (p.residual != nullptr) {
    const float r = static_cast<float>(static_cast<int32_t>(residual_code) - p.residual_zero_point);
    const float rv = r * p.residual_multiplier;
    v = v + rv;
  }
  if (p.activation == Activation::hardswish) {
    const float t = v * p.out_scale;
    const float g = std::fmin(std::fmax(t + 3.0f, 0.0f), 6.0f);
    const float h = t * g;
    v = h * p.hardswish_multiplier;
  }
  const float lo = static_cast<float>(p.qmin - p.zero_point);
  const float hi = static_cast<float>(p.qmax - p.zero_point);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<uint8_t>(static_cast<int32_t>(round_half_even(v)) + p.zero_point);
}

}  // namespace kiln::kernels
