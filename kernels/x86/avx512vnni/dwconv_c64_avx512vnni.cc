// gcc 12 reports its own _mm512_undefined_epi32() inside some intrinsics as maybe uninitialized;
// the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "avx512_intrinsics.h"
#include "conv_requant_avx512.h"
#include "kiln/kernels/dwconv.h"
#include "x86/avx2/conv_requant_avx2.h"
#include "conv/dwconv_vnni_row_layout.h"
#include "dwconv_row_sweep_avx512vnni.h"

namespace kiln::kernels {
namespace {

// Fully unrolled small loops keep the accumulator arrays in registers (gcc otherwise keeps them in
// memory).
#define KILN_UNROLL _Pragma("GCC unroll 8")
// The row kernels' per-pixel helpers must inline into the sweep (gcc gives up on the two-row tail's).
#define KILN_ALWAYS_INLINE __attribute__((always_inline))

// n <= 32 channels of one tap; bytes past n are zero and never read from memory (a masked load:
// a copy through a stack buffer cost the ymm tails of 144-channel layers more than their dot products).
inline __m256i load_channels32(const uint8_t* p, size_t n) {
  if (n >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_si256(_mm512_maskz_loadu_epi8(avx512::byte_mask64(n), p));
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

// Row mode (3x3 at horizontal stride 1 or 2; dwconv_pack's row layout): the kernel sweeps an output row
// column by column. One input column's three rows (64 channels each) are interleaved into four
// vectors whose 32-bit lanes hold one channel's (row 0, row 1, row 2, 0) bytes: four byte unpacks
// and four word unpacks. One vpdpbusd then does three taps of 16 channels,
// and the same four vectors serve the three output pixels that read that column (with the weights
// of kx = 0, 1, 2): 12 vpdpbusd per output pixel and 64 channels, against 36 for the per-tap class
// kernel. Three accumulator sets slide along the row. The unpacks leave the channels in an order
// (lane i of vector v: channel 16 (i / 4) + 4 v + i % 4) that the closing packs (packssdw of
// vectors 0, 1 and 2, 3, then packuswb) turn back into channel order, so the epilogue has no
// shuffle; biases and multipliers are packed in that order. 3x3 tiles without a residual (plain or
// hardswish epilogue, products within int32) run the asm sweep of dwconv_row_sweep_avx512vnni.h
// (native builds); everything else these intrinsics.
constexpr size_t kRowTileBytes = vnni_row::kTileBytes3;

// The row kernel's width-specific vector operations (those that work per 128-bit lane: unpacks,
// vpdpbusd, packs).
struct ZmmOps {
  using V = __m512i;
  static V zero() { return _mm512_setzero_si512(); }
  static V lo8(V a, V b) { return _mm512_unpacklo_epi8(a, b); }
  static V hi8(V a, V b) { return _mm512_unpackhi_epi8(a, b); }
  static V lo16(V a, V b) { return _mm512_unpacklo_epi16(a, b); }
  static V hi16(V a, V b) { return _mm512_unpackhi_epi16(a, b); }
  static V dot(V acc, V a, V w) { return _mm512_dpbusd_epi32(acc, a, w); }
  static V pack(V q0, V q1, V q2, V q3) {
    return _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  }
};

struct YmmOps {
  using V = __m256i;
  static V zero() { return _mm256_setzero_si256(); }
  static V lo8(V a, V b) { return _mm256_unpacklo_epi8(a, b); }
  static V hi8(V a, V b) { return _mm256_unpackhi_epi8(a, b); }
  static V lo16(V a, V b) { return _mm256_unpacklo_epi16(a, b); }
  static V hi16(V a, V b) { return _mm256_unpackhi_epi16(a, b); }
  static V dot(V acc, V a, V w) { return _mm256_dpbusd_epi32(acc, a, w); }
  static V pack(V q0, V q1, V q2, V q3) {
    return _mm256_packus_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  }
};

// n <= 16 channels at p (bytes past n zero, never read).
KILN_ALWAYS_INLINE inline __m128i load_channels16(const uint8_t* p, size_t n) {
  if (n >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(avx512::byte_mask64(n), p));
}

// The row kernel's loads, epilogue and stores over the same packed tile: full 64-channel tiles in
// zmm, and tails of at most 32 channels in ymm on the low halves of the packed vectors (lanes 0..7
// of the unpack order are channels 0..31), a quarter of the work where a masked zmm tile would cost
// as much as 64 channels.
struct RowZmm : ZmmOps {
  const avx512::Requant16& rq;
  uint64_t mask;
  RowZmm(const avx512::Requant16& q, size_t n) : rq(q), mask(avx512::byte_mask64(n)) {}
  static V at(const uint8_t* p) { return _mm512_loadu_si512(p); }
  V load(const uint8_t* p) const { return _mm512_maskz_loadu_epi8(mask, p); }
  V tap(const uint8_t* const* px, size_t k, size_t c) const { return load(px[k] + c); }
  V residual(const uint8_t* r) const { return load(r); }
  template <bool kResidual, bool kHardswish>
  V code(V acc, const uint8_t* mult, V r32) const {
    return rq.apply_t32<kResidual, kHardswish>(acc, _mm512_castsi512_ps(_mm512_loadu_si512(mult)), r32);
  }
  void store(uint8_t* out, V bytes) const { _mm512_mask_storeu_epi8(out, mask, bytes); }
};

// A full 64-channel tile: plain loads and stores (a masked zmm store of all 64 bytes still costs
// more than a plain one).
struct RowZmmFull : ZmmOps {
  const avx512::Requant16& rq;
  __m512i zo16, qmin8;
  bool int_clamp;  // the codes' bounds allow plain_codes (see there)
  RowZmmFull(const avx512::Requant16& q, const RequantParams& p)
      : rq(q),
        zo16(_mm512_set1_epi16(static_cast<int16_t>(p.zero_point))),
        qmin8(_mm512_set1_epi8(static_cast<char>(p.qmin))),
        int_clamp(0 <= p.qmin && p.qmin <= p.qmax && p.qmax <= 255 && 0 <= p.zero_point && p.zero_point <= 255) {}
  static V at(const uint8_t* p) { return _mm512_loadu_si512(p); }
  KILN_ALWAYS_INLINE V tap(const uint8_t* const* px, size_t k, size_t c) const { return at(px[k] + c); }
  KILN_ALWAYS_INLINE V residual(const uint8_t* r) const { return at(r); }
  template <bool kResidual, bool kHardswish>
  V code(V acc, const uint8_t* mult, V r32) const {
    return rq.apply_t32<kResidual, kHardswish>(acc, _mm512_castsi512_ps(_mm512_loadu_si512(mult)), r32);
  }
  // requant.h's epilogue without residual or hardswish, for codes in [0, 255]: the upper clamp in
  // float (cvtps2dq would wrap above 2^31), the lower one on the bytes after the saturating packs
  // (a value below int16 stays below qmin after adding zo). Clamping to the integers lo and hi
  // commutes with rounding, so this equals clamp-then-round: 22 operations per 64 codes instead of 27.
  KILN_ALWAYS_INLINE V plain_codes(V a0, V a1, V a2, V a3, const uint8_t* mult) const {
    auto top = [&](V acc, size_t k) {
      const __m512 m = _mm512_castsi512_ps(_mm512_loadu_si512(mult + 64 * k));
      return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), m), rq.hi));
    };
    const V w01 = _mm512_adds_epi16(_mm512_packs_epi32(top(a0, 0), top(a1, 1)), zo16);
    const V w23 = _mm512_adds_epi16(_mm512_packs_epi32(top(a2, 2), top(a3, 3)), zo16);
    return _mm512_max_epu8(_mm512_packus_epi16(w01, w23), qmin8);
  }
  KILN_ALWAYS_INLINE void store(uint8_t* out, V bytes) const { _mm512_storeu_si512(out, bytes); }
};

