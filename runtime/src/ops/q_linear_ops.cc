// kiln.QConv and kiln.QGemm on the integer convolution and GEMM kernels (conv.h, gemm.h), their
// kernel blobs (pack_q_node_blobs, used in place at load when they match the CPU's configuration)
// and q_packed_info.
//
//   QConv:  x u8 [N,C,H,W] (NHWC), w s8 OHWI [O,kh,kw,C/g], bias s32 [O], multiplier f32 [O],
//           residual u8 [N,O,oh,ow] (optional, input 4)
//   QGemm:  x u8 [M,K], w s8 [N,K], bias s32 [N], multiplier f32 [N]
// 4- and 2-bit weights (wbits 4/2, codes one per byte) run on the 4-bit kernels.
#include <cstring>
#include <mutex>

#include "kiln/kernels/conv.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/pack.h"
#include "kiln/runtime/q_blobs.h"
#include "kiln/runtime/shape_inference.h"
#include "ops/q_util.h"

namespace kiln::ops {
namespace {

namespace kn = kernels;

// The kernel container of a weight width: 2..4-bit codes run on the int4 kernels, 5..8-bit on int8.
int kernel_wbits(const Node& n) { return n.get_int("wbits", 8) > 4 ? 8 : 4; }

std::string check_wbits(const Node& n) {
  const int64_t w = n.get_int("wbits", 8);
  if (w < 2 || w > 8) return "wbits must be in [2, 8]";
  return "";
}

// The epilogue constants (everything but the multiplier and residual pointers).
std::string requant_params(const Node& n, const Graph& g, kn::RequantParams* rp) {
  QParams out;
  if (std::string e = q_params_of(g, n.outputs.empty() ? -1 : n.outputs[0], "output", &out); !e.empty()) return e;
  kn::QOut o;
  if (std::string e = q_out_of(n, out, &o); !e.empty()) return e;
  rp->zero_point = o.zero_point;
  rp->qmin = o.qmin;
  rp->qmax = o.qmax;
  rp->out_scale = out.scale;
  const std::string act = n.get_string("activation", "none");
  if (act == "hardswish") {
    rp->activation = kn::Activation::hardswish;
  } else if (act == "none" || act.empty()) {
    rp->activation = kn::Activation::none;
  } else {
    return "unsupported activation '" + act + "'";
  }
  rp->hardswish_multiplier = n.get_float("hardswish_multiplier", 1.0f);
  rp->residual_multiplier = n.get_float("residual_multiplier", 0.0f);
  return "";
}

// The weight, bias and multiplier constants of a QConv/QGemm with `out` output channels.
struct LinearConstants {
  const Tensor* w = nullptr;
  const Tensor* bias = nullptr;
  const Tensor* multiplier = nullptr;
};
// `check_codes`: also check every weight code against wbits (packing needs it; a blob used in place
// was validated when it was viewed, and scanning the weights would page in the whole file).
std::string linear_constants(const Node& n, const Graph& g, LinearConstants* c, bool check_codes = true) {
  if (n.inputs.size() < 4) return "needs x, weights, bias and multiplier inputs";
  c->w = g.constant_of(n.inputs[1]);
  c->bias = g.constant_of(n.inputs[2]);
  c->multiplier = g.constant_of(n.inputs[3]);
  if (!c->w || !c->bias || !c->multiplier) return "weights, bias and multiplier must be constants";
  if (c->w->dtype() != DType::s8 || c->bias->dtype() != DType::s32 || c->multiplier->dtype() != DType::f32) {
    return "weights, bias and multiplier must be s8, s32 and f32";
  }
  const int64_t o = c->w->rank() > 0 ? c->w->shape()[0] : 0;
  if (o < 1 || static_cast<int64_t>(c->bias->elements()) != o || static_cast<int64_t>(c->multiplier->elements()) != o) {
    return "bias and multiplier must have one entry per output channel";
  }
  if (!check_codes) return "";
  const int8_t* w = c->w->data<int8_t>();
  // Symmetric codes of b bits: [-2^(b-1), 2^(b-1) - 1], except 8 bits: [-127, 127] (never -128).
  const int64_t bits = n.get_int("wbits", 8);
  const int lo = bits == 8 ? -127 : -(1 << (bits - 1)), hi = bits == 8 ? 127 : (1 << (bits - 1)) - 1;
  for (size_t i = 0; i < c->w->elements(); ++i) {
    if (w[i] < lo || w[i] > hi) return "a weight code is out of the range of wbits";
  }
  return "";
}

// ---- kiln.QConv
struct QConvGeometry {
  int64_t kh, kw, sh, sw, groups;
  int64_t pt, pl, pb, pr;
};
std::string qconv_geometry(const Node& n, const Shape& w, QConvGeometry* g) {
  if (w.size() != 4) return "weights must be OHWI [O, kh, kw, I/g]";
  const std::vector<int64_t> ks = n.get_ints("kernel_shape", {w[1], w[2]});
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> dl = n.get_ints("dilations", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || dl.size() != 2 || pads.size() != 4) return "only 2-D convolution is supported";
  if (ks[0] != w[1] || ks[1] != w[2]) return "kernel_shape does not match the weights";
  if (dl[0] != 1 || dl[1] != 1) return "dilations other than 1 are not supported";
  g->kh = ks[0];
  g->kw = ks[1];
  g->sh = st[0];
  g->sw = st[1];
  g->groups = n.get_int("group", 1);
  if (g->sh < 1 || g->sw < 1 || g->groups < 1) return "bad strides or group";
  for (int64_t p : pads) if (p < 0) return "negative pads";
  g->pt = pads[0];
  g->pl = pads[1];
  g->pb = pads[2];
  g->pr = pads[3];
  return "";
}

std::string infer_qconv(InferContext& c) {
  if (std::string e = need_inputs(c, 4, 5); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  if (std::string e = need_type(c, 1, DType::s8, "weights"); !e.empty()) return e;
  if (std::string e = check_wbits(c.node); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  if (x.size() != 4) return "only 2-D convolution (4-D input) is supported";
  QConvGeometry g;
  if (std::string e = qconv_geometry(c.node, w, &g); !e.empty()) return e;
  if (x[1] != w[3] * g.groups) return "input has " + std::to_string(x[1]) + " channels, weights expect " + std::to_string(w[3] * g.groups);
  if (w[0] % g.groups) return "output channels not divisible by group";
  const int64_t oh = (x[2] + g.pt + g.pb - g.kh) / g.sh + 1;
  const int64_t ow = (x[3] + g.pl + g.pr - g.kw) / g.sw + 1;
  if (x[2] + g.pt + g.pb < g.kh || x[3] + g.pl + g.pr < g.kw || oh < 1 || ow < 1) return "the kernel does not fit the padded input";
  c.out_types = {DType::u8};
  c.out_shapes = {{x[0], w[0], oh, ow}};
  if (c.present(4)) {
    if (std::string e = need_type(c, 4, DType::u8, "residual"); !e.empty()) return e;
    if (c.in_shapes[4] != c.out_shapes[0]) return "residual shape mismatch";
  }
  return "";
}

std::string qconv_shape(const Node& n, const Graph& g, const LinearConstants& k, kn::ConvShape* s) {
  const Value& xv = g.values[n.inputs[0]];
  if (!xv.shape_known || xv.shape.size() != 4) return "the input's shape must be known";
  QConvGeometry geo;
  if (std::string e = qconv_geometry(n, k.w->shape(), &geo); !e.empty()) return e;
  for (size_t i = 1; i < 4; ++i) if (xv.shape[i] < 1) return "the input's C, H and W must be known";
  s->batch = xv.shape[0] > 0 ? static_cast<int32_t>(xv.shape[0]) : 1;
  s->in_c = static_cast<int32_t>(xv.shape[1]);
  s->in_h = static_cast<int32_t>(xv.shape[2]);
  s->in_w = static_cast<int32_t>(xv.shape[3]);
  s->out_c = static_cast<int32_t>(k.w->shape()[0]);
  s->kernel_h = static_cast<int32_t>(geo.kh);
  s->kernel_w = static_cast<int32_t>(geo.kw);
  s->stride_h = static_cast<int32_t>(geo.sh);
  s->stride_w = static_cast<int32_t>(geo.sw);
  s->pad_top = static_cast<int32_t>(geo.pt);
  s->pad_left = static_cast<int32_t>(geo.pl);
  s->pad_bottom = static_cast<int32_t>(geo.pb);
  s->pad_right = static_cast<int32_t>(geo.pr);
  s->groups = static_cast<int32_t>(geo.groups);
  return kn::conv_shape_error(*s);
}

std::string qconv_pack(const Node& n, const Graph& g, kn::Isa isa, kn::PackedConv* out) {
  if (std::string e = check_wbits(n); !e.empty()) return e;
  LinearConstants k;
  if (std::string e = linear_constants(n, g, &k); !e.empty()) return e;
  kn::ConvShape shape;
  if (std::string e = qconv_shape(n, g, k, &shape); !e.empty()) return e;
  QParams in;
  if (std::string e = q_params_of(g, n.inputs[0], "input", &in); !e.empty()) return e;
  return kn::conv_pack(shape, k.w->data<int8_t>(), kernel_wbits(n), k.bias->data<int32_t>(),
                       k.multiplier->data<float>(), in.zero_point, isa, out);
}

struct QConvState {
  kn::Isa isa = kn::Isa::ref;
  kn::PackedConv conv;
  Tensor blob;  // the node blob the conv views (keeps the mapping alive), or empty
  bool from_blob = false;
  kn::RequantParams rp;
  // Scratch for concurrent runs (one per session running this node at once).
  mutable std::mutex mu;
  mutable std::vector<std::unique_ptr<kn::ConvWorkspace>> free;
};

// The node's blob for `isa` when it views cleanly and matches what packing would make.
bool qconv_from_blob(const Node& n, const Graph& g, kn::Isa isa, QConvState* s) {
  LinearConstants k;
  kn::ConvShape shape;
  QParams in;
  if (!linear_constants(n, g, &k, false).empty() || !qconv_shape(n, g, k, &shape).empty() ||
      !q_params_of(g, n.inputs[0], "input", &in).empty()) {
    return false;
  }
  for (const KernelBlob& b : n.blobs) {
    if (b.kind != kQConvBlobKind || b.isa != kn::isa_name(isa) || b.data.bytes() == 0) continue;
    kn::PackedConv v;
    if (!kn::conv_view(b.data.data<uint8_t>(), b.data.bytes(), nullptr, isa, &v).empty()) continue;
    kn::ConvShape vs = v.shape;
    vs.batch = shape.batch;
    if (!(vs == shape) || v.input_zero_point != in.zero_point || v.weight_bits != kernel_wbits(n)) continue;
    s->conv = v;
    s->blob = b.data;
    s->from_blob = true;
    return true;
  }
  return false;
}

std::string prepare_qconv(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  auto s = std::make_shared<QConvState>();
  if (std::string e = q_isa(&s->isa); !e.empty()) return e;
  if (std::string e = requant_params(n, g, &s->rp); !e.empty()) return e;
  if (n.inputs.size() > 4 && n.inputs[4] >= 0) {
    QParams r;
    if (std::string e = q_params_of(g, n.inputs[4], "residual", &r); !e.empty()) return e;
    s->rp.residual_zero_point = r.zero_point;
  }
  if (!qconv_from_blob(n, g, s->isa, s.get())) {
    if (std::string e = qconv_pack(n, g, s->isa, &s->conv); !e.empty()) return e;
  }
  *state = std::move(s);
  return "";
}

std::string run_qconv(RunContext& c) {
  const auto* s = static_cast<const QConvState*>(c.prepared);
  if (!s) return "not prepared";
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.layout() != Layout::nhwc || y.layout() != Layout::nhwc) return "needs NHWC tensors";
  const kn::ConvShape& ps = s->conv.shape;
  if (x.shape()[1] != ps.in_c || x.shape()[2] != ps.in_h || x.shape()[3] != ps.in_w) {
    return "input " + shape_string(x.shape()) + " differs from the shape the weights were packed for";
  }
  kn::RequantParams rp = s->rp;
  const Tensor* r = c.in.size() > 4 ? c.in[4] : nullptr;
  if (r) {
    if (r->layout() != Layout::nhwc) return "the residual must be NHWC";
    rp.residual = r->data<uint8_t>();
    rp.residual_stride = static_cast<size_t>(ps.out_c);
  }
  // The packed form does not depend on the batch: run a copy of the view with this one.
  kn::PackedConv batch_view;
  const kn::PackedConv* conv = &s->conv;
  if (x.shape()[0] != ps.batch) {
    batch_view = s->conv;
    batch_view.shape.batch = static_cast<int32_t>(x.shape()[0]);
    conv = &batch_view;
  }
  std::unique_ptr<kn::ConvWorkspace> ws;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->free.empty()) {
      ws = std::move(s->free.back());
      s->free.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<kn::ConvWorkspace>();
  const std::string e = kn::conv_run(*conv, *ws, x.data<uint8_t>(), y.mutable_data<uint8_t>(), rp, c.runner);
  std::lock_guard<std::mutex> lock(s->mu);
  s->free.push_back(std::move(ws));
  return e;
}

// ---- kiln.QGemm
std::string infer_qgemm(InferContext& c) {
  if (std::string e = need_inputs(c, 4, 4); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  if (std::string e = need_type(c, 1, DType::s8, "weights"); !e.empty()) return e;
  if (std::string e = check_wbits(c.node); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  const Shape& w = c.in_shapes[1];
  if (x.size() != 2 || w.size() != 2) return "x must be [M, K] and weights [N, K]";
  if (x[1] != w[1]) return "x has K = " + std::to_string(x[1]) + ", weights " + std::to_string(w[1]);
  c.out_types = {DType::u8};
  c.out_shapes = {{x[0], w[0]}};
  return "";
}

struct QGemmState {
  const kn::GemmConfig* config = nullptr;
  size_t n = 0, k = 0;
  kn::AlignedBuffer own;  // packed here when no blob fits
  Tensor blob;            // or the node blob used in place
  const void* packed = nullptr;
  size_t packed_size = 0;
  bool from_blob = false;
  kn::GemmEpilogue epilogue;
};

std::string qgemm_config(const Node& n, kn::Isa isa, const kn::GemmConfig** cfg) {
  *cfg = kn::gemm_config(isa, kernel_wbits(n));
  if (!*cfg) *cfg = kn::gemm_config(kn::Isa::ref, kernel_wbits(n));
  if (!*cfg) return "no GEMM configuration";
  return "";
}

std::string qgemm_pack(const Node& n, const Graph& g, const kn::GemmConfig& cfg, kn::AlignedBuffer* out) {
  LinearConstants k;
  if (std::string e = linear_constants(n, g, &k); !e.empty()) return e;
  if (k.w->rank() != 2) return "weights must be [N, K]";
  QParams in;
  if (std::string e = q_params_of(g, n.inputs[0], "input", &in); !e.empty()) return e;
  kn::GemmWeightsSource src;
  src.w = k.w->data<int8_t>();
  src.n = static_cast<size_t>(k.w->shape()[0]);
  src.kc = static_cast<size_t>(k.w->shape()[1]);
  src.ks = 1;
  src.c_stride = src.kc;
  src.ks_stride = 0;
  src.k_stride = 1;
  src.bias = k.bias->data<int32_t>();
  src.multiplier = k.multiplier->data<float>();
  src.input_zero_point = in.zero_point;
  *out = kn::AlignedBuffer(kn::packed_gemm_size(cfg, src.n, 1, src.kc));
  return kn::pack_gemm_weights(cfg, src, out->data(), out->size());
}

std::map<std::string, std::string> qgemm_blob_config(const Node& n, const kn::GemmConfig& cfg, size_t nn, size_t k,
                                                     int32_t zp) {
  // The packed bytes depend on the layout (nr, kr, k alignment: layout_version) and not on the
  // micro-kernel's row count, so a blob stays valid when a kernel is retuned to another mr.
  return {{"layout_version", std::to_string(cfg.layout_version)},
          {"nr", std::to_string(cfg.nr)},
          {"kr", std::to_string(cfg.kr)},
          {"wbits", std::to_string(kernel_wbits(n))},
          {"n", std::to_string(nn)},
          {"k", std::to_string(k)},
          {"input_zero_point", std::to_string(zp)}};
}

std::string prepare_qgemm(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  auto s = std::make_shared<QGemmState>();
  kn::Isa isa;
  if (std::string e = q_isa(&isa); !e.empty()) return e;
  if (std::string e = qgemm_config(n, isa, &s->config); !e.empty()) return e;
  LinearConstants k;
  if (std::string e = linear_constants(n, g, &k, false); !e.empty()) return e;
  if (k.w->rank() != 2) return "weights must be [N, K]";
  s->n = static_cast<size_t>(k.w->shape()[0]);
  s->k = static_cast<size_t>(k.w->shape()[1]);
  QParams in;
  if (std::string e = q_params_of(g, n.inputs[0], "input", &in); !e.empty()) return e;
  kn::RequantParams rp;
  if (std::string e = requant_params(n, g, &rp); !e.empty()) return e;
  s->epilogue = kn::make_gemm_epilogue(rp);
  const size_t size = kn::packed_gemm_size(*s->config, s->n, 1, s->k);
  const auto want = qgemm_blob_config(n, *s->config, s->n, s->k, in.zero_point);
  for (const KernelBlob& b : n.blobs) {
    if (b.kind != kQGemmBlobKind || b.isa != kn::isa_name(s->config->isa) || b.config != want ||
        b.data.bytes() != size || reinterpret_cast<uintptr_t>(b.data.raw()) % 64 != 0) {
      continue;
    }
    s->blob = b.data;
    s->packed = b.data.raw();
    s->from_blob = true;
    break;
  }
  if (!s->from_blob) {
    if (std::string e = qgemm_pack(n, g, *s->config, &s->own); !e.empty()) return e;
    s->packed = s->own.data();
  }
  s->packed_size = size;
  *state = std::move(s);
  return "";
}

std::string run_qgemm(RunContext& c) {
  const auto* s = static_cast<const QGemmState*>(c.prepared);
  if (!s) return "not prepared";
  const Tensor& x = *c.in[0];
  if (static_cast<size_t>(x.shape()[1]) != s->k) return "K differs from the packed weights";
  kn::GemmProblem p;
  p.m = static_cast<size_t>(x.shape()[0]);
  p.n = s->n;
  p.k = s->k;
  p.a = x.data<uint8_t>();
  p.a_stride = s->k;
  p.packed = s->packed;
  p.c = c.out[0]->mutable_raw();
  p.c_stride = s->n;
  p.epilogue = s->epilogue;
  if (p.m == 0) return "";
  return kn::gemm_run(*s->config, p, c.runner);
}

}  // namespace

void add_q_linear_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.QConv", infer_qconv, run_qconv, LayoutRule::nhwc, prepare_qconv,
                 "kernel_shape,strides,pads,dilations,group,wbits,qmin,qmax,activation,hardswish_multiplier,"
                 "residual_multiplier"});
  ops.push_back({"kiln.QGemm", infer_qgemm, run_qgemm, LayoutRule::plain, prepare_qgemm,
                 "wbits,qmin,qmax,activation,hardswish_multiplier"});
}

}  // namespace kiln::ops

