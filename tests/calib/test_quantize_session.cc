// Session's value observer and per-node profiling (the calibrator's and `kiln bench --layers`' hooks),
// and to_plain.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/runtime/model.h"

namespace kiln {
namespace {

Tensor filled(Shape s, float start, float step) {
  Tensor t(DType::f32, std::move(s));
  float* d = t.mutable_data<float>();
  for (size_t i = 0; i < t.elements(); ++i) d[i] = start + step * static_cast<float>(i % 17) - 0.3f * static_cast<float>(i % 5);
  return t;
}

// x [N,2,5,5] -> Conv(3x3, pad 1) + Relu -> c; c -> GlobalAveragePool -> p -> Flatten -> f.
// Outputs c and f.
Graph small_graph() {
  Graph g;
  Value x;
  x.name = "x";
  x.shape = {kSymbolicDim, 2, 5, 5};
  x.shape_known = true;
  g.inputs.push_back(g.add_value(x));
  const int w = g.add_constant("w", filled({3, 2, 3, 3}, -0.5f, 0.07f));
  const int b = g.add_constant("b", filled({3}, 0.1f, 0.05f));
  auto value = [&](const char* name) {
    Value v;
    v.name = name;
    return g.add_value(v);
  };
  const int c0 = value("c0"), c = value("c"), p = value("p"), f = value("f");
  Node conv;
  conv.name = "conv";
  conv.op = "Conv";
  conv.inputs = {g.inputs[0], w, b};
  conv.outputs = {c0};
  conv.attrs["pads"] = Attr::of_ints({1, 1, 1, 1});
  conv.attrs["kernel_shape"] = Attr::of_ints({3, 3});
  Node relu;
  relu.name = "relu";
  relu.op = "Relu";
  relu.inputs = {c0};
  relu.outputs = {c};
  Node pool;
  pool.name = "pool";
  pool.op = "GlobalAveragePool";
  pool.inputs = {c};
  pool.outputs = {p};
  Node flat;
  flat.name = "flat";
  flat.op = "Flatten";
  flat.inputs = {p};
  flat.outputs = {f};
  g.nodes = {conv, relu, pool, flat};
  g.outputs = {c, f};
  return g;
}

TEST(QuantizeSessionHooks, ObserverSeesInputsAndEveryNodeOutputInOrder) {
  std::string e;
  auto model = Model::create(small_graph(), &e);
  ASSERT_TRUE(model) << e;
  Session s(model);
  std::vector<std::string> seen;
  std::map<std::string, Tensor> plain;
  s.set_value_observer([&](int value, const std::string& name, const Tensor& t) {
    EXPECT_EQ(model->graph().values[value].name, name);
    seen.push_back(name);
    plain[name] = to_plain(t);
  });
  ASSERT_EQ(s.set_input("x", filled({2, 2, 5, 5}, -1.0f, 0.13f)), "");
  ASSERT_EQ(s.run(), "");
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), "x");
  // Every output of every executed node, each once, in execution order.
  std::vector<std::string> expected = {"x"};
  for (const Node& n : model->graph().nodes) {
    for (int v : n.outputs) expected.push_back(model->graph().values[v].name);
  }
  EXPECT_EQ(seen, expected);
  for (const char* out : {"c", "f"}) {
    const Tensor* t = s.output(out);
    ASSERT_TRUE(t);
    ASSERT_TRUE(plain.count(out));
    ASSERT_EQ(plain[out].shape(), t->shape());
    EXPECT_EQ(plain[out].layout(), Layout::plain);
    EXPECT_EQ(std::memcmp(plain[out].raw(), t->raw(), t->bytes()), 0) << out;
  }
  // Removing the observer: no more calls.
  s.set_value_observer(nullptr);
  seen.clear();
  ASSERT_EQ(s.run(), "");
  EXPECT_TRUE(seen.empty());
}

TEST(QuantizeSessionHooks, ToPlainReordersNhwc) {
  const Shape shape = {2, 3, 2, 4};  // N C H W
  std::vector<float> nhwc(48);
  // Element (n, c, h, w) stored at NHWC position holds the value n*1000 + c*100 + h*10 + w.
  for (int n = 0; n < 2; ++n)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 4; ++w)
        for (int c = 0; c < 3; ++c) nhwc[((n * 2 + h) * 4 + w) * 3 + c] = static_cast<float>(n * 1000 + c * 100 + h * 10 + w);
  const Tensor v = Tensor::view(DType::f32, shape, Layout::nhwc, nhwc.data());
  const Tensor p = to_plain(v);
  ASSERT_EQ(p.layout(), Layout::plain);
  ASSERT_EQ(p.shape(), shape);
  size_t i = 0;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < 2; ++h)
        for (int w = 0; w < 4; ++w, ++i) EXPECT_EQ(p.data<float>()[i], static_cast<float>(n * 1000 + c * 100 + h * 10 + w));
  // u8 too, and a plain tensor is copied as it is.
  std::vector<uint8_t> codes(48);
  for (size_t k = 0; k < codes.size(); ++k) codes[k] = static_cast<uint8_t>(k);
  const Tensor pu = to_plain(Tensor::view(DType::u8, shape, Layout::nhwc, codes.data()));
  EXPECT_EQ(pu.data<uint8_t>()[1], 3);  // (0,0,0,1) sits at NHWC index 3
  const Tensor same = to_plain(Tensor::view(DType::u8, shape, Layout::plain, codes.data()));
  EXPECT_EQ(std::memcmp(same.raw(), codes.data(), codes.size()), 0);
  EXPECT_NE(same.raw(), static_cast<const void*>(codes.data()));
}

TEST(QuantizeSessionHooks, ProfilingCountsRunsPerNodeOnlyWhileOn) {
  std::string e;
  auto model = Model::create(small_graph(), &e);
  ASSERT_TRUE(model) << e;
  Session s(model);
  ASSERT_EQ(s.set_input("x", filled({1, 2, 5, 5}, 0.5f, -0.1f)), "");
  ASSERT_EQ(s.run(), "");
  EXPECT_TRUE(s.profile().empty());
  s.set_profiling(true);
  ASSERT_EQ(s.run(), "");
  ASSERT_EQ(s.run(), "");
  const std::vector<NodeProfile>& prof = s.profile();
  ASSERT_EQ(prof.size(), model->graph().nodes.size());
  int64_t runs = 0;
  for (size_t i = 0; i < prof.size(); ++i) {
    EXPECT_EQ(prof[i].name, model->graph().nodes[i].name);
    EXPECT_EQ(prof[i].op, model->graph().nodes[i].op);
    EXPECT_TRUE(prof[i].runs == 0 || prof[i].runs == 2) << prof[i].name;
    EXPECT_GE(prof[i].total_us, 0.0);
    runs += prof[i].runs;
  }
  EXPECT_GE(runs, 2 * 2);  // at least the Conv and the pool ran twice
  s.set_profiling(false);
  ASSERT_EQ(s.run(), "");
  int64_t after = 0;
  for (const NodeProfile& p : s.profile()) after += p.runs;
  EXPECT_EQ(after, runs);
  s.set_profiling(true);  // restarting clears
  for (const NodeProfile& p : s.profile()) EXPECT_EQ(p.runs, 0);
}

}  // namespace
}  // namespace kiln
