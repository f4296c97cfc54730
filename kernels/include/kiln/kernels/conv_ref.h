// The reference convolution: plain loops over NHWC, the definition every conv kernel is tested against.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/kernels/conv_shape.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels {

// output[n][oy][ox][c] = requantize(sum over taps and the group's input channels of
//                                   (a - input_zero_point) * w + bias[c], ...)
// where a out of the image (padding) equals input_zero_point, i.e. contributes nothing.
//   input    uint8 NHWC, dense (pixel stride in_c)
//   weights  int8 OHWI: [out_c][kernel_h][kernel_w][in_c / groups]; int8 or int4 values
//   bias     int32 per output channel, in accumulator units (zero point not folded in)
//   output   uint8 NHWC, dense (pixel stride out_c)
//   p        the epilogue; p.residual, when set, is indexed [pixel * p.residual_stride + c]
// Returns an empty string, or why the shape is unsupported (dilation, sizes).
std::string conv_ref(const ConvShape& shape, const uint8_t* input, int32_t input_zero_point, const int8_t* weights,
                     const int32_t* bias, const RequantParams& p, uint8_t* output);

}  // namespace kiln::kernels
