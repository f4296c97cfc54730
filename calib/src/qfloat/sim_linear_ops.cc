// kiln.SimConv and kiln.SimGemm: the code-domain accumulation (CodeConv / CodeGemm on the f32
// kernels), then the int32 bias and requant.h's epilogue per element, with the parameters the
// integer kiln.QConv / kiln.QGemm use (input zero point, multipliers, clamp, hardswish, residual).
#include <memory>

#include "kiln/calib/qfloat.h"
#include "sim_ops.h"

namespace kiln::calib::sim {
namespace {

namespace f32 = kernels::f32;

// Weights (s8, or s4 packed) as float codes in their stored order.
std::vector<float> weight_codes(const Tensor& w) {
  std::vector<float> v(w.elements());
  if (w.dtype() == DType::s8) {
    const int8_t* p = w.data<int8_t>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(p[i]);
  } else {
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(w.int_at(i));
  }
  return v;
}

// What the epilogue needs, shared by SimConv and SimGemm.
struct Epilogue {
  std::vector<int32_t> bias;        // per output channel (zeros without a bias)
  std::vector<float> multiplier;    // per output channel
  kernels::RequantParams params;    // multiplier/residual pointers unused except as flags
};

std::string check_epilogue_inputs(const InferContext& c, int64_t channels) {
  if (c.present(2)) {
    if (c.in_types[2] != DType::s32 || shape_elements(c.in_shapes[2]) != static_cast<size_t>(channels)) {
      return "bias must be s32 [" + std::to_string(channels) + "]";
    }
    if (!c.in_values[2]) return "bias must be a constant";
  }
  if (!c.present(3)) return "missing multipliers";
  const size_t m = shape_elements(c.in_shapes[3]);
  if (c.in_types[3] != DType::f32 || (m != 1 && m != static_cast<size_t>(channels))) {
    return "multiplier must be f32 [" + std::to_string(channels) + "]";
  }
  if (!c.in_values[3]) return "multipliers must be constants";
  const std::string act = c.node.get_string("activation", "none");
  if (act != "none" && act != "hardswish") return "unsupported activation '" + act + "'";
  return check_out(c.node);
}

std::string make_epilogue(const Node& n, const Graph& g, size_t channels, Epilogue* e) {
  const Tensor* b = n.inputs.size() > 2 && n.inputs[2] >= 0 ? g.constant_of(n.inputs[2]) : nullptr;
  const Tensor* m = n.inputs.size() > 3 ? g.constant_of(n.inputs[3]) : nullptr;
  if (!m) return "multipliers must be constants";
  e->bias.assign(channels, 0);
  if (b) {
    if (b->dtype() != DType::s32 || b->elements() != channels) return "bias must be s32 [out channels]";
    for (size_t i = 0; i < channels; ++i) e->bias[i] = b->data<int32_t>()[i];
  }
  if (m->dtype() != DType::f32 || (m->elements() != 1 && m->elements() != channels)) return "bad multipliers";
  e->multiplier.resize(channels);
  for (size_t i = 0; i < channels; ++i) e->multiplier[i] = m->data<float>()[m->elements() == 1 ? 0 : i];
  kernels::RequantParams& p = e->params;
  const kernels::QOut o = out_of(n);
  p.zero_point = o.zero_point;
  p.qmin = o.qmin;
  p.qmax = o.qmax;
  p.activation = n.get_string("activation", "none") == "hardswish" ? kernels::Activation::hardswish
                                                                   : kernels::Activation::none;
  p.out_scale = n.get_float("out_scale", 1.0f);
  p.hardswish_multiplier = n.get_float("hardswish_multiplier", 1.0f);
  p.residual_zero_point = static_cast<int32_t>(n.get_int("residual_zero_point", 0));
  p.residual_multiplier = n.get_float("residual_multiplier", 0.0f);
  return "";
}

// acc (NHWC or [M, N], channels innermost) -> codes, in place.
void apply_epilogue(const Epilogue& e, size_t channels, float* acc, size_t count, const float* residual) {
  kernels::RequantParams p = e.params;
  static const uint8_t kFlag = 0;  // requantize only tests p.residual for null
  p.residual = residual ? &kFlag : nullptr;
  for (size_t i = 0; i < count; ++i) {
    const size_t c = i % channels;
    const uint8_t r = residual ? to_code(residual[i]) : 0;
    acc[i] = static_cast<float>(code_epilogue(acc[i], e.bias[c], e.multiplier[c], r, p));
  }
}

// ---- kiln.SimConv: x codes [N, C, H, W], w s8 [O, kh, kw, C/g], bias s32 [O], multiplier f32 [O],
// residual codes (optional) shaped like the output.
struct ConvGeometry {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, group = 1, pt = 0, pl = 0, pb = 0, pr = 0;
};

std::string conv_geometry(const Node& n, const Shape& w, ConvGeometry* g) {
  const std::vector<int64_t> ks = n.get_ints("kernel_shape", {w[1], w[2]});
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> dl = n.get_ints("dilations", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || dl.size() != 2 || pads.size() != 4) return "only 2-D convolution is supported";
  if (ks[0] != w[1] || ks[1] != w[2]) return "kernel_shape does not match the weights";
  g->kh = ks[0];
  g->kw = ks[1];
  g->sh = st[0];
  g->sw = st[1];
  g->dh = dl[0];
  g->dw = dl[1];
  g->group = n.get_int("group", 1);
  g->pt = pads[0];
  g->pl = pads[1];
  g->pb = pads[2];
  g->pr = pads[3];
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->group < 1) return "bad strides, dilations or group";
  if (g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0) return "negative pads";
  return "";
}

std::string infer_conv(InferContext& c) {
  if (c.inputs() < 4 || c.inputs() > 5 || !c.present(0) || !c.present(1)) {
    return "expects x, w, bias, multiplier and an optional residual";
  }
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  if (c.in_types[0] != DType::f32) return "expects f32 codes";
  if (x.size() != 4 || w.size() != 4) return "only 2-D convolution (4-D tensors) is supported";
  if ((c.in_types[1] != DType::s8 && c.in_types[1] != DType::s4) || !c.in_values[1]) return "weights must be s8 constants";
  ConvGeometry g;
  if (std::string e = conv_geometry(c.node, w, &g); !e.empty()) return e;
  if (x[1] != w[3] * g.group) return "input has " + std::to_string(x[1]) + " channels, weights expect " + std::to_string(w[3] * g.group);
  if (w[0] % g.group) return "output channels not divisible by group";
  if (std::string e = check_epilogue_inputs(c, w[0]); !e.empty()) return e;
  const int64_t oh = (x[2] + g.pt + g.pb - ((g.kh - 1) * g.dh + 1)) / g.sh + 1;
  const int64_t ow = (x[3] + g.pl + g.pr - ((g.kw - 1) * g.dw + 1)) / g.sw + 1;
  if (x[2] + g.pt + g.pb < (g.kh - 1) * g.dh + 1 || x[3] + g.pl + g.pr < (g.kw - 1) * g.dw + 1 || oh < 1 || ow < 1) {
    return "the kernel does not fit the padded input";
  }
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], w[0], oh, ow}};
  if (c.present(4) && (c.in_types[4] != DType::f32 || c.in_shapes[4] != c.out_shapes[0])) return "residual shape mismatch";
  return "";
}

