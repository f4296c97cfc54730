// Block forward/backward (finite differences through a residual block with pooling, concat and a
// gemm), AdaRound's gradient through a block, the loss's normalisation, reconstruction on a real layer
// of the ResNet demo model (AdaRound beats nearest rounding at W4 and W2), and determinism across
// thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "kiln/calib/recon/reconstruct.h"
#include "test_recon_fmnist.h"

namespace kiln::calib::recon {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

LayerSpec conv_spec(const char* name, std::vector<int> inputs, size_t ic, size_t oc, size_t k, size_t stride,
                    size_t groups, ActKind act, uint32_t seed) {
  LayerSpec s;
  s.name = name;
  s.kind = LayerKind::conv;
  s.inputs = std::move(inputs);
  s.conv.in_c = ic;
  s.conv.out_c = oc;
  s.conv.groups = groups;
  s.conv.kernel_h = s.conv.kernel_w = k;
  s.conv.stride_h = s.conv.stride_w = stride;
  s.conv.pad_top = s.conv.pad_left = s.conv.pad_bottom = s.conv.pad_right = k / 2;
  s.weight = random_vec(s.conv.weight_elements(), seed, -0.5f, 0.5f);
  s.bias = random_vec(oc, seed + 1, -0.1f, 0.1f);
  s.act = act;
  return s;
}

// x(6x6x4) -> conv3x3 relu6 (8) -> depthwise 3x3 hardswish -> conv1x1 (4) + x, relu -> [maxpool 2, avgpool 2]
// -> concat -> global avg pool -> gemm 8 -> 3
Block test_block() {
  std::vector<LayerSpec> l;
  l.push_back(conv_spec("c1", {0}, 4, 8, 3, 1, 1, ActKind::clip, 1));
  l.push_back(conv_spec("dw", {1}, 8, 8, 3, 1, 8, ActKind::hardswish, 3));
  l.push_back(conv_spec("c2", {2, 0}, 8, 4, 1, 1, 1, ActKind::relu, 5));
  LayerSpec mp;
  mp.name = "mp";
  mp.kind = LayerKind::max_pool;
  mp.inputs = {3};
  mp.pool.kernel_h = mp.pool.kernel_w = mp.pool.stride_h = mp.pool.stride_w = 2;
  l.push_back(mp);
  LayerSpec ap = mp;
  ap.name = "ap";
  ap.kind = LayerKind::avg_pool;
  ap.pool.kind = PoolKind::avg_exclude_pad;
  l.push_back(ap);
  LayerSpec cat;
  cat.name = "cat";
  cat.kind = LayerKind::concat;
  cat.inputs = {4, 5};
  l.push_back(cat);
  LayerSpec gap;
  gap.name = "gap";
  gap.kind = LayerKind::global_avg_pool;
  gap.inputs = {6};
  l.push_back(gap);
  LayerSpec fc;
  fc.name = "fc";
  fc.kind = LayerKind::gemm;
  fc.inputs = {7};
  fc.gemm_out = 3;
  fc.weight = random_vec(3 * 8, 9);
  fc.bias = random_vec(3, 10);
  l.push_back(fc);
  Block b;
  EXPECT_EQ(b.init(std::move(l), {Dims{6, 6, 4}}), "");
  return b;
}

double weighted_sum(const float* y, const std::vector<float>& r) {
  double s = 0.0;
  for (size_t i = 0; i < r.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

// Central differences of `loss` against analytic gradients, one parameter at a time; counts the
// probes that agree (a probe may straddle a ReLU / max-pool kink, so nearly all must).
template <class Loss>
struct FiniteDifferences {
  Loss loss;
  float eps = 1e-2f;
  int checked = 0, agree = 0;
  void probe(float* p, float g) {
    const float keep = *p;
    *p = keep + eps;
    const double up = loss();
    *p = keep - eps;
    const double down = loss();
    *p = keep;
    const double fd = (up - down) / (2.0 * eps);
    ++checked;
    if (std::fabs(fd - g) <= 2e-3 + 2e-2 * std::fabs(g)) ++agree;
  }
};
template <class Loss>
FiniteDifferences<Loss> finite_differences(Loss loss) {
  return FiniteDifferences<Loss>{std::move(loss)};
}

TEST(ReconBlock, FloatBackwardMatchesFiniteDifferences) {
  Block b = test_block();
  const size_t n = 3;
  std::vector<float> x = random_vec(n * 6 * 6 * 4, 20, -2.0f, 2.0f);
  ASSERT_EQ(b.forward({x.data()}, n), "");
  const std::vector<float> r = random_vec(n * 3, 21);
  ASSERT_EQ(b.backward(r.data()), "");
  const std::vector<float> dx = b.input_grad(0);
  std::vector<std::vector<float>> dw;
  for (size_t l = 0; l < b.layers().size(); ++l) dw.push_back(b.weight_grad(l));
  auto fd = finite_differences([&] {
    EXPECT_EQ(b.forward({x.data()}, n), "");
    return weighted_sum(b.output(), r);
  });
  std::mt19937 rng(3);
  for (int t = 0; t < 30; ++t) {
    const size_t i = rng() % x.size();
    fd.probe(&x[i], dx[i]);
  }
  for (size_t l : {0u, 1u, 2u, 7u}) {
    std::vector<float>& w = b.mutable_layers()[l].weight;
    for (int t = 0; t < 15; ++t) {
      const size_t i = rng() % w.size();
      fd.probe(&w[i], dw[l][i]);
    }
  }
  EXPECT_GE(fd.agree, fd.checked - 3) << fd.agree << " of " << fd.checked;
}

// x(5x5x6) -> conv1x1 -> silu -> [global avg pool -> conv1x1 -> hardsigmoid] gate -> mul -> sigmoid ->
// leaky relu -> tanh -> gelu: a squeeze-excitation block and every element-wise activation a block
// learns.
TEST(ReconBlock, GateAndActivationBackwardMatchesFiniteDifferences) {
  std::vector<LayerSpec> l;
  l.push_back(conv_spec("c1", {0}, 6, 6, 1, 1, 1, ActKind::none, 31));
  auto act = [](const char* name, int in, ActKind k, float alpha = 0.0f, float beta = 0.0f) {
    LayerSpec s;
    s.name = name;
    s.kind = LayerKind::activation;
    s.inputs = {in};
    s.act = k;
    s.act_alpha = alpha;
    s.act_beta = beta;
    return s;
  };
  l.push_back(act("silu", 1, ActKind::silu));
  LayerSpec gap;
  gap.name = "gap";
  gap.kind = LayerKind::global_avg_pool;
  gap.inputs = {2};
  l.push_back(gap);
  l.push_back(conv_spec("c2", {3}, 6, 6, 1, 1, 1, ActKind::none, 33));
  l.push_back(act("hsig", 4, ActKind::hardsigmoid, 1.0f / 6.0f, 0.5f));
  LayerSpec mul;
  mul.name = "mul";
  mul.kind = LayerKind::mul;
  mul.inputs = {2, 5};
  l.push_back(mul);
  l.push_back(act("sig", 6, ActKind::sigmoid));
  l.push_back(act("leaky", 7, ActKind::leaky_relu, 0.1f));
  l.push_back(act("tanh", 8, ActKind::tanh));
  l.push_back(act("gelu", 9, ActKind::gelu));
  Block b;
  ASSERT_EQ(b.init(std::move(l), {Dims{5, 5, 6}}), "");
  const size_t n = 2;
  std::vector<float> x = random_vec(n * 5 * 5 * 6, 35, -2.0f, 2.0f);
  ASSERT_EQ(b.forward({x.data()}, n), "");
  const std::vector<float> r = random_vec(n * 5 * 5 * 6, 36);
  ASSERT_EQ(b.backward(r.data()), "");
  const std::vector<float> dx = b.input_grad(0), dw0 = b.weight_grad(0), dw3 = b.weight_grad(3);
  auto fd = finite_differences([&] {
    EXPECT_EQ(b.forward({x.data()}, n), "");
    return weighted_sum(b.output(), r);
  });
  std::mt19937 rng(5);
  for (int t = 0; t < 40; ++t) {
    const size_t i = rng() % x.size();
    fd.probe(&x[i], dx[i]);
  }
  for (size_t layer : {0u, 3u}) {
    std::vector<float>& w = b.mutable_layers()[layer].weight;
    const std::vector<float>& dw = layer == 0 ? dw0 : dw3;
    for (int t = 0; t < 20; ++t) {
      const size_t i = rng() % w.size();
      fd.probe(&w[i], dw[i]);
    }
  }
  EXPECT_GE(fd.agree, fd.checked - 3) << fd.agree << " of " << fd.checked;
  // A gate of the wrong width is an error.
  std::vector<LayerSpec> bad;
  bad.push_back(conv_spec("c", {0}, 6, 4, 1, 1, 1, ActKind::none, 37));
  LayerSpec m2;
  m2.name = "m";
  m2.kind = LayerKind::mul;
  m2.inputs = {0, 1};
  bad.push_back(m2);
  Block wrong;
  EXPECT_NE(wrong.init(std::move(bad), {Dims{5, 5, 6}}), "");
}

TEST(ReconBlock, AdaRoundGradientThroughTheBlockMatchesFiniteDifferences) {
  Block b = test_block();
  const size_t n = 3;
  std::vector<float> x = random_vec(n * 6 * 6 * 4, 30, -2.0f, 2.0f);
  BlockQuantOptions o;
  o.wbits = 4;
  o.quantize_activations = false;  // keeps the forward differentiable in V
  ASSERT_EQ(b.enable_quantization(o, {x.data()}, n), "");
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> d(-1.5f, 1.5f);
  for (auto& a : b.adaround())
    for (float& v : a.v()) v = d(rng);
  ASSERT_EQ(b.forward({x.data()}, n), "");
  const std::vector<float> r = random_vec(n * 3, 32);
  b.zero_grads();
  ASSERT_EQ(b.backward(r.data()), "");
  int checked = 0, agree = 0;
  const float eps = 1e-3f;
  for (size_t l : {0u, 1u, 2u, 7u}) {
    std::vector<float>& v = b.adaround()[l].v();
    const std::vector<float> g = b.adaround_grad()[l];
    for (int t = 0; t < 12; ++t) {
      const size_t i = rng() % v.size();
      const float keep = v[i];
      v[i] = keep + eps;
      ASSERT_EQ(b.forward({x.data()}, n), "");
      const double up = weighted_sum(b.output(), r);
      v[i] = keep - eps;
      ASSERT_EQ(b.forward({x.data()}, n), "");
      const double down = weighted_sum(b.output(), r);
      v[i] = keep;
      const double fd = (up - down) / (2.0 * eps);
      ++checked;
      if (std::fabs(fd - g[i]) <= 2e-3 + 2e-2 * std::fabs(g[i])) ++agree;
    }
  }
  EXPECT_GE(agree, checked - 2) << agree << " of " << checked;
}

TEST(ReconBlock, BadSpecsAreErrors) {
  Block b;
  EXPECT_NE(b.init({}, {Dims{4, 4, 2}}), "");
  std::vector<LayerSpec> l{conv_spec("c", {0}, 3, 4, 3, 1, 1, ActKind::none, 1)};  // channels 3 != 2
  EXPECT_NE(b.init(l, {Dims{4, 4, 2}}), "");
  l[0].inputs = {1};  // not an earlier value
  EXPECT_NE(b.init(l, {Dims{4, 4, 3}}), "");
}

// The data of one unit of the ResNet demo: inputs from real images through the float model.
struct UnitData {
  Graph g;
  ReconUnit unit;
  std::vector<float> input;
  size_t n = 0;
};

void unit_data(const std::string& conv_name, size_t n, UnitData* out) {
  std::string e;
  ASSERT_TRUE(testing::load_demo("resnet_fmnist", &out->g, &e)) << e;
  std::vector<ReconUnit> layers;
  ASSERT_TRUE(list_units(out->g, Granularity::layer, &layers, &e)) << e;
  bool found = false;
  for (const ReconUnit& u : layers) {
    if (u.name == conv_name) {
      out->unit = u;
      found = true;
    }
  }
  ASSERT_TRUE(found) << conv_name << " not in the model:\n" << describe_units(out->g, layers);
  ASSERT_EQ(out->unit.inputs.size(), 1u);
  std::map<int, std::vector<float>> values;
  ASSERT_TRUE(testing::float_activations(out->g, testing::fmnist_images(n), n, &values, &e)) << e;
  auto it = values.find(out->unit.inputs[0]);
  ASSERT_TRUE(it != values.end()) << "the layer's input is not a block boundary";
  out->input = it->second;
  out->n = n;
}

// The reconstruction loss is BRECQ's: squared error summed over channels, averaged over samples
// and output pixels (a 5x5 output is not 25 times heavier against the rounding regulariser than a 1x1 one).
TEST(ReconBlock, LossIsPerSampleAndOutputPixel) {
  std::vector<LayerSpec> l;
  l.push_back(conv_spec("c", {0}, 2, 3, 3, 1, 1, ActKind::none, 21));
  Block b;
  ASSERT_EQ(b.init(std::move(l), {Dims{5, 5, 2}}), "");
  const size_t n = 6;
  ReconData data;
  data.samples = n;
  data.inputs = {random_vec(n * 5 * 5 * 2, 22)};
  const std::vector<float> target = random_vec(n * 5 * 5 * 3, 23);
  for (float t : target) data.targets.push_back(float_to_half(t));
  ASSERT_EQ(b.forward({data.inputs[0].data()}, n), "");
  double want = 0.0;
  for (size_t i = 0; i < target.size(); ++i) {
    const double d = static_cast<double>(b.output()[i]) - half_to_float(data.targets[i]);
    want += d * d;
  }
  want /= static_cast<double>(n * 25);
  double loss = 0.0;
  ASSERT_EQ(evaluate_loss(b, data, 4, &loss), "");
  EXPECT_NEAR(loss, want, 1e-9 * want);
}

// Weight-only AdaRound of one layer with float inputs: returns (nearest loss, AdaRound loss).
std::pair<double, double> adaround_layer(const UnitData& d, int wbits, int iters, size_t batch, int threads,
                                         uint64_t seed, std::vector<int8_t>* codes = nullptr) {
  Block b;
  std::string e;
  EXPECT_TRUE(build_block(d.g, d.unit, &b, &e)) << e;
  // Float targets without the residual and activation of the fused node are not needed: the unit
  // is the fused node itself, its float output is the target.
  EXPECT_EQ(b.forward({d.input.data()}, d.n), "");
  ReconData data;
  data.samples = d.n;
  data.inputs = {d.input};
  data.targets.resize(d.n * b.output_dims().elements());
  for (size_t i = 0; i < data.targets.size(); ++i) data.targets[i] = float_to_half(b.output()[i]);
  BlockQuantOptions qo;
  qo.wbits = wbits;
  qo.quantize_activations = false;
  EXPECT_EQ(b.enable_quantization(qo, {d.input.data()}, d.n), "");
  ReconOptions ro;
  ro.iters = iters;
  ro.batch = batch;
  ro.seed = seed;
  ro.threads = threads;
  ro.lr_scale = 0.0f;
  ro.lr_adaround = 5e-3f;  // few iterations here (BRECQ runs 20k at 1e-3)
  ReconResult res;
  EXPECT_EQ(reconstruct(b, data, ro, &res), "");
  if (codes) {
    codes->resize(b.adaround()[0].size());
    b.adaround()[0].hard_codes(codes->data());
  }
  return {res.initial_loss, res.final_loss};
}

TEST(ReconBlock, AdaRoundBeatsNearestRoundingOnARealLayerW4AndW2) {
  UnitData d;
  unit_data("/blocks/blocks.3/conv1/Conv", 96, &d);  // 3x3, 32 -> 32 at 14x14, ReLU
  if (::testing::Test::HasFatalFailure()) return;
  for (int bits : {4, 2}) {
    const auto [nearest, ada] = adaround_layer(d, bits, 300, 16, 1, 1);
    EXPECT_GT(nearest, 0.0);
    std::printf("W%d: output MSE per sample and pixel, nearest %.4g, AdaRound %.4g\n", bits, nearest, ada);
    EXPECT_LT(ada, (bits == 4 ? 0.8 : 0.65) * nearest) << "W" << bits << ": nearest " << nearest << ", AdaRound " << ada;
  }
}

TEST(ReconBlock, ReconstructionIsDeterministicAcrossThreadCounts) {
  UnitData d;
  unit_data("/blocks/blocks.3/conv1/Conv", 32, &d);
  if (::testing::Test::HasFatalFailure()) return;
  std::vector<int8_t> c1, c2;
  const auto r1 = adaround_layer(d, 4, 25, 16, 1, 5, &c1);
  const auto r2 = adaround_layer(d, 4, 25, 16, 2, 5, &c2);
  set_compute_threads(1);
  size_t differ = 0;
  for (size_t i = 0; i < c1.size(); ++i) differ += c1[i] != c2[i];
  EXPECT_EQ(differ, 0u) << "of " << c1.size() << " codes";
  EXPECT_EQ(r1.second, r2.second);
}

// One quantized forward + backward of every block unit of the demo models (QDrop's random drops on,
// batch 32: reconstruction's default) gives bit-identical outputs and gradients on 1 and 2 threads.
struct BlockPass {
  std::vector<float> output;
  std::vector<std::vector<float>> wgrad, vgrad, igrad;
  std::vector<double> sgrad;
};

BlockPass block_pass(const Graph& g, const ReconUnit& u, const std::map<int, std::vector<float>>& vals, size_t n,
                     int threads) {
  set_compute_threads(threads);
  BlockPass r;
  Block b;
  std::string e;
  EXPECT_TRUE(build_block(g, u, &b, &e)) << e;
  std::vector<const float*> in;
  for (int v : u.inputs) in.push_back(vals.at(v).data());
  BlockQuantOptions qo;
  qo.wbits = 2;
  qo.abits = 4;
  EXPECT_EQ(b.enable_quantization(qo, in, n), "");
  b.set_quantized(true);
  b.set_drop(0.5f, 7, 3);
  b.zero_grads();
  EXPECT_EQ(b.forward(in, n), "");
  const size_t oe = n * b.output_dims().elements();
  r.output.assign(b.output(), b.output() + oe);
  std::vector<float> d(oe);
  const std::vector<float>& target = vals.at(u.output);
  for (size_t i = 0; i < oe; ++i) d[i] = r.output[i] - target[i];
  EXPECT_EQ(b.backward(d.data()), "");
  for (size_t l = 0; l < b.layers().size(); ++l) r.wgrad.push_back(b.weight_grad(l));
  r.vgrad = b.adaround_grad();
  r.sgrad = b.lsq_grad();
  for (size_t i = 0; i < b.num_inputs(); ++i) r.igrad.push_back(b.input_grad(i));
  return r;
}

TEST(ReconBlock, GradientsDoNotDependOnTheThreadCount) {
  const size_t n = 32;
  for (const char* model : {"resnet_fmnist", "mbv2_fmnist"}) {
    Graph g;
    std::string e;
    ASSERT_TRUE(testing::load_demo(model, &g, &e)) << e;
    std::map<int, std::vector<float>> vals;
    ASSERT_TRUE(testing::float_activations(g, testing::fmnist_images(n), n, &vals, &e)) << e;
    std::vector<ReconUnit> units;
    ASSERT_TRUE(list_units(g, Granularity::block, &units, &e)) << e;
    for (const ReconUnit& u : units) {
      const BlockPass a = block_pass(g, u, vals, n, 1), b = block_pass(g, u, vals, n, 2);
      const std::string where = std::string(model) + " unit " + u.name;
      EXPECT_EQ(a.output, b.output) << where;
      for (size_t l = 0; l < a.wgrad.size(); ++l) EXPECT_EQ(a.wgrad[l], b.wgrad[l]) << where << " layer " << l;
      for (size_t l = 0; l < a.vgrad.size(); ++l) EXPECT_EQ(a.vgrad[l], b.vgrad[l]) << where << " layer " << l;
      EXPECT_EQ(a.sgrad, b.sgrad) << where;
      EXPECT_EQ(a.igrad, b.igrad) << where;
    }
  }
  set_compute_threads(1);
}

}  // namespace
}  // namespace kiln::calib::recon
