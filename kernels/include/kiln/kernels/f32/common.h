// What every fp32 kernel shares: which implementation runs (ISA, threads) and the activation that
// the conv/GEMM epilogues and the unary kernels apply. Tensors with 4 dimensions are NHWC.
#pragma once

#include <cstddef>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/parallel.h"

namespace kiln::kernels::f32 {

// The ISA the fp32 kernels use by default: choose_isa() (KILN_ISA honoured), read once; ref when
// KILN_ISA names something unusable. avx2 runs the AVX2+FMA kernels, avx512vnni the AVX-512F ones,
// neondot/i8mm the NEON ones (plain NEON is the aarch64 baseline), ref the portable scalar ones.
Isa default_isa();
// `isa` when this build and CPU can run its fp32 kernels, otherwise the best one below it.
Isa usable_isa(Isa isa);

// Where a call runs: the ISA and the threads (nullptr runner = the calling thread only).
struct Exec {
  Isa isa = default_isa();
  TaskRunner* runner = nullptr;
};

// Element-wise functions of one float. Used on their own (unary()) and as the fused activation of
// conv2d / sgemm / conv_transpose2d (applied after bias and residual add).
enum class UnaryOp {
  identity,
  relu,         // max(x, 0)
  clip,         // min(max(x, a), b)        (ReLU6 = clip 0..6)
  leaky_relu,   // x >= 0 ? x : a * x
  sigmoid,      // 1 / (1 + exp(-x))
  silu,         // x * sigmoid(x)
  tanh,
  erf,
  gelu_erf,     // 0.5 x (1 + erf(x / sqrt 2))
  gelu_tanh,    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  hardsigmoid,  // max(0, min(1, a x + b))   (ONNX defaults a = 0.2, b = 0.5)
  hardswish,    // x * max(0, min(1, x / 6 + 0.5))
  sqrt,
  exp,
  square,       // x * x   (the Pow(x, 2) fast path)
  pow,          // pow(x, a)
  neg,
  abs,
  reciprocal,   // 1 / x
  log,
};

struct Activation {
  UnaryOp op = UnaryOp::identity;
  float a = 0.0f;  // clip: low; leaky_relu: slope; hardsigmoid: alpha; pow: exponent
  float b = 0.0f;  // clip: high; hardsigmoid: beta

  static Activation none() { return {}; }
  static Activation relu() { return {UnaryOp::relu, 0.0f, 0.0f}; }
  static Activation relu6() { return {UnaryOp::clip, 0.0f, 6.0f}; }
  static Activation clip(float lo, float hi) { return {UnaryOp::clip, lo, hi}; }
  static Activation leaky_relu(float slope) { return {UnaryOp::leaky_relu, slope, 0.0f}; }
  static Activation hardsigmoid(float alpha = 0.2f, float beta = 0.5f) { return {UnaryOp::hardsigmoid, alpha, beta}; }
  static Activation hardswish() { return {UnaryOp::hardswish, 0.0f, 0.0f}; }
  static Activation sigmoid() { return {UnaryOp::sigmoid, 0.0f, 0.0f}; }
  static Activation silu() { return {UnaryOp::silu, 0.0f, 0.0f}; }
  static Activation pow(float exponent) { return {UnaryOp::pow, exponent, 0.0f}; }
  static Activation of(UnaryOp op) { return {op, 0.0f, 0.0f}; }
};

}  // namespace kiln::kernels::f32
