// Gradient checks (central finite differences) of the oneDNN fp32 layers reconstruction trains
// through: convolution (plain, strided, padded, grouped, depthwise), inner product, ReLU / clip /
// hardswish, max and average pooling. L = sum r * y for a fixed random r, so dL/dy = r.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kiln/calib/recon/dnnl_layers.h"

namespace kiln::calib::recon {
namespace {

// oneDNN on one thread unless a test asks for more: tiny layers on a busy machine run far faster
// without OpenMP's spin-waiting second thread.
class OneThread : public ::testing::Environment {
 public:
  void SetUp() override { set_compute_threads(1); }
};
const auto* const kOneThread = ::testing::AddGlobalTestEnvironment(new OneThread);

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Checks analytic gradient `grad` of loss(p) at p for `probes` coordinates.
void check_grad(std::vector<float>& p, const std::vector<float>& grad, const std::function<double()>& loss,
                const char* what, int probes = 24, float eps = 1e-2f) {
  ASSERT_EQ(p.size(), grad.size());
  std::mt19937 rng(7);
  double max_g = 0.0;
  for (float g : grad) max_g = std::max(max_g, std::fabs(static_cast<double>(g)));
  for (int t = 0; t < probes; ++t) {
    const size_t i = rng() % p.size();
    const float keep = p[i];
    p[i] = keep + eps;
    const double up = loss();
    p[i] = keep - eps;
    const double down = loss();
    p[i] = keep;
    const double fd = (up - down) / (2.0 * eps);
    EXPECT_NEAR(fd, grad[i], 2e-3 * (1.0 + max_g)) << what << " element " << i;
  }
}

struct ConvCase {
  ConvGeometry g;
  size_t n, h, w;
};

class ConvGrad : public ::testing::TestWithParam<int> {};

ConvCase conv_case(int k) {
  ConvCase c;
  c.n = 2;
  c.h = 7;
  c.w = 6;
  switch (k) {
    case 0:  // 3x3 pad 1
      c.g = {3, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
      break;
    case 1:  // strided 3x3, asymmetric pads
      c.g = {4, 6, 1, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0};
      break;
    case 2:  // grouped
      c.g = {4, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
      break;
    case 3:  // depthwise stride 2
      c.g = {8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
      break;
    default:  // 1x1 with dilation-free stride 2
      c.g = {6, 4, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0};
      break;
  }
  return c;
}

TEST_P(ConvGrad, MatchesFiniteDifferences) {
  const ConvCase c = conv_case(GetParam());
  ConvLayer layer;
  ASSERT_EQ(layer.init(c.g), "");
  const size_t oh = c.g.out_h(c.h), ow = c.g.out_w(c.w);
  std::vector<float> x = random_vec(c.n * c.h * c.w * c.g.in_c, 1);
  std::vector<float> w = random_vec(c.g.weight_elements(), 2);
  std::vector<float> b = random_vec(c.g.out_c, 3);
  std::vector<float> r = random_vec(c.n * oh * ow * c.g.out_c, 4);
  std::vector<float> y(r.size());
  auto loss = [&] {
    EXPECT_EQ(layer.forward(c.n, c.h, c.w, x.data(), w.data(), b.data(), y.data()), "");
    return dot(y, r);
  };
  std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
  ASSERT_EQ(layer.backward_data(c.n, c.h, c.w, r.data(), w.data(), dx.data()), "");
  ASSERT_EQ(layer.backward_weights(c.n, c.h, c.w, x.data(), r.data(), dw.data(), db.data()), "");
  check_grad(x, dx, loss, "dx");
  check_grad(w, dw, loss, "dw");
  check_grad(b, db, loss, "db", 4);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvGrad, ::testing::Range(0, 5));

TEST(ReconLayers, ConvForwardMatchesDirectSum) {
  const ConvCase c = conv_case(2);  // grouped: checks the weight layout (OIHW, groups) end to end
  ConvLayer layer;
  ASSERT_EQ(layer.init(c.g), "");
  const size_t oh = c.g.out_h(c.h), ow = c.g.out_w(c.w);
  std::vector<float> x = random_vec(c.n * c.h * c.w * c.g.in_c, 5), w = random_vec(c.g.weight_elements(), 6);
  std::vector<float> y(c.n * oh * ow * c.g.out_c);
  ASSERT_EQ(layer.forward(c.n, c.h, c.w, x.data(), w.data(), nullptr, y.data()), "");
  const size_t icg = c.g.in_c / c.g.groups, ocg = c.g.out_c / c.g.groups;
  for (size_t n = 0; n < c.n; ++n)
    for (size_t oy = 0; oy < oh; ++oy)
      for (size_t ox = 0; ox < ow; ++ox)
        for (size_t o = 0; o < c.g.out_c; ++o) {
          double s = 0.0;
          const size_t grp = o / ocg;
          for (size_t i = 0; i < icg; ++i)
            for (size_t ky = 0; ky < 3; ++ky)
              for (size_t kx = 0; kx < 3; ++kx) {
                const long iy = static_cast<long>(oy + ky) - 1, ix = static_cast<long>(ox + kx) - 1;
                if (iy < 0 || ix < 0 || iy >= static_cast<long>(c.h) || ix >= static_cast<long>(c.w)) continue;
                s += x[((n * c.h + iy) * c.w + ix) * c.g.in_c + grp * icg + i] * w[((o * icg + i) * 3 + ky) * 3 + kx];
              }
          EXPECT_NEAR(y[((n * oh + oy) * ow + ox) * c.g.out_c + o], s, 1e-4);
        }
}

TEST(ReconLayers, InnerProductGradients) {
  InnerProductLayer layer;
  ASSERT_EQ(layer.init(13, 7), "");
  const size_t m = 3;
  std::vector<float> x = random_vec(m * 13, 11), w = random_vec(7 * 13, 12), b = random_vec(7, 13);
  std::vector<float> r = random_vec(m * 7, 14), y(m * 7);
  auto loss = [&] {
    EXPECT_EQ(layer.forward(m, x.data(), w.data(), b.data(), y.data()), "");
    return dot(y, r);
  };
  std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
  ASSERT_EQ(layer.backward_data(m, r.data(), w.data(), dx.data()), "");
  ASSERT_EQ(layer.backward_weights(m, x.data(), r.data(), dw.data(), db.data()), "");
  check_grad(x, dx, loss, "dx");
  check_grad(w, dw, loss, "dw");
  check_grad(b, db, loss, "db", 4);
}

TEST(ReconLayers, EltwiseGradients) {
  const struct {
    EltwiseKind kind;
    float lo, hi;
  } cases[] = {{EltwiseKind::relu, 0, 0}, {EltwiseKind::clip, 0.0f, 6.0f}, {EltwiseKind::hardswish, 0, 0}};
  for (const auto& c : cases) {
    EltwiseLayer layer;
    layer.init(c.kind, c.lo, c.hi);
    // Values away from the kinks (|x| > eps from 0, 6, -3, 3) so finite differences are valid.
    std::vector<float> x = random_vec(257, 21, -8.0f, 8.0f);
    for (float& v : x) {
      for (float k : {0.0f, 6.0f, -3.0f, 3.0f}) {
        if (std::fabs(v - k) < 0.05f) v = k + 0.1f;
      }
    }
    std::vector<float> r = random_vec(x.size(), 22), y(x.size()), dx(x.size());
    auto loss = [&] {
      EXPECT_EQ(layer.forward(x.size(), x.data(), y.data()), "");
      return dot(y, r);
    };
    ASSERT_EQ(layer.backward(x.size(), x.data(), r.data(), dx.data()), "");
    check_grad(x, dx, loss, "eltwise dx", 40);
    // and the forward is the function it claims to be
    loss();
    for (size_t i = 0; i < x.size(); ++i) {
      float want = x[i] > 0 ? x[i] : 0.0f;
      if (c.kind == EltwiseKind::clip) want = std::fmin(std::fmax(x[i], c.lo), c.hi);
      if (c.kind == EltwiseKind::hardswish) want = x[i] * std::fmin(std::fmax(x[i] + 3.0f, 0.0f), 6.0f) / 6.0f;
      EXPECT_NEAR(y[i], want, 1e-5f * (1.0f + std::fabs(want)));
    }
  }
}

TEST(ReconLayers, PoolingGradients) {
  for (PoolKind kind : {PoolKind::max, PoolKind::avg_include_pad, PoolKind::avg_exclude_pad}) {
    PoolGeometry g;
    g.kind = kind;
    g.channels = 3;
    g.kernel_h = g.kernel_w = 3;
    g.stride_h = g.stride_w = 2;
    g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
    PoolLayer layer;
    ASSERT_EQ(layer.init(g), "");
    const size_t n = 2, h = 7, w = 6, oh = g.out_h(h), ow = g.out_w(w);
    // Distinct values spaced wider than 2 eps: max pooling's argmax does not flip under the probes.
    std::vector<float> x(n * h * w * 3);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % x.size()) * 0.05f;
    std::vector<float> r = random_vec(n * oh * ow * 3, 31), y(r.size()), dx(x.size());
    auto loss = [&] {
      EXPECT_EQ(layer.forward(n, h, w, x.data(), y.data()), "");
      return dot(y, r);
    };
    loss();
    ASSERT_EQ(layer.backward(n, h, w, r.data(), dx.data()), "");
    check_grad(x, dx, loss, "pool dx", 40, 1e-2f);
  }
}

// Weight gradients of a batch that spans several kGradChunk chunks and a tail, on two threads, are
// the sums of the per-sample gradients (the chunked, ordered reduction loses nothing).
TEST(ReconLayers, ChunkedWeightGradientsSumEverySample) {
  const size_t n = 2 * kGradChunk + 3;
  set_compute_threads(2);
  const ConvCase c = conv_case(2);
  ConvLayer conv;
  ASSERT_EQ(conv.init(c.g), "");
  const size_t oh = c.g.out_h(c.h), ow = c.g.out_w(c.w), xs = c.h * c.w * c.g.in_c, ys = oh * ow * c.g.out_c;
  std::vector<float> x = random_vec(n * xs, 41), dy = random_vec(n * ys, 42);
  std::vector<float> dw(c.g.weight_elements()), db(c.g.out_c), dw1(dw.size()), db1(db.size());
  ASSERT_EQ(conv.backward_weights(n, c.h, c.w, x.data(), dy.data(), dw.data(), db.data()), "");
  std::vector<double> sw(dw.size(), 0.0), sb(db.size(), 0.0);
  for (size_t s = 0; s < n; ++s) {
    ASSERT_EQ(conv.backward_weights(1, c.h, c.w, x.data() + s * xs, dy.data() + s * ys, dw1.data(), db1.data()), "");
    for (size_t i = 0; i < dw.size(); ++i) sw[i] += dw1[i];
    for (size_t i = 0; i < db.size(); ++i) sb[i] += db1[i];
  }
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], sw[i], 1e-4 * (1.0 + std::fabs(sw[i]))) << i;
  for (size_t i = 0; i < db.size(); ++i) EXPECT_NEAR(db[i], sb[i], 1e-4 * (1.0 + std::fabs(sb[i]))) << i;

  InnerProductLayer ip;
  const size_t k = 13, out = 7;
  ASSERT_EQ(ip.init(k, out), "");
  std::vector<float> a = random_vec(n * k, 43), g = random_vec(n * out, 44);
  std::vector<float> gw(out * k), gb(out), gw1(gw.size()), gb1(gb.size());
  ASSERT_EQ(ip.backward_weights(n, a.data(), g.data(), gw.data(), gb.data()), "");
  std::vector<double> tw(gw.size(), 0.0), tb(gb.size(), 0.0);
  for (size_t s = 0; s < n; ++s) {
    ASSERT_EQ(ip.backward_weights(1, a.data() + s * k, g.data() + s * out, gw1.data(), gb1.data()), "");
    for (size_t i = 0; i < gw.size(); ++i) tw[i] += gw1[i];
    for (size_t i = 0; i < gb.size(); ++i) tb[i] += gb1[i];
  }
  for (size_t i = 0; i < gw.size(); ++i) EXPECT_NEAR(gw[i], tw[i], 1e-4 * (1.0 + std::fabs(tw[i]))) << i;
  for (size_t i = 0; i < gb.size(); ++i) EXPECT_NEAR(gb[i], tb[i], 1e-4 * (1.0 + std::fabs(tb[i]))) << i;
  set_compute_threads(1);
}

TEST(ReconLayers, BadGeometryIsAnError) {
  ConvLayer conv;
  ConvGeometry g;
  g.in_c = 3;
  g.out_c = 4;
  g.groups = 2;  // 3 not divisible by 2
  EXPECT_NE(conv.init(g), "");
  g.groups = 1;
  g.kernel_h = g.kernel_w = 5;
  ASSERT_EQ(conv.init(g), "");
  std::vector<float> x(3 * 3 * 3), w(g.weight_elements()), y(16);
  EXPECT_NE(conv.forward(1, 3, 3, x.data(), w.data(), nullptr, y.data()), "");  // kernel larger than input
}

}  // namespace
}  // namespace kiln::calib::recon
