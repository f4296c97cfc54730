// AdaRound and LSQ quantizers: initialisation, hard rounding, and gradients against finite
// differences; QDrop's element choice and the mask forward and backward share; the cosine-annealed
// activation step; fp16 target caching.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kiln/calib/recon/quantizers.h"
#include "kiln/calib/recon/reconstruct.h"
#include "kiln/calib/weight_quant.h"

namespace kiln::calib::recon {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// An activation quantizer's parameters: codes [qmin, qmax] with the zero point.
QuantParams act_params(float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  QuantParams p;
  p.scale = scale;
  p.zero_point = zero_point;
  p.qmin = qmin;
  p.qmax = qmax;
  return p;
}

AdaRoundQuantizer make_adaround(const std::vector<float>& w, size_t channels, int bits) {
  WeightQuantOptions o;
  o.bits = bits;
  std::vector<QuantParams> p;
  std::string err;
  EXPECT_TRUE(choose_weight_params_per_channel(w.data(), channels, w.size() / channels, o, &p, &err)) << err;
  AdaRoundQuantizer a;
  EXPECT_EQ(a.init(w.data(), channels, w.size() / channels, p), "");
  return a;
}

TEST(AdaRound, InitialSoftWeightsEqualFloatWeightsInRange) {
  const std::vector<float> w = random_vec(4 * 50, 1);
  AdaRoundQuantizer a = make_adaround(w, 4, 4);
  std::vector<float> soft(w.size());
  a.soft_weights(soft.data());
  size_t inside = 0;
  for (size_t c = 0; c < 4; ++c) {
    const QuantParams& p = a.params()[c];
    for (size_t k = 0; k < 50; ++k) {
      const size_t i = c * 50 + k;
      const float u = w[i] / p.scale;
      if (u > p.qmin && u < p.qmax) {
        EXPECT_NEAR(soft[i], w[i], 1e-5f * (1.0f + std::fabs(w[i]))) << i;
        ++inside;
      } else {  // clipped by the MSE range: the soft code is the clamp
        EXPECT_NEAR(soft[i] / p.scale, u < p.qmin ? p.qmin : p.qmax, 1e-4f);
      }
    }
  }
  EXPECT_GT(inside, 150u);
}

TEST(AdaRound, HardCodesStartAsNearestRounding) {
  const std::vector<float> w = random_vec(3 * 40, 2);
  for (int bits : {2, 4, 8}) {
    AdaRoundQuantizer a = make_adaround(w, 3, bits);
    std::vector<int8_t> codes(w.size());
    a.hard_codes(codes.data());
    std::vector<int8_t> nearest(w.size());
    quantize_weights(w.data(), 3, 40, a.params(), nearest.data());
    for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(codes[i], nearest[i]) << "bits " << bits << " element " << i;
    // Pushing V far up / down rounds every code up / down (within the clamp).
    for (float& v : a.v()) v = 10.0f;
    a.hard_codes(codes.data());
    for (size_t c = 0; c < 3; ++c)
      for (size_t k = 0; k < 40; ++k) {
        const QuantParams& p = a.params()[c];
        const int want = std::min<int>(p.qmax, std::max<int>(p.qmin, static_cast<int>(std::floor(w[c * 40 + k] / p.scale)) + 1));
        EXPECT_EQ(codes[c * 40 + k], want);
      }
  }
}

TEST(AdaRound, GradientOfSoftWeightsAndRegulariserMatchFiniteDifferences) {
  const std::vector<float> w = random_vec(2 * 30, 3);
  AdaRoundQuantizer a = make_adaround(w, 2, 4);
  // Move V into the unclipped region with some spread.
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  for (float& v : a.v()) v = d(rng);
  const std::vector<float> r = random_vec(w.size(), 5);
  const float lambda = 0.3f, beta = 3.0f;
  auto loss = [&] {
    std::vector<float> s(w.size());
    a.soft_weights(s.data());
    double l = 0.0;
    for (size_t i = 0; i < s.size(); ++i) l += static_cast<double>(s[i]) * r[i];
    return l + a.regularizer(lambda, beta, nullptr);
  };
  std::vector<float> g(w.size(), 0.0f);
  a.backward(r.data(), g.data());
  a.regularizer(lambda, beta, g.data());
  const float eps = 1e-3f;
  for (size_t i = 0; i < w.size(); ++i) {
    const float keep = a.v()[i];
    a.v()[i] = keep + eps;
    const double up = loss();
    a.v()[i] = keep - eps;
    const double down = loss();
    a.v()[i] = keep;
    const double fd = (up - down) / (2.0 * eps);
    // Skip probes that straddle a clamp of the soft code (non-differentiable there).
    std::vector<float> s(w.size());
    a.soft_weights(s.data());
    const QuantParams& p = a.params()[i / 30];
    const float code = s[i] / p.scale;
    if (std::fabs(code - p.qmin) < 0.05f || std::fabs(code - p.qmax) < 0.05f) continue;
    EXPECT_NEAR(fd, g[i], 2e-3 * (1.0 + std::fabs(g[i]))) << i;
  }
}

TEST(Lsq, ForwardIsRequantRounding) {
  LsqQuantizer q;
  const QuantParams p = act_params(0.1f, 3, 0, 15);
  q.init(p);
  const std::vector<float> x = random_vec(500, 6, -2.0f, 2.0f);
  std::vector<float> y(x.size());
  q.forward(x.data(), y.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], fake_quantize(x[i], p)) << x[i];
}

