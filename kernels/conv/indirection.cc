#include "kiln/kernels/indirection.h"

namespace kiln::kernels {

size_t conv_indirection_size(const ConvShape& s) {
  return static_cast<size_t>(s.batch) * s.out_h() * s.out_w() * s.taps();
}

void build_conv_indirection(const ConvShape& s, const uint8_t* input, size_t pixel_stride, const uint8_t* zero,
                            const uint8_t** buffer) {
  const int32_t oh = s.out_h(), ow = s.out_w();
  size_t at = 0;
  for (int32_t n = 0; n < s.batch; ++n) {
    const uint8_t* image = input + static_cast<size_t>(n) * s.in_h * s.in_w * pixel_stride;
    for (int32_t oy = 0; oy < oh; ++oy) {
      for (int32_t ox = 0; ox < ow; ++ox) {
        for (int32_t ky = 0; ky < s.kernel_h; ++ky) {
          const int32_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
          const bool row_in = iy >= 0 && iy < s.in_h;
          for (int32_t kx = 0; kx < s.kernel_w; ++kx) {
            const int32_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
            buffer[at++] = row_in && ix >= 0 && ix < s.in_w
                               ? image + (static_cast<size_t>(iy) * s.in_w + ix) * pixel_stride
                               : zero;
          }
        }
      }
    }
  }
}

namespace {

size_t pixels(const ConvShape& s) { return static_cast<size_t>(s.batch) * s.out_h() * s.out_w(); }

}  // namespace

size_t igemm_indirection_size(const ConvShape& s, size_t mr) {
  return (pixels(s) + mr - 1) / mr * mr * s.taps();
}

void build_igemm_indirection(const ConvShape& s, const uint8_t* input, size_t pixel_stride, const uint8_t* zero,
                             size_t mr, const uint8_t** buffer) {
  const size_t total = pixels(s), taps = static_cast<size_t>(s.taps());
  const size_t ow = static_cast<size_t>(s.out_w()), oh = static_cast<size_t>(s.out_h());
  const size_t tiles = (total + mr - 1) / mr;
  for (size_t t = 0; t < tiles; ++t) {
    for (size_t m = 0; m < mr; ++m) {
      const size_t px = t * mr + m;
      const uint8_t** dst = buffer + t * taps * mr + m;
      if (px >= total) {
        for (size_t p = 0; p < taps; ++p) dst[p * mr] = zero;
        continue;
      }
      const size_t n = px / (oh * ow), oy = px / ow % oh, ox = px % ow;
      const uint8_t* image = input + n * s.in_h * s.in_w * pixel_stride;
      for (int32_t ky = 0; ky < s.kernel_h; ++ky) {
        const int32_t iy = static_cast<int32_t>(oy) * s.stride_h - s.pad_top + ky * s.dilation_h;
        for (int32_t kx = 0; kx < s.kernel_w; ++kx) {
          const int32_t ix = static_cast<int32_t>(ox) * s.stride_w - s.pad_left + kx * s.dilation_w;
          const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
          dst[(static_cast<size_t>(ky) * s.kernel_w + kx) * mr] =
              inside ? image + (static_cast<size_t>(iy) * s.in_w + ix) * pixel_stride : zero;
        }
      }
    }
  }
}

size_t row_segment_indirection_size(const ConvShape& s, size_t mr) {
  return (pixels(s) + mr - 1) / mr * mr * s.kernel_h;
}

void build_row_segment_indirection(const ConvShape& s, const uint8_t* padded, const uint8_t* zero, size_t mr,
                                   const uint8_t** buffer) {
  const size_t total = pixels(s), kh = static_cast<size_t>(s.kernel_h);
  const size_t ow = static_cast<size_t>(s.out_w()), oh = static_cast<size_t>(s.out_h());
  const size_t ph = static_cast<size_t>(s.in_h + s.pad_top + s.pad_bottom);
  const size_t pw = static_cast<size_t>(s.in_w + s.pad_left + s.pad_right);
  const size_t c = static_cast<size_t>(s.in_c);
  const size_t tiles = (total + mr - 1) / mr;
  for (size_t t = 0; t < tiles; ++t) {
    for (size_t m = 0; m < mr; ++m) {
      const size_t px = t * mr + m;
      const uint8_t** dst = buffer + t * kh * mr + m;
      for (size_t ky = 0; ky < kh; ++ky) {
        if (px >= total) {
          dst[ky * mr] = zero;
          continue;
        }
        const size_t n = px / (oh * ow), oy = px / ow % oh, ox = px % ow;
        dst[ky * mr] = padded + ((n * ph + oy * s.stride_h + ky) * pw + ox * s.stride_w) * c;
      }
    }
  }
}

}  // namespace kiln::kernels
