#include "kiln/calib/plan.h"

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <set>

namespace kiln::calib {
namespace {

bool is_activation(const Graph& g, int v) {
  return v >= 0 && !g.values[v].constant && g.values[v].dtype == kiln::DType::f32;
}

const Tensor* f32_constant(const Graph& g, int v) {
  const Tensor* t = g.constant_of(v);
  return t && t->dtype() == kiln::DType::f32 ? t : nullptr;
}

bool keeps_float(const std::map<std::string, LayerOverride>& overrides, const std::string& node) {
  auto it = overrides.find(node);
  return it != overrides.end() && it->second.keep_float;
}

// "" when every override names a node of `g`, else the error with near names.
std::string check_override_names(const Graph& g, const std::map<std::string, LayerOverride>& overrides) {
  std::vector<std::string> names;
  for (const Node& n : g.nodes) names.push_back(n.name);
  for (const auto& [name, o] : overrides) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    // A lowered node (split activation) is addressed by its layer's name.
    std::string e = "override for unknown node '" + name + "'";
    const std::vector<std::string> near = near_names(name, names);
    if (!near.empty()) {
      e += "; near names:";
      for (size_t i = 0; i < near.size(); ++i) e += (i ? ", '" : " '") + near[i] + "'";
    }
    return e;
  }
  return "";
}

Tensor s64_vector(const std::vector<int64_t>& v) {
  Tensor t(kiln::DType::s64, {static_cast<int64_t>(v.size())});
  if (!v.empty()) std::memcpy(t.mutable_raw(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

int add_like(Graph& g, const Value& like, const std::string& name, Shape shape) {
  Value v;
  v.name = g.unique_name(name);
  v.dtype = like.dtype;
  v.shape = std::move(shape);
  v.shape_known = like.shape_known;
  return g.add_value(std::move(v));
}

// The one use of value v by a live node, or -1 (several uses, or a graph output).
int single_consumer(const Graph& g, int v, const std::vector<int>& uses) {
  if (uses[v] != 1) return -1;
  for (int o : g.outputs) {
    if (o == v) return -1;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int x : g.nodes[i].inputs) {
      if (x == v) return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

std::vector<std::string> near_names(const std::string& name, const std::vector<std::string>& names, size_t limit) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::vector<std::pair<size_t, std::string>> scored;
  for (const std::string& n : names) scored.push_back({distance(name, n), n});
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && out.size() < limit; ++i) out.push_back(scored[i].second);
  return out;
}

FusedActivation ahead_activation(const Node& n) {
  const std::string a = n.get_string("activation", "");
  if (a == "relu") return FusedActivation::relu;
  if (a == "clip" && n.get_float("act_a", -1.0f) == 0.0f) {
    return n.get_float("act_b", FLT_MAX) == 6.0f ? FusedActivation::relu6 : FusedActivation::relu;
  }
  return FusedActivation::none;
}

bool lower_for_quantization(const Graph& in, const std::map<std::string, LayerOverride>& overrides, Graph* out,
                            std::string* error) {
  if (std::string e = check_override_names(in, overrides); !e.empty()) {
    *error = e;
    return false;
  }
  Graph g = in;
  const std::vector<int> uses = g.use_counts();
  std::vector<Node> nodes;
  std::vector<char> folded(g.nodes.size(), 0);  // bias Adds merged into a Gemm
  for (size_t ni = 0; ni < in.nodes.size(); ++ni) {
    if (folded[ni]) continue;
    Node n = in.nodes[ni];
    if (n.dead) continue;
    const bool keep = keeps_float(overrides, n.name);
    const Tensor* w = n.op == "MatMul" && n.inputs.size() == 2 ? f32_constant(g, n.inputs[1]) : nullptr;
    const Value* xv = w && is_activation(g, n.inputs[0]) ? &g.values[n.inputs[0]] : nullptr;
    int dyn = 0;  // non-static leading dimensions of the activation
    if (xv) {
      for (size_t d = 0; d + 1 < xv->shape.size(); ++d) dyn += xv->shape[d] < 0;
    }
    if (!keep && xv && w->rank() == 2 && xv->shape_known && xv->shape.size() >= 2 && dyn <= 1 &&
        xv->shape.back() == w->shape()[0]) {
      const int64_t k = w->shape()[0], nn = w->shape()[1];
      const Value x = *xv;
      int y = n.outputs[0];
      int bias = -1;
      // MatMul + Add(constant [N] or [1, N]) -> one Gemm with a bias.
      const int c = single_consumer(g, y, uses);
      if (c >= 0 && g.nodes[c].op == "Add" && g.nodes[c].inputs.size() == 2 && !keeps_float(overrides, g.nodes[c].name)) {
        const int other = g.nodes[c].inputs[0] == y ? g.nodes[c].inputs[1] : g.nodes[c].inputs[0];
        const Tensor* b = f32_constant(g, other);
        if (b && (b->rank() == 1 || (b->rank() == 2 && b->shape()[0] == 1)) && b->shape().back() == nn) {
          bias = other;
          y = g.nodes[c].outputs[0];
          folded[c] = 1;
        }
      }
      Node gemm;
      gemm.name = n.name;
      gemm.op = "Gemm";
      gemm.attrs["transB"] = Attr::of_int(0);
      if (x.shape.size() == 2) {
        gemm.inputs = {n.inputs[0], n.inputs[1]};
        if (bias >= 0) gemm.inputs.push_back(bias);
        gemm.outputs = {y};
        nodes.push_back(gemm);
        continue;
      }
      int64_t m = 1;
      for (size_t d = 0; d + 1 < x.shape.size(); ++d) m *= x.shape[d] < 0 ? 1 : x.shape[d];
      const int64_t rows_m = dyn ? kSymbolicDim : m;
      const Value yv = g.values[y];
      const int rows = add_like(g, x, x.name + "__2d", {rows_m, k});
      const int y2 = add_like(g, yv, yv.name + "__2d", {rows_m, nn});
      std::vector<int64_t> back(x.shape.begin(), x.shape.end() - 1);
      for (int64_t& d : back) d = d < 0 ? -1 : d;
      back.push_back(nn);
      const int s_in = g.add_constant(g.unique_name(n.name + "__rows_shape"), s64_vector({-1, k}));
      const int s_out = g.add_constant(g.unique_name(n.name + "__out_shape"), s64_vector(back));
      Node r1;
      r1.name = n.name + "__rows";
      r1.op = "Reshape";
      r1.inputs = {n.inputs[0], s_in};
      r1.outputs = {rows};
      gemm.inputs = {rows, n.inputs[1]};
      if (bias >= 0) gemm.inputs.push_back(bias);
      gemm.outputs = {y2};
      Node r2;
      r2.name = n.name + "__unrows";
      r2.op = "Reshape";
      r2.inputs = {y2, s_out};
      r2.outputs = {y};
      nodes.push_back(r1);
      nodes.push_back(gemm);
      nodes.push_back(r2);
      continue;
    }
    const std::string act = n.get_string("activation", "");
    if (!keep && (n.op == "Conv" || n.op == "Gemm") && (act == "sigmoid" || act == "silu" || act == "leaky_relu")) {
      const int y = n.outputs[0];
      const int pre = add_like(g, g.values[y], g.values[y].name + "__preact", g.values[y].shape);
      Node a;
      a.name = n.name + "__act";
      a.op = act == "sigmoid" ? "Sigmoid" : act == "silu" ? "kiln.Silu" : "LeakyRelu";
      if (act == "leaky_relu") a.attrs["alpha"] = Attr::of_float(n.get_float("act_a", 0.01f));
      a.inputs = {pre};
      a.outputs = {y};
      n.attrs.erase("activation");
      n.attrs.erase("act_a");
      n.attrs.erase("act_b");
      n.outputs = {pre};
      nodes.push_back(n);
      nodes.push_back(a);
      continue;
    }
    nodes.push_back(n);
  }
  g.nodes = std::move(nodes);
  g.compact();
  std::string e;
  if (!g.sort(&e)) {
    *error = "lowering: " + e;
    return false;
  }
  *out = std::move(g);
  return true;
}

namespace {

const std::set<std::string>& pass_through_ops() {
  static const std::set<std::string> ops = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                                            "Slice", "Split", "Identity", "Pad"};
  return ops;
}

const std::set<std::string>& lut_ops() {
  static const std::set<std::string> ops = {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu",
                                            "kiln.Silu", "LeakyRelu", "Relu", "Clip"};
  return ops;
}

bool epilogue_activation(const Node& n) {
  const std::string a = n.get_string("activation", "");
  return a.empty() || a == "relu" || a == "clip" || a == "hardswish";
}

// The Q op for node n, or "" with the reason it stays float.
std::string quantized_op(const Graph& g, const Node& n, std::string* why) {
  std::vector<int> acts;
  for (int v : n.inputs) {
    if (is_activation(g, v)) acts.push_back(v);
  }
  auto rank_of = [&](int v) { return g.values[v].shape_known ? static_cast<int>(g.values[v].shape.size()) : -1; };
  if (n.op == "Conv") {
    const Tensor* w = n.inputs.size() > 1 ? f32_constant(g, n.inputs[1]) : nullptr;
    const bool bias_ok = n.inputs.size() < 3 || n.inputs[2] < 0 ||
                         (f32_constant(g, n.inputs[2]) && w && g.constant_of(n.inputs[2])->elements() ==
                                                                   static_cast<size_t>(w->shape()[0]));
    const std::string pad = n.get_string("auto_pad", "NOTSET");
    if (!w || w->rank() != 4) return *why = "weights are not a constant 4-D tensor", "";
    if (!bias_ok) return *why = "bias is not a constant [O]", "";
    if (!is_activation(g, n.inputs[0]) || rank_of(n.inputs[0]) != 4) return *why = "input is not a 4-D activation", "";
    if (n.inputs.size() > 3 && n.inputs[3] >= 0 && !is_activation(g, n.inputs[3])) return *why = "constant residual", "";
    if (pad != "NOTSET") return *why = "auto_pad", "";
    if (!epilogue_activation(n)) return *why = "activation", "";
    return "kiln.QConv";
  }
  if (n.op == "Gemm") {
    const Tensor* w = n.inputs.size() > 1 ? f32_constant(g, n.inputs[1]) : nullptr;
    if (!w || w->rank() != 2) return *why = "weights are not a constant 2-D tensor", "";
    const int64_t nn = n.get_int("transB", 0) ? w->shape()[0] : w->shape()[1];
    if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
      const Tensor* c = f32_constant(g, n.inputs[2]);
      if (!c || !(c->elements() == 1 || (c->elements() == static_cast<size_t>(nn) && c->shape().back() == nn))) {
        return *why = "bias is not a constant [N]", "";
      }
    }
    if (n.get_int("transA", 0) != 0) return *why = "transA", "";
    if (!is_activation(g, n.inputs[0]) || rank_of(n.inputs[0]) != 2) return *why = "input is not a 2-D activation", "";
    if (!epilogue_activation(n)) return *why = "activation", "";
    return "kiln.QGemm";
  }
  if (n.op == "Add" || n.op == "Mul") {
    if (acts.size() == 2 && n.inputs.size() == 2) return n.op == "Add" ? "kiln.QAdd" : "kiln.QMul";
    return *why = "a constant operand", "";
  }
  if (n.op == "Concat") {
    if (acts.size() == n.inputs.size()) return "kiln.QConcat";
    return *why = "a constant operand", "";
  }
  if (n.op == "MaxPool") {
    if (n.outputs.size() == 1) return "kiln.QMaxPool";
    return *why = "indices output", "";
  }
  if (n.op == "AveragePool") return "kiln.QAvgPool";
  if (n.op == "GlobalAveragePool") return "kiln.QGlobalAvgPool";
  if (n.op == "Resize") {
    const std::string mode = n.get_string("mode", "nearest");
    if (mode == "nearest" || mode == "linear") return "kiln.QResize";
    return *why = "mode " + mode, "";
  }
  if (lut_ops().count(n.op)) {
    if (n.op == "Gelu" && n.get_string("approximate", "none") != "none") return *why = "tanh-approximate Gelu", "";
    if (n.op == "Clip") {
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (n.inputs[i] >= 0 && (!g.constant_of(n.inputs[i]) || g.constant_of(n.inputs[i])->elements() != 1)) {
          return *why = "non-constant bounds", "";
        }
      }
    }
    return "kiln.QLut";
  }
  if (n.op == "ConvTranspose") return *why = "ConvTranspose is a float island for now", "";
  return *why = "no quantized form", "";
}

}  // namespace

bool make_plan(const Graph& g, const QuantizeOptions& options, Plan* out, std::string* error) {
  if (std::string e = check_override_names(g, options.overrides); !e.empty()) {
    *error = e;
    return false;
  }
  if (options.wbits < 2 || options.wbits > 8 || options.abits < 2 || options.abits > 8) {
    *error = "bits must be in [2, 8] (wbits " + std::to_string(options.wbits) + ", abits " +
             std::to_string(options.abits) + ")";
    return false;
  }
  Plan p;
  p.nodes.resize(g.nodes.size());
  p.value_bits.assign(g.values.size(), options.abits);
  p.value_ahead.assign(g.values.size(), FusedActivation::none);
  p.observe.assign(g.values.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) p.observe[v] = is_activation(g, static_cast<int>(v));
  std::vector<size_t> weighted;  // QConv / QGemm nodes, in order
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    NodePlan& np = p.nodes[i];
    bool any_act = false;
    for (int v : n.inputs) any_act = any_act || is_activation(g, v);
    if (!any_act || n.op == "Shape" || n.op == "Size") {
      np.kind = NodeKind::shape_math;
      continue;
    }
    auto it = options.overrides.find(n.name);
    const LayerOverride o = it == options.overrides.end() ? LayerOverride{} : it->second;
    np.abits = o.abits ? o.abits : options.abits;
    if (o.keep_float) {
      np.kind = NodeKind::float_island;
      np.why = "override";
      continue;
    }
    if (pass_through_ops().count(n.op)) {
      bool ok = n.op != "Pad";
      if (n.op == "Pad") {
        const Tensor* value = n.inputs.size() > 2 && n.inputs[2] >= 0 ? g.constant_of(n.inputs[2]) : nullptr;
        const bool value_zero = n.inputs.size() <= 2 || n.inputs[2] < 0 || (value && value->float_at(0) == 0.0f);
        ok = n.get_string("mode", "constant") == "constant" && value_zero && n.get_float("value", 0.0f) == 0.0f;
      }
      if (ok && is_activation(g, n.inputs[0])) {
        np.kind = NodeKind::pass_through;
        continue;
      }
    }
    std::string why;
    np.q_op = quantized_op(g, n, &why);
    if (np.q_op.empty()) {
      np.kind = NodeKind::float_island;
      np.why = why;
      continue;
    }
    np.kind = NodeKind::quantized;
    if (np.q_op == "kiln.QConv" || np.q_op == "kiln.QGemm") {
      np.wbits = o.wbits ? o.wbits : options.wbits;
      np.ahead = ahead_activation(n);
      weighted.push_back(i);
    } else if (n.op == "Relu") {
      np.ahead = FusedActivation::relu;
    }
  }
  // Add + Relu: the Relu becomes the QAdd's clamp when it is the Add's only reader.
  const std::vector<int> uses = g.use_counts();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (p.nodes[i].q_op != "kiln.QAdd") continue;
    const int c = single_consumer(g, g.nodes[i].outputs[0], uses);
    if (c >= 0 && g.nodes[c].op == "Relu" && p.nodes[c].q_op == "kiln.QLut") {
      p.nodes[i].absorbs = c;
      p.nodes[i].ahead = FusedActivation::relu;
      p.nodes[c].kind = NodeKind::absorbed;
      p.nodes[c].q_op.clear();
    }
  }
  if (options.first_last_8bit && !weighted.empty()) {
    for (size_t i : {weighted.front(), weighted.back()}) {
      auto it = options.overrides.find(g.nodes[i].name);
      if (it == options.overrides.end() || !it->second.wbits) p.nodes[i].wbits = 8;
      if (it == options.overrides.end() || !it->second.abits) p.nodes[i].abits = 8;
    }
    for (int v : g.inputs) p.value_bits[v] = 8;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const NodePlan& np = p.nodes[i];
    if (np.kind == NodeKind::quantized) {
      for (int v : g.nodes[i].outputs) {
        p.value_bits[v] = np.abits;
        p.value_ahead[v] = np.ahead;
      }
    }
    if (np.kind == NodeKind::quantized || np.kind == NodeKind::float_island) {
      PlannedLayer l;
      l.node = g.nodes[i].name;
      l.op = np.kind == NodeKind::quantized ? np.q_op : g.nodes[i].op;
      l.quantized = np.kind == NodeKind::quantized;
      l.wbits = np.wbits;
      l.abits = l.quantized ? np.abits : 0;
      p.layers.push_back(l);
    }
  }
  *out = std::move(p);
  return true;
}

bool moves_codes(const std::string& op) {
  return op == "MaxPool" || op == "Resize" || pass_through_ops().count(op) != 0;
}

}  // namespace kiln::calib
