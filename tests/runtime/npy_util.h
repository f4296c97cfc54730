// A minimal reader of little-endian float32 C-order .npy files for the tests (the runtime lane
// cannot use the host-side calibration I/O).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace kiln::test {

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline bool read_npy_f32(const std::string& path, NpyF32* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open " + path;
    return false;
  }
  const std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) {
    *error = path + ": not a .npy file";
    return false;
  }
  const int major = static_cast<unsigned char>(b[6]);
  size_t hlen, off;
  if (major == 1) {
    hlen = static_cast<unsigned char>(b[8]) | static_cast<unsigned char>(b[9]) << 8;
    off = 10;
  } else {
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<unsigned char>(b[8 + i])) << (8 * i);
    off = 12;
  }
  if (off + hlen > b.size()) {
    *error = path + ": truncated header";
    return false;
  }
  const std::string h = b.substr(off, hlen);
  if (h.find("'<f4'") == std::string::npos || h.find("'fortran_order': False") == std::string::npos) {
    *error = path + ": expected little-endian float32 in C order";
    return false;
  }
  const size_t l = h.find('('), r = h.find(')');
  out->shape.clear();
  std::string dims = h.substr(l + 1, r - l - 1);
  size_t n = 1;
  for (size_t p = 0; p < dims.size();) {
    while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
    if (p >= dims.size()) break;
    const int64_t d = std::stoll(dims.substr(p));
    out->shape.push_back(d);
    n *= static_cast<size_t>(d);
    while (p < dims.size() && dims[p] != ',') ++p;
  }
  if (b.size() - off - hlen != n * 4) {
    *error = path + ": data size does not match the shape";
    return false;
  }
  out->data.resize(n);
  std::memcpy(out->data.data(), b.data() + off + hlen, n * 4);
  return true;
}

}  // namespace kiln::test
