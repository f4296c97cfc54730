#include "kiln/calib/data/npy.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "file_io.h"

namespace kiln::calib {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxHeaderLen = 1 << 20;  // numpy itself refuses headers beyond 10 kB by default

// A tiny reader for the Python dict literal in a .npy header:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class DictParser {
 public:
  explicit DictParser(const std::string& s) : s_(s) {}

  bool parse(NpyHeader* h, std::string* descr, std::string* error) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    if (!eat('{')) return fail("header is not a dict", error);
    while (true) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      if (!string_literal(&key)) return fail("expected a quoted key in the header", error);
      skip_ws();
      if (!eat(':')) return fail("expected ':' after '" + key + "'", error);
      skip_ws();
      if (key == "descr") {
        if (!string_literal(descr)) return fail("'descr' is not a string (structured dtypes are not supported)", error);
        have_descr = true;
      } else if (key == "fortran_order") {
        if (word("True")) {
          h->fortran_order = true;
        } else if (word("False")) {
          h->fortran_order = false;
        } else {
          return fail("'fortran_order' is not True or False", error);
        }
        have_order = true;
      } else if (key == "shape") {
        if (!tuple(&h->shape, error)) return false;
        have_shape = true;
      } else {
        return fail("unexpected header key '" + key + "'", error);
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return fail("expected ',' or '}' in the header", error);
    }
    if (!have_descr || !have_order || !have_shape) {
      return fail("header lacks 'descr', 'fortran_order' or 'shape'", error);
    }
    return true;
  }

 private:
  static bool fail(const std::string& what, std::string* error) {
    *error = what;
    return false;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(const char* w) {
    const size_t n = std::strlen(w);
    if (s_.compare(i_, n, w) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }
  bool string_literal(std::string* out) {
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return false;
    const char q = s_[i_++];
    const size_t end = s_.find(q, i_);
    if (end == std::string::npos) return false;
    *out = s_.substr(i_, end - i_);
    i_ = end + 1;
    return true;
  }
  bool tuple(std::vector<int64_t>* shape, std::string* error) {
    shape->clear();
    if (!eat('(')) return fail("'shape' is not a tuple", error);
    while (true) {
      skip_ws();
      if (eat(')')) return true;
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return fail("'shape' holds something other than a non-negative integer", error);
      int64_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > (INT64_MAX - 9) / 10) return fail("a dimension in 'shape' is too large", error);
        v = v * 10 + (s_[i_++] - '0');
      }
      eat('L');  // Python 2 long literals
      shape->push_back(v);
      if (shape->size() > 32) return fail("'shape' has more than 32 dimensions", error);
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat(')')) return true;
      return fail("malformed 'shape' tuple", error);
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

bool parse_descr(const std::string& d, NpyHeader* h, std::string* error) {
  if (d.size() < 2) {
    *error = "unsupported dtype '" + d + "'";
    return false;
  }
  const char order = d[0];
  const std::string code = d.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    *error = "unsupported dtype '" + d + "'";
    return false;
  }
  h->big_endian = order == '>';
  if (code == "f4") h->dtype = DType::f32;
  else if (code == "f8") h->dtype = DType::f64;
  else if (code == "u1") h->dtype = DType::u8;
  else if (code == "i1") h->dtype = DType::i8;
  else if (code == "i2") h->dtype = DType::i16;
  else if (code == "i4") h->dtype = DType::i32;
  else if (code == "i8") h->dtype = DType::i64;
  else {
    *error = "unsupported dtype '" + d + "' (float32, float64, uint8, int8, int16, int32 and int64 are)";
    return false;
  }
  if (dtype_size(h->dtype) == 1) h->big_endian = false;
  return true;
}

void byteswap(uint8_t* bytes, size_t n, size_t elem) {
  for (size_t i = 0; i < n; ++i) std::reverse(bytes + i * elem, bytes + (i + 1) * elem);
}

// Fortran order (first index fastest) to C order (last index fastest).
std::vector<uint8_t> fortran_to_c(const uint8_t* src, const std::vector<int64_t>& shape, size_t numel, size_t elem) {
  std::vector<uint8_t> dst(numel * elem);
  const size_t nd = shape.size();
  std::vector<size_t> fstride(nd);
  size_t s = 1;
  for (size_t d = 0; d < nd; ++d) {
    fstride[d] = s;
    s *= static_cast<size_t>(shape[d]);
  }
  std::vector<size_t> idx(nd, 0);
  for (size_t c = 0; c < numel; ++c) {
    size_t f = 0;
    for (size_t d = 0; d < nd; ++d) f += idx[d] * fstride[d];
    std::memcpy(dst.data() + c * elem, src + f * elem, elem);
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < static_cast<size_t>(shape[d])) break;
      idx[d] = 0;
    }
  }
  return dst;
}

