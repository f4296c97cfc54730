#include "kiln/calib/recon/kept_unit.h"

#include <algorithm>
#include <set>

#include "kiln/calib/freeze.h"
#include "kiln/calib/qfloat.h"

namespace kiln::calib::recon {

struct KeptUnit::Side {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Session> session;
  std::vector<std::string> in_names, out_names;
};

namespace {

Shape with_batch(int64_t batch, const Shape& sample) {
  Shape s{batch};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

size_t elements_of(const Shape& s) {
  size_t e = 1;
  for (int64_t d : s) e *= static_cast<size_t>(d);
  return e;
}

// The axis of a layer's weight tensor that indexes output channels, or -1 if `n` has no weights
// freeze quantizes per channel.
int channel_axis(const Graph& g, const Node& n) {
  const Tensor* w = g.constant_of(n.inputs.size() > 1 ? n.inputs[1] : -1);
  if (!w || w->dtype() != kiln::DType::f32) return -1;
  if (n.op == "Conv" && w->rank() >= 3) return 0;
  if (n.op == "Gemm" && w->rank() == 2) return n.get_int("transB", 0) != 0 ? 0 : 1;
  if (n.op == "MatMul" && w->rank() == 2) return 1;
  return -1;
}

// w fake-quantized per output channel (axis 0 or 1 of a [rows, ...] tensor) at `bits`.
bool fake_quantized_weights(const Tensor& w, int axis, int bits, const WeightQuantOptions& base, Tensor* out,
                            std::vector<QuantParams>* params, std::string* error) {
  const size_t rows = static_cast<size_t>(w.shape()[0]), total = w.elements(), cols = total / rows;
  const size_t channels = axis == 0 ? rows : cols, per = total / channels;
  // Element (r, c) of w in the [channels][per] order the weight quantizer reads.
  auto at = [&](size_t r, size_t c) { return axis == 0 ? r * per + c : c * per + r; };
  std::vector<float> cw(total);
  const float* src = w.data<float>();
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) cw[at(r, c)] = src[r * cols + c];
  WeightQuantOptions wo = base;
  wo.bits = bits;
  if (!choose_weight_params_per_channel(cw.data(), channels, per, wo, params, error)) return false;
  std::vector<float> fq(total);
  fake_quantize_weights(cw.data(), channels, per, *params, fq.data());
  *out = Tensor(kiln::DType::f32, w.shape());
  float* dst = out->mutable_data<float>();
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) dst[r * cols + c] = fq[at(r, c)];
  return true;
}

// Appends y = dequantize(quantize(x)) with `p` to `sub`; returns y.
int append_fake_quant(Graph* sub, int x, const QuantParams& p, const std::string& base) {
  Value codes = sub->values[x];
  codes.name = sub->unique_name(codes.name + "__codes");
  codes.constant.reset();
  const int c = sub->add_value(codes);
  Value real = codes;
  real.name = sub->unique_name(sub->values[x].name + "__fq");
  const int r = sub->add_value(real);
  Node q;
  q.name = sub->unique_name(base + "__quantize");
  q.op = "kiln.SimQuantize";
  q.inputs = {x};
  q.outputs = {c};
  q.attrs["scale"] = Attr::of_float(p.scale);
  q.attrs["zero_point"] = Attr::of_int(p.zero_point);
  q.attrs["qmin"] = Attr::of_int(p.qmin);
  q.attrs["qmax"] = Attr::of_int(p.qmax);
  Node d;
  d.name = sub->unique_name(base + "__dequantize");
  d.op = "kiln.SimDequantize";
  d.inputs = {c};
  d.outputs = {r};
  d.attrs["scale"] = Attr::of_float(p.scale);
  d.attrs["zero_point"] = Attr::of_int(p.zero_point);
  sub->values[c].producer = static_cast<int>(sub->nodes.size());
  sub->nodes.push_back(std::move(q));
  sub->values[r].producer = static_cast<int>(sub->nodes.size());
  sub->nodes.push_back(std::move(d));
  return r;
}

// The unit's nodes as a graph of their own (inputs: the unit's per-sample inputs, declared with
// `batch` first). Quantized: weights fake-quantized; a value the Q graph holds as codes is
// fake-quantized where it is produced, a value it holds as floats (graph inputs, float islands'
// outputs) only where an op that reads codes reads it (Q's kiln.Quantize in front of that op).
bool build_sub_graph(const Graph& g, const ReconUnit& u, const UnitContext& ctx, const KeptUnitOptions& o,
                     bool quantized, int64_t batch, Graph* sub, std::vector<std::string>* in_names,
                     std::vector<std::string>* out_names, std::string* error) {
  std::map<int, int> id;     // graph value -> sub-graph value (as Q holds it)
  std::map<int, int> coded;  // float graph value -> its fake-quantized twin, for readers of codes
  auto params_of = [&](int gv) -> const QuantParams* {
    if (gv < 0 || g.values[gv].dtype != kiln::DType::f32) return nullptr;
    auto p = o.value_params.find(g.values[code_source(g, gv, o.code_moving)].name);
    return p == o.value_params.end() ? nullptr : &p->second;
  };
  for (int v : u.inputs) {
    Value val;
    val.name = g.values[v].name;
    val.dtype = kiln::DType::f32;
    val.shape = with_batch(batch, ctx.sample_shape[v]);
    val.shape_known = true;
    id[v] = sub->add_value(val);
    sub->inputs.push_back(id[v]);
    in_names->push_back(val.name);
  }
  std::vector<int> nodes = u.nodes;
  nodes.insert(nodes.end(), u.recompute.begin(), u.recompute.end());
  std::sort(nodes.begin(), nodes.end());
  const std::set<int> recomputed(u.recompute.begin(), u.recompute.end());
  std::map<int, int> constants;  // graph constant -> sub-graph constant (shared by its readers)
  for (int i : nodes) {
    Node n = g.nodes[i];
    n.blobs.clear();
    const int axis = channel_axis(g, n);
    auto wb = o.layer_wbits.find(n.name);
    const int wbits = quantized && axis >= 0 && wb != o.layer_wbits.end() ? wb->second : 0;
    const bool reads_codes = quantized && !recomputed.count(i) && (!o.float_readers || !o.float_readers->count(n.name));
    std::vector<QuantParams> wparams;  // the layer's per-channel weight parameters (inputs in order: 1 before 2)
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0) continue;
      if (g.values[v].constant) {
        if (k == 1 && wbits > 0) {
          Tensor t;
          if (!fake_quantized_weights(*g.values[v].constant, axis, wbits, o.weights, &t, &wparams, error)) {
            *error += " (" + n.label() + ")";
            return false;
          }
          n.inputs[k] = sub->add_constant(sub->unique_name(g.values[v].name + "__fq"), std::move(t));
        } else if (k == 2 && wbits > 0 && !wparams.empty() && params_of(g.nodes[i].inputs[0])) {
          // The bias as freeze stores it: int32 codes of s_in * s_w (Gemm: of beta * C, with alpha in s_w).
          const float s_in = params_of(g.nodes[i].inputs[0])->scale;
          const float alpha = n.op == "Gemm" ? n.get_float("alpha", 1.0f) : 1.0f;
          const float beta = n.op == "Gemm" ? n.get_float("beta", 1.0f) : 1.0f;
          const Tensor& bt = *g.values[v].constant;
          Tensor rb(kiln::DType::f32, {static_cast<int64_t>(wparams.size())});
          for (size_t ch = 0; ch < wparams.size(); ++ch) {
            const float b = bt.float_at(bt.elements() == 1 ? 0 : ch) * beta, s_w = alpha * wparams[ch].scale;
            const float r = static_cast<float>(bias_code(b, s_in, s_w)) * s_in * s_w;
            rb.mutable_data<float>()[ch] = beta != 0.0f ? r / beta : 0.0f;
          }
          n.inputs[k] = sub->add_constant(sub->unique_name(g.values[v].name + "__codes"), std::move(rb));
        } else {
          auto c = constants.find(v);
          if (c == constants.end()) c = constants.emplace(v, sub->add_constant(g.values[v].name, *g.values[v].constant)).first;
          n.inputs[k] = c->second;
        }
        continue;
      }
      auto it = id.find(v);
      if (it == id.end()) {
        *error = "value '" + g.values[v].name + "' is not available to kept unit '" + u.name + "'";
        return false;
      }
      n.inputs[k] = it->second;
      const bool float_value = o.float_values && o.float_values->count(g.values[v].name);
      if (reads_codes && float_value) {
        if (const QuantParams* p = params_of(v)) {
          auto c = coded.find(v);
          if (c == coded.end()) c = coded.emplace(v, append_fake_quant(sub, it->second, *p, g.nodes[i].name)).first;
          n.inputs[k] = c->second;
        }
      }
    }
    const int node_index = static_cast<int>(sub->nodes.size());
    for (int& o_id : n.outputs) {
      if (o_id < 0) continue;
      const int gv = o_id;
      Value val = g.values[gv];
      val.constant.reset();
      val.producer = node_index;
      o_id = sub->add_value(val);
      id[gv] = o_id;
    }
    const std::vector<int> outs = n.outputs;
    const std::vector<int>& graph_outs = g.nodes[i].outputs;
    sub->nodes.push_back(std::move(n));
    if (!quantized || recomputed.count(i)) continue;
    for (size_t k = 0; k < outs.size(); ++k) {
      const int gv = graph_outs[k];
      if (gv < 0 || (o.float_values && o.float_values->count(g.values[gv].name))) continue;  // fake-quantized on read
      if (const QuantParams* p = params_of(gv)) id[gv] = append_fake_quant(sub, outs[k], *p, g.nodes[i].name);
    }
  }
  for (int v : u.outputs) {
    auto it = id.find(v);
    if (it == id.end()) {
      *error = "kept unit '" + u.name + "' does not produce '" + g.values[v].name + "'";
      return false;
    }
    sub->outputs.push_back(it->second);
    out_names->push_back(sub->values[it->second].name);
  }
  return true;
}

