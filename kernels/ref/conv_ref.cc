#include "kiln/kernels/conv_ref.h"

#include <cstddef>

namespace kiln::kernels {

std::string conv_ref(const ConvShape& s, const uint8_t* input, int32_t input_zero_point, const int8_t* weights,
                     const int32_t* bias, const RequantParams& p, uint8_t* output) {
  std::string error = conv_shape_error(s);
  if (!error.empty()) return error;
  const int32_t oh = s.out_h(), ow = s.out_w();
  const int32_t gic = s.group_in_c(), goc = s.group_out_c();
  for (int32_t n = 0; n < s.batch; ++n) {
    for (int32_t oy = 0; oy < oh; ++oy) {
      for (int32_t ox = 0; ox < ow; ++ox) {
        const size_t pixel = (static_cast<size_t>(n) * oh + oy) * ow + ox;
        for (int32_t c = 0; c < s.out_c; ++c) {
          const int32_t g = c / goc;
          // The sum wraps modulo 2^32 like the kernels' int32 adds (a huge bias must not be UB).
          uint32_t acc = static_cast<uint32_t>(bias[c]);
          for (int32_t ky = 0; ky < s.kernel_h; ++ky) {
            const int32_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            if (iy < 0 || iy >= s.in_h) continue;
            for (int32_t kx = 0; kx < s.kernel_w; ++kx) {
              const int32_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (ix < 0 || ix >= s.in_w) continue;
              const uint8_t* a = input + ((static_cast<size_t>(n) * s.in_h + iy) * s.in_w + ix) * s.in_c + g * gic;
              const int8_t* w = weights + ((static_cast<size_t>(c) * s.kernel_h + ky) * s.kernel_w + kx) * gic;
              for (int32_t i = 0; i < gic; ++i) {
                acc += static_cast<uint32_t>((static_cast<int32_t>(a[i]) - input_zero_point) * w[i]);
              }
            }
          }
          const uint8_t r = p.residual != nullptr ? p.residual[pixel * p.residual_stride + c] : uint8_t{0};
          output[pixel * s.out_c + c] = requantize(static_cast<int32_t>(acc), p.multiplier[c], r, p);
        }
      }
    }
  }
  return {};
}

}  // namespace kiln::kernels
