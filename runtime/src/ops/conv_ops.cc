// Conv and ConvTranspose (2-D, NHWC activations) on the fp32 kernels. Weights are packed once at
// model load (PrepareFn) and shared by every session.
#include <memory>

#include "kiln/kernels/f32/conv.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

struct ConvGeometry {
  int64_t kh, kw, sh, sw, dh, dw, groups;
  int64_t pt, pl, pb, pr;
};

// Resolves kernel, strides, dilations and pads (auto_pad included) for an input of in_h x in_w.
std::string conv_geometry(const Node& n, const Shape& w, int64_t in_h, int64_t in_w, bool transposed,
                          ConvGeometry* g) {
  const std::vector<int64_t> ks = n.get_ints("kernel_shape", {w[2], w[3]});
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> dl = n.get_ints("dilations", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || dl.size() != 2 || pads.size() != 4) return "only 2-D convolution is supported";
  if (ks[0] != w[2] || ks[1] != w[3]) return "kernel_shape does not match the weights";
  g->kh = ks[0];
  g->kw = ks[1];
  g->sh = st[0];
  g->sw = st[1];
  g->dh = dl[0];
  g->dw = dl[1];
  g->groups = n.get_int("group", 1);
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->groups < 1) return "bad strides, dilations or group";
  for (int64_t p : pads) {
    if (p < 0) return "negative pads";
  }
  // Bounded so that the window arithmetic below (and the kernels' int64 index math) cannot overflow.
  for (const std::vector<int64_t>* v : {&ks, &st, &dl, &pads}) {
    for (int64_t value : *v) {
      if (value > kMaxWindowAttribute) return "kernel_shape, strides, dilations or pads out of range";
    }
  }
  g->pt = pads[0];
  g->pl = pads[1];
  g->pb = pads[2];
  g->pr = pads[3];
  const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") return "";
  if (auto_pad == "VALID") {
    g->pt = g->pl = g->pb = g->pr = 0;
    return "";
  }
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") return "unsupported auto_pad '" + auto_pad + "'";
  if (transposed) return "";  // resolved by the caller from output_shape
  auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t* lo, int64_t* hi) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
    *lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *hi = total - *lo;
  };
  same(in_h, g->kh, g->sh, g->dh, &g->pt, &g->pb);
  same(in_w, g->kw, g->sw, g->dw, &g->pl, &g->pr);
  return "";
}

// Input 3 (kiln's own) is a residual added before the activation (fused by a pass).
std::string check_conv_inputs(const InferContext& c) {
  if (std::string e = need_inputs(c, 2, 4); !e.empty()) return e;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (c.present(i) && c.in_types[i] != DType::f32) return "float conv needs f32 tensors";
  }
  if (c.in_shapes[0].size() != 4 || c.in_shapes[1].size() != 4) return "only 2-D convolution (4-D tensors) is supported";
  std::string err;
  f32::Activation act;
  if (!node_activation(c.node, &act, &err)) return err;
  return "";
}

std::string infer_conv(InferContext& c) {
  if (std::string e = check_conv_inputs(c); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  ConvGeometry g;
  if (std::string e = conv_geometry(c.node, w, x[2], x[3], false, &g); !e.empty()) return e;
  if (x[1] != w[1] * g.groups) return "input has " + std::to_string(x[1]) + " channels, weights expect " + std::to_string(w[1] * g.groups);
  if (w[0] % g.groups) return "output channels not divisible by group";
  if (c.present(2) && (c.in_shapes[2].size() != 1 || c.in_shapes[2][0] != w[0])) return "bias shape mismatch";
  const int64_t oh = (x[2] + g.pt + g.pb - ((g.kh - 1) * g.dh + 1)) / g.sh + 1;
  const int64_t ow = (x[3] + g.pl + g.pr - ((g.kw - 1) * g.dw + 1)) / g.sw + 1;
  if (oh < 1 || ow < 1) return "the kernel does not fit the padded input";
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], w[0], oh, ow}};
  if (c.present(3) && c.in_shapes[3] != c.out_shapes[0]) return "residual shape mismatch";
  return "";
}

struct ConvState {
  f32::Conv2dPacked packed;
  f32::Activation act;
  bool same_pads_per_run = false;  // auto_pad SAME with strides over open sizes: pads follow each input
  Shape weight_shape;
};

