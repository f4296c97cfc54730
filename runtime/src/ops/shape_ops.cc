// Ops that move data without arithmetic: Shape, Gather, Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Concat, Slice, Split, Pad and kiln.Relayout (NCHW <-> NHWC with the logical shape
// unchanged). Concat, Slice, Split and Pad work on any physical layout through logical strides.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "ops/op_util.h"

namespace kiln::ops {
namespace {

size_t elem_size(const Tensor& t) { return dtype_bytes(t.dtype(), 1); }

std::string no_s4(const InferContext& c) {
  for (DType t : c.in_types) {
    if (t == DType::s4) return "packed s4 tensors cannot be rearranged";
  }
  return "";
}

// A constant or plan-time-known integer list from input i, or from attribute `attr`.
bool ints_from(const InferContext& c, size_t input, const char* attr, std::vector<int64_t>* out, bool* given) {
  *given = false;
  if (c.present(input)) {
    if (!c.in_values[input]) return false;
    *out = read_ints(*c.in_values[input]);
    *given = true;
    return true;
  }
  if (c.node.has(attr)) {
    *out = c.node.get_ints(attr);
    *given = true;
  }
  return true;
}

// ---- Shape
std::string infer_shape(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  const int r = static_cast<int>(c.in_shapes[0].size());
  int64_t start = c.node.get_int("start", 0), end = c.node.get_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  c.out_types = {DType::s64};
  c.out_shapes = {{end - start}};
  return "";
}
std::string run_shape(RunContext& c) {
  const Shape& s = c.in[0]->shape();
  const int r = static_cast<int>(s.size());
  int64_t start = c.node.get_int("start", 0);
  if (start < 0) start += r;
  start = std::clamp<int64_t>(start, 0, r);
  int64_t* y = c.out[0]->mutable_data<int64_t>();
  for (size_t i = 0; i < c.out[0]->elements(); ++i) y[i] = s[start + i];
  return "";
}

// ---- Gather
std::string infer_gather(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 2); !e.empty()) return e;
  if (std::string e = no_s4(c); !e.empty()) return e;
  const Shape& d = c.in_shapes[0];
  int axis;
  if (!normalize_axis(c.node.get_int("axis", 0), static_cast<int>(d.size()), &axis)) return "axis out of range";
  if (c.in_types[1] != DType::s64 && c.in_types[1] != DType::s32) return "indices must be int32 or int64";
  Shape out(d.begin(), d.begin() + axis);
  out.insert(out.end(), c.in_shapes[1].begin(), c.in_shapes[1].end());
  out.insert(out.end(), d.begin() + axis + 1, d.end());
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return "";
}
std::string run_gather(RunContext& c) {
  const Tensor& d = *c.in[0];
  const Tensor& idx = *c.in[1];
  int axis;
  normalize_axis(c.node.get_int("axis", 0), d.rank(), &axis);
  const int64_t n = d.shape()[axis];
  size_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= d.shape()[i];
  for (int i = axis + 1; i < d.rank(); ++i) inner *= d.shape()[i];
  const size_t es = elem_size(d), k = idx.elements();
  const char* src = static_cast<const char*>(d.raw());
  char* dst = static_cast<char*>(c.out[0]->mutable_raw());
  for (size_t j = 0; j < k; ++j) {
    int64_t i = idx.int_at(j);
    if (i < 0) i += n;
    if (i < 0 || i >= n) return "index " + std::to_string(idx.int_at(j)) + " out of range";
  }
  for (size_t o = 0; o < outer; ++o) {
    for (size_t j = 0; j < k; ++j) {
      int64_t i = idx.int_at(j);
      if (i < 0) i += n;
      std::memcpy(dst + ((o * k + j) * inner) * es, src + ((o * n + i) * inner) * es, inner * es);
    }
  }
  return "";
}

// ---- plain copies under a new shape (Reshape, Flatten, Squeeze, Unsqueeze)
std::string run_reshape_copy(RunContext& c) {
  if (c.in[0]->bytes()) std::memcpy(c.out[0]->mutable_raw(), c.in[0]->raw(), c.in[0]->bytes());
  return "";
}

