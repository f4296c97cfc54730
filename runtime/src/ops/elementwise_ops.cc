// Element-wise ops: unary activations (any layout), Clip, Cast, Identity/Dropout, and binary
// arithmetic with numpy broadcasting over tensors of any physical layout.
#include <cmath>
#include <cstring>
#include <limits>

#include "kiln/kernels/f32/elementwise.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

std::string infer_same(InferContext& c) {
  if (c.inputs() < 1 || !c.present(0)) return "expects an input";
  c.out_types.assign(c.node.outputs.size(), c.in_types[0]);
  c.out_shapes.assign(c.node.outputs.size(), c.in_shapes[0]);
  return "";
}

std::string infer_unary_f32(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (c.in_types[0] != DType::f32) return std::string("needs f32 input, got ") + dtype_name(c.in_types[0]);
  if (c.node.op == "Gelu") {
    const std::string a = c.node.get_string("approximate", "none");
    if (a != "none" && a != "tanh") return "unsupported approximate='" + a + "'";
  }
  return infer_same(c);
}

f32::Activation unary_activation(const Node& n) {
  using A = f32::Activation;
  using U = f32::UnaryOp;
  const std::string& op = n.op;
  if (op == "Relu") return A::relu();
  if (op == "LeakyRelu") return A::leaky_relu(n.get_float("alpha", 0.01f));
  if (op == "Sigmoid") return A::sigmoid();
  if (op == "HardSigmoid") return A::hardsigmoid(n.get_float("alpha", 0.2f), n.get_float("beta", 0.5f));
  if (op == "HardSwish") return A::hardswish();
  if (op == "Tanh") return A::of(U::tanh);
  if (op == "Erf") return A::of(U::erf);
  if (op == "Gelu") return A::of(n.get_string("approximate", "none") == "tanh" ? U::gelu_tanh : U::gelu_erf);
  if (op == "Sqrt") return A::of(U::sqrt);
  if (op == "Exp") return A::of(U::exp);
  if (op == "Neg") return A::of(U::neg);
  if (op == "Abs") return A::of(U::abs);
  if (op == "Reciprocal") return A::of(U::reciprocal);
  if (op == "Log") return A::of(U::log);
  if (op == "kiln.Silu") return A::silu();
  if (op == "kiln.Square") return A::of(U::square);
  return A::none();
}

std::string run_unary(RunContext& c) {
  f32::unary(unary_activation(c.node), c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), c.in[0]->elements(),
             {f32::default_isa(), c.runner});
  return "";
}

// Clip: min/max from attributes (opset < 11) or from optional inputs 1 and 2.
std::string infer_clip(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 3); !e.empty()) return e;
  if (c.in_types[0] != DType::f32) return "needs f32 input";
  for (size_t i = 1; i < c.inputs(); ++i) {
    if (c.present(i) && !c.in_values[i]) return "min/max must be constants";
    if (c.present(i) && c.in_values[i]->elements() != 1) return "min/max must be scalars";
  }
  return infer_same(c);
}

std::string run_clip(RunContext& c) {
  float lo = c.node.get_float("min", -std::numeric_limits<float>::infinity());
  float hi = c.node.get_float("max", std::numeric_limits<float>::infinity());
  if (c.in.size() > 1 && c.in[1]) lo = c.in[1]->float_at(0);
  if (c.in.size() > 2 && c.in[2]) hi = c.in[2]->float_at(0);
  f32::unary(f32::Activation::clip(lo, hi), c.in[0]->data<float>(), c.out[0]->mutable_data<float>(),
             c.in[0]->elements(), {f32::default_isa(), c.runner});
  return "";
}

std::string infer_identity(InferContext& c) {
  if (c.inputs() < 1 || !c.present(0)) return "expects an input";
  if (c.node.outputs.size() > 1) return "the mask output is not supported";
  return infer_same(c);
}

std::string run_copy(RunContext& c) {
  copy_relayout(*c.in[0], *c.out[0]);
  return "";
}

// Cast: "to" holds a kiln DType number (the importer maps ONNX's types).
std::string infer_cast(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  const int64_t to = c.node.get_int("to", -1);
  if (to != static_cast<int>(DType::f32) && to != static_cast<int>(DType::s32) &&
      to != static_cast<int>(DType::s64) && to != static_cast<int>(DType::u8) && to != static_cast<int>(DType::s8)) {
    return "unsupported target type";
  }
  if (c.in_types[0] == DType::s4) return "cannot cast s4";
  c.out_types = {static_cast<DType>(to)};
  c.out_shapes = {c.in_shapes[0]};
  return "";
}

template <class T>
void store_all(Tensor& out, const Tensor& in) {
  T* y = out.mutable_data<T>();
  const size_t n = in.elements();
  if (in.dtype() == DType::f32) {
    const float* x = in.data<float>();
    for (size_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]);
  } else {
    for (size_t i = 0; i < n; ++i) y[i] = static_cast<T>(in.int_at(i));
  }
}