std::string prepare_conv(const Node& n, const Graph& graph, std::shared_ptr<const void>* state) {
  const Tensor* w = graph.constant_of(n.inputs[1]);
  const Tensor* b = n.inputs.size() > 2 ? graph.constant_of(n.inputs[2]) : nullptr;
  if (!w || (n.inputs.size() > 2 && n.inputs[2] >= 0 && !b)) return "weights and bias must be constants";
  const Value& xv = graph.values[n.inputs[0]];
  const Shape& ws = w->shape();
  int64_t in_h = 1, in_w = 1;
  if (xv.shape_known && xv.shape.size() == 4) {
    in_h = xv.shape[2];
    in_w = xv.shape[3];
  }
  ConvGeometry g;
  if (std::string e = conv_geometry(n, ws, in_h, in_w, false, &g); !e.empty()) return e;
  auto s = std::make_shared<ConvState>();
  s->same_pads_per_run = n.get_string("auto_pad", "NOTSET").rfind("SAME", 0) == 0 && (g.sh > 1 || g.sw > 1) &&
                         (!xv.shape_known || in_h < 0 || in_w < 0);
  s->weight_shape = ws;
  std::string err;
  if (!node_activation(n, &s->act, &err)) return err;
  f32::Conv2dParams p;
  p.in_h = static_cast<size_t>(std::max<int64_t>(in_h, 1));
  p.in_w = static_cast<size_t>(std::max<int64_t>(in_w, 1));
  p.in_c = static_cast<size_t>(ws[1] * g.groups);
  p.out_c = static_cast<size_t>(ws[0]);
  p.groups = static_cast<size_t>(g.groups);
  p.kernel_h = g.kh; p.kernel_w = g.kw;
  p.stride_h = g.sh; p.stride_w = g.sw;
  p.dilation_h = g.dh; p.dilation_w = g.dw;
  p.pad_top = g.pt; p.pad_left = g.pl; p.pad_bottom = g.pb; p.pad_right = g.pr;
  if (std::string e = f32::conv2d_pack(p, w->data<float>(), b ? b->data<float>() : nullptr, &s->packed); !e.empty()) {
    return e;
  }
  *state = std::move(s);
  return "";
}

std::string run_conv(RunContext& c) {
  const auto* s = static_cast<const ConvState*>(c.prepared);
  if (!s) return "conv was not prepared";
  const Tensor& x = *c.in[0];
  f32::Conv2dParams p = s->packed.params;
  p.batch = static_cast<size_t>(x.shape()[0]);
  p.in_h = static_cast<size_t>(x.shape()[2]);
  p.in_w = static_cast<size_t>(x.shape()[3]);
  if (s->same_pads_per_run) {  // the padding of a strided SAME conv depends on this input's size
    ConvGeometry g;
    if (std::string e = conv_geometry(c.node, s->weight_shape, x.shape()[2], x.shape()[3], false, &g); !e.empty()) {
      return e;
    }
    p.pad_top = static_cast<size_t>(g.pt);
    p.pad_left = static_cast<size_t>(g.pl);
    p.pad_bottom = static_cast<size_t>(g.pb);
    p.pad_right = static_cast<size_t>(g.pr);
  }
  const float* residual = c.in.size() > 3 && c.in[3] ? c.in[3]->data<float>() : nullptr;
  if (x.layout() != Layout::nhwc || c.out[0]->layout() != Layout::nhwc) return "conv needs NHWC tensors";
  return f32::conv2d(p, s->packed, x.data<float>(), c.out[0]->mutable_data<float>(), s->act, c.runner, residual);
}

// ---- ConvTranspose
struct ConvTGeometry {
  ConvGeometry g;
  int64_t oph = 0, opw = 0;
  int64_t oh = 0, ow = 0, oc = 0;
};

std::string convt_geometry(const Node& n, const Shape& x, const Shape& w, ConvTGeometry* t) {
  if (std::string e = conv_geometry(n, w, x[2], x[3], true, &t->g); !e.empty()) return e;
  ConvGeometry& g = t->g;
  const std::vector<int64_t> op = n.get_ints("output_padding", {0, 0});
  if (op.size() != 2 || op[0] < 0 || op[1] < 0) return "bad output_padding";
  t->oph = op[0];
  t->opw = op[1];
  if (x[1] != w[0]) return "input has " + std::to_string(x[1]) + " channels, weights expect " + std::to_string(w[0]);
  t->oc = w[1] * g.groups;
  const int64_t fh = (g.kh - 1) * g.dh + 1, fw = (g.kw - 1) * g.dw + 1;
  const std::vector<int64_t> out_shape = n.get_ints("output_shape");
  const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
  std::vector<int64_t> want;
  if (out_shape.size() >= 2) {
    want = {out_shape[out_shape.size() - 2], out_shape[out_shape.size() - 1]};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    want = {x[2] * g.sh, x[3] * g.sw};
  }
  if (!want.empty()) {
    auto solve = [&](int64_t in, int64_t s, int64_t f, int64_t opad, int64_t o, int64_t* lo, int64_t* hi) {
      const int64_t total = s * (in - 1) + opad + f - o;
      if (total < 0) return false;
      // ONNX: SAME_UPPER puts the odd pixel at the end; NOTSET and SAME_LOWER at the start.
      *lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *hi = total - *lo;
      return true;
    };
    if (!solve(x[2], g.sh, fh, t->oph, want[0], &g.pt, &g.pb) || !solve(x[3], g.sw, fw, t->opw, want[1], &g.pl, &g.pr)) {
      return "output_shape cannot be reached";
    }
  }
  t->oh = g.sh * (x[2] - 1) + t->oph + fh - g.pt - g.pb;
  t->ow = g.sw * (x[3] - 1) + t->opw + fw - g.pl - g.pr;
  if (t->oh < 1 || t->ow < 1) return "empty output";
  return "";
}

