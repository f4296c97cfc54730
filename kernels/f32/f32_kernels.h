// The per-ISA fp32 building blocks the drivers (kernels/f32/*.cc) are written against: one table
// per ISA, filled by kernels/ref/f32_kernels_ref.cc and the ISA sources, chosen by kernels_for().
#pragma once

#include <cstddef>

#include "kiln/kernels/f32/common.h"
#include "kiln/kernels/f32/elementwise.h"
#include "kiln/kernels/isa.h"

namespace kiln::kernels::f32::detail {

// The GEMM micro-kernel: one full MR x NR tile of C (row stride ldc) from a packed A panel (kc x MR,
// k-major) and a packed B panel (kc x NR, k-major):
//   acc = (load_c ? C : 0) + (bias ? bias[0..NR) : 0);  acc += A * B;
//   C = clamp ? min(max(acc, clamp[0]), clamp[1]) : acc.
// The driver passes a scratch tile for edge tiles, so the kernel always reads and writes MR x NR.
// (The clamp bounds come through memory so that no argument register stays live across the loop.)
using GemmUkernelFn = void (*)(size_t kc, const float* a, const float* b, float* c, size_t ldc, const float* bias,
                               bool load_c, const float* clamp);

// The indirect GEMM micro-kernel (XNNPACK's igemm idea): like GemmUkernelFn, but A is read in place
// through row pointers instead of a packed panel: for tap t < ks and row i < MR, row i's k values
// t * kc .. t * kc + kc - 1 are a[t * MR + i][a_offset .. a_offset + kc). B points at the packed
// panel's first of those ks * kc rows.
// Convolutions pass pointers into the input image (or to a zero row for padding): no im2col, no
// packing of A.
using IgemmUkernelFn = void (*)(size_t ks, size_t kc, const float* const* a, size_t a_offset, const float* b, float* c,
                                size_t ldc, const float* bias, bool load_c, const float* clamp);

// One output row of a depthwise convolution (NHWC, channel multiplier 1).
struct DwconvRow {
  const float* x = nullptr;  // the image: [in_h, in_w, channels]
  size_t in_h = 0, in_w = 0, channels = 0;
  const float* w = nullptr;     // [kernel_h, kernel_w, channels]
  const float* bias = nullptr;  // [channels]
  size_t kernel_h = 0, kernel_w = 0;
  size_t stride_w = 1, dilation_h = 1, dilation_w = 1;
  long ih0 = 0;  // input row of kernel row 0: oh * stride_h - pad_top
  long iw0 = 0;  // input column of output 0, kernel column 0: -pad_left
  size_t out_w = 0;
  float* y = nullptr;  // [out_w, channels]
  float lo = 0.0f, hi = 0.0f;  // clamp applied to the result
};

constexpr size_t kMaxIgemmRows = 16;

// Plain aggregate without member initialisers: it is built inside the ISA sources, and a
// non-trivial constructor would be an inline function compiled once per ISA's flags.
struct F32Kernels {
  Isa isa;
  size_t mr, nr;
  GemmUkernelFn gemm;
  size_t imr;  // rows of the igemm tile (its nr is nr)
  IgemmUkernelFn igemm;
  // igemm_rows[r]: the same kernel for a tile of r rows (1 <= r <= imr), for the last row tile of
  // an M that is not a multiple of imr: no rows are computed only to be thrown away.
  IgemmUkernelFn igemm_rows[kMaxIgemmRows + 1];
  void (*unary)(const Activation& f, const float* x, float* y, size_t n);
  void (*binary)(BinaryOp op, const float* a, const float* b, float* y, size_t n);
  // y[i] = scalar_on_left ? s op a[i] : a[i] op s
  void (*binary_scalar)(BinaryOp op, const float* a, float s, float* y, size_t n, bool scalar_on_left);
  void (*dwconv_row)(const DwconvRow& r);
  void (*softmax_row)(const float* x, float* y, size_t n);
  void (*layer_norm_row)(const float* x, const float* gamma, const float* beta, float* y, size_t n, float epsilon);
};

const F32Kernels& kernels_ref();
const F32Kernels& kernels_avx2();
const F32Kernels& kernels_avx512();
const F32Kernels& kernels_neon();

// The table for `isa` (usable_isa(isa) when this build or CPU cannot run it).
const F32Kernels& kernels_for(Isa isa);

}  // namespace kiln::kernels::f32::detail
