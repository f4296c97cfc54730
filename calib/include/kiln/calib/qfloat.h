// QFloat: the simulation of a Q graph in float "code domain" (docs/quantized-graph.md, "QFloat").
//
// Every u8 value of the Q graph is held as float codes. kiln.QConv / kiln.QGemm accumulate
// sum (x - zx) * w_code in fp32 on the runtime's f32 conv / sgemm kernels (exact while partial sums
// stay below 2^24 in magnitude), add the int32 bias and call requant.h's `requantize` with the same
// RequantParams the integer op uses; every other quantized op calls its qops.h scalar function per
// element; float islands run the runtime's own f32 ops. Q (the integer runtime) and QFloat must give
// the same output codes on >= 99.9% of elements, never more than 1 LSB apart.
//
// How: the Q graph is rewritten into a simulation graph whose kiln.Q* nodes are kiln.Sim* f32 ops
// (registered in the runtime's op registry), then run by the runtime's Model/Session.
//
// The code-domain convolution / GEMM below are shared with reconstruction (calib/recon), which runs
// the same math with soft (AdaRound) weight codes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kernels/f32/conv.h"
#include "kiln/kernels/f32/gemm.h"
#include "kiln/kernels/parallel.h"
#include "kiln/kernels/requant.h"
#include "kiln/runtime/graph.h"
#include "kiln/runtime/model.h"

namespace kiln::calib {

struct QFloatOptions {
  int threads = 1;          // <= 0: one per hardware thread
  bool keep_values = true;  // value(name) answers for every value; false: graph outputs only (less work)
};

class QFloatSession {
 public:
  // Rewrites `q_graph` (a logical Q graph, as quantize_graph or load_kiln give it) into its
  // simulation and prepares it. False with a message naming the node on unsupported input.
  static bool create(const Graph& q_graph, std::unique_ptr<QFloatSession>* out, std::string* error);
  static bool create(const Graph& q_graph, const QFloatOptions& options, std::unique_ptr<QFloatSession>* out,
                     std::string* error);
  ~QFloatSession();
  QFloatSession(const QFloatSession&) = delete;
  QFloatSession& operator=(const QFloatSession&) = delete;

  // `t` is f32 (or u8 codes for a u8 graph input), logical NCHW order.
  bool set_input(const std::string& name, const Tensor& t, std::string* error);
  bool run(std::string* error);
  // A graph output of the last run, with the Q graph's dtype (f32 after kiln.Dequantize, u8 codes
  // otherwise), plain layout, as Q's Session gives it. Null if unknown or not run yet.
  const Tensor* output(const std::string& name) const;
  // Any non-constant value of the Q graph after run (needs keep_values): u8 codes for quantized
  // values, f32 otherwise; plain layout. Null if unknown, not kept or not run yet.
  const Tensor* value(const std::string& name) const;
  // value(name) in real units: u8 codes dequantized with the value's scale and zero point
  // (scale * (q - zp)), f32 values copied. An empty tensor if value(name) is null.
  Tensor dequantized_value(const std::string& name) const;
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  // The rewritten graph that is executed (kiln.Sim* ops over float codes), for inspection.
  const Graph& simulation_graph() const;

 private:
  QFloatSession();
  struct State;
  std::unique_ptr<State> s_;
};

// Rewrites a Q graph into its simulation graph (what QFloatSession runs): u8 values become f32
// values holding codes, kiln.Q* / kiln.Quantize / kiln.Dequantize / kiln.Requantize nodes become
// kiln.Sim* nodes carrying every parameter they need as attributes. Registers the kiln.Sim* ops.
bool make_simulation_graph(const Graph& q_graph, Graph* sim, std::string* error);

// Registers the kiln.Sim* ops in the runtime's op registry (idempotent, thread-safe).
void register_simulation_ops();

// ---- Code-domain forward math (shared with reconstruction) ----

// Convolution over float codes: acc[b, oh, ow, o] = sum (x[b, ih, iw, i] - zx) * w[o, kh, kw, i]
// (NHWC activations, OHWI weights as float codes: hard integers, or soft AdaRound codes). Padding
// reads code zx, i.e. contributes 0. Weights are packed once; batch and input size may vary per call.
class CodeConv {
 public:
  // p: geometry (batch, in_h, in_w are defaults, overridden per call). w_ohwi: [out_c, kh, kw, in_c/groups].
  std::string prepare(const kernels::f32::Conv2dParams& p, const float* w_ohwi);
  // x_codes: [batch, in_h, in_w, in_c] float codes; acc: [batch, out_h, out_w, out_c].
  std::string accumulate(size_t batch, size_t in_h, size_t in_w, const float* x_codes, float x_zero_point, float* acc,
                         kernels::TaskRunner* runner = nullptr) const;
  const kernels::f32::Conv2dParams& params() const { return packed_.params; }

 private:
  kernels::f32::Conv2dPacked packed_;
};

// GEMM over float codes: acc[m, n] = sum_k (x[m, k] - zx) * w[n, k] (w: [N, K] float codes).
class CodeGemm {
 public:
  std::string prepare(size_t k, size_t n, const float* w_nk);
  void accumulate(size_t m, const float* x_codes, float x_zero_point, float* acc, kernels::TaskRunner* runner = nullptr) const;
  size_t k() const { return packed_.k; }
  size_t n() const { return packed_.n; }

 private:
  kernels::f32::SgemmPackedB packed_;
};

// The float accumulator (an integer-valued float) plus the int32 bias, saturated to int32: the
// integer kernel's accumulator.
int32_t code_accumulator(float acc, int32_t bias);

// The fused epilogue on a float accumulator: requant.h's requantize(code_accumulator(acc, bias),
// multiplier, residual_code, p). p.residual non-null marks that a residual is present.
inline uint8_t code_epilogue(float acc, int32_t bias, float multiplier, uint8_t residual_code,
                             const kernels::RequantParams& p) {
  return kernels::requantize(code_accumulator(acc, bias), multiplier, residual_code, p);
}

}  // namespace kiln::calib
