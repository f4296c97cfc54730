// The quantized non-GEMM ops, specified down to the operation (requant.h is the same for GEMM and
// convolution epilogues). These scalar functions ARE the specification: the reference kernels call
// them, QFloat (calib/) calls them, the freezer builds lookup tables with them, and every SIMD
// variant must reproduce them bit for bit (same operations in the same order, no FMA, round half to
// even). docs/quantized-graph.md lists the ops of the Q graph that use each one.
//
// Codes are uint8 in [qmin, qmax] (4-bit activations: [0, 15] in the same container); a quantized
// tensor's real value is scale * (code - zero_point).
#pragma once

#include <cmath>
#include <cstdint>

#include "kiln/kernels/requant.h"

namespace kiln::kernels {

// The output side of every op below: where the result lands and how it is clamped.
struct QOut {
  int32_t zero_point = 0;
  int32_t qmin = 0;
  int32_t qmax = 255;
};

// requant.h's tail: clamp v (in output-code units relative to the zero point), round, add zo.
inline uint8_t q_finish(float v, const QOut& o) {
  const float lo = static_cast<float>(o.qmin - o.zero_point);
  const float hi = static_cast<float>(o.qmax - o.zero_point);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<uint8_t>(static_cast<int32_t>(round_half_even(v)) + o.zero_point);
}

// kiln.Quantize: float -> code. v = x / scale (a true division, as calib's quantize_value); NaN -> zo.
inline uint8_t q_quantize(float x, float scale, const QOut& o) {
  if (std::isnan(x)) return static_cast<uint8_t>(o.zero_point);
  return q_finish(x / scale, o);
}

// kiln.Dequantize: code -> float.
inline float q_dequantize(uint8_t q, int32_t zero_point, float scale) {
  return static_cast<float>(static_cast<int32_t>(q) - zero_point) * scale;
}

// kiln.Requantize and each input of kiln.QConcat whose parameters differ from the output's:
// v = float(q - zi) * multiplier, multiplier = s_in / s_out (computed once, at freeze time).
inline uint8_t q_requantize(uint8_t q, int32_t zero_point_in, float multiplier, const QOut& o) {
  return q_finish(static_cast<float>(static_cast<int32_t>(q) - zero_point_in) * multiplier, o);
}

// kiln.QAdd: v = float(a - za) * ma + float(b - zb) * mb, ma = sa / so, mb = sb / so. The two
// products are rounded to float separately, then added (no FMA).
inline uint8_t q_add(uint8_t a, int32_t za, float ma, uint8_t b, int32_t zb, float mb, const QOut& o) {
  const float x = static_cast<float>(static_cast<int32_t>(a) - za) * ma;
  const float y = static_cast<float>(static_cast<int32_t>(b) - zb) * mb;
  return q_finish(x + y, o);
}

// kiln.QMul: the integer product (exact in int32), converted to float, times m = sa * sb / so.
inline uint8_t q_mul(uint8_t a, int32_t za, uint8_t b, int32_t zb, float m, const QOut& o) {
  const int32_t p = (static_cast<int32_t>(a) - za) * (static_cast<int32_t>(b) - zb);
  return q_finish(static_cast<float>(p) * m, o);
}

// kiln.QAvgPool / kiln.QGlobalAvgPool: sum = sum over the window of (q - zi) in int32; count = the
// elements averaged (ONNX count_include_pad decides whether padding counts; padding contributes
// code zi, i.e. 0 to the sum). The per-window multiplier is multiplier / float(count) with
// multiplier = s_in / s_out; then v = float(sum) * that.
inline float q_avg_multiplier(float multiplier, int32_t count) { return multiplier / static_cast<float>(count); }
inline uint8_t q_avg(int32_t sum, float window_multiplier, const QOut& o) {
  return q_finish(static_cast<float>(sum) * window_multiplier, o);
}

// kiln.QResize (linear): the f32 resize kernel (kernels/f32/resize.h) run on float(code) values of
// one tensor gives v; the code is q_finish(v - float(zo), o) with the input's zero point equal to
// the output's (the op keeps the tensor's parameters). Nearest: codes are copied.
inline uint8_t q_from_interpolated_code(float v, const QOut& o) {
  return q_finish(v - static_cast<float>(o.zero_point), o);
}

// Lookup-table activations (kiln.QLut): the freezer builds table[q] = q_quantize(f(q_dequantize(q)))
// for every code q of the input, with f one of these (computed in float exactly as written here,
// so that QFloat and the table agree).
enum class LutFunction : uint8_t { sigmoid, hardsigmoid, hardswish, tanh, gelu, silu, leaky_relu, relu, clip };

struct LutParams {
  LutFunction function = LutFunction::sigmoid;
  float alpha = 0.2f;        // hardsigmoid alpha; leaky_relu slope; clip min
  float beta = 0.5f;         // hardsigmoid beta; clip max
};

inline float lut_function(float x, const LutParams& p) {
  switch (p.function) {
    case LutFunction::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case LutFunction::hardsigmoid: return std::fmin(std::fmax(p.alpha * x + p.beta, 0.0f), 1.0f);
    case LutFunction::hardswish: return x * (std::fmin(std::fmax(x + 3.0f, 0.0f), 6.0f) / 6.0f);
    case LutFunction::tanh: return std::tanh(x);
    case LutFunction::gelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case LutFunction::silu: return x / (1.0f + std::exp(-x));
    case LutFunction::leaky_relu: return x >= 0.0f ? x : x * p.alpha;
    case LutFunction::relu: return x > 0.0f ? x : 0.0f;
    case LutFunction::clip: return std::fmin(std::fmax(x, p.alpha), p.beta);
  }
  return x;
}

// Builds the 256-entry table (entries for codes outside the input's range are filled too, so a
// corrupt code can never index out of the table).
inline void build_lut(const LutParams& f, int32_t in_zero_point, float in_scale, float out_scale, const QOut& o,
                      uint8_t table[256]) {
  for (int q = 0; q < 256; ++q) {
    table[q] = q_quantize(lut_function(q_dequantize(static_cast<uint8_t>(q), in_zero_point, in_scale), f), out_scale, o);
  }
}

}  // namespace kiln::kernels
