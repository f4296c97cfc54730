// gcc 12 reports its own _mm512_undefined_epi32() inside some intrinsics as maybe uninitialized;
// the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <algorithm>
#include <cstring>

#include "avx512_intrinsics.h"
#include "conv_requant_avx512.h"
#include "kiln/kernels/dwconv.h"
#include "x86/avx2/conv_requant_avx2.h"

namespace kiln::kernels {
namespace {

// Fully unrolled small loops keep the accumulator arrays in registers (gcc otherwise keeps them in
// memory).
#define KILN_UNROLL _Pragma("GCC unroll 8")

// n <= 32 channels of one tap; bytes past n are zero and never read from memory.
inline __m256i load_channels32(const uint8_t* p, size_t n) {
  if (n >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (n == 16) return _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(32) uint8_t tmp[32] = {};
  std::memcpy(tmp, p, n);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
}

// A tile of at most 32 channels: lanes 0..7 of each class are channels 0..31, i.e. the low half
// of every packed 64-channel class vector, so 256-bit vpdpbusd on the same layout does a quarter
// of a full tile's work where a masked 512-bit step would cost as much as 64 channels. P pixels
// (1 or 2) at once: 4 * P independent accumulator chains.
template <size_t P, bool kResidual, bool kHardswish>
void tail32(const uint8_t* const* const* in, size_t taps, size_t c, size_t n, const uint8_t* tile,
            const uint8_t* const* res, uint8_t* const* out, const avx2::Requant8& rq) {
  __m256i acc[P][4];
  KILN_UNROLL
  for (size_t k = 0; k < 4; ++k) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 64 * k));
    KILN_UNROLL
    for (size_t q = 0; q < P; ++q) acc[q][k] = b;
  }
  const uint8_t* w = tile + 512;
  for (size_t t = 0; t < taps; ++t, w += 256) {
    __m256i wk[4];
    KILN_UNROLL
    for (size_t k = 0; k < 4; ++k) wk[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * k));
    KILN_UNROLL
    for (size_t q = 0; q < P; ++q) {
      const __m256i x = load_channels32(in[q][t] + c, n);
      KILN_UNROLL
      for (size_t k = 0; k < 4; ++k) acc[q][k] = _mm256_dpbusd_epi32(acc[q][k], x, wk[k]);
    }
  }
  const float* mult = reinterpret_cast<const float*>(tile + 256);
  KILN_UNROLL
  for (size_t q = 0; q < P; ++q) {
    __m256i r[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    if constexpr (kResidual) {
      const __m256i byte0 = _mm256_set1_epi32(0xFF);
      const __m256i rv = load_channels32(res[q] + c, n);
      r[0] = _mm256_and_si256(rv, byte0);
      r[1] = _mm256_and_si256(_mm256_srli_epi32(rv, 8), byte0);
      r[2] = _mm256_and_si256(_mm256_srli_epi32(rv, 16), byte0);
      r[3] = _mm256_srli_epi32(rv, 24);
    }
    __m256i codes[4];
    KILN_UNROLL
    for (size_t k = 0; k < 4; ++k) {
      codes[k] = rq.apply_t32<kResidual, kHardswish>(acc[q][k], _mm256_loadu_ps(mult + 16 * k), r[k]);
    }
    const __m256i bytes = _mm256_or_si256(_mm256_or_si256(codes[0], _mm256_slli_epi32(codes[1], 8)),
                                          _mm256_or_si256(_mm256_slli_epi32(codes[2], 16), _mm256_slli_epi32(codes[3], 24)));
    avx2::store_bytes(out[q] + c, bytes, n);
  }
}

