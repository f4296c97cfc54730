// In-memory arrays the calibration-data readers produce: a typed n-d array (what a .npy or IDX file
// holds, element type kept) and the float32 tensor that the preprocessing and the calibrator use.
// Both are dense, row-major (C order), native little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::calib {

enum class DType : uint8_t { f32, f64, u8, i8, i16, i32, i64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "uint8", ... (numpy's names)

// Product of the dimensions; false when a dimension is negative or the product overflows `limit`.
bool shape_numel(const std::vector<int64_t>& shape, size_t* numel, size_t limit = SIZE_MAX / 16);
std::string shape_string(const std::vector<int64_t>& shape);  // "[N,1,28,28]" style: "[2,1,28,28]"

struct TypedArray {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * dtype_size(dtype) bytes, C order
  size_t numel() const { return bytes.size() / dtype_size(dtype); }
};

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
  size_t numel() const { return data.size(); }
};

// Converts any dtype to float32 (int64/float64 values are rounded to the nearest float).
// With reject_non_finite, a NaN or infinity is an error naming the flat element index.
bool to_float(const TypedArray& in, FloatTensor* out, std::string* error, bool reject_non_finite = true);
// The index of the first non-finite element, or SIZE_MAX when every element is finite.
size_t first_non_finite(const float* data, size_t count);

}  // namespace kiln::calib
