// ONNX Resize (and Upsample) on NHWC tensors: nearest and linear (bilinear) over H and W.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {

enum class ResizeMode { nearest, linear };
enum class ResizeCoord { half_pixel, asymmetric, align_corners, pytorch_half_pixel, tf_half_pixel_for_nn };
enum class ResizeNearest { round_prefer_floor, round_prefer_ceil, floor, ceil };

struct Resize2dParams {
  size_t batch = 1;
  size_t in_h = 0, in_w = 0, channels = 0;
  size_t out_h = 0, out_w = 0;
  // The scales used by the coordinate transform. ONNX uses the given `scales` input when there is
  // one and out / in when `sizes` is given; <= 0 here means out / in.
  float scale_h = 0.0f, scale_w = 0.0f;
  ResizeMode mode = ResizeMode::nearest;
  ResizeCoord coord = ResizeCoord::half_pixel;
  ResizeNearest nearest = ResizeNearest::round_prefer_floor;

  std::string validate() const;
};

// Linear mode clamps source coordinates into the input (ONNX / onnxruntime behaviour).
std::string resize2d(const Resize2dParams& p, const float* x, float* y, const Exec& exec = {});

}  // namespace kiln::kernels::f32