std::string infer_reshape(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 2); !e.empty()) return e;
  std::vector<int64_t> target;
  bool given;
  if (!ints_from(c, 1, "shape", &target, &given)) return "the target shape must be known before running";
  if (!given) return "missing target shape";
  const Shape& in = c.in_shapes[0];
  const bool allow_zero = c.node.get_int("allowzero", 0) != 0;
  Shape out(target.size());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allow_zero) {
      if (i >= in.size()) return "0 in target shape beyond the input's rank";
      d = in[i];
    }
    if (d == -1) {
      if (infer_at >= 0) return "more than one -1 in target shape";
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < 0) return "negative dimension in target shape";
    if (d > kMaxTensorElements || __builtin_mul_overflow(known, d, &known) || known > kMaxTensorElements) {
      return "target shape is too large";
    }
    out[i] = d;
  }
  const int64_t total = static_cast<int64_t>(shape_elements(in));
  if (infer_at >= 0) {
    if (known == 0 || total % known) return "cannot infer -1 in target shape";
    out[infer_at] = total / known;
  }
  if (static_cast<int64_t>(shape_elements(out)) != total) {
    return "cannot reshape " + shape_string(in) + " to " + shape_string(out);
  }
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return no_s4(c);
}

std::string infer_flatten(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  const Shape& in = c.in_shapes[0];
  int64_t axis = c.node.get_int("axis", 1);
  const int r = static_cast<int>(in.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) return "axis out of range";
  int64_t a = 1, b = 1;
  for (int i = 0; i < r; ++i) (i < axis ? a : b) *= in[i];
  c.out_types = {c.in_types[0]};
  c.out_shapes = {{a, b}};
  return no_s4(c);
}

std::string infer_squeeze(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 2); !e.empty()) return e;
  std::vector<int64_t> axes;
  bool given;
  if (!ints_from(c, 1, "axes", &axes, &given)) return "axes must be constant";
  const Shape& in = c.in_shapes[0];
  const int r = static_cast<int>(in.size());
  std::vector<bool> drop(r, false);
  if (!given) {
    for (int i = 0; i < r; ++i) drop[i] = in[i] == 1;
  }
  for (int64_t a : axes) {
    int ax;
    if (!normalize_axis(a, r, &ax)) return "axis out of range";
    if (in[ax] != 1) return "cannot squeeze a dimension of size " + std::to_string(in[ax]);
    drop[ax] = true;
  }
  Shape out;
  for (int i = 0; i < r; ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return no_s4(c);
}

std::string infer_unsqueeze(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 2); !e.empty()) return e;
  std::vector<int64_t> axes;
  bool given;
  if (!ints_from(c, 1, "axes", &axes, &given)) return "axes must be constant";
  if (!given) return "missing axes";
  const Shape& in = c.in_shapes[0];
  const int r = static_cast<int>(in.size() + axes.size());
  std::vector<bool> add(r, false);
  for (int64_t a : axes) {
    int ax;
    if (!normalize_axis(a, r, &ax) || add[ax]) return "bad axes";
    add[ax] = true;
  }
  Shape out;
  size_t j = 0;
  for (int i = 0; i < r; ++i) out.push_back(add[i] ? 1 : in[j++]);
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return no_s4(c);
}

