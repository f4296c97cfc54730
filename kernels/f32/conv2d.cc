// conv2d on NHWC: weight packing from OIHW, and the three paths (depthwise rows, 1x1 GEMM, and the
// indirect GEMM that reads the input in place through row pointers).
#include <cstring>
#include <limits>
#include <vector>

#include "f32/gemm_driver.h"
#include "kiln/kernels/f32/conv.h"

namespace kiln::kernels::f32 {
namespace {

size_t conv_out(size_t in, size_t pad_sum, size_t kernel, size_t dilation, size_t stride) {
  if (kernel == 0 || dilation == 0 || stride == 0) return 0;
  const size_t eff = (kernel - 1) * dilation + 1;
  if (in + pad_sum < eff) return 0;
  return (in + pad_sum - eff) / stride + 1;
}

// A rows are output pixels (b, oh, ow); A columns are (kh, kw, ic) of one group, ic fastest. The
// source is the input when the layer has no pads, else a zero-padded copy of it: every window lies
// inside the source and is read in place. With one group and no horizontal dilation the kernel_w
// taps of a kernel row are adjacent in NHWC memory and merge into one run of kernel_w * in_c floats.
class ConvIndirect final : public detail::APacker {
 public:
  ConvIndirect(const Conv2dParams& p, const float* src, size_t src_h, size_t src_w, size_t group)
      : p_(p), src_(src), src_h_(src_h), src_w_(src_w) {
    icpg_ = p.in_c / p.groups;
    c0_ = group * icpg_;
    oh_ = p.out_h();
    ow_ = p.out_w();
    merged_ = p.groups == 1 && p.dilation_w == 1;
  }

  size_t taps() const override { return merged_ ? p_.kernel_h : p_.kernel_h * p_.kernel_w; }

  void indirect(size_t m0, size_t rows, size_t mr, const float* zero, const float** ptrs) const override {
    const size_t taps_n = taps();
    const size_t kw_n = merged_ ? 1 : p_.kernel_w;
    const size_t span_w = merged_ ? p_.kernel_w - 1 : 0;  // extra columns a merged run covers
    // Output pixel of row 0, then stepped row by row (no divisions per row).
    size_t b = m0 / (oh_ * ow_), r = (m0 % (oh_ * ow_)) / ow_, c = m0 % ow_;
    for (size_t i = 0; i < mr; ++i) {
      if (i >= rows) {
        for (size_t t = 0; t < taps_n; ++t) ptrs[t * mr + i] = zero;
        continue;
      }
      const size_t ih0 = r * p_.stride_h, iw0 = c * p_.stride_w;
      const float* image = src_ + b * src_h_ * src_w_ * p_.in_c + c0_;
      const float** out = ptrs + i;
      for (size_t kh = 0, ih = ih0; kh < p_.kernel_h; ++kh, ih += p_.dilation_h) {
        for (size_t kw = 0, iw = iw0; kw < kw_n; ++kw, iw += p_.dilation_w) {
          // Always inside by construction; checked so that a wrong source size reads zeros.
          *out = ih < src_h_ && iw + span_w < src_w_ ? image + (ih * src_w_ + iw) * p_.in_c : zero;
          out += mr;
        }
      }
      if (++c == ow_) {
        c = 0;
        if (++r == oh_) r = 0, ++b;
      }
    }
  }

