// The kiln.Sim* ops (calib-internal): f32 runtime ops over float codes that the simulation graph of
// a Q graph runs instead of the kiln.Q* integer ops. Every parameter an op needs (zero points,
// multipliers, clamps) is an attribute, so the simulation graph is self-contained.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/qops.h"
#include "kiln/runtime/op_registry.h"

namespace kiln::calib::sim {

// A float code as the u8 it stands for (NaN and out-of-range values are clamped, never UB).
inline uint8_t to_code(float v) {
  if (!(v >= 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<uint8_t>(std::lrintf(v));
}

// The output side (zero point, clamp) from a node's attributes "zero_point", "qmin", "qmax".
inline kernels::QOut out_of(const Node& n) {
  kernels::QOut o;
  o.zero_point = static_cast<int32_t>(n.get_int("zero_point", 0));
  o.qmin = static_cast<int32_t>(n.get_int("qmin", 0));
  o.qmax = static_cast<int32_t>(n.get_int("qmax", 255));
  return o;
}

// Checks that the clamp is inside [0, 255] and around the zero point.
std::string check_out(const Node& n);
// Shape inference of a unary element-wise op over f32 (output = input shape).
std::string infer_unary_codes(InferContext& c);

void add_elementwise_sim_ops(std::vector<OpDef>& ops);  // Quantize, Dequantize, Requantize, FromInterpolated, Lut, Add, Mul
void add_linear_sim_ops(std::vector<OpDef>& ops);       // Conv, Gemm
void add_pool_sim_ops(std::vector<OpDef>& ops);         // AvgPool, GlobalAvgPool

}  // namespace kiln::calib::sim
