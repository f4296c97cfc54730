// Recognises activation, normalisation and pooling patterns that exporters spell out op by op. The final
// node of a match is rewritten in place to compute the whole pattern from its source; the inner
// nodes are left to dead-code elimination (they stay when something else reads them).
#include <algorithm>
#include <cmath>

#include "kiln/runtime/passes.h"

namespace kiln {
namespace {

struct Matcher {
  Graph& g;

  const Node* producer(int v, const char* op) const {
    if (v < 0 || g.values[v].producer < 0) return nullptr;
    const Node& n = g.nodes[g.values[v].producer];
    return !n.dead && n.op == op ? &n : nullptr;
  }
  bool is_scalar(int v, float want, float tol = 1e-4f) const {
    const Tensor* t = g.constant_of(v);
    if (!t || t->elements() != 1 || t->dtype() != DType::f32) return false;
    return std::fabs(t->float_at(0) - want) <= tol * std::max(1.0f, std::fabs(want));
  }
  // The operand of a commutative binary node that is not `v` (or -1).
  static int other(const Node& n, int v) {
    if (n.inputs.size() != 2) return -1;
    return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : -1;
  }
  // Clip(v, 0, 6) in attribute or input form: returns v or -1.
  int relu6_input(int v) const {
    const Node* c = producer(v, "Clip");
    if (!c) return -1;
    if (c->inputs.size() >= 3 && c->inputs[1] >= 0 && c->inputs[2] >= 0) {
      return is_scalar(c->inputs[1], 0.0f) && is_scalar(c->inputs[2], 6.0f) ? c->inputs[0] : -1;
    }
    if (c->inputs.size() == 1 && c->get_float("min", -1) == 0.0f && c->get_float("max", -1) == 6.0f) return c->inputs[0];
    return -1;
  }
  // Add(x, 3) -> x
  int plus3_input(int v) const {
    const Node* a = producer(v, "Add");
    if (!a || a->inputs.size() != 2) return -1;
    if (is_scalar(a->inputs[1], 3.0f)) return a->inputs[0];
    if (is_scalar(a->inputs[0], 3.0f)) return a->inputs[1];
    return -1;
  }
  // relu6(x + 3) -> x
  int relu6_plus3(int v) const {
    const int r = relu6_input(v);
    return r < 0 ? -1 : plus3_input(r);
  }
  // v / 6 or v * (1/6): returns v's source or -1
  int div6_input(const Node& n) const {
    if (n.inputs.size() != 2) return -1;
    if (n.op == "Div" && is_scalar(n.inputs[1], 6.0f)) return n.inputs[0];
    if (n.op == "Mul" && is_scalar(n.inputs[1], 1.0f / 6.0f)) return n.inputs[0];
    if (n.op == "Mul" && is_scalar(n.inputs[0], 1.0f / 6.0f)) return n.inputs[1];
    return -1;
  }
};

void rewrite(Node& n, const char* op, std::vector<int> inputs, std::map<std::string, Attr> attrs = {}) {
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
}

std::vector<int64_t> reduce_axes_of(const Graph& g, const Node& n) {
  if (n.inputs.size() > 1 && n.inputs[1] >= 0) {
    const Tensor* t = g.constant_of(n.inputs[1]);
    std::vector<int64_t> a;
    if (t) {
      for (size_t i = 0; i < t->elements(); ++i) a.push_back(t->int_at(i));
    }
    return a;
  }
  return n.get_ints("axes");
}

// ReduceMean over exactly the last axis with keepdims: returns its input or -1.
int last_axis_mean(const Matcher& m, int v) {
  const Node* r = m.producer(v, "ReduceMean");
  if (!r || r->get_int("keepdims", 1) != 1) return -1;
  const int x = r->inputs[0];
  const Value& xv = m.g.values[x];
  if (!xv.shape_known || xv.shape.empty()) return -1;
  const std::vector<int64_t> axes = reduce_axes_of(m.g, *r);
  const int64_t last = static_cast<int64_t>(xv.shape.size()) - 1;
  if (axes.size() != 1 || (axes[0] != -1 && axes[0] != last)) return -1;
  return x;
}

// Div(Sub(x, mean(x)), Sqrt(Add(mean(Pow(Sub, 2)), eps))) -> (x, eps)
bool match_layer_norm_core(const Matcher& m, const Node& div, int* x, float* eps) {
  if (div.op != "Div" || div.inputs.size() != 2) return false;
  const Node* sub = m.producer(div.inputs[0], "Sub");
  if (!sub) return false;
  const int src = sub->inputs[0];
  if (last_axis_mean(m, sub->inputs[1]) != src) return false;
  const Node* sq = m.producer(div.inputs[1], "Sqrt");
  if (!sq) return false;
  const Node* add = m.producer(sq->inputs[0], "Add");
  if (!add || add->inputs.size() != 2) return false;
  const Tensor* e = m.g.constant_of(add->inputs[1]);
  if (!e || e->elements() != 1) return false;
  const int var_in = last_axis_mean(m, add->inputs[0]);
  if (var_in < 0) return false;
  const Node* pw = m.producer(var_in, "Pow");
  if (pw && pw->inputs[0] == div.inputs[0] && m.is_scalar(pw->inputs[1], 2.0f)) {
    // ok
  } else {
    const Node* mul = m.producer(var_in, "Mul");
    if (!mul || mul->inputs[0] != div.inputs[0] || mul->inputs[1] != div.inputs[0]) return false;
  }
  *x = src;
  *eps = e->float_at(0);
  return true;
}

// ReduceMean over exactly the two spatial axes of a 4-D tensor (`x.mean([2, 3])`, how many
// exporters spell a global average pool): true, with its input in *x.
bool spatial_mean(const Matcher& m, const Node& n, int* x) {
  if (n.op != "ReduceMean" || n.inputs.empty() || n.inputs[0] < 0) return false;
  const Value& xv = m.g.values[n.inputs[0]];
  if (!xv.shape_known || xv.shape.size() != 4) return false;
  std::vector<int64_t> axes = reduce_axes_of(m.g, n);
  for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
  std::sort(axes.begin(), axes.end());
  if (axes != std::vector<int64_t>{2, 3}) return false;
  *x = n.inputs[0];
  return true;
}

// Rewrites a spatial ReduceMean as GlobalAveragePool (keepdims = 0: then Flatten from axis 1),
// which the quantizer runs on codes instead of in a float island.
void rewrite_spatial_mean(Graph& g, size_t i, int x) {
  if (g.nodes[i].get_int("keepdims", 1) != 0) {
    rewrite(g.nodes[i], "GlobalAveragePool", {x});
    return;
  }
  Value pooled;
  pooled.name = g.unique_name(g.nodes[i].name + "_pool");
  const int v = g.add_value(pooled);
  Node pool;
  pool.name = pooled.name;
  pool.op = "GlobalAveragePool";
  pool.inputs = {x};
  pool.outputs = {v};
  rewrite(g.nodes[i], "Flatten", {v}, {{"axis", Attr::of_int(1)}});
  g.nodes.push_back(std::move(pool));
}

}  // namespace

std::string recognise_patterns(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  Matcher m{g};
  std::vector<std::pair<size_t, int>> spatial_means;  // rewritten after the walk: they add nodes
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.dead) continue;
    if (int x; spatial_mean(m, n, &x)) {
      spatial_means.emplace_back(i, x);
      continue;
    }
    // HardSigmoid: relu6(x + 3) / 6
    if (int src = m.div6_input(n); src >= 0) {
      if (int x = m.relu6_plus3(src); x >= 0) {
        rewrite(n, "HardSigmoid", {x}, {{"alpha", Attr::of_float(1.0f / 6.0f)}, {"beta", Attr::of_float(0.5f)}});
        continue;
      }
      // HardSwish: (x * relu6(x + 3)) / 6
      if (const Node* mul = m.producer(src, "Mul"); mul && mul->inputs.size() == 2) {
        for (int k = 0; k < 2; ++k) {
          const int x = mul->inputs[k];
          if (m.relu6_plus3(mul->inputs[1 - k]) == x) {
            rewrite(n, "HardSwish", {x});
            break;
          }
        }
        if (n.op == "HardSwish") continue;
      }
    }
    if (n.op == "Mul" && n.inputs.size() == 2) {
      bool done = false;
      for (int k = 0; k < 2 && !done; ++k) {
        const int x = n.inputs[k], y = n.inputs[1 - k];
        // x * HardSigmoid(x; 1/6, 0.5) -> HardSwish
        if (const Node* hs = m.producer(y, "HardSigmoid"); hs && hs->inputs[0] == x &&
            std::fabs(hs->get_float("alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f && hs->get_float("beta", 0.5f) == 0.5f) {
          rewrite(n, "HardSwish", {x});
          done = true;
        } else if (const Node* sg = m.producer(y, "Sigmoid"); sg && sg->inputs[0] == x) {
          rewrite(n, "kiln.Silu", {x});
          done = true;
        }
      }
      if (done) continue;
      // Gelu: (x * (Erf(x / sqrt2) + 1)) * 0.5
      for (int k = 0; k < 2 && !done; ++k) {
        if (!m.is_scalar(n.inputs[1 - k], 0.5f)) continue;
        const Node* mul = m.producer(n.inputs[k], "Mul");
        if (!mul || mul->inputs.size() != 2) continue;
        for (int j = 0; j < 2 && !done; ++j) {
          const int x = mul->inputs[j];
          const Node* add = m.producer(mul->inputs[1 - j], "Add");
          if (!add || add->inputs.size() != 2) continue;
          const int e = m.is_scalar(add->inputs[1], 1.0f) ? add->inputs[0] : m.is_scalar(add->inputs[0], 1.0f) ? add->inputs[1] : -1;
          const Node* erf = m.producer(e, "Erf");
          if (!erf) continue;
          const Node* dv = m.producer(erf->inputs[0], "Div");
          if (dv && dv->inputs[0] == x && m.is_scalar(dv->inputs[1], std::sqrt(2.0f))) {
            rewrite(n, "Gelu", {x});
            done = true;
          }
        }
      }
      if (done) continue;
    }
    // LayerNormalization: core, optionally * gamma, optionally + beta (constants over the last axis).
    {
      int x;
      float eps;
      const Node* core = nullptr;
      int gamma = -1, beta = -1;
      if (n.op == "Add" && n.inputs.size() == 2 && g.constant_of(n.inputs[1])) {
        if (const Node* mul = m.producer(n.inputs[0], "Mul"); mul && g.constant_of(mul->inputs[1])) {
          if (const Node* d = m.producer(mul->inputs[0], "Div"); d && match_layer_norm_core(m, *d, &x, &eps)) {
            core = d;
            gamma = mul->inputs[1];
            beta = n.inputs[1];
          }
        }
      }
      if (!core && n.op == "Mul" && n.inputs.size() == 2 && g.constant_of(n.inputs[1])) {
        if (const Node* d = m.producer(n.inputs[0], "Div"); d && match_layer_norm_core(m, *d, &x, &eps)) {
          core = d;
          gamma = n.inputs[1];
        }
      }
      if (!core && match_layer_norm_core(m, n, &x, &eps)) core = &n;
      if (core) {
        const Value& xv = g.values[x];
        const int64_t last = xv.shape.back();
        auto covers = [&](int v) {
          const Tensor* t = g.constant_of(v);
          return t && last > 0 && t->elements() == static_cast<size_t>(last) && t->dtype() == DType::f32;
        };
        if (last > 0 && (gamma < 0 || covers(gamma)) && (beta < 0 || covers(beta))) {
          if (gamma < 0) {
            Tensor ones(DType::f32, {last});
            for (int64_t j = 0; j < last; ++j) ones.mutable_data<float>()[j] = 1.0f;
            gamma = g.add_constant(g.unique_name(n.name + "_gamma"), std::move(ones));
          }
          std::vector<int> ins = {x, gamma};
          if (beta >= 0) ins.push_back(beta);
          rewrite(g.nodes[i], "LayerNormalization", ins, {{"axis", Attr::of_int(-1)}, {"epsilon", Attr::of_float(eps)}});
        }
      }
    }
  }
  for (const auto& [i, x] : spatial_means) rewrite_spatial_mean(g, i, x);
  if (!spatial_means.empty() && !g.sort(&err)) return err;
  return "";
}

}  // namespace kiln
