// Softmax, LayerNormalization, ReduceMean and (unfolded) BatchNormalization.
#include <cmath>
#include <cstring>
#include <memory>

#include "kiln/kernels/f32/normalize.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

size_t prod(const Shape& s, int from, int to) {
  size_t p = 1;
  for (int i = from; i < to; ++i) p *= static_cast<size_t>(s[i]);
  return p;
}

std::string infer_f32_same(InferContext& c, size_t lo, size_t hi) {
  if (std::string e = need_inputs(c, lo, hi); !e.empty()) return e;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (c.present(i) && c.in_types[i] != DType::f32) return "needs f32 tensors";
  }
  c.out_types = {DType::f32};
  c.out_shapes = {c.in_shapes[0]};
  return "";
}

// ---- Softmax ("coerce_2d" = the opset < 13 meaning: softmax over all dims from axis on)
std::string infer_softmax(InferContext& c) {
  if (std::string e = infer_f32_same(c, 1, 1); !e.empty()) return e;
  int axis;
  if (!normalize_axis(c.node.get_int("axis", -1), static_cast<int>(c.in_shapes[0].size()), &axis)) return "axis out of range";
  return "";
}
std::string run_softmax(RunContext& c) {
  const Shape& s = c.in[0]->shape();
  const int r = static_cast<int>(s.size());
  int axis;
  normalize_axis(c.node.get_int("axis", -1), r, &axis);
  const bool coerce = c.node.get_int("coerce_2d", 0) != 0;
  const size_t outer = prod(s, 0, axis);
  const size_t n = coerce ? prod(s, axis, r) : static_cast<size_t>(s[axis]);
  const size_t inner = coerce ? 1 : prod(s, axis + 1, r);
  f32::softmax(c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), outer, n, inner, {f32::default_isa(), c.runner});
  return "";
}

// ---- LayerNormalization
std::string infer_layernorm(InferContext& c) {
  if (std::string e = infer_f32_same(c, 2, 3); !e.empty()) return e;
  if (c.node.outputs.size() > 1) return "the Mean and InvStdDev outputs are not supported";
  const Shape& x = c.in_shapes[0];
  int axis;
  if (!normalize_axis(c.node.get_int("axis", -1), static_cast<int>(x.size()), &axis)) return "axis out of range";
  const size_t n = prod(x, axis, static_cast<int>(x.size()));
  for (size_t i = 1; i < c.inputs(); ++i) {
    if (c.present(i) && shape_elements(c.in_shapes[i]) != n) return "scale/bias must cover the normalised axes exactly";
  }
  return "";
}
std::string run_layernorm(RunContext& c) {
  const Shape& s = c.in[0]->shape();
  const int r = static_cast<int>(s.size());
  int axis;
  normalize_axis(c.node.get_int("axis", -1), r, &axis);
  const float* beta = c.in.size() > 2 && c.in[2] ? c.in[2]->data<float>() : nullptr;
  f32::layer_norm(c.in[0]->data<float>(), c.in[1]->data<float>(), beta, c.out[0]->mutable_data<float>(), prod(s, 0, axis),
                  prod(s, axis, r), c.node.get_float("epsilon", 1e-5f), {f32::default_isa(), c.runner});
  return "";
}