// [nb, C, H, W] <-> [nb, H, W, C] for image samples (sample shape [C, H, W]); copies otherwise.
void copy_layout(const float* src, float* dst, size_t nb, const Shape& sample, bool to_nchw) {
  const size_t per = elements_of(sample);
  if (sample.size() != 3) {
    std::copy(src, src + nb * per, dst);
    return;
  }
  const size_t c = static_cast<size_t>(sample[0]), hw = per / std::max<size_t>(c, 1);
  for (size_t s = 0; s < nb; ++s) {
    const float* a = src + s * per;
    float* b = dst + s * per;
    for (size_t k = 0; k < c; ++k)
      for (size_t p = 0; p < hw; ++p) {
        if (to_nchw) b[k * hw + p] = a[p * c + k];
        else b[p * c + k] = a[k * hw + p];
      }
  }
}

}  // namespace

KeptUnit::KeptUnit() = default;
KeptUnit::~KeptUnit() = default;

std::string KeptUnit::init(const Graph& g, const ReconUnit& u, const UnitContext& ctx, const KeptUnitOptions& o) {
  register_simulation_ops();
  batch_ = std::max<size_t>(1, o.batch);
  const int64_t declared = g.inputs.empty() || g.values[g.inputs[0]].shape.empty() ? kSymbolicDim
                                                                                   : g.values[g.inputs[0]].shape[0];
  static_batch_ = declared > 0 ? static_cast<size_t>(declared) : 0;
  in_shapes_.clear();
  out_shapes_.clear();
  for (int v : u.inputs) {
    if (!ctx.batched[v]) return "kept unit '" + u.name + "' reads '" + g.values[v].name + "', which is not per-sample";
    in_shapes_.push_back(ctx.sample_shape[v]);
  }
  for (int v : u.outputs) out_shapes_.push_back(ctx.sample_shape[v]);
  for (bool quantized : {false, true}) {
    auto side = std::make_unique<Side>();
    Graph sub;
    std::string e;
    if (!build_sub_graph(g, u, ctx, o, quantized, static_batch_ ? declared : kSymbolicDim, &sub, &side->in_names,
                         &side->out_names, &e)) {
      return e;
    }
    ModelOptions mo;
    mo.canonicalize = false;
    side->model = Model::create(std::move(sub), &e, mo);
    if (!side->model) return "kept unit '" + u.name + "': " + e;
    side->session = std::make_unique<Session>(side->model, o.threads);
    (quantized ? quant_ : float_) = std::move(side);
  }
  return "";
}

