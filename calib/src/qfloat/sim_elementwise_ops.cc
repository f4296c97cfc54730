// Element-wise kiln.Sim* ops over float codes: each element goes through its qops.h spec function.
#include <algorithm>

#include "sim_ops.h"

namespace kiln::calib::sim {

std::string check_out(const Node& n) {
  const kernels::QOut o = out_of(n);
  if (o.qmin < 0 || o.qmax > 255 || o.qmin > o.qmax) return "bad qmin/qmax";
  if (o.zero_point < 0 || o.zero_point > 255) return "zero point out of [0, 255]";
  return "";
}

std::string infer_unary_codes(InferContext& c) {
  if (c.inputs() < 1 || !c.present(0)) return "expects an input";
  if (c.in_types[0] != DType::f32) return "expects f32 (codes)";
  c.out_types = {DType::f32};
  c.out_shapes = {c.in_shapes[0]};
  return "";
}

namespace {

using kernels::QOut;

std::string infer_unary_out(InferContext& c) {
  if (std::string e = check_out(c.node); !e.empty()) return e;
  return infer_unary_codes(c);
}

// Runs f(x[i]) -> y[i] over a unary op's elements (input and output share their layout).
template <class F>
std::string map_unary(RunContext& c, F f) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.elements() != y.elements()) return "output size mismatch";
  const float* px = x.data<float>();
  float* py = y.mutable_data<float>();
  for (size_t i = 0, n = x.elements(); i < n; ++i) py[i] = f(px[i]);
  return "";
}

std::string run_quantize(RunContext& c) {
  const float scale = c.node.get_float("scale", 1.0f);
  if (!(scale > 0.0f) || !std::isfinite(scale)) return "scale must be positive";
  const QOut o = out_of(c.node);
  return map_unary(c, [&](float x) { return static_cast<float>(kernels::q_quantize(x, scale, o)); });
}

std::string infer_dequantize(InferContext& c) { return infer_unary_codes(c); }
std::string run_dequantize(RunContext& c) {
  const float scale = c.node.get_float("scale", 1.0f);
  const auto zp = static_cast<int32_t>(c.node.get_int("zero_point", 0));
  return map_unary(c, [&](float x) { return kernels::q_dequantize(to_code(x), zp, scale); });
}

std::string run_requantize(RunContext& c) {
  const auto zi = static_cast<int32_t>(c.node.get_int("in_zero_point", 0));
  const float m = c.node.get_float("multiplier", 1.0f);
  const QOut o = out_of(c.node);
  return map_unary(c, [&](float x) { return static_cast<float>(kernels::q_requantize(to_code(x), zi, m, o)); });
}

std::string run_from_interpolated(RunContext& c) {
  const QOut o = out_of(c.node);
  return map_unary(c, [&](float v) { return static_cast<float>(kernels::q_from_interpolated_code(v, o)); });
}

std::string infer_lut(InferContext& c) {
  if (c.inputs() != 2 || !c.present(1)) return "expects the input and a table";
  if (c.in_types[1] != DType::u8 || shape_elements(c.in_shapes[1]) != 256) return "the table must be u8 [256]";
  if (!c.in_values[1]) return "the table must be a constant";
  return infer_unary_codes(c);
}
std::string run_lut(RunContext& c) {
  const uint8_t* table = c.in[1]->data<uint8_t>();
  return map_unary(c, [&](float x) { return static_cast<float>(table[to_code(x)]); });
}

