// QFloat against a direct scalar evaluation of the spec (requant.h / qops.h) on hand-built Q graphs:
// every quantized op, its edge cases (padding, strides, groups, dilation, residual, hardswish,
// clamps, 4-bit weights and activations, broadcasting, differing concat scales, pooling windows),
// float islands, pass-through ops, value(), and errors on malformed graphs. Exact equality.
#include <gtest/gtest.h>

#include <memory>

#include "calib/test_qfloat_cases.h"
#include "kiln/calib/qfloat.h"
#include "kiln/runtime/op_registry.h"

namespace kiln {
namespace {

using calib::QFloatOptions;
using calib::QFloatSession;
using qftest::Case;

// Runs the case through QFloat and returns the output codes (empty on failure, with a test error).
std::vector<uint8_t> run_qfloat(const Case& c, int threads = 1) {
  std::unique_ptr<QFloatSession> s;
  std::string e;
  QFloatOptions o;
  o.threads = threads;
  EXPECT_TRUE(QFloatSession::create(c.b.g, o, &s, &e)) << c.name << ": " << e;
  if (!s) return {};
  EXPECT_TRUE(qftest::set_inputs(c, [&](const std::string& n, const Tensor& t) { return s->set_input(n, t, &e); }))
      << c.name << ": " << e;
  EXPECT_TRUE(s->run(&e)) << c.name << ": " << e;
  const Tensor* y = s->output(c.output);
  EXPECT_NE(y, nullptr) << c.name;
  if (!y) return {};
  EXPECT_EQ(y->dtype(), DType::u8);
  EXPECT_EQ(y->shape(), c.expected.shape) << c.name;
  if (y->dtype() != DType::u8) return {};
  return std::vector<uint8_t>(y->data<uint8_t>(), y->data<uint8_t>() + y->elements());
}

// Exact comparison, with the first mismatch reported.
void expect_codes(const Case& c, const std::vector<uint8_t>& got, const std::string& what) {
  ASSERT_EQ(got.size(), c.expected.q.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != c.expected.q[i] && bad++ == 0) first = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " codes differ; first at " << first << ": got "
                     << int(got[first]) << ", spec " << int(c.expected.q[first]);
  // The case must exercise more than one code (a constant output would hide errors).
  const auto [lo, hi] = std::minmax_element(c.expected.q.begin(), c.expected.q.end());
  EXPECT_LT(*lo, *hi) << what << ": degenerate case";
}

struct ConvVariant {
  const char* name;
  qftest::ConvCase cc;
};

qftest::ConvCase conv(int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t s, int64_t pad, int64_t dil,
                      int64_t group, bool residual, const char* act, int wbits = 8, int abits = 8, int64_t N = 1) {
  qftest::ConvCase c;
  c.C = C;
  c.H = H;
  c.W = W;
  c.N = N;
  c.spec.out_c = O;
  c.spec.kh = c.spec.kw = k;
  c.spec.sh = c.spec.sw = s;
  c.spec.pt = c.spec.pl = c.spec.pb = c.spec.pr = pad;
  c.spec.dh = c.spec.dw = dil;
  c.spec.group = group;
  c.residual = residual;
  c.act = act;
  c.wbits = wbits;
  c.abits = abits;
  return c;
}

std::vector<ConvVariant> conv_variants() {
  std::vector<ConvVariant> v = {
      {"3x3 pad1 relu", conv(8, 9, 7, 8, 3, 1, 1, 1, 1, false, "relu")},
      {"3x3 pad1 residual relu", conv(8, 9, 7, 8, 3, 1, 1, 1, 1, true, "relu")},
      {"1x1 residual none", conv(16, 5, 6, 16, 1, 1, 0, 1, 1, true, "none")},
      {"3x3 stride2 hardswish", conv(5, 11, 10, 12, 3, 2, 1, 1, 1, false, "hardswish")},
      {"depthwise 3x3 relu6", conv(12, 8, 9, 12, 3, 1, 1, 1, 12, false, "relu6")},
      {"depthwise 5x5 stride2 residual-free", conv(6, 13, 12, 6, 5, 2, 2, 1, 6, false, "none")},
      {"grouped 3x3 dilation2", conv(8, 10, 10, 12, 3, 1, 2, 2, 4, false, "none")},
      {"asymmetric-free 7x7 stride2 first layer", conv(3, 17, 15, 8, 7, 2, 3, 1, 1, false, "relu")},
      {"batch 2 residual hardswish", conv(4, 6, 5, 4, 3, 1, 1, 1, 1, true, "hardswish", 8, 8, 2)},
      {"w4 3x3", conv(8, 7, 7, 10, 3, 1, 1, 1, 1, false, "none", 4)},
      {"w4 depthwise residual", conv(8, 7, 7, 8, 3, 1, 1, 1, 8, true, "relu", 4)},
      {"w2 1x1", conv(16, 4, 4, 8, 1, 1, 0, 1, 1, false, "none", 2)},
      {"a4 w4 3x3", conv(8, 6, 6, 8, 3, 1, 1, 1, 1, false, "none", 4, 4)},
      {"a4 w8 relu", conv(8, 6, 6, 8, 3, 1, 1, 1, 1, false, "relu", 8, 4)},
  };
  return v;
}

TEST(QFloatOps, ConvMatchesSpec) {
  uint64_t seed = 1;
  for (const ConvVariant& v : conv_variants()) {
    const Case c = qftest::conv_case(seed++, v.cc);
    expect_codes(c, run_qfloat(c), v.name);
  }
}

TEST(QFloatOps, ConvWithTwoThreadsMatchesSpec) {
  const Case c = qftest::conv_case(77, conv(16, 12, 12, 16, 3, 1, 1, 1, 1, true, "relu", 8, 8, 2));
  expect_codes(c, run_qfloat(c, 2), "two threads");
}

TEST(QFloatOps, GemmMatchesSpec) {
  expect_codes(qftest::gemm_case(3, 5, 37, 19, false), run_qfloat(qftest::gemm_case(3, 5, 37, 19, false)), "relu");
  expect_codes(qftest::gemm_case(4, 7, 64, 33, true), run_qfloat(qftest::gemm_case(4, 7, 64, 33, true)), "hardswish");
  expect_codes(qftest::gemm_case(5, 1, 300, 10, false), run_qfloat(qftest::gemm_case(5, 1, 300, 10, false)), "M=1");
}

// Extreme operands with a large K: |acc| just below 2^24 (1000 * 128 * 127), where the fp32
// accumulation is still exact.
TEST(QFloatOps, GemmExtremeOperandsLargeK) {
  Case c = qftest::gemm_case(6, 2, 1000, 4, false);
  Graph& g = c.b.g;
  Tensor& w = *g.values[g.find_value("w")].constant;
  std::vector<int8_t> wv(w.elements());
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<int8_t>((i / 1000) % 2 ? -127 : 127);
  w = qftest::s8_tensor(w.shape(), wv);
  Tensor& m = *g.values[g.find_value("m")].constant;
  for (size_t i = 0; i < 4; ++i) m.mutable_data<float>()[i] = 1.0f / 65536.0f;
  for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = i < 1000 ? -10.0f : 10.0f;  // codes 0 and 255 (zp 128)
  const qftest::QT xq = qftest::ref_quantize(c.x, {2, 1000}, 4.0f / 255.0f, 128);
  const Tensor& b = *g.values[g.find_value("b")].constant;
  std::vector<int32_t> bias(b.data<int32_t>(), b.data<int32_t>() + 4);
  kernels::RequantParams p;
  p.zero_point = c.expected.zp;
  p.qmin = c.expected.zp;
  qftest::QT want = c.expected;
  qftest::ref_gemm(xq, wv, 4, bias, std::vector<float>(4, 1.0f / 65536.0f), p, &want);
  c.expected = want;
  expect_codes(c, run_qfloat(c), "extreme operands, K = 1000");
}

TEST(QFloatOps, AddAndMulBroadcast) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 6, 5, 4}, {2, 6, 5, 4}}, {{2, 6, 5, 4}, {2, 6, 1, 1}}, {{1, 3, 4, 4}, {1, 1, 1, 1}}, {{3, 7}, {1, 7}}};
  uint64_t seed = 10;
  for (const auto& [a, b] : shapes) {
    for (bool add : {true, false}) {
      const Case c = qftest::binary_case(seed++, a, b, add);
      expect_codes(c, run_qfloat(c), c.name + " " + shape_string(a) + " with " + shape_string(b));
    }
  }
}

