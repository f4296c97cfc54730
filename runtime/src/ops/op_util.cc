#include "ops/op_util.h"

#include <algorithm>
#include <cstring>

namespace kiln::ops {

bool normalize_axis(int64_t axis, int rank, int* out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  *out = static_cast<int>(axis);
  return true;
}

bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  const size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    s[i] = da == 1 ? db : da;
  }
  *out = std::move(s);
  return true;
}

std::vector<int64_t> read_ints(const Tensor& t) {
  std::vector<int64_t> v(t.elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.int_at(i);
  return v;
}

std::vector<float> read_floats(const Tensor& t) {
  std::vector<float> v(t.elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.float_at(i);
  return v;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, Layout layout, int rank) {
  const std::vector<int64_t> own = logical_strides(shape, layout);
  std::vector<int64_t> st(rank, 0);
  const int off = rank - static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) st[off + i] = shape[i] == 1 ? 0 : own[i];
  return st;
}

std::vector<int> physical_order(int rank, Layout layout) {
  if (rank == 4 && layout == Layout::nhwc) return {0, 2, 3, 1};
  std::vector<int> p(rank);
  for (int i = 0; i < rank; ++i) p[i] = i;
  return p;
}

void strided_copy(size_t elem, std::vector<int64_t> dims, const void* src, std::vector<int64_t> ss, void* dst,
                  std::vector<int64_t> ds) {
  // Drop unit dims, then merge dim k into k-1 where both sides are contiguous across them.
  std::vector<int64_t> d2, s2, t2;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0) return;
    if (dims[i] == 1) continue;
    if (!d2.empty() && s2.back() == ss[i] * dims[i] && t2.back() == ds[i] * dims[i]) {
      d2.back() *= dims[i];
      s2.back() = ss[i];
      t2.back() = ds[i];
      continue;
    }
    d2.push_back(dims[i]);
    s2.push_back(ss[i]);
    t2.push_back(ds[i]);
  }
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (d2.empty()) {
    std::memcpy(d, s, elem);
    return;
  }
  const int r = static_cast<int>(d2.size());
  const bool inner_contiguous = s2[r - 1] == 1 && t2[r - 1] == 1;
  const int64_t inner = d2[r - 1];
  std::vector<int64_t> idx(r, 0);
  const int outer_rank = r - 1;
  for (;;) {
    int64_t so = 0, dof = 0;
    for (int k = 0; k < outer_rank; ++k) {
      so += idx[k] * s2[k];
      dof += idx[k] * t2[k];
    }
    if (inner_contiguous) {
      std::memcpy(d + dof * elem, s + so * elem, inner * elem);
    } else if (elem == 4) {
      const uint32_t* sp = reinterpret_cast<const uint32_t*>(s) + so;
      uint32_t* dp = reinterpret_cast<uint32_t*>(d) + dof;
      for (int64_t i = 0; i < inner; ++i) dp[i * t2[r - 1]] = sp[i * s2[r - 1]];
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        std::memcpy(d + (dof + i * t2[r - 1]) * elem, s + (so + i * s2[r - 1]) * elem, elem);
      }
    }
    int k = outer_rank - 1;
    for (; k >= 0; --k) {
      if (++idx[k] < d2[k]) break;
      idx[k] = 0;
    }
    if (k < 0) break;
  }
}

namespace {

// dst[j * rows + i] = src[i * cols + j] in 32 x 32 blocks (both sides stay in cache lines).
// Few rows (an image's 1-4 channels into pixels): the row count is a constant, so the compiler
// interleaves whole vectors of each row.
// `n` columns from src (row i at src + i * stride) into dst.
template <size_t R, class T>
void interleave_rows(const T* src, T* dst, size_t stride, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    for (size_t i = 0; i < R; ++i) dst[j * R + i] = src[i * stride + j];
  }
}

