#include <cstring>

#include "kiln/kernels/dwconv.h"

namespace kiln::kernels {

// Packed layout (dwconv_pack, Isa::ref): channels int32 folded biases, channels float multipliers,
// then [channel][tap] int8.
void dwconv__ref(const DwConvArgs& a, const RequantParams& p) {
  const uint8_t* packed = static_cast<const uint8_t*>(a.packed);
  const int8_t* weights = reinterpret_cast<const int8_t*>(packed + 8 * a.channels);
  for (size_t px = 0; px < a.pixels; ++px) {
    const uint8_t* const* in = a.indirection + px * a.indirection_step;
    uint8_t* out = a.output + px * a.output_stride;
    const uint8_t* res = p.residual != nullptr ? a.residual + px * a.residual_stride : nullptr;
    for (size_t c = 0; c < a.channels; ++c) {
      uint32_t acc;  // wraps modulo 2^32 like the SIMD kernels' adds (a huge packed bias must not be UB)
      std::memcpy(&acc, packed + 4 * c, 4);
      for (size_t t = 0; t < a.taps; ++t) acc += static_cast<uint32_t>(in[t][c] * weights[c * a.taps + t]);
      float m;
      std::memcpy(&m, packed + 4 * a.channels + 4 * c, 4);
      out[c] = requantize(static_cast<int32_t>(acc), m, res != nullptr ? res[c] : uint8_t{0}, p);
    }
  }
}

}  // namespace kiln::kernels
