// Plan decisions and freeze arithmetic on small hand-built Float' graphs.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "calib/test_quantize_source.h"
#include "kiln/calib/freeze.h"
#include "kiln/calib/overrides.h"
#include "kiln/calib/plan.h"
#include "kiln/calib/quantize.h"
#include "kiln/kernels/qops.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/q_blobs.h"

namespace kiln::calib {
namespace {

using testing::Lcg;
using testing::VectorSource;

// Builds an ONNX-like float graph, then canonicalises it as quantize_graph's callers do.
struct GraphBuilder {
  Graph g;
  Lcg rng{7};

  int input(const std::string& name, Shape shape) {
    Value v;
    v.name = name;
    v.shape = std::move(shape);
    v.shape_known = true;
    const int id = g.add_value(v);
    g.inputs.push_back(id);
    return id;
  }
  int constant(const std::string& name, Shape shape, float scale = 0.3f) {
    Tensor t(kiln::DType::f32, std::move(shape));
    for (size_t i = 0; i < t.elements(); ++i) t.mutable_data<float>()[i] = scale * rng.next();
    return g.add_constant(name, t);
  }
  int constant_values(const std::string& name, Shape shape, const std::vector<float>& values) {
    Tensor t(kiln::DType::f32, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i) t.mutable_data<float>()[i] = values[i];
    return g.add_constant(name, t);
  }
  int node(const std::string& op, const std::string& name, std::vector<int> in, std::map<std::string, Attr> attrs = {}) {
    Value v;
    v.name = name + "_out";
    const int out = g.add_value(v);
    Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    n.attrs = std::move(attrs);
    g.nodes.push_back(n);
    return out;
  }
  int conv(const std::string& name, int x, int64_t in_c, int64_t out_c, int64_t k) {
    const int w = constant(name + ".weight", {out_c, in_c, k, k});
    const int b = constant(name + ".bias", {out_c}, 0.1f);
    return node("Conv", name, {x, w, b}, {{"pads", Attr::of_ints({k / 2, k / 2, k / 2, k / 2})}});
  }
  Graph canonical(std::vector<int> outputs) {
    g.outputs = std::move(outputs);
    std::string e;
    auto m = Model::create(g, &e);
    EXPECT_TRUE(m) << e;
    return m ? m->logical_graph() : Graph{};
  }
};

// x[N,3,8,8] -> conv1+relu -> conv2 -> conv3+sigmoid -> GAP -> flatten -> fc (Gemm, transB) -> y
Graph classifier() {
  GraphBuilder b;
  const int x = b.input("x", {kSymbolicDim, 3, 8, 8});
  int v = b.conv("conv1", x, 3, 8, 3);
  v = b.node("Relu", "relu1", {v});
  v = b.conv("conv2", v, 8, 8, 1);
  v = b.conv("conv3", v, 8, 8, 3);
  v = b.node("Sigmoid", "sig3", {v});
  v = b.node("GlobalAveragePool", "gap", {v});
  v = b.node("Flatten", "flatten", {v});
  const int w = b.constant("fc.weight", {10, 8});
  const int bias = b.constant("fc.bias", {10}, 0.1f);
  v = b.node("Gemm", "fc", {v, w, bias}, {{"transB", Attr::of_int(1)}});
  b.g.values[v].name = "y";
  return b.canonical({v});
}

VectorSource random_source(Shape sample_shape, size_t count, uint64_t seed, float scale = 1.0f) {
  Lcg rng(seed);
  std::vector<std::vector<float>> samples(count);
  for (auto& s : samples) {
    s.resize(shape_elements(sample_shape));
    for (float& f : s) f = scale * rng.next();
  }
  return VectorSource(sample_shape, samples);
}

const Node* find_node(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const PlannedLayer* find_layer(const std::vector<PlannedLayer>& layers, const std::string& name) {
  for (const PlannedLayer& l : layers) {
    if (l.node == name) return &l;
  }
  return nullptr;
}

TEST(QuantizePlan, LoweringSplitsActivationsTheEpilogueCannotApply) {
  const Graph f = classifier();
  ASSERT_FALSE(f.nodes.empty());
  ASSERT_EQ(find_node(f, "conv3")->get_string("activation", ""), "sigmoid");  // fused by canonicalisation
  Graph lowered;
  std::string e;
  ASSERT_TRUE(lower_for_quantization(f, {}, &lowered, &e)) << e;
  const Node* conv3 = find_node(lowered, "conv3");
  const Node* act = find_node(lowered, "conv3__act");
  ASSERT_TRUE(conv3 && act);
  EXPECT_FALSE(conv3->has("activation"));
  EXPECT_EQ(act->op, "Sigmoid");
  EXPECT_EQ(act->inputs[0], conv3->outputs[0]);
  EXPECT_EQ(lowered.values[conv3->outputs[0]].name, lowered.values[act->outputs[0]].name + "__preact");
  // ReLU stays fused (it is a clamp of the epilogue).
  EXPECT_EQ(find_node(lowered, "conv1")->get_string("activation", ""), "relu");
}

// TF-exported convolutions and pools (auto_pad SAME_UPPER, stride 2) are quantized like any other:
// canonicalisation wrote their pads out.
TEST(QuantizePlan, AutoPadLayersAreQuantized) {
  GraphBuilder b;
  const int x = b.input("x", {kSymbolicDim, 3, 9, 9});
  const int w = b.constant("c.weight", {8, 3, 3, 3});
  int v = b.node("Conv", "c", {x, w}, {{"strides", Attr::of_ints({2, 2})}, {"auto_pad", Attr::of_string("SAME_UPPER")}});
  v = b.node("Relu", "r", {v});
  v = b.node("MaxPool", "p", {v},
             {{"kernel_shape", Attr::of_ints({3, 3})}, {"strides", Attr::of_ints({2, 2})},
              {"auto_pad", Attr::of_string("SAME_LOWER")}});
  const Graph g = b.canonical({v});
  VectorSource src = random_source({3, 9, 9}, 8, 5);
  QuantizeOptions o;
  o.samples = 8;
  QuantizeResult r;
  std::string e;
  ASSERT_TRUE(quantize_graph(g, src, o, &r, &e)) << e;
  const PlannedLayer* conv = find_layer(r.layers, "c");
  ASSERT_NE(conv, nullptr);
  EXPECT_TRUE(conv->quantized) << conv->op;
  EXPECT_EQ(conv->op, "kiln.QConv");
  const PlannedLayer* pool = find_layer(r.layers, "p");
  ASSERT_NE(pool, nullptr);
  EXPECT_TRUE(pool->quantized) << pool->op;
}

// Sum over samples of the squared difference of g's output (one [1, K] output) from `ref`'s.
double output_error(const Graph& g, bool canonical, const Graph& ref, const std::vector<std::vector<float>>& samples,
                    Shape sample_shape) {
  std::string e;
  ModelOptions mo;
  mo.canonicalize = canonical;
  auto mq = Model::create(g, &e, mo);
  auto mf = Model::create(ref, &e);
  EXPECT_TRUE(mq && mf) << e;
  if (!mq || !mf) return -1.0;
  Session sq(mq), sf(mf);
  sample_shape.insert(sample_shape.begin(), 1);
  double se = 0.0;
  for (const std::vector<float>& x : samples) {
    Tensor t(kiln::DType::f32, sample_shape);
    std::copy(x.begin(), x.end(), t.mutable_data<float>());
    EXPECT_EQ(sq.set_input(mq->input_names()[0], t), "");
    EXPECT_EQ(sf.set_input(mf->input_names()[0], t), "");
    EXPECT_EQ(sq.run(), "");
    EXPECT_EQ(sf.run(), "");
    const Tensor* yq = sq.output(mq->output_names()[0]);
    const Tensor* yf = sf.output(mf->output_names()[0]);
    if (!yq || !yf || yq->elements() != yf->elements()) return -1.0;
    for (size_t i = 0; i < yq->elements(); ++i) {
      const double d = static_cast<double>(yq->float_at(i)) - yf->float_at(i);
      se += d * d;
    }
  }
  return se;
}

// A quantized layer no block can learn (a Gemm with alpha != 1) is a kept unit whose weights are
// nearest-rounded in the simulation as freeze rounds them: the error reconstruction simulates is
// the Q graph's.
TEST(QuantizePlan, KeptQuantizedLayerIsSimulatedAsFrozen) {
  std::string e;
  ASSERT_TRUE(register_q_ops(&e)) << e;
  GraphBuilder b;
  const int x = b.input("x", {kSymbolicDim, 16});
  int v = b.node("Gemm", "fc1", {x, b.constant("fc1.w", {12, 16}), b.constant("fc1.b", {12}, 0.1f)},
                 {{"transB", Attr::of_int(1)}, {"alpha", Attr::of_float(0.5f)}});
  v = b.node("Relu", "r", {v});
  v = b.node("Gemm", "fc2", {v, b.constant("fc2.w", {6, 12}), b.constant("fc2.b", {6}, 0.1f)},
             {{"transB", Attr::of_int(1)}});
  const Graph g = b.canonical({v});
  Lcg rng(9);
  std::vector<std::vector<float>> samples(32, std::vector<float>(16));
  for (auto& s : samples) {
    for (float& f : s) f = rng.next();
  }
  VectorSource src({16}, samples);
  QuantizeOptions o;
  o.wbits = 4;
  o.abits = 4;
  o.samples = samples.size();
  o.first_last_8bit = false;
  o.reconstruction.emplace();
  o.reconstruction->recon.iters = 20;
  QuantizeResult r;
  ASSERT_TRUE(quantize_graph(g, src, o, &r, &e)) << e;
  size_t kept = 0;
  for (const recon::UnitReport& u : r.units) kept += u.kept;
  EXPECT_GE(kept, 1u);
  const PlannedLayer* fc1 = find_layer(r.layers, "fc1");
  ASSERT_NE(fc1, nullptr);
  EXPECT_TRUE(fc1->quantized);
  const double q = output_error(r.q, false, g, samples, {16}) / static_cast<double>(samples.size());
  EXPECT_GT(q, 0.0);
  EXPECT_NEAR(r.reconstruction_output_mse / q, 1.0, 0.02) << r.reconstruction_output_mse << " vs " << q;
}

TEST(QuantizePlan, FirstAndLastLayersAt8BitsAndAheadRelu) {
  Graph lowered;
  std::string e;
  ASSERT_TRUE(lower_for_quantization(classifier(), {}, &lowered, &e)) << e;
  QuantizeOptions o;
  o.wbits = 4;
  o.abits = 4;
  Plan p;
  ASSERT_TRUE(make_plan(lowered, o, &p, &e)) << e;
  EXPECT_EQ(find_layer(p.layers, "conv1")->wbits, 8);
  EXPECT_EQ(find_layer(p.layers, "conv1")->abits, 8);
  EXPECT_EQ(find_layer(p.layers, "conv2")->wbits, 4);
  EXPECT_EQ(find_layer(p.layers, "conv2")->abits, 4);
  EXPECT_EQ(find_layer(p.layers, "conv3")->wbits, 4);
  EXPECT_EQ(find_layer(p.layers, "fc")->wbits, 8);
  EXPECT_EQ(find_layer(p.layers, "fc")->op, "kiln.QGemm");
  EXPECT_EQ(find_layer(p.layers, "conv3__act")->op, "kiln.QLut");
  EXPECT_EQ(find_layer(p.layers, "gap")->op, "kiln.QGlobalAvgPool");
  EXPECT_EQ(p.value_bits[lowered.inputs[0]], 8);
  const int conv1_out = find_node(lowered, "conv1")->outputs[0];
  EXPECT_EQ(p.value_ahead[conv1_out], FusedActivation::relu);
  EXPECT_EQ(p.value_ahead[find_node(lowered, "conv2")->outputs[0]], FusedActivation::none);

  o.first_last_8bit = false;
  ASSERT_TRUE(make_plan(lowered, o, &p, &e)) << e;
  EXPECT_EQ(find_layer(p.layers, "conv1")->wbits, 4);
  EXPECT_EQ(find_layer(p.layers, "fc")->wbits, 4);
  EXPECT_EQ(p.value_bits[lowered.inputs[0]], 4);

  o.overrides["conv2"] = LayerOverride{false, 2, 8};
  ASSERT_TRUE(make_plan(lowered, o, &p, &e)) << e;
  EXPECT_EQ(find_layer(p.layers, "conv2")->wbits, 2);
  EXPECT_EQ(find_layer(p.layers, "conv2")->abits, 8);
}

TEST(QuantizePlan, OverridesKeepFloatAndUnknownNamesAreErrors) {
  const Graph f = classifier();
  QuantizeOptions o;
  o.overrides["conv2"].keep_float = true;
  Graph lowered;
  std::string e;
  ASSERT_TRUE(lower_for_quantization(f, o.overrides, &lowered, &e)) << e;
  Plan p;
  ASSERT_TRUE(make_plan(lowered, o, &p, &e)) << e;
  const PlannedLayer* l = find_layer(p.layers, "conv2");
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->quantized);
  EXPECT_EQ(l->op, "Conv");

  // The Q graph runs conv2 in float between Dequantize and Quantize.
  VectorSource src = random_source({3, 8, 8}, 6, 1);
  o.pack_blobs = false;
  QuantizeResult r;
  ASSERT_TRUE(quantize_graph(f, src, o, &r, &e)) << e;
  const Node* c2 = find_node(r.q, "conv2");
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->op, "Conv");
  EXPECT_EQ(r.q.values[c2->inputs[0]].dtype, kiln::DType::f32);
  ASSERT_GE(r.q.values[c2->inputs[0]].producer, 0);
  EXPECT_EQ(r.q.nodes[r.q.values[c2->inputs[0]].producer].op, "kiln.Dequantize");
  EXPECT_EQ(r.q.values[c2->inputs[1]].dtype, kiln::DType::f32);  // float weights kept

