// The Q graph on the integer kernels: hand-built graphs (Quantize -> QConv (+residual, ReLU clamp,
// hardswish, depthwise, grouped, 4- and 2-bit) -> QAdd -> QConcat -> pools -> QMul (SE broadcast)
// -> QLut -> QResize -> Flatten -> QGemm -> Dequantize) run by Model/Session on every ISA this
// build and CPU have, against a direct evaluation of the requant.h / qops.h spec: exact equality.
// Then kernel blobs: packed per ISA, saved, loaded; the prepared nodes run from the mapped file and
// give the same outputs as the blob-free model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <unistd.h>
#include <random>

#include "kiln/format/kiln_file.h"
#include "kiln/kernels/f32/pool.h"
#include "kiln/kernels/f32/resize.h"
#include "kiln/kernels/qops.h"
#include "kiln/kernels/requant.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/q_blobs.h"

namespace kiln {
namespace {

namespace kn = kernels;
using Codes = std::vector<uint8_t>;

// ---- graph building
struct Builder {
  Graph g;
  int input(const std::string& name, Shape s) {
    Value v;
    v.name = name;
    v.dtype = DType::f32;
    v.shape = std::move(s);
    v.shape_known = true;
    const int id = g.add_value(v);
    g.inputs.push_back(id);
    return id;
  }
  int q(const std::string& name, float scale, int32_t zp, int bits = 8) {
    Value v;
    v.name = name;
    v.dtype = DType::u8;
    v.quant.scales = {scale};
    v.quant.zero_points = {zp};
    v.quant.bits = bits;
    return g.add_value(v);
  }
  int f(const std::string& name) {
    Value v;
    v.name = name;
    return g.add_value(v);
  }
  int cst(const std::string& name, Tensor t) { return g.add_constant(name, std::move(t)); }
  void node(const std::string& op, std::vector<int> in, std::vector<int> out, std::map<std::string, Attr> attrs = {}) {
    Node n;
    n.name = op + "_" + std::to_string(g.nodes.size());
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
  }
  // A graph output: Dequantize of a u8 value.
  void output(int v, const std::string& name) {
    const int o = f(name);
    node("kiln.Dequantize", {v}, {o});
    g.outputs.push_back(o);
  }
};

template <class T>
Tensor tensor(DType t, Shape s, const std::vector<T>& v) {
  Tensor x(t, std::move(s));
  std::memcpy(x.mutable_raw(), v.data(), v.size() * sizeof(T));
  return x;
}

// ---- the spec, on plain NCHW codes
struct QT {  // a quantized tensor of the spec
  Shape shape;
  Codes c;
  float scale;
  int32_t zp;
};

struct ConvSpec {
  int out_c, k, stride, pad, groups, wbits;
  std::vector<int8_t> w;  // OHWI
  std::vector<int32_t> bias;
  std::vector<float> mult;
};

ConvSpec random_conv(std::mt19937& rng, int in_c, int out_c, int k, int stride, int pad, int groups, int wbits) {
  ConvSpec s{out_c, k, stride, pad, groups, wbits, {}, {}, {}};
  const int cg = in_c / groups;
  const int lim = wbits == 8 ? 127 : wbits == 4 ? 8 : 2;
  std::uniform_int_distribution<int> wd(-lim, wbits == 8 ? 127 : lim - 1);
  s.w.resize(static_cast<size_t>(out_c) * k * k * cg);
  for (auto& v : s.w) v = static_cast<int8_t>(wd(rng));
  if (wbits == 8) s.w[0] = -127, s.w[1] = 127;
  std::uniform_int_distribution<int> bd(-3000, 3000);
  const float taps = static_cast<float>(k * k * cg);
  std::uniform_real_distribution<float> md(0.5f, 2.0f);
  for (int o = 0; o < out_c; ++o) {
    s.bias.push_back(bd(rng));
    s.mult.push_back(md(rng) * 40.0f / (std::sqrt(taps) * 70.0f * static_cast<float>(lim)));
  }
  return s;
}

Codes spec_conv(const QT& x, const ConvSpec& s, const kn::RequantParams& rp, const Codes* residual, Shape* out_shape) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t oh = (H + 2 * s.pad - s.k) / s.stride + 1, ow = (W + 2 * s.pad - s.k) / s.stride + 1;
  const int64_t cg = C / s.groups, og = s.out_c / s.groups;
  *out_shape = {N, s.out_c, oh, ow};
  Codes y(static_cast<size_t>(N * s.out_c * oh * ow));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < s.out_c; ++o)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t c = 0; c < ow; ++c) {
          int32_t acc = s.bias[o];
          const int64_t g = o / og;
          for (int64_t ky = 0; ky < s.k; ++ky)
            for (int64_t kx = 0; kx < s.k; ++kx) {
              const int64_t ih = r * s.stride - s.pad + ky, iw = c * s.stride - s.pad + kx;
              if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;  // padding reads zx: adds 0
              for (int64_t ci = 0; ci < cg; ++ci) {
                const int32_t xv = x.c[((n * C + g * cg + ci) * H + ih) * W + iw] - x.zp;
                acc += xv * s.w[((o * s.k + ky) * s.k + kx) * cg + ci];
              }
            }
          const size_t at = static_cast<size_t>(((n * s.out_c + o) * oh + r) * ow + c);
          y[at] = kn::requantize(acc, s.mult[o], residual ? (*residual)[at] : 0, rp);
        }
  return y;
}