std::string npy_descr(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::u8: return "|u1";
    case DType::i8: return "|i1";
    case DType::i16: return "<i2";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
  }
  return "<f4";
}

// Parses magic, version and dict; sets data_offset and numel but does not look at the data.
bool parse_header_only(const uint8_t* b, size_t size, NpyHeader* out, std::string* error) {
  if (size < kMagicLen + 4 || std::memcmp(b, kMagic, kMagicLen) != 0) {
    *error = "not a .npy file (bad magic)";
    return false;
  }
  const int major = b[6];
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = b[8] | (size_t{b[9]} << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      *error = "truncated .npy header";
      return false;
    }
    header_len = b[8] | (size_t{b[9]} << 8) | (size_t{b[10]} << 16) | (size_t{b[11]} << 24);
    prefix = 12;
  } else {
    *error = "unsupported .npy version " + std::to_string(major) + "." + std::to_string(b[7]);
    return false;
  }
  if (header_len > kMaxHeaderLen || prefix + header_len > size) {
    *error = "truncated .npy header";
    return false;
  }
  const std::string text(reinterpret_cast<const char*>(b + prefix), header_len);
  NpyHeader h;
  std::string descr;
  if (!DictParser(text).parse(&h, &descr, error)) return false;
  if (!parse_descr(descr, &h, error)) return false;
  if (!shape_numel(h.shape, &h.numel, (size_t{1} << 40) / dtype_size(h.dtype))) {
    *error = "shape " + shape_string(h.shape) + " is too large";
    return false;
  }
  h.data_offset = prefix + header_len;
  *out = std::move(h);
  return true;
}

// The data after the header must be exactly the array.
bool check_data_length(const NpyHeader& h, size_t file_size, std::string* error) {
  const size_t need = h.numel * dtype_size(h.dtype);
  const size_t have = file_size - h.data_offset;
  if (have < need) {
    *error = "truncated: shape " + shape_string(h.shape) + " of " + dtype_name(h.dtype) + " needs " +
             std::to_string(need) + " data bytes, the file has " + std::to_string(have);
    return false;
  }
  if (have > need) {
    *error = std::to_string(have - need) + " unexpected bytes after the array data";
    return false;
  }
  return true;
}

}  // namespace

bool parse_npy_header(const void* bytes, size_t size, NpyHeader* out, std::string* error) {
  NpyHeader h;
  if (!parse_header_only(static_cast<const uint8_t*>(bytes), size, &h, error)) return false;
  if (!check_data_length(h, size, error)) return false;
  *out = std::move(h);
  return true;
}

bool parse_npy(const void* bytes, size_t size, TypedArray* out, std::string* error) {
  NpyHeader h;
  if (!parse_npy_header(bytes, size, &h, error)) return false;
  const size_t elem = dtype_size(h.dtype);
  const auto* data = static_cast<const uint8_t*>(bytes) + h.data_offset;
  TypedArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  if (h.fortran_order && h.shape.size() > 1) {
    a.bytes = fortran_to_c(data, h.shape, h.numel, elem);
  } else {
    a.bytes.assign(data, data + h.numel * elem);
  }
  if (h.big_endian) byteswap(a.bytes.data(), h.numel, elem);
  *out = std::move(a);
  return true;
}

