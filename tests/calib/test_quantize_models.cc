// quantize_graph on every test model (tests/models/*.onnx) at W8A8 (minmax) and W4A8: the Q graph is
// accepted by Model::create, runs on the integer runtime, and its dequantized output stays close to
// the float model's on the committed sample input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "calib/test_quantize_source.h"
#include "kiln/calib/data/npy.h"
#include "kiln/calib/quantize.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/q_blobs.h"

namespace kiln::calib {
namespace {

using testing::Lcg;
using testing::VectorSource;

struct Loaded {
  Graph float_graph;  // canonical Float'
  FloatTensor input;  // the committed sample input, [B, ...]
};

bool load(const std::string& model, Loaded* out, std::string* e) {
  const std::string dir = KILN_TEST_MODELS_DIR;
  Graph g;
  if (!kiln::onnx::import_model_file(dir + "/" + model + ".onnx", &g, e)) return false;
  auto m = Model::create(g, e);
  if (!m) return false;
  out->float_graph = m->logical_graph();
  return read_npy_float(dir + "/" + model + ".input.npy", &out->input, e);
}

// The committed input's samples plus deterministic perturbations of them (x + 0.1 std noise).
std::vector<std::vector<float>> calibration_samples(const FloatTensor& in, size_t count) {
  const size_t batch = static_cast<size_t>(in.shape[0]);
  const size_t per = in.data.size() / batch;
  double sum = 0, sq = 0;
  for (float v : in.data) sum += v, sq += static_cast<double>(v) * v;
  const double mean = sum / static_cast<double>(in.data.size());
  const float sd = static_cast<float>(std::sqrt(std::max(0.0, sq / static_cast<double>(in.data.size()) - mean * mean)));
  Lcg rng(42);
  std::vector<std::vector<float>> samples;
  for (size_t i = 0; i < count; ++i) {
    const float* s = in.data.data() + (i % batch) * per;
    std::vector<float> x(s, s + per);
    if (i >= batch) {
      for (float& v : x) v += 0.1f * sd * rng.next();
    }
    samples.push_back(std::move(x));
  }
  return samples;
}

VectorSource calibration_source(const FloatTensor& in, size_t count) {
  return VectorSource(std::vector<int64_t>(in.shape.begin() + 1, in.shape.end()), calibration_samples(in, count));
}

// Runs g on `in`: each output (f32) with its shape. `canonicalize`: on for the float graph; off for
// a Q graph (it is run as frozen, as a loaded .kiln is).
bool run_outputs(const Graph& g, bool canonicalize, const FloatTensor& in, std::vector<std::vector<float>>* outs,
                 std::vector<Shape>* shapes, std::string* e) {
  ModelOptions mo;
  mo.canonicalize = canonicalize;
  auto m = Model::create(g, e, mo);
  if (!m) return false;
  Session s(m);
  Tensor t(kiln::DType::f32, Shape(in.shape.begin(), in.shape.end()));
  std::memcpy(t.mutable_raw(), in.data.data(), in.data.size() * sizeof(float));
  if (*e = s.set_input(m->input_names()[0], t); !e->empty()) return false;
  if (*e = s.run(); !e->empty()) return false;
  outs->clear();
  shapes->clear();
  for (const std::string& name : m->output_names()) {
    const Tensor* o = s.output(name);
    if (!o || o->dtype() != kiln::DType::f32) return *e = "no f32 output " + name, false;
    outs->emplace_back(o->data<float>(), o->data<float>() + o->elements());
    shapes->push_back(o->shape());
  }
  return true;
}

// The first output.
bool run(const Graph& g, bool canonicalize, const FloatTensor& in, std::vector<float>* out, Shape* out_shape,
         std::string* e) {
  std::vector<std::vector<float>> outs;
  std::vector<Shape> shapes;
  if (!run_outputs(g, canonicalize, in, &outs, &shapes, e)) return false;
  *out = std::move(outs[0]);
  *out_shape = shapes[0];
  return true;
}

struct Agreement {
  double rel_err = 0;  // ||q - f|| / ||f||
  int top1_same = 0, rows = 0;
};

Agreement compare(const std::vector<float>& f, const std::vector<float>& q, const Shape& shape) {
  Agreement a;
  double num = 0, den = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    num += (static_cast<double>(q[i]) - f[i]) * (static_cast<double>(q[i]) - f[i]);
    den += static_cast<double>(f[i]) * f[i];
  }
  a.rel_err = std::sqrt(num / std::max(den, 1e-30));
  if (shape.size() == 2 && shape[1] > 1) {  // classifier logits
    const size_t c = static_cast<size_t>(shape[1]);
    for (size_t r = 0; r < static_cast<size_t>(shape[0]); ++r) {
      size_t bf = 0, bq = 0;
      for (size_t j = 1; j < c; ++j) {
        if (f[r * c + j] > f[r * c + bf]) bf = j;
        if (q[r * c + j] > q[r * c + bq]) bq = j;
      }
      a.top1_same += bf == bq;
      ++a.rows;
    }
  }
  return a;
}

class QuantizeModels : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeModels, W8A8AndW4A8RunCloseToFloat) {
  std::string e;
  ASSERT_TRUE(register_q_ops(&e)) << e;
  Loaded m;
  ASSERT_TRUE(load(GetParam(), &m, &e)) << e;
  std::vector<float> ref;
  Shape ref_shape;
  ASSERT_TRUE(run(m.float_graph, true, m.input, &ref, &ref_shape, &e)) << e;
  for (int wbits : {8, 4}) {
    VectorSource src = calibration_source(m.input, 8);
    QuantizeOptions o;
    o.wbits = wbits;
    o.abits = 8;
    o.samples = 8;
    o.batch = 4;
    QuantizeResult r;
    ASSERT_TRUE(quantize_graph(m.float_graph, src, o, &r, &e)) << "W" << wbits << "A8: " << e;
    size_t quantized = 0;
    for (const PlannedLayer& l : r.layers) quantized += l.quantized;
    EXPECT_GT(quantized, 0u);
    std::vector<float> q;
    Shape q_shape;
    ASSERT_TRUE(run(r.q, false, m.input, &q, &q_shape, &e)) << "W" << wbits << "A8: " << e;
    ASSERT_EQ(q_shape, ref_shape);
    const Agreement a = compare(ref, q, ref_shape);
    std::printf("[ quantize ] %-18s W%dA8: relative error %.4f, top-1 %d/%d, %zu/%zu layers quantized\n", GetParam(),
                wbits, a.rel_err, a.top1_same, a.rows, quantized, r.layers.size());
    for (float v : q) ASSERT_TRUE(std::isfinite(v));
    if (wbits == 8) {
      EXPECT_LT(a.rel_err, 0.10) << GetParam();
      EXPECT_EQ(a.top1_same, a.rows) << GetParam();
    } else {
      EXPECT_LT(a.rel_err, 0.5) << GetParam();  // 4-bit weights: loose, the numbers are printed
    }
  }
}