// ---- Transpose
std::vector<int64_t> transpose_perm(const Node& n, int r) {
  std::vector<int64_t> p = n.get_ints("perm");
  if (p.empty()) {
    for (int i = r - 1; i >= 0; --i) p.push_back(i);
  }
  return p;
}
std::string infer_transpose(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  const Shape& in = c.in_shapes[0];
  const int r = static_cast<int>(in.size());
  const std::vector<int64_t> p = transpose_perm(c.node, r);
  if (static_cast<int>(p.size()) != r) return "perm has the wrong length";
  std::vector<bool> seen(r, false);
  Shape out(r);
  for (int i = 0; i < r; ++i) {
    if (p[i] < 0 || p[i] >= r || seen[p[i]]) return "perm is not a permutation";
    seen[p[i]] = true;
    out[i] = in[p[i]];
  }
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return no_s4(c);
}
std::string run_transpose(RunContext& c) {
  const Tensor& x = *c.in[0];
  const int r = x.rank();
  const std::vector<int64_t> p = transpose_perm(c.node, r);
  const std::vector<int64_t> xs = logical_strides(x.shape(), x.layout());
  const std::vector<int64_t> ys = logical_strides(c.out[0]->shape(), c.out[0]->layout());
  std::vector<int64_t> dims(r), ss(r), ds(r);
  const std::vector<int> order = physical_order(r, c.out[0]->layout());
  for (int i = 0; i < r; ++i) {
    const int o = order[i];
    dims[i] = c.out[0]->shape()[o];
    ss[i] = xs[p[o]];
    ds[i] = ys[o];
  }
  strided_copy(elem_size(x), dims, x.raw(), ss, c.out[0]->mutable_raw(), ds);
  return "";
}

// Copies `src` into the block of `dst` that starts at `offset` (logical coordinates).
void copy_into(const Tensor& src, Tensor& dst, const std::vector<int64_t>& offset) {
  const int r = src.rank();
  const std::vector<int> order = physical_order(r, dst.layout());
  const std::vector<int64_t> ss = logical_strides(src.shape(), src.layout());
  const std::vector<int64_t> ds = logical_strides(dst.shape(), dst.layout());
  int64_t base = 0;
  for (int i = 0; i < r; ++i) base += offset[i] * ds[i];
  std::vector<int64_t> dims(r), s(r), d(r);
  for (int i = 0; i < r; ++i) {
    dims[i] = src.shape()[order[i]];
    s[i] = ss[order[i]];
    d[i] = ds[order[i]];
  }
  const size_t es = elem_size(src);
  strided_copy(es, dims, src.raw(), s, static_cast<char*>(dst.mutable_raw()) + base * es, d);
}

// ---- Concat
std::string infer_concat(InferContext& c) {
  if (c.inputs() < 1) return "expects inputs";
  if (std::string e = no_s4(c); !e.empty()) return e;
  const Shape& first = c.in_shapes[0];
  int axis;
  if (!normalize_axis(c.node.get_int("axis", 0), static_cast<int>(first.size()), &axis)) return "axis out of range";
  Shape out = first;
  out[axis] = 0;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (!c.present(i)) return "missing input";
    const Shape& s = c.in_shapes[i];
    if (s.size() != first.size() || c.in_types[i] != c.in_types[0]) return "inputs differ in rank or type";
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int>(d) != axis && s[d] != first[d]) {
        return "shapes " + shape_string(first) + " and " + shape_string(s) + " differ off the concat axis";
      }
    }
    out[axis] += s[axis];
  }
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return "";
}
std::string run_concat(RunContext& c) {
  int axis;
  normalize_axis(c.node.get_int("axis", 0), c.out[0]->rank(), &axis);
  std::vector<int64_t> offset(c.out[0]->rank(), 0);
  for (const Tensor* t : c.in) {
    copy_into(*t, *c.out[0], offset);
    offset[axis] += t->shape()[axis];
  }
  return "";
}

// ---- Slice (opset < 10: attributes; later: inputs)
struct SliceSpec {
  std::vector<int64_t> start, step;  // per dim
  Shape out;
};