bool read_npy(const std::string& path, TypedArray* out, std::string* error) {
  std::vector<uint8_t> bytes;
  if (!detail::read_file(path, &bytes, error)) return false;
  if (!parse_npy(bytes.data(), bytes.size(), out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

bool read_npy_float(const std::string& path, FloatTensor* out, std::string* error, bool allow_non_finite) {
  TypedArray a;
  if (!read_npy(path, &a, error)) return false;
  if (!to_float(a, out, error, !allow_non_finite)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

std::vector<uint8_t> encode_npy(const TypedArray& array) {
  std::string dims;
  for (size_t i = 0; i < array.shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(array.shape[i]);
  if (array.shape.size() == 1) dims += ",";  // Python's one-element tuple: (5,)
  std::string dict = "{'descr': '" + npy_descr(array.dtype) + "', 'fortran_order': False, 'shape': (" + dims + ")";
  dict += ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, newline-terminated (format 1.0).
  const size_t total = kMagicLen + 4 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::vector<uint8_t> out(kMagic, kMagic + kMagicLen);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(dict.size() & 0xff));
  out.push_back(static_cast<uint8_t>(dict.size() >> 8));
  out.insert(out.end(), dict.begin(), dict.end());
  out.insert(out.end(), array.bytes.begin(), array.bytes.end());
  return out;
}

bool write_npy(const std::string& path, const TypedArray& array, std::string* error) {
  size_t numel = 0;
  if (!shape_numel(array.shape, &numel) || numel * dtype_size(array.dtype) != array.bytes.size()) {
    *error = path + ": array data does not match its shape " + shape_string(array.shape);
    return false;
  }
  const std::vector<uint8_t> bytes = encode_npy(array);
  return detail::write_file_atomic(path, bytes.data(), bytes.size(), error);
}

bool write_npy(const std::string& path, const FloatTensor& tensor, std::string* error) {
  TypedArray a;
  a.dtype = DType::f32;
  a.shape = tensor.shape;
  a.bytes.resize(tensor.data.size() * sizeof(float));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), tensor.data.data(), a.bytes.size());
  return write_npy(path, a, error);
}

// ---- NpyRowReader -------------------------------------------------------------------------------

NpyRowReader::~NpyRowReader() {
  if (file_) std::fclose(file_);
}

bool NpyRowReader::open(const std::string& path, std::string* error) {
  path_ = path;
  if (file_) std::fclose(file_);
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  // Read just enough for the header; the header check needs the file size for the data length.
  if (std::fseek(file_, 0, SEEK_END) != 0) {
    *error = path + ": cannot seek";
    return false;
  }
  const long end = std::ftell(file_);
  std::rewind(file_);
  if (end < 0) {
    *error = path + ": cannot tell its size";
    return false;
  }
  std::vector<uint8_t> head(std::min<size_t>(static_cast<size_t>(end), 12 + kMaxHeaderLen));
  if (!head.empty() && std::fread(head.data(), 1, head.size(), file_) != head.size()) {
    *error = path + ": read error";
    return false;
  }
  NpyHeader h;
  if (!parse_header_only(head.data(), head.size(), &h, error) ||
      !check_data_length(h, static_cast<size_t>(end), error)) {
    *error = path + ": " + *error;
    return false;
  }
  rows_ = h.shape.empty() ? 1 : static_cast<size_t>(h.shape[0]);
  row_elems_ = 1;
  for (size_t d = 1; d < h.shape.size(); ++d) row_elems_ *= static_cast<size_t>(h.shape[d]);
  whole_.clear();
  if (h.fortran_order && h.shape.size() > 1) {
    TypedArray a;
    FloatTensor t;
    if (!read_npy(path, &a, error)) return false;
    std::string e;
    if (!to_float(a, &t, &e, false)) {
      *error = path + ": " + e;
      return false;
    }
    whole_ = std::move(t.data);
  }
  header_ = h;
  return true;
}

bool NpyRowReader::read_rows(size_t first, size_t count, float* out, std::string* error, bool allow_non_finite) {
  if (!file_) {
    *error = "NpyRowReader: no file open";
    return false;
  }
  if (first > rows_ || count > rows_ - first) {
    *error = path_ + ": rows " + std::to_string(first) + ".." + std::to_string(first + count) + " out of range (" +
             std::to_string(rows_) + " rows)";
    return false;
  }
  const size_t n = count * row_elems_;
  if (n == 0) return true;
  if (!whole_.empty()) {
    std::memcpy(out, whole_.data() + first * row_elems_, n * sizeof(float));
  } else {
    const size_t elem = dtype_size(header_.dtype);
    TypedArray a;
    a.dtype = header_.dtype;
    a.shape = {static_cast<int64_t>(n)};
    a.bytes.swap(buffer_);  // reuse the allocation between calls
    a.bytes.resize(n * elem);
    const size_t offset = header_.data_offset + first * row_elems_ * elem;
    const bool read_ok = std::fseek(file_, static_cast<long>(offset), SEEK_SET) == 0 &&
                         std::fread(a.bytes.data(), 1, a.bytes.size(), file_) == a.bytes.size();
    if (read_ok && header_.big_endian) byteswap(a.bytes.data(), n, elem);
    FloatTensor t;
    std::string e;
    const bool ok = read_ok && to_float(a, &t, &e, false);
    buffer_.swap(a.bytes);
    if (!ok) {
      *error = path_ + ": " + (read_ok ? e : "read error (file changed or truncated?)");
      return false;
    }
    std::memcpy(out, t.data.data(), n * sizeof(float));
  }
  if (!allow_non_finite) {
    const size_t bad = first_non_finite(out, n);
    if (bad != SIZE_MAX) {
      *error = path_ + ": sample " + std::to_string(first + bad / row_elems_) + " holds " +
               (std::isnan(out[bad]) ? "NaN" : "an infinity") + " (element " +
               std::to_string(first * row_elems_ + bad) + ")";
      return false;
    }
  }
  return true;
}

}  // namespace kiln::calib
