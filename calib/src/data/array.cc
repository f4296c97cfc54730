#include "kiln/calib/data/array.h"

#include <cmath>
#include <cstring>

namespace kiln::calib {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::u8: return 1;
    case DType::i8: return 1;
    case DType::i16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  return 1;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::u8: return "uint8";
    case DType::i8: return "int8";
    case DType::i16: return "int16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
  }
  return "?";
}

bool shape_numel(const std::vector<int64_t>& shape, size_t* numel, size_t limit) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d == 0) {
      n = 0;
      continue;
    }
    if (n != 0 && static_cast<uint64_t>(d) > limit / n) return false;
    n *= static_cast<size_t>(d);
  }
  // A zero dimension anywhere makes the product zero, but the other dimensions must still be sane.
  for (int64_t d : shape) {
    if (static_cast<uint64_t>(d) > limit) return false;
  }
  *numel = n;
  return true;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

size_t first_non_finite(const float* data, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(data[i])) return i;
  }
  return SIZE_MAX;
}

namespace {
template <typename T>
void convert(const uint8_t* bytes, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}
}  // namespace

bool to_float(const TypedArray& in, FloatTensor* out, std::string* error, bool reject_non_finite) {
  const size_t n = in.numel();
  if (n * dtype_size(in.dtype) != in.bytes.size()) {
    *error = "array byte size is not a multiple of its element size";
    return false;
  }
  FloatTensor t;
  t.shape = in.shape;
  t.data.resize(n);
  const uint8_t* b = in.bytes.data();
  switch (in.dtype) {
    case DType::f32: convert<float>(b, n, t.data.data()); break;
    case DType::f64: convert<double>(b, n, t.data.data()); break;
    case DType::u8: convert<uint8_t>(b, n, t.data.data()); break;
    case DType::i8: convert<int8_t>(b, n, t.data.data()); break;
    case DType::i16: convert<int16_t>(b, n, t.data.data()); break;
    case DType::i32: convert<int32_t>(b, n, t.data.data()); break;
    case DType::i64: convert<int64_t>(b, n, t.data.data()); break;
  }
  if (reject_non_finite) {
    const size_t bad = first_non_finite(t.data.data(), n);
    if (bad != SIZE_MAX) {
      const float v = t.data[bad];
      *error = "element " + std::to_string(bad) + " is " + (std::isnan(v) ? "NaN" : "infinite") +
               (in.dtype == DType::f64 && std::isinf(v) ? " (or beyond float32's range)" : "");
      return false;
    }
  }
  *out = std::move(t);
  return true;
}

}  // namespace kiln::calib
