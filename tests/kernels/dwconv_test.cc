// The depthwise path on every ISA against conv_ref, exactly: channel counts around every tile
// width (16/32/64) and their tails, 3x3 and 5x5, strides 1 and 2, asymmetric padding, every
// epilogue, extreme operands, batch > 1 and the task split.
#include <gtest/gtest.h>

#include "conv_test_util.h"

namespace kiln::kernels::testing {
namespace {

ConvShape dw(int h, int w, int c, int k, int stride, int pt, int pl, int pb, int pr) {
  ConvShape s;
  s.in_h = h, s.in_w = w, s.in_c = c, s.out_c = c, s.groups = c;
  s.kernel_h = k, s.kernel_w = k, s.stride_h = stride, s.stride_w = stride;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr;
  return s;
}

TEST(DwConv, ChannelTailsEveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 100;
    for (int c : {1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 97, 144}) {
      ConvCase tc;
      tc.shape = dw(5, 6, c, 3, 1, 1, 1, 1, 1);
      tc.seed = seed++;
      EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise);
    }
  }
}

TEST(DwConv, GeometryEveryIsa) {
  struct G {
    int h, w, k, stride, pt, pl, pb, pr;
  };
  const G geos[] = {
      {7, 9, 3, 1, 1, 1, 1, 1}, {7, 9, 3, 2, 1, 1, 1, 1}, {8, 8, 3, 2, 0, 1, 1, 0}, {6, 5, 3, 1, 0, 0, 2, 2},
      {9, 7, 5, 1, 2, 2, 2, 2}, {9, 10, 5, 2, 2, 1, 0, 2}, {5, 5, 5, 1, 4, 0, 1, 3}, {3, 3, 3, 1, 0, 0, 0, 0},
      {1, 1, 3, 1, 1, 1, 1, 1}, {4, 7, 5, 2, 1, 3, 4, 0}, {6, 6, 2, 1, 1, 0, 0, 1}, {5, 4, 1, 2, 0, 0, 0, 0},
  };
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 200;
    for (const G& g : geos) {
      for (int c : {24, 67}) {
        ConvCase tc;
        tc.shape = dw(g.h, g.w, c, g.k, g.stride, g.pt, g.pl, g.pb, g.pr);
        tc.seed = seed++;
        tc.input_zero_point = static_cast<int32_t>(seed * 53 % 256);
        EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise);
      }
    }
  }
}

TEST(DwConv, EpiloguesAndExtremesEveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 300;
    for (Epilogue e : {Epilogue::plain, Epilogue::relu6_clamp, Epilogue::hardswish, Epilogue::residual,
                       Epilogue::residual_hardswish}) {
      for (Values v : {Values::random, Values::max_pos, Values::max_neg, Values::alternate}) {
        for (int k : {3, 5}) {
          for (int32_t za : {0, 255}) {
            ConvCase tc;
            tc.shape = dw(6, 7, 72, k, 1 + (k == 5), k / 2, k / 2, k / 2, k / 2);
            tc.epilogue = e;
            tc.values = v;
            tc.input_zero_point = za;
            tc.output_zero_point = za == 0 ? 0 : 128;
            tc.seed = seed++;
            EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise);
          }
        }
      }
      ConvCase ties;
      ties.shape = dw(5, 5, 40, 3, 1, 1, 1, 1, 1);
      ties.epilogue = e;
      ties.tie_multipliers = true;
      ties.seed = seed++;
      EXPECT_EQ(expect_matches_reference(ties, isa), ConvPath::depthwise);
    }
  }
}

TEST(DwConv, BatchThreadsAndInt4EveryIsa) {
  for (Isa isa : runnable_isas()) {
    ConvCase tc;
    tc.shape = dw(9, 6, 50, 3, 2, 1, 1, 1, 1);
    tc.shape.batch = 3;
    tc.epilogue = Epilogue::residual;
    tc.seed = 400;
    EXPECT_EQ(expect_matches_reference(tc, isa, /*threaded=*/true), ConvPath::depthwise);
    tc.weight_bits = 4;
    tc.seed = 401;
    EXPECT_EQ(expect_matches_reference(tc, isa, /*threaded=*/true), ConvPath::depthwise);
  }
}

