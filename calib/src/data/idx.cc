#include "kiln/calib/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "file_io.h"

namespace kiln::calib {
namespace {

constexpr size_t kMaxIdxBytes = size_t{1} << 34;

bool idx_dtype(uint8_t code, DType* out) {
  switch (code) {
    case 0x08: *out = DType::u8; return true;
    case 0x09: *out = DType::i8; return true;
    case 0x0B: *out = DType::i16; return true;
    case 0x0C: *out = DType::i32; return true;
    case 0x0D: *out = DType::f32; return true;
    case 0x0E: *out = DType::f64; return true;
    default: return false;
  }
}

std::string hex_magic(const uint8_t* b) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 0; i < 4; ++i) {
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  return s;
}

// IDX stores elements big-endian; convert in place to native (little-endian) order.
void big_to_native(uint8_t* bytes, size_t n, size_t elem) {
  if (elem == 1) return;
  for (size_t i = 0; i < n; ++i) std::reverse(bytes + i * elem, bytes + (i + 1) * elem);
}

}  // namespace

bool parse_idx_header(const void* bytes, size_t size, IdxHeader* out, std::string* error) {
  const auto* b = static_cast<const uint8_t*>(bytes);
  if (size < 4) {
    *error = "not an IDX file (shorter than its 4-byte magic)";
    return false;
  }
  IdxHeader h;
  if (b[0] != 0 || b[1] != 0 || !idx_dtype(b[2], &h.dtype) || b[3] == 0) {
    *error = "not an IDX file (magic " + hex_magic(b) + "; expected 0x0000TTNN with type 08/09/0b/0c/0d/0e)";
    return false;
  }
  const size_t ndim = b[3];
  if (size < 4 + 4 * ndim) {
    *error = "truncated IDX header (" + std::to_string(ndim) + " dimensions)";
    return false;
  }
  for (size_t d = 0; d < ndim; ++d) {
    const uint8_t* p = b + 4 + 4 * d;
    const uint32_t v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    h.shape.push_back(v);
  }
  if (!shape_numel(h.shape, &h.numel, kMaxIdxBytes / dtype_size(h.dtype))) {
    *error = "IDX dimensions " + shape_string(h.shape) + " are too large";
    return false;
  }
  h.data_offset = 4 + 4 * ndim;
  *out = std::move(h);
  return true;
}

bool parse_idx(const void* bytes, size_t size, TypedArray* out, std::string* error) {
  IdxHeader h;
  if (!parse_idx_header(bytes, size, &h, error)) return false;
  const size_t need = h.numel * dtype_size(h.dtype);
  const size_t have = size - h.data_offset;
  if (have != need) {
    *error = std::string(have < need ? "truncated" : "oversized") + " IDX data: dimensions " + shape_string(h.shape) +
             " of " + dtype_name(h.dtype) + " need " + std::to_string(need) + " bytes, the file has " +
             std::to_string(have);
    return false;
  }
  TypedArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  const auto* data = static_cast<const uint8_t*>(bytes) + h.data_offset;
  a.bytes.assign(data, data + need);
  big_to_native(a.bytes.data(), h.numel, dtype_size(h.dtype));
  *out = std::move(a);
  return true;
}

bool decode_idx(const void* bytes, size_t size, TypedArray* out, std::string* error) {
  const auto* b = static_cast<const uint8_t*>(bytes);
  if (!detail::is_gzip(b, size)) return parse_idx(b, size, out, error);
  std::vector<uint8_t> raw;
  if (!detail::gunzip(b, size, &raw, error, kMaxIdxBytes)) return false;
  return parse_idx(raw.data(), raw.size(), out, error);
}

