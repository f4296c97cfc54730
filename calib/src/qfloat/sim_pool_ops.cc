// kiln.SimAvgPool and kiln.SimGlobalAvgPool over float codes (NHWC): the int32 window sum of
// (q - zi), then qops.h's q_avg with q_avg_multiplier(multiplier, count). Windows and counts are
// those of the f32 AveragePool kernel (ceil_mode, count_include_pad as ONNX defines them).
#include <algorithm>

#include "kiln/kernels/f32/pool.h"
#include "sim_ops.h"

namespace kiln::calib::sim {
namespace {

namespace f32 = kernels::f32;

std::string pool_params(const Node& n, const Shape& x, f32::Pool2dParams* p) {
  if (x.size() != 4) return "only 2-D pooling (4-D tensors) is supported";
  const std::vector<int64_t> ks = n.get_ints("kernel_shape");
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  if (ks.size() != 2 || st.size() != 2 || pads.size() != 4) return "only 2-D pooling is supported";
  for (int64_t v : ks) if (v < 1) return "bad kernel_shape";
  for (int64_t v : st) if (v < 1) return "bad strides";
  for (int64_t v : pads) if (v < 0) return "negative pads";
  if (n.get_ints("dilations", {1, 1}) != std::vector<int64_t>{1, 1}) return "AveragePool with dilations is not supported";
  const std::string auto_pad = n.get_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return "auto_pad '" + auto_pad + "' is not supported (explicit pads)";
  p->batch = static_cast<size_t>(x[0]);
  p->in_h = static_cast<size_t>(x[2]);
  p->in_w = static_cast<size_t>(x[3]);
  p->channels = static_cast<size_t>(x[1]);
  p->kernel_h = static_cast<size_t>(ks[0]);
  p->kernel_w = static_cast<size_t>(ks[1]);
  p->stride_h = static_cast<size_t>(st[0]);
  p->stride_w = static_cast<size_t>(st[1]);
  if (auto_pad == "NOTSET") {
    p->pad_top = static_cast<size_t>(pads[0]);
    p->pad_left = static_cast<size_t>(pads[1]);
    p->pad_bottom = static_cast<size_t>(pads[2]);
    p->pad_right = static_cast<size_t>(pads[3]);
  }
  p->ceil_mode = n.get_int("ceil_mode", 0) != 0;
  p->count_include_pad = n.get_int("count_include_pad", 0) != 0;
  return p->validate();
}

std::string infer_avg(InferContext& c) {
  if (std::string e = infer_unary_codes(c); !e.empty()) return e;
  if (c.inputs() != 1) return "expects one input";
  if (std::string e = check_out(c.node); !e.empty()) return e;
  f32::Pool2dParams p;
  if (std::string e = pool_params(c.node, c.in_shapes[0], &p); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  c.out_shapes = {{x[0], x[1], static_cast<int64_t>(p.out_h()), static_cast<int64_t>(p.out_w())}};
  return "";
}

std::string run_avg(RunContext& c) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.layout() != Layout::nhwc || y.layout() != Layout::nhwc) return "pooling needs NHWC tensors";
  f32::Pool2dParams p;
  if (std::string e = pool_params(c.node, x.shape(), &p); !e.empty()) return e;
  const auto zi = static_cast<int32_t>(c.node.get_int("in_zero_point", 0));
  const float m = c.node.get_float("multiplier", 1.0f);
  const kernels::QOut o = out_of(c.node);
  const size_t oh = p.out_h(), ow = p.out_w(), C = p.channels;
  const long in_h = static_cast<long>(p.in_h), in_w = static_cast<long>(p.in_w);
  const float* px = x.data<float>();
  float* py = y.mutable_data<float>();
  std::vector<int32_t> sum(C);
  for (size_t b = 0; b < p.batch; ++b) {
    const float* image = px + b * p.in_h * p.in_w * C;
    for (size_t r = 0; r < oh; ++r) {
      const long hs = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
      const long he_pad = std::min(hs + static_cast<long>(p.kernel_h), in_h + static_cast<long>(p.pad_bottom));
      const long h0 = std::max(hs, 0L), h1 = std::min(hs + static_cast<long>(p.kernel_h), in_h);
      for (size_t q = 0; q < ow; ++q) {
        const long ws = static_cast<long>(q * p.stride_w) - static_cast<long>(p.pad_left);
        const long we_pad = std::min(ws + static_cast<long>(p.kernel_w), in_w + static_cast<long>(p.pad_right));
        const long w0 = std::max(ws, 0L), w1 = std::min(ws + static_cast<long>(p.kernel_w), in_w);
        std::fill(sum.begin(), sum.end(), 0);
        for (long ih = h0; ih < h1; ++ih) {
          for (long iw = w0; iw < w1; ++iw) {
            const float* src = image + (static_cast<size_t>(ih) * p.in_w + static_cast<size_t>(iw)) * C;
            for (size_t ch = 0; ch < C; ++ch) sum[ch] += static_cast<int32_t>(to_code(src[ch])) - zi;
          }
        }
        const long count = p.count_include_pad ? (he_pad - hs) * (we_pad - ws) : (h1 - h0) * (w1 - w0);
        float* dst = py + ((b * oh + r) * ow + q) * C;
        if (count <= 0) {
          for (size_t ch = 0; ch < C; ++ch) dst[ch] = static_cast<float>(kernels::q_finish(0.0f, o));
          continue;
        }
        const float wm = kernels::q_avg_multiplier(m, static_cast<int32_t>(count));
        for (size_t ch = 0; ch < C; ++ch) dst[ch] = static_cast<float>(kernels::q_avg(sum[ch], wm, o));
      }
    }
  }
  return "";
}

std::string infer_gap(InferContext& c) {
  if (std::string e = infer_unary_codes(c); !e.empty()) return e;
  if (c.inputs() != 1) return "expects one input";
  if (std::string e = check_out(c.node); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  if (x.size() != 4) return "only 4-D tensors are supported";
  c.out_shapes = {{x[0], x[1], 1, 1}};
  return "";
}

std::string run_gap(RunContext& c) {
  const Tensor& x = *c.in[0];
  if (x.layout() != Layout::nhwc || c.out[0]->layout() != Layout::nhwc) return "pooling needs NHWC tensors";
  const auto zi = static_cast<int32_t>(c.node.get_int("in_zero_point", 0));
  const kernels::QOut o = out_of(c.node);
  const size_t B = static_cast<size_t>(x.shape()[0]), C = static_cast<size_t>(x.shape()[1]);
  const size_t hw = static_cast<size_t>(x.shape()[2] * x.shape()[3]);
  if (hw == 0) return "empty input";
  const float wm = kernels::q_avg_multiplier(c.node.get_float("multiplier", 1.0f), static_cast<int32_t>(hw));
  const float* px = x.data<float>();
  float* py = c.out[0]->mutable_data<float>();
  std::vector<int32_t> sum(C);
  for (size_t b = 0; b < B; ++b) {
    std::fill(sum.begin(), sum.end(), 0);
    for (size_t i = 0; i < hw; ++i) {
      const float* src = px + (b * hw + i) * C;
      for (size_t ch = 0; ch < C; ++ch) sum[ch] += static_cast<int32_t>(to_code(src[ch])) - zi;
    }
    for (size_t ch = 0; ch < C; ++ch) py[b * C + ch] = static_cast<float>(kernels::q_avg(sum[ch], wm, o));
  }
  return "";
}

}  // namespace

void add_pool_sim_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.SimAvgPool", infer_avg, run_avg, LayoutRule::nhwc, nullptr,
                 "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides,dilations,in_zero_point,multiplier,"
                 "zero_point,qmin,qmax"});
  ops.push_back({"kiln.SimGlobalAvgPool", infer_gap, run_gap, LayoutRule::nhwc, nullptr,
                 "in_zero_point,multiplier,zero_point,qmin,qmax"});
}

}  // namespace kiln::calib::sim