struct RowYmm : YmmOps {
  const avx2::Requant8& rq;
  size_t n;
  RowYmm(const avx2::Requant8& q, size_t channels) : rq(q), n(channels) {}
  static V at(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  V load(const uint8_t* p) const { return load_channels32(p, n); }
  V tap(const uint8_t* const* px, size_t k, size_t c) const { return load(px[k] + c); }
  V residual(const uint8_t* r) const { return load(r); }
  template <bool kResidual, bool kHardswish>
  V code(V acc, const uint8_t* mult, V r32) const {
    return rq.apply_t32<kResidual, kHardswish>(acc, _mm256_loadu_ps(reinterpret_cast<const float*>(mult)), r32);
  }
  void store(uint8_t* out, V bytes) const { avx2::store_bytes(out, bytes, n); }
};

// Tails of at most 16 channels on two output rows at once: each 128-bit lane of a ymm vector holds
// one row (the unpacks, vpdpbusd, the epilogue and the closing packs all work within 128-bit lanes,
// and lanes 0..3 of the unpack order are channels 0..15), with the packed tile's low 128 bits
// broadcast to both lanes: half the instructions per output of RowYmm, which spends a whole 32-channel
// sweep on 16 channels. `rows` is the second row's offset in indirection pointers; `out_rows` and
// `res_rows` in output and residual bytes.
struct RowYmm2 : YmmOps {
  const avx2::Requant8& rq;
  size_t n, rows, out_rows, res_rows;
  RowYmm2(const avx2::Requant8& q, size_t channels, size_t ind_rows, size_t out_row_bytes, size_t res_row_bytes)
      : rq(q), n(channels), rows(ind_rows), out_rows(out_row_bytes), res_rows(res_row_bytes) {}
  static V at(const uint8_t* p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  KILN_ALWAYS_INLINE __m128i load16(const uint8_t* p) const { return load_channels16(p, n); }
  KILN_ALWAYS_INLINE V tap(const uint8_t* const* px, size_t k, size_t c) const {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(load16(px[k] + c)), load16(px[rows + k] + c), 1);
  }
  KILN_ALWAYS_INLINE V residual(const uint8_t* r) const {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(load16(r)), load16(r + res_rows), 1);
  }
  template <bool kResidual, bool kHardswish>
  V code(V acc, const uint8_t* mult, V r32) const {
    const __m128 m = _mm_loadu_ps(reinterpret_cast<const float*>(mult));
    return rq.apply_t32<kResidual, kHardswish>(acc, _mm256_set_m128(m, m), r32);
  }
  KILN_ALWAYS_INLINE void store(uint8_t* out, V bytes) const {  // row 0's channels from lane 0, row 1's from lane 1
    avx2::store_bytes(out, bytes, n);
    avx2::store_bytes(out + out_rows, _mm256_permute2x128_si256(bytes, bytes, 0x01), n);
  }
};

