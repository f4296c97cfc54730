#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "conv_requant_neon.h"
#include "kiln/kernels/dwconv.h"

namespace kiln::kernels {

// Layout (dwconv_pack, Isa::neondot): per 16-channel tile, 16 int32 biases, 16 float multipliers,
// then per tap 16 int16 weights. uint8 inputs widen exactly to int16, and smlal accumulates int16 x int16 into int32.
void dwconv_c16__neondot(const DwConvArgs& a, const RequantParams& p) {
  const neon::Requant4 rq(p);
  const size_t tile_bytes = 128 + a.taps * 32;
  for (size_t px = 0; px < a.pixels; ++px) {
    const uint8_t* const* in = a.indirection + px * a.indirection_step;
    uint8_t* out = a.output + px * a.output_stride;
    const uint8_t* res = p.residual != nullptr ? a.residual + px * a.residual_stride : nullptr;
    const uint8_t* tile = static_cast<const uint8_t*>(a.packed);
    for (size_t c = 0; c < a.channels; c += 16, tile += tile_bytes) {
      const size_t n = std::min<size_t>(16, a.channels - c);
      const int32_t* bias = reinterpret_cast<const int32_t*>(tile);
      int32x4_t acc0 = vld1q_s32(bias), acc1 = vld1q_s32(bias + 4);
      int32x4_t acc2 = vld1q_s32(bias + 8), acc3 = vld1q_s32(bias + 12);
      const int16_t* w = reinterpret_cast<const int16_t*>(tile + 128);
      for (size_t t = 0; t < a.taps; ++t, w += 16) {
        uint8x16_t x;
        if (n == 16) {
          x = vld1q_u8(in[t] + c);
        } else {
          uint8_t tmp[16] = {};
          std::memcpy(tmp, in[t] + c, n);
          x = vld1q_u8(tmp);
        }
        const int16x8_t xl = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(x)));
        const int16x8_t xh = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(x)));
        const int16x8_t wl = vld1q_s16(w), wh = vld1q_s16(w + 8);
        acc0 = vmlal_s16(acc0, vget_low_s16(xl), vget_low_s16(wl));
        acc1 = vmlal_high_s16(acc1, xl, wl);
        acc2 = vmlal_s16(acc2, vget_low_s16(xh), vget_low_s16(wh));
        acc3 = vmlal_high_s16(acc3, xh, wh);
      }
      const float* mult = reinterpret_cast<const float*>(tile + 64);
      uint8_t rbytes[16] = {};
      if (res != nullptr) std::memcpy(rbytes, res + c, n);
      const uint8x16_t rv = vld1q_u8(rbytes);
      const uint16x8_t rl = vmovl_u8(vget_low_u8(rv)), rh = vmovl_u8(vget_high_u8(rv));
      const int32x4_t q0 = rq.apply(acc0, vld1q_f32(mult + 0), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(rl))));
      const int32x4_t q1 = rq.apply(acc1, vld1q_f32(mult + 4), vreinterpretq_s32_u32(vmovl_high_u16(rl)));
      const int32x4_t q2 = rq.apply(acc2, vld1q_f32(mult + 8), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(rh))));
      const int32x4_t q3 = rq.apply(acc3, vld1q_f32(mult + 12), vreinterpretq_s32_u32(vmovl_high_u16(rh)));
      // Codes are in [0, 255]: saturating narrows keep them.
      const int16x8_t h0 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
      const int16x8_t h1 = vcombine_s16(vqmovn_s32(q2), vqmovn_s32(q3));
      const uint8x16_t bytes = vcombine_u8(vqmovun_s16(h0), vqmovun_s16(h1));
      if (n == 16) {
        vst1q_u8(out + c, bytes);
      } else {
        uint8_t tmp[16];
        vst1q_u8(tmp, bytes);
        std::memcpy(out + c, tmp, n);
      }
    }
  }
}

}  // namespace kiln::kernels
