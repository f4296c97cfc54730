// The reference convolution against an independent formulation (explicitly zero-point-padded
// input, no bounds checks), its errors, and the indirection buffer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "conv_test_util.h"
#include "kiln/kernels/conv_ref.h"
#include "kiln/kernels/indirection.h"

namespace kiln::kernels::testing {
namespace {

std::vector<uint8_t> padded_formulation(const ConvCase& tc, const ConvOperands& ops) {
  const ConvShape& s = tc.shape;
  const int32_t ph = s.in_h + s.pad_top + s.pad_bottom, pw = s.in_w + s.pad_left + s.pad_right;
  std::vector<int32_t> padded(static_cast<size_t>(s.batch) * ph * pw * s.in_c, tc.input_zero_point);
  for (int32_t n = 0; n < s.batch; ++n)
    for (int32_t y = 0; y < s.in_h; ++y)
      for (int32_t x = 0; x < s.in_w; ++x)
        for (int32_t c = 0; c < s.in_c; ++c)
          padded[((static_cast<size_t>(n) * ph + y + s.pad_top) * pw + x + s.pad_left) * s.in_c + c] =
              ops.input[((static_cast<size_t>(n) * s.in_h + y) * s.in_w + x) * s.in_c + c];
  const int32_t oh = s.out_h(), ow = s.out_w(), gic = s.group_in_c(), goc = s.group_out_c();
  std::vector<uint8_t> out(static_cast<size_t>(s.batch) * oh * ow * s.out_c);
  size_t i = 0;
  for (int32_t n = 0; n < s.batch; ++n)
    for (int32_t oy = 0; oy < oh; ++oy)
      for (int32_t ox = 0; ox < ow; ++ox)
        for (int32_t oc = 0; oc < s.out_c; ++oc, ++i) {
          int64_t acc = ops.bias[oc];
          const int32_t g = oc / goc;
          for (int32_t ky = 0; ky < s.kernel_h; ++ky)
            for (int32_t kx = 0; kx < s.kernel_w; ++kx)
              for (int32_t ic = 0; ic < gic; ++ic) {
                const int32_t a = padded[((static_cast<size_t>(n) * ph + oy * s.stride_h + ky) * pw +
                                          ox * s.stride_w + kx) * s.in_c + g * gic + ic];
                acc += int64_t{a - tc.input_zero_point} *
                       ops.weights[((static_cast<size_t>(oc) * s.kernel_h + ky) * s.kernel_w + kx) * gic + ic];
              }
          const uint8_t r = ops.params.residual ? ops.residual[i] : uint8_t{0};
          out[i] = requantize(static_cast<int32_t>(acc), ops.multiplier[oc], r, ops.params);
        }
  return out;
}

ConvShape shape(int h, int w, int cin, int cout, int k, int stride, int pt, int pl, int pb, int pr, int groups) {
  ConvShape s;
  s.in_h = h, s.in_w = w, s.in_c = cin, s.out_c = cout, s.kernel_h = k, s.kernel_w = k;
  s.stride_h = stride, s.stride_w = stride;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr, s.groups = groups;
  return s;
}

TEST(ConvRef, MatchesPaddedFormulation) {
  const ConvShape shapes[] = {
      shape(5, 7, 3, 4, 3, 1, 1, 1, 1, 1, 1),  shape(6, 5, 4, 6, 3, 2, 0, 1, 2, 0, 2),
      shape(7, 7, 6, 6, 3, 2, 1, 0, 0, 2, 6),  shape(9, 8, 3, 5, 5, 2, 2, 1, 2, 3, 1),
      shape(4, 4, 8, 8, 1, 1, 0, 0, 0, 0, 4),  shape(3, 11, 2, 3, 2, 1, 1, 0, 0, 1, 1),
  };
  uint32_t seed = 1;
  for (ConvShape s : shapes) {
    for (int batch : {1, 2}) {
      s.batch = batch;
      for (Epilogue e : {Epilogue::plain, Epilogue::relu6_clamp, Epilogue::hardswish, Epilogue::residual}) {
        ConvCase tc;
        tc.shape = s;
        tc.epilogue = e;
        tc.seed = seed++;
        tc.input_zero_point = static_cast<int32_t>(seed * 37 % 256);
        ConvOperands ops;
        make_operands(tc, &ops);
        std::vector<uint8_t> got(static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.out_c);
        ASSERT_EQ(conv_ref(s, ops.input.data(), tc.input_zero_point, ops.weights.data(), ops.bias.data(), ops.params,
                           got.data()),
                  "");
        EXPECT_EQ(got, padded_formulation(tc, ops)) << tc.describe();
      }
    }
  }
}

TEST(ConvRef, RejectsUnsupportedShapes) {
  ConvShape s = shape(8, 8, 4, 4, 3, 1, 1, 1, 1, 1, 1);
  s.dilation_h = 2;
  const std::string dilation = conv_shape_error(s);
  EXPECT_NE(dilation.find("dilation"), std::string::npos) << dilation;
  EXPECT_NE(dilation.find("unsupported"), std::string::npos) << dilation;
  uint8_t dummy_in[256] = {}, dummy_out[256] = {};
  int8_t w[256] = {};
  int32_t b[8] = {};
  float m[8] = {};
  RequantParams p;
  p.multiplier = m;
  EXPECT_NE(conv_ref(s, dummy_in, 0, w, b, p, dummy_out), "");
  PackedConv conv;
  EXPECT_NE(conv_pack(s, w, 8, b, m, 0, Isa::ref, &conv), "");

  ConvShape g = shape(8, 8, 6, 4, 3, 1, 1, 1, 1, 1, 4);  // groups do not divide in_c
  EXPECT_NE(conv_shape_error(g), "");
  ConvShape big_pad = shape(8, 8, 4, 4, 3, 1, 3, 0, 0, 0, 1);
  EXPECT_NE(conv_shape_error(big_pad), "");
  ConvShape zero = shape(0, 8, 4, 4, 3, 1, 1, 1, 1, 1, 1);
  EXPECT_NE(conv_shape_error(zero), "");
  ConvShape ok = shape(8, 8, 4, 4, 3, 1, 1, 1, 1, 1, 1);
  EXPECT_EQ(conv_shape_error(ok), "");
  // Weights outside the declared bit width are refused, not wrapped.
  int8_t w4[4 * 9 * 4];
  for (auto& v : w4) v = 8;
  EXPECT_NE(conv_pack(ok, w4, 4, b, m, 0, Isa::ref, &conv), "");
  int8_t w8[4 * 9 * 4];
  for (auto& v : w8) v = -128;
  EXPECT_NE(conv_pack(ok, w8, 8, b, m, 0, Isa::ref, &conv), "");
}

TEST(Indirection, PointsAtTheTapInputOrTheZeroRow) {
  ConvShape s = shape(5, 6, 3, 3, 3, 2, 1, 2, 1, 0, 1);
  s.batch = 2;
  std::vector<uint8_t> input(static_cast<size_t>(s.batch) * s.in_h * s.in_w * s.in_c);
  const uint8_t zero[3] = {};
  std::vector<const uint8_t*> buf(conv_indirection_size(s));
  build_conv_indirection(s, input.data(), 3, zero, buf.data());
  size_t i = 0;
  for (int n = 0; n < s.batch; ++n)
    for (int oy = 0; oy < s.out_h(); ++oy)
      for (int ox = 0; ox < s.out_w(); ++ox)
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx, ++i) {
            const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 2 + kx;
            const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
            const uint8_t* want = inside ? input.data() + ((static_cast<size_t>(n) * s.in_h + iy) * s.in_w + ix) * 3 : zero;
            EXPECT_EQ(buf[i], want) << n << " " << oy << " " << ox << " " << ky << " " << kx;
          }
  EXPECT_EQ(i, buf.size());
}

}  // namespace
}  // namespace kiln::kernels::testing

namespace kiln::kernels::testing {
namespace {

// The lane's script names the ISA it expects to be tested (KILN_EXPECT_ISA): the conv suites must
// really run it, not silently fall back to fewer paths.
TEST(ConvIsas, ExpectedIsaIsExercised) {
  const char* expect = std::getenv("KILN_EXPECT_ISA");
  const std::vector<Isa> isas = runnable_isas();
  EXPECT_GE(isas.size(), 1u);
  if (expect == nullptr) GTEST_SKIP() << "KILN_EXPECT_ISA not set";
  Isa want;
  ASSERT_TRUE(parse_isa(expect, &want)) << expect;
  bool found = false;
  for (Isa isa : isas) found = found || isa == want;
  EXPECT_TRUE(found) << "KILN_EXPECT_ISA=" << expect << " is not among the ISAs the conv tests run";
}

}  // namespace
}  // namespace kiln::kernels::testing
