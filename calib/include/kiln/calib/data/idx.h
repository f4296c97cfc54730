// IDX files (the MNIST / Fashion-MNIST format), gzipped or not (detected from the gzip magic, not the
// file name): magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 dimensions, then the elements
// big-endian. Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kiln/calib/data/array.h"

namespace kiln::calib {

struct IdxHeader {
  DType dtype = DType::u8;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
  size_t numel = 0;
};

// Parses an uncompressed IDX header from the first bytes of a file (needs 4 + 4 * ndim bytes).
bool parse_idx_header(const void* bytes, size_t size, IdxHeader* out, std::string* error);
// Parses a whole uncompressed IDX image in memory; the size must match the dimensions exactly.
bool parse_idx(const void* bytes, size_t size, TypedArray* out, std::string* error);
// parse_idx on bytes that may be gzipped (inflated first when they start with the gzip magic).
bool decode_idx(const void* bytes, size_t size, TypedArray* out, std::string* error);
// Reads a file, gunzipping it when it starts with the gzip magic.
bool read_idx(const std::string& path, TypedArray* out, std::string* error);
// An IDX label file: one dimension, integer type; every label in [0, max_classes) when given.
bool read_idx_labels(const std::string& path, std::vector<int64_t>* labels, std::string* error,
                     int64_t max_classes = 0);

// Streams an IDX file (gzipped or not) front to back, a few items at a time: memory is one batch.
class IdxReader {
 public:
  IdxReader();
  ~IdxReader();
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  bool open(const std::string& path, std::string* error);
  const IdxHeader& header() const { return header_; }
  size_t items() const;          // shape[0]
  size_t item_elements() const;  // product of shape[1:]
  size_t position() const { return next_; }
  // Reads the next `count` items (count <= items() - position()) as float32 values, unscaled.
  bool read_next(size_t count, float* out, std::string* error);
  bool rewind(std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  IdxHeader header_;
  size_t next_ = 0;
};

}  // namespace kiln::calib
