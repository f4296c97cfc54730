#include "kiln/calib/freeze.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <set>

#include "kiln/calib/weight_quant.h"
#include "kiln/kernels/qops.h"
#include "kiln/kernels/requant.h"

namespace kiln::calib {

int32_t bias_code(float b, float s_in, float s_w) {
  const float denom = s_in * s_w;
  const float v = kernels::round_half_even(b / denom);
  if (std::isnan(v)) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v <= -2147483648.0f) return INT32_MIN;
  return static_cast<int32_t>(v);
}

float epilogue_multiplier(float s_in, float s_w, float s_out) { return s_in * s_w / s_out; }

void activation_clamp(const Node& layer, const QuantParams& out, int32_t* qmin, int32_t* qmax) {
  *qmin = out.qmin;
  *qmax = out.qmax;
  const std::string a = layer.get_string("activation", "");
  if (a == "relu") {
    *qmin = std::max(*qmin, out.zero_point);
  } else if (a == "clip") {
    *qmin = std::max(*qmin, quantize_value(layer.get_float("act_a", -FLT_MAX), out));
    *qmax = std::min(*qmax, quantize_value(layer.get_float("act_b", FLT_MAX), out));
  }
}

kiln::QuantParams value_params(const QuantParams& p, int bits) {
  kiln::QuantParams q;
  q.scales = {p.scale};
  q.zero_points = {p.zero_point};
  q.axis = -1;
  q.bits = bits;
  return q;
}

QuantParams activation_params(const kiln::QuantParams& p) {
  QuantParams a;
  a.scale = p.scales.empty() ? 1.0f : p.scales[0];
  a.zero_point = p.zero_points.empty() ? 0 : p.zero_points[0];
  a.qmin = 0;
  a.qmax = (1 << p.bits) - 1;
  return a;
}

namespace {

bool is_activation(const Graph& g, int v) {
  return v >= 0 && !g.values[v].constant && g.values[v].dtype == kiln::DType::f32;
}

class Freezer {
 public:
  Freezer(const Graph& l, const Plan& p, const ObservedRanges& r, const QuantizeOptions& o,
          const recon::GraphReconResult* learned)
      : L(l), P(p), R(r), O(o), learned_(learned), qv(l.values.size(), -1), fv(l.values.size(), -1), is_output(l.values.size(), 0) {}

  bool run(Graph* out, std::string* error) {
    for (int v : L.outputs) is_output[v] = 1;
    for (int v : L.inputs) {
      fv[v] = add_value(L.values[v].name, L.values[v].dtype, L.values[v].shape, {});
      q.inputs.push_back(fv[v]);
    }
    size_t weighted = 0, done = 0;
    for (const NodePlan& np : P.nodes) weighted += np.kind == NodeKind::quantized && np.wbits > 0;
    for (size_t i = 0; i < L.nodes.size() && err.empty(); ++i) {
      const Node& n = L.nodes[i];
      const NodePlan& np = P.nodes[i];
      switch (np.kind) {
        case NodeKind::shape_math: copy_node(n, false); break;
        case NodeKind::float_island: copy_node(n, true); break;
        case NodeKind::pass_through: pass_through(n); break;
        case NodeKind::quantized: quantized(n, np); break;
        case NodeKind::absorbed: break;  // written by the QAdd before it
      }
      if (!err.empty()) err += " (" + n.label() + ")";
      if (np.kind == NodeKind::quantized && np.wbits > 0 && O.progress) O.progress("weights", ++done, weighted);
    }
    for (int v : L.outputs) {
      if (!err.empty()) break;
      const int f = need_f(v);
      if (f >= 0) q.outputs.push_back(f);
    }
    if (!err.empty()) {
      *error = err;
      return false;
    }
    *out = std::move(q);
    return true;
  }

