// The GEMM-based convolution paths (1x1, k x k igemm, grouped, first layer) on every ISA, int8
// and int4 weights, against conv_ref exactly: output-channel counts around nr and its tails,
// pixel counts around mr, strides 1 and 2, padding on each side, every epilogue, extremes.
#include <gtest/gtest.h>

#include "conv_test_util.h"

namespace kiln::kernels::testing {
namespace {

ConvShape conv(int h, int w, int cin, int cout, int kh, int kw, int stride, int pt, int pl, int pb, int pr,
               int groups = 1) {
  ConvShape s;
  s.in_h = h, s.in_w = w, s.in_c = cin, s.out_c = cout, s.groups = groups;
  s.kernel_h = kh, s.kernel_w = kw, s.stride_h = stride, s.stride_w = stride;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr;
  return s;
}

struct PathCase {
  ConvShape shape;
  ConvPath path;
};

const PathCase kCases[] = {
    // 1x1, stride 1 and 2; channel tails around nr (8/16/32) and K tails around kr/k_align.
    {conv(5, 7, 8, 16, 1, 1, 1, 0, 0, 0, 0), ConvPath::gemm_1x1},
    {conv(3, 5, 13, 33, 1, 1, 1, 0, 0, 0, 0), ConvPath::gemm_1x1},
    {conv(7, 9, 24, 17, 1, 1, 2, 0, 0, 0, 0), ConvPath::gemm_1x1},
    {conv(6, 6, 5, 40, 1, 1, 2, 0, 0, 0, 0), ConvPath::gemm_1x1},
    // k x k through the indirection buffer.
    {conv(6, 7, 16, 32, 3, 3, 1, 1, 1, 1, 1), ConvPath::igemm},
    {conv(7, 5, 9, 20, 3, 3, 2, 1, 0, 1, 2), ConvPath::igemm},
    {conv(8, 8, 12, 7, 3, 3, 2, 0, 1, 0, 1), ConvPath::igemm},
    {conv(9, 6, 6, 48, 5, 5, 1, 2, 2, 2, 2), ConvPath::igemm},
    {conv(5, 9, 11, 19, 3, 1, 1, 1, 0, 1, 0), ConvPath::igemm},
    {conv(4, 4, 33, 65, 2, 2, 1, 0, 1, 1, 0), ConvPath::igemm},
    // Grouped (1 < groups < channels), including 1x1 groups.
    {conv(6, 5, 8, 12, 3, 3, 1, 1, 1, 1, 1, 2), ConvPath::igemm},
    {conv(7, 7, 12, 20, 3, 3, 2, 1, 1, 0, 0, 4), ConvPath::igemm},
    {conv(5, 6, 6, 9, 1, 1, 1, 0, 0, 0, 0, 3), ConvPath::igemm},
    {conv(6, 6, 64, 64, 3, 3, 1, 1, 1, 1, 1, 32), ConvPath::igemm},
    // First layers: 1 and 3 input channels, patch rows as segments.
    {conv(17, 15, 3, 24, 7, 7, 2, 3, 3, 3, 3), ConvPath::first_layer},
    {conv(9, 10, 3, 16, 3, 3, 1, 1, 1, 1, 1), ConvPath::first_layer},
    {conv(11, 8, 1, 8, 3, 3, 2, 1, 0, 2, 1), ConvPath::first_layer},
    {conv(8, 9, 3, 35, 5, 5, 2, 2, 1, 0, 2), ConvPath::first_layer},
};

TEST(ConvGemmPaths, ShapesEveryIsaBothWidths) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 500;
    for (const PathCase& pc : kCases) {
      for (int bits : {8, 4}) {
        ConvCase tc;
        tc.shape = pc.shape;
        tc.weight_bits = bits;
        tc.seed = seed++;
        tc.input_zero_point = static_cast<int32_t>(seed * 29 % 256);
        EXPECT_EQ(expect_matches_reference(tc, isa), pc.path) << isa_name(isa) << " " << tc.describe();
      }
    }
  }
}

TEST(ConvGemmPaths, EpiloguesAndExtremesEveryIsa) {
  const ConvShape shapes[] = {conv(6, 5, 20, 24, 3, 3, 1, 1, 1, 1, 1), conv(7, 7, 3, 16, 7, 7, 2, 3, 3, 3, 3),
                              conv(5, 7, 40, 24, 1, 1, 2, 0, 0, 0, 0)};
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 700;
    for (const ConvShape& s : shapes) {
      for (Epilogue e : {Epilogue::plain, Epilogue::relu6_clamp, Epilogue::hardswish, Epilogue::residual,
                         Epilogue::residual_hardswish}) {
        for (Values v : {Values::random, Values::max_pos, Values::max_neg, Values::alternate}) {
          for (int bits : {8, 4}) {
            ConvCase tc;
            tc.shape = s;
            tc.epilogue = e;
            tc.values = v;
            tc.weight_bits = bits;
            tc.input_zero_point = v == Values::random ? 128 : 0;
            tc.seed = seed++;
            expect_matches_reference(tc, isa);
          }
        }
        ConvCase ties;
        ties.shape = s;
        ties.epilogue = e;
        ties.tie_multipliers = true;
        ties.seed = seed++;
        expect_matches_reference(ties, isa);
      }
    }
  }
}

TEST(ConvGemmPaths, BatchAndThreadsEveryIsa) {
  const ConvShape shapes[] = {conv(6, 5, 20, 24, 3, 3, 2, 1, 1, 1, 1), conv(9, 9, 3, 16, 7, 7, 2, 3, 3, 3, 3),
                              conv(5, 7, 16, 24, 1, 1, 2, 0, 0, 0, 0), conv(5, 7, 16, 24, 1, 1, 1, 0, 0, 0, 0),
                              conv(6, 6, 12, 12, 3, 3, 1, 1, 1, 1, 1, 3)};
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 900;
    for (ConvShape s : shapes) {
      s.batch = 2;
      ConvCase tc;
      tc.shape = s;
      tc.epilogue = Epilogue::residual;
      tc.seed = seed++;
      expect_matches_reference(tc, isa, /*threaded=*/true);
    }
  }
}

// A workspace used for two inputs in turn rebuilds its indirection buffer for each.
TEST(ConvGemmPaths, NewInputAddressRebuildsIndirection) {
  for (Isa isa : runnable_isas()) {
    ConvCase tc;
    tc.shape = conv(6, 6, 8, 8, 3, 3, 1, 1, 1, 1, 1);
    ConvOperands a, b;
    make_operands(tc, &a);
    tc.seed = 2;
    make_operands(tc, &b);
    PackedConv cv;
    ASSERT_EQ(conv_pack(tc.shape, a.weights.data(), 8, a.bias.data(), a.multiplier.data(), 128, isa, &cv), "");
    std::vector<uint8_t> out_a(6 * 6 * 8), out_b(6 * 6 * 8), again(6 * 6 * 8);
    ConvWorkspace ws;
    ASSERT_EQ(conv_run(cv, ws, a.input.data(), out_a.data(), a.params, nullptr), "");
    ASSERT_EQ(conv_run(cv, ws, b.input.data(), out_b.data(), a.params, nullptr), "");
    ASSERT_EQ(conv_run(cv, ws, a.input.data(), again.data(), a.params, nullptr), "");
    EXPECT_EQ(out_a, again) << isa_name(isa);
    EXPECT_NE(out_a, out_b) << isa_name(isa);
  }
}

}  // namespace
}  // namespace kiln::kernels::testing