namespace kiln {

namespace {

// Packs node `node` of `graph` (whose value shapes are known where QConv needs them) into `b`.
std::string pack_blob(const Graph& graph, int node, kernels::Isa isa, KernelBlob* out) {
  const Node& n = graph.nodes[node];
  KernelBlob& b = *out;
  b.isa = std::string(kernels::isa_name(isa));
  if (n.op == "kiln.QConv") {
    kernels::PackedConv pc;
    if (std::string e = ops::qconv_pack(n, graph, isa, &pc); !e.empty()) return e + " (" + n.label() + ")";
    std::vector<uint8_t> bytes;
    if (std::string e = kernels::conv_serialize(pc, &bytes); !e.empty()) return e + " (" + n.label() + ")";
    b.kind = kQConvBlobKind;
    b.config = {{"wbits", std::to_string(ops::kernel_wbits(n))}, {"path", std::string(kernels::conv_path_name(pc.path))}};
    if (pc.gemm) {
      b.mr = static_cast<int32_t>(pc.gemm->mr);
      b.nr = static_cast<int32_t>(pc.gemm->nr);
      b.kr = static_cast<int32_t>(pc.gemm->kr);
    }
    b.data = Tensor(DType::u8, Shape{static_cast<int64_t>(bytes.size())});
    if (!bytes.empty()) std::memcpy(b.data.mutable_raw(), bytes.data(), bytes.size());
  } else {
    const kernels::GemmConfig* cfg = kernels::gemm_config(isa, ops::kernel_wbits(n));
    if (!cfg) return std::string("this build has no GEMM kernels for ") + std::string(kernels::isa_name(isa));
    kernels::AlignedBuffer buf;
    if (std::string e = ops::qgemm_pack(n, graph, *cfg, &buf); !e.empty()) return e + " (" + n.label() + ")";
    ops::QParams in;
    if (std::string e = ops::q_params_of(graph, n.inputs[0], "input", &in); !e.empty()) return e;
    const Tensor* w = graph.constant_of(n.inputs[1]);
    b.kind = kQGemmBlobKind;
    b.config = ops::qgemm_blob_config(n, *cfg, static_cast<size_t>(w->shape()[0]), static_cast<size_t>(w->shape()[1]),
                                      in.zero_point);
    b.mr = static_cast<int32_t>(cfg->mr);
    b.nr = static_cast<int32_t>(cfg->nr);
    b.kr = static_cast<int32_t>(cfg->kr);
    b.data = Tensor(DType::u8, Shape{static_cast<int64_t>(buf.size())});
    std::memcpy(b.data.mutable_raw(), buf.data(), buf.size());
  }
  return "";
}

void attach(Node& n, KernelBlob b) {
  std::erase_if(n.blobs, [&](const KernelBlob& k) { return k.kind == b.kind && k.isa == b.isa; });
  n.blobs.push_back(std::move(b));
}

bool needs_shapes(const Graph& g, const Node& n) {
  return n.op == "kiln.QConv" && !n.inputs.empty() && n.inputs[0] >= 0 &&
         n.inputs[0] < static_cast<int>(g.values.size()) && !g.values[n.inputs[0]].shape_known;
}

std::string check_target(const Graph& graph, kernels::Isa isa) {
  (void)graph;
  if (!register_q_ops(nullptr)) return "cannot register the Q ops";
  if (!kernels::cpu_supports(isa)) return std::string("this CPU cannot run ") + std::string(kernels::isa_name(isa));
  return "";
}

}  // namespace

std::string pack_q_node_blobs(Graph& graph, int node, kernels::Isa isa) {
  if (node < 0 || node >= static_cast<int>(graph.nodes.size())) return "node index out of range";
  Node& n = graph.nodes[node];
  if (n.op != "kiln.QConv" && n.op != "kiln.QGemm") return "";
  if (std::string e = check_target(graph, isa); !e.empty()) return e;
  KernelBlob b;
  if (needs_shapes(graph, n)) {
    // Shapes are inferred on a copy (constants are shared, not copied).
    Graph shaped = graph;
    if (std::string e = annotate_shapes(shaped); !e.empty()) return e;
    if (std::string e = pack_blob(shaped, node, isa, &b); !e.empty()) return e;
  } else if (std::string e = pack_blob(graph, node, isa, &b); !e.empty()) {
    return e;
  }
  attach(n, std::move(b));
  return "";
}

std::string pack_q_blobs(Graph& graph, kernels::Isa isa) {
  if (std::string e = check_target(graph, isa); !e.empty()) return e;
  Graph shaped = graph;
  if (std::string e = annotate_shapes(shaped); !e.empty()) return e;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    if (n.op != "kiln.QConv" && n.op != "kiln.QGemm") continue;
    KernelBlob b;
    if (std::string e = pack_blob(shaped, static_cast<int>(i), isa, &b); !e.empty()) return e;
    attach(graph.nodes[i], std::move(b));
  }
  return "";
}

bool q_packed_info(const Model& model, size_t node, QPackedInfo* out) {
  const Graph& g = model.graph();
  if (node >= g.nodes.size() || model.prepared(node) == nullptr) return false;
  const std::string& op = g.nodes[node].op;
  if (op == "kiln.QConv") {
    const auto* s = static_cast<const ops::QConvState*>(model.prepared(node));
    out->data = s->conv.blob.data();
    out->size = s->conv.blob.size();
    out->from_blob = s->from_blob;
    out->isa = s->isa;
    return true;
  }
  if (op == "kiln.QGemm") {
    const auto* s = static_cast<const ops::QGemmState*>(model.prepared(node));
    out->data = s->packed;
    out->size = s->packed_size;
    out->from_blob = s->from_blob;
    out->isa = s->config->isa;
    return true;
  }
  return false;
}

}  // namespace kiln
