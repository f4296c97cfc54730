// Depthwise convolution micro-kernels (one input and one output channel per group), any kernel size
// (3x3 and 5x5 are the ones that matter), any stride and padding: the kernels read their inputs
// through an indirection buffer (indirection.h), so geometry never reaches them.
//
// Each ISA packs the weights its own way (see dwconv_pack); the bias is packed with the input zero
// point folded in (bias - za * sum of the channel's taps) and padding taps read za from the zero
// row, so no kernel subtracts a zero point per element.
//
// Kernels, their layout and why:
//   dwconv__ref          plain loops, the specification.
//   dwconv_c32__avx2     32 channels per step. The four bytes of each 32-bit lane are split into
//                        four "classes" (channel mod 4) with shifts and a word blend; two taps share
//                        one vpmaddwd (exact: uint8 and int8 widened to int16). Weights are packed as
//                        int16 tap pairs per class, so there is no per-tap cross-lane shuffle.
//                        Row mode (3x3 kernels at horizontal stride 1, packed with
//                        row_kernel_w = 3): taps are paired down a column, (ky, kx) with (ky+1, kx),
//                        and the kernel sweeps an output row column by column: the split of one
//                        input column pair serves the three output pixels that read it (kx = 0, 1,
//                        2), which cuts the split work to a third; three pixels' accumulators slide.
//   dwconv_c64__avx512vnni  64 channels per step, one vpdpbusd per class per tap on the raw input
//                        bytes against weights spread to byte (channel mod 4) of each lane: no
//                        shuffles and no widening in the tap loop. Row mode (3x3, horizontal stride
//                        1 or 2): one input column's three rows are interleaved (six unpacks) into
//                        lanes of (row 0, row 1, row 2, 0) bytes, so one vpdpbusd does three taps of
//                        16 channels and the column serves every output pixel that reads it: 12
//                        vpdpbusd per pixel and 64 channels instead of 36. Without a residual
//                        (plain or hardswish epilogue) the 3x3 sweep runs in asm with the 12
//                        weight vectors held in registers (dwconv_row_sweep_avx512vnni.h): as
//                        intrinsics the weight loads bounded the loop. 5x5 kernels (stride 1 or 2) have a row mode too: rows
//                        0..3 interleaved as above and row 4 repeated through its lanes against
//                        (w, 0, 0, 0): 40 vpdpbusd per pixel and 64 channels instead of 100.
//   x86: the epilogue stays in class order too (biases and multipliers are packed that way, the
//   residual is split into classes with shifts), and class k's codes are shifted to byte k of each
//   lane and OR-ed: the bytes come out in channel order without any shuffle.
//   dwconv_c16__neondot  16 channels per step, uint8 widened to int16 and smlal by int16 weights
//                        (serves i8mm CPUs too).
// All: the epilogue of requant.h, bit-exact; the multipliers are read from the packed weights
// (RequantParams::multiplier is not used by these kernels).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels {

struct DwConvArgs {
  size_t channels = 0;
  size_t pixels = 0;                           // output pixels this call writes
  size_t taps = 0;                             // kernel_h * kernel_w
  const uint8_t* const* indirection = nullptr;  // `taps` input pointers per pixel
  size_t indirection_step = 0;                 // pointers from one pixel's taps to the next pixel's
  const void* packed = nullptr;                // dwconv_pack's output for this ISA
  uint8_t* output = nullptr;                   // first pixel's first channel
  size_t output_stride = 0;                    // elements between output pixels
  const uint8_t* residual = nullptr;           // first pixel's residual (when p.residual is set)
  size_t residual_stride = 0;                  // elements between residual pixels
  // Row mode (a kernel packed with row_kernel_w = kernel_w, see dwconv_row_mode): the pixels are whole
  // output rows of row_pixels pixels each at horizontal stride row_stride, so pixel p + 1's tap
  // (ky, kx) is pixel p's tap (ky, kx + row_stride). row_pixels 0 otherwise.
  size_t row_pixels = 0;
  size_t row_stride = 1;
};

using DwConvFn = void (*)(const DwConvArgs& args, const RequantParams& p);

void dwconv__ref(const DwConvArgs& args, const RequantParams& p);
void dwconv_c32__avx2(const DwConvArgs& args, const RequantParams& p);
void dwconv_c64__avx512vnni(const DwConvArgs& args, const RequantParams& p);
void dwconv_c16__neondot(const DwConvArgs& args, const RequantParams& p);

// The kernel for `isa` (i8mm uses the neondot kernel), or nullptr when this build lacks it.
DwConvFn dwconv_for(Isa isa);

// Whether `isa`'s kernel has a row mode for this kernel size and horizontal stride (then pack with
// row_kernel_w = kernel_w and pass DwConvArgs::row_pixels and row_stride). AVX2: 3x3 at horizontal
// stride 1; AVX-512 VNNI: 3x3 and 5x5 at horizontal stride 1 or 2.
bool dwconv_row_mode(Isa isa, size_t kernel_h, size_t kernel_w, size_t stride_w);

// Bytes dwconv_pack writes for `isa` (row_kernel_w: 0, or the kernel width in a row mode).
size_t dwconv_packed_size(Isa isa, size_t channels, size_t taps, size_t row_kernel_w = 0);
// weights: [channels][taps] int8 (int8 or int4 values); bias: int32 per channel in accumulator
// units; multiplier: requant.h's per channel. `out` needs dwconv_packed_size bytes, 64-byte
// alignment not required.
void dwconv_pack(Isa isa, size_t channels, size_t taps, const int8_t* weights, const int32_t* bias,
                 const float* multiplier, int32_t input_zero_point, void* out, size_t row_kernel_w = 0);

}  // namespace kiln::kernels