// The class-order epilogue of one pixel's 64-channel tile (n channels valid).
template <bool kResidual, bool kHardswish>
inline void finish64(__m512i acc0, __m512i acc1, __m512i acc2, __m512i acc3, const uint8_t* tile, const uint8_t* res,
                     size_t n, uint8_t* out, const avx512::Requant16& rq) {
  const uint64_t mask = avx512::byte_mask64(n);
  const uint8_t* mult = tile + 256;
  __m512i r0 = _mm512_setzero_si512(), r1 = r0, r2 = r0, r3 = r0;
  if constexpr (kResidual) {
    const __m512i byte0 = _mm512_set1_epi32(0xFF);
    const __m512i rv = _mm512_maskz_loadu_epi8(mask, res);
    r0 = _mm512_and_si512(rv, byte0);
    r1 = _mm512_and_si512(_mm512_srli_epi32(rv, 8), byte0);
    r2 = _mm512_and_si512(_mm512_srli_epi32(rv, 16), byte0);
    r3 = _mm512_srli_epi32(rv, 24);
  }
  const __m512i q0 = rq.apply_t32<kResidual, kHardswish>(acc0, _mm512_castsi512_ps(_mm512_loadu_si512(mult)), r0);
  const __m512i q1 = rq.apply_t32<kResidual, kHardswish>(acc1, _mm512_castsi512_ps(_mm512_loadu_si512(mult + 64)), r1);
  const __m512i q2 = rq.apply_t32<kResidual, kHardswish>(acc2, _mm512_castsi512_ps(_mm512_loadu_si512(mult + 128)), r2);
  const __m512i q3 = rq.apply_t32<kResidual, kHardswish>(acc3, _mm512_castsi512_ps(_mm512_loadu_si512(mult + 192)), r3);
  // Codes are in [0, 255]: class k goes to byte k of each lane, which is channel order.
  const __m512i bytes = _mm512_or_si512(_mm512_or_si512(q0, _mm512_slli_epi32(q1, 8)),
                                        _mm512_or_si512(_mm512_slli_epi32(q2, 16), _mm512_slli_epi32(q3, 24)));
  if (n == 64) {
    _mm512_storeu_si512(out, bytes);
  } else {
    _mm512_mask_storeu_epi8(out, mask, bytes);
  }
}

