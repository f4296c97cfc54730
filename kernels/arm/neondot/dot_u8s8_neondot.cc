#include <arm_neon.h>

#include "kiln/kernels/dot.h"

namespace kiln::kernels {

// sdot multiplies int8 by int8, so the uint8 operand is shifted to int8 (a - 128) and the
// shift is added back as 128 * sum(b), which udot-free code computes with a second sdot by ones.
int32_t dot_u8s8__neondot(const uint8_t* a, const int8_t* b, size_t n) {
  int32x4_t acc = vdupq_n_s32(0);
  int32x4_t bsum = vdupq_n_s32(0);
  const int8x16_t ones = vdupq_n_s8(1);
  const uint8x16_t bias = vdupq_n_u8(128);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t va = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + i), bias));
    const int8x16_t vb = vld1q_s8(b + i);
    acc = vdotq_s32(acc, va, vb);
    bsum = vdotq_s32(bsum, ones, vb);
  }
  int32_t total = vaddvq_s32(acc) + 128 * vaddvq_s32(bsum);
  for (; i < n; ++i) total += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  return total;
}

}  // namespace kiln::kernels
