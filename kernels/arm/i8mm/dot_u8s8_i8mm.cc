#include <arm_neon.h>

#include "kiln/kernels/dot.h"

namespace kiln::kernels {

// usdot (FEAT_I8MM) multiplies uint8 by int8 directly.
int32_t dot_u8s8__i8mm(const uint8_t* a, const int8_t* b, size_t n) {
  int32x4_t acc = vdupq_n_s32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) acc = vusdotq_s32(acc, vld1q_u8(a + i), vld1q_s8(b + i));
  int32_t total = vaddvq_s32(acc);
  for (; i < n; ++i) total += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return total;
}

}  // namespace kiln::kernels
