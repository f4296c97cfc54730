// Max / average / global-average pooling on NHWC. Portable code: the channel loops are contiguous
// and simple enough for the compiler to vectorise at the baseline ISA.
#include <limits>
#include <vector>

#include "kiln/kernels/f32/pool.h"

namespace kiln::kernels::f32 {
namespace {

size_t pool_out(size_t in, size_t pad_begin, size_t pad_end, size_t kernel, size_t dilation, size_t stride, bool ceil_mode) {
  if (kernel == 0 || dilation == 0 || stride == 0) return 0;
  const size_t eff = (kernel - 1) * dilation + 1;
  if (in + pad_begin + pad_end < eff) return 0;
  const size_t span = in + pad_begin + pad_end - eff;
  size_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch / onnxruntime: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

template <class Body>
void for_each_output_row(const Pool2dParams& p, const Exec& exec, Body&& body) {
  const size_t oh = p.out_h();
  parallel_for(exec.runner, p.batch * oh, [&](size_t row) { body(row / oh, row % oh, row); });
}

}  // namespace

size_t Pool2dParams::out_h() const {
  return pool_out(in_h, pad_top, pad_bottom, kernel_h, dilation_h, stride_h, ceil_mode);
}
size_t Pool2dParams::out_w() const {
  return pool_out(in_w, pad_left, pad_right, kernel_w, dilation_w, stride_w, ceil_mode);
}

std::string Pool2dParams::validate() const {
  if (batch == 0 || in_h == 0 || in_w == 0 || channels == 0) return "pool2d: empty input";
  if (kernel_h == 0 || kernel_w == 0) return "pool2d: empty kernel";
  if (stride_h == 0 || stride_w == 0 || dilation_h == 0 || dilation_w == 0)
    return "pool2d: strides and dilations must be positive";
  if (pad_top >= kernel_h * dilation_h || pad_bottom >= kernel_h * dilation_h || pad_left >= kernel_w * dilation_w ||
      pad_right >= kernel_w * dilation_w)
    return "pool2d: pads must be smaller than the kernel";
  if (out_h() == 0 || out_w() == 0) return "pool2d: the kernel is larger than the padded input";
  return "";
}

std::string max_pool2d(const Pool2dParams& p, const float* x, float* y, const Exec& exec) {
  if (std::string e = p.validate(); !e.empty()) return e;
  if (x == nullptr || y == nullptr) return "max_pool2d: missing input or output";
  const size_t ow = p.out_w(), C = p.channels;
  for_each_output_row(p, exec, [&](size_t b, size_t r, size_t row) {
    const float* image = x + b * p.in_h * p.in_w * C;
    const long ih0 = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
    for (size_t o = 0; o < ow; ++o) {
      float* dst = y + (row * ow + o) * C;
      for (size_t c = 0; c < C; ++c) dst[c] = -std::numeric_limits<float>::infinity();
      const long iw0 = static_cast<long>(o * p.stride_w) - static_cast<long>(p.pad_left);
      for (size_t kh = 0; kh < p.kernel_h; ++kh) {
        const long ih = ih0 + static_cast<long>(kh * p.dilation_h);
        if (ih < 0 || ih >= static_cast<long>(p.in_h)) continue;
        for (size_t kw = 0; kw < p.kernel_w; ++kw) {
          const long iw = iw0 + static_cast<long>(kw * p.dilation_w);
          if (iw < 0 || iw >= static_cast<long>(p.in_w)) continue;
          const float* src = image + (static_cast<size_t>(ih) * p.in_w + static_cast<size_t>(iw)) * C;
          for (size_t c = 0; c < C; ++c) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
        }
      }
    }
  });
  return "";
}

std::string avg_pool2d(const Pool2dParams& p, const float* x, float* y, const Exec& exec) {
  if (std::string e = p.validate(); !e.empty()) return e;
  if (p.dilation_h != 1 || p.dilation_w != 1) return "avg_pool2d: dilations are not supported";
  if (x == nullptr || y == nullptr) return "avg_pool2d: missing input or output";
  const size_t ow = p.out_w(), C = p.channels;
  const long in_h = static_cast<long>(p.in_h), in_w = static_cast<long>(p.in_w);
  for_each_output_row(p, exec, [&](size_t b, size_t r, size_t row) {
    const float* image = x + b * p.in_h * p.in_w * C;
    const long hs = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
    long he = hs + static_cast<long>(p.kernel_h);
    const long padded_he = he < in_h + static_cast<long>(p.pad_bottom) ? he : in_h + static_cast<long>(p.pad_bottom);
    const long h0 = hs < 0 ? 0 : hs;
    he = he < in_h ? he : in_h;
    for (size_t o = 0; o < ow; ++o) {
      float* dst = y + (row * ow + o) * C;
      const long ws = static_cast<long>(o * p.stride_w) - static_cast<long>(p.pad_left);
      long we = ws + static_cast<long>(p.kernel_w);
      const long padded_we = we < in_w + static_cast<long>(p.pad_right) ? we : in_w + static_cast<long>(p.pad_right);
      const long w0 = ws < 0 ? 0 : ws;
      we = we < in_w ? we : in_w;
      for (size_t c = 0; c < C; ++c) dst[c] = 0.0f;
      for (long ih = h0; ih < he; ++ih) {
        for (long iw = w0; iw < we; ++iw) {
          const float* src = image + (static_cast<size_t>(ih) * p.in_w + static_cast<size_t>(iw)) * C;
          for (size_t c = 0; c < C; ++c) dst[c] += src[c];
        }
      }
      const long count = p.count_include_pad ? (padded_he - hs) * (padded_we - ws) : (he - h0) * (we - w0);
      const float scale = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
      for (size_t c = 0; c < C; ++c) dst[c] *= scale;
    }
  });
  return "";
}

void global_avg_pool(const float* x, float* y, size_t batch, size_t hw, size_t channels, const Exec& exec) {
  parallel_for(exec.runner, batch, [&](size_t b) {
    const float* image = x + b * hw * channels;
    float* dst = y + b * channels;
    for (size_t c = 0; c < channels; ++c) dst[c] = 0.0f;
    for (size_t i = 0; i < hw; ++i) {
      for (size_t c = 0; c < channels; ++c) dst[c] += image[i * channels + c];
    }
    const float scale = hw == 0 ? 0.0f : 1.0f / static_cast<float>(hw);
    for (size_t c = 0; c < channels; ++c) dst[c] *= scale;
  });
}

}  // namespace kiln::kernels::f32
