// Single ops against hand-computed results, including the layout-sensitive paths (an NHWC
// producer feeding layout-agnostic ops) and the version-specific forms.
#include <gtest/gtest.h>

#include "kiln/runtime/model.h"

namespace kiln {
namespace {

Tensor make(Shape s, std::vector<float> v) {
  Tensor t(DType::f32, std::move(s));
  std::copy(v.begin(), v.end(), t.mutable_data<float>());
  return t;
}
Tensor ints(std::vector<int64_t> v) {
  Tensor t(DType::s64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.mutable_data<int64_t>());
  return t;
}
std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

// Runs one op on input x (plus constant inputs); `through_conv` first passes x through an identity
// 1x1 conv so the op receives an NHWC tensor.
std::vector<float> run_op(const std::string& op, const Tensor& x, std::vector<std::optional<Tensor>> consts,
                          std::map<std::string, Attr> attrs, Shape* out_shape = nullptr, bool through_conv = false,
                          size_t outputs = 1, int threads = 1) {
  Graph g;
  Value in;
  in.name = "x";
  in.shape = x.shape();
  in.shape_known = true;
  int cur = g.add_value(in);
  g.inputs = {cur};
  if (through_conv) {
    const int64_t c = x.shape()[1];
    Tensor w(DType::f32, {c, c, 1, 1});
    for (int64_t i = 0; i < c; ++i) w.mutable_data<float>()[i * c + i] = 1.0f;
    Value v;
    v.name = "conv_out";
    const int out = g.add_value(v);
    Node n;
    n.name = "conv";
    n.op = "Conv";
    n.inputs = {cur, g.add_constant("w", w)};
    n.outputs = {out};
    g.nodes.push_back(n);
    cur = out;
  }
  Node n;
  n.name = "op";
  n.op = op;
  n.inputs = {cur};
  for (size_t i = 0; i < consts.size(); ++i) {
    std::string cname = "c";
    cname += std::to_string(i);
    n.inputs.push_back(consts[i] ? g.add_constant(cname, *consts[i]) : -1);
  }
  for (size_t o = 0; o < outputs; ++o) {
    Value v;
    v.name = "y";  // (appended, not "y" + ...: gcc 12 warns about that concatenation when inlined)
    v.name += std::to_string(o);
    n.outputs.push_back(g.add_value(v));
  }
  n.attrs = std::move(attrs);
  g.outputs = n.outputs;
  g.nodes.push_back(n);
  std::string err;
  auto m = Model::create(g, &err);
  EXPECT_NE(m, nullptr) << err;
  if (!m) return {};
  Session s(m, threads);
  EXPECT_EQ(s.set_input("x", x), "");
  EXPECT_EQ(s.run(), "");
  std::vector<float> all;
  for (const std::string& name : m->output_names()) {
    const Tensor* y = s.output(name);
    if (!y) return {};
    if (out_shape && name == m->output_names()[0]) *out_shape = y->shape();
    for (size_t i = 0; i < y->elements(); ++i) all.push_back(y->float_at(i));
  }
  return all;
}

TEST(Ops, PadReflectAndEdge) {
  const Tensor x = make({1, 3}, {1, 2, 3});
  Shape s;
  EXPECT_EQ(run_op("Pad", x, {ints({0, 2, 0, 1})}, {{"mode", Attr::of_string("reflect")}}, &s),
            (std::vector<float>{3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(s, (Shape{1, 6}));
  EXPECT_EQ(run_op("Pad", x, {ints({0, 1, 0, 2})}, {{"mode", Attr::of_string("edge")}}),
            (std::vector<float>{1, 1, 2, 3, 3, 3}));
  EXPECT_EQ(run_op("Pad", x, {ints({0, 1, 0, 0}), make({}, {9})}, {}), (std::vector<float>{9, 1, 2, 3}));
}

TEST(Ops, SliceWithNegativeStepOnNhwcInput) {
  const Tensor x = make({1, 4, 1, 2}, iota(8));  // channels 0..3, each [c*2, c*2+1]
  Shape s;
  // Channels 3, 1 (start -1, end -5, step -2) of the NHWC conv output.
  const std::vector<float> y = run_op("Slice", x, {ints({-1}), ints({-5}), ints({1}), ints({-2})}, {}, &s, true);
  EXPECT_EQ(s, (Shape{1, 2, 1, 2}));
  EXPECT_EQ(y, (std::vector<float>{6, 7, 2, 3}));
}

TEST(Ops, TransposeAndConcatAndSplitOfNhwcTensors) {
  const Tensor x = make({1, 2, 2, 2}, iota(8));
  Shape s;
  EXPECT_EQ(run_op("Transpose", x, {}, {{"perm", Attr::of_ints({0, 2, 3, 1})}}, &s, true),
            (std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7}));
  EXPECT_EQ(run_op("Split", x, {ints({1, 1})}, {{"axis", Attr::of_int(1)}}, nullptr, true, 2), iota(8));
  EXPECT_EQ(run_op("Split", x, {}, {{"axis", Attr::of_int(2)}, {"num_outputs", Attr::of_int(2)}}, nullptr, false, 2),
            (std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7}));
}

// The NCHW -> NHWC relayout in front of the identity conv and the NHWC -> NCHW one in front of
// Transpose (a plain-layout op): every channel count path of the transposes (1-4 channels
// interleaved, more in 32 x 32 blocks with tails), several images.
TEST(Ops, RelayoutRoundTripsEveryChannelCount) {
  for (int64_t c : {1, 2, 3, 4, 5, 33, 70}) {
    for (int64_t n : {1, 2}) {
      const Shape shape{n, c, 5, 7};
      const Tensor x = make(shape, iota(static_cast<size_t>(n * c * 35)));
      EXPECT_EQ(run_op("Transpose", x, {}, {{"perm", Attr::of_ints({0, 1, 2, 3})}}, nullptr, true),
                iota(static_cast<size_t>(n * c * 35)))
          << "channels " << c << " images " << n;
    }
  }
}

// Images large enough that the relayouts split their pixels over two threads (3 channels: the
// interleaving path; 40: the blocked transpose), pixel counts that are not multiples of 32.
TEST(Ops, RelayoutOnTwoThreadsEqualsOneThread) {
  for (int64_t c : {3, 40}) {
    const Shape shape{1, c, 97, c == 3 ? 301 : 53};
    const size_t count = static_cast<size_t>(c * shape[2] * shape[3]);
    const Tensor x = make(shape, iota(count));
    const std::vector<float> expect = iota(count);
    EXPECT_EQ(run_op("Transpose", x, {}, {{"perm", Attr::of_ints({0, 1, 2, 3})}}, nullptr, true, 1, 2), expect)
        << "channels " << c;
  }
}

TEST(Ops, GatherNegativeIndexAndBroadcastAgainstNhwc) {
  const Tensor x = make({2, 3}, iota(6));
  Tensor idx(DType::s64, {2});
  idx.mutable_data<int64_t>()[0] = -1;
  idx.mutable_data<int64_t>()[1] = 0;
  EXPECT_EQ(run_op("Gather", x, {idx}, {{"axis", Attr::of_int(1)}}), (std::vector<float>{2, 0, 5, 3}));
  // NHWC [1,2,1,2] * per-channel [2,1,1] constant.
  const Tensor y = make({1, 2, 1, 2}, {1, 2, 3, 4});
  EXPECT_EQ(run_op("Mul", y, {make({2, 1, 1}, {10, 100})}, {}, nullptr, true), (std::vector<float>{10, 20, 300, 400}));
}

TEST(Ops, ConvTransposeOutputShapeAndAutoPadSame) {
  const Tensor x = make({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w(DType::f32, {1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) w.mutable_data<float>()[i] = 1.0f;
  Shape s;
  // stride 2, output 4x4 (pads solved from output_shape), all-ones kernel.
  const std::vector<float> y = run_op("ConvTranspose", x, {w}, {{"strides", Attr::of_ints({2, 2})},
                                                                {"output_shape", Attr::of_ints({4, 4})}}, &s);
  EXPECT_EQ(s, (Shape{1, 1, 4, 4}));
  ASSERT_EQ(y.size(), 16u);
  // Full output (5x5) of a 3x3 ones kernel at stride 2, cropped by total padding 1 (ONNX puts the
  // odd pixel at the start unless auto_pad is SAME_UPPER).
  const float full[5][5] = {{1, 1, 3, 2, 2}, {1, 1, 3, 2, 2}, {4, 4, 10, 6, 6}, {3, 3, 7, 4, 4}, {3, 3, 7, 4, 4}};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) EXPECT_EQ(y[r * 4 + c], full[r + 1][c + 1]) << r << "," << c;
  }
  // Conv with auto_pad SAME_UPPER, stride 2 on 3x3: output 2x2.
  const Tensor x3 = make({1, 1, 3, 3}, iota(9));
  const std::vector<float> z = run_op("Conv", x3, {w}, {{"strides", Attr::of_ints({2, 2})},
                                                        {"auto_pad", Attr::of_string("SAME_UPPER")}}, &s);
  EXPECT_EQ(s, (Shape{1, 1, 2, 2}));
  // total pad 2 -> 1 each side: windows centred at (0,0), (0,2), (2,0), (2,2).
  EXPECT_EQ(z, (std::vector<float>{0 + 1 + 3 + 4, 1 + 2 + 4 + 5, 3 + 4 + 6 + 7, 4 + 5 + 7 + 8}));
}

// auto_pad becomes explicit pads in the canonical graph where it is fixed, with ONNX's placement of
// the odd pixel (SAME_UPPER: at the end, SAME_LOWER: at the start), and the results follow.
TEST(Ops, AutoPadResolvesToExplicitPads) {
  Tensor w(DType::f32, {1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) w.mutable_data<float>()[i] = 1.0f;
  // x (of `in_shape`) -> Conv(w, stride, auto_pad = mode) -> y, as a Model.
  auto conv_model = [&](const std::string& mode, int64_t stride, Shape in_shape) {
    Graph g;
    Value in;
    in.name = "x";
    in.shape = std::move(in_shape);
    in.shape_known = true;
    g.inputs = {g.add_value(in)};
    Value out;
    out.name = "y";
    Node n;
    n.name = "conv";
    n.op = "Conv";
    n.inputs = {g.inputs[0], g.add_constant("w", w)};
    n.outputs = {g.add_value(out)};
    n.attrs = {{"strides", Attr::of_ints({stride, stride})}, {"auto_pad", Attr::of_string(mode)}};
    g.outputs = n.outputs;
    g.nodes.push_back(n);
    std::string err;
    auto m = Model::create(g, &err);
    EXPECT_NE(m, nullptr) << err;
    return m;
  };
  auto canonical_pads = [&](const std::string& mode, int64_t stride, Shape in_shape, std::vector<int64_t>* pads) {
    auto m = conv_model(mode, stride, std::move(in_shape));
    if (!m) return false;
    const Node& c = m->logical_graph().nodes[0];
    *pads = c.get_ints("pads", {});
    return !c.has("auto_pad");
  };
  std::vector<int64_t> pads;
  // 4x4, k3, s2: output 2x2, one padding pixel in all.
  ASSERT_TRUE(canonical_pads("SAME_UPPER", 2, {1, 1, 4, 4}, &pads));
  EXPECT_EQ(pads, (std::vector<int64_t>{0, 0, 1, 1}));
  ASSERT_TRUE(canonical_pads("SAME_LOWER", 2, {1, 1, 4, 4}, &pads));
  EXPECT_EQ(pads, (std::vector<int64_t>{1, 1, 0, 0}));
  ASSERT_TRUE(canonical_pads("VALID", 2, {1, 1, 4, 4}, &pads));
  EXPECT_EQ(pads, (std::vector<int64_t>{0, 0, 0, 0}));
  // Stride 1 needs no size: open height and width still resolve; stride 2 with open sizes stays
  // auto_pad, and the float conv pads each input as its size asks.
  ASSERT_TRUE(canonical_pads("SAME_UPPER", 1, {1, 1, kSymbolicDim, kSymbolicDim}, &pads));
  EXPECT_EQ(pads, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_FALSE(canonical_pads("SAME_UPPER", 2, {1, 1, kSymbolicDim, kSymbolicDim}, &pads));
  {
    auto m = conv_model("SAME_LOWER", 2, {1, 1, kSymbolicDim, kSymbolicDim});
    ASSERT_NE(m, nullptr);
    Session sess(m);
    for (int64_t size : {4, 5}) {  // 4: one padding pixel (at the start); 5: two, one each side
      ASSERT_EQ(sess.set_input("x", make({1, 1, size, size}, iota(static_cast<size_t>(size * size)))), "");
      ASSERT_EQ(sess.run(), "");
      const Tensor* y = sess.output("y");
      ASSERT_NE(y, nullptr);
      EXPECT_EQ(y->shape(), (Shape{1, 1, (size + 1) / 2, (size + 1) / 2}));
      const float first = size == 4 ? 0 + 1 + 4 + 5 : 0 + 1 + 5 + 6;
      EXPECT_EQ(y->float_at(0), first) << size;
    }
  }
  // Numbers: 4x4 iota, ones kernel, SAME_LOWER stride 2: windows start at -1 (rows/cols -1..1, 1..3).
  Shape s;
  const std::vector<float> z = run_op("Conv", make({1, 1, 4, 4}, iota(16)), {w},
                                      {{"strides", Attr::of_ints({2, 2})}, {"auto_pad", Attr::of_string("SAME_LOWER")}},
                                      &s);
  EXPECT_EQ(s, (Shape{1, 1, 2, 2}));
  EXPECT_EQ(z, (std::vector<float>{0 + 1 + 4 + 5, 1 + 2 + 3 + 5 + 6 + 7, 4 + 5 + 8 + 9 + 12 + 13,
                                   5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15}));
}

TEST(Ops, ReduceMeanAxesAndSoftmaxAxis) {
  const Tensor x = make({2, 2, 2}, iota(8));
  Shape s;
  EXPECT_EQ(run_op("ReduceMean", x, {}, {{"axes", Attr::of_ints({0, 2})}, {"keepdims", Attr::of_int(0)}}, &s),
            (std::vector<float>{2.5f, 4.5f}));
  EXPECT_EQ(s, (Shape{2}));
  const std::vector<float> y = run_op("Softmax", make({1, 2, 1}, {0, 0}), {}, {{"axis", Attr::of_int(1)}});
  EXPECT_EQ(y, (std::vector<float>{0.5f, 0.5f}));
}

}  // namespace
}  // namespace kiln