// Layout (dwconv_pack, Isa::avx512vnni): per 64-channel tile, 64 int32 biases and 64 float
// multipliers in class order, then per tap four class vectors: class k holds the weight of channel
// 4j + k in byte k of lane j and zeros in the other bytes, so vpdpbusd on the raw input bytes picks
// out one channel per lane. The epilogue stays in class order and ends with shifts and ORs.
// Full tiles run two pixels at once: eight independent vpdpbusd chains hide its latency, and each
// weight vector is loaded once for both.
template <bool kResidual, bool kHardswish>
void dwconv_c64_impl(const DwConvArgs& a, const avx512::Requant16& rq, const avx2::Requant8& rq8) {
  const size_t tile_bytes = 512 + a.taps * 256;
  for (size_t px = 0; px < a.pixels;) {
    const bool two = px + 1 < a.pixels;
    const uint8_t* const* in = a.indirection + px * a.indirection_step;
    const uint8_t* const* in2 = two ? in + a.indirection_step : in;
    uint8_t* out = a.output + px * a.output_stride;
    const uint8_t* res = kResidual ? a.residual + px * a.residual_stride : nullptr;
    const uint8_t* tile = static_cast<const uint8_t*>(a.packed);
    for (size_t c = 0; c < a.channels; c += 64, tile += tile_bytes) {
      const size_t n = std::min<size_t>(64, a.channels - c);
      if (n <= 32) {
        const uint8_t* const* ins[2] = {in, in2};
        const uint8_t* ress[2] = {res, kResidual ? res + a.residual_stride : nullptr};
        uint8_t* outs[2] = {out, out + a.output_stride};
        if (two) {
          tail32<2, kResidual, kHardswish>(ins, a.taps, c, n, tile, ress, outs, rq8);
        } else {
          tail32<1, kResidual, kHardswish>(ins, a.taps, c, n, tile, ress, outs, rq8);
        }
        continue;
      }
      __m512i acc0 = _mm512_loadu_si512(tile + 0);
      __m512i acc1 = _mm512_loadu_si512(tile + 64);
      __m512i acc2 = _mm512_loadu_si512(tile + 128);
      __m512i acc3 = _mm512_loadu_si512(tile + 192);
      const uint8_t* w = tile + 512;
      if (n == 64 && two) {
        __m512i bcc0 = acc0, bcc1 = acc1, bcc2 = acc2, bcc3 = acc3;
        for (size_t t = 0; t < a.taps; ++t, w += 256) {
          const __m512i x = _mm512_loadu_si512(in[t] + c);
          const __m512i y = _mm512_loadu_si512(in2[t] + c);
          const __m512i w0 = _mm512_loadu_si512(w + 0), w1 = _mm512_loadu_si512(w + 64);
          const __m512i w2 = _mm512_loadu_si512(w + 128), w3 = _mm512_loadu_si512(w + 192);
          acc0 = _mm512_dpbusd_epi32(acc0, x, w0);
          acc1 = _mm512_dpbusd_epi32(acc1, x, w1);
          acc2 = _mm512_dpbusd_epi32(acc2, x, w2);
          acc3 = _mm512_dpbusd_epi32(acc3, x, w3);
          bcc0 = _mm512_dpbusd_epi32(bcc0, y, w0);
          bcc1 = _mm512_dpbusd_epi32(bcc1, y, w1);
          bcc2 = _mm512_dpbusd_epi32(bcc2, y, w2);
          bcc3 = _mm512_dpbusd_epi32(bcc3, y, w3);
        }
        finish64<kResidual, kHardswish>(acc0, acc1, acc2, acc3, tile, kResidual ? res + c : nullptr, n, out + c, rq);
        finish64<kResidual, kHardswish>(bcc0, bcc1, bcc2, bcc3, tile,
                                        kResidual ? res + a.residual_stride + c : nullptr, n,
                                        out + a.output_stride + c, rq);
        continue;
      }
      // One pixel (the last of an odd count, or a partial tile of 33..63 channels per pixel).
      const uint64_t mask = avx512::byte_mask64(n);
      for (size_t k = 0; k < (two ? 2u : 1u); ++k) {
        const uint8_t* const* src = k == 0 ? in : in2;
        __m512i c0 = acc0, c1 = acc1, c2 = acc2, c3 = acc3;
        const uint8_t* wk = w;
        for (size_t t = 0; t < a.taps; ++t, wk += 256) {
          const __m512i x = _mm512_maskz_loadu_epi8(mask, src[t] + c);
          c0 = _mm512_dpbusd_epi32(c0, x, _mm512_loadu_si512(wk + 0));
          c1 = _mm512_dpbusd_epi32(c1, x, _mm512_loadu_si512(wk + 64));
          c2 = _mm512_dpbusd_epi32(c2, x, _mm512_loadu_si512(wk + 128));
          c3 = _mm512_dpbusd_epi32(c3, x, _mm512_loadu_si512(wk + 192));
        }
        finish64<kResidual, kHardswish>(c0, c1, c2, c3, tile, kResidual ? res + k * a.residual_stride + c : nullptr,
                                        n, out + k * a.output_stride + c, rq);
      }
    }
    px += two ? 2 : 1;
  }
}

}  // namespace

void dwconv_c64__avx512vnni(const DwConvArgs& a, const RequantParams& p) {
  const avx512::Requant16 rq(p);
  const avx2::Requant8 rq8(p);
  const bool hs = p.activation == Activation::hardswish;
  if (p.residual != nullptr) {
    hs ? dwconv_c64_impl<true, true>(a, rq, rq8) : dwconv_c64_impl<true, false>(a, rq, rq8);
  } else {
    hs ? dwconv_c64_impl<false, true>(a, rq, rq8) : dwconv_c64_impl<false, false>(a, rq, rq8);
  }
}

}  // namespace kiln::kernels
