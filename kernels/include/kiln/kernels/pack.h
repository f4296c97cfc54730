// Weight packing for the GEMM / igemm micro-kernels (done once, at freeze time), and the packed
// layout every micro-kernel reads.
//
// Packed buffer = ceil(n / nr) column blocks of packed_gemm_block_bytes(config, ks, kc) bytes each;
// block b covers columns [b*nr, b*nr + nr). One block:
//
//   int32 bias[nr]        bias[c] + (bias_wsum_factor - za) * sum_{p,k} w[p][k][c]
//                         (za = input zero point; columns past n hold 0)
//   float multiplier[nr]  the requantization multiplier of each column (0 past n)
//   weights               for each of the ks segments p (ks = 1 for a plain GEMM):
//                           kcp = round_up(kc, k_align) values of k, zero-padded past kc, as
//                           kcp / kr k-groups, each group nr * kr int8 bytes:
//                             layout kgroup:         byte j*kr + i  = w[p][g*kr + i][column j]
//                             layout avx2_int16pair: (kr = 4) for each half h of 8 columns
//                               (16 bytes per half-row), bytes 32h + 2j + {0,1} = k {0,2} of
//                               column 8h + j, then bytes 32h + 16 + 2j + {0,1} = k {1,3}
//                           int4 (wbits 4): groups 2g and 2g+1 share one nr*kr byte block, at the
//                           byte the int8 layout gives: low nibble = group 2g, high nibble = group
//                           2g+1, each a 4-bit two's complement value in [-8, 7]
//
// Packed A rows (only configs with GemmConfig::pack_a_row: AVX2 int8; made by gemm_run per call,
// never stored): packed_a_row_bytes(config, kc) bytes per row = round_up(kc, 16) int16 values; for
// each k-group g of 4: a[4g], a[4g+2], a[4g+1], a[4g+3] zero-extended to int16 (0 past kc), i.e.
// the int32 words (a0 | a2 << 16) and (a1 | a3 << 16) that vpmaddwd pairs with the
// avx2_int16pair B vectors (k 0,2) and (k 1,3).
//
// The block start is 64-byte aligned when the buffer is (all configs keep nr*kr*... multiples of 64),
// and the whole buffer can live in a memory-mapped .kiln file: nothing is recomputed at load time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/kernels/gemm.h"

namespace kiln::kernels {

// The unpacked weights: element (p, k, c) = w[c * c_stride + p * ks_stride + k * k_stride], for
// p < ks, k < kc, c < n. int8 configs take values in [-127, 127]; int4 configs take one value in
// [-8, 7] per byte. A plain row-major B[K][N] is {c_stride = 1, k_stride = n, ks = 1};
// an OHWI convolution weight is {c_stride = kh*kw*cin, ks_stride = cin, k_stride = 1, ks = kh*kw}.
struct GemmWeightsSource {
  const int8_t* w = nullptr;
  size_t n = 0, ks = 1, kc = 0;
  size_t c_stride = 0, ks_stride = 0, k_stride = 0;
  const int32_t* bias = nullptr;      // n values, or nullptr for zeros
  const float* multiplier = nullptr;  // n values, or nullptr for zeros (i32 output needs none)
  int32_t input_zero_point = 0;       // za, 0..255
};

size_t packed_gemm_block_bytes(const GemmConfig& config, size_t ks, size_t kc);
size_t packed_gemm_size(const GemmConfig& config, size_t n, size_t ks, size_t kc);
// The packed block that holds column j0 (j0 a multiple of config.nr).
inline const void* packed_gemm_block(const GemmConfig& config, const void* packed, size_t ks, size_t kc,
                                     size_t j0) {
  return static_cast<const uint8_t*>(packed) + (j0 / config.nr) * packed_gemm_block_bytes(config, ks, kc);
}

// Packs src into dst (dst_size >= packed_gemm_size(...) bytes, 64-byte aligned for best speed).
// Returns "" on success, or why not (weights out of range, sizes zero, dst too small).
std::string pack_gemm_weights(const GemmConfig& config, const GemmWeightsSource& src, void* dst,
                              size_t dst_size);

// A 64-byte aligned, zero-initialised byte buffer (what tests and benchmarks pack into).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size);
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

}  // namespace kiln::kernels
