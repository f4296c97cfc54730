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
//
// Sharing: a PackedConv is immutable once made. Everything a run changes (the indirection buffer,
// the padded first-layer image) lives in a caller-owned ConvWorkspace, so any number of threads
// may run one PackedConv at once, each with its own workspace.
//
// Storage: a PackedConv is a view of one contiguous blob (conv_serialize's format: a header, then
// 64-byte aligned sections). conv_pack makes the blob in memory; conv_view takes one from a
// memory-mapped .kiln file without copying. `storage` keeps whichever it is alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
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

using ConvFirstKernelFn = void (*)(const ConvFirstArgs&, const RequantParams&);

struct PackedConv {
  ConvShape shape;
  Isa isa = Isa::ref;
  ConvPath path = ConvPath::reference;
  int weight_bits = 8;
  int32_t input_zero_point = 0;
  // Views into `blob`:
  std::span<const uint8_t> zero;      // input_zero_point bytes: the padding row (>= in_c and kc bytes)
  std::span<const float> multiplier;  // per output channel, fixed at pack time (freeze time)
  std::span<const uint8_t> packed;    // depthwise and dedicated first-layer kernels: their packed weights
  std::span<const int8_t> weights;    // reference path: OHWI as given
  std::span<const int32_t> bias;      // reference path
  // GEMM paths: A's configuration, one packed weight buffer per group (ks segments of kc), group g
  // at group_weights + g * group_stride (64-byte aligned).
  const GemmConfig* gemm = nullptr;
  const uint8_t* group_weights = nullptr;
  size_t group_stride = 0;
  size_t ks = 1, kc = 0;
  // first_layer: a dedicated kernel (conv_first.h) where the ISA has one, packed into `packed`;
  // otherwise the igemm micro-kernel with one segment per kernel row.
  ConvFirstKernelFn first_kernel = nullptr;
  size_t first_mr = 1;  // pixels per step of first_kernel (tasks split on whole steps)
  // The whole serialised form (64-byte aligned), and what keeps it alive (null: the caller does).
  std::span<const uint8_t> blob;
  std::shared_ptr<const void> storage;
};

// The mutable per-run state of one conv_run: owned by the caller, one per concurrent run. It can be
// reused across runs and across convolutions; the indirection buffer is rebuilt only when the
// convolution or the input address changes, so running one layer on one arena slot builds it once.
struct ConvWorkspace {
  std::vector<const uint8_t*> indirection;
  std::vector<uint8_t> padded;  // first_layer: the zero-point-padded input image (+ 64 bytes slack)
  // What `indirection` (and `padded`'s border) was built for.
  ConvShape built_shape;
  const uint8_t* built_zero = nullptr;
  int32_t built_zero_point = -1;
  const uint8_t* built_input = nullptr;
  size_t built_mr = 0;
};

// Validates and packs. bias is int32 per output channel in accumulator units (the input zero point
// is folded in here); multiplier is requant.h's per-channel multiplier, packed with the weights as
// the GEMM kernels require. `isa` must be one this build has and this CPU runs (choose_isa()).
std::string conv_pack(const ConvShape& shape, const int8_t* weights, int weight_bits, const int32_t* bias,
                      const float* multiplier, int32_t input_zero_point, Isa isa, PackedConv* out);

// output = conv(input) with the fused epilogue p (p.residual indexed [pixel * residual_stride + c]);
// p.multiplier is ignored: the packed multipliers are used. Input and output are dense NHWC.
// runner may be null (one thread). `conv` is only read; `workspace` is this run's scratch.
std::string conv_run(const PackedConv& conv, ConvWorkspace& workspace, const uint8_t* input, uint8_t* output,
                     const RequantParams& p, TaskRunner* runner);

// Bytes a workspace grows to for this convolution (for memory planning).
size_t conv_workspace_bytes(const PackedConv& conv);

// The serialised form: a copy of conv.blob (a header with the shape, ISA, path, weight bits,
// input zero point, the kernel configuration's identity and the section offsets, then the zero
// row, multipliers and packed weights, each section 64-byte aligned; little-endian).
std::string conv_serialize(const PackedConv& conv, std::vector<uint8_t>* blob);

// A PackedConv that points into `blob` (no copy): blob must be 64-byte aligned and stay alive and
// unchanged while the PackedConv (or a copy) is used; `owner` (may be null) is kept for that. Every
// field is validated (layout version, sizes, offsets, shape, ISA == expected_isa and runnable
// here, the kernel configuration this build would use for it, zero row, multipliers, reference
// weights), so a corrupt or foreign blob is an error, never a crash.
std::string conv_view(const uint8_t* blob, size_t size, std::shared_ptr<const void> owner, Isa expected_isa,
                      PackedConv* out);

}  // namespace kiln::kernels