 private:
  std::string fresh(const std::string& base) {
    std::string n = base;
    for (int i = 1; names.count(n); ++i) n = base + "_" + std::to_string(i);
    names.insert(n);
    return n;
  }
  int add_value(const std::string& name, kiln::DType dt, const Shape& shape, kiln::QuantParams qp) {
    Value v;
    v.name = fresh(name);
    v.dtype = dt;
    v.shape = shape;
    v.shape_known = true;
    v.quant = std::move(qp);
    return q.add_value(std::move(v));
  }
  int add_const(const std::string& name, Tensor t, kiln::QuantParams qp = {}) {
    const int id = q.add_constant(fresh(name), std::move(t));
    q.values[id].quant = std::move(qp);
    return id;
  }
  void add_node(const std::string& name, const std::string& op, std::vector<int> in, std::vector<int> out,
                std::map<std::string, Attr> attrs = {}) {
    Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs = std::move(attrs);
    for (int o : n.outputs) q.values[o].producer = static_cast<int>(q.nodes.size());
    q.nodes.push_back(std::move(n));
  }

  // Constants and non-float values: the same value in the Q graph.
  int plain(int v) {
    if (v < 0) return -1;
    if (fv[v] >= 0) return fv[v];
    if (L.values[v].constant) {
      fv[v] = add_const(L.values[v].name, *L.values[v].constant);
      return fv[v];
    }
    if (qv[v] >= 0) return qv[v];
    fail("value '" + L.values[v].name + "' is not computed");
    return -1;
  }
  bool observed(int v, QuantParams* p) {
    if (!R.params[v]) {
      fail("value '" + L.values[v].name + "' has no observed range (not computed on the calibration data)");
      return false;
    }
    *p = *R.params[v];
    return true;
  }
  int need_q(int v) {
    if (qv[v] >= 0 || !err.empty()) return qv[v];
    if (fv[v] < 0) {
      fail("value '" + L.values[v].name + "' is not computed");
      return -1;
    }
    QuantParams p;
    if (!observed(v, &p)) return -1;
    qv[v] = add_value(L.values[v].name + "__q", kiln::DType::u8, L.values[v].shape, value_params(p, P.value_bits[v]));
    add_node(L.values[v].name + "__quantize", "kiln.Quantize", {fv[v]}, {qv[v]},
             {{"qmin", Attr::of_int(p.qmin)}, {"qmax", Attr::of_int(p.qmax)}});
    return qv[v];
  }
  int need_f(int v) {
    if (fv[v] >= 0 || !err.empty()) return fv[v];
    if (qv[v] < 0) {
      fail("value '" + L.values[v].name + "' is not computed");
      return -1;
    }
    fv[v] = add_value(is_output[v] ? L.values[v].name : L.values[v].name + "__dq", kiln::DType::f32, L.values[v].shape, {});
    add_node(L.values[v].name + "__dequantize", "kiln.Dequantize", {qv[v]}, {fv[v]});
    return fv[v];
  }
  int new_q(int v, const kiln::QuantParams& qp) {
    qv[v] = add_value(is_output[v] ? L.values[v].name + "__q" : L.values[v].name, kiln::DType::u8, L.values[v].shape, qp);
    return qv[v];
  }
  int new_plain(int v) {
    fv[v] = add_value(L.values[v].name, L.values[v].dtype, L.values[v].shape, {});
    return fv[v];
  }
  void fail(const std::string& e) {
    if (err.empty()) err = e;
  }
  QuantParams params_of_q(int qid) const { return activation_params(q.values[qid].quant); }

  void copy_node(const Node& n, bool island) {
    std::vector<int> in;
    for (int v : n.inputs) {
      if (v >= 0 && is_activation(L, v)) {
        in.push_back(island ? need_f(v) : (fv[v] >= 0 ? fv[v] : qv[v]));  // Shape reads either
      } else {
        in.push_back(plain(v));
      }
    }
    std::vector<int> out;
    for (int v : n.outputs) out.push_back(new_plain(v));
    add_node(n.name, n.op, in, out, n.attrs);
  }

  void pass_through(const Node& n) {
    const int x = n.inputs[0];
    if (qv[x] < 0) {  // the data is float here: the op runs on floats
      copy_node(n, true);
      return;
    }
    std::vector<int> in = {qv[x]};
    const kiln::QuantParams qp = q.values[qv[x]].quant;
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      if (n.op == "Pad" && i == 2 && n.inputs[i] >= 0) {  // the constant value: code zx (real 0)
        Tensor zero(kiln::DType::u8, {});
        *zero.mutable_data<uint8_t>() = static_cast<uint8_t>(qp.zero_points[0]);
        in.push_back(add_const(n.name + "__pad_value", zero));
        continue;
      }
      in.push_back(plain(n.inputs[i]));
    }
    std::vector<int> out;
    for (int v : n.outputs) out.push_back(new_q(v, qp));
    add_node(n.name, n.op, in, out, n.attrs);
  }

