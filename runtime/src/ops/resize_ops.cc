// Resize (and Upsample, mapped onto it by the importer): nearest and linear over H and W of a 4-D
// NHWC tensor. Inputs: X, roi (ignored unless tf_crop_and_resize, which is unsupported), scales, sizes.
#include <cmath>

#include "kiln/kernels/f32/resize.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

std::string resize_params(const Node& n, const Shape& x, const Tensor* scales, const Tensor* sizes,
                          f32::Resize2dParams* p) {
  if (x.size() != 4) return "only 4-D inputs are supported";
  const std::string mode = n.get_string("mode", "nearest");
  if (mode == "nearest") p->mode = f32::ResizeMode::nearest;
  else if (mode == "linear" || mode == "bilinear") p->mode = f32::ResizeMode::linear;
  else return "unsupported mode '" + mode + "'";
  const std::string ct = n.get_string("coordinate_transformation_mode", "half_pixel");
  if (ct == "half_pixel") p->coord = f32::ResizeCoord::half_pixel;
  else if (ct == "asymmetric") p->coord = f32::ResizeCoord::asymmetric;
  else if (ct == "align_corners") p->coord = f32::ResizeCoord::align_corners;
  else if (ct == "pytorch_half_pixel") p->coord = f32::ResizeCoord::pytorch_half_pixel;
  else if (ct == "tf_half_pixel_for_nn") p->coord = f32::ResizeCoord::tf_half_pixel_for_nn;
  else return "unsupported coordinate_transformation_mode '" + ct + "'";
  const std::string nm = n.get_string("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") p->nearest = f32::ResizeNearest::round_prefer_floor;
  else if (nm == "round_prefer_ceil") p->nearest = f32::ResizeNearest::round_prefer_ceil;
  else if (nm == "floor") p->nearest = f32::ResizeNearest::floor;
  else if (nm == "ceil") p->nearest = f32::ResizeNearest::ceil;
  else return "unsupported nearest_mode '" + nm + "'";
  if (n.get_int("antialias", 0)) return "antialias is not supported";
  if (n.has("axes")) return "the axes attribute is not supported";
  const std::string policy = n.get_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch") return "keep_aspect_ratio_policy '" + policy + "' is not supported";
  p->batch = static_cast<size_t>(x[0]);
  p->channels = static_cast<size_t>(x[1]);
  p->in_h = static_cast<size_t>(x[2]);
  p->in_w = static_cast<size_t>(x[3]);
  if (sizes && sizes->elements()) {
    if (sizes->elements() != 4) return "sizes must have 4 entries";
    if (sizes->int_at(0) != x[0] || sizes->int_at(1) != x[1]) return "resizing N or C is not supported";
    p->out_h = static_cast<size_t>(sizes->int_at(2));
    p->out_w = static_cast<size_t>(sizes->int_at(3));
    p->scale_h = p->scale_w = 0.0f;
  } else if (scales && scales->elements()) {
    if (scales->elements() != 4) return "scales must have 4 entries";
    if (scales->float_at(0) != 1.0f || scales->float_at(1) != 1.0f) return "resizing N or C is not supported";
    p->scale_h = scales->float_at(2);
    p->scale_w = scales->float_at(3);
    if (!(p->scale_h > 0.0f) || !(p->scale_w > 0.0f)) return "scales must be positive";
    p->out_h = static_cast<size_t>(std::floor(static_cast<double>(x[2]) * p->scale_h));
    p->out_w = static_cast<size_t>(std::floor(static_cast<double>(x[3]) * p->scale_w));
  } else {
    return "needs scales or sizes";
  }
  return p->validate();
}

// The scales and sizes inputs: opset 10 has X, scales; 11+ has X, roi, scales, sizes.
void scales_sizes(const Node& n, const std::vector<const Tensor*>& v, const Tensor** scales, const Tensor** sizes) {
  *scales = *sizes = nullptr;
  if (n.get_int("scales_at_1", 0)) {
    if (v.size() > 1) *scales = v[1];
    return;
  }
  if (v.size() > 2) *scales = v[2];
  if (v.size() > 3) *sizes = v[3];
}

std::string infer_resize(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 4); !e.empty()) return e;
  if (c.in_types[0] != DType::f32) return "needs f32 input";
  if (c.node.get_string("coordinate_transformation_mode", "") == "tf_crop_and_resize") {
    return "coordinate_transformation_mode 'tf_crop_and_resize' is not supported";
  }
  for (size_t i = 1; i < c.inputs(); ++i) {
    if (c.present(i) && !c.in_values[i]) return "scales/sizes must be known before running";
  }
  const Tensor *scales, *sizes;
  scales_sizes(c.node, c.in_values, &scales, &sizes);
  f32::Resize2dParams p;
  if (std::string e = resize_params(c.node, c.in_shapes[0], scales, sizes, &p); !e.empty()) return e;
  const Shape& x = c.in_shapes[0];
  c.out_types = {DType::f32};
  c.out_shapes = {{x[0], x[1], static_cast<int64_t>(p.out_h), static_cast<int64_t>(p.out_w)}};
  return "";
}

std::string run_resize(RunContext& c) {
  const Tensor *scales, *sizes;
  scales_sizes(c.node, c.in, &scales, &sizes);
  f32::Resize2dParams p;
  if (std::string e = resize_params(c.node, c.in[0]->shape(), scales, sizes, &p); !e.empty()) return e;
  return f32::resize2d(p, c.in[0]->data<float>(), c.out[0]->mutable_data<float>(), {f32::default_isa(), c.runner});
}

}  // namespace

void add_resize_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Resize", infer_resize, run_resize, LayoutRule::nhwc, nullptr,
                 "mode,coordinate_transformation_mode,nearest_mode,cubic_coeff_a,exclude_outside,extrapolation_value,"
                 "antialias,axes,keep_aspect_ratio_policy,scales_at_1"});
}

}  // namespace kiln::ops