// The same on four output rows, one per 128-bit lane of a zmm vector, with the zmm epilogue: a tail
// of at most 16 channels then costs about a quarter of a 64-channel tile per row.
struct RowZmm4 : ZmmOps {
  const avx512::Requant16& rq;
  size_t n, rows, out_rows, res_rows;  // the next row's offsets (pointers, output bytes, residual bytes)
  RowZmm4(const avx512::Requant16& q, size_t channels, size_t ind_rows, size_t out_row_bytes, size_t res_row_bytes)
      : rq(q), n(channels), rows(ind_rows), out_rows(out_row_bytes), res_rows(res_row_bytes) {}
  static V at(const uint8_t* p) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  KILN_ALWAYS_INLINE __m128i load16(const uint8_t* p) const { return load_channels16(p, n); }
  KILN_ALWAYS_INLINE V four(const uint8_t* p0, size_t step) const {
    V v = _mm512_castsi128_si512(load16(p0));
    v = _mm512_inserti32x4(v, load16(p0 + step), 1);
    v = _mm512_inserti32x4(v, load16(p0 + 2 * step), 2);
    return _mm512_inserti32x4(v, load16(p0 + 3 * step), 3);
  }
  KILN_ALWAYS_INLINE V tap(const uint8_t* const* px, size_t k, size_t c) const {
    V v = _mm512_castsi128_si512(load16(px[k] + c));
    v = _mm512_inserti32x4(v, load16(px[rows + k] + c), 1);
    v = _mm512_inserti32x4(v, load16(px[2 * rows + k] + c), 2);
    return _mm512_inserti32x4(v, load16(px[3 * rows + k] + c), 3);
  }
  KILN_ALWAYS_INLINE V residual(const uint8_t* r) const { return four(r, res_rows); }
  template <bool kResidual, bool kHardswish>
  V code(V acc, const uint8_t* mult, V r32) const {
    const __m512 m = _mm512_broadcast_f32x4(_mm_loadu_ps(reinterpret_cast<const float*>(mult)));
    return rq.apply_t32<kResidual, kHardswish>(acc, m, r32);
  }
  KILN_ALWAYS_INLINE void store(uint8_t* out, V bytes) const {  // lane q: row q's channels
    avx2::store_bytes(out, _mm512_castsi512_si256(bytes), n);
    avx2::store_bytes(out + out_rows, _mm256_castsi128_si256(_mm512_extracti32x4_epi32(bytes, 1)), n);
    avx2::store_bytes(out + 2 * out_rows, _mm256_castsi128_si256(_mm512_extracti32x4_epi32(bytes, 2)), n);
    avx2::store_bytes(out + 3 * out_rows, _mm256_castsi128_si256(_mm512_extracti32x4_epi32(bytes, 3)), n);
  }
};