std::string slice_spec(const InferContext& c, SliceSpec* sp) {
  const Shape& in = c.in_shapes[0];
  const int r = static_cast<int>(in.size());
  std::vector<int64_t> starts, ends, axes, steps;
  bool g1, g2, g3, g4;
  if (!ints_from(c, 1, "starts", &starts, &g1) || !ints_from(c, 2, "ends", &ends, &g2) ||
      !ints_from(c, 3, "axes", &axes, &g3) || !ints_from(c, 4, "steps", &steps, &g4)) {
    return "starts/ends/axes/steps must be known before running";
  }
  if (!g1 || !g2 || starts.size() != ends.size()) return "starts and ends must have the same length";
  if (!g3) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (!g4) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) return "slice lists differ in length";
  sp->start.assign(r, 0);
  sp->step.assign(r, 1);
  sp->out = in;
  for (size_t i = 0; i < starts.size(); ++i) {
    int ax;
    if (!normalize_axis(axes[i], r, &ax)) return "axis out of range";
    const int64_t d = in[ax], st = steps[i];
    if (st == 0) return "step 0";
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      sp->out[ax] = e > b ? (e - b + st - 1) / st : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      sp->out[ax] = b > e ? (b - e - st - 1) / (-st) : 0;
    }
    sp->start[ax] = b;
    sp->step[ax] = st;
  }
  return "";
}
std::string infer_slice(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 5); !e.empty()) return e;
  if (std::string e = no_s4(c); !e.empty()) return e;
  SliceSpec sp;
  if (std::string e = slice_spec(c, &sp); !e.empty()) return e;
  c.out_types = {c.in_types[0]};
  c.out_shapes = {sp.out};
  return "";
}
// Copies the region of x that starts at `start` with `step` into y (whole of y).
void copy_region(const Tensor& x, const std::vector<int64_t>& start, const std::vector<int64_t>& step, Tensor& y) {
  const int r = x.rank();
  const std::vector<int> order = physical_order(r, y.layout());
  const std::vector<int64_t> xs = logical_strides(x.shape(), x.layout());
  const std::vector<int64_t> ys = logical_strides(y.shape(), y.layout());
  int64_t base = 0;
  for (int i = 0; i < r; ++i) base += start[i] * xs[i];
  std::vector<int64_t> dims(r), s(r), d(r);
  for (int i = 0; i < r; ++i) {
    const int o = order[i];
    dims[i] = y.shape()[o];
    s[i] = xs[o] * step[o];
    d[i] = ys[o];
  }
  const size_t es = elem_size(x);
  strided_copy(es, dims, static_cast<const char*>(x.raw()) + base * es, s, y.mutable_raw(), d);
}
std::string run_slice(RunContext& c) {
  // Recompute the spec from the actual inputs (their values are constants or plan-time known).
  InferContext ic{c.node, {}, {}, {}, {}, {}};
  for (size_t i = 0; i < c.in.size(); ++i) {
    ic.in_types.push_back(c.in[i] ? c.in[i]->dtype() : DType::f32);
    ic.in_shapes.push_back(c.in[i] ? c.in[i]->shape() : Shape{});
    ic.in_values.push_back(c.in[i]);
  }
  SliceSpec sp;
  if (std::string e = slice_spec(ic, &sp); !e.empty()) return e;
  copy_region(*c.in[0], sp.start, sp.step, *c.out[0]);
  return "";
}

// ---- Split (split from attribute or input; opset 18: num_outputs)
std::string split_sizes(const InferContext& c, int* axis, std::vector<int64_t>* sizes) {
  const Shape& in = c.in_shapes[0];
  if (!normalize_axis(c.node.get_int("axis", 0), static_cast<int>(in.size()), axis)) return "axis out of range";
  bool given;
  if (!ints_from(c, 1, "split", sizes, &given)) return "split sizes must be constant";
  const size_t outs = c.node.outputs.size();
  const int64_t d = in[*axis];
  if (!given) {
    const int64_t n = static_cast<int64_t>(outs);
    const int64_t chunk = (d + n - 1) / n;
    sizes->clear();
    for (int64_t i = 0, left = d; i < n; ++i, left -= chunk) sizes->push_back(std::min(chunk, std::max<int64_t>(left, 0)));
  }
  if (sizes->size() != outs) return "split has " + std::to_string(sizes->size()) + " sizes for " + std::to_string(outs) + " outputs";
  if (std::accumulate(sizes->begin(), sizes->end(), int64_t{0}) != d) return "split sizes do not add up to the axis";
  return "";
}
std::string infer_split(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 2); !e.empty()) return e;
  if (std::string e = no_s4(c); !e.empty()) return e;
  int axis;
  std::vector<int64_t> sizes;
  if (std::string e = split_sizes(c, &axis, &sizes); !e.empty()) return e;
  c.out_types.assign(sizes.size(), c.in_types[0]);
  c.out_shapes.clear();
  for (int64_t s : sizes) {
    Shape o = c.in_shapes[0];
    o[axis] = s;
    c.out_shapes.push_back(o);
  }
  return "";
}
std::string run_split(RunContext& c) {
  const Tensor& x = *c.in[0];
  const int r = x.rank();
  int axis;
  normalize_axis(c.node.get_int("axis", 0), r, &axis);
  std::vector<int64_t> start(r, 0), step(r, 1);
  for (Tensor* y : c.out) {
    copy_region(x, start, step, *y);
    start[axis] += y->shape()[axis];
  }
  return "";
}