TEST(Lsq, GradientsAreTheStraightThroughEstimates) {
  LsqQuantizer q;
  const QuantParams p = act_params(0.05f, 10, 0, 255);
  q.init(p);
  // The quantizer is piecewise constant in x, so finite differences say nothing: LSQ defines the
  // gradient. d/dx is 1 inside the range and 0 outside; d/ds is round(u) - u inside, the clamp
  // bound outside, times 1 / sqrt(N qmax).
  std::vector<float> x = random_vec(300, 7, -1.0f, 13.0f);
  const std::vector<float> r = random_vec(x.size(), 8);
  std::vector<float> dx(x.size());
  double gs = 0.0;
  q.backward(x.data(), r.data(), dx.data(), x.size(), 1, &gs);  // N = 1, qmax 255: scale 1/sqrt(255)
  double want = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float u = x[i] / p.scale;
    const float lo = static_cast<float>(p.qmin - p.zero_point), hi = static_cast<float>(p.qmax - p.zero_point);
    want += r[i] * (u <= lo ? lo : u >= hi ? hi : std::nearbyint(u) - u);
    EXPECT_EQ(dx[i], (u > lo && u < hi) ? r[i] : 0.0f);
  }
  EXPECT_NEAR(gs, want / std::sqrt(255.0), 1e-4 * (1.0 + std::fabs(want)));
}

TEST(QDrop, DropsTheRequestedFractionDeterministically) {
  size_t kept = 0;
  for (uint64_t i = 0; i < 20000; ++i) kept += qdrop_keeps_float(42, 3, i, 0.5f) ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(kept) / 20000.0, 0.5, 0.02);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(qdrop_keeps_float(42, 3, i, 0.5f), qdrop_keeps_float(42, 3, i, 0.5f));
  size_t same = 0;
  for (uint64_t i = 0; i < 1000; ++i) same += qdrop_keeps_float(42, 3, i, 0.5f) == qdrop_keeps_float(42, 4, i, 0.5f);
  EXPECT_LT(same, 600u);  // another step draws another mask
  EXPECT_FALSE(qdrop_keeps_float(1, 1, 1, 0.0f));
  EXPECT_TRUE(qdrop_keeps_float(1, 1, 1, 1.0f));
}

TEST(QDrop, MaskFillMatchesTheElementChoices) {
  for (float p : {0.25f, 0.5f}) {
    const QDropSampler sampler(9, 17, p);
    std::vector<uint8_t> m(5000);
    sampler.fill(1000, m.size(), m.data());
    size_t kept = 0;
    for (size_t i = 0; i < m.size(); ++i) {
      ASSERT_EQ(m[i] != 0, sampler.keeps_float(static_cast<uint32_t>(1000 + i))) << i;
      ASSERT_EQ(m[i] != 0, qdrop_keeps_float(9, 17, static_cast<uint32_t>(1000 + i), p)) << i;
      kept += m[i];
    }
    EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(m.size()), p, 0.03) << p;
  }
}

TEST(Lsq, DroppedElementsPassUnquantizedWithAStraightGradient) {
  LsqQuantizer q;
  const QuantParams p = act_params(0.3f, 1, 0, 3);  // 2-bit codes: most elements clamp or round visibly
  q.init(p);
  const std::vector<float> x = random_vec(3000, 11, -1.5f, 2.0f);
  const std::vector<float> dy = random_vec(x.size(), 12);
  std::vector<uint8_t> keep(x.size());
  QDropSampler(3, 4, 0.5f).fill(0, keep.size(), keep.data());
  std::vector<float> y(x.size()), dx(x.size()), dx_all(x.size());
  q.forward(x.data(), y.data(), x.size(), keep.data());
  double gs = 0.0, gs_all = 0.0;
  q.backward(x.data(), dy.data(), dx.data(), x.size(), 100, &gs, keep.data());
  q.backward(x.data(), dy.data(), dx_all.data(), x.size(), 100, &gs_all);
  // The scale gradient of the kept-quantized elements alone: zero the dropped elements' dy.
  std::vector<float> dy_q = dy;
  for (size_t i = 0; i < x.size(); ++i) dy_q[i] = keep[i] ? 0.0f : dy[i];
  std::vector<float> unused(x.size());
  double gs_q = 0.0;
  q.backward(x.data(), dy_q.data(), unused.data(), x.size(), 100, &gs_q);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(y[i], keep[i] ? x[i] : fake_quantize(x[i], p)) << i;
    EXPECT_EQ(dx[i], keep[i] ? dy[i] : dx_all[i]) << i;
  }
  EXPECT_NEAR(gs, gs_q, 1e-6 * (1.0 + std::fabs(gs_q)));
  EXPECT_NE(gs, gs_all);
}

TEST(Recon, ActivationStepIsCosineAnnealed) {
  EXPECT_EQ(cosine_annealed(4e-4f, 0, 2000), 4e-4f);
  EXPECT_NEAR(cosine_annealed(4e-4f, 1000, 2000), 2e-4f, 1e-9f);
  EXPECT_LT(cosine_annealed(4e-4f, 1999, 2000), 1e-9f);
  EXPECT_GT(cosine_annealed(4e-4f, 500, 2000), cosine_annealed(4e-4f, 501, 2000));
  EXPECT_EQ(cosine_annealed(4e-4f, 0, 0), 4e-4f);
}

TEST(Half, RoundTripsAndRounds) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f}) {
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  }
  // Half spacing at 1 is 2^-10: ties go to the even mantissa.
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 1.0f / 2048.0f)), 1.0f);
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 3.0f / 2048.0f)), 1.0f + 2.0f / 1024.0f);
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 3.0f / 4096.0f)), 1.0f + 1.0f / 1024.0f);
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  const std::vector<float> x = random_vec(1000, 9, -100.0f, 100.0f);
  for (float v : x) EXPECT_NEAR(half_to_float(float_to_half(v)), v, std::fabs(v) / 2048.0f + 1e-7f);
}

}  // namespace
}  // namespace kiln::calib::recon