// Squared error per sample of the network outputs (summed) of `q` against `f` over `samples`, run in
// batches of the model's static batch (1 when it has none).
bool output_mse(const Graph& f, const Graph& q, const FloatTensor& like, const std::vector<std::vector<float>>& samples,
                double* mse, std::string* e) {
  const size_t batch = static_cast<size_t>(like.shape[0]);
  const size_t per = samples[0].size();
  double se = 0;
  size_t count = 0;
  for (size_t s0 = 0; s0 + batch <= samples.size(); s0 += batch) {
    FloatTensor in;
    in.shape = like.shape;
    for (size_t i = 0; i < batch; ++i) in.data.insert(in.data.end(), samples[s0 + i].begin(), samples[s0 + i].end());
    if (in.data.size() != batch * per) return *e = "sample size", false;
    std::vector<std::vector<float>> yf, yq;
    std::vector<Shape> sf, sq;
    if (!run_outputs(f, true, in, &yf, &sf, e) || !run_outputs(q, false, in, &yq, &sq, e)) return false;
    if (sf != sq) return *e = "output shapes differ", false;
    for (size_t k = 0; k < yf.size(); ++k) {
      for (size_t i = 0; i < yf[k].size(); ++i) {
        const double d = static_cast<double>(yq[k][i]) - yf[k][i];
        se += d * d;
      }
    }
    count += batch;
  }
  *mse = se / static_cast<double>(count);
  return true;
}

