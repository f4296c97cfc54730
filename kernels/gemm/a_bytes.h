// Reading A's bytes in the GEMM micro-kernels (kernels-internal).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::kernels {

// Bytes [k, k+4) of a row of length kc as a little-endian word, zero past kc: the last, partial
// k-group of a row. No memcpy: a call inside a micro-kernel would spill every accumulator.
inline uint32_t tail_bytes(const uint8_t* row, size_t k, size_t kc) {
  uint32_t v = 0;
  for (size_t j = 0; j < 4 && k + j < kc; ++j) v |= static_cast<uint32_t>(row[k + j]) << (8 * j);
  return v;
}

}  // namespace kiln::kernels
