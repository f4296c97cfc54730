// fp32 matrix multiplication: C = act(A * B + bias), row-major. B is packed once into panels for
// the chosen ISA's micro-kernel (weights at load time; a transposed B costs nothing extra). A is
// read in place through row pointers (indirect GEMM), or packed on the fly when it is transposed.
// Threaded over a TaskRunner; results do not depend on the number of threads.
//
// Micro-kernel tiles (rows x columns): AVX-512F 6x64, AVX2+FMA 6x16, NEON 8x12, ref 4x8.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/kernels/f32/aligned.h"
#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {

// B (K x N) packed for one ISA's micro-kernel: ceil(N / nr) panels of K x nr floats (k-major,
// zero padding in the last panel). Built by sgemm_pack_b; treat as opaque.
struct SgemmPackedB {
  Isa isa = Isa::ref;
  size_t k = 0;
  size_t n = 0;
  size_t nr = 0;
  std::vector<float, AlignedAllocator<float>> panels;  // 64-byte aligned: no B load splits a cache line
  bool empty() const { return nr == 0; }  // not packed
};

// Packs B for `isa`. B is K x N (b[k * ldb + n]) or, when b_transposed, N x K (b[n * ldb + k], the
// layout of ONNX Gemm with transB = 1 and of conv weights [OC, K]). Every element is multiplied by
// alpha (ONNX Gemm's alpha). Returns "" or an error.
std::string sgemm_pack_b(size_t k, size_t n, const float* b, size_t ldb, bool b_transposed, SgemmPackedB* out,
                         Isa isa = default_isa(), float alpha = 1.0f);

// C[m x n] = act(A * B + bias (+ C when accumulate)), with B packed (its isa picks the kernels).
// A is M x K (a[i * lda + k]) or, when a_transposed, K x M (a[k * lda + i]). bias has N elements or
// is null. C may not alias A.
void sgemm_packed(size_t m, const float* a, size_t lda, bool a_transposed, const SgemmPackedB& b, const float* bias,
                  float* c, size_t ldc, const Activation& act = {}, TaskRunner* runner = nullptr,
                  bool accumulate = false);

// Convenience for MatMul with two activations: packs B per call, then runs sgemm_packed.
// B is K x N (ldb) or, when b_transposed, N x K.
void sgemm(size_t m, size_t n, size_t k, const float* a, size_t lda, bool a_transposed, const float* b, size_t ldb,
           bool b_transposed, const float* bias, float* c, size_t ldc, const Activation& act = {},
           const Exec& exec = {});

// Batched MatMul: for each of `batch` problems, C_i = A_i * B_i with element strides between
// problems (stride_b = 0 shares one B, which is then packed once). Matrices are dense: lda = K (or M
// when transposed), ldb = N (or K), ldc = N.
void sgemm_batched(size_t batch, size_t m, size_t n, size_t k, const float* a, size_t stride_a, bool a_transposed,
                   const float* b, size_t stride_b, bool b_transposed, float* c, size_t stride_c,
                   const Exec& exec = {});

}  // namespace kiln::kernels::f32
