// Epilogue fusion: Conv + Add(residual) and Conv/ConvTranspose/Gemm + activation become one node
// whose kernel applies bias, residual and activation in its epilogue (DESIGN.md: the residual add
// comes before the activation).
#include <cfloat>

#include "kiln/runtime/passes.h"

namespace kiln {
namespace {

bool scalar_const(const Graph& g, int v, float* out) {
  const Tensor* t = g.constant_of(v);
  if (!t || t->elements() != 1) return false;
  *out = t->float_at(0);
  return true;
}

// The activation attributes for node `act`, or false when it cannot be fused.
bool activation_attrs(const Graph& g, const Node& act, std::map<std::string, Attr>* attrs) {
  if (act.op == "Relu") {
    (*attrs)["activation"] = Attr::of_string("relu");
  } else if (act.op == "LeakyRelu") {
    (*attrs)["activation"] = Attr::of_string("leaky_relu");
    (*attrs)["act_a"] = Attr::of_float(act.get_float("alpha", 0.01f));
  } else if (act.op == "HardSwish") {
    (*attrs)["activation"] = Attr::of_string("hardswish");
  } else if (act.op == "Sigmoid") {
    (*attrs)["activation"] = Attr::of_string("sigmoid");
  } else if (act.op == "kiln.Silu") {
    (*attrs)["activation"] = Attr::of_string("silu");
  } else if (act.op == "Clip") {
    float lo = act.get_float("min", -FLT_MAX), hi = act.get_float("max", FLT_MAX);
    if (act.inputs.size() > 1 && act.inputs[1] >= 0 && !scalar_const(g, act.inputs[1], &lo)) return false;
    if (act.inputs.size() > 2 && act.inputs[2] >= 0 && !scalar_const(g, act.inputs[2], &hi)) return false;
    if (lo == 0.0f && hi >= FLT_MAX) {
      (*attrs)["activation"] = Attr::of_string("relu");
    } else {
      (*attrs)["activation"] = Attr::of_string("clip");
      (*attrs)["act_a"] = Attr::of_float(lo);
      (*attrs)["act_b"] = Attr::of_float(hi);
    }
  } else {
    return false;
  }
  return true;
}

bool is_output(const Graph& g, int v) {
  for (int o : g.outputs) {
    if (o == v) return true;
  }
  return false;
}

}  // namespace

std::string fuse_activations(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  // Residual: Add(conv(x), r) with r of the output's exact shape.
  std::vector<int> uses = g.use_counts();
  for (Node& add : g.nodes) {
    if (add.dead || add.op != "Add" || add.inputs.size() != 2) continue;
    for (int k = 0; k < 2; ++k) {
      const int c = add.inputs[k], r = add.inputs[1 - k];
      if (c == r || g.values[c].producer < 0 || uses[c] != 1 || is_output(g, c) || g.values[r].constant) continue;
      Node& conv = g.nodes[g.values[c].producer];
      if (conv.dead || conv.op != "Conv" || conv.has("activation") || conv.inputs.size() > 3) continue;
      const Value &cv = g.values[c], &rv = g.values[r], &ov = g.values[add.outputs[0]];
      if (!cv.shape_known || !rv.shape_known || cv.shape != rv.shape || ov.shape != cv.shape || rv.dtype != DType::f32) continue;
      conv.inputs.resize(4, -1);
      conv.inputs[3] = r;
      conv.outputs = add.outputs;
      add.dead = true;
      break;
    }
  }
  g.compact();
  if (!g.sort(&err)) return err;
  uses = g.use_counts();
  for (Node& act : g.nodes) {
    if (act.dead || act.inputs.empty() || act.outputs.size() != 1) continue;
    const int v = act.inputs[0];
    if (g.values[v].producer < 0 || uses[v] != 1 || is_output(g, v)) continue;
    Node& p = g.nodes[g.values[v].producer];
    if (p.dead || p.has("activation")) continue;
    if (p.op != "Conv" && p.op != "ConvTranspose" && p.op != "Gemm") continue;
    if (p.op == "Gemm" && p.inputs.size() > 2 && p.inputs[2] >= 0) {
      const Tensor* c = g.constant_of(p.inputs[2]);
      if (!c || !(c->rank() == 1 || (c->rank() == 2 && c->shape()[0] == 1)) || c->elements() < 2) continue;
    }
    std::map<std::string, Attr> attrs;
    if (!activation_attrs(g, act, &attrs)) continue;
    for (auto& [k, a] : attrs) p.attrs[k] = a;
    p.outputs = act.outputs;
    act.dead = true;
  }
  g.compact();
  return "";
}

}  // namespace kiln
