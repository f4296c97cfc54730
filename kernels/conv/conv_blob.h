// The header of a serialised PackedConv (internal; conv.h describes the format in words). The
// header is memcpy'd in and out (the blob need not hold a C++ object), little-endian.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "conv_plan.h"

namespace kiln::kernels::conv_detail {

static_assert(std::endian::native == std::endian::little, "the conv blob format is little-endian");

// Bump whenever any packed layout a blob can hold changes meaning without its kernel names changing.
constexpr uint32_t kConvBlobVersion = 1;
constexpr char kConvBlobMagic[8] = {'K', 'I', 'L', 'N', 'C', 'O', 'N', 'V'};

struct ConvBlobHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t total_bytes;
  int32_t shape[16];  // batch, in_h, in_w, in_c, out_c, kernel h/w, stride h/w, dilation h/w,
                      // pad top/left/bottom/right, groups
  uint8_t isa, path, weight_bits, first_layout;
  int32_t input_zero_point;
  // The kernel configuration's identity: the packed bytes are only meaningful to it (GEMM paths:
  // GemmConfig's layout_version, nr, kr, k_align, layout and bias factor; mr is not part of the
  // packed bytes).
  uint32_t gemm_layout_version, nr, kr, k_align;
  uint32_t gemm_layout;
  int32_t bias_wsum_factor;
  uint32_t kernel_id;
  uint32_t first_mr;
  uint64_t ks, kc, group_stride;
  uint64_t offset[kSectionCount];
  uint64_t size[kSectionCount];
  // FNV-1a of the header with this field zero: a changed batch or image size is still a valid
  // shape for the same weights, so only a checksum tells it from the packed one.
  uint32_t checksum;
};
static_assert(std::is_trivially_copyable_v<ConvBlobHeader>);
static_assert(sizeof(ConvBlobHeader) <= kConvBlobHeaderBytes);

uint32_t conv_header_checksum(const ConvBlobHeader& h);

// The header a blob for (shape, isa, bits, za) laid out by `plan` carries.
ConvBlobHeader make_conv_header(const ConvShape& s, Isa isa, int weight_bits, int32_t input_zero_point,
                                const ConvPlan& plan);

}  // namespace kiln::kernels::conv_detail
