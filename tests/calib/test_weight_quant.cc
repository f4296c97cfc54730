#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/calib/weight_quant.h"

namespace kiln::calib {
namespace {

std::vector<float> random_weights(size_t channels, size_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(channels * k);
  for (size_t c = 0; c < channels; ++c) {
    const float s = 0.01f * static_cast<float>(c + 1);  // channel scales differ
    for (size_t i = 0; i < k; ++i) w[c * k + i] = s * d(rng);
  }
  w[3] = 0.5f;  // an outlier in channel 0
  return w;
}

TEST(WeightQuant, AbsmaxScalesPerChannel) {
  const size_t channels = 4, k = 27;
  const std::vector<float> w = random_weights(channels, k, 1);
  WeightQuantOptions o;
  o.method = WeightRangeMethod::absmax;
  std::vector<QuantParams> p;
  std::string error;
  ASSERT_TRUE(choose_weight_params_per_channel(w.data(), channels, k, o, &p, &error)) << error;
  for (size_t c = 0; c < channels; ++c) {
    float absmax = 0.0f;
    for (size_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(w[c * k + i]));
    EXPECT_FLOAT_EQ(p[c].scale, absmax / 127.0f);
    EXPECT_EQ(p[c].qmin, -127);
  }
}

// The MSE search equals a brute-force search over the same grid, done here directly (positive
// scales first, then below 8 bits the same grid negated; ties keep the earlier), and never does
// worse than absmax on any channel.
TEST(WeightQuant, MseSearchMatchesBruteForceAndBeatsAbsmax) {
  const size_t channels = 6, k = 72;
  const std::vector<float> w = random_weights(channels, k, 2);
  for (int bits : {8, 4, 3, 2}) {
    WeightQuantOptions o;
    o.bits = bits;
    o.grid = 50;
    std::vector<QuantParams> p;
    std::string error;
    ASSERT_TRUE(choose_weight_params_per_channel(w.data(), channels, k, o, &p, &error)) << error;
    for (size_t c = 0; c < channels; ++c) {
      const float* row = w.data() + c * k;
      float absmax = 0.0f;
      for (size_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(row[i]));
      QuantParams best;
      double best_err = INFINITY;
      for (int sign : {1, -1}) {
       if (sign == -1 && bits == 8) continue;  // 8-bit codes are symmetric: nothing to gain
       for (int g = o.grid; g >= 1; --g) {
        QuantParams q;
        ASSERT_TRUE(choose_weight_params(static_cast<float>(g) / static_cast<float>(o.grid) * absmax, bits, &q, &error));
        q.scale *= static_cast<float>(sign);
        double err = 0.0;
        for (size_t i = 0; i < k; ++i) {
          int32_t code = static_cast<int32_t>(std::nearbyint(row[i] / q.scale));
          code = std::min(std::max(code, q.qmin), q.qmax);
          const double e = static_cast<double>(row[i]) - static_cast<double>(code) * static_cast<double>(q.scale);
          err += e * e;
        }
        if (err < best_err) {
          best_err = err;
          best = q;
        }
       }
      }
      EXPECT_EQ(p[c].scale, best.scale) << "bits " << bits << " channel " << c;
      QuantParams full;
      ASSERT_TRUE(choose_weight_params(absmax, bits, &full, &error));
      EXPECT_LE(quantization_error(row, k, p[c]), quantization_error(row, k, full));
      // At 2 bits a Gaussian channel is clipped well inside its largest value.
      if (bits == 2 && c > 0) {
        EXPECT_LT(std::fabs(p[c].scale), full.scale);
      }
    }
  }
}

// Below 8 bits the code range has one more level under zero than above it. A channel whose large
// weights are positive is quantized with a negative scale (codes of -w): at 2 bits the levels
// become {-s, 0, s, 2s} instead of {-2s, -s, 0, s}, and the error drops.
TEST(WeightQuant, LopsidedCodeRangeFlipsTheSignOfPositiveHeavyChannels) {
  const std::vector<float> w = {1.0f, 0.52f, 0.49f, 0.0f, -0.1f, 0.0f, 0.02f, 0.5f, 0.01f,   // positive-heavy
                                -1.0f, -0.52f, -0.49f, 0.0f, 0.1f, 0.0f, -0.02f, -0.5f, -0.01f};  // its mirror
  WeightQuantOptions o;
  o.bits = 2;
  std::vector<QuantParams> p;
  std::string error;
  ASSERT_TRUE(choose_weight_params_per_channel(w.data(), 2, 9, o, &p, &error)) << error;
  EXPECT_LT(p[0].scale, 0.0f);
  EXPECT_GT(p[1].scale, 0.0f);
  EXPECT_FLOAT_EQ(p[0].scale, -p[1].scale);  // mirrored channels, mirrored grids
  EXPECT_DOUBLE_EQ(quantization_error(w.data(), 9, p[0]), quantization_error(w.data() + 9, 9, p[1]));
  // Against the best positive scale of the same grid: strictly better.
  double best_positive = INFINITY;
  for (int g = o.grid; g >= 1; --g) {
    QuantParams q;
    ASSERT_TRUE(choose_weight_params(static_cast<float>(g) / static_cast<float>(o.grid), 2, &q, &error));
    best_positive = std::min(best_positive, quantization_error(w.data(), 9, q));
  }
  EXPECT_LT(quantization_error(w.data(), 9, p[0]), 0.5 * best_positive);
  // The codes of the flipped channel stay in [-2, 1] and dequantize with the negative scale.
  std::vector<int8_t> codes(w.size());
  quantize_weights(w.data(), 2, 9, p, codes.data());
  EXPECT_EQ(codes[0], -2);
  EXPECT_EQ(codes[9], -2);
  // 8 bits: never flipped.
  o.bits = 8;
  ASSERT_TRUE(choose_weight_params_per_channel(w.data(), 2, 9, o, &p, &error)) << error;
  EXPECT_GT(p[0].scale, 0.0f);
  EXPECT_GT(p[1].scale, 0.0f);
}

TEST(WeightQuant, CodesStayInRangeAndFakeQuantMatchesCodes) {
  const size_t channels = 3, k = 40;
  const std::vector<float> w = random_weights(channels, k, 3);
  WeightQuantOptions o;
  o.bits = 4;
  std::vector<QuantParams> p;
  std::string error;
  ASSERT_TRUE(choose_weight_params_per_channel(w.data(), channels, k, o, &p, &error)) << error;
  std::vector<int8_t> codes(w.size());
  std::vector<float> fq(w.size());
  quantize_weights(w.data(), channels, k, p, codes.data());
  fake_quantize_weights(w.data(), channels, k, p, fq.data());
  for (size_t c = 0; c < channels; ++c) {
    for (size_t i = 0; i < k; ++i) {
      const int8_t q = codes[c * k + i];
      EXPECT_GE(q, -8);
      EXPECT_LE(q, 7);
      EXPECT_EQ(fq[c * k + i], static_cast<float>(q) * p[c].scale);
    }
  }
}

TEST(WeightQuant, RejectsNonFiniteWeightsAndBadBits) {
  std::vector<float> w = {0.1f, NAN, 0.3f, 0.4f};
  std::vector<QuantParams> p;
  std::string error;
  EXPECT_FALSE(choose_weight_params_per_channel(w.data(), 2, 2, {}, &p, &error));
  EXPECT_NE(error.find("channel 0"), std::string::npos) << error;
  w[1] = 0.2f;
  WeightQuantOptions o;
  o.bits = 9;
  EXPECT_FALSE(choose_weight_params_per_channel(w.data(), 2, 2, o, &p, &error));
  // An all-zero channel quantizes to zeros.
  std::vector<float> z(8, 0.0f);
  ASSERT_TRUE(choose_weight_params_per_channel(z.data(), 2, 4, {}, &p, &error)) << error;
  EXPECT_EQ(quantize_value(0.0f, p[1]), 0);
  WeightRangeMethod m;
  EXPECT_TRUE(parse_weight_range_method("mse", &m, &error));
  EXPECT_FALSE(parse_weight_range_method("kl", &m, &error));
}

}  // namespace
}  // namespace kiln::calib