void add_conv(Builder& b, const std::string& name, int x, const ConvSpec& s, int out, const kn::RequantParams& rp,
              int residual = -1) {
  const int cg = static_cast<int>(s.w.size() / (static_cast<size_t>(s.out_c) * s.k * s.k));
  const int w = b.cst(name + ".w", tensor<int8_t>(DType::s8, {s.out_c, s.k, s.k, cg}, s.w));
  const int bias = b.cst(name + ".b", tensor<int32_t>(DType::s32, {s.out_c}, s.bias));
  const int m = b.cst(name + ".m", tensor<float>(DType::f32, {s.out_c}, s.mult));
  std::map<std::string, Attr> a;
  a["kernel_shape"] = Attr::of_ints({s.k, s.k});
  a["strides"] = Attr::of_ints({s.stride, s.stride});
  a["pads"] = Attr::of_ints({s.pad, s.pad, s.pad, s.pad});
  a["group"] = Attr::of_int(s.groups);
  a["wbits"] = Attr::of_int(s.wbits);
  a["qmin"] = Attr::of_int(rp.qmin);
  a["qmax"] = Attr::of_int(rp.qmax);
  if (rp.activation == kn::Activation::hardswish) {
    a["activation"] = Attr::of_string("hardswish");
    a["hardswish_multiplier"] = Attr::of_float(rp.hardswish_multiplier);
  }
  std::vector<int> in = {x, w, bias, m};
  if (residual >= 0) {
    in.push_back(residual);
    a["residual_multiplier"] = Attr::of_float(rp.residual_multiplier);
  }
  b.node("kiln.QConv", in, {out}, a);
}

kn::RequantParams rparams(float out_scale, int32_t zo, int32_t qmin, int32_t qmax) {
  kn::RequantParams p;
  p.zero_point = zo;
  p.qmin = qmin;
  p.qmax = qmax;
  p.out_scale = out_scale;
  return p;
}

// The whole test graph and its spec outputs (by output name).
struct Case {
  Graph graph;
  std::vector<float> input;
  Shape input_shape;
  std::map<std::string, std::pair<QT, Shape>> expected;  // codes + parameters per output
};

Codes spec_binary(const QT& a, const QT& bq, const std::function<uint8_t(uint8_t, uint8_t)>& f) {
  // b is either a's shape or [N, C, 1, 1]
  Codes y(a.c.size());
  const int64_t N = a.shape[0], C = a.shape[1], HW = a.shape[2] * a.shape[3];
  const bool bc = bq.c.size() != a.c.size();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t at = static_cast<size_t>((n * C + c) * HW + i);
        y[at] = f(a.c[at], bc ? bq.c[static_cast<size_t>(n * C + c)] : bq.c[at]);
      }
  return y;
}

