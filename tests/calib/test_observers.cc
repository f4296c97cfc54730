#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "kiln/calib/activation_observer.h"
#include "kiln/calib/ema_minmax_observer.h"
#include "kiln/calib/histogram_observer.h"

namespace kiln::calib {
namespace {

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The q-quantile of the values, by sorting (the reference for the histogram's percentile).
float quantile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

TEST(EmaMinMaxObserver, FollowsTheMovingAverageFormula) {
  EmaMinMaxObserver o(0.25f);
  const float b1[] = {-1.0f, 3.0f}, b2[] = {-5.0f, 1.0f, NAN}, b3[] = {NAN};
  o.observe(b1, 2);
  EXPECT_EQ(o.min(), -1.0f);
  EXPECT_EQ(o.max(), 3.0f);
  o.observe(b2, 3);
  EXPECT_FLOAT_EQ(o.min(), -1.0f + 0.25f * (-5.0f + 1.0f));
  EXPECT_FLOAT_EQ(o.max(), 3.0f + 0.25f * (1.0f - 3.0f));
  o.observe(b3, 1);  // nothing finite: no update
  EXPECT_EQ(o.batches(), 2u);
  EXPECT_EQ(o.non_finite(), 2u);
}

TEST(HistogramObserver, GrowingTheRangeMergesBinsExactly) {
  // Fed in three batches whose magnitudes force two doublings, the histogram must equal one built
  // with the final range from the start (a first value of exactly 4 R sets that range).
  const std::vector<float> a = gaussian(5000, 1.0f, 1);
  std::vector<float> b = gaussian(5000, 2.0f, 2), c = gaussian(5000, 3.0f, 3);
  float r = 0.0f;
  for (float x : a) r = std::max(r, std::fabs(x));
  b.push_back(1.9f * r);
  c.push_back(-3.7f * r);
  HistogramObserver grown(64);
  grown.observe(a.data(), a.size());
  grown.observe(b.data(), b.size());
  grown.observe(c.data(), c.size());
  EXPECT_DOUBLE_EQ(grown.half_range(), 4.0 * r);

  HistogramObserver direct(64);
  const float first = 4.0f * r;
  direct.observe(&first, 1);
  direct.observe(a.data(), a.size());
  direct.observe(b.data(), b.size());
  direct.observe(c.data(), c.size());
  std::vector<uint64_t> expect = direct.counts();
  expect.back() -= 1;  // the extra value 4 R
  EXPECT_EQ(grown.counts(), expect);
  EXPECT_EQ(grown.total(), 15002u);
  EXPECT_EQ(grown.min(), -3.7f * r);
}

TEST(HistogramObserver, ZerosBeforeTheRangeIsKnownAreKept) {
  HistogramObserver h(8);
  const float zeros[] = {0.0f, 0.0f, -0.0f}, ones[] = {1.0f, -1.0f, NAN};
  h.observe(zeros, 3);
  EXPECT_EQ(h.half_range(), 0.0);
  h.observe(ones, 3);
  EXPECT_EQ(h.counts()[8], 3u);   // bin [0, w)
  EXPECT_EQ(h.counts()[15], 1u);  // 1.0 = R falls in the last bin
  EXPECT_EQ(h.counts()[0], 1u);
  EXPECT_EQ(h.zeros(), 3u);
  EXPECT_EQ(h.non_finite(), 1u);
}

TEST(Percentile, MatchesSortedQuantilesWithinABin) {
  std::vector<float> v = gaussian(200000, 1.0f, 5);
  HistogramObserver h;
  for (size_t i = 0; i < v.size(); i += 10000) h.observe(v.data() + i, 10000);
  // Reference: the number of values beyond each end must be the tail's share, up to the values
  // that share the end's bin (the histogram cannot place the cut more finely than that).
  for (float pct : {99.0f, 99.9f, 99.99f}) {
    float lo = 0, hi = 0;
    std::string error;
    ASSERT_TRUE(percentile_range(h, pct, &lo, &hi, &error)) << error;
    const double tail = static_cast<double>(v.size()) * (100.0 - pct) / 200.0;
    const double w = h.bin_width();
    double below = 0, above = 0, near_lo = 0, near_hi = 0;
    for (float x : v) {
      below += x < lo;
      above += x > hi;
      near_lo += std::fabs(x - lo) <= w;
      near_hi += std::fabs(x - hi) <= w;
    }
    EXPECT_NEAR(below, tail, near_lo + 1) << pct;
    EXPECT_NEAR(above, tail, near_hi + 1) << pct;
    EXPECT_NEAR(lo, quantile(v, (100.0 - pct) / 200.0), 0.1) << pct;
  }
  float lo = 0, hi = 0;
  std::string error;
  ASSERT_TRUE(percentile_range(h, 100.0f, &lo, &hi, &error));
  EXPECT_EQ(lo, h.min());
  EXPECT_EQ(hi, h.max());
  EXPECT_FALSE(percentile_range(h, 0.0f, &lo, &hi, &error));
  HistogramObserver empty;
  EXPECT_FALSE(percentile_range(empty, 99.0f, &lo, &hi, &error));
}

TEST(KlDivergence, ClipsOutliersButNotAUniformDistribution) {
  std::mt19937 rng(9);
  // Uniform [0, 4]: every clip loses information, the threshold stays near the maximum.
  std::uniform_real_distribution<float> u(0.0f, 4.0f);
  std::vector<float> v(100000);
  for (float& x : v) x = u(rng);
  HistogramObserver h;
  h.observe(v.data(), v.size());
  float lo = 0, hi = 0;
  std::string error;
  ASSERT_TRUE(kl_range(h, 8, FusedActivation::none, &lo, &hi, &error)) << error;
  EXPECT_EQ(lo, 0.0f);
  EXPECT_GT(hi, 0.95f * h.max());
  // ReLU'd Gaussian plus outliers: the threshold lands at a few sigma. (With 2048 bins per side and
  // 2^bits levels the threshold cannot go below 2^bits bins: R / 8 at 8 bits, as in TensorRT.)
  std::vector<float> g = gaussian(100000, 1.0f, 10);
  for (float& x : g) x = std::max(x, 0.0f);
  g[0] = 30.0f;
  g[1] = 25.0f;
  HistogramObserver hg;
  hg.observe(g.data(), g.size());
  ASSERT_TRUE(kl_range(hg, 8, FusedActivation::relu, &lo, &hi, &error)) << error;
  EXPECT_EQ(lo, 0.0f);
  EXPECT_GE(hi, 30.0f / 8.0f);
  EXPECT_LT(hi, 10.0f);
  g[0] = 200.0f;
  HistogramObserver hg4;
  hg4.observe(g.data(), g.size());
  ASSERT_TRUE(kl_range(hg4, 4, FusedActivation::relu, &lo, &hi, &error)) << error;
  EXPECT_GT(hi, 1.5f);
  EXPECT_LT(hi, 10.0f);
  // Signed data: symmetric threshold, cut to the observed range.
  std::vector<float> s = gaussian(100000, 1.0f, 12);
  s[0] = -300.0f;
  HistogramObserver hs;
  hs.observe(s.data(), s.size());
  ASSERT_TRUE(kl_range(hs, 8, FusedActivation::none, &lo, &hi, &error)) << error;
  EXPECT_LT(lo, -2.0f);
  EXPECT_GT(lo, -30.0f);
  EXPECT_LE(hi, hs.max());
}

// Batches observed one by one after expect_magnitude(the largest |x| of all) bin exactly as one call
// over all of them (reconstruction observes its units' ranges in batches of 32 this way); without
// it R doubles as batches grow and the bins differ.
TEST(Histogram, BatchesAfterExpectMagnitudeEqualOneCall) {
  std::vector<float> v = gaussian(10000, 1.0f, 31);
  v[7000] = 9.5f;  // the largest magnitude arrives late
  v[123] = 0.0f;
  float absmax = 0.0f;
  for (float x : v) absmax = std::max(absmax, std::fabs(x));
  HistogramObserver all, batched, plain;
  all.observe(v.data(), v.size());
  batched.expect_magnitude(absmax);
  for (size_t s0 = 0; s0 < v.size(); s0 += 997) {
    const size_t n = std::min<size_t>(997, v.size() - s0);
    batched.observe(v.data() + s0, n);
    plain.observe(v.data() + s0, n);
  }
  EXPECT_EQ(batched.counts(), all.counts());
  EXPECT_EQ(batched.half_range(), all.half_range());
  EXPECT_EQ(batched.zeros(), all.zeros());
  EXPECT_EQ(batched.min(), all.min());
  EXPECT_EQ(batched.max(), all.max());
  EXPECT_NE(plain.half_range(), all.half_range());  // doubled from the first batch's range
  float lo_a = 0, hi_a = 0, lo_b = 0, hi_b = 0;
  std::string error;
  ASSERT_TRUE(lp_range(all, 4, FusedActivation::none, 2.0f, &lo_a, &hi_a, &error)) << error;
  ASSERT_TRUE(lp_range(batched, 4, FusedActivation::none, 2.0f, &lo_b, &hi_b, &error)) << error;
  EXPECT_EQ(lo_a, lo_b);
  EXPECT_EQ(hi_a, hi_b);
  // After values were seen, or with nothing to expect, it changes nothing.
  batched.expect_magnitude(100.0f);
  EXPECT_EQ(batched.half_range(), all.half_range());
}

// Values that become exactly 0 (zeros, and negatives under a fused ReLU) are a code at any threshold:
// they must not move the KL range. As a spike in the first bin they used to pull the threshold down
// to its floor of 2^bits bins (4-bit ReLU outputs clipped to R / 128, 10% top-1 on the demo models).
TEST(KlDivergence, ZerosAndClampedNegativesDoNotMoveTheThreshold) {
  std::vector<float> pos = gaussian(60000, 1.0f, 21);
  for (float& x : pos) x = std::fabs(x);
  pos[0] = 12.0f;  // R well above the bulk, so the floor of 16 bins (R / 128) is far below it
  std::vector<float> with_zeros = pos, with_negatives = pos;
  with_zeros.resize(3 * pos.size(), 0.0f);  // two thirds exact zeros
  std::vector<float> neg = gaussian(2 * pos.size(), 1.0f, 22);
  for (float x : neg) with_negatives.push_back(-std::fabs(x));
  std::string error;
  for (int bits : {8, 4}) {
    float lo = 0, hi = 0, lo_z = 0, hi_z = 0, lo_n = 0, hi_n = 0;
    HistogramObserver h, hz, hn;
    h.observe(pos.data(), pos.size());
    hz.observe(with_zeros.data(), with_zeros.size());
    hn.observe(with_negatives.data(), with_negatives.size());
    ASSERT_TRUE(kl_range(h, bits, FusedActivation::none, &lo, &hi, &error)) << error;
    ASSERT_TRUE(kl_range(hz, bits, FusedActivation::none, &lo_z, &hi_z, &error)) << error;
    ASSERT_TRUE(kl_range(hn, bits, FusedActivation::relu, &lo_n, &hi_n, &error)) << error;
    EXPECT_EQ(hi_z, hi) << bits << " bits";
    EXPECT_EQ(hi_n, hi) << bits << " bits";
    EXPECT_EQ(lo_z, 0.0f);
    EXPECT_EQ(lo_n, 0.0f);
    // A half-normal keeps most of its mass: the threshold sits at 1.5-5 sigma, not at R / 128.
    EXPECT_GT(hi, 1.5f) << bits << " bits";
    EXPECT_LT(hi, 5.0f) << bits << " bits";
    std::printf("KL threshold of a half-normal (sigma 1, R 12) at %d bits: %.3f\n", bits, hi);
  }
}

// The Lp search must find a range at least as good as min/max, measured on the raw values, and for a
// Gaussian at 4 bits clip at roughly 2-3.5 sigma (the known optimum is about 2.5-2.9 sigma).
TEST(LpSearch, BeatsMinMaxOnTheRawDataAndClipsGaussianTails) {
  const std::vector<float> v = gaussian(100000, 1.0f, 21);
  HistogramObserver h;
  h.observe(v.data(), v.size());
  std::string error;
  for (int bits : {8, 4}) {
    float lo = 0, hi = 0;
    ASSERT_TRUE(lp_range(h, bits, FusedActivation::none, 2.0f, &lo, &hi, &error)) << error;
    QuantParams searched, full;
    ASSERT_TRUE(choose_activation_params(lo, hi, bits, FusedActivation::none, &searched, &error));
    ASSERT_TRUE(choose_activation_params(h.min(), h.max(), bits, FusedActivation::none, &full, &error));
    EXPECT_LE(quantization_error(v.data(), v.size(), searched), quantization_error(v.data(), v.size(), full)) << bits;
    if (bits == 4) {
      EXPECT_GT(hi, 2.0f);
      EXPECT_LT(hi, 3.5f);
    }
  }
  // With a fused ReLU only the non-negative side counts and the lower end is 0.
  float lo = -1, hi = 0;
  ASSERT_TRUE(lp_range(h, 4, FusedActivation::relu, 2.0f, &lo, &hi, &error)) << error;
  EXPECT_EQ(lo, 0.0f);
  EXPECT_GT(hi, 1.5f);
}

TEST(ActivationObserver, EveryMethodGivesUsableParameters) {
  const std::vector<float> v = gaussian(20000, 2.0f, 33);
  for (const char* name : {"minmax", "ema", "percentile", "kl", "mse"}) {
    ActivationObserverOptions o;
    std::string error;
    ASSERT_TRUE(parse_range_method(name, &o.method, &error)) << error;
    EXPECT_STREQ(range_method_name(o.method), name);
    o.bits = 8;
    ActivationObserver obs(o);
    EXPECT_FALSE(obs.params(nullptr, &error));  // nothing observed yet
    for (size_t i = 0; i < v.size(); i += 1000) obs.observe(v.data() + i, 1000);
    QuantParams p;
    ASSERT_TRUE(obs.params(&p, &error)) << name << ": " << error;
    EXPECT_GT(p.scale, 0.0f);
    EXPECT_EQ(fake_quantize(0.0f, p), 0.0f);
    float lo = 0, hi = 0;
    ASSERT_TRUE(obs.range(&lo, &hi, &error));
    EXPECT_LT(lo, 0.0f);
    EXPECT_GT(hi, 0.0f);
    if (o.method == RangeMethod::minmax) {
      EXPECT_EQ(lo, *std::min_element(v.begin(), v.end()));
      EXPECT_EQ(hi, *std::max_element(v.begin(), v.end()));
    }
  }
  RangeMethod m;
  std::string error;
  EXPECT_FALSE(parse_range_method("median", &m, &error));
}

}  // namespace
}  // namespace kiln::calib