  QuantizeOptions bad;
  bad.overrides["conv_2"].keep_float = true;
  EXPECT_FALSE(lower_for_quantization(f, bad.overrides, &lowered, &e));
  EXPECT_NE(e.find("conv_2"), std::string::npos) << e;
  EXPECT_NE(e.find("'conv2'"), std::string::npos) << e;  // listed as a near name
  EXPECT_FALSE(quantize_graph(f, src, bad, &r, &e));
  EXPECT_NE(e.find("conv_2"), std::string::npos) << e;
}

TEST(QuantizePlan, OverrideFilesJsonAndYaml) {
  std::map<std::string, LayerOverride> m;
  std::string e;
  ASSERT_TRUE(parse_overrides(R"({"layer1.0.conv1": {"float": true}, "fc": {"wbits": 8, "abits": 4}})", &m, &e)) << e;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m["layer1.0.conv1"].keep_float);
  EXPECT_EQ(m["fc"].wbits, 8);
  EXPECT_EQ(m["fc"].abits, 4);
  EXPECT_FALSE(m["fc"].keep_float);

  ASSERT_TRUE(parse_overrides("# comment\nconv1: {float: true}\n\"a b\": {wbits: 4}\nfc:\n  wbits: 6\n  abits: 8\n", &m, &e)) << e;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_TRUE(m["conv1"].keep_float);
  EXPECT_EQ(m["a b"].wbits, 4);
  EXPECT_EQ(m["fc"].wbits, 6);
  EXPECT_EQ(m["fc"].abits, 8);