// ---- ReduceMean (axes: attribute before opset 18, input from 18)
std::string reduce_axes(const InferContext& c, std::vector<bool>* reduce) {
  const int r = static_cast<int>(c.in_shapes[0].size());
  std::vector<int64_t> axes;
  if (c.present(1)) {
    if (!c.in_values[1]) return "axes must be constant";
    axes = read_ints(*c.in_values[1]);
  } else {
    axes = c.node.get_ints("axes");
  }
  reduce->assign(r, false);
  if (axes.empty()) {
    if (c.node.get_int("noop_with_empty_axes", 0)) return "";
    reduce->assign(r, true);
    return "";
  }
  for (int64_t a : axes) {
    int ax;
    if (!normalize_axis(a, r, &ax)) return "axis out of range";
    (*reduce)[ax] = true;
  }
  return "";
}
std::string infer_reduce_mean(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 2); !e.empty()) return e;
  if (c.in_types[0] != DType::f32) return "needs f32 input";
  std::vector<bool> red;
  if (std::string e = reduce_axes(c, &red); !e.empty()) return e;
  const bool keep = c.node.get_int("keepdims", 1) != 0;
  Shape out;
  for (size_t i = 0; i < red.size(); ++i) {
    if (!red[i]) out.push_back(c.in_shapes[0][i]);
    else if (keep) out.push_back(1);
  }
  c.out_types = {DType::f32};
  c.out_shapes = {out};
  return "";
}
std::string run_reduce_mean(RunContext& c) {
  InferContext ic{c.node, {}, {}, {}, {}, {}};
  for (const Tensor* t : c.in) {
    ic.in_types.push_back(t ? t->dtype() : DType::f32);
    ic.in_shapes.push_back(t ? t->shape() : Shape{});
    ic.in_values.push_back(t);
  }
  std::vector<bool> red;
  if (std::string e = reduce_axes(ic, &red); !e.empty()) return e;
  // Reduce one axis at a time (last first); a run of adjacent axes is one call.
  Shape s = c.in[0]->shape();
  std::vector<float> cur(c.in[0]->data<float>(), c.in[0]->data<float>() + c.in[0]->elements()), next;
  const f32::Exec ex{f32::default_isa(), c.runner};
  for (int hi = static_cast<int>(s.size()) - 1; hi >= 0;) {
    if (!red[hi]) {
      --hi;
      continue;
    }
    int lo = hi;
    while (lo > 0 && red[lo - 1]) --lo;
    const size_t outer = prod(s, 0, lo), n = prod(s, lo, hi + 1), inner = prod(s, hi + 1, static_cast<int>(s.size()));
    next.assign(outer * inner, 0.0f);
    f32::reduce_mean(cur.data(), next.data(), outer, n, inner, ex);
    cur.swap(next);
    for (int i = lo; i <= hi; ++i) s[i] = 1;
    hi = lo - 1;
  }
  std::memcpy(c.out[0]->mutable_raw(), cur.data(), cur.size() * sizeof(float));
  return "";
}

// ---- BatchNormalization (inference form; normally folded into the conv before it)
std::string infer_batchnorm(InferContext& c) {
  if (std::string e = infer_f32_same(c, 5, 5); !e.empty()) return e;
  if (c.node.outputs.size() > 1) return "training outputs are not supported";
  if (c.node.get_int("training_mode", 0)) return "training_mode=1 is not supported";
  const Shape& x = c.in_shapes[0];
  if (x.size() < 2) return "needs at least 2-D input";
  for (size_t i = 1; i < 5; ++i) {
    if (shape_elements(c.in_shapes[i]) != static_cast<size_t>(x[1])) return "parameters must have C elements";
    if (!c.in_values[i]) return "parameters must be constants";
  }
  return "";
}
struct BnState {
  std::vector<float> a, b;  // y = a * x + b per channel
};
std::string prepare_batchnorm(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  const Tensor *sc = g.constant_of(n.inputs[1]), *bi = g.constant_of(n.inputs[2]), *mu = g.constant_of(n.inputs[3]),
               *var = g.constant_of(n.inputs[4]);
  if (!sc || !bi || !mu || !var) return "parameters must be constants";
  auto s = std::make_shared<BnState>();
  const float eps = n.get_float("epsilon", 1e-5f);
  for (size_t i = 0; i < sc->elements(); ++i) {
    const float a = sc->float_at(i) / std::sqrt(var->float_at(i) + eps);
    s->a.push_back(a);
    s->b.push_back(bi->float_at(i) - a * mu->float_at(i));
  }
  *state = std::move(s);
  return "";
}
std::string run_batchnorm(RunContext& c) {
  const auto* s = static_cast<const BnState*>(c.prepared);
  const Tensor& x = *c.in[0];
  const Shape& sh = x.shape();
  const std::vector<int64_t> st = logical_strides(sh, x.layout());
  const float* px = x.data<float>();
  float* py = c.out[0]->mutable_data<float>();
  const size_t channels = static_cast<size_t>(sh[1]);
  for (size_t i = 0; i < x.elements(); ++i) {
    const size_t ch = (i / static_cast<size_t>(st[1])) % channels;
    py[i] = s->a[ch] * px[i] + s->b[ch];
  }
  return "";
}

}  // namespace

void add_norm_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Softmax", infer_softmax, run_softmax, LayoutRule::plain, nullptr, "axis,coerce_2d"});
  ops.push_back({"LayerNormalization", infer_layernorm, run_layernorm, LayoutRule::plain, nullptr, "axis,epsilon,stash_type"});
  ops.push_back({"ReduceMean", infer_reduce_mean, run_reduce_mean, LayoutRule::plain, nullptr, "axes,keepdims,noop_with_empty_axes"});
  ops.push_back({"BatchNormalization", infer_batchnorm, run_batchnorm, LayoutRule::nhwc, prepare_batchnorm,
                 "epsilon,momentum,training_mode,spatial"});
}

}  // namespace kiln::ops
