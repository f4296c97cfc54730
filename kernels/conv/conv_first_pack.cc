#include <cstring>

#include "kiln/kernels/conv_first.h"

namespace kiln::kernels {
namespace {

size_t block_of(ConvFirstLayout layout) { return layout == ConvFirstLayout::int16pair32 ? 32 : 64; }
size_t kc_padded(size_t kc) { return (kc + 3) / 4 * 4; }
// One group of 4 k: 32 channels x 4 int16 weights, or 64 channels x 4 int8 weights.
size_t group_bytes(ConvFirstLayout) { return 256; }
size_t block_bytes(ConvFirstLayout layout, size_t segments, size_t kc) {
  return block_of(layout) * 4 + segments * kc_padded(kc) / 4 * group_bytes(layout);
}

}  // namespace

size_t conv_first_packed_size(ConvFirstLayout layout, size_t out_c, size_t segments, size_t kc) {
  const size_t block = block_of(layout);
  return (out_c + block - 1) / block * block_bytes(layout, segments, kc);
}

void conv_first_pack(ConvFirstLayout layout, size_t out_c, size_t segments, size_t kc, const int8_t* weights,
                     const int32_t* bias, int32_t input_zero_point, void* out) {
  uint8_t* dst = static_cast<uint8_t*>(out);
  std::memset(dst, 0, conv_first_packed_size(layout, out_c, segments, kc));
  const size_t block = block_of(layout), groups = kc_padded(kc) / 4;
  for (size_t c = 0; c < out_c; ++c) {
    uint8_t* blk = dst + c / block * block_bytes(layout, segments, kc);
    const size_t j = c % block;
    const int8_t* w = weights + c * segments * kc;
    int64_t sum = 0;
    for (size_t i = 0; i < segments * kc; ++i) sum += w[i];
    // bias - za * sum(w), modular like the kernels' int32 adds.
    const int32_t b = static_cast<int32_t>(static_cast<uint32_t>(bias[c]) -
                                           static_cast<uint32_t>(input_zero_point * sum));
    std::memcpy(blk + 4 * j, &b, 4);
    for (size_t s = 0; s < segments; ++s) {
      for (size_t g = 0; g < groups; ++g) {
        uint8_t* grp = blk + block * 4 + (s * groups + g) * group_bytes(layout);
        for (size_t i = 0; i < 4; ++i) {
          const size_t k = 4 * g + i;
          const int8_t v = k < kc ? w[s * kc + k] : int8_t{0};
          if (layout == ConvFirstLayout::kgroup64) {
            grp[4 * j + i] = static_cast<uint8_t>(v);
          } else {
            // Quarter of 8 channels; k0, k2 in its first 32 bytes (pair slots 0, 1), k1, k3 in the second.
            const int16_t v16 = v;
            std::memcpy(grp + (j / 8) * 64 + (i & 1) * 32 + (j % 8) * 4 + (i >> 1) * 2, &v16, 2);
          }
        }
      }
    }
  }
}

}  // namespace kiln::kernels
