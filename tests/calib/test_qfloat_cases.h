// Test cases: a hand-built Q graph, an input, and the expected output codes from the direct scalar
// evaluation (test_qfloat_graphs.h). Used by the QFloat tests and the Q == QFloat tests.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "calib/test_qfloat_graphs.h"

namespace kiln::qftest {

struct Case {
  std::string name;
  Builder b;
  std::string input = "x";
  Shape in_shape;
  std::vector<float> x;
  std::string output;   // a u8 graph output (codes)
  QT expected;
};

inline std::vector<float> random_input(Rng& r, const Shape& s, float lo = -2.0f, float hi = 2.0f) {
  std::vector<float> v(shape_elements(s));
  for (float& f : v) f = r.uniform(lo, hi);
  return v;
}

// Starts a case: f32 input "x" quantized to "xq" (scale 4/255, zero point 128 or 8 for 4 bits).
inline QT begin(Case* c, Rng& r, const Shape& s, int bits = 8) {
  c->in_shape = s;
  c->x = random_input(r, s);
  const float scale = bits == 8 ? 4.0f / 255.0f : 4.0f / 15.0f;
  const int32_t zp = bits == 8 ? 128 : 8;
  const int x = c->b.f32_input("x", s);
  c->b.quantize(x, "xq", scale, zp, bits);
  return ref_quantize(c->x, s, scale, zp, bits);
}

inline std::vector<int8_t> random_weights(Rng& r, size_t n, int wbits) {
  const int hi = (1 << (wbits - 1)) - 1, lo = wbits == 8 ? -127 : -(1 << (wbits - 1));
  std::vector<int8_t> w(n);
  for (int8_t& v : w) v = static_cast<int8_t>(r.range(lo, hi));
  return w;
}

struct ConvCase {
  int64_t C = 8, H = 9, W = 7, N = 1;
  ConvSpec spec;
  int wbits = 8, abits = 8;
  bool residual = false;
  std::string act = "none";  // none, relu, relu6, hardswish
};

// Quantize -> QConv (-> residual from the quantized input) ; output "y" codes.
inline Case conv_case(uint64_t seed, const ConvCase& cc) {
  Case c;
  c.name = "conv";
  Rng r(seed);
  const Shape xs = {cc.N, cc.C, cc.H, cc.W};
  const QT xq = begin(&c, r, xs, cc.abits);
  const ConvSpec& s = cc.spec;
  const int64_t ig = cc.C / s.group;
  const int64_t K = ig * s.kh * s.kw;
  const std::vector<int8_t> w = random_weights(r, static_cast<size_t>(s.out_c * K), cc.wbits);
  std::vector<int32_t> bias(static_cast<size_t>(s.out_c));
  std::vector<float> mult(static_cast<size_t>(s.out_c));
  const float wstd = cc.wbits == 8 ? 73.0f : (cc.wbits == 4 ? 4.6f : 1.2f);
  const float xstd = cc.abits == 8 ? 73.0f : 4.3f;
  const float qrange = cc.abits == 8 ? 40.0f : 3.0f;
  for (int64_t o = 0; o < s.out_c; ++o) {
    bias[o] = r.range(-2000, 2000) / (cc.wbits == 8 ? 1 : 20);
    mult[o] = r.uniform(0.5f, 1.5f) * qrange / (std::sqrt(static_cast<float>(K)) * xstd * wstd);
  }
  QT y;
  y.bits = cc.abits;
  y.scale = cc.act == "hardswish" ? 0.05f : 0.03f;
  y.zp = cc.abits == 8 ? (cc.act == "none" ? 120 : (cc.act == "hardswish" ? 20 : 0)) : (cc.act == "none" ? 7 : 0);
  const int32_t qmax_full = (1 << cc.abits) - 1;
  kk::RequantParams p;
  p.zero_point = y.zp;
  p.qmin = cc.act == "relu" || cc.act == "relu6" ? y.zp : 0;
  p.qmax = cc.act == "relu6" ? std::min(qmax_full, y.zp + static_cast<int32_t>(std::lround(1.0f / y.scale)))
                             : qmax_full;
  if (cc.act == "hardswish") {
    p.activation = kk::Activation::hardswish;
    p.out_scale = y.scale;
    p.hardswish_multiplier = 1.0f / (6.0f * y.scale);
  }
  const float s_r = xq.scale;
  if (cc.residual) {
    p.residual = xq.q.data();
    p.residual_zero_point = xq.zp;
    p.residual_multiplier = s_r / y.scale;
  }
  ref_conv(xq, s, w, bias, mult, p, cc.residual ? &xq : nullptr, &y);

  Builder& b = c.b;
  const int xv = b.g.find_value("xq");
  const int wv = b.constant("w", s8_tensor({s.out_c, s.kh, s.kw, ig}, w));
  b.g.values[wv].quant.scales.assign(static_cast<size_t>(s.out_c), 0.01f);
  b.g.values[wv].quant.zero_points.assign(static_cast<size_t>(s.out_c), 0);
  b.g.values[wv].quant.axis = 0;
  b.g.values[wv].quant.bits = cc.wbits;
  const int bv = b.constant("b", s32_tensor(bias));
  const int mv = b.constant("m", f32_tensor({s.out_c}, mult));
  const int yv = b.act("y", y.scale, y.zp, cc.abits);
  std::vector<int> in = {xv, wv, bv, mv};
  if (cc.residual) in.push_back(xv);
  Node& n = b.node("kiln.QConv", "conv", in, {yv});
  n.attrs["kernel_shape"] = Attr::of_ints({s.kh, s.kw});
  n.attrs["strides"] = Attr::of_ints({s.sh, s.sw});
  n.attrs["pads"] = Attr::of_ints({s.pt, s.pl, s.pb, s.pr});
  n.attrs["dilations"] = Attr::of_ints({s.dh, s.dw});
  n.attrs["group"] = Attr::of_int(s.group);
  n.attrs["wbits"] = Attr::of_int(cc.wbits);
  n.attrs["qmin"] = Attr::of_int(p.qmin);
  n.attrs["qmax"] = Attr::of_int(p.qmax);
  n.attrs["activation"] = Attr::of_string(cc.act == "hardswish" ? "hardswish" : "none");
  if (cc.act == "hardswish") n.attrs["hardswish_multiplier"] = Attr::of_float(p.hardswish_multiplier);
  if (cc.residual) n.attrs["residual_multiplier"] = Attr::of_float(p.residual_multiplier);
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

// Quantize -> Flatten-free QGemm over x [M, K] ; output "y".
inline Case gemm_case(uint64_t seed, int64_t M, int64_t K, int64_t N, bool hardswish) {
  Case c;
  c.name = "gemm";
  Rng r(seed);
  const QT xq = begin(&c, r, {M, K});
  const std::vector<int8_t> w = random_weights(r, static_cast<size_t>(N * K), 8);
  std::vector<int32_t> bias(static_cast<size_t>(N));
  std::vector<float> mult(static_cast<size_t>(N));
  for (int64_t o = 0; o < N; ++o) {
    bias[o] = r.range(-3000, 3000);
    mult[o] = r.uniform(0.5f, 1.5f) * 40.0f / (std::sqrt(static_cast<float>(K)) * 73.0f * 73.0f);
  }
  QT y;
  y.scale = 0.05f;
  y.zp = hardswish ? 20 : 0;  // relu otherwise
  kk::RequantParams p;
  p.zero_point = y.zp;
  p.qmin = hardswish ? 0 : y.zp;
  if (hardswish) {
    p.activation = kk::Activation::hardswish;
    p.out_scale = y.scale;
    p.hardswish_multiplier = 1.0f / (6.0f * y.scale);
  }
  ref_gemm(xq, w, N, bias, mult, p, &y);
  Builder& b = c.b;
  const int wv = b.constant("w", s8_tensor({N, K}, w));
  const int yv = b.act("y", y.scale, y.zp);
  Node& n = b.node("kiln.QGemm", "fc", {b.g.find_value("xq"), wv, b.constant("b", s32_tensor(bias)),
                                        b.constant("m", f32_tensor({N}, mult))}, {yv});
  n.attrs["wbits"] = Attr::of_int(8);
  n.attrs["qmin"] = Attr::of_int(p.qmin);
  n.attrs["qmax"] = Attr::of_int(255);
  n.attrs["activation"] = Attr::of_string(hardswish ? "hardswish" : "none");
  if (hardswish) n.attrs["hardswish_multiplier"] = Attr::of_float(p.hardswish_multiplier);
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

// Two quantized inputs a (shape sa) and b (shape sb, broadcast): QAdd (relu) or QMul.
inline Case binary_case(uint64_t seed, const Shape& sa, const Shape& sb, bool add) {
  Case c;
  c.name = add ? "add" : "mul";
  Rng r(seed);
  const QT a = begin(&c, r, sa);
  // The second operand: its own input, quantized with other parameters.
  std::vector<float> xb = random_input(r, sb, -1.0f, 3.0f);
  const QT bq = ref_quantize(xb, sb, 0.02f, 50);
  Builder& b = c.b;
  const int xbv = b.f32_input("x2", sb);
  b.quantize(xbv, "x2q", 0.02f, 50);
  QT y;
  y.scale = add ? 0.03f : 0.04f;
  y.zp = add ? 0 : 100;
  const int32_t qmin = add ? y.zp : 0;
  const float ma = a.scale / y.scale, mb = bq.scale / y.scale, m = a.scale * bq.scale / y.scale;
  const kk::QOut o{y.zp, qmin, 255};
  if (add) {
    ref_binary(a, bq, &y, [&](uint8_t u, uint8_t v) { return kk::q_add(u, a.zp, ma, v, bq.zp, mb, o); });
  } else {
    ref_binary(a, bq, &y, [&](uint8_t u, uint8_t v) { return kk::q_mul(u, a.zp, v, bq.zp, m, o); });
  }
  const int yv = b.act("y", y.scale, y.zp);
  Node& n = b.node(add ? "kiln.QAdd" : "kiln.QMul", "op", {b.g.find_value("xq"), b.g.find_value("x2q")}, {yv});
  if (add) {
    n.attrs["a_multiplier"] = Attr::of_float(ma);
    n.attrs["b_multiplier"] = Attr::of_float(mb);
  } else {
    n.attrs["multiplier"] = Attr::of_float(m);
  }
  n.attrs["qmin"] = Attr::of_int(qmin);
  n.attrs["qmax"] = Attr::of_int(255);
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  // The second input's data is appended after the first (see set_inputs()).
  c.x.insert(c.x.end(), xb.begin(), xb.end());
  return c;
}

// Three inputs concatenated on channels: the first with the output's parameters (copy), the
// others requantized.
inline Case concat_case(uint64_t seed) {
  Case c;
  c.name = "concat";
  Rng r(seed);
  const Shape s = {1, 3, 5, 6};
  QT a = begin(&c, r, s);
  Builder& b = c.b;
  QT y;
  y.scale = a.scale;
  y.zp = a.zp;
  std::vector<const QT*> parts = {&a};
  std::vector<float> mult = {0.0f};
  std::vector<int> ins = {b.g.find_value("xq")};
  std::vector<QT> others;
  others.reserve(2);
  const float scales[2] = {0.011f, 0.041f};
  const int32_t zps[2] = {3, 200};
  for (int k = 0; k < 2; ++k) {
    const Shape sk = {1, 2 + k, 5, 6};
    std::vector<float> xk = random_input(r, sk, -2.5f, 2.5f);
    others.push_back(ref_quantize(xk, sk, scales[k], zps[k]));
    const std::string name = "x" + std::to_string(k + 2);
    b.quantize(b.f32_input(name, sk), name + "q", scales[k], zps[k]);
    ins.push_back(b.g.find_value(name + "q"));
    parts.push_back(&others.back());
    mult.push_back(scales[k] / y.scale);
    c.x.insert(c.x.end(), xk.begin(), xk.end());
  }
  ref_concat(parts, mult, 0, 255, &y);
  const int yv = b.act("y", y.scale, y.zp);
  Node& n = b.node("kiln.QConcat", "cat", ins, {yv});
  n.attrs["axis"] = Attr::of_int(1);
  n.attrs["multipliers"] = Attr::of_floats(mult);
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

// kind: "max", "avg", "gap".
inline Case pool_case(uint64_t seed, const std::string& kind, const PoolSpec& ps, const Shape& s) {
  Case c;
  c.name = "pool_" + kind;
  Rng r(seed);
  const QT xq = begin(&c, r, s);
  QT y;
  y.scale = kind == "max" ? xq.scale : 0.01f;
  y.zp = kind == "max" ? xq.zp : 110;
  const float m = xq.scale / y.scale;
  Builder& b = c.b;
  const int yv = b.act("y", y.scale, y.zp);
  if (kind == "gap") {
    PoolSpec g;
    g.kh = s[2];
    g.kw = s[3];
    g.sh = g.sw = 1;
    ref_pool(xq, g, false, m, 0, 255, &y);
    Node& n = b.node("kiln.QGlobalAvgPool", "gap", {b.g.find_value("xq")}, {yv});
    n.attrs["multiplier"] = Attr::of_float(m);
    n.attrs["qmin"] = Attr::of_int(0);
    n.attrs["qmax"] = Attr::of_int(255);
  } else {
    ref_pool(xq, ps, kind == "max", m, 0, 255, &y);
    Node& n = b.node(kind == "max" ? "kiln.QMaxPool" : "kiln.QAvgPool", "pool", {b.g.find_value("xq")}, {yv});
    n.attrs["kernel_shape"] = Attr::of_ints({ps.kh, ps.kw});
    n.attrs["strides"] = Attr::of_ints({ps.sh, ps.sw});
    n.attrs["pads"] = Attr::of_ints({ps.pt, ps.pl, ps.pb, ps.pr});
    n.attrs["ceil_mode"] = Attr::of_int(ps.ceil_mode ? 1 : 0);
    if (kind == "avg") {
      n.attrs["count_include_pad"] = Attr::of_int(ps.count_include_pad ? 1 : 0);
      n.attrs["multiplier"] = Attr::of_float(m);
      n.attrs["qmin"] = Attr::of_int(0);
      n.attrs["qmax"] = Attr::of_int(255);
    }
  }
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

inline Case lut_case(uint64_t seed, kk::LutFunction f) {
  Case c;
  c.name = "lut";
  Rng r(seed);
  const QT xq = begin(&c, r, {2, 3, 4, 5});
  QT y;
  y.scale = 1.0f / 255.0f * 2.0f;
  y.zp = 128;
  kk::LutParams lp;
  lp.function = f;
  std::vector<uint8_t> table(256);
  kk::build_lut(lp, xq.zp, xq.scale, y.scale, {y.zp, 0, 255}, table.data());
  y.shape = xq.shape;
  y.q.resize(xq.q.size());
  for (size_t i = 0; i < xq.q.size(); ++i) y.q[i] = table[xq.q[i]];
  Builder& b = c.b;
  Tensor t(DType::u8, {256});
  std::copy(table.begin(), table.end(), t.mutable_data<uint8_t>());
  const int yv = b.act("y", y.scale, y.zp);
  b.node("kiln.QLut", "lut", {b.g.find_value("xq"), b.constant("table", std::move(t))}, {yv})
      .attrs["function"] = Attr::of_string("sigmoid");
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

inline Case resize_case(uint64_t seed, bool linear) {
  Case c;
  c.name = linear ? "resize_linear" : "resize_nearest";
  Rng r(seed);
  const QT xq = begin(&c, r, {1, 3, 4, 5});
  QT y;
  y.scale = xq.scale;
  y.zp = xq.zp;
  ref_resize(xq, 8, 10, linear, &y);
  Builder& b = c.b;
  const int yv = b.act("y", y.scale, y.zp);
  Tensor scales(DType::f32, {4});
  const float sc[4] = {1.0f, 1.0f, 2.0f, 2.0f};
  std::copy(sc, sc + 4, scales.mutable_data<float>());
  Node& n = b.node("kiln.QResize", "up", {b.g.find_value("xq"), -1, b.constant("scales", std::move(scales))}, {yv});
  n.attrs["mode"] = Attr::of_string(linear ? "linear" : "nearest");
  n.attrs["coordinate_transformation_mode"] = Attr::of_string(linear ? "half_pixel" : "asymmetric");
  n.attrs["nearest_mode"] = Attr::of_string("floor");
  b.g.outputs.push_back(yv);
  c.output = "y";
  c.expected = y;
  return c;
}

// Feeds a case's inputs (in graph order; their data concatenated in c.x) to `set`.
inline bool set_inputs(const Case& c, const std::function<bool(const std::string&, const Tensor&)>& set) {
  size_t off = 0;
  for (int v : c.b.g.inputs) {
    const Value& val = c.b.g.values[v];
    Tensor t(DType::f32, val.shape);
    if (off + t.elements() > c.x.size()) return false;
    std::copy(c.x.begin() + static_cast<long>(off), c.x.begin() + static_cast<long>(off + t.elements()),
              t.mutable_data<float>());
    off += t.elements();
    if (!set(val.name, t)) return false;
  }
  return off == c.x.size();
}

}  // namespace kiln::qftest
