#include <algorithm>
#include <cmath>
#include <cstring>

#include "conv_blob.h"
#include "conv_gemm_paths.h"
#include "kiln/kernels/conv.h"
#include "kiln/kernels/conv_ref.h"
#include "kiln/kernels/dwconv.h"
#include "kiln/kernels/indirection.h"

namespace kiln::kernels {

std::string_view conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::reference: return "reference";
    case ConvPath::depthwise: return "depthwise";
    case ConvPath::gemm_1x1: return "gemm_1x1";
    case ConvPath::igemm: return "igemm";
    case ConvPath::first_layer: return "first_layer";
  }
  return "unknown";
}

namespace {

using namespace conv_detail;

// Rows of output pixels per task: enough work per task to hide the scheduling, several tasks per
// thread for balance.
size_t rows_per_task(size_t rows, int threads) {
  if (threads <= 1) return rows;
  return std::max<size_t>(1, rows / (static_cast<size_t>(threads) * 4));
}

std::string run_depthwise(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                          const RequantParams& p, TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  if (!workspace_is_current(cv, ws, input, 0)) {
    ws.indirection.resize(conv_indirection_size(s));
    build_conv_indirection(s, input, static_cast<size_t>(s.in_c), cv.zero.data(), ws.indirection.data());
  }
  const DwConvFn kernel = dwconv_for(cv.isa);
  const size_t ow = static_cast<size_t>(s.out_w()), taps = static_cast<size_t>(s.taps());
  const size_t rows = static_cast<size_t>(s.batch) * s.out_h();
  const size_t per_task = rows_per_task(rows, runner != nullptr ? runner->threads() : 1);
  const size_t tasks = (rows + per_task - 1) / per_task;
  const uint8_t* const* indirection = ws.indirection.data();
  const bool row_mode = dwconv_row_mode(cv.isa, static_cast<size_t>(s.kernel_h), static_cast<size_t>(s.kernel_w),
                                        static_cast<size_t>(s.stride_w));
  parallel_for(runner, tasks, [&](size_t task) {
    const size_t r0 = task * per_task, r1 = std::min(rows, r0 + per_task);
    DwConvArgs a;
    a.channels = static_cast<size_t>(s.out_c);
    a.pixels = (r1 - r0) * ow;
    a.taps = taps;
    a.indirection = indirection + r0 * ow * taps;
    a.indirection_step = taps;
    a.packed = cv.packed.data();
    a.output = output + r0 * ow * a.channels;
    a.output_stride = a.channels;
    a.residual = p.residual != nullptr ? p.residual + r0 * ow * p.residual_stride : nullptr;
    a.residual_stride = p.residual_stride;
    a.row_pixels = row_mode ? ow : 0;
    a.row_stride = static_cast<size_t>(s.stride_w);
    kernel(a, p);
  });
  return {};
}

// The blob's sections from the caller's unpacked operands.
std::string write_sections(const ConvShape& s, const ConvPlan& plan, const int8_t* weights, int32_t input_zero_point,
                           const int32_t* bias, const float* multiplier, Isa isa, uint8_t* blob) {
  std::memset(blob + plan.offset[kZeroRow], input_zero_point, plan.size[kZeroRow]);
  std::memcpy(blob + plan.offset[kMultipliers], multiplier, plan.size[kMultipliers]);
  uint8_t* packed = blob + plan.offset[kPacked];
  switch (plan.path) {
    case ConvPath::depthwise:
      // OHWI with one input channel per group is [channel][tap] already.
      dwconv_pack(isa, static_cast<size_t>(s.out_c), static_cast<size_t>(s.taps()), weights, bias, multiplier,
                  input_zero_point, packed, plan.dw_row_kernel_w);
      return {};
    case ConvPath::reference:
      std::memcpy(blob + plan.offset[kRefWeights], weights, plan.size[kRefWeights]);
      std::memcpy(blob + plan.offset[kRefBias], bias, plan.size[kRefBias]);
      return {};
    case ConvPath::gemm_1x1:
    case ConvPath::igemm:
    case ConvPath::first_layer:
      return pack_gemm_sections(s, plan, weights, bias, multiplier, input_zero_point, packed,
                                blob + plan.offset[kGroupWeights]);
  }
  return "unknown path";
}

}  // namespace

