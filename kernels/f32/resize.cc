// ONNX Resize on NHWC, nearest and linear. Source coordinates are computed once per output row and
// column; the channel loops are contiguous.
#include <cmath>
#include <vector>

#include "kiln/kernels/f32/resize.h"

namespace kiln::kernels::f32 {
namespace {

float source_coord(ResizeCoord mode, size_t out_x, float scale, size_t in_len, size_t out_len) {
  const float x = static_cast<float>(out_x);
  switch (mode) {
    case ResizeCoord::half_pixel: return (x + 0.5f) / scale - 0.5f;
    case ResizeCoord::pytorch_half_pixel: return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case ResizeCoord::align_corners:
      return out_len > 1 ? x * static_cast<float>(in_len - 1) / static_cast<float>(out_len - 1) : 0.0f;
    case ResizeCoord::asymmetric: return x / scale;
    case ResizeCoord::tf_half_pixel_for_nn: return (x + 0.5f) / scale;
  }
  return x;
}

size_t nearest_index(ResizeNearest mode, float c, size_t in_len) {
  float r = 0.0f;
  switch (mode) {
    case ResizeNearest::round_prefer_floor: r = c - std::floor(c) == 0.5f ? std::floor(c) : std::round(c); break;
    case ResizeNearest::round_prefer_ceil: r = c - std::floor(c) == 0.5f ? std::ceil(c) : std::round(c); break;
    case ResizeNearest::floor: r = std::floor(c); break;
    case ResizeNearest::ceil: r = std::ceil(c); break;
  }
  if (!(r >= 0.0f)) return 0;
  const size_t i = static_cast<size_t>(r);
  return i < in_len ? i : in_len - 1;
}

struct Tap {
  size_t i0, i1;
  float w1;  // weight of i1; i0 gets 1 - w1
};

Tap linear_tap(float c, size_t in_len) {
  const float hi = static_cast<float>(in_len - 1);
  c = c < 0.0f ? 0.0f : (c > hi ? hi : c);
  const size_t i0 = static_cast<size_t>(c);
  const size_t i1 = i0 + 1 < in_len ? i0 + 1 : in_len - 1;
  return {i0, i1, c - static_cast<float>(i0)};
}

}  // namespace

std::string Resize2dParams::validate() const {
  if (batch == 0 || in_h == 0 || in_w == 0 || channels == 0 || out_h == 0 || out_w == 0)
    return "resize2d: empty input or output";
  if (!(scale_h <= 0.0f || std::isfinite(scale_h)) || !(scale_w <= 0.0f || std::isfinite(scale_w)))
    return "resize2d: scales must be finite";
  return "";
}

std::string resize2d(const Resize2dParams& p, const float* x, float* y, const Exec& exec) {
  if (std::string e = p.validate(); !e.empty()) return e;
  if (x == nullptr || y == nullptr) return "resize2d: missing input or output";
  const float sh = p.scale_h > 0.0f ? p.scale_h : static_cast<float>(p.out_h) / static_cast<float>(p.in_h);
  const float sw = p.scale_w > 0.0f ? p.scale_w : static_cast<float>(p.out_w) / static_cast<float>(p.in_w);
  const size_t C = p.channels;
  if (p.mode == ResizeMode::nearest) {
    std::vector<size_t> cols(p.out_w);
    for (size_t o = 0; o < p.out_w; ++o)
      cols[o] = nearest_index(p.nearest, source_coord(p.coord, o, sw, p.in_w, p.out_w), p.in_w);
    parallel_for(exec.runner, p.batch * p.out_h, [&](size_t row) {
      const size_t b = row / p.out_h, r = row % p.out_h;
      const size_t ih = nearest_index(p.nearest, source_coord(p.coord, r, sh, p.in_h, p.out_h), p.in_h);
      const float* src_row = x + (b * p.in_h + ih) * p.in_w * C;
      float* dst = y + row * p.out_w * C;
      for (size_t o = 0; o < p.out_w; ++o) {
        const float* src = src_row + cols[o] * C;
        for (size_t c = 0; c < C; ++c) dst[o * C + c] = src[c];
      }
    });
    return "";
  }
  const ResizeCoord coord = p.coord == ResizeCoord::tf_half_pixel_for_nn ? ResizeCoord::half_pixel : p.coord;
  std::vector<Tap> cols(p.out_w);
  for (size_t o = 0; o < p.out_w; ++o) cols[o] = linear_tap(source_coord(coord, o, sw, p.in_w, p.out_w), p.in_w);
  parallel_for(exec.runner, p.batch * p.out_h, [&](size_t row) {
    const size_t b = row / p.out_h, r = row % p.out_h;
    const Tap th = linear_tap(source_coord(coord, r, sh, p.in_h, p.out_h), p.in_h);
    const float* r0 = x + (b * p.in_h + th.i0) * p.in_w * C;
    const float* r1 = x + (b * p.in_h + th.i1) * p.in_w * C;
    float* dst = y + row * p.out_w * C;
    const float wh1 = th.w1, wh0 = 1.0f - th.w1;
    for (size_t o = 0; o < p.out_w; ++o) {
      const Tap tw = cols[o];
      const float ww1 = tw.w1, ww0 = 1.0f - tw.w1;
      const float* a = r0 + tw.i0 * C;
      const float* bb = r0 + tw.i1 * C;
      const float* c0 = r1 + tw.i0 * C;
      const float* d = r1 + tw.i1 * C;
      for (size_t c = 0; c < C; ++c) {
        const float top = a[c] * ww0 + bb[c] * ww1;
        const float bottom = c0[c] * ww0 + d[c] * ww1;
        dst[o * C + c] = top * wh0 + bottom * wh1;
      }
    }
  });
  return "";
}

}  // namespace kiln::kernels::f32
