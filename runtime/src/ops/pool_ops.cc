// MaxPool, AveragePool and GlobalAveragePool on NHWC tensors (fp32 kernels).
#include "kiln/kernels/f32/pool.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

std::string pool_params(const Node& n, const Shape& x, f32::Pool2dParams* p) {
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
  if (n.op == "AveragePool" && (dl[0] != 1 || dl[1] != 1)) return "AveragePool with dilations is not supported";
  p->batch = static_cast<size_t>(x[0]);
  p->in_h = static_cast<size_t>(x[2]);
  p->in_w = static_cast<size_t>(x[3]);
  p->channels = static_cast<size_t>(x[1]);
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

std::string infer_pool(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (c.node.outputs.size() != 1) return "the Indices output is not supported";
  if (c.in_types[0] != DType::f32) return "needs f32 input";
  f32::Pool2dParams p;
  if (std::string e = pool_params(c.node, c.in_shapes[0], &p); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], x[1], static_cast<int64_t>(p.out_h()), static_cast<int64_t>(p.out_w())}};
  if (p.out_h() == 0 || p.out_w() == 0) return "the window does not fit the input";
  return "";
}

std::string run_pool(RunContext& c) {
  f32::Pool2dParams p;
  if (std::string e = pool_params(c.node, c.in[0]->shape(), &p); !e.empty()) return e;
  const f32::Exec ex{f32::default_isa(), c.runner};
  if (c.node.op == "MaxPool") return f32::max_pool2d(p, c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), ex);
  return f32::avg_pool2d(p, c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), ex);
}

std::string infer_gap(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (c.in_types[0] != DType::f32) return "needs f32 input";
  const Shape& x = c.in_shapes[0];
  if (x.size() != 4) return "only 4-D tensors are supported";
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], x[1], 1, 1}};
  return "";
}

std::string run_gap(RunContext& c) {
  const Shape& x = c.in[0]->shape();
  f32::global_avg_pool(c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), static_cast<size_t>(x[0]),
                       static_cast<size_t>(x[2] * x[3]), static_cast<size_t>(x[1]), {f32::default_isa(), c.runner});
  return "";
}

}  // namespace

void add_pool_ops(std::vector<OpDef>& ops) {
  ops.push_back({"MaxPool", infer_pool, run_pool, LayoutRule::nhwc, nullptr,
                 "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides"});
  ops.push_back({"AveragePool", infer_pool, run_pool, LayoutRule::nhwc, nullptr,
                 "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides,dilations"});
  ops.push_back({"GlobalAveragePool", infer_gap, run_gap, LayoutRule::nhwc, nullptr, ""});
}

}  // namespace kiln::ops