std::string conv_pack(const ConvShape& s, const int8_t* weights, int weight_bits, const int32_t* bias,
                      const float* multiplier, int32_t input_zero_point, Isa isa, PackedConv* out) {
  if (out == nullptr || weights == nullptr || bias == nullptr || multiplier == nullptr) {
    return "conv_pack: null argument";
  }
  if (input_zero_point < 0 || input_zero_point > 255) return "conv_pack: input zero point must be in [0, 255]";
  ConvPlan plan;
  std::string error = make_conv_plan(s, isa, weight_bits, &plan);
  if (!error.empty()) return "conv_pack: " + error;
  const size_t count = static_cast<size_t>(s.out_c) * s.taps() * s.group_in_c();
  const int lo = weight_bits == 8 ? -127 : -8, hi = weight_bits == 8 ? 127 : 7;
  for (size_t i = 0; i < count; ++i) {
    if (weights[i] < lo || weights[i] > hi) {
      return "conv_pack: weight " + std::to_string(i) + " = " + std::to_string(weights[i]) + " is outside the " +
             std::to_string(weight_bits) + "-bit range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    }
  }
  for (int32_t c = 0; c < s.out_c; ++c) {
    if (!std::isfinite(multiplier[c])) return "conv_pack: multiplier " + std::to_string(c) + " is not finite";
  }
  auto storage = std::make_shared<AlignedBuffer>(plan.total);
  uint8_t* blob = static_cast<uint8_t*>(storage->data());
  const ConvBlobHeader header = make_conv_header(s, isa, weight_bits, input_zero_point, plan);
  std::memcpy(blob, &header, sizeof(header));
  error = write_sections(s, plan, weights, input_zero_point, bias, multiplier, isa, blob);
  if (!error.empty()) return "conv_pack: " + error;
  // The same validation a blob from a file gets: pack and view cannot drift apart.
  error = conv_view(blob, plan.total, storage, isa, out);
  return error.empty() ? std::string() : "conv_pack: " + error;
}

std::string conv_run(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                     const RequantParams& params, TaskRunner* runner) {
  if (input == nullptr || output == nullptr) return "conv_run: null argument";
  if (cv.blob.empty() || cv.zero.empty()) return "conv_run: the convolution was not packed";
  RequantParams p = params;
  p.multiplier = cv.multiplier.data();
  if (p.residual != nullptr && p.residual_stride < static_cast<size_t>(cv.shape.out_c)) {
    return "conv_run: residual stride is smaller than the output channels";
  }
  if (p.qmin < 0 || p.qmax > 255 || p.qmin > p.qmax || p.zero_point < 0 || p.zero_point > 255) {
    return "conv_run: output clamp and zero point must lie in [0, 255]";
  }
  switch (cv.path) {
    case ConvPath::depthwise: return run_depthwise(cv, ws, input, output, p, runner);
    case ConvPath::gemm_1x1: return run_gemm_1x1(cv, input, output, p, runner);
    case ConvPath::igemm: return run_igemm(cv, ws, input, output, p, runner);
    case ConvPath::first_layer: return run_first_layer(cv, ws, input, output, p, runner);
    case ConvPath::reference:
      return conv_ref(cv.shape, input, cv.input_zero_point, cv.weights.data(), cv.bias.data(), p, output);
  }
  return "conv_run: unknown path";
}

size_t conv_workspace_bytes(const PackedConv& cv) {
  const ConvShape& s = cv.shape;
  const size_t pointers = sizeof(const uint8_t*);
  switch (cv.path) {
    case ConvPath::depthwise: return conv_indirection_size(s) * pointers;
    case ConvPath::igemm: return igemm_indirection_size(s, cv.gemm->mr) * pointers;
    case ConvPath::first_layer: {
      const size_t mr = cv.first_kernel != nullptr ? 1 : cv.gemm->mr;
      const size_t padded = static_cast<size_t>(s.batch) * (s.in_h + s.pad_top + s.pad_bottom) *
                                (s.in_w + s.pad_left + s.pad_right) * s.in_c + 64;
      return row_segment_indirection_size(s, mr) * pointers + padded;
    }
    case ConvPath::gemm_1x1:
    case ConvPath::reference: return 0;
  }
  return 0;
}

}  // namespace kiln::kernels
