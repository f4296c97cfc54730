// NumPy .npy files: read (versions 1.0, 2.0, 3.0; float32/float64/uint8/int8/int16/int32/int64, either
// byte order, C or Fortran order) and write (version 1.0, little-endian, C order, atomically: a
// temporary file in the same folder is renamed over the target, so no half-written file is ever seen).
//
// Every function returns false with a one-line message in *error (which names the file) on failure;
// nothing throws and no input crashes.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "kiln/calib/data/array.h"

namespace kiln::calib {

struct NpyHeader {
  DType dtype = DType::f32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the first element
  size_t numel = 0;
};

// Parses the magic, version and header dictionary at the start of `bytes`; checks that `size` holds
// the whole array (extra bytes after it are an error).
bool parse_npy_header(const void* bytes, size_t size, NpyHeader* out, std::string* error);
// Parses a whole .npy image in memory (Fortran order is converted to C order, bytes to native order).
bool parse_npy(const void* bytes, size_t size, TypedArray* out, std::string* error);
bool read_npy(const std::string& path, TypedArray* out, std::string* error);
// read_npy + to_float. NaN or infinity is an error ("x.npy: element 17 is NaN") unless allowed.
bool read_npy_float(const std::string& path, FloatTensor* out, std::string* error, bool allow_non_finite = false);

// The bytes of a .npy file holding `array` (for tests and for writers that stream elsewhere).
std::vector<uint8_t> encode_npy(const TypedArray& array);
bool write_npy(const std::string& path, const TypedArray& array, std::string* error);
bool write_npy(const std::string& path, const FloatTensor& tensor, std::string* error);

// Streams a C-order .npy whose first axis is the sample axis, `rows` at a time, without loading the
// file: memory is one batch. (Fortran-order files are loaded whole on open.)
class NpyRowReader {
 public:
  NpyRowReader() = default;
  ~NpyRowReader();
  NpyRowReader(const NpyRowReader&) = delete;
  NpyRowReader& operator=(const NpyRowReader&) = delete;

  bool open(const std::string& path, std::string* error);
  const NpyHeader& header() const { return header_; }
  size_t rows() const { return rows_; }                // shape[0] (1 for a 0-d array)
  size_t row_elements() const { return row_elems_; }   // product of shape[1:]
  // Reads rows [first, first + count) as float32 into out (count * row_elements() floats).
  // Non-finite values are an error naming the file and the row unless allow_non_finite.
  bool read_rows(size_t first, size_t count, float* out, std::string* error, bool allow_non_finite = false);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  NpyHeader header_;
  size_t rows_ = 0;
  size_t row_elems_ = 0;
  std::vector<float> whole_;  // Fortran order only
  std::vector<uint8_t> buffer_;
};

}  // namespace kiln::calib
