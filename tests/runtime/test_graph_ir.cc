// The IR, the passes and the memory planner on small hand-built graphs.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/runtime/graph.h"
#include "kiln/runtime/memory_planner.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/passes.h"

namespace kiln {
namespace {

Tensor f32_tensor(Shape s, std::vector<float> v) {
  Tensor t(DType::f32, std::move(s));
  std::copy(v.begin(), v.end(), t.mutable_data<float>());
  return t;
}

int add_input(Graph& g, const std::string& name, Shape s) {
  Value v;
  v.name = name;
  v.shape = std::move(s);
  v.shape_known = true;
  const int id = g.add_value(v);
  g.inputs.push_back(id);
  return id;
}

int add_node(Graph& g, const std::string& op, std::vector<int> in, std::map<std::string, Attr> attrs = {}) {
  Value v;
  v.name = g.unique_name(op + "_out");
  const int out = g.add_value(v);
  Node n;
  n.name = op + std::to_string(g.nodes.size());
  n.op = op;
  n.inputs = std::move(in);
  n.outputs = {out};
  n.attrs = std::move(attrs);
  g.nodes.push_back(n);
  return out;
}

std::vector<float> run(const std::shared_ptr<const Model>& m, const Tensor& x) {
  Session s(m);
  EXPECT_EQ(s.set_input(m->input_names()[0], x), "");
  EXPECT_EQ(s.run(), "");
  const Tensor* y = s.output(m->output_names()[0]);
  return y ? std::vector<float>(y->data<float>(), y->data<float>() + y->elements()) : std::vector<float>{};
}

TEST(Model, UnsupportedOpNamesTheNodeAndOp) {
  Graph g;
  const int x = add_input(g, "x", {1, 4});
  g.outputs = {add_node(g, "NonMaxSuppression", {x})};
  g.nodes.back().name = "nms_7";
  std::string err;
  EXPECT_EQ(Model::create(g, &err), nullptr);
  EXPECT_NE(err.find("NonMaxSuppression 'nms_7'"), std::string::npos) << err;
}

TEST(Model, UnsupportedAttributeValueNamesTheNode) {
  Graph g;
  const int x = add_input(g, "x", {1, 2, 4, 4});
  const int sc = g.add_constant("scales", f32_tensor({4}, {1, 1, 2, 2}));
  g.outputs = {add_node(g, "Resize", {x, -1, sc}, {{"mode", Attr::of_string("cubic")}})};
  std::string err;
  EXPECT_EQ(Model::create(g, &err), nullptr);
  EXPECT_NE(err.find("cubic"), std::string::npos) << err;
  EXPECT_NE(err.find("Resize 'Resize0'"), std::string::npos) << err;
}

TEST(Passes, HardSwishFromClipPatternAndFusedIntoConv) {
  // y = conv(x) * relu6(conv(x) + 3) / 6
  Graph g;
  const int x = add_input(g, "x", {1, 2, 3, 3});
  const int w = g.add_constant("w", f32_tensor({2, 2, 1, 1}, {1.0f, 0.5f, -0.25f, 2.0f}));
  const int c = add_node(g, "Conv", {x, w}, {{"kernel_shape", Attr::of_ints({1, 1})}});
  const int three = g.add_constant("three", f32_tensor({}, {3.0f}));
  const int six = g.add_constant("six", f32_tensor({}, {6.0f}));
  const int zero = g.add_constant("zero", f32_tensor({}, {0.0f}));
  const int a = add_node(g, "Add", {c, three});
  const int cl = add_node(g, "Clip", {a, zero, six});
  const int m = add_node(g, "Mul", {c, cl});
  g.outputs = {add_node(g, "Div", {m, six})};
  Graph plain = g;
  std::string err;
  auto fused = Model::create(g, &err);
  ASSERT_NE(fused, nullptr) << err;
  ModelOptions no_passes;
  no_passes.canonicalize = false;
  auto reference = Model::create(plain, &err, no_passes);
  ASSERT_NE(reference, nullptr) << err;
  // Canonicalised: the conv carries the hardswish; no Clip/Mul/Div left.
  int convs = 0;
  for (const Node& n : fused->graph().nodes) {
    EXPECT_NE(n.op, "Clip");
    EXPECT_NE(n.op, "Div");
    if (n.op == "Conv") {
      ++convs;
      EXPECT_EQ(n.get_string("activation", ""), "hardswish");
    }
  }
  EXPECT_EQ(convs, 1);
  Tensor in(DType::f32, {1, 2, 3, 3});
  for (size_t i = 0; i < in.elements(); ++i) in.mutable_data<float>()[i] = static_cast<float>(i) * 0.7f - 5.0f;
  const std::vector<float> a1 = run(fused, in), a2 = run(reference, in);
  ASSERT_EQ(a1.size(), a2.size());
  for (size_t i = 0; i < a1.size(); ++i) EXPECT_NEAR(a1[i], a2[i], 1e-5f);
}

TEST(Passes, BatchNormFoldsIntoConvAndConstantsFold) {
  Graph g;
  const int x = add_input(g, "x", {kSymbolicDim, 1, 2, 2});
  const int w = g.add_constant("w", f32_tensor({2, 1, 1, 1}, {2.0f, -1.0f}));
  const int c = add_node(g, "Conv", {x, w});
  const int sc = g.add_constant("s", f32_tensor({2}, {1.5f, 0.5f}));
  const int bi = g.add_constant("b", f32_tensor({2}, {0.1f, -0.2f}));
  const int mu = g.add_constant("m", f32_tensor({2}, {0.3f, 0.0f}));
  const int va = g.add_constant("v", f32_tensor({2}, {4.0f, 1.0f}));
  const int bn = add_node(g, "BatchNormalization", {c, sc, bi, mu, va}, {{"epsilon", Attr::of_float(0.0f)}});
  // A shape computed from constants only: folded away.
  const int shape = g.add_constant("shape", [] {
    Tensor t(DType::s64, {2});
    t.mutable_data<int64_t>()[0] = 1;
    t.mutable_data<int64_t>()[1] = -1;
    return t;
  }());
  const int id = add_node(g, "Identity", {shape});
  g.outputs = {add_node(g, "Reshape", {bn, id})};
  std::string err;
  auto m = Model::create(g, &err);
  ASSERT_NE(m, nullptr) << err;
  for (const Node& n : m->graph().nodes) {
    EXPECT_NE(n.op, "BatchNormalization");
    EXPECT_NE(n.op, "Identity");
  }
  Tensor in = f32_tensor({1, 1, 2, 2}, {1, 2, 3, 4});
  const std::vector<float> y = run(m, in);
  ASSERT_EQ(y.size(), 8u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(y[i], (2.0f * (i + 1) - 0.3f) / 2.0f * 1.5f + 0.1f, 1e-5f);
    EXPECT_NEAR(y[4 + i], (-1.0f * (i + 1)) * 0.5f - 0.2f, 1e-5f);
  }
}

// x.mean([2, 3]) (ReduceMean over the spatial axes, as torch exports it) becomes a global average
// pool, with a Flatten for keepdims = 0, so the quantizer keeps it on codes; the values are the means.
TEST(Passes, SpatialReduceMeanBecomesGlobalAveragePool) {
  for (int64_t keepdims : {0, 1}) {
    Graph g;
    const int x = add_input(g, "x", {1, 2, 2, 3});
    g.outputs = {add_node(g, "ReduceMean", {x},
                          {{"axes", Attr::of_ints({-1, 2})}, {"keepdims", Attr::of_int(keepdims)}})};
    std::string err;
    auto m = Model::create(g, &err);
    ASSERT_NE(m, nullptr) << err;
    int pools = 0, means = 0;
    for (const Node& n : m->graph().nodes) {
      pools += n.op == "GlobalAveragePool";
      means += n.op == "ReduceMean";
    }
    EXPECT_EQ(pools, 1) << dump_graph(m->graph());
    EXPECT_EQ(means, 0);
    std::vector<float> v(12);
    for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
    const std::vector<float> y = run(m, f32_tensor({1, 2, 2, 3}, v));
    ASSERT_EQ(y.size(), 2u);
    EXPECT_FLOAT_EQ(y[0], 2.5f);
    EXPECT_FLOAT_EQ(y[1], 8.5f);
    EXPECT_EQ(m->graph().values[m->graph().outputs[0]].shape.size(), keepdims ? 4u : 2u);
  }
}

TEST(Passes, LayoutsInsertRelayoutOnlyAtBorders) {
  Graph g;
  const int x = add_input(g, "x", {1, 3, 4, 4});
  const int w = g.add_constant("w", f32_tensor({3, 1, 3, 3}, std::vector<float>(27, 0.1f)));
  const int c1 = add_node(g, "Conv", {x, w}, {{"group", Attr::of_int(3)}, {"pads", Attr::of_ints({1, 1, 1, 1})}});
  const int r = add_node(g, "Relu", {c1});
  const int c2 = add_node(g, "Conv", {r, w}, {{"group", Attr::of_int(3)}, {"pads", Attr::of_ints({1, 1, 1, 1})}});
  g.outputs = {add_node(g, "Add", {c2, r})};
  std::string err;
  auto m = Model::create(g, &err);
  ASSERT_NE(m, nullptr) << err;
  int relayouts = 0;
  for (const Node& n : m->graph().nodes) relayouts += n.op == "kiln.Relayout";
  EXPECT_EQ(relayouts, 2);  // into NHWC at the input, back to NCHW at the output
  const std::string dump = dump_graph(m->graph());
  EXPECT_NE(dump.find("nhwc"), std::string::npos) << dump;
}

TEST(MemoryPlanner, ReusesMemoryOnlyBetweenDisjointLifetimes) {
  // a: 0-1, b: 1-2, c: 2-3 -> a and c can share; b overlaps both.
  const std::vector<BufferLifetime> bufs = {{1000, 0, 1}, {500, 1, 2}, {1000, 2, 3}, {64, 3, 3}};
  const MemoryPlan p = plan_memory(bufs);
  ASSERT_EQ(p.offsets.size(), 4u);
  auto overlap = [&](size_t i, size_t j) {
    const bool time = !(bufs[i].last < bufs[j].first || bufs[j].last < bufs[i].first);
    const bool space = p.offsets[i] < p.offsets[j] + bufs[j].bytes && p.offsets[j] < p.offsets[i] + bufs[i].bytes;
    return time && space;
  };
  for (size_t i = 0; i < bufs.size(); ++i) {
    EXPECT_EQ(p.offsets[i] % 64, 0u);
    for (size_t j = i + 1; j < bufs.size(); ++j) EXPECT_FALSE(overlap(i, j)) << i << " " << j;
  }
  EXPECT_EQ(p.offsets[0], p.offsets[2]);  // reused
  EXPECT_LT(p.arena_bytes, 1024u + 512u + 1024u + 64u);
  EXPECT_GE(p.arena_bytes, 1024u + 512u);
}

}  // namespace
}  // namespace kiln