// One pixel's four unpack-order vectors through the requant.h epilogue, stored in channel order.
template <class W, bool kResidual, bool kHardswish>
KILN_ALWAYS_INLINE inline void finish_rows(const W& w, typename W::V a0, typename W::V a1, typename W::V a2, typename W::V a3,
                        const uint8_t* tile, const uint8_t* res, uint8_t* out) {
  using V = typename W::V;
  V r0 = W::zero(), r1 = r0, r2 = r0, r3 = r0;
  if constexpr (kResidual) {  // the residual bytes into the same unpack order, as int32
    const V z = W::zero();
    const V rv = w.residual(res);
    const V lo = W::lo8(rv, z), hi = W::hi8(rv, z);
    r0 = W::lo16(lo, z);
    r1 = W::hi16(lo, z);
    r2 = W::lo16(hi, z);
    r3 = W::hi16(hi, z);
  }
  const uint8_t* mult = tile + 256;
  if constexpr (!kResidual && !kHardswish && std::is_same_v<W, RowZmmFull>) {
    if (w.int_clamp) {
      w.store(out, w.plain_codes(a0, a1, a2, a3, mult));
      return;
    }
  }
  // Codes are in [0, 255]: neither pack saturates, and the packs undo the unpack order.
  w.store(out, W::pack(w.template code<kResidual, kHardswish>(a0, mult, r0),
                       w.template code<kResidual, kHardswish>(a1, mult + 64, r1),
                       w.template code<kResidual, kHardswish>(a2, mult + 128, r2),
                       w.template code<kResidual, kHardswish>(a3, mult + 192, r3)));
}

