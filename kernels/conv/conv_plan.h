// What a convolution's packed form is, derived from (shape, ISA, weight bits) alone: the path, the
// kernel configuration and the byte size of every section of the blob. conv_pack lays a blob out
// from it and conv_view checks a blob against it, so the two cannot disagree (internal).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/kernels/conv.h"

namespace kiln::kernels::conv_detail {

// The blob's sections, in file order.
enum ConvSection : size_t { kZeroRow, kMultipliers, kPacked, kRefWeights, kRefBias, kGroupWeights, kSectionCount };

struct ConvPlan {
  ConvPath path = ConvPath::reference;
  const GemmConfig* gemm = nullptr;  // GEMM paths (and first_layer without a dedicated kernel)
  size_t ks = 1, kc = 0;
  ConvFirstKernelFn first_kernel = nullptr;
  size_t first_mr = 1;
  ConvFirstLayout first_layout = ConvFirstLayout::int16pair32;
  size_t dw_row_kernel_w = 0;  // depthwise: the row mode's kernel width (dwconv.h), 0 if none
  uint32_t kernel_id = 0;  // FNV-1a of the kernel names the packed bytes are laid out for
  size_t group_bytes = 0;  // packed GEMM weights of one group
  size_t group_stride = 0;  // group_bytes rounded up to 64
  std::array<size_t, kSectionCount> size{};    // bytes of each section
  std::array<size_t, kSectionCount> offset{};  // 64-byte aligned, after the header
  size_t total = 0;
};

constexpr size_t kConvBlobHeaderBytes = 256;

// Whether this build has the ISA's kernels and this CPU runs them.
bool isa_runs(Isa isa);

// Fills *plan for a shape, ISA and weight width, or says why kiln cannot pack them.
std::string make_conv_plan(const ConvShape& s, Isa isa, int weight_bits, ConvPlan* plan);

}  // namespace kiln::kernels::conv_detail
