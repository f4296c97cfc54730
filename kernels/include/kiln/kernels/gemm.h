// Integer GEMM and indirect GEMM (igemm) micro-kernels, the per-ISA configuration table and the
// GEMM driver.
//
//   C[M,N] = epilogue(A[M,K] . B[K,N] + bias)
//
// A is uint8 with a per-tensor zero point za; B is int8 in [-127, 127] or int4 in [-8, 7],
// symmetric per column. B, the bias (with the za compensation folded in) and the per-column fp32
// multipliers live in a packed buffer made once by pack_gemm_weights() (kiln/kernels/pack.h, which
// documents the byte layout). The epilogue is kiln/kernels/requant.h's requantize(), bit for bit.
//
// Micro-kernel names say what they are: gemm_u8s8_4x16c4__avx512vnni is a GEMM over uint8 A and
// int8 B, up to 4 rows by 16 columns per call, K consumed in groups of 4, AVX-512 VNNI; u8s4 means
// int4 weights; igemm_ is the indirect variant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/parallel.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels {

// What the epilogue writes.
enum class GemmOutput : uint8_t {
  u8,   // requantize(acc, multiplier[c], residual, ...) as requant.h specifies
  i32,  // acc itself (bias and zero-point compensation included): for float islands / debugging
  f32,  // float(acc) * multiplier[c], nothing else (no residual, activation or clamp)
};

// The per-call epilogue constants of a micro-kernel (the per-column multipliers come from the
// packed weights, the residual pointer from the call). Semantics are those of RequantParams.
struct GemmEpilogue {
  GemmOutput output = GemmOutput::u8;
  int32_t zero_point = 0;  // zo
  int32_t qmin = 0;
  int32_t qmax = 255;
  Activation activation = Activation::none;
  float out_scale = 1.0f;
  float hardswish_multiplier = 1.0f;
  int32_t residual_zero_point = 0;  // used only when a residual pointer is passed
  float residual_multiplier = 0.0f;
};

// Copies the scalar fields of a RequantParams (multiplier and residual pointers are not part of it).
GemmEpilogue make_gemm_epilogue(const RequantParams& p, GemmOutput output = GemmOutput::u8);

// GEMM micro-kernel: rows [0, mr) of A times ONE packed block of nr columns (nc <= nr of them
// are written), over kc elements of K.
//   mr        1..config.mr rows; rows are independent (no duplicated work for mr < config.mr)
//   nc        1..config.nr columns written (the block's first nc)
//   kc        K, unpadded (the packed block is padded as pack.h says); kc >= 1
//   a         row m starts at a + m * a_stride (uint8 elements); exactly kc bytes are read per row
//   w         the packed block (pack.h: packed_gemm_block)
//   c         element (m, j) at c + m * c_stride (in elements of the output type: uint8_t, int32_t
//             or float per ep->output)
//   r         residual, element (m, j) at r[m * r_stride + j]; nullptr = no residual (u8 output only)
//   ep        epilogue constants
using GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const uint8_t* a, size_t a_stride,
                               const void* w, void* c, size_t c_stride, const uint8_t* r, size_t r_stride,
                               const GemmEpilogue* ep);

// Indirect GEMM micro-kernel (convolution): as GemmUkernelFn, but row m of A is the concatenation
// of ks segments of kc contiguous uint8 values, segment p of row m starting at
//   a[p * config.mr + m] (+ a_offset bytes, unless that pointer equals `zero`).
// The indirection buffer therefore holds config.mr pointers per ks step (XNNPACK's convention);
// entries for m >= mr are not read. `zero` points at kc (or more) bytes equal to the input zero point,
// used for padding. The packed weights hold ks segments of kc (each padded on its own, see pack.h).
using IgemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a,
                                size_t a_offset, const uint8_t* zero, const void* w, void* c, size_t c_stride,
                                const uint8_t* r, size_t r_stride, const GemmEpilogue* ep);

// Optional packed-A path, used by gemm_run (not by igemm): a config that has it wants each row of A
// transformed once per GEMM (AVX2 int8: widened to int16 pairs) instead of once per column block.
//   GemmPackARowFn       writes packed_a_row_bytes(config, kc) bytes for one row of kc uint8 values
//   GemmPackedUkernelFn  as GemmUkernelFn, but row m of A is the packed row at
//                        (const uint8_t*)a + m * a_stride_bytes
using GemmPackARowFn = void (*)(size_t kc, const uint8_t* a_row, void* packed_row);
using GemmPackedUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes,
                                     const void* w, void* c, size_t c_stride, const uint8_t* r, size_t r_stride,
                                     const GemmEpilogue* ep);