// One channel tile of one output row. ind: the row's first pixel's taps, `step` pointers per pixel.
template <class W, bool kResidual, bool kHardswish>
void row_tile(const W& w, const DwConvArgs& a, const uint8_t* tile, const uint8_t* const* ind, size_t c,
              uint8_t* out_row, const uint8_t* res_row) {
  using V = typename W::V;
  const size_t ow = a.row_pixels, step = a.indirection_step;
  const V zero = W::zero();
  auto bias = [&](size_t v) { return W::at(tile + 64 * v); };
  V wr[12];
  for (size_t i = 0; i < 12; ++i) wr[i] = W::at(tile + 512 + i * 64);
  auto wt = [&](size_t kx, size_t v) { return wr[kx * 4 + v]; };
  V x0 = zero, x1 = zero, x2 = zero, x3 = zero;  // pixel sets (stride 1: pixel p uses set p % 3)
  V y0 = zero, y1 = zero, y2 = zero, y3 = zero;
  V z0 = zero, z1 = zero, z2 = zero, z3 = zero;
  // Interleaves taps (ky, KX) of pixel P, ky = 0..2, into g0..g3.
#define KILN_ROW_LOAD(P, KX)                                                    \
  const uint8_t* const* p_ = ind + (P) * step;                                  \
  const V i0 = w.tap(p_, (KX), c);                                              \
  const V i1 = w.tap(p_, 3 + (KX), c);                                          \
  const V i2 = w.tap(p_, 6 + (KX), c);                                          \
  const V u01l = W::lo8(i0, i1), u01h = W::hi8(i0, i1);                         \
  const V u2l = W::lo8(i2, zero), u2h = W::hi8(i2, zero);                       \
  const V g0 = W::lo16(u01l, u2l), g1 = W::hi16(u01l, u2l);                     \
  const V g2 = W::lo16(u01h, u2h), g3 = W::hi16(u01h, u2h)
#define KILN_ROW_ADD(S, KX)                \
  S##0 = W::dot(S##0, g0, wt((KX), 0));    \
  S##1 = W::dot(S##1, g1, wt((KX), 1));    \
  S##2 = W::dot(S##2, g2, wt((KX), 2));    \
  S##3 = W::dot(S##3, g3, wt((KX), 3))
#define KILN_ROW_START(S)                  \
  S##0 = W::dot(bias(0), g0, wt(0, 0));    \
  S##1 = W::dot(bias(1), g1, wt(0, 1));    \
  S##2 = W::dot(bias(2), g2, wt(0, 2));    \
  S##3 = W::dot(bias(3), g3, wt(0, 3))
#define KILN_ROW_FINISH(S, PX)                                                                      \
  finish_rows<W, kResidual, kHardswish>(w, S##0, S##1, S##2, S##3, tile,                            \
                                        kResidual ? res_row + (PX) * a.residual_stride + c : nullptr, \
                                        out_row + (PX) * a.output_stride + c)
  // Stride 1, column J: taps (ky, J) of pixel 0 for J < 2, else (ky, 2) of pixel J - 2. It finishes
  // pixel J - 2 (set OLD, kx = 2), continues pixel J - 1 (set MID, kx = 1) and starts pixel J (set
  // NEW, kx = 0). Macros so that the sets stay named registers.
#define KILN_ROW_COLUMN(J, NEW, MID, OLD)             \
  do {                                                \
    const size_t j_ = (J);                            \
    KILN_ROW_LOAD(j_ < 2 ? 0 : j_ - 2, j_ < 2 ? j_ : 2); \
    if (j_ >= 2) {                                    \
      KILN_ROW_ADD(OLD, 2);                           \
      KILN_ROW_FINISH(OLD, j_ - 2);                   \
    }                                                 \
    if (j_ >= 1 && j_ <= ow) {                        \
      KILN_ROW_ADD(MID, 1);                           \
    }                                                 \
    if (j_ < ow) {                                    \
      KILN_ROW_START(NEW);                            \
    }                                                 \
  } while (0)
  // Stride 2, step P (0 .. ow): column 2P finishes pixel P - 1 (set OLD, kx = 2) and starts pixel P
  // (set NEW, kx = 0); column 2P + 1 adds pixel P's kx = 1.
#define KILN_ROW_COLUMN2(P, NEW, OLD)                 \
  do {                                                \
    const size_t q_ = (P);                            \
    {                                                 \
      KILN_ROW_LOAD(q_ < ow ? q_ : q_ - 1, q_ < ow ? 0 : 2); \
      if (q_ >= 1) {                                  \
        KILN_ROW_ADD(OLD, 2);                         \
        KILN_ROW_FINISH(OLD, q_ - 1);                 \
      }                                               \
      if (q_ < ow) {                                  \
        KILN_ROW_START(NEW);                          \
      }                                               \
    }                                                 \
    if (q_ < ow) {                                    \
      KILN_ROW_LOAD(q_, 1);                           \
      KILN_ROW_ADD(NEW, 1);                           \
    }                                                 \
  } while (0)
  if (a.row_stride == 1) {
    // Columns 0 .. ow + 1, three at a time so that every set keeps its registers.
    for (size_t j = 0; j < ow + 2; j += 3) {
      KILN_ROW_COLUMN(j, x, z, y);
      if (j + 1 < ow + 2) KILN_ROW_COLUMN(j + 1, y, x, z);
      if (j + 2 < ow + 2) KILN_ROW_COLUMN(j + 2, z, y, x);
    }
  } else {
    for (size_t px = 0; px <= ow; px += 2) {
      KILN_ROW_COLUMN2(px, x, y);
      if (px + 1 <= ow) KILN_ROW_COLUMN2(px + 1, y, x);
    }
  }
#undef KILN_ROW_COLUMN2
#undef KILN_ROW_COLUMN
#undef KILN_ROW_FINISH
#undef KILN_ROW_START
#undef KILN_ROW_ADD
#undef KILN_ROW_LOAD
}

// Row mode for 5x5 kernels (dwconv_pack's 5-wide row layout): one input column's five rows become
// two groups of four vectors in the same unpack order as the 3x3 sweep: rows 0..3 as (row 0, row 1,
// row 2, row 3) byte lanes, and row 4 repeated in all four bytes of its lanes (its weights are
// (w, 0, 0, 0)): 8 vpdpbusd per tap column and 64 channels, 40 per pixel against the class kernel's
// 100, whose four weight loads per tap bounded it. The weights (40 vectors) stay in the tile.
constexpr size_t kRowTile5Bytes = vnni_row::kTileBytes5;