std::string KeptUnit::run(bool quantized, const std::vector<const std::vector<float>*>& inputs, size_t n,
                          std::vector<std::vector<float>*>& outputs) {
  Side& s = quantized ? *quant_ : *float_;
  if (inputs.size() != in_shapes_.size() || outputs.size() != out_shapes_.size()) return "kept unit: wrong arity";
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->size() != n * elements_of(in_shapes_[i])) return "kept unit: input '" + s.in_names[i] + "' size";
  }
  for (size_t k = 0; k < outputs.size(); ++k) outputs[k]->assign(n * elements_of(out_shapes_[k]), 0.0f);
  const size_t step = static_batch_ ? static_batch_ : batch_;
  for (size_t s0 = 0; s0 < n; s0 += step) {
    const size_t nb = std::min(step, n - s0), rb = static_batch_ ? static_batch_ : nb;  // rb - nb: zero padding
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor t(kiln::DType::f32, with_batch(static_cast<int64_t>(rb), in_shapes_[i]));
      float* d = t.mutable_data<float>();
      std::fill(d, d + t.elements(), 0.0f);
      const size_t per = elements_of(in_shapes_[i]);
      copy_layout(inputs[i]->data() + s0 * per, d, nb, in_shapes_[i], true);
      if (std::string e = s.session->set_input(s.in_names[i], t); !e.empty()) return "kept unit: " + e;
    }
    if (std::string e = s.session->run(); !e.empty()) return "kept unit: " + e;
    for (size_t k = 0; k < outputs.size(); ++k) {
      const Tensor* y = s.session->output(s.out_names[k]);
      const size_t per = elements_of(out_shapes_[k]);
      if (!y || y->dtype() != kiln::DType::f32 || y->elements() != rb * per) {
        return "kept unit: output '" + s.out_names[k] + "' is not one slice per sample";
      }
      copy_layout(y->data<float>(), outputs[k]->data() + s0 * per, nb, out_shapes_[k], false);
    }
  }
  return "";
}

}  // namespace kiln::calib::recon
