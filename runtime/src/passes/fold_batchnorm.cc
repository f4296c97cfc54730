// BatchNormalization folded into the Conv or Gemm that produces its input:
//   y = a * (W x + B) + b  with a = scale / sqrt(var + eps), b = bias - a * mean
// becomes W' = a W (per output channel), B' = a B + b. New constants are added; the originals are
// left for dead-code elimination (another node may share them).
#include <cmath>

#include "kiln/runtime/passes.h"

namespace kiln {

std::string fold_batchnorm(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  const std::vector<int> uses = g.use_counts();
  for (Node& bn : g.nodes) {
    if (bn.dead || bn.op != "BatchNormalization" || bn.inputs.size() != 5 || bn.outputs.size() != 1) continue;
    if (bn.get_int("training_mode", 0)) continue;
    const int x = bn.inputs[0];
    if (g.values[x].producer < 0 || uses[x] != 1) continue;
    Node& p = g.nodes[g.values[x].producer];
    const Tensor *sc = g.constant_of(bn.inputs[1]), *bi = g.constant_of(bn.inputs[2]), *mu = g.constant_of(bn.inputs[3]),
                 *var = g.constant_of(bn.inputs[4]);
    if (!sc || !bi || !mu || !var || p.dead || p.has("activation")) continue;
    const size_t ch = sc->elements();
    if (bi->elements() != ch || mu->elements() != ch || var->elements() != ch) continue;
    const float eps = bn.get_float("epsilon", 1e-5f);
    std::vector<float> a(ch), b(ch);
    for (size_t c = 0; c < ch; ++c) {
      a[c] = sc->float_at(c) / std::sqrt(var->float_at(c) + eps);
      b[c] = bi->float_at(c) - a[c] * mu->float_at(c);
    }
    const Tensor* w = p.inputs.size() > 1 ? g.constant_of(p.inputs[1]) : nullptr;
    const bool has_bias = p.inputs.size() > 2 && p.inputs[2] >= 0;
    const Tensor* bias = has_bias ? g.constant_of(p.inputs[2]) : nullptr;
    if (!w || w->dtype() != DType::f32 || (has_bias && !bias)) continue;
    if (p.op == "Conv" && p.inputs.size() <= 3 && w->rank() == 4 && static_cast<size_t>(w->shape()[0]) == ch) {
      Tensor nw = w->clone();
      const size_t per = w->elements() / ch;
      for (size_t c = 0; c < ch; ++c) {
        for (size_t j = 0; j < per; ++j) nw.mutable_data<float>()[c * per + j] *= a[c];
      }
      Tensor nb(DType::f32, {static_cast<int64_t>(ch)});
      for (size_t c = 0; c < ch; ++c) nb.mutable_data<float>()[c] = (bias ? bias->float_at(c) : 0.0f) * a[c] + b[c];
      const int wid = g.add_constant(g.unique_name(p.name + "_w_bn"), std::move(nw));
      const int bid = g.add_constant(g.unique_name(p.name + "_b_bn"), std::move(nb));
      Node& pp = g.nodes[g.values[x].producer];  // add_constant may not move nodes, but stay explicit
      pp.inputs.resize(3);
      pp.inputs[1] = wid;
      pp.inputs[2] = bid;
      pp.outputs = bn.outputs;
      bn.dead = true;
      continue;
    }
    if (p.op == "Gemm" && w->rank() == 2) {
      const bool tb = p.get_int("transB", 0);
      const size_t n = static_cast<size_t>(tb ? w->shape()[0] : w->shape()[1]);
      const size_t k = static_cast<size_t>(tb ? w->shape()[1] : w->shape()[0]);
      if (n != ch) continue;
      if (bias && !(bias->elements() == ch || bias->elements() == 1)) continue;
      const float alpha = p.get_float("alpha", 1.0f), beta = p.get_float("beta", 1.0f);
      Tensor nw = w->clone();
      float* pw = nw.mutable_data<float>();
      for (size_t i = 0; i < k; ++i) {
        for (size_t c = 0; c < n; ++c) (tb ? pw[c * k + i] : pw[i * n + c]) *= alpha * a[c];
      }
      Tensor nb(DType::f32, {static_cast<int64_t>(ch)});
      for (size_t c = 0; c < ch; ++c) {
        const float cb = bias ? bias->float_at(bias->elements() == 1 ? 0 : c) : 0.0f;
        nb.mutable_data<float>()[c] = beta * cb * a[c] + b[c];
      }
      const int wid = g.add_constant(g.unique_name(p.name + "_w_bn"), std::move(nw));
      const int bid = g.add_constant(g.unique_name(p.name + "_b_bn"), std::move(nb));
      Node& pp = g.nodes[g.values[x].producer];
      pp.inputs.resize(3);
      pp.inputs[1] = wid;
      pp.inputs[2] = bid;
      pp.attrs.erase("alpha");
      pp.attrs.erase("beta");
      pp.outputs = bn.outputs;
      bn.dead = true;
    }
  }
  g.compact();
  return "";
}

}  // namespace kiln
