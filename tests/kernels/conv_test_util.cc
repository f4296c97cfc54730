#include "conv_test_util.h"

#include <random>
#include <sstream>

#include "kiln/kernels/conv_ref.h"

namespace kiln::kernels::testing {

std::string ConvCase::describe() const {
  const ConvShape& s = shape;
  std::ostringstream o;
  o << "n" << s.batch << " " << s.in_h << "x" << s.in_w << "x" << s.in_c << " -> " << s.out_c << " k" << s.kernel_h
    << "x" << s.kernel_w << " s" << s.stride_h << "x" << s.stride_w << " pad(t" << s.pad_top << " l" << s.pad_left
    << " b" << s.pad_bottom << " r" << s.pad_right << ") g" << s.groups << " w" << weight_bits << " za"
    << input_zero_point << " zo" << output_zero_point << " epi" << static_cast<int>(epilogue) << " vals"
    << static_cast<int>(values) << (tie_multipliers ? " ties" : "") << " mscale" << multiplier_scale << " seed" << seed;
  return o.str();
}

void make_operands(const ConvCase& tc, ConvOperands* ops) {
  const ConvShape& s = tc.shape;
  std::mt19937 rng(tc.seed);
  const int wmax = tc.weight_bits == 8 ? 127 : 7;
  const int wmin = tc.weight_bits == 8 ? -127 : -8;
  const size_t in_size = static_cast<size_t>(s.batch) * s.in_h * s.in_w * s.in_c;
  const size_t w_size = static_cast<size_t>(s.out_c) * s.taps() * s.group_in_c();
  const size_t out_size = static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c;
  ops->input.resize(in_size);
  ops->weights.resize(w_size);
  for (size_t i = 0; i < in_size; ++i) {
    switch (tc.values) {
      case Values::random: ops->input[i] = static_cast<uint8_t>(rng()); break;
      case Values::max_pos:
      case Values::max_neg: ops->input[i] = 255; break;
      case Values::alternate: ops->input[i] = (i & 1) ? 0 : 255; break;
    }
  }
  std::uniform_int_distribution<int> wdist(wmin, wmax);
  for (size_t i = 0; i < w_size; ++i) {
    switch (tc.values) {
      case Values::random: ops->weights[i] = static_cast<int8_t>(wdist(rng)); break;
      case Values::max_pos: ops->weights[i] = static_cast<int8_t>(wmax); break;
      case Values::max_neg: ops->weights[i] = static_cast<int8_t>(wmin); break;
      case Values::alternate: ops->weights[i] = static_cast<int8_t>((i % 3) ? wmax : wmin); break;
    }
  }
  // Multipliers that map the accumulator's typical spread onto ~the output range, so both
  // clamps and the interior are hit; powers of two for the tie cases.
  const double k = static_cast<double>(s.taps()) * s.group_in_c();
  const double spread = 128.0 * wmax * std::sqrt(k) / 2.0 + 1.0;
  ops->bias.resize(s.out_c);
  ops->multiplier.resize(s.out_c);
  std::uniform_real_distribution<double> mdist(0.3, 3.0);
  std::uniform_int_distribution<int> bdist(-20000, 20000);
  for (int32_t c = 0; c < s.out_c; ++c) {
    ops->bias[c] = bdist(rng);
    if (tc.tie_multipliers) {
      ops->multiplier[c] = c % 2 ? 0.5f : 0.25f;
    } else {
      ops->multiplier[c] = static_cast<float>(mdist(rng) * 100.0 / spread);
    }
    ops->multiplier[c] *= tc.multiplier_scale;
    if (c % 3 == 2) ops->multiplier[c] = -ops->multiplier[c];  // signed weight grids: codes of -w
  }
  RequantParams& p = ops->params;
  p = RequantParams{};
  p.multiplier = ops->multiplier.data();
  p.zero_point = tc.output_zero_point;
  p.qmin = 0;
  p.qmax = 255;
  if (tc.epilogue == Epilogue::relu6_clamp) {
    p.qmin = tc.output_zero_point;
    p.qmax = std::min(255, tc.output_zero_point + 90);
  }
  if (tc.epilogue == Epilogue::hardswish || tc.epilogue == Epilogue::residual_hardswish) {
    p.activation = Activation::hardswish;
    p.out_scale = 0.05f;
    p.hardswish_multiplier = 1.0f / (6.0f * 0.05f);
  }
  if (tc.epilogue == Epilogue::residual || tc.epilogue == Epilogue::residual_hardswish) {
    ops->residual.resize(out_size);
    for (auto& r : ops->residual) r = static_cast<uint8_t>(rng());
    p.residual = ops->residual.data();
    p.residual_stride = static_cast<size_t>(s.out_c);
    p.residual_zero_point = 77;
    p.residual_multiplier = 0.75f;
  }
}

std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa isa : compiled_isas()) {
    if (cpu_supports(isa)) out.push_back(isa);
  }
  return out;
}

ConvPath expect_matches_reference(const ConvCase& tc, Isa isa, bool threaded) {
  ConvOperands ops;
  make_operands(tc, &ops);
  const ConvShape& s = tc.shape;
  const size_t out_size = static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c;
  std::vector<uint8_t> want(out_size, 0), got(out_size, 0);
  const std::string ref_error =
      conv_ref(s, ops.input.data(), tc.input_zero_point, ops.weights.data(), ops.bias.data(), ops.params, want.data());
  EXPECT_EQ(ref_error, "") << tc.describe();
  PackedConv conv;
  const std::string pack_error = conv_pack(s, ops.weights.data(), tc.weight_bits, ops.bias.data(),
                                           ops.multiplier.data(), tc.input_zero_point, isa, &conv);
  EXPECT_EQ(pack_error, "") << isa_name(isa) << " " << tc.describe();
  if (!pack_error.empty()) return ConvPath::reference;
  ReversedRunner runner;
  ConvWorkspace workspace;
  const std::string run_error = conv_run(conv, workspace, ops.input.data(), got.data(), ops.params, threaded ? &runner : nullptr);
  EXPECT_EQ(run_error, "") << isa_name(isa) << " " << tc.describe();
  size_t bad = 0;
  for (size_t i = 0; i < out_size && bad < 5; ++i) {
    if (got[i] != want[i]) {
      ++bad;
      ADD_FAILURE() << isa_name(isa) << " path " << conv_path_name(conv.path) << " " << tc.describe() << ": element "
                    << i << " (pixel " << i / s.out_c << ", channel " << i % s.out_c << ") got " << int{got[i]}
                    << " want " << int{want[i]};
    }
  }
  return conv.path;
}

}  // namespace kiln::kernels::testing