// The AVX2 row mode (3x3, horizontal stride 1) sweeps output rows in strips of up to 64 pixels:
// row widths around the strip size and tiny ones, vertical stride 2, batches and the task split
// (tasks start on whole rows), a residual on the threaded run. Every ISA runs the same cases.
TEST(DwConv, RowWidthsAndStripsEveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 500;
    for (int w : {1, 2, 3, 4, 5, 63, 64, 65, 66, 67, 130}) {
      ConvCase tc;
      tc.shape = dw(3, w, 40, 3, 1, 1, 1, 1, 1);
      tc.seed = seed++;
      EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise) << w;
    }
    ConvCase tc;
    tc.shape = dw(7, 66, 33, 3, 1, 0, 1, 2, 0);
    tc.shape.stride_h = 2;
    tc.shape.batch = 2;
    tc.epilogue = Epilogue::residual;
    tc.seed = seed++;
    EXPECT_EQ(expect_matches_reference(tc, isa, /*threaded=*/true), ConvPath::depthwise);
  }
}

// Full 64-channel tiles and a tail of 16, 8 or 40 channels along rows of every width up to 8 and a
// few longer ones, 3x3 and 5x5 at horizontal strides 1 and 2 (the VNNI row sweeps: the 3x3 asm's entry,
// three-column rotation and stride-2 pair end at every phase, the 5x5's five- and three-set
// rotations; tails four rows at a time, then a pair and one), with each epilogue that takes the
// asm (plain, clamp, hardswish) and one that does not.
TEST(DwConv, FullTileRowSweepsEveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 600;
    for (int k : {3, 5}) {
    for (int stride : {1, 2}) {
      for (int w : {1, 2, 3, 4, 5, 6, 7, 8, 13, 28, 57}) {
        for (Epilogue e : {Epilogue::plain, Epilogue::relu6_clamp, Epilogue::hardswish, Epilogue::residual}) {
          ConvCase tc;
          const int channels[4] = {144, 72, 104, 208};  // tails of 16, 8, 40, 16 channels
          tc.shape = dw(7, w, channels[w % 4], k, 1, k / 2, k / 2, k / 2, k / 2);
          tc.shape.stride_w = stride;
          tc.epilogue = e;
          tc.seed = seed++;
          EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise) << tc.describe();
        }
      }
    }
    }
  }
}

// The asm sweeps under the task split (whole rows per task, so four-row tails break up at task
// ends) and batches: plain and hardswish epilogues, both strides, 3x3 and 5x5.
TEST(DwConv, RowSweepsThreadedBatchesEveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 800;
    for (int k : {3, 5}) {
      for (int stride : {1, 2}) {
        for (Epilogue e : {Epilogue::plain, Epilogue::hardswish}) {
          ConvCase tc;
          tc.shape = dw(11, 13, 144, k, stride, k / 2, k / 2, k / 2, k / 2);
          tc.shape.batch = 2;
          tc.epilogue = e;
          tc.seed = seed++;
          EXPECT_EQ(expect_matches_reference(tc, isa, /*threaded=*/true), ConvPath::depthwise) << tc.describe();
        }
      }
    }
  }
}

// Multipliers so large that accumulator * multiplier leaves int32: every code must clamp to qmin
// or qmax as the reference does (the VNNI asm sweep declines such tiles), also with saturated
// operands.
TEST(DwConv, ProductsBeyondInt32EveryIsa) {
  for (Isa isa : runnable_isas()) {
    uint32_t seed = 700;
    for (float scale : {1e4f, 1e7f}) {
      for (Values v : {Values::random, Values::max_pos, Values::max_neg}) {
        for (int stride : {1, 2}) {
          ConvCase tc;
          tc.shape = dw(5, 9, 136, 3, stride, 1, 1, 1, 1);
          tc.epilogue = stride == 1 ? Epilogue::plain : Epilogue::hardswish;
          tc.values = v;
          tc.multiplier_scale = scale;
          tc.seed = seed++;
          EXPECT_EQ(expect_matches_reference(tc, isa), ConvPath::depthwise) << tc.describe();
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::kernels::testing