Case make_case(uint32_t seed) {
  std::mt19937 rng(seed);
  Case t;
  Builder b;
  const int64_t N = 2, C = 8, H = 9, W = 7;
  t.input_shape = {N, C, H, W};
  const int x = b.input("x", t.input_shape);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  t.input.resize(static_cast<size_t>(N * C * H * W));
  for (float& v : t.input) v = nd(rng);
  t.input[0] = 1e9f;  // clamps
  t.input[1] = -1e9f;

  // Quantize
  QT a{t.input_shape, {}, 0.03f, 121};
  const int va = b.q("a", a.scale, a.zp);
  b.node("kiln.Quantize", {x}, {va}, {{"qmin", Attr::of_int(0)}, {"qmax", Attr::of_int(255)}});
  for (float v : t.input) a.c.push_back(kn::q_quantize(v, a.scale, {a.zp, 0, 255}));
  auto expect = [&](int v, const std::string& name, const QT& q) {
    b.output(v, name);
    t.expected[name] = {q, q.shape};
  };
  expect(va, "a_out", a);

  // conv1: 3x3 pad 1, ReLU clamp (qmin = zo), 8-bit
  QT c1{{}, {}, 0.05f, 0};
  const ConvSpec s1 = random_conv(rng, 8, 16, 3, 1, 1, 1, 8);
  const kn::RequantParams r1 = rparams(c1.scale, c1.zp, 0, 255);
  c1.c = spec_conv(a, s1, r1, nullptr, &c1.shape);
  const int v1 = b.q("c1", c1.scale, c1.zp);
  add_conv(b, "conv1", va, s1, v1, r1);
  expect(v1, "c1_out", c1);

  // conv2: 1x1 with the residual c1, hardswish, ReLU6-like qmax
  QT c2{{}, {}, 0.04f, 100};
  const ConvSpec s2 = random_conv(rng, 8, 16, 1, 1, 0, 1, 8);
  kn::RequantParams r2 = rparams(c2.scale, c2.zp, 5, 240);
  r2.activation = kn::Activation::hardswish;
  r2.hardswish_multiplier = 1.0f / (6.0f * c2.scale);
  r2.residual = c1.c.data();  // marks "has residual" for the spec function
  r2.residual_zero_point = c1.zp;
  r2.residual_multiplier = c1.scale / c2.scale;
  c2.c = spec_conv(a, s2, r2, &c1.c, &c2.shape);
  const int v2 = b.q("c2", c2.scale, c2.zp);
  add_conv(b, "conv2", va, s2, v2, r2, v1);
  expect(v2, "c2_out", c2);

  // conv3: depthwise 3x3 stride 2, 4-bit; conv4: grouped (4 groups) 3x3, 2-bit codes
  QT c3{{}, {}, 0.02f, 128};
  const ConvSpec s3 = random_conv(rng, 16, 16, 3, 2, 1, 16, 4);
  const kn::RequantParams r3 = rparams(c3.scale, c3.zp, 0, 255);
  c3.c = spec_conv(c2, s3, r3, nullptr, &c3.shape);
  const int v3 = b.q("c3", c3.scale, c3.zp);
  add_conv(b, "conv3", v2, s3, v3, r3);
  expect(v3, "c3_out", c3);
  QT c4{{}, {}, 0.02f, 128};
  const ConvSpec s4 = random_conv(rng, 16, 8, 3, 1, 1, 4, 2);
  const kn::RequantParams r4 = rparams(c4.scale, c4.zp, 0, 255);
  c4.c = spec_conv(c2, s4, r4, nullptr, &c4.shape);
  const int v4 = b.q("c4", c4.scale, c4.zp);
  add_conv(b, "conv4", v2, s4, v4, r4);
  expect(v4, "c4_out", c4);

  // QAdd c1 + c2
  QT d{c1.shape, {}, 0.06f, 90};
  const float ma = c1.scale / d.scale, mb = c2.scale / d.scale;
  const kn::QOut od{d.zp, 10, 250};
  d.c = spec_binary(c1, c2, [&](uint8_t p, uint8_t q) { return kn::q_add(p, c1.zp, ma, q, c2.zp, mb, od); });
  const int vd = b.q("d", d.scale, d.zp);
  b.node("kiln.QAdd", {v1, v2}, {vd},
         {{"a_multiplier", Attr::of_float(ma)}, {"b_multiplier", Attr::of_float(mb)}, {"qmin", Attr::of_int(10)},
          {"qmax", Attr::of_int(250)}});
  expect(vd, "d_out", d);

  // QConcat [d (same params as output: copy), c2 (requantized)] on channels
  QT e{{N, 32, H, W}, {}, d.scale, d.zp};
  const float me = c2.scale / e.scale;
  {
    const int64_t HW = H * W;
    for (int64_t n = 0; n < N; ++n) {
      e.c.insert(e.c.end(), d.c.begin() + n * 16 * HW, d.c.begin() + (n + 1) * 16 * HW);
      for (int64_t i = n * 16 * HW; i < (n + 1) * 16 * HW; ++i) e.c.push_back(kn::q_requantize(c2.c[i], c2.zp, me, {e.zp, 0, 255}));
    }
  }
  const int ve = b.q("e", e.scale, e.zp);
  b.node("kiln.QConcat", {vd, v2}, {ve}, {{"axis", Attr::of_int(1)}, {"multipliers", Attr::of_floats({0.0f, me})}});
  expect(ve, "e_out", e);

  // QMaxPool 3x3 s2 pad 1 (ceil) -> QAvgPool 3x3 s1 pad 1 (count_include_pad 0) -> QGlobalAvgPool
  auto pool = [&](const QT& in, bool avg, int k, int s, int p, bool ceil, bool include, float m, const kn::QOut& o, QT* out) {
    kn::f32::Pool2dParams pp;
    pp.batch = in.shape[0]; pp.channels = in.shape[1]; pp.in_h = in.shape[2]; pp.in_w = in.shape[3];
    pp.kernel_h = pp.kernel_w = k; pp.stride_h = pp.stride_w = s;
    pp.pad_top = pp.pad_left = pp.pad_bottom = pp.pad_right = p;
    pp.ceil_mode = ceil; pp.count_include_pad = include;
    const int64_t oh = pp.out_h(), ow = pp.out_w(), C2 = in.shape[1], IH = in.shape[2], IW = in.shape[3];
    out->shape = {in.shape[0], C2, oh, ow};
    out->c.assign(static_cast<size_t>(in.shape[0] * C2 * oh * ow), 0);
    for (int64_t n = 0; n < in.shape[0]; ++n)
      for (int64_t c = 0; c < C2; ++c)
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t q = 0; q < ow; ++q) {
            int best = 0;
            int32_t sum = 0, real = 0, padded = 0;
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                const int64_t ih = r * s - p + ky, iw = q * s - p + kx;
                const bool inpad = ih < IH + p && iw < IW + p;
                if (ih < 0 || iw < 0 || ih >= IH || iw >= IW) {
                  padded += inpad;
                  continue;
                }
                const uint8_t v = in.c[((n * C2 + c) * IH + ih) * IW + iw];
                best = std::max<int>(best, v);
                sum += v - in.zp;
                ++real;
                ++padded;
              }
            const size_t at = static_cast<size_t>(((n * C2 + c) * oh + r) * ow + q);
            out->c[at] = avg ? kn::q_avg(sum, kn::q_avg_multiplier(m, include ? padded : real), o) : static_cast<uint8_t>(best);
          }
  };
  QT f{{}, {}, e.scale, e.zp};
  pool(e, false, 3, 2, 1, true, false, 0, {}, &f);
  const int vf = b.q("f", f.scale, f.zp);
  b.node("kiln.QMaxPool", {ve}, {vf},
         {{"kernel_shape", Attr::of_ints({3, 3})}, {"strides", Attr::of_ints({2, 2})}, {"pads", Attr::of_ints({1, 1, 1, 1})},
          {"ceil_mode", Attr::of_int(1)}});
  expect(vf, "f_out", f);
  QT gq{{}, {}, 0.05f, 60};
  const float mg = f.scale / gq.scale;
  pool(f, true, 3, 1, 1, false, false, mg, {gq.zp, 0, 255}, &gq);
  const int vg = b.q("g", gq.scale, gq.zp);
  b.node("kiln.QAvgPool", {vf}, {vg},
         {{"kernel_shape", Attr::of_ints({3, 3})}, {"pads", Attr::of_ints({1, 1, 1, 1})}, {"multiplier", Attr::of_float(mg)}});
  expect(vg, "g_out", gq);
  QT h{{N, 32, 1, 1}, {}, 0.045f, 70};
  const float mh = gq.scale / h.scale;
  {
    const int64_t HW = gq.shape[2] * gq.shape[3];
    for (int64_t i = 0; i < N * 32; ++i) {
      int32_t sum = 0;
      for (int64_t j = 0; j < HW; ++j) sum += gq.c[i * HW + j] - gq.zp;
      h.c.push_back(kn::q_avg(sum, kn::q_avg_multiplier(mh, static_cast<int32_t>(HW)), {h.zp, 0, 255}));
    }
  }
  const int vh = b.q("h", h.scale, h.zp);
  b.node("kiln.QGlobalAvgPool", {vg}, {vh}, {{"multiplier", Attr::of_float(mh)}});
  expect(vh, "h_out", h);

  // QMul g * h (SE broadcast [N,C,H,W] x [N,C,1,1])
  QT im{gq.shape, {}, 0.01f, 20};
  const float mm = gq.scale * h.scale / im.scale;
  im.c = spec_binary(gq, h, [&](uint8_t p, uint8_t q) { return kn::q_mul(p, gq.zp, q, h.zp, mm, {im.zp, 0, 255}); });
  const int vi = b.q("i", im.scale, im.zp);
  b.node("kiln.QMul", {vg, vh}, {vi}, {{"multiplier", Attr::of_float(mm)}});
  expect(vi, "i_out", im);

  // QLut (sigmoid table) -> QResize nearest x2 and linear to 7x5
  QT j{im.shape, {}, 1.0f / 255.0f, 0};
  uint8_t table[256];
  kn::build_lut({kn::LutFunction::sigmoid}, im.zp, im.scale, j.scale, {j.zp, 0, 255}, table);
  for (uint8_t v : im.c) j.c.push_back(table[v]);
  const int vt = b.cst("table", tensor<uint8_t>(DType::u8, {256}, std::vector<uint8_t>(table, table + 256)));
  const int vj = b.q("j", j.scale, j.zp);
  b.node("kiln.QLut", {vi, vt}, {vj}, {{"function", Attr::of_string("sigmoid")}});
  expect(vj, "j_out", j);
  {
    QT k{{N, 32, j.shape[2] * 2, j.shape[3] * 2}, {}, j.scale, j.zp};
    for (int64_t n = 0; n < N * 32; ++n)
      for (int64_t r = 0; r < k.shape[2]; ++r)
        for (int64_t q = 0; q < k.shape[3]; ++q) k.c.push_back(j.c[(n * j.shape[2] + r / 2) * j.shape[3] + q / 2]);
    const int vk = b.q("k", k.scale, k.zp);
    const int sc = b.cst("scales", tensor<float>(DType::f32, {4}, std::vector<float>{1, 1, 2, 2}));
    b.node("kiln.QResize", {vj, -1, sc}, {vk},
           {{"mode", Attr::of_string("nearest")}, {"coordinate_transformation_mode", Attr::of_string("asymmetric")},
            {"nearest_mode", Attr::of_string("floor")}});
    expect(vk, "k_out", k);
  }
  {
    // linear: the f32 resize (reference ISA) of float codes, then q_from_interpolated_code
    kn::f32::Resize2dParams rp;
    rp.batch = N; rp.channels = 32; rp.in_h = j.shape[2]; rp.in_w = j.shape[3]; rp.out_h = 7; rp.out_w = 5;
    rp.mode = kn::f32::ResizeMode::linear;
    std::vector<float> xf(j.c.size()), yf(N * 32 * 35);
    // NCHW -> NHWC for the f32 kernel
    const int64_t JH = j.shape[2], JW = j.shape[3];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < 32; ++c)
        for (int64_t i = 0; i < JH * JW; ++i) xf[(n * JH * JW + i) * 32 + c] = j.c[(n * 32 + c) * JH * JW + i];
    EXPECT_EQ(kn::f32::resize2d(rp, xf.data(), yf.data(), {kn::Isa::ref, nullptr}), "");
    QT l{{N, 32, 7, 5}, {}, j.scale, j.zp};
    l.c.resize(yf.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < 32; ++c)
        for (int64_t i = 0; i < 35; ++i)
          l.c[(n * 32 + c) * 35 + i] = kn::q_from_interpolated_code(yf[(n * 35 + i) * 32 + c], {l.zp, 0, 255});
    const int vl = b.q("l", l.scale, l.zp);
    const int sz = b.cst("sizes", tensor<int64_t>(DType::s64, {4}, std::vector<int64_t>{N, 32, 7, 5}));
    b.node("kiln.QResize", {vj, -1, -1, sz}, {vl}, {{"mode", Attr::of_string("linear")}});
    expect(vl, "l_out", l);
  }

  // Flatten j -> QGemm (4-bit weights, hardswish) -> and an 8-bit QGemm on c4 flattened
  for (int wb : {4, 8}) {
    const QT& src = wb == 4 ? j : c4;
    const int vsrc = wb == 4 ? vj : v4;
    const int64_t K = static_cast<int64_t>(src.c.size()) / N, Nn = 19;
    const int flat = b.q("flat" + std::to_string(wb), src.scale, src.zp);
    b.node("Flatten", {vsrc}, {flat}, {{"axis", Attr::of_int(1)}});
    ConvSpec s = random_conv(rng, static_cast<int>(K), static_cast<int>(Nn), 1, 1, 0, 1, wb);
    QT y{{N, Nn}, {}, 0.07f, 77};
    kn::RequantParams rp = rparams(y.scale, y.zp, 0, 255);
    if (wb == 4) {
      rp.activation = kn::Activation::hardswish;
      rp.hardswish_multiplier = 1.0f / (6.0f * y.scale);
    }
    for (int64_t m = 0; m < N; ++m)
      for (int64_t o = 0; o < Nn; ++o) {
        int32_t acc = s.bias[o];
        for (int64_t k = 0; k < K; ++k) acc += (src.c[m * K + k] - src.zp) * s.w[o * K + k];
        y.c.push_back(kn::requantize(acc, s.mult[o], 0, rp));
      }
    const std::string nm = "fc" + std::to_string(wb);
    const int w = b.cst(nm + ".w", tensor<int8_t>(DType::s8, {Nn, K}, s.w));
    const int bias = b.cst(nm + ".b", tensor<int32_t>(DType::s32, {Nn}, s.bias));
    const int mul = b.cst(nm + ".m", tensor<float>(DType::f32, {Nn}, s.mult));
    const int vy = b.q(nm, y.scale, y.zp);
    std::map<std::string, Attr> at{{"wbits", Attr::of_int(wb)}};
    if (wb == 4) {
      at["activation"] = Attr::of_string("hardswish");
      at["hardswish_multiplier"] = Attr::of_float(rp.hardswish_multiplier);
    }
    b.node("kiln.QGemm", {flat, w, bias, mul}, {vy}, at);
    expect(vy, nm + "_out", y);
  }
  t.graph = std::move(b.g);
  return t;
}