struct ConvState {
  CodeConv conv;
  Epilogue epilogue;
  float x_zero_point = 0.0f;
};

std::string prepare_conv(const Node& n, const Graph& graph, std::shared_ptr<const void>* state) {
  const Tensor* w = graph.constant_of(n.inputs[1]);
  if (!w || w->rank() != 4) return "weights must be 4-D constants";
  const Value& xv = graph.values[n.inputs[0]];
  ConvGeometry g;
  if (std::string e = conv_geometry(n, w->shape(), &g); !e.empty()) return e;
  f32::Conv2dParams p;
  p.in_h = xv.shape_known && xv.shape.size() == 4 && xv.shape[2] > 0 ? static_cast<size_t>(xv.shape[2]) : 1;
  p.in_w = xv.shape_known && xv.shape.size() == 4 && xv.shape[3] > 0 ? static_cast<size_t>(xv.shape[3]) : 1;
  p.in_c = static_cast<size_t>(w->shape()[3] * g.group);
  p.out_c = static_cast<size_t>(w->shape()[0]);
  p.groups = static_cast<size_t>(g.group);
  p.kernel_h = g.kh; p.kernel_w = g.kw;
  p.stride_h = g.sh; p.stride_w = g.sw;
  p.dilation_h = g.dh; p.dilation_w = g.dw;
  p.pad_top = g.pt; p.pad_left = g.pl; p.pad_bottom = g.pb; p.pad_right = g.pr;
  auto s = std::make_shared<ConvState>();
  const std::vector<float> codes = weight_codes(*w);
  if (std::string e = s->conv.prepare(p, codes.data()); !e.empty()) return e;
  if (std::string e = make_epilogue(n, graph, p.out_c, &s->epilogue); !e.empty()) return e;
  s->x_zero_point = static_cast<float>(n.get_int("in_zero_point", 0));
  *state = std::move(s);
  return "";
}

