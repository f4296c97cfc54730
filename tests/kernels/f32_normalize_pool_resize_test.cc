// Softmax, layer norm, reduce mean, pooling and resize: every ISA (where the kernel has ISA
// variants) against direct double-precision loops and hand-computed ONNX examples.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "f32_test_util.h"
#include "kiln/kernels/f32/normalize.h"
#include "kiln/kernels/f32/pool.h"
#include "kiln/kernels/f32/resize.h"

namespace kiln::kernels::f32 {
namespace {

using testing::expect_close;
using testing::random_floats;
using testing::runnable_isas;

TEST(F32Softmax, RowsAndStridedAxis) {
  for (size_t n : {size_t{1}, size_t{5}, size_t{16}, size_t{77}}) {
    for (size_t inner : {size_t{1}, size_t{3}}) {
      const size_t outer = 4;
      auto x = random_floats(outer * n * inner, 5 + n, -20.0f, 20.0f);
      x[0] = 80.0f;  // large logits must not overflow
      std::vector<double> want(x.size());
      for (size_t o = 0; o < outer; ++o)
        for (size_t i = 0; i < inner; ++i) {
          double m = -1e300, s = 0;
          for (size_t j = 0; j < n; ++j) m = std::max(m, double(x[(o * n + j) * inner + i]));
          for (size_t j = 0; j < n; ++j) s += std::exp(x[(o * n + j) * inner + i] - m);
          for (size_t j = 0; j < n; ++j) want[(o * n + j) * inner + i] = std::exp(x[(o * n + j) * inner + i] - m) / s;
        }
      for (Isa isa : runnable_isas()) {
        std::vector<float> y(x.size());
        softmax(x.data(), y.data(), outer, n, inner, Exec{isa, nullptr});
        expect_close(y, want, 1e-7, 4e-6, testing::isa_label(isa) + " softmax n=" + std::to_string(n));
      }
    }
  }
}

TEST(F32LayerNorm, WithAndWithoutAffine) {
  for (size_t n : {size_t{3}, size_t{16}, size_t{67}}) {
    const size_t rows = 3;
    const auto x = random_floats(rows * n, 40 + n, -3.0f, 5.0f);
    const auto g = random_floats(n, 50 + n);
    const auto b = random_floats(n, 60 + n);
    for (bool affine : {false, true}) {
      std::vector<double> want(x.size());
      for (size_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; ++i) mean += x[r * n + i];
        mean /= n;
        for (size_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
        var /= n;
        for (size_t i = 0; i < n; ++i) {
          double v = (x[r * n + i] - mean) / std::sqrt(var + 1e-5);
          want[r * n + i] = affine ? v * g[i] + b[i] : v;
        }
      }
      for (Isa isa : runnable_isas()) {
        std::vector<float> y(x.size());
        layer_norm(x.data(), affine ? g.data() : nullptr, affine ? b.data() : nullptr, y.data(), rows, n, 1e-5f,
                   Exec{isa, nullptr});
        expect_close(y, want, 2e-6, 2e-6, testing::isa_label(isa) + " layer_norm n=" + std::to_string(n));
      }
    }
  }
}

TEST(F32ReduceMean, MiddleAndLastAxis) {
  const size_t outer = 3, n = 7, inner = 5;
  const auto x = random_floats(outer * n * inner, 70);
  std::vector<double> want(outer * inner, 0.0);
  for (size_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < n; ++j)
      for (size_t i = 0; i < inner; ++i) want[o * inner + i] += x[(o * n + j) * inner + i] / double(n);
  std::vector<float> y(outer * inner);
  reduce_mean(x.data(), y.data(), outer, n, inner);
  expect_close(y, want, 1e-6, 1e-6, "reduce_mean inner");
  std::vector<float> y2(outer * n);
  reduce_mean(x.data(), y2.data(), outer * n, inner, 1);
  std::vector<double> want2(outer * n, 0.0);
  for (size_t r = 0; r < outer * n; ++r)
    for (size_t i = 0; i < inner; ++i) want2[r] += x[r * inner + i] / double(inner);
  expect_close(y2, want2, 1e-6, 1e-6, "reduce_mean last");
}

// ------------------------------------------------------------------ pooling

std::vector<double> pool_reference(const Pool2dParams& p, const std::vector<float>& x, bool max) {
  const size_t oh = p.out_h(), ow = p.out_w(), C = p.channels;
  std::vector<double> y(p.batch * oh * ow * C);
  for (size_t b = 0; b < p.batch; ++b)
    for (size_t r = 0; r < oh; ++r)
      for (size_t c = 0; c < ow; ++c)
        for (size_t ch = 0; ch < C; ++ch) {
          double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
          long count = 0, padded = 0;
          for (size_t kh = 0; kh < p.kernel_h; ++kh)
            for (size_t kw = 0; kw < p.kernel_w; ++kw) {
              const long ih = long(r * p.stride_h + kh * p.dilation_h) - long(p.pad_top);
              const long iw = long(c * p.stride_w + kw * p.dilation_w) - long(p.pad_left);
              const bool in_padded = ih < long(p.in_h + p.pad_bottom) && iw < long(p.in_w + p.pad_right);
              if (in_padded) ++padded;
              if (ih < 0 || iw < 0 || ih >= long(p.in_h) || iw >= long(p.in_w)) continue;
              const double v = x[((b * p.in_h + ih) * p.in_w + iw) * C + ch];
              acc = max ? std::max(acc, v) : acc + v;
              ++count;
            }
          if (!max) acc /= double(p.count_include_pad ? padded : count);
          y[((b * oh + r) * ow + c) * C + ch] = acc;
        }
  return y;
}

TEST(F32Pool, MaxAndAverageWithPadsCeilModeAndCountIncludePad) {
  struct Case {
    size_t h, w, k, stride, pad, dilation;
    bool ceil, include_pad;
  };
  const Case cases[] = {{8, 8, 3, 2, 1, 1, false, false},  // ResNet's max pool
                        {7, 7, 3, 2, 1, 1, true, false},  {7, 6, 3, 2, 1, 1, true, true},
                        {6, 6, 2, 2, 0, 1, false, false}, {5, 5, 3, 1, 1, 1, false, true},
                        {9, 8, 3, 2, 1, 2, true, false},  {5, 5, 2, 3, 0, 1, true, false}};
  uint32_t seed = 80;
  for (const Case& c : cases) {
    Pool2dParams p;
    p.batch = 2;
    p.in_h = c.h;
    p.in_w = c.w;
    p.channels = 19;
    p.kernel_h = p.kernel_w = c.k;
    p.stride_h = p.stride_w = c.stride;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = c.pad;
    p.dilation_h = p.dilation_w = c.dilation;
    p.ceil_mode = c.ceil;
    p.count_include_pad = c.include_pad;
    ASSERT_EQ(p.validate(), "");
    const auto x = random_floats(p.batch * p.in_h * p.in_w * p.channels, seed++);
    std::vector<float> y(p.batch * p.out_h() * p.out_w() * p.channels);
    ASSERT_EQ(max_pool2d(p, x.data(), y.data()), "");
    expect_close(y, pool_reference(p, x, true), 0, 0, "max_pool");
    if (c.dilation == 1) {
      ASSERT_EQ(avg_pool2d(p, x.data(), y.data()), "");
      expect_close(y, pool_reference(p, x, false), 1e-6, 1e-6, "avg_pool");
    } else {
      EXPECT_NE(avg_pool2d(p, x.data(), y.data()), "");
    }
  }
}

TEST(F32Pool, CeilModeOutputSizesFollowPyTorch) {
  Pool2dParams p;
  p.in_h = p.in_w = 5;
  p.channels = 1;
  p.kernel_h = p.kernel_w = 2;
  p.stride_h = p.stride_w = 2;
  p.ceil_mode = true;
  EXPECT_EQ(p.out_h(), 3u);  // floor would give 2
  p.in_h = 4;
  p.pad_top = p.pad_bottom = 1;
  EXPECT_EQ(p.out_h(), 3u);  // a 4th window would start in the end padding
  p.ceil_mode = false;
  EXPECT_EQ(p.out_h(), 3u);
}

TEST(F32Pool, GlobalAverage) {
  const size_t batch = 2, hw = 49, C = 21;
  const auto x = random_floats(batch * hw * C, 90);
  std::vector<float> y(batch * C);
  global_avg_pool(x.data(), y.data(), batch, hw, C);
  std::vector<double> want(batch * C, 0.0);
  for (size_t b = 0; b < batch; ++b)
    for (size_t i = 0; i < hw; ++i)
      for (size_t c = 0; c < C; ++c) want[b * C + c] += x[(b * hw + i) * C + c] / double(hw);
  expect_close(y, want, 1e-6, 1e-6, "global_avg_pool");
}

// ------------------------------------------------------------------ resize

std::vector<float> resize_1d(const std::vector<float>& in, size_t out_len, ResizeMode mode, ResizeCoord coord,
                             ResizeNearest nearest = ResizeNearest::round_prefer_floor, float scale = 0.0f) {
  Resize2dParams p;
  p.in_h = 1;
  p.in_w = in.size();
  p.channels = 1;
  p.out_h = 1;
  p.out_w = out_len;
  p.scale_w = scale;
  p.mode = mode;
  p.coord = coord;
  p.nearest = nearest;
  std::vector<float> out(out_len);
  EXPECT_EQ(resize2d(p, in.data(), out.data()), "");
  return out;
}

TEST(F32Resize, OnnxCoordinateAndNearestModes) {
  const std::vector<float> x = {1, 2, 3, 4};
  using V = std::vector<float>;
  // Upsample 2x, nearest, asymmetric + floor (Upsample-9 / PyTorch 'nearest').
  EXPECT_EQ(resize_1d(x, 8, ResizeMode::nearest, ResizeCoord::asymmetric, ResizeNearest::floor), (V{1, 1, 2, 2, 3, 3, 4, 4}));
  // half_pixel + round_prefer_floor: sources -0.25, 0.25, 0.75, 1.25, ... -> 0 0 1 1 2 2 3 3
  EXPECT_EQ(resize_1d(x, 8, ResizeMode::nearest, ResizeCoord::half_pixel), (V{1, 1, 2, 2, 3, 3, 4, 4}));
  // Downsample 4 -> 3 with align_corners: sources 0, 1.5, 3 -> floor-preferred 0, 1, 3; ceil-preferred 0, 2, 3
  EXPECT_EQ(resize_1d(x, 3, ResizeMode::nearest, ResizeCoord::align_corners), (V{1, 2, 4}));
  EXPECT_EQ(resize_1d(x, 3, ResizeMode::nearest, ResizeCoord::align_corners, ResizeNearest::round_prefer_ceil), (V{1, 3, 4}));
  EXPECT_EQ(resize_1d(x, 3, ResizeMode::nearest, ResizeCoord::align_corners, ResizeNearest::ceil), (V{1, 3, 4}));
  // Linear, align_corners: 4 -> 7 gives steps of 0.5.
  EXPECT_EQ(resize_1d(x, 7, ResizeMode::linear, ResizeCoord::align_corners), (V{1, 1.5f, 2, 2.5f, 3, 3.5f, 4}));
  // Linear, half_pixel 2x: sources clamp at the borders: 1, 1.25, 1.75, 2.25, ... 4
  EXPECT_EQ(resize_1d(x, 8, ResizeMode::linear, ResizeCoord::half_pixel), (V{1, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 4}));
  // pytorch_half_pixel with a single output takes source 0.
  EXPECT_EQ(resize_1d(x, 1, ResizeMode::linear, ResizeCoord::pytorch_half_pixel), (V{1}));
  // An explicit scale (ONNX 'scales' input) overrides out / in: asymmetric, scale 2 but only 3 outputs.
  EXPECT_EQ(resize_1d(x, 3, ResizeMode::linear, ResizeCoord::asymmetric, ResizeNearest::floor, 2.0f), (V{1, 1.5f, 2}));
}

TEST(F32Resize, BilinearNhwcAgainstDirectFormula) {
  Resize2dParams p;
  p.batch = 2;
  p.in_h = 3;
  p.in_w = 4;
  p.channels = 5;
  p.out_h = 7;
  p.out_w = 6;
  p.mode = ResizeMode::linear;
  p.coord = ResizeCoord::pytorch_half_pixel;
  const auto x = random_floats(p.batch * p.in_h * p.in_w * p.channels, 95);
  std::vector<float> y(p.batch * p.out_h * p.out_w * p.channels);
  testing::TestRunner runner(2);
  ASSERT_EQ(resize2d(p, x.data(), y.data(), Exec{default_isa(), &runner}), "");
  std::vector<double> want(y.size());
  auto src = [](size_t o, size_t in, size_t out) {
    double c = (o + 0.5) * double(in) / double(out) - 0.5;
    return std::min(std::max(c, 0.0), double(in - 1));
  };
  for (size_t b = 0; b < p.batch; ++b)
    for (size_t r = 0; r < p.out_h; ++r)
      for (size_t c = 0; c < p.out_w; ++c)
        for (size_t ch = 0; ch < p.channels; ++ch) {
          const double sy = src(r, p.in_h, p.out_h), sx = src(c, p.in_w, p.out_w);
          const size_t y0 = size_t(sy), x0 = size_t(sx);
          const size_t y1 = std::min(y0 + 1, p.in_h - 1), x1 = std::min(x0 + 1, p.in_w - 1);
          const double fy = sy - y0, fx = sx - x0;
          auto at = [&](size_t yy, size_t xx) { return double(x[((b * p.in_h + yy) * p.in_w + xx) * p.channels + ch]); };
          want[((b * p.out_h + r) * p.out_w + c) * p.channels + ch] =
              (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        }
  expect_close(y, want, 1e-6, 1e-6, "bilinear");
}

}  // namespace
}  // namespace kiln::kernels::f32
