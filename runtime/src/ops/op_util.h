// Helpers shared by the op implementations (runtime-internal).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/f32/common.h"
#include "kiln/kernels/parallel.h"
#include "kiln/runtime/op_registry.h"

namespace kiln::ops {

// The largest kernel size, stride, dilation or pad a convolution or pooling accepts: window
// arithmetic on it and on shapes within kMaxTensorElements stays far inside int64.
constexpr int64_t kMaxWindowAttribute = int64_t{1} << 20;

// Normalises a possibly negative axis for a tensor of `rank`; false if out of range.
bool normalize_axis(int64_t axis, int rank, int* out);
// Numpy-style broadcast of two shapes; false if incompatible.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// The elements of an integer (or float) tensor as int64.
std::vector<int64_t> read_ints(const Tensor& t);
std::vector<float> read_floats(const Tensor& t);

// Strides in elements of `t`'s logical dims (layout-aware), left-padded with zeros to `rank` and
// zeroed where the dim is 1 (so they broadcast).
std::vector<int64_t> broadcast_strides(const Shape& shape, Layout layout, int rank);
// Physical iteration order of a tensor's logical dims (NHWC: 0,2,3,1).
std::vector<int> physical_order(int rank, Layout layout);

// Copies a `rank`-dimensional strided block (dims and strides in elements) between buffers of
// elements of `elem` bytes. Adjacent contiguous dims are merged; innermost runs use memcpy.
void strided_copy(size_t elem, std::vector<int64_t> dims, const void* src, std::vector<int64_t> src_strides,
                  void* dst, std::vector<int64_t> dst_strides);

// A copy of `src` into `dst` whose logical shapes are equal (layouts may differ). With a runner,
// the NCHW <-> NHWC transposes of large tensors (a model's input image) are split over its threads.
void copy_relayout(const Tensor& src, Tensor& dst, kernels::TaskRunner* runner = nullptr);

// Runs f(begin, end) over [0, count) in contiguous pieces (multiples of `align`), one per thread of
// `runner` when the work (elements moved; count unless said) is at least kParallelElements, else
// once on the calling thread.
constexpr size_t kParallelElements = size_t{1} << 16;
template <class F>
void for_ranges(kernels::TaskRunner* runner, size_t count, size_t align, F&& f, size_t work = 0) {
  const size_t threads = runner != nullptr ? static_cast<size_t>(std::max(1, runner->threads())) : 1;
  if (threads == 1 || (work ? work : count) < kParallelElements || count < 2 * align) {
    f(size_t{0}, count);
    return;
  }
  const size_t piece = (count / threads + align - 1) / align * align;
  kernels::parallel_for(runner, (count + piece - 1) / piece, [&](size_t t) {
    f(t * piece, std::min(count, (t + 1) * piece));
  });
}

// The fused activation a node carries (attributes "activation", "act_a", "act_b"), for conv/gemm.
bool node_activation(const Node& n, kernels::f32::Activation* act, std::string* error);

inline std::string need_inputs(const InferContext& c, size_t lo, size_t hi) {
  if (c.inputs() < lo || c.inputs() > hi) {
    return "expects " + std::to_string(lo) + (hi != lo ? ".." + std::to_string(hi) : "") + " inputs, got " +
           std::to_string(c.inputs());
  }
  for (size_t i = 0; i < lo; ++i) {
    if (!c.present(i)) return "input " + std::to_string(i) + " is required";
  }
  return "";
}

// Registration functions, one per op family (op_registry.cc calls them all).
void add_elementwise_ops(std::vector<OpDef>& ops);
void add_shape_ops(std::vector<OpDef>& ops);
void add_conv_ops(std::vector<OpDef>& ops);
void add_pool_ops(std::vector<OpDef>& ops);
void add_linear_ops(std::vector<OpDef>& ops);
void add_norm_ops(std::vector<OpDef>& ops);
void add_resize_ops(std::vector<OpDef>& ops);

}  // namespace kiln::ops