bool read_idx(const std::string& path, TypedArray* out, std::string* error) {
  std::vector<uint8_t> bytes;
  if (!detail::read_file(path, &bytes, error, kMaxIdxBytes)) return false;
  if (!decode_idx(bytes.data(), bytes.size(), out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

bool read_idx_labels(const std::string& path, std::vector<int64_t>* labels, std::string* error, int64_t max_classes) {
  TypedArray a;
  if (!read_idx(path, &a, error)) return false;
  if (a.shape.size() != 1 || a.dtype == DType::f32 || a.dtype == DType::f64) {
    *error = path + ": a label file must be one-dimensional integers, this is " + dtype_name(a.dtype) + " " +
             shape_string(a.shape);
    return false;
  }
  FloatTensor t;
  if (!to_float(a, &t, error)) {
    *error = path + ": " + *error;
    return false;
  }
  std::vector<int64_t> out(t.data.size());
  for (size_t i = 0; i < t.data.size(); ++i) {
    out[i] = static_cast<int64_t>(t.data[i]);
    if (out[i] < 0 || (max_classes > 0 && out[i] >= max_classes)) {
      *error = path + ": label " + std::to_string(i) + " is " + std::to_string(out[i]) + ", outside [0, " +
               std::to_string(max_classes > 0 ? max_classes : INT64_MAX) + ")";
      return false;
    }
  }
  *labels = std::move(out);
  return true;
}

// ---- IdxReader ----------------------------------------------------------------------------------

struct IdxReader::Impl {
  gzFile file = nullptr;  // gzread reads uncompressed files as they are
  std::vector<uint8_t> buffer;
  ~Impl() {
    if (file) gzclose(file);
  }
};

IdxReader::IdxReader() : impl_(std::make_unique<Impl>()) {}
IdxReader::~IdxReader() = default;

size_t IdxReader::items() const { return header_.shape.empty() ? 0 : static_cast<size_t>(header_.shape[0]); }

size_t IdxReader::item_elements() const {
  size_t n = 1;
  for (size_t d = 1; d < header_.shape.size(); ++d) n *= static_cast<size_t>(header_.shape[d]);
  return n;
}

bool IdxReader::open(const std::string& path, std::string* error) {
  path_ = path;
  next_ = 0;
  if (impl_->file) gzclose(impl_->file);
  impl_->file = gzopen(path.c_str(), "rb");
  if (!impl_->file) {
    std::vector<uint8_t> probe;
    if (!detail::read_file(path, &probe, error, kMaxIdxBytes)) return false;  // the usual "No such file" message
    *error = path + ": cannot open";
    return false;
  }
  uint8_t head[4 + 4 * 255];
  const int got = gzread(impl_->file, head, 4);
  if (got != 4) {
    *error = path + ": " + (got < 0 ? "corrupt gzip data" : "not an IDX file (shorter than its 4-byte magic)");
    return false;
  }
  const size_t ndim = head[3];
  if (ndim > 0 && gzread(impl_->file, head + 4, static_cast<unsigned>(4 * ndim)) != static_cast<int>(4 * ndim)) {
    // Let the header parser produce the precise message (bad magic or truncated header).
    IdxHeader h;
    if (!parse_idx_header(head, 4, &h, error)) {
      *error = path + ": " + *error;
      return false;
    }
    *error = path + ": truncated IDX header";
    return false;
  }
  if (!parse_idx_header(head, 4 + 4 * ndim, &header_, error)) {
    *error = path + ": " + *error;
    return false;
  }
  if (header_.shape.empty()) {
    *error = path + ": IDX file without dimensions";
    return false;
  }
  return true;
}

bool IdxReader::read_next(size_t count, float* out, std::string* error) {
  if (!impl_->file) {
    *error = "IdxReader: no file open";
    return false;
  }
  if (count > items() - next_) {
    *error = path_ + ": reading past the last item";
    return false;
  }
  const size_t elem = dtype_size(header_.dtype);
  const size_t n = count * item_elements();
  impl_->buffer.resize(n * elem);
  size_t done = 0;
  while (done < impl_->buffer.size()) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(impl_->buffer.size() - done, 1u << 30));
    const int got = gzread(impl_->file, impl_->buffer.data() + done, chunk);
    if (got <= 0) {
      int zerr = 0;
      gzerror(impl_->file, &zerr);
      *error = path_ + ": " + (zerr != Z_OK && zerr != Z_BUF_ERROR ? "corrupt gzip data" : "truncated IDX data") +
               " (item " + std::to_string(next_ + done / elem / std::max<size_t>(1, item_elements())) + " of " +
               std::to_string(items()) + ")";
      return false;
    }
    done += static_cast<size_t>(got);
  }
  big_to_native(impl_->buffer.data(), n, elem);
  TypedArray a;
  a.dtype = header_.dtype;
  a.shape = {static_cast<int64_t>(n)};
  a.bytes.swap(impl_->buffer);
  FloatTensor t;
  std::string e;
  const bool ok = to_float(a, &t, &e, true);
  impl_->buffer.swap(a.bytes);
  if (!ok) {
    *error = path_ + ": items from " + std::to_string(next_) + ": " + e;
    return false;
  }
  if (n) std::memcpy(out, t.data.data(), n * sizeof(float));
  next_ += count;
  return true;
}

bool IdxReader::rewind(std::string* error) {
  if (!impl_->file || gzseek(impl_->file, static_cast<z_off_t>(header_.data_offset), SEEK_SET) < 0) {
    *error = path_ + ": cannot rewind";
    return false;
  }
  next_ = 0;
  return true;
}

}  // namespace kiln::calib