// ---- Pad (constant / reflect / edge)
std::string pad_spec(const InferContext& c, std::vector<int64_t>* pads, float* value) {
  const int r = static_cast<int>(c.in_shapes[0].size());
  bool given;
  if (!ints_from(c, 1, "pads", pads, &given)) return "pads must be known before running";
  if (!given) return "missing pads";
  *value = c.node.get_float("value", 0.0f);
  if (c.present(2)) {
    if (!c.in_values[2]) return "constant_value must be constant";
    if (c.in_values[2]->elements()) *value = c.in_values[2]->float_at(0);
  }
  std::vector<int64_t> axes;
  bool has_axes = false;
  if (!ints_from(c, 3, "axes_unused", &axes, &has_axes)) return "axes must be constant";
  if (has_axes) {
    std::vector<int64_t> full(2 * r, 0);
    if (pads->size() != 2 * axes.size()) return "pads do not match axes";
    for (size_t i = 0; i < axes.size(); ++i) {
      int ax;
      if (!normalize_axis(axes[i], r, &ax)) return "axis out of range";
      full[ax] = (*pads)[i];
      full[ax + r] = (*pads)[i + axes.size()];
    }
    *pads = full;
  }
  if (static_cast<int>(pads->size()) != 2 * r) return "pads must have 2 * rank entries";
  for (int64_t p : *pads) {
    if (p < 0) return "negative pads are not supported";
  }
  const std::string mode = c.node.get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") return "unsupported mode '" + mode + "'";
  return "";
}
std::string infer_pad(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 4); !e.empty()) return e;
  // u8: quantized codes (pass-through of the Q graph); the fill is the constant_value input (or the
  // `value` attribute), which the freezer sets to the tensor's zero point.
  if (c.in_types[0] != DType::f32 && c.in_types[0] != DType::u8) return "Pad supports f32 and u8 data";
  std::vector<int64_t> pads;
  float value;
  if (std::string e = pad_spec(c, &pads, &value); !e.empty()) return e;
  Shape out = c.in_shapes[0];
  const size_t r = out.size();
  for (size_t i = 0; i < r; ++i) out[i] += pads[i] + pads[i + r];
  if (c.node.get_string("mode", "constant") == "reflect") {
    for (size_t i = 0; i < r; ++i) {
      if (pads[i] >= c.in_shapes[0][i] || pads[i + r] >= c.in_shapes[0][i]) {
        if (pads[i] || pads[i + r]) return "reflect pads must be smaller than the dimension";
      }
    }
  }
  if (c.in_types[0] == DType::u8 && (value < 0.0f || value > 255.0f || value != std::floor(value))) {
    return "the pad value of a u8 tensor must be a code in [0, 255] (its zero point)";
  }
  c.out_types = {c.in_types[0]};
  c.out_shapes = {out};
  return "";
}