// Columns [c0, c1) of the transpose (a multiple of 32 wide except at the end).
template <class T>
void transpose_2d(const T* src, T* dst, size_t rows, size_t cols, size_t c0, size_t c1) {
  switch (rows) {
    case 1: return interleave_rows<1>(src + c0, dst + c0, cols, c1 - c0);
    case 2: return interleave_rows<2>(src + c0, dst + 2 * c0, cols, c1 - c0);
    case 3: return interleave_rows<3>(src + c0, dst + 3 * c0, cols, c1 - c0);
    case 4: return interleave_rows<4>(src + c0, dst + 4 * c0, cols, c1 - c0);
    default: break;
  }
  constexpr size_t kBlock = 32;
  for (size_t i0 = 0; i0 < rows; i0 += kBlock) {
    const size_t i1 = std::min(rows, i0 + kBlock);
    for (size_t j0 = c0; j0 < c1; j0 += kBlock) {
      const size_t j1 = std::min(c1, j0 + kBlock);
      for (size_t j = j0; j < j1; ++j) {
        for (size_t i = i0; i < i1; ++i) dst[j * rows + i] = src[i * cols + j];
      }
    }
  }
}

// NCHW <-> NHWC of a dense 4-D tensor as one [C, HW] <-> [HW, C] transpose per image; false for
// element sizes it does not cover.
bool relayout_4d(const Tensor& src, Tensor& dst, kernels::TaskRunner* runner) {
  const Shape& s = src.shape();
  const size_t n = static_cast<size_t>(s[0]), c = static_cast<size_t>(s[1]);
  const size_t hw = static_cast<size_t>(s[2] * s[3]);
  const bool to_nhwc = dst.layout() == Layout::nhwc;
  const size_t rows = to_nhwc ? c : hw, cols = to_nhwc ? hw : c;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(src.raw());
    T* out = static_cast<T*>(dst.mutable_raw());
    for (size_t b = 0; b < n; ++b) {
      for_ranges(
          runner, cols, 32,
          [&](size_t c0, size_t c1) { transpose_2d(in + b * c * hw, out + b * c * hw, rows, cols, c0, c1); },
          rows * cols);
    }
  };
  switch (dtype_bytes(src.dtype(), 1)) {
    case 1: run(uint8_t{}); return true;
    case 2: run(uint16_t{}); return true;
    case 4: run(uint32_t{}); return true;
    case 8: run(uint64_t{}); return true;
    default: return false;
  }
}

}  // namespace

void copy_relayout(const Tensor& src, Tensor& dst, kernels::TaskRunner* runner) {
  if (src.rank() == 4 && src.layout() != dst.layout() && relayout_4d(src, dst, runner)) return;
  const int r = src.rank();
  const std::vector<int> order = physical_order(r, dst.layout());
  const std::vector<int64_t> ss = logical_strides(src.shape(), src.layout());
  const std::vector<int64_t> ds = logical_strides(dst.shape(), dst.layout());
  std::vector<int64_t> dims(r), s(r), d(r);
  for (int i = 0; i < r; ++i) {
    dims[i] = src.shape()[order[i]];
    s[i] = ss[order[i]];
    d[i] = ds[order[i]];
  }
  strided_copy(dtype_bytes(src.dtype(), 1), dims, src.raw(), s, dst.mutable_raw(), d);
}

bool node_activation(const Node& n, kernels::f32::Activation* act, std::string* error) {
  using kernels::f32::Activation;
  const std::string a = n.get_string("activation", "");
  if (a.empty()) *act = Activation::none();
  else if (a == "relu") *act = Activation::relu();
  else if (a == "clip") *act = Activation::clip(n.get_float("act_a", 0.0f), n.get_float("act_b", 0.0f));
  else if (a == "leaky_relu") *act = Activation::leaky_relu(n.get_float("act_a", 0.01f));
  else if (a == "hardswish") *act = Activation::hardswish();
  else if (a == "sigmoid") *act = Activation::sigmoid();
  else if (a == "silu") *act = Activation::silu();
  else {
    *error = "unknown fused activation '" + a + "'";
    return false;
  }
  return true;
}

}  // namespace kiln::ops