std::vector<std::string> isa_names() {
  std::vector<std::string> v;
  for (kn::Isa i : kn::compiled_isas()) {
    if (kn::cpu_supports(i)) v.emplace_back(kn::isa_name(i));
  }
  return v;
}

// Sets KILN_ISA for the scope (the Q ops read it when a Model is created).
struct ForceIsa {
  explicit ForceIsa(const std::string& isa) { setenv("KILN_ISA", isa.c_str(), 1); }
  ~ForceIsa() { unsetenv("KILN_ISA"); }
};

std::map<std::string, std::vector<float>> run_model(const std::shared_ptr<const Model>& m, const Case& t, int threads) {
  Session s(m, threads);
  Tensor in = tensor<float>(DType::f32, t.input_shape, t.input);
  EXPECT_EQ(s.set_input("x", in), "");
  EXPECT_EQ(s.run(), "");
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, e] : t.expected) {
    const Tensor* o = s.output(name);
    if (!o) {
      ADD_FAILURE() << "no output " << name;
      continue;
    }
    out[name].assign(o->data<float>(), o->data<float>() + o->elements());
  }
  return out;
}

void expect_spec(const std::map<std::string, std::vector<float>>& got, const Case& t, const std::string& what) {
  for (const auto& [name, e] : t.expected) {
    const QT& q = e.first;
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << name;
    ASSERT_EQ(it->second.size(), q.c.size()) << what << " " << name;
    size_t bad = 0;
    for (size_t i = 0; i < q.c.size(); ++i) {
      const float want = kn::q_dequantize(q.c[i], q.zp, q.scale);
      if (std::memcmp(&want, &it->second[i], 4) != 0 && ++bad <= 3) {
        ADD_FAILURE() << what << " " << name << "[" << i << "]: got " << it->second[i] << " want " << want << " (code "
                      << int(q.c[i]) << ")";
      }
    }
    EXPECT_EQ(bad, 0u) << what << " " << name;
  }
}