  void quantized(const Node& n, const NodePlan& np) {
    const std::string& op = np.q_op;
    if (op == "kiln.QConv" || op == "kiln.QGemm") return weighted_layer(n, np);
    if (op == "kiln.QMaxPool" || op == "kiln.QResize") {
      const int x = need_q(n.inputs[0]);
      if (x < 0) return;
      std::vector<int> in = {x};
      for (size_t i = 1; i < n.inputs.size(); ++i) in.push_back(plain(n.inputs[i]));
      add_node(n.name, op, in, {new_q(n.outputs[0], q.values[x].quant)}, n.attrs);
      return;
    }
    // A QAdd that absorbs the Relu after it writes the Relu's output, clamped at its zero point.
    const int y = np.absorbs >= 0 ? L.nodes[np.absorbs].outputs[0] : n.outputs[0];
    QuantParams po;
    if (!observed(y, &po)) return;
    const int bits = P.value_bits[y];
    if (np.absorbs >= 0) po.qmin = std::max(po.qmin, po.zero_point);
    std::vector<int> in;
    for (int v : n.inputs) in.push_back(need_q(v));
    if (!err.empty()) return;
    std::map<std::string, Attr> attrs;
    attrs["qmin"] = Attr::of_int(po.qmin);
    attrs["qmax"] = Attr::of_int(po.qmax);
    if (op == "kiln.QAdd") {
      const QuantParams a = params_of_q(in[0]), b = params_of_q(in[1]);
      attrs["a_multiplier"] = Attr::of_float(a.scale / po.scale);
      attrs["b_multiplier"] = Attr::of_float(b.scale / po.scale);
    } else if (op == "kiln.QMul") {
      const QuantParams a = params_of_q(in[0]), b = params_of_q(in[1]);
      attrs["multiplier"] = Attr::of_float(a.scale * b.scale / po.scale);
    } else if (op == "kiln.QConcat") {
      std::vector<float> m;
      for (int x : in) {
        const QuantParams pi = params_of_q(x);
        const bool same = pi.scale == po.scale && pi.zero_point == po.zero_point;
        m.push_back(same ? 0.0f : pi.scale / po.scale);
      }
      attrs.clear();  // QConcat has no clamp: its inputs are copied or requantized into the output range
      attrs["axis"] = Attr::of_int(n.get_int("axis", 0));
      attrs["multipliers"] = Attr::of_floats(m);
    } else if (op == "kiln.QAvgPool" || op == "kiln.QGlobalAvgPool") {
      for (const auto& [k, a] : n.attrs) attrs[k] = a;
      attrs["multiplier"] = Attr::of_float(params_of_q(in[0]).scale / po.scale);
    } else if (op == "kiln.QLut") {
      return lut(n, in[0], po, bits);
    } else {
      fail("no freezer for " + op);
      return;
    }
    add_node(n.name, op, in, {new_q(y, value_params(po, bits))}, attrs);
  }

  void lut(const Node& n, int x, const QuantParams& po, int bits) {
    kernels::LutParams f;
    std::string name = n.op;
    if (n.op == "Sigmoid") {
      f.function = kernels::LutFunction::sigmoid;
    } else if (n.op == "HardSigmoid") {
      f.function = kernels::LutFunction::hardsigmoid;
      f.alpha = n.get_float("alpha", 0.2f);
      f.beta = n.get_float("beta", 0.5f);
    } else if (n.op == "HardSwish") {
      f.function = kernels::LutFunction::hardswish;
    } else if (n.op == "Tanh") {
      f.function = kernels::LutFunction::tanh;
    } else if (n.op == "Gelu") {
      f.function = kernels::LutFunction::gelu;
    } else if (n.op == "kiln.Silu") {
      f.function = kernels::LutFunction::silu;
    } else if (n.op == "LeakyRelu") {
      f.function = kernels::LutFunction::leaky_relu;
      f.alpha = n.get_float("alpha", 0.01f);
    } else if (n.op == "Relu") {
      f.function = kernels::LutFunction::relu;
    } else if (n.op == "Clip") {
      f.function = kernels::LutFunction::clip;
      f.alpha = n.get_float("min", -FLT_MAX);
      f.beta = n.get_float("max", FLT_MAX);
      if (n.inputs.size() > 1 && n.inputs[1] >= 0) f.alpha = L.constant_of(n.inputs[1])->float_at(0);
      if (n.inputs.size() > 2 && n.inputs[2] >= 0) f.beta = L.constant_of(n.inputs[2])->float_at(0);
    } else {
      fail("no lookup table for " + n.op);
      return;
    }
    const QuantParams pi = params_of_q(x);
    Tensor table(kiln::DType::u8, {256});
    kernels::QOut o;
    o.zero_point = po.zero_point;
    o.qmin = po.qmin;
    o.qmax = po.qmax;
    kernels::build_lut(f, pi.zero_point, pi.scale, po.scale, o, table.mutable_data<uint8_t>());
    std::string fname = n.op == "kiln.Silu" ? "silu" : n.op;
    std::transform(fname.begin(), fname.end(), fname.begin(), [](unsigned char c) { return std::tolower(c); });
    const int t = add_const(n.name + "__lut", table);
    add_node(n.name, "kiln.QLut", {x, t}, {new_q(n.outputs[0], value_params(po, bits))},
             {{"function", Attr::of_string(fname)}});
  }