TEST(QFloatOps, ConcatWithDifferingScales) {
  const Case c = qftest::concat_case(21);
  expect_codes(c, run_qfloat(c), "concat");
}

TEST(QFloatOps, Pools) {
  qftest::PoolSpec max3;
  max3.kh = max3.kw = 3;
  max3.pt = max3.pl = max3.pb = max3.pr = 1;
  expect_codes(qftest::pool_case(30, "max", max3, {1, 4, 9, 8}),
               run_qfloat(qftest::pool_case(30, "max", max3, {1, 4, 9, 8})), "max 3x3 s2 p1");
  for (bool include : {false, true}) {
    for (bool ceil : {false, true}) {
      qftest::PoolSpec avg = max3;
      avg.count_include_pad = include;
      avg.ceil_mode = ceil;
      const Case c = qftest::pool_case(31, "avg", avg, {2, 3, 8, 9});
      expect_codes(c, run_qfloat(c), std::string("avg include_pad=") + (include ? "1" : "0") + " ceil=" + (ceil ? "1" : "0"));
    }
  }
  qftest::PoolSpec avg2;  // 2x2 stride 2, no padding
  expect_codes(qftest::pool_case(32, "avg", avg2, {1, 5, 6, 6}), run_qfloat(qftest::pool_case(32, "avg", avg2, {1, 5, 6, 6})),
               "avg 2x2");
  const Case g = qftest::pool_case(33, "gap", {}, {2, 6, 7, 5});
  expect_codes(g, run_qfloat(g), "global average");
}