TEST(QGraph, EveryOpMatchesTheSpecOnEveryIsa) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  const Case t = make_case(7);
  for (const std::string& isa : isa_names()) {
    ForceIsa force(isa);
    auto m = Model::create(t.graph, &err);
    ASSERT_TRUE(m) << isa << ": " << err;
    expect_spec(run_model(m, t, 1), t, isa);
    expect_spec(run_model(m, t, 2), t, isa + " 2 threads");
  }
}

TEST(QGraph, BlobsAreUsedInPlaceFromTheMappedFile) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  const Case t = make_case(11);
  const std::string path = (std::filesystem::temp_directory_path() / ("kiln_q_blobs_" + std::to_string(getpid()) + ".kiln")).string();
  for (const std::string& isa_s : isa_names()) {
    kn::Isa isa;
    ASSERT_TRUE(kn::parse_isa(isa_s, &isa));
    ForceIsa force(isa_s);
    Graph g = t.graph;
    size_t linear = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      ASSERT_EQ(pack_q_node_blobs(g, static_cast<int>(i), isa), "") << isa_s;
      linear += g.nodes[i].blobs.size();
    }
    EXPECT_EQ(linear, 6u);  // 4 QConv + 2 QGemm
    ASSERT_TRUE(save_kiln(g, {}, path, &err)) << err;
    KilnFile f;
    ASSERT_TRUE(load_kiln(path, &f, &err)) << err;
    const uint8_t* lo = f.bytes;
    const uint8_t* hi = f.bytes + f.file_size;
    auto inside = [&](const void* p, size_t n) {
      const auto* b = static_cast<const uint8_t*>(p);
      return b >= lo && b + n <= hi;
    };
    ASSERT_NE(lo, nullptr);
    for (const Value& v : f.graph.values) {
      if (v.constant) {
        EXPECT_TRUE(inside(v.constant->raw(), v.constant->bytes())) << v.name;
      }
    }
    auto m = Model::create(f.graph, &err);
    ASSERT_TRUE(m) << err;
    size_t in_place = 0;
    for (size_t i = 0; i < m->graph().nodes.size(); ++i) {
      QPackedInfo info;
      if (!q_packed_info(*m, i, &info)) continue;
      EXPECT_TRUE(info.from_blob) << isa_s << " " << m->graph().nodes[i].label();
      EXPECT_TRUE(inside(info.data, info.size)) << isa_s << " " << m->graph().nodes[i].label();
      in_place += info.from_blob;
    }
    EXPECT_EQ(in_place, 6u) << isa_s;
    // Same outputs as the blob-free model, and as the spec.
    auto plain = Model::create(t.graph, &err);
    ASSERT_TRUE(plain) << err;
    for (size_t i = 0; i < plain->graph().nodes.size(); ++i) {
      QPackedInfo info;
      if (q_packed_info(*plain, i, &info)) {
        EXPECT_FALSE(info.from_blob);
      }
    }
    const auto a = run_model(m, t, 2), b = run_model(plain, t, 2);
    EXPECT_EQ(a, b) << isa_s;
    expect_spec(a, t, isa_s + " from blobs");
  }
  std::filesystem::remove(path);
}

