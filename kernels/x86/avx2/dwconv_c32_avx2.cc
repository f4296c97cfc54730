#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "conv_requant_avx2.h"
#include "kiln/kernels/dwconv.h"

namespace kiln::kernels {
namespace {

// n <= 32 channels of one tap; bytes past n are zero and never read from memory.
inline __m256i load_channels(const uint8_t* p, size_t n) {
  if (n >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (n == 16) return _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(32) uint8_t tmp[32] = {};
  std::memcpy(tmp, p, n);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
}

// Layout (dwconv_pack, Isa::avx2): per 32-channel tile, 32 int32 biases and 32 float multipliers
// in class order, then per tap pair four class vectors of int16 weight pairs. Class k, lane j is
// channel 4j + k. The epilogue variant is a template parameter so the per-tile code has no
// branches on it.
template <bool kResidual, bool kHardswish>
void dwconv_c32_avx2_impl(const DwConvArgs& a, const avx2::Requant8& rq) {
  const size_t pairs = a.taps / 2;  // full tap pairs; an odd last tap is handled alone
  const bool odd = (a.taps & 1) != 0;
  const size_t tile_bytes = 256 + (a.taps + 1) / 2 * 128;
  const __m256i low_bytes = _mm256_set1_epi32(0x00FF00FF);
  const __m256i byte0 = _mm256_set1_epi32(0xFF);
  for (size_t px = 0; px < a.pixels; ++px) {
    const uint8_t* const* in = a.indirection + px * a.indirection_step;
    uint8_t* out = a.output + px * a.output_stride;
    const uint8_t* res = kResidual ? a.residual + px * a.residual_stride : nullptr;
    const uint8_t* tile = static_cast<const uint8_t*>(a.packed);
    for (size_t c = 0; c < a.channels; c += 32, tile += tile_bytes) {
      const size_t n = std::min<size_t>(32, a.channels - c);
      const __m256i* bias = reinterpret_cast<const __m256i*>(tile);
      __m256i acc0 = _mm256_loadu_si256(bias + 0);
      __m256i acc1 = _mm256_loadu_si256(bias + 1);
      __m256i acc2 = _mm256_loadu_si256(bias + 2);
      __m256i acc3 = _mm256_loadu_si256(bias + 3);
      const __m256i* w = reinterpret_cast<const __m256i*>(tile + 256);
      auto accumulate = [&](__m256i x0, __m256i x1) {
        // Per 32-bit lane: b01 = {x0 byte 0, x0 byte 1, x1 byte 0, x1 byte 1}, b23 likewise bytes 2, 3.
        const __m256i b01 = _mm256_blend_epi16(x0, _mm256_slli_epi32(x1, 16), 0xAA);
        const __m256i b23 = _mm256_blend_epi16(_mm256_srli_epi32(x0, 16), x1, 0xAA);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_and_si256(b01, low_bytes), _mm256_loadu_si256(w + 0)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_srli_epi16(b01, 8), _mm256_loadu_si256(w + 1)));
        acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_and_si256(b23, low_bytes), _mm256_loadu_si256(w + 2)));
        acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_srli_epi16(b23, 8), _mm256_loadu_si256(w + 3)));
        w += 4;
      };
      if (n == 32) {
        for (size_t pr = 0; pr < pairs; ++pr) {
          accumulate(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[2 * pr] + c)),
                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[2 * pr + 1] + c)));
        }
        if (odd) accumulate(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[a.taps - 1] + c)), _mm256_setzero_si256());
      } else {
        for (size_t pr = 0; pr < pairs; ++pr) accumulate(load_channels(in[2 * pr] + c, n), load_channels(in[2 * pr + 1] + c, n));
        if (odd) accumulate(load_channels(in[a.taps - 1] + c, n), _mm256_setzero_si256());
      }
      // Epilogue in class order; the residual's bytes are split the same way.
      const float* mult = reinterpret_cast<const float*>(tile + 128);
      __m256i r0 = _mm256_setzero_si256(), r1 = r0, r2 = r0, r3 = r0;
      if constexpr (kResidual) {
        const __m256i rv = load_channels(res + c, n);
        r0 = _mm256_and_si256(rv, byte0);
        r1 = _mm256_and_si256(_mm256_srli_epi32(rv, 8), byte0);
        r2 = _mm256_and_si256(_mm256_srli_epi32(rv, 16), byte0);
        r3 = _mm256_srli_epi32(rv, 24);
      }
      const __m256i q0 = rq.apply_t32<kResidual, kHardswish>(acc0, _mm256_loadu_ps(mult + 0), r0);
      const __m256i q1 = rq.apply_t32<kResidual, kHardswish>(acc1, _mm256_loadu_ps(mult + 8), r1);
      const __m256i q2 = rq.apply_t32<kResidual, kHardswish>(acc2, _mm256_loadu_ps(mult + 16), r2);
      const __m256i q3 = rq.apply_t32<kResidual, kHardswish>(acc3, _mm256_loadu_ps(mult + 24), r3);
      // Codes are in [0, 255]: class k goes to byte k of each lane, which is channel order.
      const __m256i bytes = _mm256_or_si256(_mm256_or_si256(q0, _mm256_slli_epi32(q1, 8)),
                                            _mm256_or_si256(_mm256_slli_epi32(q2, 16), _mm256_slli_epi32(q3, 24)));
      if (n == 32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), bytes);
      } else {
        avx2::store_bytes(out + c, bytes, n);
      }
    }
  }
}

}  // namespace

void dwconv_c32__avx2(const DwConvArgs& a, const RequantParams& p) {
  const avx2::Requant8 rq(p);
  const bool hs = p.activation == Activation::hardswish;
  if (p.residual != nullptr) {
    hs ? dwconv_c32_avx2_impl<true, true>(a, rq) : dwconv_c32_avx2_impl<true, false>(a, rq);
  } else {
    hs ? dwconv_c32_avx2_impl<false, true>(a, rq) : dwconv_c32_avx2_impl<false, false>(a, rq);
  }
}

}  // namespace kiln::kernels
