// The blocked GEMM driver shared by sgemm, conv2d and conv_transpose2d: A comes from an APacker
// (a plain matrix, or the input image gathered on the fly for a convolution), B is pre-packed.
#pragma once

#include <cstddef>

#include "f32/f32_kernels.h"
#include "kiln/kernels/f32/gemm.h"
#include "kiln/kernels/parallel.h"

namespace kiln::kernels::f32::detail {

// Writes rows [m0, m0 + rows) and columns [k0, k0 + kc) of A (K columns in all) to dst as kc groups
// of mr floats (dst[k * mr + i]); rows i >= rows are written as zeros.
//
// A source that can also be read in place (indirect()): taps() > 0 splits K into taps() runs of
// K / taps() contiguous floats, and indirect() gives for each tap t and row i the pointer to row i's
// run (ptrs[t * mr + i]); rows i >= rows and padding point to `zero` (K / taps() zeros). The driver
// then runs the igemm micro-kernel and never packs A.
class APacker {
 public:
  virtual ~APacker() = default;
  // The default packs through indirect() (for sources that are only indirect).
  virtual void pack(size_t m0, size_t rows, size_t k0, size_t kc, size_t k, size_t mr, float* dst) const;
  virtual size_t taps() const { return 0; }
  virtual void indirect(size_t /*m0*/, size_t /*rows*/, size_t /*mr*/, const float* /*zero*/,
                        const float** /*ptrs*/) const {}
};

// A dense row-major matrix: a[i * lda + k], or a[k * lda + i] when transposed.
class MatrixAPacker final : public APacker {
 public:
  MatrixAPacker(const float* a, size_t lda, bool transposed) : a_(a), lda_(lda), transposed_(transposed) {}
  void pack(size_t m0, size_t rows, size_t k0, size_t kc, size_t k, size_t mr, float* dst) const override;
  size_t taps() const override { return transposed_ ? 0 : 1; }
  void indirect(size_t m0, size_t rows, size_t mr, const float* zero, const float** ptrs) const override {
    for (size_t i = 0; i < mr; ++i) ptrs[i] = i < rows ? a_ + (m0 + i) * lda_ : zero;
  }

 private:
  const float* a_;
  size_t lda_;
  bool transposed_;
};

struct GemmOutput {
  float* c = nullptr;
  size_t ldc = 0;
  const float* bias = nullptr;      // n elements (of this B) or null
  const float* residual = nullptr;  // added before the activation; may equal c (then ldr == ldc)
  size_t ldr = 0;
  Activation act;
  bool accumulate = false;  // C += ...
};

// C[m x b.n] = act(A * B + bias + residual (+ C)). Threads over (row block, column block) tiles.
// Indirect sources whose runs (K / taps) are at least min_run floats go through the igemm kernel;
// others are packed (short runs would reload the row pointers every few k).
void gemm_run(size_t m, const APacker& a, const SgemmPackedB& b, const GemmOutput& out, TaskRunner* runner,
              size_t min_run = 4);

}  // namespace kiln::kernels::f32::detail