TEST(QGraph, BlobsForAnotherIsaAreIgnored) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  const std::vector<std::string> isas = isa_names();
  if (isas.size() < 2) GTEST_SKIP() << "one ISA only";
  const Case t = make_case(13);
  Graph g = t.graph;
  kn::Isa other;
  ASSERT_TRUE(kn::parse_isa(isas.back(), &other));
  ASSERT_EQ(pack_q_blobs(g, other), "");
  ForceIsa force(isas.front());
  auto m = Model::create(g, &err);
  ASSERT_TRUE(m) << err;
  for (size_t i = 0; i < m->graph().nodes.size(); ++i) {
    QPackedInfo info;
    if (q_packed_info(*m, i, &info)) {
      EXPECT_FALSE(info.from_blob);
    }
  }
  expect_spec(run_model(m, t, 1), t, isas.front() + " with " + isas.back() + " blobs");
}

// Pass-through ops move codes: Pad (constant = the zero point, and edge), Transpose and Slice on u8.
TEST(QGraph, PassThroughOpsMoveCodes) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  Builder b;
  const Shape xs = {1, 2, 3, 4};
  const int x = b.input("x", xs);
  const float scale = 0.1f;
  const int32_t zp = 7;
  const int q = b.q("q", scale, zp);
  b.node("kiln.Quantize", {x}, {q});
  const int pads = b.cst("pads", tensor<int64_t>(DType::s64, {8}, std::vector<int64_t>{0, 0, 1, 2, 0, 0, 0, 1}));
  const int zv = b.cst("zp", tensor<uint8_t>(DType::u8, {1}, std::vector<uint8_t>{static_cast<uint8_t>(zp)}));
  const int padded = b.q("padded", scale, zp);
  b.node("Pad", {q, pads, zv}, {padded});
  const int edge = b.q("edge", scale, zp);
  b.node("Pad", {q, pads}, {edge}, {{"mode", Attr::of_string("edge")}});
  const int tr = b.q("tr", scale, zp);
  b.node("Transpose", {q}, {tr}, {{"perm", Attr::of_ints({0, 2, 3, 1})}});
  b.output(padded, "padded_out");
  b.output(edge, "edge_out");
  b.output(tr, "tr_out");
  std::vector<float> in(24);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.37f - 3.0f;
  std::vector<uint8_t> codes;
  for (float v : in) codes.push_back(kn::q_quantize(v, scale, {zp, 0, 255}));
  auto dq = [&](uint8_t c) { return kn::q_dequantize(c, zp, scale); };
  auto m = Model::create(b.g, &err);
  ASSERT_TRUE(m) << err;
  Session s(m);
  ASSERT_EQ(s.set_input("x", tensor<float>(DType::f32, xs, in)), "");
  ASSERT_EQ(s.run(), "");
  const Tensor* p = s.output("padded_out");
  const Tensor* e = s.output("edge_out");
  const Tensor* t = s.output("tr_out");
  ASSERT_TRUE(p && e && t);
  ASSERT_EQ(p->shape(), (Shape{1, 2, 4, 7}));
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 7; ++w) {
        const int64_t ih = h - 1, iw = w - 2;
        const bool real = ih >= 0 && ih < 3 && iw >= 0 && iw < 4;
        const size_t at = static_cast<size_t>((c * 4 + h) * 7 + w);
        EXPECT_EQ(p->data<float>()[at], real ? dq(codes[(c * 3 + ih) * 4 + iw]) : 0.0f) << at;
        const int64_t eh = std::clamp<int64_t>(ih, 0, 2), ew = std::clamp<int64_t>(iw, 0, 3);
        EXPECT_EQ(e->data<float>()[at], dq(codes[(c * 3 + eh) * 4 + ew])) << at;
      }
  ASSERT_EQ(t->shape(), (Shape{1, 3, 4, 2}));
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t w = 0; w < 4; ++w)
      for (int64_t c = 0; c < 2; ++c) EXPECT_EQ(t->data<float>()[(h * 4 + w) * 2 + c], dq(codes[(c * 3 + h) * 4 + w]));
  // A pad value that is not a code is an error.
  b.g.nodes[1].inputs[2] = b.cst("bad", tensor<float>(DType::f32, {1}, std::vector<float>{0.5f}));
  EXPECT_FALSE(Model::create(b.g, &err));
}