std::string infer_convt(InferContext& c) {
  if (std::string e = check_conv_inputs(c); !e.empty()) return e;
  ConvTGeometry t;
  if (std::string e = convt_geometry(c.node, c.in_shapes[0], c.in_shapes[1], &t); !e.empty()) return e;
  if (c.present(2) && (c.in_shapes[2].size() != 1 || c.in_shapes[2][0] != t.oc)) return "bias shape mismatch";
  c.out_types = {DType::f32};
  c.out_shapes = {{c.in_shapes[0][0], t.oc, t.oh, t.ow}};
  return "";
}

struct ConvTState {
  f32::ConvTranspose2dPacked packed;
  f32::Activation act;
};

f32::ConvTranspose2dParams convt_params(const ConvTGeometry& t, const Shape& x) {
  f32::ConvTranspose2dParams p;
  p.batch = static_cast<size_t>(std::max<int64_t>(x[0], 1));
  p.in_h = static_cast<size_t>(x[2]);
  p.in_w = static_cast<size_t>(x[3]);
  p.in_c = static_cast<size_t>(x[1]);
  p.out_c = static_cast<size_t>(t.oc);
  p.groups = static_cast<size_t>(t.g.groups);
  p.kernel_h = t.g.kh; p.kernel_w = t.g.kw;
  p.stride_h = t.g.sh; p.stride_w = t.g.sw;
  p.dilation_h = t.g.dh; p.dilation_w = t.g.dw;
  p.pad_top = t.g.pt; p.pad_left = t.g.pl; p.pad_bottom = t.g.pb; p.pad_right = t.g.pr;
  p.output_padding_h = t.oph;
  p.output_padding_w = t.opw;
  return p;
}

std::string prepare_convt(const Node& n, const Graph& graph, std::shared_ptr<const void>* state) {
  const Tensor* w = graph.constant_of(n.inputs[1]);
  const Tensor* b = n.inputs.size() > 2 ? graph.constant_of(n.inputs[2]) : nullptr;
  if (!w || (n.inputs.size() > 2 && n.inputs[2] >= 0 && !b)) return "weights and bias must be constants";
  const Value& xv = graph.values[n.inputs[0]];
  Shape x = {1, w->shape()[0], 1, 1};
  if (xv.shape_known && xv.shape.size() == 4 && xv.shape[2] > 0 && xv.shape[3] > 0) x = {1, w->shape()[0], xv.shape[2], xv.shape[3]};
  ConvTGeometry t;
  if (std::string e = convt_geometry(n, x, w->shape(), &t); !e.empty()) return e;
  auto s = std::make_shared<ConvTState>();
  std::string err;
  if (!node_activation(n, &s->act, &err)) return err;
  if (std::string e = f32::conv_transpose2d_pack(convt_params(t, x), w->data<float>(), b ? b->data<float>() : nullptr,
                                                 &s->packed);
      !e.empty()) {
    return e;
  }
  *state = std::move(s);
  return "";
}

std::string run_convt(RunContext& c) {
  const auto* s = static_cast<const ConvTState*>(c.prepared);
  if (!s) return "conv transpose was not prepared";
  const Tensor& x = *c.in[0];
  ConvTGeometry t;
  if (std::string e = convt_geometry(c.node, x.shape(), c.in[1]->shape(), &t); !e.empty()) return e;
  if (x.layout() != Layout::nhwc || c.out[0]->layout() != Layout::nhwc) return "conv transpose needs NHWC tensors";
  return f32::conv_transpose2d(convt_params(t, x.shape()), s->packed, x.data<float>(), c.out[0]->mutable_data<float>(),
                               s->act, c.runner);
}

}  // namespace

void add_conv_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Conv", infer_conv, run_conv, LayoutRule::nhwc, prepare_conv,
                 "auto_pad,dilations,group,kernel_shape,pads,strides,activation,act_a,act_b"});
  ops.push_back({"ConvTranspose", infer_convt, run_convt, LayoutRule::nhwc, prepare_convt,
                 "auto_pad,dilations,group,kernel_shape,pads,strides,output_padding,output_shape,activation,act_a,act_b"});
}

}  // namespace kiln::ops
