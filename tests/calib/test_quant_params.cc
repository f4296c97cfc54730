#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/calib/quant_params.h"
#include "kiln/kernels/requant.h"

namespace kiln::calib {
namespace {

TEST(QuantParams, CodeRangesPerBitWidth) {
  int32_t lo = 0, hi = 0;
  std::string error;
  const int expect[][3] = {{8, -127, 127}, {7, -64, 63}, {4, -8, 7}, {3, -4, 3}, {2, -2, 1}};
  for (const auto& e : expect) {
    ASSERT_TRUE(weight_code_range(e[0], &lo, &hi, &error));
    EXPECT_EQ(lo, e[1]) << e[0];
    EXPECT_EQ(hi, e[2]) << e[0];
  }
  ASSERT_TRUE(activation_code_range(8, &lo, &hi, &error));
  EXPECT_EQ(hi, 255);
  ASSERT_TRUE(activation_code_range(4, &lo, &hi, &error));
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 15);
  EXPECT_FALSE(weight_code_range(1, &lo, &hi, &error));
  EXPECT_FALSE(activation_code_range(9, &lo, &hi, &error));
}

TEST(QuantParams, ActivationScaleAndZeroPoint) {
  QuantParams p;
  std::string error;
  ASSERT_TRUE(choose_activation_params(-1.0f, 1.0f, 8, FusedActivation::none, &p, &error));
  EXPECT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, static_cast<int32_t>(-std::nearbyint(-1.0f / (2.0f / 255.0f))));
  // Exact numbers: scale 7.5 / 15 = 0.5, zero point 0 - round(-3 / 0.5) = 6; and a tie, -2.5 / 1 -> -2.
  ASSERT_TRUE(choose_activation_params(-3.0f, 4.5f, 4, FusedActivation::none, &p, &error));
  EXPECT_EQ(p.scale, 0.5f);
  EXPECT_EQ(p.zero_point, 6);
  ASSERT_TRUE(choose_activation_params(-2.5f, 12.5f, 4, FusedActivation::none, &p, &error));
  EXPECT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 2);  // round_half_even(-2.5) = -2
  // The range is widened to contain 0.
  ASSERT_TRUE(choose_activation_params(2.0f, 5.0f, 8, FusedActivation::none, &p, &error));
  EXPECT_FLOAT_EQ(p.scale, 5.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  ASSERT_TRUE(choose_activation_params(-6.0f, -3.0f, 4, FusedActivation::none, &p, &error));
  EXPECT_FLOAT_EQ(p.scale, 6.0f / 15.0f);
  EXPECT_EQ(p.zero_point, 15);
  EXPECT_EQ(p.qmax, 15);
  // Ahead ReLU: only the non-negative part; ReLU6 also caps at 6.
  ASSERT_TRUE(choose_activation_params(-3.0f, 10.0f, 8, FusedActivation::relu, &p, &error));
  EXPECT_FLOAT_EQ(p.scale, 10.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  ASSERT_TRUE(choose_activation_params(-3.0f, 10.0f, 8, FusedActivation::relu6, &p, &error));
  EXPECT_FLOAT_EQ(p.scale, 6.0f / 255.0f);
  // A constant zero tensor still gets a finite, positive scale.
  ASSERT_TRUE(choose_activation_params(0.0f, 0.0f, 8, FusedActivation::none, &p, &error));
  EXPECT_EQ(p.scale, kMinScale);
  EXPECT_EQ(quantize_value(0.0f, p), p.zero_point);
  // Bad ranges.
  EXPECT_FALSE(choose_activation_params(1.0f, -1.0f, 8, FusedActivation::none, &p, &error));
  EXPECT_FALSE(choose_activation_params(NAN, 1.0f, 8, FusedActivation::none, &p, &error));
  EXPECT_FALSE(choose_activation_params(0.0f, INFINITY, 8, FusedActivation::none, &p, &error));
}

TEST(QuantParams, ZeroIsExactlyRepresentable) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-10.0f, 10.0f);
  for (int i = 0; i < 1000; ++i) {
    float a = u(rng), b = u(rng);
    if (a > b) std::swap(a, b);
    for (int bits : {8, 4}) {
      QuantParams p;
      std::string error;
      ASSERT_TRUE(choose_activation_params(a, b, bits, FusedActivation::none, &p, &error));
      EXPECT_GE(p.zero_point, p.qmin);
      EXPECT_LE(p.zero_point, p.qmax);
      EXPECT_EQ(fake_quantize(0.0f, p), 0.0f);
    }
  }
}