std::string run_conv(RunContext& c) {
  const auto* s = static_cast<const ConvState*>(c.prepared);
  if (!s) return "conv was not prepared";
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  const Tensor* r = c.in.size() > 4 ? c.in[4] : nullptr;
  if (x.layout() != Layout::nhwc || y.layout() != Layout::nhwc || (r && r->layout() != Layout::nhwc)) {
    return "conv needs NHWC tensors";
  }
  const Shape& xs = x.shape();
  if (std::string e = s->conv.accumulate(static_cast<size_t>(xs[0]), static_cast<size_t>(xs[2]), static_cast<size_t>(xs[3]),
                                         x.data<float>(), s->x_zero_point, y.mutable_data<float>(), c.runner);
      !e.empty()) {
    return e;
  }
  apply_epilogue(s->epilogue, s->conv.params().out_c, y.mutable_data<float>(), y.elements(), r ? r->data<float>() : nullptr);
  return "";
}

// ---- kiln.SimGemm: x codes [M, K], w s8 [N, K], bias s32 [N], multiplier f32 [N].
std::string infer_gemm(InferContext& c) {
  if (c.inputs() != 4 || !c.present(0) || !c.present(1)) return "expects x, w, bias and multiplier";
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  if (c.in_types[0] != DType::f32) return "expects f32 codes";
  if ((c.in_types[1] != DType::s8 && c.in_types[1] != DType::s4) || !c.in_values[1]) return "weights must be s8 constants";
  if (x.size() != 2 || w.size() != 2) return "expects x [M, K] and w [N, K]";
  if (x[1] != w[1]) return "x has K = " + std::to_string(x[1]) + ", weights have K = " + std::to_string(w[1]);
  if (std::string e = check_epilogue_inputs(c, w[0]); !e.empty()) return e;
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], w[0]}};
  return "";
}

struct GemmState {
  CodeGemm gemm;
  Epilogue epilogue;
  float x_zero_point = 0.0f;
};

std::string prepare_gemm(const Node& n, const Graph& graph, std::shared_ptr<const void>* state) {
  const Tensor* w = graph.constant_of(n.inputs[1]);
  if (!w || w->rank() != 2) return "weights must be 2-D constants";
  const size_t nn = static_cast<size_t>(w->shape()[0]), k = static_cast<size_t>(w->shape()[1]);
  auto s = std::make_shared<GemmState>();
  const std::vector<float> codes = weight_codes(*w);
  if (std::string e = s->gemm.prepare(k, nn, codes.data()); !e.empty()) return e;
  if (std::string e = make_epilogue(n, graph, nn, &s->epilogue); !e.empty()) return e;
  s->x_zero_point = static_cast<float>(n.get_int("in_zero_point", 0));
  *state = std::move(s);
  return "";
}

std::string run_gemm(RunContext& c) {
  const auto* s = static_cast<const GemmState*>(c.prepared);
  if (!s) return "gemm was not prepared";
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  s->gemm.accumulate(static_cast<size_t>(x.shape()[0]), x.data<float>(), s->x_zero_point, y.mutable_data<float>(), c.runner);
  apply_epilogue(s->epilogue, s->gemm.n(), y.mutable_data<float>(), y.elements(), nullptr);
  return "";
}

constexpr const char* kEpilogueAttrs =
    "in_zero_point,zero_point,qmin,qmax,activation,out_scale,hardswish_multiplier,wbits";

}  // namespace

void add_linear_sim_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.SimConv", infer_conv, run_conv, LayoutRule::nhwc, prepare_conv,
                 "kernel_shape,strides,pads,dilations,group,in_zero_point,zero_point,qmin,qmax,activation,out_scale,"
                 "hardswish_multiplier,wbits,residual_zero_point,residual_multiplier"});
  ops.push_back({"kiln.SimGemm", infer_gemm, run_gemm, LayoutRule::plain, prepare_gemm, kEpilogueAttrs});
}

}  // namespace kiln::calib::sim