 private:
  const Conv2dParams& p_;
  const float* src_;
  size_t src_h_, src_w_;
  size_t icpg_ = 0, c0_ = 0, oh_ = 0, ow_ = 0;
  bool merged_ = false;
};

// x zero-padded by the layer's pads into *out ([batch, in_h + pads, in_w + pads, in_c]). Only the
// border is zeroed; the buffer is reused between calls (no page faults on every convolution).
void pad_input(const Conv2dParams& p, const float* x, std::vector<float>* out) {
  const size_t ph = p.in_h + p.pad_top + p.pad_bottom, pw = p.in_w + p.pad_left + p.pad_right, C = p.in_c;
  const size_t need = p.batch * ph * pw * C;
  if (out->size() < need) out->resize(need);
  float* dst = out->data();
  const size_t row = pw * C;
  for (size_t b = 0; b < p.batch; ++b) {
    float* image = dst + b * ph * row;
    std::memset(image, 0, p.pad_top * row * sizeof(float));
    std::memset(image + (p.pad_top + p.in_h) * row, 0, p.pad_bottom * row * sizeof(float));
    for (size_t h = 0; h < p.in_h; ++h) {
      float* r = image + (h + p.pad_top) * row;
      std::memset(r, 0, p.pad_left * C * sizeof(float));
      std::memcpy(r + p.pad_left * C, x + (b * p.in_h + h) * p.in_w * C, p.in_w * C * sizeof(float));
      std::memset(r + (p.pad_left + p.in_w) * C, 0, p.pad_right * C * sizeof(float));
    }
  }
}

std::vector<float>& padded_buffer() {
  thread_local std::vector<float> buf;
  return buf;
}

// Whether p may run on weights packed for `packed` (path `path`): the same layer, where only the
// pointwise path was chosen for its (zero) pads: the others take pads per call (a strided SAME conv
// over open sizes pads each input as its size asks).
bool same_layer(const Conv2dParams& a, const Conv2dParams& b, ConvPath path = ConvPath::gemm_1x1) {
  const bool pads = a.pad_top == b.pad_top && a.pad_left == b.pad_left && a.pad_bottom == b.pad_bottom &&
                    a.pad_right == b.pad_right;
  return a.in_c == b.in_c && a.out_c == b.out_c && a.groups == b.groups && a.kernel_h == b.kernel_h &&
         a.kernel_w == b.kernel_w && a.stride_h == b.stride_h && a.stride_w == b.stride_w &&
         a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w && (pads || path != ConvPath::gemm_1x1);
}

void depthwise_run(const Conv2dParams& p, const Conv2dPacked& w, const float* x, float* y, const Activation& act,
                   TaskRunner* runner, const float* residual) {
  const detail::F32Kernels& kern = detail::kernels_for(w.isa);
  const size_t oh = p.out_h(), ow = p.out_w(), C = p.out_c;
  constexpr float inf = std::numeric_limits<float>::infinity();
  float lo = -inf, hi = inf;
  bool act_after = true;
  if (residual == nullptr) {
    if (act.op == UnaryOp::identity || act.op == UnaryOp::relu || act.op == UnaryOp::clip) {
      act_after = false;
      if (act.op == UnaryOp::relu) lo = 0.0f;
      if (act.op == UnaryOp::clip) lo = act.a, hi = act.b;
    }
  }
  parallel_for(runner, p.batch * oh, [&](size_t row) {
    const size_t b = row / oh, r = row % oh;
    float* yrow = y + row * ow * C;
    std::vector<float> saved;
    const float* res = residual ? residual + row * ow * C : nullptr;
    if (res == yrow) {  // residual aliases y: keep it before the row is overwritten
      saved.assign(res, res + ow * C);
      res = saved.data();
    }
    detail::DwconvRow d{};
    d.x = x + b * p.in_h * p.in_w * C;
    d.in_h = p.in_h;
    d.in_w = p.in_w;
    d.channels = C;
    d.w = w.dw_weights.data();
    d.bias = w.bias.data();
    d.kernel_h = p.kernel_h;
    d.kernel_w = p.kernel_w;
    d.stride_w = p.stride_w;
    d.dilation_h = p.dilation_h;
    d.dilation_w = p.dilation_w;
    d.ih0 = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
    d.iw0 = -static_cast<long>(p.pad_left);
    d.out_w = ow;
    d.y = yrow;
    d.lo = lo;
    d.hi = hi;
    kern.dwconv_row(d);
    if (res) kern.binary(BinaryOp::add, yrow, res, yrow, ow * C);
    if (act_after && act.op != UnaryOp::identity) kern.unary(act, yrow, yrow, ow * C);
  });
}

}  // namespace

size_t Conv2dParams::out_h() const { return conv_out(in_h, pad_top + pad_bottom, kernel_h, dilation_h, stride_h); }
size_t Conv2dParams::out_w() const { return conv_out(in_w, pad_left + pad_right, kernel_w, dilation_w, stride_w); }

std::string Conv2dParams::validate() const {
  if (batch == 0 || in_h == 0 || in_w == 0 || in_c == 0 || out_c == 0) return "conv2d: empty input or output";
  if (groups == 0 || in_c % groups != 0 || out_c % groups != 0)
    return "conv2d: groups must divide the input and output channels";
  if (kernel_h == 0 || kernel_w == 0) return "conv2d: empty kernel";
  if (stride_h == 0 || stride_w == 0 || dilation_h == 0 || dilation_w == 0)
    return "conv2d: strides and dilations must be positive";
  if (out_h() == 0 || out_w() == 0) return "conv2d: the kernel is larger than the padded input";
  return "";
}

std::string conv2d_pack(const Conv2dParams& p, const float* weight_oihw, const float* bias, Conv2dPacked* out, Isa isa) {
  if (out == nullptr || weight_oihw == nullptr) return "conv2d_pack: missing weights or output";
  if (std::string e = p.validate(); !e.empty()) return e;
  const detail::F32Kernels& kern = detail::kernels_for(isa);
  Conv2dPacked w;
  w.params = p;
  w.isa = kern.isa;
  w.bias.assign(p.out_c, 0.0f);
  if (bias) std::memcpy(w.bias.data(), bias, p.out_c * sizeof(float));
  const size_t taps = p.kernel_h * p.kernel_w;
  if (p.groups == p.in_c && p.out_c == p.in_c) {
    w.path = ConvPath::depthwise;
    w.dw_weights.resize(taps * p.in_c);
    for (size_t c = 0; c < p.in_c; ++c) {
      for (size_t t = 0; t < taps; ++t) w.dw_weights[t * p.in_c + c] = weight_oihw[c * taps + t];
    }
    *out = std::move(w);
    return "";
  }
  const bool pointwise = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                         p.pad_top == 0 && p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0 && p.groups == 1;
  w.path = pointwise ? ConvPath::gemm_1x1 : ConvPath::gemm_gather;
  const size_t icpg = p.in_c / p.groups, ocpg = p.out_c / p.groups, K = taps * icpg;
  std::vector<float> nk(ocpg * K);  // B transposed: [oc][(kh, kw, ic)]
  w.group_b.resize(p.groups);
  for (size_t g = 0; g < p.groups; ++g) {
    for (size_t o = 0; o < ocpg; ++o) {
      const float* src = weight_oihw + (g * ocpg + o) * icpg * taps;
      for (size_t c = 0; c < icpg; ++c) {
        for (size_t t = 0; t < taps; ++t) nk[o * K + t * icpg + c] = src[c * taps + t];
      }
    }
    if (std::string e = sgemm_pack_b(K, ocpg, nk.data(), K, true, &w.group_b[g], w.isa); !e.empty()) return e;
  }
  *out = std::move(w);
  return "";
}

std::string conv2d(const Conv2dParams& p, const Conv2dPacked& w, const float* x, float* y, const Activation& act,
                   TaskRunner* runner, const float* residual) {
  if (w.empty()) return "conv2d: weights are not packed";
  if (x == nullptr || y == nullptr) return "conv2d: missing input or output";
  if (std::string e = p.validate(); !e.empty()) return e;
  if (!same_layer(p, w.params, w.path)) return "conv2d: parameters do not match the packed layer";
  if (w.path == ConvPath::depthwise) {
    depthwise_run(p, w, x, y, act, runner, residual);
    return "";
  }
  const size_t m = p.batch * p.out_h() * p.out_w();
  const size_t ocpg = p.out_c / p.groups;
  // The padded copy costs one pass over the input and lets every kernel row be read in place.
  const bool padded = p.pad_top + p.pad_left + p.pad_bottom + p.pad_right > 0 && w.path == ConvPath::gemm_gather;
  std::vector<float>& xpad = padded_buffer();
  if (padded) pad_input(p, x, &xpad);
  const float* src = padded ? xpad.data() : x;
  const size_t src_h = padded ? p.in_h + p.pad_top + p.pad_bottom : p.in_h;
  const size_t src_w = padded ? p.in_w + p.pad_left + p.pad_right : p.in_w;
  for (size_t g = 0; g < p.groups; ++g) {
    detail::GemmOutput out;
    out.c = y + g * ocpg;
    out.ldc = p.out_c;
    out.bias = w.bias.data() + g * ocpg;
    out.residual = residual ? residual + g * ocpg : nullptr;
    out.ldr = p.out_c;
    out.act = act;
    if (w.path == ConvPath::gemm_1x1) {
      detail::gemm_run(m, detail::MatrixAPacker(x, p.in_c, false), w.group_b[g], out, runner);
    } else {
      detail::gemm_run(m, ConvIndirect(p, src, src_h, src_w, g), w.group_b[g], out, runner);
    }
  }
  return "";
}

}  // namespace kiln::kernels::f32