  EXPECT_FALSE(parse_overrides(R"({"fc": {"wbits": 9}})", &m, &e));
  EXPECT_NE(e.find("wbits"), std::string::npos);
  EXPECT_FALSE(parse_overrides("fc: {colour: red}\n", &m, &e));
  EXPECT_NE(e.find("colour"), std::string::npos);
  EXPECT_FALSE(parse_overrides(R"({"fc": {"float": true})", &m, &e));
  EXPECT_FALSE(load_overrides("/nonexistent/overrides.json", &m, &e));
}

TEST(QuantizeFreeze, ArithmeticHelpers) {
  EXPECT_EQ(bias_code(2.5f, 1.0f, 1.0f), 2);  // half to even
  EXPECT_EQ(bias_code(3.5f, 1.0f, 1.0f), 4);
  EXPECT_EQ(bias_code(-0.3f, 0.1f, 0.5f), -6);
  EXPECT_EQ(bias_code(1e30f, 1e-3f, 1e-3f), INT32_MAX);
  EXPECT_EQ(bias_code(-1e30f, 1e-3f, 1e-3f), INT32_MIN);
  EXPECT_EQ(epilogue_multiplier(0.02f, 0.5f, 0.04f), 0.02f * 0.5f / 0.04f);

  QuantParams out;
  out.scale = 0.05f;
  out.zero_point = 10;
  Node layer;
  int32_t lo = 0, hi = 0;
  activation_clamp(layer, out, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
  layer.attrs["activation"] = Attr::of_string("relu");
  activation_clamp(layer, out, &lo, &hi);
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 255);
  layer.attrs["activation"] = Attr::of_string("clip");
  layer.attrs["act_a"] = Attr::of_float(0.0f);
  layer.attrs["act_b"] = Attr::of_float(6.0f);
  activation_clamp(layer, out, &lo, &hi);
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 130);  // zo + round(6 / 0.05)
  out.qmax = 15;       // a 4-bit output: the bound is cut to the code range
  activation_clamp(layer, out, &lo, &hi);
  EXPECT_EQ(hi, 15);
}

