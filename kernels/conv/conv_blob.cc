// conv_serialize and conv_view: the PackedConv blob format (conv.h) and its validation. A blob is
// parser input (it comes from a file), so every field is checked against what this build would
// produce for the same shape, ISA and weight width before anything points into it.
#include "conv_blob.h"

#include <cmath>
#include <cstring>

namespace kiln::kernels {
namespace conv_detail {

uint32_t conv_header_checksum(const ConvBlobHeader& h) {
  ConvBlobHeader copy = h;
  copy.checksum = 0;
  unsigned char bytes[sizeof(copy)];
  std::memcpy(bytes, &copy, sizeof(copy));
  uint32_t sum = 2166136261u;
  for (unsigned char b : bytes) sum = (sum ^ b) * 16777619u;
  return sum;
}

ConvBlobHeader make_conv_header(const ConvShape& s, Isa isa, int weight_bits, int32_t input_zero_point,
                                const ConvPlan& plan) {
  ConvBlobHeader h{};
  std::memcpy(h.magic, kConvBlobMagic, sizeof(h.magic));
  h.version = kConvBlobVersion;
  h.header_bytes = kConvBlobHeaderBytes;
  h.total_bytes = plan.total;
  const int32_t shape[16] = {s.batch,      s.in_h,       s.in_w,       s.in_c,       s.out_c,   s.kernel_h,
                             s.kernel_w,   s.stride_h,   s.stride_w,   s.dilation_h, s.dilation_w,
                             s.pad_top,    s.pad_left,   s.pad_bottom, s.pad_right,  s.groups};
  std::memcpy(h.shape, shape, sizeof(shape));
  h.isa = static_cast<uint8_t>(isa);
  h.path = static_cast<uint8_t>(plan.path);
  h.weight_bits = static_cast<uint8_t>(weight_bits);
  h.first_layout = plan.first_kernel != nullptr ? static_cast<uint8_t>(plan.first_layout) : 0;
  h.input_zero_point = input_zero_point;
  if (plan.gemm != nullptr) {
    h.gemm_layout_version = static_cast<uint32_t>(plan.gemm->layout_version);
    h.nr = static_cast<uint32_t>(plan.gemm->nr);
    h.kr = static_cast<uint32_t>(plan.gemm->kr);
    h.k_align = static_cast<uint32_t>(plan.gemm->k_align);
    h.gemm_layout = static_cast<uint32_t>(plan.gemm->layout);
    h.bias_wsum_factor = plan.gemm->bias_wsum_factor;
  }
  h.kernel_id = plan.kernel_id;
  h.first_mr = static_cast<uint32_t>(plan.first_mr);
  h.ks = plan.ks;
  h.kc = plan.kc;
  h.group_stride = plan.group_stride;
  for (size_t i = 0; i < kSectionCount; ++i) h.offset[i] = plan.offset[i], h.size[i] = plan.size[i];
  h.checksum = conv_header_checksum(h);
  return h;
}

namespace {

ConvShape shape_of(const ConvBlobHeader& h) {
  ConvShape s;
  int32_t* fields[16] = {&s.batch,      &s.in_h,       &s.in_w,      &s.in_c,       &s.out_c,   &s.kernel_h,
                         &s.kernel_w,   &s.stride_h,   &s.stride_w,  &s.dilation_h, &s.dilation_w,
                         &s.pad_top,    &s.pad_left,   &s.pad_bottom, &s.pad_right, &s.groups};
  for (size_t i = 0; i < 16; ++i) *fields[i] = h.shape[i];
  return s;
}

const char* section_name(size_t i) {
  static const char* const names[kSectionCount] = {"zero row", "multipliers", "packed weights",
                                                   "reference weights", "reference bias", "GEMM weights"};
  return names[i];
}

bool all_finite(const uint8_t* p, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// The header matches what this build lays out for the same shape, ISA and weight width.
std::string check_header(const ConvBlobHeader& h, const ConvBlobHeader& want) {
  if (h.path != want.path) {
    return "blob says path " + std::to_string(h.path) + ", this build runs the shape on the " +
           std::string(conv_path_name(static_cast<ConvPath>(want.path))) + " path";
  }
  if (h.gemm_layout_version != want.gemm_layout_version || h.nr != want.nr || h.kr != want.kr || h.k_align != want.k_align ||
      h.gemm_layout != want.gemm_layout || h.bias_wsum_factor != want.bias_wsum_factor ||
      h.kernel_id != want.kernel_id || h.first_mr != want.first_mr || h.first_layout != want.first_layout) {
    return "packed for another kernel configuration (layout version " + std::to_string(h.gemm_layout_version) +
           ", nr " + std::to_string(h.nr) + ", kr " + std::to_string(h.kr) + ", kernel id " +
           std::to_string(h.kernel_id) + ") than this build uses (layout version " +
           std::to_string(want.gemm_layout_version) + ", nr " + std::to_string(want.nr) + ", kr " +
           std::to_string(want.kr) + ", kernel id " + std::to_string(want.kernel_id) + "): repack it";
  }
  if (h.ks != want.ks || h.kc != want.kc || h.group_stride != want.group_stride) {
    return "reduction segments (ks, kc, group stride) do not match the shape";
  }
  for (size_t i = 0; i < kSectionCount; ++i) {
    if (h.offset[i] != want.offset[i] || h.size[i] != want.size[i]) {
      return std::string("section '") + section_name(i) + "' at offset " + std::to_string(h.offset[i]) + " size " +
             std::to_string(h.size[i]) + ", expected offset " + std::to_string(want.offset[i]) + " size " +
             std::to_string(want.size[i]);
    }
  }
  if (h.total_bytes != want.total_bytes) {
    return "total size " + std::to_string(h.total_bytes) + " != expected " + std::to_string(want.total_bytes);
  }
  if (std::memcmp(&h, &want, sizeof(h)) != 0) return "header fields do not match the shape";
  return {};
}

// The contents the kernels rely on for defined behaviour (a NaN multiplier would make the scalar
// epilogue's float-to-int conversion undefined; weights past the range break the int32 bound).
std::string check_contents(const uint8_t* blob, const ConvBlobHeader& h, const ConvShape& s, const ConvPlan& plan) {
  const uint8_t* zero = blob + h.offset[kZeroRow];
  for (size_t i = 0; i < h.size[kZeroRow]; ++i) {
    if (zero[i] != static_cast<uint8_t>(h.input_zero_point)) return "zero row does not hold the input zero point";
  }
  const size_t oc = static_cast<size_t>(s.out_c);
  if (!all_finite(blob + h.offset[kMultipliers], oc)) return "a multiplier is not finite";
  if (plan.path == ConvPath::reference) {
    const int lo = h.weight_bits == 8 ? -127 : -8, hi = h.weight_bits == 8 ? 127 : 7;
    const int8_t* w = reinterpret_cast<const int8_t*>(blob + h.offset[kRefWeights]);
    for (size_t i = 0; i < h.size[kRefWeights]; ++i) {
      if (w[i] < lo || w[i] > hi) return "reference weight " + std::to_string(i) + " is out of range";
    }
  }
  // The scalar kernels read multipliers from their packed layouts too.
  if (static_cast<Isa>(h.isa) == Isa::ref) {
    if (plan.path == ConvPath::depthwise && !all_finite(blob + h.offset[kPacked] + 4 * oc, oc)) {
      return "a packed depthwise multiplier is not finite";
    }
    if (plan.gemm != nullptr) {
      const size_t nr = plan.gemm->nr, goc = static_cast<size_t>(s.group_out_c());
      const size_t block = packed_gemm_block_bytes(*plan.gemm, plan.ks, plan.kc), blocks = (goc + nr - 1) / nr;
      for (size_t g = 0; g < static_cast<size_t>(s.groups); ++g) {
        const uint8_t* w = blob + h.offset[kGroupWeights] + g * plan.group_stride;
        for (size_t b = 0; b < blocks; ++b) {
          if (!all_finite(w + b * block + 4 * nr, nr)) return "a packed GEMM multiplier is not finite";
        }
      }
    }
  }
  return {};
}

}  // namespace
}  // namespace conv_detail

using namespace conv_detail;

std::string conv_serialize(const PackedConv& conv, std::vector<uint8_t>* blob) {
  if (blob == nullptr) return "conv_serialize: null argument";
  if (conv.blob.size() < kConvBlobHeaderBytes) return "conv_serialize: the convolution was not packed";
  blob->assign(conv.blob.begin(), conv.blob.end());
  return {};
}

std::string conv_view(const uint8_t* blob, size_t size, std::shared_ptr<const void> owner, Isa expected_isa,
                      PackedConv* out) {
  const std::string where = "conv_view: ";
  if (blob == nullptr || out == nullptr) return where + "null argument";
  if (reinterpret_cast<uintptr_t>(blob) % 64 != 0) return where + "blob is not 64-byte aligned";
  if (size < kConvBlobHeaderBytes) return where + "blob of " + std::to_string(size) + " bytes is shorter than its header";
  ConvBlobHeader h;
  std::memcpy(&h, blob, sizeof(h));
  if (std::memcmp(h.magic, kConvBlobMagic, sizeof(h.magic)) != 0) return where + "not a kiln convolution blob";
  if (h.version != kConvBlobVersion) {
    return where + "blob layout version " + std::to_string(h.version) + ", this build reads " +
           std::to_string(kConvBlobVersion) + ": repack it";
  }
  if (h.header_bytes != kConvBlobHeaderBytes) return where + "bad header size";
  if (h.checksum != conv_header_checksum(h)) return where + "header checksum mismatch (corrupt blob)";
  for (size_t i = sizeof(h); i < kConvBlobHeaderBytes; ++i) {
    if (blob[i] != 0) return where + "reserved header bytes are not zero";
  }
  if (h.isa > static_cast<uint8_t>(Isa::i8mm)) return where + "unknown ISA " + std::to_string(h.isa);
  const Isa isa = static_cast<Isa>(h.isa);
  if (isa != expected_isa) {
    return where + "packed for " + std::string(isa_name(isa)) + ", this session runs " +
           std::string(isa_name(expected_isa));
  }
  if (h.input_zero_point < 0 || h.input_zero_point > 255) return where + "input zero point outside [0, 255]";
  const ConvShape s = shape_of(h);
  ConvPlan plan;
  std::string error = make_conv_plan(s, isa, h.weight_bits, &plan);
  if (!error.empty()) return where + error;
  error = check_header(h, make_conv_header(s, isa, h.weight_bits, h.input_zero_point, plan));
  if (!error.empty()) return where + error;
  if (size != plan.total) {
    return where + "blob is " + std::to_string(size) + " bytes, its header says " + std::to_string(plan.total);
  }
  error = check_contents(blob, h, s, plan);
  if (!error.empty()) return where + error;

  PackedConv cv;
  cv.shape = s;
  cv.isa = isa;
  cv.path = plan.path;
  cv.weight_bits = h.weight_bits;
  cv.input_zero_point = h.input_zero_point;
  auto bytes = [&](size_t i) { return std::span<const uint8_t>(blob + h.offset[i], h.size[i]); };
  cv.zero = bytes(kZeroRow);
  // The sections are 64-byte aligned, so these element views are aligned too.
  cv.multiplier = {reinterpret_cast<const float*>(blob + h.offset[kMultipliers]), static_cast<size_t>(s.out_c)};
  cv.packed = bytes(kPacked);
  cv.weights = {reinterpret_cast<const int8_t*>(blob + h.offset[kRefWeights]), h.size[kRefWeights]};
  cv.bias = {reinterpret_cast<const int32_t*>(blob + h.offset[kRefBias]), h.size[kRefBias] / sizeof(int32_t)};
  cv.gemm = plan.gemm;
  cv.group_weights = plan.gemm != nullptr ? blob + h.offset[kGroupWeights] : nullptr;
  cv.group_stride = plan.group_stride;
  cv.ks = plan.ks;
  cv.kc = plan.kc;
  cv.first_kernel = plan.first_kernel;
  cv.first_mr = plan.first_mr;
  cv.blob = {blob, size};
  cv.storage = std::move(owner);
  *out = std::move(cv);
  return {};
}

}  // namespace kiln::kernels
