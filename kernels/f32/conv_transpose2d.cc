// ConvTranspose on NHWC: a GEMM from input pixels to (kh, kw, oc) columns, then a gather over the
// output rows (each output row collects the columns that land on it: no write conflicts between
// threads, a fixed summation order).
#include <cstring>
#include <vector>

#include "f32/gemm_driver.h"
#include "kiln/kernels/f32/conv.h"

namespace kiln::kernels::f32 {
namespace {

size_t deconv_out(size_t in, size_t stride, size_t out_pad, size_t kernel, size_t dilation, size_t pad_sum) {
  if (in == 0 || stride == 0 || kernel == 0 || dilation == 0) return 0;
  const size_t full = stride * (in - 1) + out_pad + (kernel - 1) * dilation + 1;
  return full > pad_sum ? full - pad_sum : 0;
}

bool same_layer(const ConvTranspose2dParams& a, const ConvTranspose2dParams& b) {
  return a.in_c == b.in_c && a.out_c == b.out_c && a.groups == b.groups && a.kernel_h == b.kernel_h &&
         a.kernel_w == b.kernel_w && a.stride_h == b.stride_h && a.stride_w == b.stride_w &&
         a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w && a.pad_top == b.pad_top &&
         a.pad_left == b.pad_left && a.pad_bottom == b.pad_bottom && a.pad_right == b.pad_right &&
         a.output_padding_h == b.output_padding_h && a.output_padding_w == b.output_padding_w;
}

}  // namespace

size_t ConvTranspose2dParams::out_h() const {
  return deconv_out(in_h, stride_h, output_padding_h, kernel_h, dilation_h, pad_top + pad_bottom);
}
size_t ConvTranspose2dParams::out_w() const {
  return deconv_out(in_w, stride_w, output_padding_w, kernel_w, dilation_w, pad_left + pad_right);
}

std::string ConvTranspose2dParams::validate() const {
  if (batch == 0 || in_h == 0 || in_w == 0 || in_c == 0 || out_c == 0) return "conv_transpose2d: empty input or output";
  if (groups == 0 || in_c % groups != 0 || out_c % groups != 0)
    return "conv_transpose2d: groups must divide the input and output channels";
  if (kernel_h == 0 || kernel_w == 0) return "conv_transpose2d: empty kernel";
  if (stride_h == 0 || stride_w == 0 || dilation_h == 0 || dilation_w == 0)
    return "conv_transpose2d: strides and dilations must be positive";
  if ((output_padding_h >= stride_h && output_padding_h >= dilation_h) ||
      (output_padding_w >= stride_w && output_padding_w >= dilation_w))
    return "conv_transpose2d: output_padding must be smaller than the stride or the dilation";
  if (out_h() == 0 || out_w() == 0) return "conv_transpose2d: the pads remove the whole output";
  return "";
}

std::string conv_transpose2d_pack(const ConvTranspose2dParams& p, const float* weight, const float* bias,
                                  ConvTranspose2dPacked* out, Isa isa) {
  if (out == nullptr || weight == nullptr) return "conv_transpose2d_pack: missing weights or output";
  if (std::string e = p.validate(); !e.empty()) return e;
  ConvTranspose2dPacked w;
  w.params = p;
  w.isa = detail::kernels_for(isa).isa;
  w.bias.assign(p.out_c, 0.0f);
  if (bias) std::memcpy(w.bias.data(), bias, p.out_c * sizeof(float));
  const size_t taps = p.kernel_h * p.kernel_w;
  const size_t icpg = p.in_c / p.groups, ocpg = p.out_c / p.groups, N = taps * ocpg;
  std::vector<float> kn(icpg * N);  // B: [ic][(kh, kw, oc)]
  w.group_b.resize(p.groups);
  for (size_t g = 0; g < p.groups; ++g) {
    for (size_t c = 0; c < icpg; ++c) {
      for (size_t o = 0; o < ocpg; ++o) {
        const float* src = weight + ((g * icpg + c) * ocpg + o) * taps;  // [in_c, ocpg, kh, kw]
        for (size_t t = 0; t < taps; ++t) kn[c * N + t * ocpg + o] = src[t];
      }
    }
    if (std::string e = sgemm_pack_b(icpg, N, kn.data(), N, false, &w.group_b[g], w.isa); !e.empty()) return e;
  }
  *out = std::move(w);
  return "";
}

std::string conv_transpose2d(const ConvTranspose2dParams& p, const ConvTranspose2dPacked& w, const float* x, float* y,
                             const Activation& act, TaskRunner* runner) {
  if (w.empty()) return "conv_transpose2d: weights are not packed";
  if (x == nullptr || y == nullptr) return "conv_transpose2d: missing input or output";
  if (std::string e = p.validate(); !e.empty()) return e;
  if (!same_layer(p, w.params)) return "conv_transpose2d: parameters do not match the packed layer";
  const detail::F32Kernels& kern = detail::kernels_for(w.isa);
  const size_t taps = p.kernel_h * p.kernel_w;
  const size_t icpg = p.in_c / p.groups, ocpg = p.out_c / p.groups, ng = taps * ocpg, ldcol = p.groups * ng;
  const size_t m = p.batch * p.in_h * p.in_w;
  std::vector<float> cols(m * ldcol);
  for (size_t g = 0; g < p.groups; ++g) {
    detail::GemmOutput out;
    out.c = cols.data() + g * ng;
    out.ldc = ldcol;
    detail::gemm_run(m, detail::MatrixAPacker(x + g * icpg, p.in_c, false), w.group_b[g], out, runner);
  }
  const size_t oh = p.out_h(), ow = p.out_w();
  parallel_for(runner, p.batch * oh, [&](size_t row) {
    const size_t b = row / oh, r = row % oh;
    float* yrow = y + row * ow * p.out_c;
    for (size_t o = 0; o < ow; ++o) std::memcpy(yrow + o * p.out_c, w.bias.data(), p.out_c * sizeof(float));
    for (size_t kh = 0; kh < p.kernel_h; ++kh) {
      const long th = static_cast<long>(r + p.pad_top) - static_cast<long>(kh * p.dilation_h);
      if (th < 0 || th % static_cast<long>(p.stride_h) != 0) continue;
      const size_t ih = static_cast<size_t>(th) / p.stride_h;
      if (ih >= p.in_h) continue;
      for (size_t o = 0; o < ow; ++o) {
        for (size_t kw = 0; kw < p.kernel_w; ++kw) {
          const long tw = static_cast<long>(o + p.pad_left) - static_cast<long>(kw * p.dilation_w);
          if (tw < 0 || tw % static_cast<long>(p.stride_w) != 0) continue;
          const size_t iw = static_cast<size_t>(tw) / p.stride_w;
          if (iw >= p.in_w) continue;
          const float* src = cols.data() + ((b * p.in_h + ih) * p.in_w + iw) * ldcol + (kh * p.kernel_w + kw) * ocpg;
          float* dst = yrow + o * p.out_c;
          for (size_t g = 0; g < p.groups; ++g) kern.binary(BinaryOp::add, dst + g * ocpg, src + g * ng, dst + g * ocpg, ocpg);
        }
      }
    }
    if (act.op != UnaryOp::identity) kern.unary(act, yrow, yrow, ow * p.out_c);
  });
  return "";
}

}  // namespace kiln::kernels::f32