std::string run_cast(RunContext& c) {
  const Tensor& in = *c.in[0];
  Tensor& out = *c.out[0];
  if (in.layout() != out.layout()) return "layout mismatch";
  switch (out.dtype()) {
    case DType::f32: store_all<float>(out, in); break;
    case DType::s32: store_all<int32_t>(out, in); break;
    case DType::s64: store_all<int64_t>(out, in); break;
    case DType::u8: store_all<uint8_t>(out, in); break;
    case DType::s8: store_all<int8_t>(out, in); break;
    default: return "unsupported target type";
  }
  return "";
}

// ---- binary with broadcasting

std::string infer_binary(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 2); !e.empty()) return e;
  const DType t = c.in_types[0];
  if (t != DType::f32 && t != DType::s64 && t != DType::s32) return std::string("unsupported type ") + dtype_name(t);
  if (c.node.op != "Pow" && c.in_types[1] != t) return "input types differ";
  Shape s;
  if (!broadcast_shapes(c.in_shapes[0], c.in_shapes[1], &s)) {
    return "shapes " + shape_string(c.in_shapes[0]) + " and " + shape_string(c.in_shapes[1]) + " do not broadcast";
  }
  c.out_types = {t};
  c.out_shapes = {s};
  return "";
}

f32::BinaryOp binary_kind(const std::string& op) {
  if (op == "Add") return f32::BinaryOp::add;
  if (op == "Sub") return f32::BinaryOp::sub;
  if (op == "Mul") return f32::BinaryOp::mul;
  if (op == "Div") return f32::BinaryOp::div;
  if (op == "Max") return f32::BinaryOp::max;
  if (op == "Min") return f32::BinaryOp::min;
  return f32::BinaryOp::pow;
}

template <class T>
T int_binary(f32::BinaryOp op, T a, T b) {
  switch (op) {
    case f32::BinaryOp::add: return a + b;
    case f32::BinaryOp::sub: return a - b;
    case f32::BinaryOp::mul: return a * b;
    case f32::BinaryOp::div: {
      if (b == 0) return 0;
      T q = a / b;  // ONNX integer Div truncates like C
      return q;
    }
    case f32::BinaryOp::max: return a > b ? a : b;
    case f32::BinaryOp::min: return a < b ? a : b;
    case f32::BinaryOp::pow: {
      T r = 1;
      for (T i = 0; i < b; ++i) r *= a;
      return r;
    }
  }
  return 0;
}

// The output's physical dims and each input's strides in that order, merged where contiguous.
struct Walk {
  std::vector<int64_t> dims, sa, sb, sy;
};

Walk plan_walk(const Tensor& a, const Tensor& b, const Tensor& y) {
  const int r = y.rank();
  const std::vector<int> order = physical_order(r, y.layout());
  const std::vector<int64_t> la = broadcast_strides(a.shape(), a.layout(), r);
  const std::vector<int64_t> lb = broadcast_strides(b.shape(), b.layout(), r);
  const std::vector<int64_t> ly = logical_strides(y.shape(), y.layout());
  Walk w;
  for (int i = 0; i < r; ++i) {
    const int d = order[i];
    if (y.shape()[d] == 1) continue;
    if (!w.dims.empty() && w.sa.back() == la[d] * y.shape()[d] && w.sb.back() == lb[d] * y.shape()[d] &&
        w.sy.back() == ly[d] * y.shape()[d]) {
      w.dims.back() *= y.shape()[d];
      w.sa.back() = la[d];
      w.sb.back() = lb[d];
      w.sy.back() = ly[d];
      continue;
    }
    w.dims.push_back(y.shape()[d]);
    w.sa.push_back(la[d]);
    w.sb.push_back(lb[d]);
    w.sy.push_back(ly[d]);
  }
  if (w.dims.empty()) w = {{1}, {0}, {0}, {1}};
  return w;
}

