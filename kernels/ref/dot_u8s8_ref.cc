#include "kiln/kernels/dot.h"

namespace kiln::kernels {

int32_t dot_u8s8__ref(const uint8_t* a, const int8_t* b, size_t n) {
  int32_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return acc;
}

}  // namespace kiln::kernels