// Output element at logical index `idx` reads input element `so` (reflect/edge), any element size.
template <class T>
void pad_map(const Tensor& x, Tensor& y, const std::vector<int64_t>& pads, bool edge) {
  const int r = x.rank();
  const std::vector<int64_t> xs = logical_strides(x.shape(), x.layout());
  const std::vector<int64_t> ys = logical_strides(y.shape(), y.layout());
  std::vector<int64_t> idx(r, 0);
  const T* px = x.data<T>();
  T* py = y.mutable_data<T>();
  for (size_t e = 0; e < y.elements(); ++e) {
    int64_t so = 0, dof = 0;
    for (int d = 0; d < r; ++d) {
      const int64_t n = x.shape()[d];
      int64_t i = idx[d] - pads[d];
      if (edge) {
        i = std::clamp<int64_t>(i, 0, n - 1);
      } else if (n > 1) {
        const int64_t period = 2 * (n - 1);
        i = ((i % period) + period) % period;
        if (i >= n) i = period - i;
      } else {
        i = 0;
      }
      so += i * xs[d];
      dof += idx[d] * ys[d];
    }
    py[dof] = px[so];
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < y.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

std::string run_pad(RunContext& c) {
  InferContext ic{c.node, {}, {}, {}, {}, {}};
  for (const Tensor* t : c.in) {
    ic.in_types.push_back(t ? t->dtype() : DType::f32);
    ic.in_shapes.push_back(t ? t->shape() : Shape{});
    ic.in_values.push_back(t);
  }
  std::vector<int64_t> pads;
  float value;
  if (std::string e = pad_spec(ic, &pads, &value); !e.empty()) return e;
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  const int r = x.rank();
  const std::string mode = c.node.get_string("mode", "constant");
  if (mode == "constant") {
    if (x.dtype() == DType::u8) {
      uint8_t* py = y.mutable_data<uint8_t>();
      std::fill(py, py + y.elements(), static_cast<uint8_t>(value));
    } else {
      float* py = y.mutable_data<float>();
      std::fill(py, py + y.elements(), value);
    }
    copy_into(x, y, std::vector<int64_t>(pads.begin(), pads.begin() + r));
    return "";
  }
  // reflect / edge: map every output coordinate to an input coordinate.
  if (x.dtype() == DType::u8) {
    pad_map<uint8_t>(x, y, pads, mode == "edge");
  } else {
    pad_map<float>(x, y, pads, mode == "edge");
  }
  return "";
}

// ---- kiln.Relayout: same logical tensor, other physical layout (the executor sets the layouts)
std::string infer_identity_shape(InferContext& c) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  c.out_types = {c.in_types[0]};
  c.out_shapes = {c.in_shapes[0]};
  return no_s4(c);
}
std::string run_relayout(RunContext& c) {
  copy_relayout(*c.in[0], *c.out[0], c.runner);
  return "";
}

}  // namespace

void add_shape_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Shape", infer_shape, run_shape, LayoutRule::same, nullptr, "start,end", true});
  ops.push_back({"Gather", infer_gather, run_gather, LayoutRule::plain, nullptr, "axis"});
  ops.push_back({"Reshape", infer_reshape, run_reshape_copy, LayoutRule::plain, nullptr, "allowzero"});
  ops.push_back({"Flatten", infer_flatten, run_reshape_copy, LayoutRule::plain, nullptr, "axis"});
  ops.push_back({"Squeeze", infer_squeeze, run_reshape_copy, LayoutRule::plain, nullptr, "axes"});
  ops.push_back({"Unsqueeze", infer_unsqueeze, run_reshape_copy, LayoutRule::plain, nullptr, "axes"});
  ops.push_back({"Transpose", infer_transpose, run_transpose, LayoutRule::plain, nullptr, "perm"});
  ops.push_back({"Concat", infer_concat, run_concat, LayoutRule::concat, nullptr, "axis"});
  ops.push_back({"Slice", infer_slice, run_slice, LayoutRule::same, nullptr, "starts,ends,axes,steps"});
  ops.push_back({"Split", infer_split, run_split, LayoutRule::same, nullptr, "axis,split,num_outputs"});
  ops.push_back({"Pad", infer_pad, run_pad, LayoutRule::same, nullptr, "mode,pads,value"});
  ops.push_back({"kiln.Relayout", infer_identity_shape, run_relayout, LayoutRule::same, nullptr, "to"});
}

}  // namespace kiln::ops