  void weighted_layer(const Node& n, const NodePlan& np) {
    const bool conv = np.q_op == "kiln.QConv";
    const int x = need_q(n.inputs[0]);
    const int y = n.outputs[0];
    QuantParams po;
    if (x < 0 || !observed(y, &po)) return;
    const QuantParams pin = params_of_q(x);
    // Float weights as [channels][per_channel] (OIHW; Gemm -> [N, K] with alpha applied).
    const Tensor& wt = *L.constant_of(n.inputs[1]);
    const float* w = wt.data<float>();
    std::vector<float> wnk;
    size_t channels = 0, per = 0;
    if (conv) {
      channels = static_cast<size_t>(wt.shape()[0]);
      per = wt.elements() / channels;
    } else {
      const bool tb = n.get_int("transB", 0) != 0;
      const size_t k = static_cast<size_t>(tb ? wt.shape()[1] : wt.shape()[0]);
      channels = static_cast<size_t>(tb ? wt.shape()[0] : wt.shape()[1]);
      per = k;
      const float alpha = n.get_float("alpha", 1.0f);
      wnk.resize(channels * k);
      for (size_t c = 0; c < channels; ++c) {
        for (size_t i = 0; i < k; ++i) wnk[c * k + i] = (tb ? w[c * k + i] : w[i * channels + c]) * alpha;
      }
      w = wnk.data();
    }
    std::vector<QuantParams> wp;
    std::vector<int8_t> codes(channels * per);
    if (learned_ && learned_->weight_codes.count(n.name)) {  // reconstruction's codes and scales
      const std::vector<int8_t>& lc = learned_->weight_codes.at(n.name);
      auto lp = learned_->weight_params.find(n.name);
      if (lc.size() != codes.size() || lp == learned_->weight_params.end() || lp->second.size() != channels) {
        return fail("reconstructed weights do not match the layer's shape");
      }
      int32_t lo = 0, hi = 0;
      std::string e;
      if (!weight_code_range(np.wbits, &lo, &hi, &e)) return fail("weights: " + e);
      for (int8_t c : lc) {
        if (c < lo || c > hi) return fail("reconstructed weight code outside " + std::to_string(np.wbits) + " bits");
      }
      codes = lc;
      wp = lp->second;
    } else {
      WeightQuantOptions wo = O.weights;
      wo.bits = np.wbits;
      std::string e;
      if (!choose_weight_params_per_channel(w, channels, per, wo, &wp, &e)) return fail("weights: " + e);
      quantize_weights(w, channels, per, wp, codes.data());
    }
    Shape wshape;
    Tensor wq;
    if (conv) {  // OIHW -> OHWI
      const int64_t ig = wt.shape()[1], kh = wt.shape()[2], kw = wt.shape()[3];
      wshape = {wt.shape()[0], kh, kw, ig};
      wq = Tensor(kiln::DType::s8, wshape);
      int8_t* d = wq.mutable_data<int8_t>();
      for (size_t o = 0; o < channels; ++o)
        for (int64_t i = 0; i < ig; ++i)
          for (int64_t yy = 0; yy < kh; ++yy)
            for (int64_t xx = 0; xx < kw; ++xx) {
              d[((o * kh + yy) * kw + xx) * ig + i] = codes[((o * ig + i) * kh + yy) * kw + xx];
            }
    } else {
      wshape = {static_cast<int64_t>(channels), static_cast<int64_t>(per)};
      wq = Tensor(kiln::DType::s8, wshape);
      std::memcpy(wq.mutable_raw(), codes.data(), codes.size());
    }
    kiln::QuantParams wqp;
    wqp.axis = 0;
    wqp.bits = np.wbits;
    for (const QuantParams& c : wp) {
      wqp.scales.push_back(c.scale);
      wqp.zero_points.push_back(0);
    }
    // Float bias per channel (Gemm: beta * C broadcast).
    std::vector<float> b(channels, 0.0f);
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      const Tensor& bt = *L.constant_of(n.inputs[2]);
      const float beta = conv ? 1.0f : n.get_float("beta", 1.0f);
      for (size_t c = 0; c < channels; ++c) b[c] = bt.float_at(bt.elements() == 1 ? 0 : c) * beta;
    }
    Tensor bias(kiln::DType::s32, {static_cast<int64_t>(channels)});
    Tensor mult(kiln::DType::f32, {static_cast<int64_t>(channels)});
    for (size_t c = 0; c < channels; ++c) {
      bias.mutable_data<int32_t>()[c] = bias_code(b[c], pin.scale, wp[c].scale);
      mult.mutable_data<float>()[c] = epilogue_multiplier(pin.scale, wp[c].scale, po.scale);
    }
    int32_t qmin = 0, qmax = 0;
    activation_clamp(n, po, &qmin, &qmax);
    const bool hs = n.get_string("activation", "") == "hardswish";
    std::map<std::string, Attr> attrs;
    attrs["wbits"] = Attr::of_int(np.wbits);
    attrs["qmin"] = Attr::of_int(qmin);
    attrs["qmax"] = Attr::of_int(qmax);
    attrs["activation"] = Attr::of_string(hs ? "hardswish" : "none");
    attrs["hardswish_multiplier"] = Attr::of_float(1.0f / (6.0f * po.scale));
    const std::string wname = L.values[n.inputs[1]].name;
    std::vector<int> in = {x, add_const(wname, wq, wqp),
                           add_const(n.inputs.size() > 2 && n.inputs[2] >= 0 ? L.values[n.inputs[2]].name
                                                                             : n.name + "__bias",
                                     bias),
                           add_const(n.name + "__multiplier", mult)};
    if (conv) {
      attrs["kernel_shape"] = Attr::of_ints({wt.shape()[2], wt.shape()[3]});
      attrs["strides"] = Attr::of_ints(n.get_ints("strides", {1, 1}));
      attrs["pads"] = Attr::of_ints(n.get_ints("pads", {0, 0, 0, 0}));
      attrs["dilations"] = Attr::of_ints(n.get_ints("dilations", {1, 1}));
      attrs["group"] = Attr::of_int(n.get_int("group", 1));
      if (n.inputs.size() > 3 && n.inputs[3] >= 0) {
        const int r = need_q(n.inputs[3]);
        if (r < 0) return;
        attrs["residual_multiplier"] = Attr::of_float(params_of_q(r).scale / po.scale);
        in.push_back(r);
      }
    }
    add_node(n.name, np.q_op, in, {new_q(y, value_params(po, P.value_bits[y]))}, attrs);
  }

  const Graph& L;
  const Plan& P;
  const ObservedRanges& R;
  const QuantizeOptions& O;
  const recon::GraphReconResult* learned_;
  Graph q;
  std::set<std::string> names;
  std::vector<int> qv, fv;
  std::vector<char> is_output;
  std::string err;
};

}  // namespace

bool freeze_q_graph(const Graph& lowered, const Plan& plan, const ObservedRanges& ranges, const QuantizeOptions& options,
                    Graph* q, std::string* error, const recon::GraphReconResult* learned) {
  if (plan.nodes.size() != lowered.nodes.size() || ranges.params.size() != lowered.values.size()) {
    *error = "freeze: the plan or the ranges do not belong to this graph";
    return false;
  }
  Freezer f(lowered, plan, ranges, options, learned);
  return f.run(q, error);
}

}  // namespace kiln::calib
