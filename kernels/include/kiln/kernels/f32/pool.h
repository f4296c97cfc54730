// fp32 pooling on NHWC tensors ([batch, h, w, channels]).
#pragma once

#include <cstddef>
#include <string>

#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {

struct Pool2dParams {
  size_t batch = 1;
  size_t in_h = 0, in_w = 0, channels = 0;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;  // MaxPool only
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool ceil_mode = false;          // output size rounds up; a window starting in the end padding is dropped
  bool count_include_pad = false;  // AveragePool: divide by the window clipped to the padded input

  size_t out_h() const;
  size_t out_w() const;
  std::string validate() const;
};

// Padding never wins a max: a window that only covers padding yields -inf (cannot happen with
// valid ONNX pads, which are smaller than the kernel).
std::string max_pool2d(const Pool2dParams& p, const float* x, float* y, const Exec& exec = {});
// ONNX AveragePool (dilations must be 1).
std::string avg_pool2d(const Pool2dParams& p, const float* x, float* y, const Exec& exec = {});
// y[b, c] = mean over h, w of x[b, h, w, c]  (GlobalAveragePool, NHWC; y is [batch, 1, 1, channels]).
void global_avg_pool(const float* x, float* y, size_t batch, size_t hw, size_t channels, const Exec& exec = {});

}  // namespace kiln::kernels::f32
