// Quantized pooling drivers (pool.h): windows as the fp32 pooling computes them, rows of channels
// handled by the per-ISA primitives (max_taps, sum_row, avg_finish).
#include "kiln/kernels/q/pool.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "q/q_variants.h"

namespace kiln::kernels::q {
namespace {

std::string check_out(const QOut& o) {
  if (o.qmin < 0 || o.qmax > 255 || o.qmin > o.qmax) return "qmin/qmax must satisfy 0 <= qmin <= qmax <= 255";
  if (o.zero_point < 0 || o.zero_point > 255) return "zero point out of [0, 255]";
  return "";
}

// Runs body(b, output_row, flat_row) over every output row, spread over the runner.
template <class Body>
void for_each_row(const f32::Pool2dParams& p, TaskRunner* runner, Body&& body) {
  const size_t oh = p.out_h();
  parallel_for(runner, p.batch * oh, [&](size_t row) { body(row / oh, row % oh, row); });
}

}  // namespace

std::string max_pool(Isa isa, const f32::Pool2dParams& p, const uint8_t* x, uint8_t* y, TaskRunner* runner) {
  if (std::string e = p.validate(); !e.empty()) return e;
  if (x == nullptr || y == nullptr) return "max_pool: missing input or output";
  const detail::Variant& v = detail::variant_for(isa);
  const size_t ow = p.out_w(), C = p.channels;
  for_each_row(p, runner, [&](size_t b, size_t r, size_t row) {
    // The window's in-image taps, then one call per output pixel (the max stays in registers).
    thread_local std::vector<const uint8_t*> taps;
    taps.resize(p.kernel_h * p.kernel_w);
    const uint8_t* image = x + b * p.in_h * p.in_w * C;
    const long ih0 = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
    for (size_t o = 0; o < ow; ++o) {
      uint8_t* dst = y + (row * ow + o) * C;
      const long iw0 = static_cast<long>(o * p.stride_w) - static_cast<long>(p.pad_left);
      size_t n = 0;
      for (size_t kh = 0; kh < p.kernel_h; ++kh) {
        const long ih = ih0 + static_cast<long>(kh * p.dilation_h);
        if (ih < 0 || ih >= static_cast<long>(p.in_h)) continue;
        for (size_t kw = 0; kw < p.kernel_w; ++kw) {
          const long iw = iw0 + static_cast<long>(kw * p.dilation_w);
          if (iw < 0 || iw >= static_cast<long>(p.in_w)) continue;
          taps[n++] = image + (static_cast<size_t>(ih) * p.in_w + static_cast<size_t>(iw)) * C;
        }
      }
      if (n == 0) {
        std::memset(dst, 0, C);  // a window wholly in the padding: the lowest code
      } else {
        v.max_taps(dst, taps.data(), n, C);
      }
    }
  });
  return "";
}

std::string avg_pool(Isa isa, const f32::Pool2dParams& p, const uint8_t* x, uint8_t* y, int32_t zero_point_in,
                     float multiplier, const QOut& o, TaskRunner* runner) {
  if (std::string e = p.validate(); !e.empty()) return e;
  if (std::string e = check_out(o); !e.empty()) return e;
  if (p.dilation_h != 1 || p.dilation_w != 1) return "avg_pool: dilations are not supported";
  if (x == nullptr || y == nullptr) return "avg_pool: missing input or output";
  const detail::Variant& v = detail::variant_for(isa);
  const size_t ow = p.out_w(), C = p.channels;
  const long in_h = static_cast<long>(p.in_h), in_w = static_cast<long>(p.in_w);
  for_each_row(p, runner, [&](size_t b, size_t r, size_t row) {
    std::vector<int32_t> sum(C);
    const uint8_t* image = x + b * p.in_h * p.in_w * C;
    const long hs = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
    long he = hs + static_cast<long>(p.kernel_h);
    const long padded_he = std::min(he, in_h + static_cast<long>(p.pad_bottom));
    const long h0 = std::max(hs, 0L);
    he = std::min(he, in_h);
    for (size_t ox = 0; ox < ow; ++ox) {
      const long ws = static_cast<long>(ox * p.stride_w) - static_cast<long>(p.pad_left);
      long we = ws + static_cast<long>(p.kernel_w);
      const long padded_we = std::min(we, in_w + static_cast<long>(p.pad_right));
      const long w0 = std::max(ws, 0L);
      we = std::min(we, in_w);
      std::fill(sum.begin(), sum.end(), 0);
      for (long ih = h0; ih < he; ++ih) {
        for (long iw = w0; iw < we; ++iw) {
          v.sum_row(sum.data(), image + (static_cast<size_t>(ih) * p.in_w + static_cast<size_t>(iw)) * C, C);
        }
      }
      // Padding holds code zi, i.e. 0 relative to the zero point: only real taps subtract zi.
      const long taps = std::max(he - h0, 0L) * std::max(we - w0, 0L);
      long count = p.count_include_pad ? (padded_he - hs) * (padded_we - ws) : taps;
      if (count < 1) count = 1;
      const float wm = q_avg_multiplier(multiplier, static_cast<int32_t>(count));
      v.avg_finish(sum.data(), y + (row * ow + ox) * C, C, static_cast<int32_t>(taps) * zero_point_in, wm, o);
    }
  });
  return "";
}

std::string global_avg_pool(Isa isa, const uint8_t* x, uint8_t* y, size_t batch, size_t hw, size_t channels,
                            int32_t zero_point_in, float multiplier, const QOut& o, TaskRunner* runner) {
  if (std::string e = check_out(o); !e.empty()) return e;
  if (hw == 0 || hw > (size_t{1} << 23)) return "global_avg_pool: bad spatial size";
  if (x == nullptr || y == nullptr) return "global_avg_pool: missing input or output";
  const detail::Variant& v = detail::variant_for(isa);
  const float wm = q_avg_multiplier(multiplier, static_cast<int32_t>(hw));
  const int32_t sub = static_cast<int32_t>(hw) * zero_point_in;
  // Tasks: (image, block of 256 channels).
  const size_t cb = 256, blocks = (channels + cb - 1) / cb;
  parallel_for(runner, batch * blocks, [&](size_t t) {
    const size_t b = t / blocks, c0 = (t % blocks) * cb, nc = std::min(cb, channels - c0);
    int32_t sum[256] = {};
    const uint8_t* image = x + b * hw * channels + c0;
    for (size_t i = 0; i < hw; ++i) v.sum_row(sum, image + i * channels, nc);
    v.avg_finish(sum, y + b * channels + c0, nc, sub, wm, o);
  });
  return "";
}

}  // namespace kiln::kernels::q
