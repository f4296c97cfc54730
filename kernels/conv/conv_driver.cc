#include <algorithm>

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

bool isa_runs(Isa isa) {
  bool compiled = false;
  for (Isa c : compiled_isas()) compiled = compiled || c == isa;
  return compiled && cpu_supports(isa);
}

// Rows of output pixels per task: enough work per task to hide the scheduling, several tasks per
// thread for balance.
size_t rows_per_task(size_t rows, int threads) {
  if (threads <= 1) return rows;
  return std::max<size_t>(1, rows / (static_cast<size_t>(threads) * 4));
}

std::string run_depthwise(PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                          TaskRunner* runner) {
  const ConvShape& s = cv.shape;
  if (cv.indirection_input != input || cv.indirection.empty()) {
    cv.indirection.resize(conv_indirection_size(s));
    build_conv_indirection(s, input, static_cast<size_t>(s.in_c), cv.zero.data(), cv.indirection.data());
    cv.indirection_input = input;
  }
  const DwConvFn kernel = dwconv_for(cv.isa);
  const size_t ow = static_cast<size_t>(s.out_w()), taps = static_cast<size_t>(s.taps());
  const size_t rows = static_cast<size_t>(s.batch) * s.out_h();
  const size_t per_task = rows_per_task(rows, runner != nullptr ? runner->threads() : 1);
  const size_t tasks = (rows + per_task - 1) / per_task;
  parallel_for(runner, tasks, [&](size_t task) {
    const size_t r0 = task * per_task, r1 = std::min(rows, r0 + per_task);
    DwConvArgs a;
    a.channels = static_cast<size_t>(s.out_c);
    a.pixels = (r1 - r0) * ow;
    a.taps = taps;
    a.indirection = cv.indirection.data() + r0 * ow * taps;
    a.indirection_step = taps;
    a.packed = cv.packed.data();
    a.output = output + r0 * ow * a.channels;
    a.output_stride = a.channels;
    a.residual = p.residual != nullptr ? p.residual + r0 * ow * p.residual_stride : nullptr;
    a.residual_stride = p.residual_stride;
    kernel(a, p);
  });
  return {};
}

}  // namespace

std::string conv_pack(const ConvShape& s, const int8_t* weights, int weight_bits, const int32_t* bias,
                      const float* multiplier, int32_t input_zero_point, Isa isa, PackedConv* out) {
  if (out == nullptr || weights == nullptr || bias == nullptr || multiplier == nullptr) {
    return "conv_pack: null argument";
  }
  std::string error = conv_shape_error(s);
  if (!error.empty()) return error;
  if (weight_bits != 8 && weight_bits != 4) return "conv_pack: weights must be 8-bit or 4-bit";
  if (input_zero_point < 0 || input_zero_point > 255) return "conv_pack: input zero point must be in [0, 255]";
  if (!isa_runs(isa)) return "conv_pack: this build or CPU cannot run " + std::string(isa_name(isa)) + " kernels";
  const size_t count = static_cast<size_t>(s.out_c) * s.taps() * s.group_in_c();
  const int lo = weight_bits == 8 ? -127 : -8, hi = weight_bits == 8 ? 127 : 7;
  for (size_t i = 0; i < count; ++i) {
    if (weights[i] < lo || weights[i] > hi) {
      return "conv_pack: weight " + std::to_string(i) + " = " + std::to_string(weights[i]) + " is outside the " +
             std::to_string(weight_bits) + "-bit range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    }
  }
  PackedConv cv;
  cv.shape = s;
  cv.isa = isa;
  cv.weight_bits = weight_bits;
  cv.input_zero_point = input_zero_point;
  cv.multiplier.assign(multiplier, multiplier + s.out_c);
  cv.zero.assign(static_cast<size_t>(s.in_c) + 64, static_cast<uint8_t>(input_zero_point));
  if (s.is_depthwise()) {
    // OHWI with one input channel per group is [channel][tap] already.
    cv.path = ConvPath::depthwise;
    cv.packed.resize(dwconv_packed_size(isa, s.out_c, s.taps()));
    dwconv_pack(isa, s.out_c, s.taps(), weights, bias, multiplier, input_zero_point, cv.packed.data());
  } else if (conv_detail::pack_gemm_path(cv, weights, bias, &error)) {
    if (!error.empty()) return error;
  } else {
    cv.path = ConvPath::reference;
    cv.weights.assign(weights, weights + count);
    cv.bias.assign(bias, bias + s.out_c);
  }
  *out = std::move(cv);
  return {};
}

std::string conv_run(PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& params,
                     TaskRunner* runner) {
  if (input == nullptr || output == nullptr) return "conv_run: null argument";
  RequantParams p = params;
  p.multiplier = cv.multiplier.data();
  if (p.residual != nullptr && p.residual_stride < static_cast<size_t>(cv.shape.out_c)) {
    return "conv_run: residual stride is smaller than the output channels";
  }
  if (p.qmin < 0 || p.qmax > 255 || p.qmin > p.qmax || p.zero_point < 0 || p.zero_point > 255) {
    return "conv_run: output clamp and zero point must lie in [0, 255]";
  }
  switch (cv.path) {
    case ConvPath::depthwise: return run_depthwise(cv, input, output, p, runner);
    case ConvPath::gemm_1x1: return conv_detail::run_gemm_1x1(cv, input, output, p, runner);
    case ConvPath::igemm: return conv_detail::run_igemm(cv, input, output, p, runner);
    case ConvPath::first_layer: return conv_detail::run_first_layer(cv, input, output, p, runner);
    case ConvPath::reference:
      return conv_ref(cv.shape, input, cv.input_zero_point, cv.weights.data(), cv.bias.data(), p, output);
  }
  return "conv_run: unknown path";
}

}  // namespace kiln::kernels
