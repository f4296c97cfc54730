// fp32 2-D convolution and transposed convolution on NHWC tensors, with bias, an optional residual
// added before the activation, and a fused activation. Weights are packed once per layer from
// ONNX's layouts; batch and spatial sizes may change between calls (symbolic batch).
//
// Paths (chosen by conv2d_pack from the shape): depthwise (groups == in_c == out_c, any kernel,
// vectorised over channels), 1x1 stride-1 unpadded as a plain GEMM, and everything else (k x k,
// strided, dilated, grouped) as an indirect GEMM: the micro-kernel reads the input in place through
// row pointers (into the input, or into a zero-padded copy when the layer has pads); no im2col
// buffer. With one group, the taps of a kernel row are one contiguous run of kernel_w * in_c floats.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/kernels/f32/common.h"
#include "kiln/kernels/f32/gemm.h"

namespace kiln::kernels::f32 {

struct Conv2dParams {
  size_t batch = 1;
  size_t in_h = 0, in_w = 0, in_c = 0;  // input is [batch, in_h, in_w, in_c]
  size_t out_c = 0;                     // output is [batch, out_h(), out_w(), out_c]
  size_t groups = 1;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  size_t out_h() const;  // 0 when the kernel does not fit
  size_t out_w() const;
  // "" when the parameters describe a valid convolution, otherwise what is wrong.
  std::string validate() const;
};

enum class ConvPath { gemm_1x1, gemm_gather, depthwise };

// Weights and bias packed for one layer (out_c, in_c, groups, kernel, strides, pads, dilation are
// fixed; batch, in_h and in_w are read from the Conv2dParams given to conv2d). Treat as opaque.
struct Conv2dPacked {
  Conv2dParams params;
  ConvPath path = ConvPath::gemm_gather;
  Isa isa = Isa::ref;
  std::vector<SgemmPackedB> group_b;  // gemm paths: per group, B = [K = kh*kw*ic_per_group, N = oc_per_group]
  std::vector<float> dw_weights;      // depthwise: [kh, kw, channels]
  std::vector<float> bias;            // out_c elements (zeros when the layer has none)
  bool empty() const { return bias.empty(); }
};

// Packs ONNX Conv weights [out_c, in_c / groups, kernel_h, kernel_w] (OIHW) and an optional bias
// [out_c] for `isa`. Returns "" or an error (invalid shape).
std::string conv2d_pack(const Conv2dParams& p, const float* weight_oihw, const float* bias, Conv2dPacked* out,
                        Isa isa = default_isa());

// y = act(conv(x) + bias + residual). x: [batch, in_h, in_w, in_c]; y and residual (may be null):
// [batch, out_h, out_w, out_c]. `p` must match the packed layer except for batch, in_h and in_w.
// y must not alias x; it may alias residual. Returns "" or an error.
std::string conv2d(const Conv2dParams& p, const Conv2dPacked& w, const float* x, float* y, const Activation& act = {},
                   TaskRunner* runner = nullptr, const float* residual = nullptr);

// ONNX ConvTranspose on NHWC. out = stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1
// - pad_begin - pad_end (the explicit-pads form; the caller resolves output_shape / auto_pad).
struct ConvTranspose2dParams {
  size_t batch = 1;
  size_t in_h = 0, in_w = 0, in_c = 0;
  size_t out_c = 0;
  size_t groups = 1;
  size_t kernel_h = 1, kernel_w = 1;
  size_t stride_h = 1, stride_w = 1;
  size_t dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  size_t output_padding_h = 0, output_padding_w = 0;

  size_t out_h() const;  // 0 when the result would be empty
  size_t out_w() const;
  std::string validate() const;
};

struct ConvTranspose2dPacked {
  ConvTranspose2dParams params;
  Isa isa = Isa::ref;
  std::vector<SgemmPackedB> group_b;  // per group, B = [K = ic_per_group, N = kh*kw*oc_per_group]
  std::vector<float> bias;            // out_c
  bool empty() const { return bias.empty(); }
};

// Packs ONNX ConvTranspose weights [in_c, out_c / groups, kernel_h, kernel_w] and an optional bias.
std::string conv_transpose2d_pack(const ConvTranspose2dParams& p, const float* weight, const float* bias,
                                  ConvTranspose2dPacked* out, Isa isa = default_isa());

// y = act(conv_transpose(x) + bias). NHWC in and out; returns "" or an error.
std::string conv_transpose2d(const ConvTranspose2dParams& p, const ConvTranspose2dPacked& w, const float* x, float* y,
                             const Activation& act = {}, TaskRunner* runner = nullptr);

}  // namespace kiln::kernels::f32