// Calls inner(offset_a, offset_b, offset_y) for each innermost run of the walk.
template <class F>
void for_each_run(const Walk& w, F&& inner) {
  const int outer = static_cast<int>(w.dims.size()) - 1;
  std::vector<int64_t> idx(outer, 0);
  for (;;) {
    int64_t oa = 0, ob = 0, oy = 0;
    for (int k = 0; k < outer; ++k) {
      oa += idx[k] * w.sa[k];
      ob += idx[k] * w.sb[k];
      oy += idx[k] * w.sy[k];
    }
    inner(oa, ob, oy);
    int k = outer - 1;
    for (; k >= 0; --k) {
      if (++idx[k] < w.dims[k]) break;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

template <class T>
void run_int_binary(f32::BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y) {
  const Walk w = plan_walk(a, b, y);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.mutable_data<T>();
  const int64_t n = w.dims.back(), ia = w.sa.back(), ib = w.sb.back(), iy = w.sy.back();
  for_each_run(w, [&](int64_t oa, int64_t ob, int64_t oy) {
    for (int64_t i = 0; i < n; ++i) py[oy + i * iy] = int_binary<T>(op, pa[oa + i * ia], pb[ob + i * ib]);
  });
}

std::string run_binary(RunContext& c) {
  const f32::BinaryOp op = binary_kind(c.node.op);
  const Tensor& a = *c.in[0];
  const Tensor& b = *c.in[1];
  Tensor& y = *c.out[0];
  if (y.dtype() == DType::s64) {
    if (b.dtype() != DType::s64) return "integer Pow needs an s64 exponent";
    run_int_binary<int64_t>(op, a, b, y);
    return "";
  }
  if (y.dtype() == DType::s32) {
    if (b.dtype() != DType::s32) return "integer Pow needs an s32 exponent";
    run_int_binary<int32_t>(op, a, b, y);
    return "";
  }
  Tensor b_float;
  const Tensor* pbt = &b;
  if (b.dtype() != DType::f32) {  // Pow with an integer exponent
    b_float = Tensor(DType::f32, b.shape(), b.layout());
    for (size_t i = 0; i < b.elements(); ++i) b_float.mutable_data<float>()[i] = b.float_at(i);
    pbt = &b_float;
  }
  const Walk w = plan_walk(a, *pbt, y);
  const float* pa = a.data<float>();
  const float* pb = pbt->data<float>();
  float* py = y.mutable_data<float>();
  const int64_t n = w.dims.back(), ia = w.sa.back(), ib = w.sb.back(), iy = w.sy.back();
  // Thread inside a run only when the run is long; short runs go inline.
  const f32::Exec exec{f32::default_isa(), n >= 16384 ? c.runner : nullptr};
  if (iy == 1 && w.dims.size() == 2 && ia == 1 && ib == 1 && w.sb[0] == 0 && w.sa[0] == n && w.sy[0] == n) {
    f32::binary_row_rhs(op, pa, pb, py, static_cast<size_t>(w.dims[0]), static_cast<size_t>(n), {f32::default_isa(), c.runner});
    return "";
  }
  if (iy == 1 && w.dims.size() == 2 && ia == 1 && ib == 1 && w.sa[0] == 0 && w.sb[0] == n && w.sy[0] == n) {
    f32::binary_row_lhs(op, pa, pb, py, static_cast<size_t>(w.dims[0]), static_cast<size_t>(n), {f32::default_isa(), c.runner});
    return "";
  }
  for_each_run(w, [&](int64_t oa, int64_t ob, int64_t oy) {
    if (iy == 1 && ia == 1 && ib == 1) {
      f32::binary(op, pa + oa, pb + ob, py + oy, static_cast<size_t>(n), exec);
    } else if (iy == 1 && ia == 1 && ib == 0) {
      f32::binary_scalar_rhs(op, pa + oa, pb[ob], py + oy, static_cast<size_t>(n), exec);
    } else if (iy == 1 && ia == 0 && ib == 1) {
      f32::binary_scalar_lhs(op, pa[oa], pb + ob, py + oy, static_cast<size_t>(n), exec);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const float x = pa[oa + i * ia], z = pb[ob + i * ib];
        float r;
        switch (op) {
          case f32::BinaryOp::add: r = x + z; break;
          case f32::BinaryOp::sub: r = x - z; break;
          case f32::BinaryOp::mul: r = x * z; break;
          case f32::BinaryOp::div: r = x / z; break;
          case f32::BinaryOp::max: r = x > z ? x : z; break;
          case f32::BinaryOp::min: r = x < z ? x : z; break;
          default: r = std::pow(x, z); break;
        }
        py[oy + i * iy] = r;
      }
    }
  });
  return "";
}

}  // namespace

void add_elementwise_ops(std::vector<OpDef>& ops) {
  for (const char* name : {"Relu", "Sigmoid", "HardSwish", "Tanh", "Erf", "Sqrt", "Exp", "Neg", "Abs", "Reciprocal",
                           "Log", "kiln.Silu", "kiln.Square"}) {
    ops.push_back({name, infer_unary_f32, run_unary, LayoutRule::same, nullptr, ""});
  }
  ops.push_back({"LeakyRelu", infer_unary_f32, run_unary, LayoutRule::same, nullptr, "alpha"});
  ops.push_back({"HardSigmoid", infer_unary_f32, run_unary, LayoutRule::same, nullptr, "alpha,beta"});
  ops.push_back({"Gelu", infer_unary_f32, run_unary, LayoutRule::same, nullptr, "approximate"});
  ops.push_back({"Clip", infer_clip, run_clip, LayoutRule::same, nullptr, "min,max"});
  ops.push_back({"Identity", infer_identity, run_copy, LayoutRule::same, nullptr, ""});
  ops.push_back({"Dropout", infer_identity, run_copy, LayoutRule::same, nullptr, "ratio,seed,is_test,training_mode"});
  ops.push_back({"Cast", infer_cast, run_cast, LayoutRule::same, nullptr, "to,saturate"});
  for (const char* name : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}) {
    ops.push_back({name, infer_binary, run_binary, LayoutRule::broadcast, nullptr, ""});
  }
}

}  // namespace kiln::ops