template <class W, bool kResidual, bool kHardswish>
void row_tile5(const W& w, const DwConvArgs& a, const uint8_t* tile, const uint8_t* const* ind, size_t c,
               uint8_t* out_row, const uint8_t* res_row) {
  using V = typename W::V;
  struct Set {
    V v0, v1, v2, v3;
  };
  const size_t ow = a.row_pixels, step = a.indirection_step, sx = a.row_stride;
  auto wt = [&](size_t kx, size_t g, size_t v) { return W::at(tile + 512 + ((kx * 2 + g) * 4 + v) * 64); };
  V g0, g1, g2, g3, h0, h1, h2, h3;
  // Column j's taps (any pixel q and kx with sx q + kx = j: the pixels' taps of one column are the
  // same input pointers) into g0..g3 (rows 0..3) and h0..h3 (row 4).
  auto load = [&](size_t j) KILN_ALWAYS_INLINE {
    const size_t q = std::min(j / sx, ow - 1), kx = j - sx * q;
    const uint8_t* const* px = ind + q * step;
    const V i0 = w.tap(px, kx, c), i1 = w.tap(px, 5 + kx, c);
    const V i2 = w.tap(px, 10 + kx, c), i3 = w.tap(px, 15 + kx, c);
    const V i4 = w.tap(px, 20 + kx, c);
    const V u01l = W::lo8(i0, i1), u01h = W::hi8(i0, i1);
    const V u23l = W::lo8(i2, i3), u23h = W::hi8(i2, i3);
    g0 = W::lo16(u01l, u23l), g1 = W::hi16(u01l, u23l);
    g2 = W::lo16(u01h, u23h), g3 = W::hi16(u01h, u23h);
    const V u4l = W::lo8(i4, i4), u4h = W::hi8(i4, i4);
    h0 = W::lo16(u4l, u4l), h1 = W::hi16(u4l, u4l);
    h2 = W::lo16(u4h, u4h), h3 = W::hi16(u4h, u4h);
  };
  auto add = [&](Set& s, size_t kx) KILN_ALWAYS_INLINE {
    s.v0 = W::dot(W::dot(s.v0, g0, wt(kx, 0, 0)), h0, wt(kx, 1, 0));
    s.v1 = W::dot(W::dot(s.v1, g1, wt(kx, 0, 1)), h1, wt(kx, 1, 1));
    s.v2 = W::dot(W::dot(s.v2, g2, wt(kx, 0, 2)), h2, wt(kx, 1, 2));
    s.v3 = W::dot(W::dot(s.v3, g3, wt(kx, 0, 3)), h3, wt(kx, 1, 3));
  };
  auto start = [&](Set& s) KILN_ALWAYS_INLINE {
    s = Set{W::at(tile), W::at(tile + 64), W::at(tile + 128), W::at(tile + 192)};
    add(s, 0);
  };
  auto finish = [&](const Set& s, size_t px) KILN_ALWAYS_INLINE {
    finish_rows<W, kResidual, kHardswish>(w, s.v0, s.v1, s.v2, s.v3, tile,
                                          kResidual ? res_row + px * a.residual_stride + c : nullptr,
                                          out_row + px * a.output_stride + c);
  };
  const V zero = W::zero();
  // Pixels in flight: at stride 1 column j feeds pixel j - kx (kx = 0..4; s_k holds pixel j - k,
  // the freed s4 takes pixel j) and finishes pixel j - 4; at stride 2 column 2m feeds pixels m,
  // m - 1, m - 2 (kx = 0, 2, 4; s1: m - 1, s2: m - 2, then m) and finishes m - 2, column 2m + 1
  // pixels m, m - 1 (kx = 1, 3). The sets move one place per pixel
  // (register moves, which Zen and recent Intel cores rename away; unrolling the rotation instead
  // made this file take minutes to compile under the sanitizers).
  Set s1{zero, zero, zero, zero}, s2 = s1, s3 = s1, s4 = s1;
  if (sx == 1) {
    for (size_t j = 0; j < ow + 4; ++j) {
      load(j);
      if (j >= 4) {
        add(s4, 4);
        finish(s4, j - 4);
      }
      if (j >= 3 && j - 3 < ow) add(s3, 3);
      if (j >= 2 && j - 2 < ow) add(s2, 2);
      if (j >= 1 && j - 1 < ow) add(s1, 1);
      if (j < ow) start(s4);  // s4 is free now: it becomes pixel j's
      const Set next = s4;
      s4 = s3, s3 = s2, s2 = s1, s1 = next;
    }
  } else {
    for (size_t m = 0; m < ow + 2; ++m) {  // s2: pixel m - 2, s1: m - 1, s0: m
      load(2 * m);
      if (m >= 2) {
        add(s2, 4);
        finish(s2, m - 2);
      }
      if (m >= 1 && m - 1 < ow) add(s1, 2);
      if (m < ow) start(s2);  // s2 is free now: it becomes pixel m's
      if (m <= ow) {
        load(2 * m + 1);
        if (m >= 1) add(s1, 3);
        if (m < ow) add(s2, 1);
      }
      const Set next = s2;
      s2 = s1, s1 = next;
    }
  }
}

