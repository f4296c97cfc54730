// The geometry of an NHWC integer convolution, shared by the reference, the packers and the drivers.
#pragma once

#include <cstdint>
#include <string>

namespace kiln::kernels {

struct ConvShape {
  int32_t batch = 1;
  int32_t in_h = 0, in_w = 0, in_c = 0;  // input NHWC; in_c is the total over all groups
  int32_t out_c = 0;                     // total over all groups
  int32_t kernel_h = 1, kernel_w = 1;
  int32_t stride_h = 1, stride_w = 1;
  int32_t dilation_h = 1, dilation_w = 1;  // only 1 is supported (conv_shape_error says so)
  int32_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int32_t groups = 1;

  int32_t out_h() const { return (in_h + pad_top + pad_bottom - kernel_h) / stride_h + 1; }
  int32_t out_w() const { return (in_w + pad_left + pad_right - kernel_w) / stride_w + 1; }
  int32_t group_in_c() const { return in_c / groups; }
  int32_t group_out_c() const { return out_c / groups; }
  int32_t taps() const { return kernel_h * kernel_w; }
  // One input and one output channel per group.
  bool is_depthwise() const { return groups == in_c && groups == out_c; }
  bool operator==(const ConvShape&) const = default;
};

// Empty when kiln can run the shape; otherwise what is wrong with it, in words.
std::string conv_shape_error(const ConvShape& s);

}  // namespace kiln::kernels