// A model's input image is quantized (and relayouted) over the session's threads when it is large:
// two threads give the codes of the spec, element for element, across the pieces' boundaries.
TEST(QGraph, QuantizeOnTwoThreadsGivesTheSpecCodes) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  Builder b;
  const Shape xs = {1, 3, 157, 211};  // 99,381 values: split in two, not on a multiple of 64 at the end
  const int x = b.input("x", xs);
  const float scale = 0.05f;
  const int32_t zp = 131;
  const int q = b.q("q", scale, zp);
  b.node("kiln.Quantize", {x}, {q});
  b.output(q, "codes");
  std::vector<float> in(static_cast<size_t>(3 * 157 * 211));
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(static_cast<int>(i % 977) - 488) * 0.0131f;
  auto m = Model::create(b.g, &err);
  ASSERT_TRUE(m) << err;
  Session s(m, 2);
  ASSERT_EQ(s.set_input("x", tensor<float>(DType::f32, xs, in)), "");
  ASSERT_EQ(s.run(), "");
  const Tensor* y = s.output("codes");
  ASSERT_TRUE(y);
  ASSERT_EQ(y->elements(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(y->float_at(i), kn::q_dequantize(kn::q_quantize(in[i], scale, {zp, 0, 255}), zp, scale)) << i;
  }
}

TEST(QGraph, BadQuantParamsAreErrors) {
  std::string err;
  ASSERT_TRUE(register_q_ops(&err)) << err;
  Builder b;
  const int x = b.input("x", {1, 4});
  const int q = b.q("q", 0.1f, 300);  // zero point out of range
  b.node("kiln.Quantize", {x}, {q});
  b.output(q, "y");
  EXPECT_FALSE(Model::create(b.g, &err));
  EXPECT_NE(err.find("zero point"), std::string::npos) << err;
  b.g.values[q].quant.zero_points = {3};
  b.g.nodes[0].attrs["qmax"] = Attr::of_int(300);
  EXPECT_FALSE(Model::create(b.g, &err));
  EXPECT_NE(err.find("qmax"), std::string::npos) << err;
  b.g.nodes[0].attrs["qmax"] = Attr::of_int(255);
  b.g.values[q].quant.scales.clear();
  EXPECT_FALSE(Model::create(b.g, &err));
  b.g.values[q].quant.scales = {0.1f};
  EXPECT_TRUE(Model::create(b.g, &err)) << err;
}

}  // namespace
}  // namespace kiln
