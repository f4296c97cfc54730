// First-layer convolution kernels (1 to 4 input channels, one group), where the reduction is a
// whole kernel_h x kernel_w x in_c patch and padding it per tap (3 channels to 4 or 8) would waste
// a quarter or more of the work. The input is first copied into a zero-point-padded image, so each
// kernel row of the patch is kc = kernel_w * in_c contiguous bytes (21 for a 7x7x3 stem); a kernel
// reads kernel_h such segments per pixel, each padded to a multiple of 4 with zero weights (the
// bytes past a segment are read, multiplied by zero, so the padded image has 64 bytes of slack).
//
//   conv_first_2x32c4__avx2: 2 pixels x 32 output channels per step, exact uint8 x int8 through
//   int16 pairs and vpmaddwd (4 k per step: a broadcast of 4 input bytes split into (a0, a2) and
//   (a1, a3) pairs against weights packed as int16 pairs, no per-step weight conversion). The
//   pairs are prepared once per 2-pixel step (an and and a shift per 8 groups) and broadcast from
//   memory, so both 32-channel blocks of a 64-channel stem share them. Reads up to 31 bytes past a
//   segment: the padded image's slack covers it.
//   conv_first_6x64c4__avx512vnni: 6 pixels x 64 output channels per step, one vpdpbusd per
//   pixel and 16 channels for every 4 k (24 accumulators, the 4 weight vectors stay in registers).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/requant.h"

namespace kiln::kernels {

struct ConvFirstArgs {
  size_t pixels = 0;                       // output pixels this call writes
  size_t out_c = 0;                        // output channels (all of them)
  size_t segments = 0;                     // kernel_h
  size_t kc = 0;                           // kernel_w * in_c
  const uint8_t* const* rows = nullptr;    // `segments` pointers per pixel, pixel-major
  const void* packed = nullptr;            // conv_first_pack output
  uint8_t* output = nullptr;               // first pixel, dense NHWC (pixel stride out_c)
  const uint8_t* residual = nullptr;       // first pixel's residual (when p.residual is set)
  size_t residual_stride = 0;
};

// The packed weight layouts:
//   int16pair32 (AVX2): per block of 32 output channels, 32 int32 biases (input zero point folded
//     in) and, for each segment and each group of 4 k, four 64-byte quarters (8 channels each):
//     8 x int16 pairs (w[k0], w[k2]) then 8 x (w[k1], w[k3]).
//   kgroup64 (AVX-512 VNNI): per block of 64 output channels, 64 int32 biases and, for each
//     segment and each group of 4 k, 64 x 4 bytes: channel j's w[k0..k3] at bytes 4j .. 4j + 3.
enum class ConvFirstLayout : uint8_t { int16pair32, kgroup64 };
size_t conv_first_packed_size(ConvFirstLayout layout, size_t out_c, size_t segments, size_t kc);
// weights OHWI as [out_c][segments][kc]; bias in accumulator units.
void conv_first_pack(ConvFirstLayout layout, size_t out_c, size_t segments, size_t kc, const int8_t* weights,
                     const int32_t* bias, int32_t input_zero_point, void* out);

// Both read the multipliers from p.multiplier (channel order).
void conv_first_2x32c4__avx2(const ConvFirstArgs& args, const RequantParams& p);
void conv_first_6x64c4__avx512vnni(const ConvFirstArgs& args, const RequantParams& p);

}  // namespace kiln::kernels