TEST(QFloatOps, LookupTable) {
  for (auto f : {kernels::LutFunction::sigmoid, kernels::LutFunction::hardswish, kernels::LutFunction::tanh}) {
    const Case c = qftest::lut_case(40 + static_cast<int>(f), f);
    expect_codes(c, run_qfloat(c), "lut");
  }
}

TEST(QFloatOps, Resize) {
  for (bool linear : {false, true}) {
    const Case c = qftest::resize_case(50, linear);
    expect_codes(c, run_qfloat(c), c.name);
  }
}

// Quantize -> QConv (relu) -> QMaxPool -> QGlobalAvgPool -> Flatten -> QGemm -> Dequantize -> Softmax
// (a float island) -> Quantize; output codes, and every intermediate through value().
TEST(QFloatOps, NetworkWithFloatIslandAndValues) {
  qftest::Rng r(60);
  Case c = qftest::conv_case(61, conv(4, 8, 8, 6, 3, 1, 1, 1, 1, false, "relu"));
  qftest::Builder& b = c.b;
  const qftest::QT y1 = c.expected;
  // Max pool 2x2 s2.
  qftest::PoolSpec mp;
  qftest::QT y2;
  y2.scale = y1.scale;
  y2.zp = y1.zp;
  qftest::ref_pool(y1, mp, true, 0, 0, 255, &y2);
  const int v2 = b.act("pool", y2.scale, y2.zp);
  Node& pool = b.node("kiln.QMaxPool", "pool", {b.g.find_value("y")}, {v2});
  pool.attrs["kernel_shape"] = Attr::of_ints({2, 2});
  pool.attrs["strides"] = Attr::of_ints({2, 2});
  // Global average.
  qftest::QT y3;
  y3.scale = y2.scale * 0.5f;
  y3.zp = 0;
  qftest::PoolSpec g;
  g.kh = g.kw = 4;
  g.sh = g.sw = 1;
  qftest::ref_pool(y2, g, false, y2.scale / y3.scale, 0, 255, &y3);
  const int v3 = b.act("gap", y3.scale, y3.zp);
  Node& gap = b.node("kiln.QGlobalAvgPool", "gap", {v2}, {v3});
  gap.attrs["multiplier"] = Attr::of_float(y2.scale / y3.scale);
  // Flatten (pass-through on codes) then QGemm 6 -> 5.
  const int v4 = b.act("flat", y3.scale, y3.zp);
  b.node("Flatten", "flatten", {v3}, {v4}).attrs["axis"] = Attr::of_int(1);
  qftest::QT flat = y3;
  flat.shape = {1, 6};
  std::vector<int8_t> w = qftest::random_weights(r, 30, 8);
  std::vector<int32_t> bias = {100, -50, 0, 20, -300};
  std::vector<float> mult = {0.002f, 0.003f, 0.001f, 0.0025f, 0.004f};
  qftest::QT y5;
  y5.scale = 0.1f;
  y5.zp = 128;
  kernels::RequantParams p;
  p.zero_point = 128;
  qftest::ref_gemm(flat, w, 5, bias, mult, p, &y5);
  const int v5 = b.act("logits", y5.scale, y5.zp);
  b.node("kiln.QGemm", "fc", {v4, b.constant("fc_w", qftest::s8_tensor({5, 6}, w)), b.constant("fc_b", qftest::s32_tensor(bias)),
                              b.constant("fc_m", qftest::f32_tensor({5}, mult))},
         {v5});
  // Float island: Dequantize -> Softmax -> Quantize.
  const int v6 = b.dequantize(v5, "logits_f");
  const int v7 = b.f32_value("probs");
  b.node("Softmax", "softmax", {v6}, {v7}).attrs["axis"] = Attr::of_int(1);
  b.quantize(v7, "probs_q", 1.0f / 255.0f, 0);
  b.g.outputs = {b.g.find_value("probs_q")};
  std::vector<float> logits(5), probs(5);
  float mx = -1e30f, sum = 0.0f;
  for (int i = 0; i < 5; ++i) logits[i] = kernels::q_dequantize(y5.q[i], y5.zp, y5.scale), mx = std::max(mx, logits[i]);
  for (int i = 0; i < 5; ++i) sum += (probs[i] = std::exp(logits[i] - mx));
  std::vector<uint8_t> want(5);
  for (int i = 0; i < 5; ++i) want[i] = kernels::q_quantize(probs[i] / sum, 1.0f / 255.0f, {0, 0, 255});

  std::unique_ptr<QFloatSession> s;
  std::string e;
  ASSERT_TRUE(QFloatSession::create(b.g, &s, &e)) << e;
  ASSERT_TRUE(qftest::set_inputs(c, [&](const std::string& n, const Tensor& t) { return s->set_input(n, t, &e); })) << e;
  ASSERT_TRUE(s->run(&e)) << e;
  auto codes = [&](const std::string& name) {
    const Tensor* t = s->value(name);
    EXPECT_NE(t, nullptr) << name;
    if (!t) return std::vector<uint8_t>{};
    EXPECT_EQ(t->dtype(), DType::u8) << name;
    return std::vector<uint8_t>(t->data<uint8_t>(), t->data<uint8_t>() + t->elements());
  };
  EXPECT_EQ(codes("y"), y1.q);
  EXPECT_EQ(codes("pool"), y2.q);
  EXPECT_EQ(codes("gap"), y3.q);
  EXPECT_EQ(codes("flat"), y3.q);
  EXPECT_EQ(codes("logits"), y5.q);
  ASSERT_NE(s->value("logits_f"), nullptr);
  EXPECT_EQ(s->value("logits_f")->dtype(), DType::f32);
  EXPECT_EQ(s->value("logits_f")->data<float>()[2], logits[2]);
  // Softmax of the runtime may differ from std::exp in the last bit of a probability; one LSB.
  const std::vector<uint8_t> got = codes("probs_q");
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_LE(std::abs(int(got[i]) - int(want[i])), 1) << i;
  EXPECT_EQ(s->output("probs_q"), s->value("probs_q"));
  const Tensor real = s->dequantized_value("logits");
  ASSERT_EQ(real.dtype(), DType::f32);
  ASSERT_EQ(real.elements(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(real.data<float>()[i], logits[i]);
  EXPECT_EQ(s->dequantized_value("nothing").raw(), nullptr);
  EXPECT_EQ(s->output("logits"), nullptr);  // not a graph output
  EXPECT_EQ(s->value("fc_w"), nullptr);     // constants are not values
  EXPECT_EQ(s->input_names(), std::vector<std::string>{"x"});
  EXPECT_EQ(s->output_names(), std::vector<std::string>{"probs_q"});
  // A second run on the same session gives the same codes.
  ASSERT_TRUE(s->run(&e)) << e;
  EXPECT_EQ(codes("logits"), y5.q);
}

// Pad on codes fills with the zero point; Transpose and Reshape move codes.
TEST(QFloatOps, PassThroughOps) {
  Case c;
  qftest::Rng r(70);
  const qftest::QT xq = qftest::begin(&c, r, {1, 2, 3, 4});
  qftest::Builder& b = c.b;
  const int pads = b.constant("pads", qftest::s64_tensor({0, 0, 1, 2, 0, 0, 0, 1}));
  const int v1 = b.act("padded", xq.scale, xq.zp);
  b.node("Pad", "pad", {b.g.find_value("xq"), pads}, {v1});
  const int v2 = b.act("t", xq.scale, xq.zp);
  b.node("Transpose", "tr", {v1}, {v2}).attrs["perm"] = Attr::of_ints({0, 2, 3, 1});
  b.g.outputs = {v2};
  std::unique_ptr<QFloatSession> s;
  std::string e;
  ASSERT_TRUE(QFloatSession::create(b.g, &s, &e)) << e;
  ASSERT_TRUE(qftest::set_inputs(c, [&](const std::string& n, const Tensor& t) { return s->set_input(n, t, &e); })) << e;
  ASSERT_TRUE(s->run(&e)) << e;
  const Tensor* y = s->output("t");
  ASSERT_NE(y, nullptr);
  ASSERT_EQ(y->shape(), (Shape{1, 4, 7, 2}));
  for (int64_t h = 0; h < 4; ++h) {
    for (int64_t w = 0; w < 7; ++w) {
      for (int64_t ch = 0; ch < 2; ++ch) {
        const bool inside = h >= 1 && w >= 2 && w < 6;
        const uint8_t want = inside ? xq.q[(ch * 3 + (h - 1)) * 4 + (w - 2)] : static_cast<uint8_t>(xq.zp);
        ASSERT_EQ(y->data<uint8_t>()[(h * 7 + w) * 2 + ch], want) << h << "," << w << "," << ch;
      }
    }
  }
}

TEST(QFloatOps, MalformedGraphsAreRejected) {
  std::unique_ptr<QFloatSession> s;
  std::string e;
  {  // an activation without quantization parameters
    Case c = qftest::conv_case(80, conv(4, 5, 5, 4, 3, 1, 1, 1, 1, false, "none"));
    c.b.g.values[c.b.g.find_value("y")].quant = {};
    EXPECT_FALSE(QFloatSession::create(c.b.g, &s, &e));
    EXPECT_NE(e.find("conv"), std::string::npos) << e;
  }
  {  // weights that do not match the input channels
    Case c = qftest::conv_case(81, conv(4, 5, 5, 4, 3, 1, 1, 1, 1, false, "none"));
    c.b.g.nodes.back().attrs["group"] = Attr::of_int(2);
    EXPECT_FALSE(QFloatSession::create(c.b.g, &s, &e));
    EXPECT_NE(e.find("channels"), std::string::npos) << e;
  }
  {  // a multiplier tensor of the wrong size
    Case c = qftest::gemm_case(82, 2, 8, 4, false);
    c.b.g.nodes.back().inputs[3] = c.b.constant("m3", qftest::f32_tensor({3}, {1, 1, 1}));
    EXPECT_FALSE(QFloatSession::create(c.b.g, &s, &e));
    EXPECT_NE(e.find("multiplier"), std::string::npos) << e;
  }
  {  // an unknown quantized op
    Case c = qftest::lut_case(83, kernels::LutFunction::sigmoid);
    c.b.g.nodes.back().op = "kiln.QSomething";
    EXPECT_FALSE(QFloatSession::create(c.b.g, &s, &e));
    EXPECT_NE(e.find("kiln.QSomething"), std::string::npos) << e;
  }
  {  // a clamp outside the code range
    Case c = qftest::lut_case(84, kernels::LutFunction::sigmoid);
    c.b.g.nodes.front().attrs["qmax"] = Attr::of_int(300);
    EXPECT_FALSE(QFloatSession::create(c.b.g, &s, &e));
  }
  {  // wrong input shape at run time
    Case c = qftest::lut_case(85, kernels::LutFunction::sigmoid);
    ASSERT_TRUE(QFloatSession::create(c.b.g, &s, &e)) << e;
    EXPECT_FALSE(s->set_input("x", Tensor(DType::f32, {2, 3, 4}), &e));
    EXPECT_FALSE(s->set_input("nope", Tensor(DType::f32, {2, 3, 4, 5}), &e));
    EXPECT_FALSE(s->run(&e));  // input not set
    EXPECT_EQ(s->output("y"), nullptr);
  }
}

TEST(QFloatOps, CodeAccumulatorSaturates) {
  EXPECT_EQ(calib::code_accumulator(1234.0f, -34), 1200);
  EXPECT_EQ(calib::code_accumulator(-5.0f, 0), -5);
  EXPECT_EQ(calib::code_accumulator(3.0e9f, 5), INT32_MAX);
  EXPECT_EQ(calib::code_accumulator(-3.0e9f, -5), INT32_MIN);
  EXPECT_EQ(calib::code_accumulator(NAN, 7), 7);
}

int dummy_infer_calls = 0;
std::string dummy_infer(InferContext&) {
  ++dummy_infer_calls;
  return "";
}
std::string dummy_run(RunContext&) { return ""; }
std::string other_run(RunContext&) { return "other"; }

TEST(OpRegistry, RegisterOpExtensionPoint) {
  std::string e;
  EXPECT_EQ(find_op("test.Dummy"), nullptr);
  ASSERT_TRUE(register_op({"test.Dummy", dummy_infer, dummy_run, LayoutRule::same, nullptr, "alpha,beta"}, &e)) << e;
  const OpDef* op = find_op("test.Dummy");
  ASSERT_NE(op, nullptr);
  EXPECT_TRUE(op_accepts_attribute(*op, "beta"));
  EXPECT_FALSE(op_accepts_attribute(*op, "gamma"));
  // The same definition again is fine; a different one under the name is refused.
  EXPECT_TRUE(register_op({"test.Dummy", dummy_infer, dummy_run, LayoutRule::same, nullptr, "alpha,beta"}, &e));
  EXPECT_FALSE(register_op({"test.Dummy", dummy_infer, other_run, LayoutRule::same, nullptr, ""}, &e));
  EXPECT_NE(e.find("already"), std::string::npos);
  // Built-in names cannot be taken over; incomplete definitions are refused.
  EXPECT_FALSE(register_op({"Conv", dummy_infer, dummy_run, LayoutRule::same, nullptr, ""}, &e));
  EXPECT_FALSE(register_op({"test.NoRun", dummy_infer, nullptr, LayoutRule::same, nullptr, ""}, &e));
  EXPECT_FALSE(register_op({nullptr, dummy_infer, dummy_run, LayoutRule::same, nullptr, ""}, &e));
  EXPECT_EQ(find_op("Conv")->run == dummy_run, false);
}

}  // namespace
}  // namespace kiln