// ---- binary ops with numpy broadcasting, any physical layouts
bool broadcast(const Shape& a, const Shape& b, Shape* out) {
  const size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
    const int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

// Strides of `t`'s logical dims padded on the left to `rank`, zero where the dim broadcasts.
std::vector<int64_t> strides_for(const Tensor& t, size_t rank) {
  const std::vector<int64_t> s = logical_strides(t.shape(), t.layout());
  std::vector<int64_t> r(rank, 0);
  const size_t off = rank - s.size();
  for (size_t i = 0; i < s.size(); ++i) r[off + i] = t.shape()[i] == 1 ? 0 : s[i];
  return r;
}

std::string infer_binary(InferContext& c) {
  if (c.inputs() != 2 || !c.present(0) || !c.present(1)) return "expects two inputs";
  if (c.in_types[0] != DType::f32 || c.in_types[1] != DType::f32) return "expects f32 (codes)";
  if (std::string e = check_out(c.node); !e.empty()) return e;
  Shape s;
  if (!broadcast(c.in_shapes[0], c.in_shapes[1], &s)) {
    return "shapes " + shape_string(c.in_shapes[0]) + " and " + shape_string(c.in_shapes[1]) + " do not broadcast";
  }
  c.out_types = {DType::f32};
  c.out_shapes = {s};
  return "";
}

template <class F>
std::string map_binary(RunContext& c, F f) {
  const Tensor& a = *c.in[0];
  const Tensor& b = *c.in[1];
  Tensor& y = *c.out[0];
  const size_t r = static_cast<size_t>(y.rank());
  if (y.elements() == 0) return "";
  const std::vector<int64_t> sa = strides_for(a, r), sb = strides_for(b, r);
  const std::vector<int64_t> sy = logical_strides(y.shape(), y.layout());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y.mutable_data<float>();
  if (r == 0) {
    py[0] = f(pa[0], pb[0]);
    return "";
  }
  std::vector<int64_t> idx(r, 0);
  const int64_t inner = y.shape()[r - 1];
  for (;;) {
    int64_t oa = 0, ob = 0, oy = 0;
    for (size_t d = 0; d + 1 < r; ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
      oy += idx[d] * sy[d];
    }
    for (int64_t i = 0; i < inner; ++i) py[oy + i * sy[r - 1]] = f(pa[oa + i * sa[r - 1]], pb[ob + i * sb[r - 1]]);
    size_t d = r - 1;
    for (;;) {
      if (d == 0) return "";
      --d;
      if (++idx[d] < y.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

std::string run_add(RunContext& c) {
  const Node& n = c.node;
  const auto za = static_cast<int32_t>(n.get_int("a_zero_point", 0));
  const auto zb = static_cast<int32_t>(n.get_int("b_zero_point", 0));
  const float ma = n.get_float("a_multiplier", 1.0f), mb = n.get_float("b_multiplier", 1.0f);
  const QOut o = out_of(n);
  return map_binary(c, [&](float a, float b) {
    return static_cast<float>(kernels::q_add(to_code(a), za, ma, to_code(b), zb, mb, o));
  });
}

std::string run_mul(RunContext& c) {
  const Node& n = c.node;
  const auto za = static_cast<int32_t>(n.get_int("a_zero_point", 0));
  const auto zb = static_cast<int32_t>(n.get_int("b_zero_point", 0));
  const float m = n.get_float("multiplier", 1.0f);
  const QOut o = out_of(n);
  return map_binary(c, [&](float a, float b) { return static_cast<float>(kernels::q_mul(to_code(a), za, to_code(b), zb, m, o)); });
}

}  // namespace

void add_elementwise_sim_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.SimQuantize", infer_unary_out, run_quantize, LayoutRule::same, nullptr, "scale,zero_point,qmin,qmax"});
  ops.push_back({"kiln.SimDequantize", infer_dequantize, run_dequantize, LayoutRule::same, nullptr, "scale,zero_point"});
  ops.push_back({"kiln.SimRequantize", infer_unary_out, run_requantize, LayoutRule::same, nullptr,
                 "in_zero_point,multiplier,zero_point,qmin,qmax"});
  ops.push_back({"kiln.SimFromInterpolated", infer_unary_out, run_from_interpolated, LayoutRule::same, nullptr,
                 "zero_point,qmin,qmax"});
  ops.push_back({"kiln.SimLut", infer_lut, run_lut, LayoutRule::same, nullptr, "function"});
  ops.push_back({"kiln.SimAdd", infer_binary, run_add, LayoutRule::broadcast, nullptr,
                 "a_zero_point,a_multiplier,b_zero_point,b_multiplier,zero_point,qmin,qmax"});
  ops.push_back({"kiln.SimMul", infer_binary, run_mul, LayoutRule::broadcast, nullptr,
                 "a_zero_point,b_zero_point,multiplier,zero_point,qmin,qmax"});
}

}  // namespace kiln::calib::sim