// The row sweep of one channel tile for a K x K kernel.
template <size_t K, class W, bool kResidual, bool kHardswish>
KILN_ALWAYS_INLINE inline void row_tile_k(const W& w, const DwConvArgs& a, const uint8_t* tile,
                                          const uint8_t* const* ind, size_t c, uint8_t* out_row,
                                          const uint8_t* res_row) {
  if constexpr (K == 5) {
    // 5x5 tails of <= 16 channels run one row at a time (RowYmm): the four- and two-row types are
    // not instantiated for it (their eight instantiations cost this file over a minute of compile
    // under the sanitizers).
    if constexpr (!std::is_same_v<W, RowZmm4> && !std::is_same_v<W, RowYmm2>) {
      row_tile5<W, kResidual, kHardswish>(w, a, tile, ind, c, out_row, res_row);
    }
  } else {
    row_tile<W, kResidual, kHardswish>(w, a, tile, ind, c, out_row, res_row);
  }
}

#if !defined(KILN_AVX512_EMULATED)
// The asm sweeps (dwconv_row_sweep_avx512vnni.h) for one call: their constants, and which tiles
// they may take.
class RowSweep {
 public:
  RowSweep(const DwConvArgs& a, const RequantParams& p) : a_(a) {
    for (size_t i = 0; i < 64; ++i) k_.qmax[i] = static_cast<uint8_t>(p.qmax);
    for (size_t i = 0; i < 32; ++i) k_.zo[i] = static_cast<int16_t>(p.zero_point);
    for (size_t i = 0; i < 64; ++i) k_.qmin[i] = static_cast<uint8_t>(p.qmin);
    k_.hardswish = p.activation == Activation::hardswish;
    const float hs[5] = {p.out_scale, 3.0f, 0.0f, 6.0f, p.hardswish_multiplier};
    for (size_t i = 0; i < 16; ++i) k_.hs[i] = i < 5 ? hs[i] : 0.0f;
    // Hardswish scales a value by (t + 3 clamped to [0, 6]) * out_scale * hs_multiplier: at most 6x that.
    scale_ = k_.hardswish ? 6.0 * std::fabs(static_cast<double>(p.out_scale) * p.hardswish_multiplier) : 1.0;
  }

  // Whether the sweep may round this tile's codes without a float clamp: its products bound
  // (computed by dwconv_pack), times what hardswish can grow a value by, below 2^30 (NaN: no).
  bool takes(const uint8_t* tile) const {
    float bound;
    std::memcpy(&bound, tile + vnni_row::kBound3, sizeof(bound));
    return static_cast<double>(bound) * scale_ < 0x1p30;
  }

  void run(const uint8_t* tile, const uint8_t* const* ind, uint8_t* out_row, size_t c, size_t n) const {
    avx512::dw_row_sweep(ind, a_.indirection_step, a_.row_pixels, a_.row_stride, out_row, a_.output_stride, c, n,
                         tile, k_);
  }

  // Four output rows of a 16-channel tail tile (the call's last tile: one broadcast copy per call).
  void run4(const uint8_t* tile, const uint8_t* const* ind, uint8_t* out_row, size_t c, size_t n) {
    if (!quad_built_) avx512::dw_quad_tile(tile, k_, &quad_);
    quad_built_ = true;
    const size_t ow = a_.row_pixels;
    avx512::dw_rows4_sweep(ind, a_.indirection_step, ow * a_.indirection_step, ow, a_.row_stride, out_row + c,
                           a_.output_stride, ow * a_.output_stride, c, n, quad_);
  }

 private:
  const DwConvArgs& a_;
  avx512::DwSweepConstants k_;
  double scale_ = 1.0;
  avx512::DwQuadTile quad_;
  bool quad_built_ = false;
};
#endif

