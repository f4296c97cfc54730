// conv2d and conv_transpose2d: every ISA and path against direct double-precision loops over
// kernel sizes, strides, pads (asymmetric too), dilations, groups, depthwise, batch, residual and
// activations; threads give identical results; bad shapes are errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "f32_test_util.h"
#include "kiln/kernels/f32/conv.h"

namespace kiln::kernels::f32 {
namespace {

using testing::expect_close;
using testing::random_floats;
using testing::runnable_isas;

std::vector<double> conv_reference(const Conv2dParams& p, const std::vector<float>& x, const std::vector<float>& w,
                                   const std::vector<float>& bias, const std::vector<float>* residual, bool relu) {
  const size_t oh = p.out_h(), ow = p.out_w(), icpg = p.in_c / p.groups, ocpg = p.out_c / p.groups;
  std::vector<double> y(p.batch * oh * ow * p.out_c);
  for (size_t b = 0; b < p.batch; ++b)
    for (size_t r = 0; r < oh; ++r)
      for (size_t c = 0; c < ow; ++c)
        for (size_t o = 0; o < p.out_c; ++o) {
          const size_t g = o / ocpg;
          double s = bias[o];
          for (size_t i = 0; i < icpg; ++i)
            for (size_t kh = 0; kh < p.kernel_h; ++kh)
              for (size_t kw = 0; kw < p.kernel_w; ++kw) {
                const long ih = long(r * p.stride_h + kh * p.dilation_h) - long(p.pad_top);
                const long iw = long(c * p.stride_w + kw * p.dilation_w) - long(p.pad_left);
                if (ih < 0 || iw < 0 || ih >= long(p.in_h) || iw >= long(p.in_w)) continue;
                s += double(x[((b * p.in_h + ih) * p.in_w + iw) * p.in_c + g * icpg + i]) *
                     w[((o * icpg + i) * p.kernel_h + kh) * p.kernel_w + kw];
              }
          const size_t at = ((b * oh + r) * ow + c) * p.out_c + o;
          if (residual) s += (*residual)[at];
          y[at] = relu ? std::max(s, 0.0) : s;
        }
  return y;
}

Conv2dParams shape(size_t batch, size_t h, size_t w, size_t ic, size_t oc, size_t k, size_t stride, size_t pad,
                   size_t groups = 1, size_t dilation = 1) {
  Conv2dParams p;
  p.batch = batch;
  p.in_h = h;
  p.in_w = w;
  p.in_c = ic;
  p.out_c = oc;
  p.groups = groups;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.dilation_h = p.dilation_w = dilation;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  return p;
}

void run_case(const Conv2dParams& p, ConvPath expected_path, uint32_t seed) {
  const size_t icpg = p.in_c / p.groups;
  const auto x = random_floats(p.batch * p.in_h * p.in_w * p.in_c, seed);
  const auto w = random_floats(p.out_c * icpg * p.kernel_h * p.kernel_w, seed + 1);
  const auto bias = random_floats(p.out_c, seed + 2);
  const size_t ysize = p.batch * p.out_h() * p.out_w() * p.out_c;
  const auto residual = random_floats(ysize, seed + 3);
  for (bool with_residual : {false, true}) {
    const auto want = conv_reference(p, x, w, bias, with_residual ? &residual : nullptr, true);
    const double tol = 2e-6 * double(icpg * p.kernel_h * p.kernel_w + 4);
    for (Isa isa : runnable_isas()) {
      Conv2dPacked packed;
      ASSERT_EQ(conv2d_pack(p, w.data(), bias.data(), &packed, isa), "");
      EXPECT_EQ(packed.path, expected_path);
      std::vector<float> y(ysize, -7.0f);
      ASSERT_EQ(conv2d(p, packed, x.data(), y.data(), Activation::relu(), nullptr,
                       with_residual ? residual.data() : nullptr), "");
      const std::string what = testing::isa_label(isa) + " k" + std::to_string(p.kernel_h) + " s" +
                               std::to_string(p.stride_h) + " g" + std::to_string(p.groups) +
                               (with_residual ? " +residual" : "");
      expect_close(y, want, tol, 1e-5, what);
      if (with_residual) {  // the residual may be the output buffer itself
        std::vector<float> inplace = residual;
        ASSERT_EQ(conv2d(p, packed, x.data(), inplace.data(), Activation::relu(), nullptr, inplace.data()), "");
        expect_close(inplace, want, tol, 1e-5, what + " in place");
      }
    }
  }
}

TEST(F32Conv2d, PointwiseAsGemm) { run_case(shape(2, 5, 6, 19, 21, 1, 1, 0), ConvPath::gemm_1x1, 100); }
TEST(F32Conv2d, PointwiseStrided) { run_case(shape(1, 7, 7, 8, 33, 1, 2, 0), ConvPath::gemm_gather, 110); }
TEST(F32Conv2d, ThreeByThreePadded) { run_case(shape(1, 9, 8, 7, 17, 3, 1, 1), ConvPath::gemm_gather, 120); }
TEST(F32Conv2d, ThreeByThreeStride2) { run_case(shape(2, 9, 10, 16, 32, 3, 2, 1), ConvPath::gemm_gather, 130); }
TEST(F32Conv2d, SevenBySevenStemLike) { run_case(shape(1, 16, 15, 3, 16, 7, 2, 3), ConvPath::gemm_gather, 140); }
TEST(F32Conv2d, Dilated) { run_case(shape(1, 11, 9, 5, 6, 3, 1, 2, 1, 2), ConvPath::gemm_gather, 150); }
TEST(F32Conv2d, Grouped) { run_case(shape(1, 6, 7, 12, 18, 3, 1, 1, 3), ConvPath::gemm_gather, 160); }
TEST(F32Conv2d, DepthwiseMultiplier2) { run_case(shape(1, 6, 6, 4, 8, 3, 1, 1, 4), ConvPath::gemm_gather, 170); }
TEST(F32Conv2d, Depthwise3x3) { run_case(shape(2, 8, 9, 37, 37, 3, 1, 1, 37), ConvPath::depthwise, 180); }
TEST(F32Conv2d, Depthwise3x3Stride2) { run_case(shape(1, 9, 8, 24, 24, 3, 2, 1, 24), ConvPath::depthwise, 190); }
TEST(F32Conv2d, Depthwise5x5) { run_case(shape(1, 10, 7, 20, 20, 5, 1, 2, 20), ConvPath::depthwise, 200); }
TEST(F32Conv2d, DepthwiseGeneralDilated) { run_case(shape(1, 9, 9, 9, 9, 3, 2, 2, 9, 2), ConvPath::depthwise, 210); }

TEST(F32Conv2d, AsymmetricPadsAndRectangularKernel) {
  Conv2dParams p = shape(1, 7, 9, 6, 10, 1, 1, 0);
  p.kernel_h = 3;
  p.kernel_w = 2;
  p.pad_top = 0;
  p.pad_bottom = 2;
  p.pad_left = 1;
  p.pad_right = 0;
  p.stride_w = 2;
  run_case(p, ConvPath::gemm_gather, 220);
  p.groups = 2;
  p.in_c = p.out_c = 2;
  run_case(p, ConvPath::depthwise, 230);
}

TEST(F32Conv2d, FusedActivationsMatchRef) {
  const Conv2dParams shapes[] = {shape(1, 6, 6, 8, 12, 3, 1, 1), shape(1, 6, 6, 16, 16, 3, 1, 1, 16)};
  const Activation acts[] = {Activation::relu6(), Activation::hardswish(), Activation::leaky_relu(0.2f),
                             Activation::silu(), Activation::sigmoid()};
  for (const Conv2dParams& p : shapes) {
    const auto x = random_floats(p.in_h * p.in_w * p.in_c, 300, -3.0f, 3.0f);
    const auto w = random_floats(p.out_c * (p.in_c / p.groups) * 9, 301);
    const size_t ysize = p.out_h() * p.out_w() * p.out_c;
    for (const Activation& act : acts) {
      Conv2dPacked ref_w;
      ASSERT_EQ(conv2d_pack(p, w.data(), nullptr, &ref_w, Isa::ref), "");
      std::vector<float> want(ysize);
      ASSERT_EQ(conv2d(p, ref_w, x.data(), want.data(), act), "");
      for (Isa isa : runnable_isas()) {
        Conv2dPacked packed;
        ASSERT_EQ(conv2d_pack(p, w.data(), nullptr, &packed, isa), "");
        std::vector<float> y(ysize);
        ASSERT_EQ(conv2d(p, packed, x.data(), y.data(), act), "");
        expect_close(y, testing::to_double(want), 3e-5, 3e-5, testing::isa_label(isa));
      }
    }
  }
}

TEST(F32Conv2d, ThreadsGiveIdenticalResults) {
  testing::TestRunner runner(3);
  for (const Conv2dParams& p : {shape(2, 12, 12, 16, 40, 3, 1, 1), shape(2, 12, 12, 32, 32, 3, 1, 1, 32)}) {
    const auto x = random_floats(p.batch * p.in_h * p.in_w * p.in_c, 400);
    const auto w = random_floats(p.out_c * (p.in_c / p.groups) * 9, 401);
    for (Isa isa : runnable_isas()) {
      Conv2dPacked packed;
      ASSERT_EQ(conv2d_pack(p, w.data(), nullptr, &packed, isa), "");
      std::vector<float> one(p.batch * p.out_h() * p.out_w() * p.out_c), many(one.size());
      ASSERT_EQ(conv2d(p, packed, x.data(), one.data()), "");
      ASSERT_EQ(conv2d(p, packed, x.data(), many.data(), {}, &runner), "");
      EXPECT_EQ(one, many) << testing::isa_label(isa);
    }
  }
}

TEST(F32Conv2d, SpatialSizeAndBatchMayChangeAfterPacking) {
  const Conv2dParams packed_for = shape(1, 8, 8, 4, 8, 3, 1, 1);
  const auto w = random_floats(8 * 4 * 9, 500);
  Conv2dPacked packed;
  ASSERT_EQ(conv2d_pack(packed_for, w.data(), nullptr, &packed), "");
  const Conv2dParams p = shape(3, 5, 11, 4, 8, 3, 1, 1);
  const auto x = random_floats(p.batch * p.in_h * p.in_w * p.in_c, 501);
  std::vector<float> y(p.batch * p.out_h() * p.out_w() * p.out_c);
  ASSERT_EQ(conv2d(p, packed, x.data(), y.data()), "");
  std::vector<float> zero_bias(8, 0.0f);
  auto want = conv_reference(p, x, w, zero_bias, nullptr, false);
  expect_close(y, want, 1e-4, 1e-5, "resized");
}

TEST(F32Conv2d, BadShapesAreErrors) {
  const float w[64] = {};
  Conv2dPacked packed;
  EXPECT_NE(conv2d_pack(shape(1, 4, 4, 3, 4, 3, 1, 1, 2), w, nullptr, &packed), "");  // groups do not divide
  EXPECT_NE(conv2d_pack(shape(1, 2, 2, 1, 1, 5, 1, 0), w, nullptr, &packed), "");     // kernel larger than input
  EXPECT_NE(conv2d_pack(shape(1, 4, 4, 1, 1, 3, 0, 0), w, nullptr, &packed), "");     // stride 0
  ASSERT_EQ(conv2d_pack(shape(1, 4, 4, 1, 1, 3, 1, 1), w, nullptr, &packed), "");
  float x[16] = {}, y[16];
  EXPECT_NE(conv2d(shape(1, 4, 4, 1, 1, 3, 2, 1), packed, x, y), "");  // not the packed layer
  EXPECT_NE(conv2d(shape(1, 4, 4, 1, 1, 3, 1, 1), Conv2dPacked{}, x, y), "");
  EXPECT_EQ(conv2d(shape(1, 4, 4, 1, 1, 3, 1, 1), packed, x, y), "");
}

// ------------------------------------------------------------------ ConvTranspose

std::vector<double> deconv_reference(const ConvTranspose2dParams& p, const std::vector<float>& x,
                                     const std::vector<float>& w, const std::vector<float>& bias) {
  const size_t oh = p.out_h(), ow = p.out_w(), icpg = p.in_c / p.groups, ocpg = p.out_c / p.groups;
  std::vector<double> y(p.batch * oh * ow * p.out_c);
  for (size_t b = 0; b < p.batch; ++b)
    for (size_t r = 0; r < oh; ++r)
      for (size_t c = 0; c < ow; ++c)
        for (size_t o = 0; o < p.out_c; ++o) y[((b * oh + r) * ow + c) * p.out_c + o] = bias[o];
  for (size_t b = 0; b < p.batch; ++b)
    for (size_t ih = 0; ih < p.in_h; ++ih)
      for (size_t iw = 0; iw < p.in_w; ++iw)
        for (size_t ci = 0; ci < p.in_c; ++ci) {
          const size_t g = ci / icpg;
          for (size_t o = 0; o < ocpg; ++o)
            for (size_t kh = 0; kh < p.kernel_h; ++kh)
              for (size_t kw = 0; kw < p.kernel_w; ++kw) {
                const long r = long(ih * p.stride_h + kh * p.dilation_h) - long(p.pad_top);
                const long c = long(iw * p.stride_w + kw * p.dilation_w) - long(p.pad_left);
                if (r < 0 || c < 0 || r >= long(oh) || c >= long(ow)) continue;
                y[((b * oh + r) * ow + c) * p.out_c + g * ocpg + o] +=
                    double(x[((b * p.in_h + ih) * p.in_w + iw) * p.in_c + ci]) *
                    w[((ci * ocpg + o) * p.kernel_h + kh) * p.kernel_w + kw];
              }
        }
  return y;
}

TEST(F32ConvTranspose2d, StridesPadsOutputPaddingGroups) {
  struct Case {
    size_t batch, h, w, ic, oc, groups, k, stride, pad, out_pad, dilation;
  };
  const Case cases[] = {{1, 4, 5, 6, 7, 1, 2, 2, 0, 0, 1},  // UNet up-sampling
                        {2, 3, 4, 5, 9, 1, 3, 2, 1, 1, 1},
                        {1, 5, 4, 4, 6, 2, 3, 1, 1, 0, 1},
                        {1, 3, 3, 3, 2, 1, 3, 3, 2, 2, 2}};
  uint32_t seed = 600;
  for (const Case& c : cases) {
    ConvTranspose2dParams p;
    p.batch = c.batch;
    p.in_h = c.h;
    p.in_w = c.w;
    p.in_c = c.ic;
    p.out_c = c.oc;
    p.groups = c.groups;
    p.kernel_h = p.kernel_w = c.k;
    p.stride_h = p.stride_w = c.stride;
    p.pad_top = p.pad_left = c.pad;
    p.pad_bottom = p.pad_right = c.pad > 0 ? c.pad - 1 : 0;
    p.output_padding_h = p.output_padding_w = c.out_pad;
    p.dilation_h = p.dilation_w = c.dilation;
    ASSERT_EQ(p.validate(), "");
    const auto x = random_floats(p.batch * p.in_h * p.in_w * p.in_c, seed++);
    const auto w = random_floats(p.in_c * (p.out_c / p.groups) * c.k * c.k, seed++);
    const auto bias = random_floats(p.out_c, seed++);
    const auto want = deconv_reference(p, x, w, bias);
    for (Isa isa : runnable_isas()) {
      ConvTranspose2dPacked packed;
      ASSERT_EQ(conv_transpose2d_pack(p, w.data(), bias.data(), &packed, isa), "");
      std::vector<float> y(want.size(), -9.0f);
      testing::TestRunner runner(2);
      ASSERT_EQ(conv_transpose2d(p, packed, x.data(), y.data(), {}, &runner), "");
      expect_close(y, want, 1e-5, 1e-5, testing::isa_label(isa) + " deconv k" + std::to_string(c.k));
    }
  }
}

TEST(F32ConvTranspose2d, BadShapesAreErrors) {
  ConvTranspose2dParams p;
  p.in_h = p.in_w = 2;
  p.in_c = p.out_c = 1;
  p.kernel_h = p.kernel_w = 2;
  p.stride_h = p.stride_w = 2;
  p.output_padding_h = 2;  // not smaller than the stride
  EXPECT_NE(p.validate(), "");
  p.output_padding_h = 0;
  p.pad_top = p.pad_bottom = 3;  // removes the whole output
  EXPECT_NE(p.validate(), "");
  p.pad_top = p.pad_bottom = 0;
  EXPECT_EQ(p.validate(), "");
  EXPECT_EQ(p.out_h(), 4u);
}

}  // namespace
}  // namespace kiln::kernels::f32