// x[N,2,3,3] -> Conv(1x1, 2->2) + Clip(0, 6) -> c; x -> conv b (+ Relu when `relu_b`); Add(c, b) -> y
// (+ Relu when `relu_after`). Without relu_b, canonicalisation fuses the Add into conv b as its residual.
Graph conv_add(bool relu_b, bool relu_after = false) {
  GraphBuilder b;
  const int x = b.input("x", {kSymbolicDim, 2, 3, 3});
  const int w = b.constant_values("w", {2, 2, 1, 1}, {0.5f, -0.25f, 0.125f, 1.0f});
  const int bias = b.constant_values("bias", {2}, {0.3f, -0.2f});
  const int lo = b.constant_values("lo", {}, {0.0f});
  const int hi = b.constant_values("hi", {}, {6.0f});
  int c = b.node("Conv", "conva", {x, w, bias});
  c = b.node("Clip", "clipa", {c, lo, hi});
  int d = b.conv("convb", x, 2, 2, 1);
  if (relu_b) d = b.node("Relu", "relub", {d});
  int y = b.node("Add", "add", {c, d});
  if (relu_after) y = b.node("Relu", "relu_after", {y});
  b.g.values[y].name = "y";
  return b.canonical({y});
}

TEST(QuantizeFreeze, ConvAndAddConstantsMatchHandComputation) {
  const Graph f = conv_add(true);
  VectorSource src = random_source({2, 3, 3}, 5, 3, 4.0f);
  QuantizeOptions o;
  o.pack_blobs = false;
  o.weights.method = WeightRangeMethod::absmax;
  QuantizeResult r;
  std::string e;
  ASSERT_TRUE(quantize_graph(f, src, o, &r, &e)) << e;
  const Graph& q = r.q;
  // Input and output keep their float names and dtypes.
  ASSERT_EQ(q.inputs.size(), 1u);
  EXPECT_EQ(q.values[q.inputs[0]].name, "x");
  EXPECT_EQ(q.values[q.inputs[0]].dtype, kiln::DType::f32);
  ASSERT_EQ(q.outputs.size(), 1u);
  EXPECT_EQ(q.values[q.outputs[0]].name, "y");
  EXPECT_EQ(q.nodes[q.values[q.outputs[0]].producer].op, "kiln.Dequantize");

  const Node* conv = find_node(q, "conva");
  ASSERT_TRUE(conv);
  ASSERT_EQ(conv->op, "kiln.QConv");
  ASSERT_EQ(conv->inputs.size(), 4u);
  const Value& xin = q.values[conv->inputs[0]];
  EXPECT_EQ(xin.name, "x__q");
  EXPECT_EQ(xin.dtype, kiln::DType::u8);
  const float s_in = xin.quant.scales.at(0);
  const Value& wv = q.values[conv->inputs[1]];
  ASSERT_EQ(wv.dtype, kiln::DType::s8);
  ASSERT_EQ(wv.shape, (Shape{2, 1, 1, 2}));
  ASSERT_EQ(wv.quant.scales.size(), 2u);
  EXPECT_EQ(wv.quant.axis, 0);
  const float w[2][2] = {{0.5f, -0.25f}, {0.125f, 1.0f}};
  const float bf[2] = {0.3f, -0.2f};
  const Value& out = q.values[conv->outputs[0]];
  EXPECT_EQ(out.dtype, kiln::DType::u8);
  const float s_out = out.quant.scales.at(0);
  EXPECT_EQ(out.quant.zero_points.at(0), 0);  // ahead-ReLU (Clip at 0): zero point 0
  for (int c = 0; c < 2; ++c) {
    const float s_w = wv.quant.scales[c];
    // absmax: scale = max |w| / 127.
    EXPECT_EQ(s_w, std::max(std::fabs(w[c][0]), std::fabs(w[c][1])) / 127.0f);
    for (int i = 0; i < 2; ++i) {
      const float code = std::nearbyint(w[c][i] / s_w);
      EXPECT_EQ(wv.constant->data<int8_t>()[c * 2 + i], static_cast<int8_t>(code));
    }
    EXPECT_EQ(q.values[conv->inputs[2]].constant->data<int32_t>()[c],
              static_cast<int32_t>(std::nearbyint(bf[c] / (s_in * s_w))));
    EXPECT_EQ(q.values[conv->inputs[3]].constant->data<float>()[c], s_in * s_w / s_out);
  }
  EXPECT_EQ(conv->get_int("qmin", -1), 0);
  EXPECT_EQ(conv->get_int("qmax", -1), std::min<int64_t>(255, static_cast<int64_t>(std::nearbyint(6.0f / s_out))));
  EXPECT_EQ(conv->get_ints("kernel_shape"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv->get_ints("pads"), (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(conv->get_string("activation", ""), "none");

  const Node* add = find_node(q, "add");
  ASSERT_TRUE(add);
  ASSERT_EQ(add->op, "kiln.QAdd");
  const float sa = q.values[add->inputs[0]].quant.scales.at(0);
  const float sb = q.values[add->inputs[1]].quant.scales.at(0);
  const Value& y = q.values[add->outputs[0]];
  EXPECT_EQ(y.name, "y__q");
  const float so = y.quant.scales.at(0);
  EXPECT_EQ(add->get_float("a_multiplier", 0), sa / so);
  EXPECT_EQ(add->get_float("b_multiplier", 0), sb / so);
  EXPECT_EQ(add->get_int("qmin", -1), 0);
  EXPECT_EQ(add->get_int("qmax", -1), 255);
  EXPECT_EQ(r.settings.at("quantize.samples"), "5");
}

TEST(QuantizeFreeze, ReluAfterAddIsTheQAddClamp) {
  const Graph f = conv_add(true, true);
  Graph lowered;
  std::string e;
  ASSERT_TRUE(lower_for_quantization(f, {}, &lowered, &e)) << e;
  // Shift the input so that the sum has negative values the Relu must cut.
  std::vector<std::vector<float>> samples;
  Lcg rng(11);
  for (int s = 0; s < 4; ++s) {
    std::vector<float> x(18);
    for (float& v : x) v = 3.0f * rng.next();
    samples.push_back(x);
  }
  VectorSource src({2, 3, 3}, samples);
  QuantizeOptions o;
  o.pack_blobs = false;
  QuantizeResult r;
  ASSERT_TRUE(quantize_graph(f, src, o, &r, &e)) << e;
  const Node* add = find_node(r.q, "add");
  ASSERT_TRUE(add);
  EXPECT_EQ(add->op, "kiln.QAdd");
  EXPECT_FALSE(find_node(r.q, "relu_after"));
  const Value& y = r.q.values[add->outputs[0]];
  EXPECT_EQ(y.name, "y__q");
  EXPECT_EQ(add->get_int("qmin", -1), y.quant.zero_points[0]);
  EXPECT_EQ(r.q.nodes[r.q.values[r.q.outputs[0]].producer].inputs[0], add->outputs[0]);
  for (const Node& n : r.q.nodes) EXPECT_NE(n.op, "kiln.QLut");
}

TEST(QuantizeFreeze, ResidualMultiplier) {
  const Graph f = conv_add(false);
  VectorSource src = random_source({2, 3, 3}, 4, 9, 2.0f);
  QuantizeOptions o;
  o.pack_blobs = false;
  QuantizeResult r;
  std::string e;
  ASSERT_TRUE(quantize_graph(f, src, o, &r, &e)) << e;
  const Node* conv = find_node(r.q, "convb");
  ASSERT_TRUE(conv);
  ASSERT_EQ(conv->op, "kiln.QConv");
  ASSERT_EQ(conv->inputs.size(), 5u);
  const Value& res = r.q.values[conv->inputs[4]];
  EXPECT_EQ(res.dtype, kiln::DType::u8);
  EXPECT_EQ(res.name, r.q.values[find_node(r.q, "conva")->outputs[0]].name);
  const Value& out = r.q.values[conv->outputs[0]];
  EXPECT_EQ(out.name, "y__q");
  EXPECT_EQ(conv->get_float("residual_multiplier", 0), res.quant.scales[0] / out.quant.scales[0]);
}

TEST(QuantizeFreeze, LookupTableAndGemmOfTheClassifier) {
  const Graph f = classifier();
  VectorSource src = random_source({3, 8, 8}, 4, 5);
  QuantizeOptions o;
  o.pack_blobs = false;
  o.wbits = 4;
  QuantizeResult r;
  std::string e;
  ASSERT_TRUE(quantize_graph(f, src, o, &r, &e)) << e;
  const Graph& q = r.q;
  const Node* lut = find_node(q, "conv3__act");
  ASSERT_TRUE(lut);
  ASSERT_EQ(lut->op, "kiln.QLut");
  EXPECT_EQ(lut->get_string("function", ""), "sigmoid");
  const Value& in = q.values[lut->inputs[0]];
  const Value& out = q.values[lut->outputs[0]];
  const Tensor& table = *q.values[lut->inputs[1]].constant;
  ASSERT_EQ(table.elements(), 256u);
  for (int c = 0; c < 256; c += 5) {
    const float x = static_cast<float>(c - in.quant.zero_points[0]) * in.quant.scales[0];
    QuantParams po;
    po.scale = out.quant.scales[0];
    po.zero_point = out.quant.zero_points[0];
    EXPECT_EQ(table.data<uint8_t>()[c], quantize_value(1.0f / (1.0f + std::exp(-x)), po)) << c;
  }
  const Node* conv3 = find_node(q, "conv3");
  ASSERT_TRUE(conv3);
  EXPECT_EQ(q.values[conv3->inputs[1]].quant.bits, 4);
  EXPECT_EQ(conv3->get_int("wbits", 0), 4);
  const int8_t* codes = q.values[conv3->inputs[1]].constant->data<int8_t>();
  for (size_t i = 0; i < q.values[conv3->inputs[1]].constant->elements(); ++i) {
    EXPECT_GE(codes[i], -8);
    EXPECT_LE(codes[i], 7);
  }
  const Node* fc = find_node(q, "fc");
  ASSERT_TRUE(fc);
  EXPECT_EQ(fc->op, "kiln.QGemm");
  EXPECT_EQ(q.values[fc->inputs[1]].shape, (Shape{10, 8}));
  EXPECT_EQ(q.values[fc->inputs[1]].quant.bits, 8);  // last layer
  EXPECT_EQ(q.values[q.outputs[0]].name, "y");
  // conv1 fused with ReLU: its output's zero point is 0 and its clamp starts there.
  const Node* conv1 = find_node(q, "conv1");
  ASSERT_TRUE(conv1);
  EXPECT_EQ(q.values[conv1->outputs[0]].quant.zero_points[0], 0);
  EXPECT_EQ(conv1->get_int("qmin", -1), 0);
  EXPECT_EQ(q.values[conv1->inputs[1]].shape, (Shape{8, 3, 3, 3}));
}

}  // namespace
}  // namespace kiln::calib
