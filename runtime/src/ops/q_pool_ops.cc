// Q-graph ops on NHWC codes: kiln.QMaxPool, kiln.QAvgPool, kiln.QGlobalAvgPool (kernels/q/pool.h),
// kiln.QResize (nearest copies codes; linear runs the fp32 resize on float codes, then
// q_from_interpolated_code) and kiln.QConcat (copy, or requantize inputs whose parameters differ).
#include <algorithm>
#include <cmath>

#include "kiln/kernels/f32/resize.h"
#include "kiln/kernels/q/elementwise.h"
#include "kiln/kernels/q/pool.h"
#include "ops/q_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;
namespace q = kernels::q;

// ONNX MaxPool / AveragePool attributes -> fp32 pooling geometry (the same rules as pool_ops.cc).
std::string q_pool_params(const Node& n, const Shape& x, bool average, f32::Pool2dParams* p) {
  if (x.size() != 4) return "only 2-D pooling (4-D tensors) is supported";
  const std::vector<int64_t> ks = n.get_ints("kernel_shape");
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> dl = n.get_ints("dilations", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || dl.size() != 2 || pads.size() != 4) return "only 2-D pooling is supported";
  if (n.get_int("storage_order", 0) != 0) return "storage_order=1 is not supported";
  for (int64_t v : ks) if (v < 1) return "bad kernel_shape";
  // Bounded so that the window arithmetic cannot overflow.
  for (const std::vector<int64_t>* v : {&ks, &st, &dl, &pads}) {
    for (int64_t value : *v) {
      if (value > kMaxWindowAttribute) return "kernel_shape, strides, dilations or pads out of range";
    }
  }
  for (int64_t v : st) if (v < 1) return "bad strides";
  for (int64_t v : dl) if (v < 1) return "bad dilations";
  for (int64_t v : pads) if (v < 0) return "negative pads";
  if (average && (dl[0] != 1 || dl[1] != 1)) return "average pooling with dilations is not supported";
  for (int64_t d : x) if (d < 1) return "empty input";
  p->batch = static_cast<size_t>(x[0]);
  p->channels = static_cast<size_t>(x[1]);
  p->in_h = static_cast<size_t>(x[2]);
  p->in_w = static_cast<size_t>(x[3]);
  p->kernel_h = ks[0]; p->kernel_w = ks[1];
  p->stride_h = st[0]; p->stride_w = st[1];
  p->dilation_h = dl[0]; p->dilation_w = dl[1];
  p->pad_top = pads[0]; p->pad_left = pads[1]; p->pad_bottom = pads[2]; p->pad_right = pads[3];
  p->ceil_mode = n.get_int("ceil_mode", 0) != 0;
  p->count_include_pad = n.get_int("count_include_pad", 0) != 0;
  const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    p->pad_top = p->pad_left = p->pad_bottom = p->pad_right = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, size_t* lo, size_t* hi) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
      const int64_t l = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *lo = static_cast<size_t>(l);
      *hi = static_cast<size_t>(total - l);
    };
    same(x[2], ks[0], st[0], dl[0], &p->pad_top, &p->pad_bottom);
    same(x[3], ks[1], st[1], dl[1], &p->pad_left, &p->pad_right);
  } else if (auto_pad != "NOTSET") {
    return "unsupported auto_pad '" + auto_pad + "'";
  }
  return p->validate();
}

