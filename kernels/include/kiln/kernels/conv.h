// NHWC integer convolution: pack once, run many times. The driver picks a path per shape and ISA:
//   depthwise    groups == in_c == out_c: the dwconv kernels (dwconv.h) over an indirection buffer
//   gemm_1x1     1x1, one group: engineer A's GEMM micro-kernel straight on the input rows (stride 1:
//                one GEMM over all pixels; stride s: per output row, A rows s * in_c apart), no copy
//   igemm        k x k and grouped: A's indirect-GEMM micro-kernel over an indirection buffer
//                (mr pointers per tap, one shared zero row for padding), no im2col copy; groups
//                reuse one buffer through the kernel's a_offset
//   first_layer  in_c <= 4, one group: the input is copied once per run into a zero-point-padded
//                image, so each kernel row of the patch (kernel_w * in_c contiguous bytes: 21 for a
//                7x7x3 stem) is one reduction segment; the reduction is 7 x 21 (each padded to
//                24), not 49 taps of 3 channels padded to 4 or 8. Dedicated kernels on AVX2 and
//                AVX-512 VNNI (conv_first.h), A's igemm micro-kernel elsewhere
//   reference    only when no GEMM configuration exists: conv_ref, one thread
// Weights are OHWI int8 values, 8-bit ([-127, 127]) or 4-bit ([-8, 7], one per byte on input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/kernels/conv_first.h"
#include "kiln/kernels/conv_shape.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/isa.h"
#include "kiln/kernels/pack.h"
#include "kiln/kernels/parallel.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels {

enum class ConvPath : uint8_t { reference, depthwise, gemm_1x1, igemm, first_layer };
std::string_view conv_path_name(ConvPath path);

struct PackedConv {
  ConvShape shape;
  Isa isa = Isa::ref;
  ConvPath path = ConvPath::reference;
  int weight_bits = 8;
  int32_t input_zero_point = 0;
  std::vector<uint8_t> zero;      // input_zero_point bytes: the padding row
  std::vector<uint8_t> packed;    // the path's packed weights and folded biases
  std::vector<int8_t> weights;    // reference path: OHWI as given
  std::vector<int32_t> bias;      // reference path
  std::vector<float> multiplier;  // per output channel, fixed at pack time (freeze time)
  // GEMM paths: A's configuration, one packed weight buffer per group (ks segments of kc).
  const GemmConfig* gemm = nullptr;
  std::vector<AlignedBuffer> group_weights;
  size_t ks = 1, kc = 0;
  std::vector<uint8_t> padded;  // first_layer: the zero-point-padded input image (+ 64 bytes slack)
  // first_layer: a dedicated kernel (conv_first.h) where the ISA has one, packed into `packed`;
  // otherwise the igemm micro-kernel with one segment per kernel row.
  void (*first_kernel)(const ConvFirstArgs&, const RequantParams&) = nullptr;
  size_t first_mr = 1;  // pixels per step of first_kernel (tasks split on whole steps)
  // Built on the first run and again whenever the input address changes (so a PackedConv is not
  // run from two threads at once). igemm paths: config.mr pointers per tap per tile of mr pixels.
  std::vector<const uint8_t*> indirection;
  const uint8_t* indirection_input = nullptr;
};

// Validates and packs. bias is int32 per output channel in accumulator units (the input zero point
// is folded in here); multiplier is requant.h's per-channel multiplier, packed with the weights as
// the GEMM kernels require. `isa` must be one this build has and this CPU runs (choose_isa()).
std::string conv_pack(const ConvShape& shape, const int8_t* weights, int weight_bits, const int32_t* bias,
                      const float* multiplier, int32_t input_zero_point, Isa isa, PackedConv* out);

// output = conv(input) with the fused epilogue p (p.residual indexed [pixel * residual_stride + c]);
// p.multiplier is ignored: the packed multipliers are used. Input and output are dense NHWC.
// runner may be null (one thread).
std::string conv_run(PackedConv& conv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                     TaskRunner* runner);

}  // namespace kiln::kernels