// Optional widened-B path, used by gemm_run for tasks with >= 2 row tiles: each packed column block
// is first widened once (per block, per task) into a scratch buffer that the micro-kernel reads
// with plain vector loads (AVX2 int4: int8 weights, no nibble unpacking in the loop).
//   GemmWidenBlockFn   writes config.wide_block_bytes(kc) bytes from one packed block
//   GemmWideUkernelFn  as GemmUkernelFn (or GemmPackedUkernelFn when the config has the packed-A
//                      path: A is then the packed rows), plus `wide`, the widened copy of block w
//                      (w still provides the bias and the multipliers)
using GemmWidenBlockFn = void (*)(size_t kc, const void* packed_block, void* wide);
using GemmWideBytesFn = size_t (*)(size_t kc);
using GemmWideUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes,
                                   const void* w, const void* wide, void* c, size_t c_stride, const uint8_t* r,
                                   size_t r_stride, const GemmEpilogue* ep);
//   IgemmWideUkernelFn as IgemmUkernelFn plus `wide`; the widened block of ks segments is made by
//                      widen_block(ks * round_up(kc, k_align), ...) (the convolution driver)
using IgemmWideUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a,
                                    size_t a_offset, const uint8_t* zero, const void* w, const void* wide, void* c,
                                    size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep);

// How a packer lays out the bytes of one k-group of one column block (pack.h documents both).
enum class GemmPackLayout : uint8_t {
  kgroup,         // column j's kr consecutive k values at bytes [j*kr, j*kr + kr) of the group
  avx2_int16pair  // kr = 4, columns in halves of 8: for each half, (k0,k2) of its 8 columns, then (k1,k3)
};

// One row of the per-ISA configuration table: everything a driver (GEMM or convolution) needs.
struct GemmConfig {
  Isa isa = Isa::ref;
  int wbits = 8;              // 8: int8 weights; 4: int4 weights, two per byte
  size_t mr = 1;              // rows per micro-kernel call, at most
  size_t nr = 1;              // columns per packed block
  size_t kr = 1;              // k values per group (the unit of the instruction: 4 for vpdpbusd/sdot)
  size_t k_align = 1;         // each kc segment is zero-padded to a multiple of this (a multiple of kr;
                              // of 2*kr for int4, whose groups go in pairs)
  GemmPackLayout layout = GemmPackLayout::kgroup;
  int32_t bias_wsum_factor = 0;  // packed bias += factor * sum_k w[k][c] (128 for the A^0x80 trick)
  const char* gemm_name = "";
  const char* igemm_name = "";
  GemmUkernelFn gemm = nullptr;
  IgemmUkernelFn igemm = nullptr;
  // Packed-A path (both set, or both null). The packed weights are the same for both paths.
  GemmPackARowFn pack_a_row = nullptr;
  GemmPackedUkernelFn gemm_packed_a = nullptr;
  const char* gemm_packed_a_name = "";
  size_t a_row_align = 1;  // a packed row holds round_up(kc, a_row_align) int16 values
  // Widened-B path (all four set, or all null).
  GemmWidenBlockFn widen_block = nullptr;
  GemmWideBytesFn wide_block_bytes = nullptr;
  GemmWideUkernelFn gemm_wide = nullptr;
  IgemmWideUkernelFn igemm_wide = nullptr;
  const char* gemm_wide_name = "";
  const char* igemm_wide_name = "";
  // Bumped whenever the packed-weight bytes of this (isa, wbits) change: a .kiln blob packed with
  // another version must be repacked. mr is NOT part of the packed bytes (any mr reads them).
  int layout_version = 1;
};

// Bytes of one packed A row (config.pack_a_row != nullptr).
inline size_t packed_a_row_bytes(const GemmConfig& config, size_t kc) {
  return (kc + config.a_row_align - 1) / config.a_row_align * config.a_row_align * 2;
}

// The configuration for `isa` and `wbits` (4 or 8), or nullptr when this build lacks that ISA.
const GemmConfig* gemm_config(Isa isa, int wbits);
// The configuration for the ISA choose_isa() picks (KILN_ISA honoured); nullptr and *error set
// when KILN_ISA is invalid. wbits must be 4 or 8.
const GemmConfig* gemm_config_for_cpu(int wbits, std::string* error);

// A whole GEMM over packed weights.
struct GemmProblem {
  size_t m = 0, n = 0, k = 0;          // k = the kc the weights were packed with (ks = 1)
  const uint8_t* a = nullptr;          // row i at a + i * a_stride
  size_t a_stride = 0;                 // elements, >= k
  const void* packed = nullptr;        // pack_gemm_weights() output for (config, n, ks = 1, kc = k)
  void* c = nullptr;                   // element (i, j) at c + i * c_stride (elements of output type)
  size_t c_stride = 0;                 // >= n
  const uint8_t* residual = nullptr;   // optional, element (i, j) at residual[i * residual_stride + j]
  size_t residual_stride = 0;
  GemmEpilogue epilogue;
};

// Runs the GEMM with config's micro-kernel, tiled over `runner` (nullptr: the calling thread).
// Returns "" on success, or what is wrong with the arguments (nothing is written then).
std::string gemm_run(const GemmConfig& config, const GemmProblem& problem, TaskRunner* runner);

}  // namespace kiln::kernels