TEST(QuantParams, WeightScaleIsAbsmaxOverQmax) {
  QuantParams p;
  std::string error;
  ASSERT_TRUE(choose_weight_params(2.54f, 8, &p, &error));
  EXPECT_FLOAT_EQ(p.scale, 0.02f);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(quantize_value(-2.54f, p), -127);
  EXPECT_EQ(quantize_value(-9.0f, p), -127);  // never -128
  ASSERT_TRUE(choose_weight_params(1.0f, 2, &p, &error));
  EXPECT_EQ(p.qmin, -2);
  EXPECT_EQ(quantize_value(-1.6f, p), -2);
  EXPECT_FALSE(choose_weight_params(-1.0f, 8, &p, &error));
}

TEST(QuantParams, RoundsHalfToEvenAndClamps) {
  QuantParams p{0.5f, 3, 0, 15};
  EXPECT_EQ(quantize_value(1.25f, p), 2 + 3);   // 2.5 -> 2
  EXPECT_EQ(quantize_value(1.75f, p), 4 + 3);   // 3.5 -> 4
  EXPECT_EQ(quantize_value(-1.25f, p), -2 + 3); // -2.5 -> -2
  EXPECT_EQ(quantize_value(100.0f, p), 15);
  EXPECT_EQ(quantize_value(-100.0f, p), 0);
  EXPECT_EQ(quantize_value(NAN, p), 3);
  EXPECT_FLOAT_EQ(fake_quantize(1.3f, p), 1.5f);
}

// quantize_value applies requant.h's tail: for x = acc * multiplier with scale 1 both must agree on
// every input, including ties and values beyond the clamp.
TEST(QuantParams, AgreesWithTheKernelEpilogueSpecification) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> acc_dist(-300000, 300000);
  std::uniform_real_distribution<float> mult(1e-5f, 2e-3f);
  for (int i = 0; i < 20000; ++i) {
    const int32_t acc = i < 8 ? (i - 4) * 2 + 1 : acc_dist(rng);  // a few exact .5 ties with multiplier 0.5
    const float m = i < 8 ? 0.5f : mult(rng);
    kernels::RequantParams rp;
    rp.zero_point = static_cast<int32_t>(rng() % 256);
    rp.qmin = i % 3 == 0 ? 0 : static_cast<int32_t>(rng() % 16);
    rp.qmax = i % 2 == 0 ? 255 : 15 + static_cast<int32_t>(rng() % 200);
    if (rp.qmin > rp.qmax) std::swap(rp.qmin, rp.qmax);
    const QuantParams qp{1.0f, rp.zero_point, rp.qmin, rp.qmax};
    const float v = static_cast<float>(acc) * m;
    ASSERT_EQ(quantize_value(v, qp), static_cast<int32_t>(kernels::requantize(acc, m, 0, rp))) << acc << " * " << m;
  }
}

TEST(QuantParams, QuantizationErrorIsTheDirectSum) {
  const float x[] = {0.1f, -0.37f, 0.9f, 2.0f};
  QuantParams p{0.25f, 4, 0, 15};
  double expect = 0.0;
  for (float v : x) expect += std::pow(static_cast<double>(v) - static_cast<double>(fake_quantize(v, p)), 2.0);
  EXPECT_DOUBLE_EQ(quantization_error(x, 4, p), expect);
  double l1 = 0.0;
  for (float v : x) l1 += std::fabs(static_cast<double>(v) - static_cast<double>(fake_quantize(v, p)));
  EXPECT_NEAR(quantization_error(x, 4, p, 1.0f), l1, 1e-12);
}

}  // namespace
}  // namespace kiln::calib