template <size_t K, bool kResidual, bool kHardswish>
void dwconv_rows_impl(const DwConvArgs& a, const RequantParams& p, const avx512::Requant16& rq, const avx2::Requant8& rq8) {
  constexpr size_t kTileBytes = K == 5 ? kRowTile5Bytes : kRowTileBytes;
  const size_t ow = a.row_pixels, rows = a.pixels / a.row_pixels;
  size_t tail_done = 0;
  const RowZmmFull full(rq, p);
#if !defined(KILN_AVX512_EMULATED)
  RowSweep sweep(a, p);
#endif
  for (size_t row = 0; row < rows; ++row) {
    const uint8_t* const* ind = a.indirection + row * ow * a.indirection_step;
    uint8_t* out_row = a.output + row * ow * a.output_stride;
    const uint8_t* res_row = kResidual ? a.residual + row * ow * a.residual_stride : nullptr;
    for (size_t c = 0; c < a.channels; c += 64) {
      const uint8_t* tile = static_cast<const uint8_t*>(a.packed) + c / 64 * kTileBytes;
      const size_t n = std::min<size_t>(64, a.channels - c);
      if (K == 3 && n <= 16) {  // rows in fours, then a pair, then one; `tail_done` is the first row left
        if (row < tail_done) continue;
        const size_t left = rows - row, ind_rows = ow * a.indirection_step;
        const size_t out_rows = ow * a.output_stride, res_rows = ow * a.residual_stride;
        if (left >= 4) {
#if !defined(KILN_AVX512_EMULATED)
          if constexpr (K == 3 && !kResidual) {
            if (full.int_clamp && sweep.takes(tile)) {
              sweep.run4(tile, ind, out_row, c, n);
              tail_done = row + 4;
              continue;
            }
          }
#endif
          row_tile_k<K, RowZmm4, kResidual, kHardswish>(RowZmm4(rq, n, ind_rows, out_rows, res_rows), a, tile, ind, c,
                                                   out_row, res_row);
          tail_done = row + 4;
        } else if (left >= 2) {
          row_tile_k<K, RowYmm2, kResidual, kHardswish>(RowYmm2(rq8, n, ind_rows, out_rows, res_rows), a, tile, ind, c,
                                                   out_row, res_row);
          tail_done = row + 2;
        } else {
          row_tile_k<K, RowYmm, kResidual, kHardswish>(RowYmm(rq8, n), a, tile, ind, c, out_row, res_row);
          tail_done = row + 1;
        }
        continue;
      }
#if !defined(KILN_AVX512_EMULATED)
      // 17..64 channels: the asm sweep (masked below 64) when the epilogue and products allow.
      if constexpr (K == 3 && !kResidual) {
        if (n > 16 && full.int_clamp && sweep.takes(tile)) {
          sweep.run(tile, ind, out_row, c, n);
          continue;
        }
      }
#endif
      if (n <= 32) {
        row_tile_k<K, RowYmm, kResidual, kHardswish>(RowYmm(rq8, n), a, tile, ind, c, out_row, res_row);
      } else if (n == 64) {
        row_tile_k<K, RowZmmFull, kResidual, kHardswish>(full, a, tile, ind, c, out_row, res_row);
      } else {
        row_tile_k<K, RowZmm, kResidual, kHardswish>(RowZmm(rq, n), a, tile, ind, c, out_row, res_row);
      }
    }
  }
}

}  // namespace

void dwconv_c64__avx512vnni(const DwConvArgs& a, const RequantParams& p) {
  const avx512::Requant16 rq(p);
  const avx2::Requant8 rq8(p);
  const bool hs = p.activation == Activation::hardswish;
  if (a.row_pixels > 0) {
    if (a.taps == 25) {
      if (p.residual != nullptr) {
        hs ? dwconv_rows_impl<5, true, true>(a, p, rq, rq8) : dwconv_rows_impl<5, true, false>(a, p, rq, rq8);
      } else {
        hs ? dwconv_rows_impl<5, false, true>(a, p, rq, rq8) : dwconv_rows_impl<5, false, false>(a, p, rq, rq8);
      }
    } else if (p.residual != nullptr) {
      hs ? dwconv_rows_impl<3, true, true>(a, p, rq, rq8) : dwconv_rows_impl<3, true, false>(a, p, rq, rq8);
    } else {
      hs ? dwconv_rows_impl<3, false, true>(a, p, rq, rq8) : dwconv_rows_impl<3, false, false>(a, p, rq, rq8);
    }
    return;
  }
  if (p.residual != nullptr) {
    hs ? dwconv_c64_impl<true, true>(a, rq, rq8) : dwconv_c64_impl<true, false>(a, rq, rq8);
  } else {
    hs ? dwconv_c64_impl<false, true>(a, rq, rq8) : dwconv_c64_impl<false, false>(a, rq, rq8);
  }
}

}  // namespace kiln::kernels