std::string infer_qpool(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  f32::Pool2dParams p;
  if (std::string e = q_pool_params(c.node, c.in_shapes[0], c.node.op == "kiln.QAvgPool", &p); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  c.out_types = {DType::u8};
  c.out_shapes = {{x[0], x[1], static_cast<int64_t>(p.out_h()), static_cast<int64_t>(p.out_w())}};
  return "";
}
std::string prepare_qmaxpool(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {}, false, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string prepare_qavg(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {0}, true, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string need_nhwc(const RunContext& c) {
  if (c.in[0]->layout() != Layout::nhwc || c.out[0]->layout() != Layout::nhwc) return "needs NHWC tensors";
  return "";
}
std::string run_qmaxpool(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  if (std::string e = need_nhwc(c); !e.empty()) return e;
  f32::Pool2dParams p;
  if (std::string e = q_pool_params(c.node, c.in[0]->shape(), false, &p); !e.empty()) return e;
  return q::max_pool(s->isa, p, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<uint8_t>(), c.runner);
}
std::string run_qavgpool(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  if (std::string e = need_nhwc(c); !e.empty()) return e;
  f32::Pool2dParams p;
  if (std::string e = q_pool_params(c.node, c.in[0]->shape(), true, &p); !e.empty()) return e;
  return q::avg_pool(s->isa, p, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<uint8_t>(), s->in[0].zero_point,
                     c.node.get_float("multiplier", 1.0f), s->qout, c.runner);
}

std::string infer_qgap(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  if (x.size() != 4) return "only 4-D tensors are supported";
  if (x[2] * x[3] < 1 || x[2] * x[3] > (int64_t{1} << 23)) return "bad spatial size";
  c.out_types = {DType::u8};
  c.out_shapes = {{x[0], x[1], 1, 1}};
  return "";
}
std::string run_qgap(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  if (std::string e = need_nhwc(c); !e.empty()) return e;
  const Shape& x = c.in[0]->shape();
  return q::global_avg_pool(s->isa, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<uint8_t>(),
                            static_cast<size_t>(x[0]), static_cast<size_t>(x[2] * x[3]), static_cast<size_t>(x[1]),
                            s->in[0].zero_point, c.node.get_float("multiplier", 1.0f), s->qout, c.runner);
}

// ---- kiln.QResize (inputs as ONNX Resize: X, roi, scales, sizes; opset 10: X, scales)
std::string q_resize_params(const Node& n, const Shape& x, const Tensor* scales, const Tensor* sizes,
                            f32::Resize2dParams* p) {
  if (x.size() != 4) return "only 4-D inputs are supported";
  const std::string mode = n.get_string("mode", "nearest");
  if (mode == "nearest") p->mode = f32::ResizeMode::nearest;
  else if (mode == "linear" || mode == "bilinear") p->mode = f32::ResizeMode::linear;
  else return "unsupported mode '" + mode + "'";
  const std::string ct = n.get_string("coordinate_transformation_mode", "half_pixel");
  if (ct == "half_pixel") p->coord = f32::ResizeCoord::half_pixel;
  else if (ct == "asymmetric") p->coord = f32::ResizeCoord::asymmetric;
  else if (ct == "align_corners") p->coord = f32::ResizeCoord::align_corners;
  else if (ct == "pytorch_half_pixel") p->coord = f32::ResizeCoord::pytorch_half_pixel;
  else if (ct == "tf_half_pixel_for_nn") p->coord = f32::ResizeCoord::tf_half_pixel_for_nn;
  else return "unsupported coordinate_transformation_mode '" + ct + "'";
  const std::string nm = n.get_string("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") p->nearest = f32::ResizeNearest::round_prefer_floor;
  else if (nm == "round_prefer_ceil") p->nearest = f32::ResizeNearest::round_prefer_ceil;
  else if (nm == "floor") p->nearest = f32::ResizeNearest::floor;
  else if (nm == "ceil") p->nearest = f32::ResizeNearest::ceil;
  else return "unsupported nearest_mode '" + nm + "'";
  if (n.get_int("antialias", 0)) return "antialias is not supported";
  if (n.has("axes")) return "the axes attribute is not supported";
  if (n.get_string("keep_aspect_ratio_policy", "stretch") != "stretch") return "keep_aspect_ratio_policy is not supported";
  for (int64_t d : x) if (d < 1) return "empty input";
  p->batch = static_cast<size_t>(x[0]);
  p->channels = static_cast<size_t>(x[1]);
  p->in_h = static_cast<size_t>(x[2]);
  p->in_w = static_cast<size_t>(x[3]);
  if (sizes && sizes->elements()) {
    if (sizes->elements() != 4) return "sizes must have 4 entries";
    if (sizes->int_at(0) != x[0] || sizes->int_at(1) != x[1]) return "resizing N or C is not supported";
    if (sizes->int_at(2) < 1 || sizes->int_at(3) < 1) return "sizes must be positive";
    p->out_h = static_cast<size_t>(sizes->int_at(2));
    p->out_w = static_cast<size_t>(sizes->int_at(3));
    p->scale_h = p->scale_w = 0.0f;
  } else if (scales && scales->elements()) {
    if (scales->elements() != 4) return "scales must have 4 entries";
    if (scales->float_at(0) != 1.0f || scales->float_at(1) != 1.0f) return "resizing N or C is not supported";
    p->scale_h = scales->float_at(2);
    p->scale_w = scales->float_at(3);
    if (!(p->scale_h > 0.0f) || !(p->scale_w > 0.0f) || p->scale_h > 1024.0f || p->scale_w > 1024.0f) {
      return "scales must be positive (and at most 1024)";
    }
    p->out_h = static_cast<size_t>(std::floor(static_cast<double>(x[2]) * p->scale_h));
    p->out_w = static_cast<size_t>(std::floor(static_cast<double>(x[3]) * p->scale_w));
  } else {
    return "needs scales or sizes";
  }
  return p->validate();
}
void q_scales_sizes(const Node& n, const std::vector<const Tensor*>& v, const Tensor** scales, const Tensor** sizes) {
  *scales = *sizes = nullptr;
  if (n.get_int("scales_at_1", 0)) {
    if (v.size() > 1) *scales = v[1];
    return;
  }
  if (v.size() > 2) *scales = v[2];
  if (v.size() > 3) *sizes = v[3];
}
std::string infer_qresize(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 4); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  for (size_t i = 1; i < c.inputs(); ++i) {
    if (c.present(i) && !c.in_values[i]) return "scales/sizes must be known before running";
  }
  const Tensor *scales, *sizes;
  q_scales_sizes(c.node, c.in_values, &scales, &sizes);
  f32::Resize2dParams p;
  if (std::string e = q_resize_params(c.node, c.in_shapes[0], scales, sizes, &p); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  c.out_types = {DType::u8};
  c.out_shapes = {{x[0], x[1], static_cast<int64_t>(p.out_h), static_cast<int64_t>(p.out_w)}};
  return "";
}
std::string prepare_qresize(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {0}, true, &s); !e.empty()) return e;
  if (s->in[0].zero_point != s->out.zero_point || s->in[0].scale != s->out.scale) {
    return "input and output must have the same quantization parameters";
  }
  *state = std::move(s);
  return "";
}
std::string run_qresize(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  if (std::string e = need_nhwc(c); !e.empty()) return e;
  const Tensor *scales, *sizes;
  q_scales_sizes(c.node, c.in, &scales, &sizes);
  f32::Resize2dParams p;
  if (std::string e = q_resize_params(c.node, c.in[0]->shape(), scales, sizes, &p); !e.empty()) return e;
  // Codes as floats (exact), the fp32 resize, then back: nearest copies values, so the codes come
  // back unchanged; linear rounds with q_from_interpolated_code.
  const size_t n_in = c.in[0]->elements(), n_out = c.out[0]->elements();
  std::vector<float> xf(n_in), yf(n_out);
  const uint8_t* x = c.in[0]->data<uint8_t>();
  for (size_t i = 0; i < n_in; ++i) xf[i] = static_cast<float>(x[i]);
  if (std::string e = f32::resize2d(p, xf.data(), yf.data(), {f32::default_isa(), c.runner}); !e.empty()) return e;
  uint8_t* y = c.out[0]->mutable_data<uint8_t>();
  if (p.mode == f32::ResizeMode::nearest) {
    for (size_t i = 0; i < n_out; ++i) y[i] = static_cast<uint8_t>(yf[i]);
  } else {
    for (size_t i = 0; i < n_out; ++i) y[i] = kernels::q_from_interpolated_code(yf[i], s->qout);
  }
  return "";
}

// ---- kiln.QConcat
struct QConcatState : QState {
  std::vector<float> multipliers;  // per input; 0: copy
};
std::string infer_qconcat(InferContext& c) {
  if (c.inputs() < 1) return "expects inputs";
  const Shape& first = c.in_shapes[0];
  int axis;
  if (!normalize_axis(c.node.get_int("axis", 0), static_cast<int>(first.size()), &axis)) return "axis out of range";
  const std::vector<float> m = c.node.get_floats("multipliers");
  if (!m.empty() && m.size() != c.inputs()) return "multipliers must have one entry per input";
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (!c.present(i)) return "missing input";
    if (std::string e = need_type(c, i, DType::u8, "input"); !e.empty()) return e;
    const Shape& s = c.in_shapes[i];
    if (s.size() != first.size()) return "inputs differ in rank";
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int>(d) != axis && s[d] != first[d]) {
        return "shapes " + shape_string(first) + " and " + shape_string(s) + " differ off the concat axis";
      }
    }
    out[axis] += s[axis];
  }
  c.out_types = {DType::u8};
  c.out_shapes = {out};
  return "";
}
std::string prepare_qconcat(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  auto s = std::make_shared<QConcatState>();
  std::vector<int> all(n.inputs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  std::shared_ptr<QState> base;
  if (std::string e = q_state(n, g, all, true, &base); !e.empty()) return e;
  static_cast<QState&>(*s) = *base;
  s->multipliers = n.get_floats("multipliers");
  s->multipliers.resize(n.inputs.size(), 0.0f);
  *state = std::move(s);
  return "";
}
// Copies `src` into the block of `dst` starting at `offset` (logical coordinates; any layouts).
void copy_block(const Tensor& src, Tensor& dst, const std::vector<int64_t>& offset) {
  const int r = src.rank();
  const std::vector<int> order = physical_order(r, dst.layout());
  const std::vector<int64_t> ss = logical_strides(src.shape(), src.layout());
  const std::vector<int64_t> ds = logical_strides(dst.shape(), dst.layout());
  int64_t base = 0;
  for (int i = 0; i < r; ++i) base += offset[i] * ds[i];
  std::vector<int64_t> dims(r), sv(r), dv(r);
  for (int i = 0; i < r; ++i) {
    dims[i] = src.shape()[order[i]];
    sv[i] = ss[order[i]];
    dv[i] = ds[order[i]];
  }
  strided_copy(1, dims, src.raw(), sv, static_cast<uint8_t*>(dst.mutable_raw()) + base, dv);
}
std::string run_qconcat(RunContext& c) {
  const auto* s = static_cast<const QConcatState*>(c.prepared);
  if (!s) return "not prepared";
  int axis;
  if (!normalize_axis(c.node.get_int("axis", 0), c.out[0]->rank(), &axis)) return "axis out of range";
  std::vector<int64_t> offset(c.out[0]->rank(), 0);
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& t = *c.in[i];
    if (s->multipliers[i] == 0.0f) {
      copy_block(t, *c.out[0], offset);
    } else {
      Tensor tmp(DType::u8, t.shape(), t.layout());
      q::requantize(s->isa, t.data<uint8_t>(), tmp.mutable_data<uint8_t>(), t.elements(), s->in[i].zero_point,
                    s->multipliers[i], s->qout);
      copy_block(tmp, *c.out[0], offset);
    }
    offset[axis] += t.shape()[axis];
  }
  return "";
}

}  // namespace

void add_q_pool_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.QMaxPool", infer_qpool, run_qmaxpool, LayoutRule::nhwc, prepare_qmaxpool,
                 "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides"});
  ops.push_back({"kiln.QAvgPool", infer_qpool, run_qavgpool, LayoutRule::nhwc, prepare_qavg,
                 "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides,dilations,multiplier,qmin,qmax"});
  ops.push_back({"kiln.QGlobalAvgPool", infer_qgap, run_qgap, LayoutRule::nhwc, prepare_qavg, "multiplier,qmin,qmax"});
  ops.push_back({"kiln.QResize", infer_qresize, run_qresize, LayoutRule::nhwc, prepare_qresize,
                 "mode,coordinate_transformation_mode,nearest_mode,cubic_coeff_a,exclude_outside,extrapolation_value,"
                 "antialias,axes,keep_aspect_ratio_policy,scales_at_1,qmin,qmax"});
  ops.push_back({"kiln.QConcat", infer_qconcat, run_qconcat, LayoutRule::concat, prepare_qconcat, "axis,multipliers"});
}

}  // namespace kiln::ops