// BRECQ at W4A4 on every test model: ops no block can learn (gates, products, shape arithmetic,
// pads, attention) become kept units instead of stopping reconstruction, and the quantized network
// reconstruction simulated (trained units and kept ones) is the one the Q graph runs: their output
// errors on the calibration samples agree.
TEST_P(QuantizeModels, BrecqW4A4RunsAndItsSimulationMatchesTheQGraph) {
  std::string e;
  ASSERT_TRUE(register_q_ops(&e)) << e;
  Loaded m;
  ASSERT_TRUE(load(GetParam(), &m, &e)) << e;
  const std::string name = GetParam();
  const size_t n = 16;
  const std::vector<std::vector<float>> samples = calibration_samples(m.input, n);
  VectorSource src = calibration_source(m.input, n);
  QuantizeOptions o;
  o.wbits = 4;
  o.abits = 4;
  o.samples = n;
  o.batch = 8;
  o.first_last_8bit = false;
  o.reconstruction.emplace();
  o.reconstruction->recon.iters = 20;
  o.reconstruction->recon.batch = 8;
  QuantizeResult r;
  ASSERT_TRUE(quantize_graph(m.float_graph, src, o, &r, &e)) << e;
  size_t trained = 0, kept = 0;
  for (const recon::UnitReport& u : r.units) {
    (u.kept ? kept : trained) += 1;
    if (u.kept) {
      EXPECT_FALSE(u.reason.empty()) << u.name;
    } else {  // never worse than nearest rounding on the unit's own loss (training that is, reverts)
      EXPECT_LE(u.final_loss, u.nearest_loss) << u.name;
    }
  }
  double q_mse = 0;
  ASSERT_TRUE(output_mse(m.float_graph, r.q, m.input, samples, &q_mse, &e)) << e;
  std::printf("[ brecq    ] %-18s W4A4: %zu units trained, %zu kept; output MSE simulated %.5g, Q graph %.5g\n",
              GetParam(), trained, kept, r.reconstruction_output_mse, q_mse);
  EXPECT_GT(trained, 0u);  // every model trains its convolutions or its transformer Linears
  if (name.rfind("transformer", 0) == 0) {
    EXPECT_GE(trained, 4u);  // qkv, proj (+ residual), fc1 + Gelu + fc2 (+ residual), head: GEMMs over rows
  }
  EXPECT_GT(q_mse, 0.0);
  // Agreement to rounding. (A simulation that quantized a float-held value for a float op was 25%
  // off; kept units whose quantized GEMMs used the float bias instead of freeze's int32 bias codes,
  // 5-20% on the transformers.)
  EXPECT_NEAR(r.reconstruction_output_mse / q_mse, 1.0, 0.01) << "the simulation drifted from the Q graph";
}

// A seed gives the same model whatever the thread count: blocks (weight gradients in fixed chunks)
// and kept units (the float runtime) alike. Compared: the simulated error and the Q graph's outputs,
// bit for bit.
TEST(QuantizeModelsRecon, SameModelOnOneAndTwoThreads) {
  std::string e;
  ASSERT_TRUE(register_q_ops(&e)) << e;
  for (const char* model : {"mobilenetv3_small", "transformer"}) {
    Loaded m;
    ASSERT_TRUE(load(model, &m, &e)) << e;
    std::vector<std::vector<float>> outs[2];
    double mse[2] = {0, 0};
    for (int t = 0; t < 2; ++t) {
      VectorSource src = calibration_source(m.input, 16);
      QuantizeOptions o;
      o.wbits = 4;
      o.abits = 4;
      o.samples = 16;
      o.threads = t + 1;
      o.reconstruction.emplace();
      o.reconstruction->qdrop = true;  // dropping and input mixing draw from the seed too
      o.reconstruction->recon.drop_prob = 0.5f;
      o.reconstruction->recon.iters = 30;
      o.reconstruction->recon.batch = 8;
      QuantizeResult r;
      ASSERT_TRUE(quantize_graph(m.float_graph, src, o, &r, &e)) << model << ": " << e;
      mse[t] = r.reconstruction_output_mse;
      std::vector<Shape> shapes;
      ASSERT_TRUE(run_outputs(r.q, false, m.input, &outs[t], &shapes, &e)) << e;
    }
    EXPECT_EQ(mse[0], mse[1]) << model;
    EXPECT_EQ(outs[0], outs[1]) << model;
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, QuantizeModels,
                         ::testing::Values("resnet18", "mobilenetv2", "mobilenetv3_small", "efficientnet_like",
                                           "shufflenetv2", "unet_like", "unet_dynamic_hw", "two_heads",
                                           "transformer", "transformer_op13"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

}  // namespace
}  // namespace kiln::calib

namespace kiln::calib {
namespace {

// transformer_op13's batch is fixed at 2: samples run in pairs, a lone last sample is dropped, and a
// source with fewer samples than one batch is an error that says so.
TEST(QuantizeModelsObserve, FixedBatchModelsRunWholeBatches) {
  std::string e;
  Loaded m;
  ASSERT_TRUE(load("transformer_op13", &m, &e)) << e;
  QuantizeOptions o;
  o.pack_blobs = false;
  o.batch = 3;  // ignored: the model's batch is static
  QuantizeResult r;
  VectorSource five = calibration_source(m.input, 5);
  ASSERT_TRUE(quantize_graph(m.float_graph, five, o, &r, &e)) << e;
  EXPECT_EQ(r.settings.at("quantize.samples"), "4");
  VectorSource one = calibration_source(m.input, 1);
  EXPECT_FALSE(quantize_graph(m.float_graph, one, o, &r, &e));
  EXPECT_NE(e.find("fixed at 2"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln::calib

