// The scalar GEMM epilogue for one element, shared by the reference micro-kernels and the SIMD
// kernels' column tails. For u8 output it is requant.h's requantize(), nothing else.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/gemm.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels::gemm_detail {

// The RequantParams view of an epilogue; `has_residual` only switches the residual step on.
inline RequantParams requant_params(const GemmEpilogue& ep, bool has_residual) {
  static const uint8_t kSentinel = 0;
  RequantParams p;
  p.zero_point = ep.zero_point;
  p.qmin = ep.qmin;
  p.qmax = ep.qmax;
  p.activation = ep.activation;
  p.out_scale = ep.out_scale;
  p.hardswish_multiplier = ep.hardswish_multiplier;
  p.residual = has_residual ? &kSentinel : nullptr;
  p.residual_zero_point = ep.residual_zero_point;
  p.residual_multiplier = ep.residual_multiplier;
  return p;
}

// Writes element `index` of a row of c (typed by ep.output).
inline void store_one(const GemmEpilogue& ep, const RequantParams& rp, int32_t acc, float multiplier,
                      uint8_t residual_code, void* c_row, size_t index) {
  switch (ep.output) {
    case GemmOutput::u8:
      static_cast<uint8_t*>(c_row)[index] = requantize(acc, multiplier, residual_code, rp);
      break;
    case GemmOutput::i32:
      static_cast<int32_t*>(c_row)[index] = acc;
      break;
    case GemmOutput::f32:
      static_cast<float*>(c_row)[index] = static_cast<float>(acc) * multiplier;
      break;
  }
}

inline size_t output_bytes(GemmOutput o) { return o == GemmOutput::u8 ? 1 : 4; }

}  // namespace kiln::kernels::gemm_detail
