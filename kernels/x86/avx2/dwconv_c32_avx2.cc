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

// The int16 pairs of two taps' 32 channels, split into the four classes (channel mod 4): per
// 32-bit lane j, s[k] = (x0[4j + k], x1[4j + k]) as two int16.
struct Split {
  __m256i s[4];
  Split(__m256i x0, __m256i x1) {
    const __m256i low_bytes = _mm256_set1_epi32(0x00FF00FF);
    // Per 32-bit lane: b01 = {x0 byte 0, x0 byte 1, x1 byte 0, x1 byte 1}, b23 likewise bytes 2, 3.
    const __m256i b01 = _mm256_blend_epi16(x0, _mm256_slli_epi32(x1, 16), 0xAA);
    const __m256i b23 = _mm256_blend_epi16(_mm256_srli_epi32(x0, 16), x1, 0xAA);
    s[0] = _mm256_and_si256(b01, low_bytes);
    s[1] = _mm256_srli_epi16(b01, 8);
    s[2] = _mm256_and_si256(b23, low_bytes);
    s[3] = _mm256_srli_epi16(b23, 8);
  }
};

inline __m256i madd(__m256i x, const uint8_t* w) {
  return _mm256_madd_epi16(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}

// The epilogue of one pixel's 32 channels (n of them written; kFull: n == 32), accumulators in
// class order.
template <bool kFull, bool kResidual, bool kHardswish>
inline void finish(const __m256i (&acc)[4], const uint8_t* tile, const uint8_t* res, size_t n, uint8_t* out,
                   const avx2::Requant8& rq, const avx2::ClassCodes32& cc) {
  const __m256i byte0 = _mm256_set1_epi32(0xFF);
  const float* mult = reinterpret_cast<const float*>(tile + 128);
  __m256i r[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  if constexpr (kResidual) {
    // The residual's bytes split into the same classes.
    const __m256i rv = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(res)) : load_channels(res, n);
    r[0] = _mm256_and_si256(rv, byte0);
    r[1] = _mm256_and_si256(_mm256_srli_epi32(rv, 8), byte0);
    r[2] = _mm256_and_si256(_mm256_srli_epi32(rv, 16), byte0);
    r[3] = _mm256_srli_epi32(rv, 24);
  }
  const __m256i bytes = cc.codes(rq.value<kResidual, kHardswish>(acc[0], _mm256_loadu_ps(mult + 0), r[0]),
                                 rq.value<kResidual, kHardswish>(acc[1], _mm256_loadu_ps(mult + 8), r[1]),
                                 rq.value<kResidual, kHardswish>(acc[2], _mm256_loadu_ps(mult + 16), r[2]),
                                 rq.value<kResidual, kHardswish>(acc[3], _mm256_loadu_ps(mult + 24), r[3]), rq.hi);
  if constexpr (kFull) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
  } else {
    avx2::store_bytes(out, bytes, n);
  }
}

inline void load_bias(__m256i (&acc)[4], const uint8_t* tile) {
  for (size_t k = 0; k < 4; ++k) acc[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile) + k);
}

// Per-pixel mode. Layout (dwconv_pack, Isa::avx2): per 32-channel tile, 32 int32 biases and 32
// float multipliers in class order, then per tap pair four class vectors of int16 weight pairs.
// Class k, lane j is channel 4j + k. The epilogue variant is a template parameter so the per-tile
// code has no branches on it.
template <bool kResidual, bool kHardswish>
void pixels_impl(const DwConvArgs& a, const avx2::Requant8& rq, const avx2::ClassCodes32& cc) {
  const size_t pairs = a.taps / 2;  // full tap pairs; an odd last tap is handled alone
  const bool odd = (a.taps & 1) != 0;
  const size_t tile_bytes = 256 + (a.taps + 1) / 2 * 128;
  for (size_t px = 0; px < a.pixels; ++px) {
    const uint8_t* const* in = a.indirection + px * a.indirection_step;
    uint8_t* out = a.output + px * a.output_stride;
    const uint8_t* res = kResidual ? a.residual + px * a.residual_stride : nullptr;
    const uint8_t* tile = static_cast<const uint8_t*>(a.packed);
    for (size_t c = 0; c < a.channels; c += 32, tile += tile_bytes) {
      const size_t n = std::min<size_t>(32, a.channels - c);
      __m256i acc[4];
      load_bias(acc, tile);
      const uint8_t* w = tile + 256;
      auto accumulate = [&](__m256i x0, __m256i x1) {
        const Split sp(x0, x1);
        for (size_t k = 0; k < 4; ++k) acc[k] = _mm256_add_epi32(acc[k], madd(sp.s[k], w + 32 * k));
        w += 128;
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
      if (n == 32) {
        finish<true, kResidual, kHardswish>(acc, tile, kResidual ? res + c : nullptr, n, out + c, rq, cc);
      } else {
        finish<false, kResidual, kHardswish>(acc, tile, kResidual ? res + c : nullptr, n, out + c, rq, cc);
      }
    }
  }
}

// Row mode (3x3 kernel, horizontal stride 1), on a strip of at most kStrip pixels of one output
// row and one tile of n <= 32 channels. Input column j (0 .. width + 1) of kernel row ky is tap
// (ky, j) of the strip's pixel 0 for j < 3, else tap (ky, 2) of pixel j - 2. Column j's split
// feeds pixel j (kx = 0), j - 1 (kx = 1) and j - 2 (kx = 2, its last column, after which it is
// finished); three accumulator sets rotate through those roles, the column loop unrolled by 3.
// Pixels -2, -1, width and width + 1 are computed and dropped.
//
// Twelve accumulators and a split do not fit in 16 registers, so each tile is swept twice: half 0
// accumulates classes 0 and 1 (from the split's b01 word pairs), half 1 classes 2 and 3 (b23),
// both parking finished pixels in `parked`; then the epilogue runs over the strip. The split work
// is the same as one sweep; only the input loads repeat.
constexpr size_t kStrip = 64;

struct RowStrip {
  const uint8_t* cols[3][kStrip + 2];  // column pointers per kernel row
  size_t width = 0;
  const uint8_t* tile = nullptr;
  size_t c = 0, n = 0;
  uint8_t* out = nullptr;
  size_t out_stride = 0;
  const uint8_t* res = nullptr;
  size_t res_stride = 0;
  alignas(32) int32_t parked[kStrip + 2][32];  // pixel p's four classes (8 lanes each) at p + 2
};

template <bool kFull>
inline __m256i load_tile(const uint8_t* p, size_t n) {
  if constexpr (kFull) {
    (void)n;
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  } else {
    return load_channels(p, n);
  }
}

// Classes 2H and 2H + 1 of a tap pair (two int16 per 32-bit lane) ...
template <int H>
inline void split_pair(__m256i x0, __m256i x1, __m256i& sa, __m256i& sb) {
  const __m256i low_bytes = _mm256_set1_epi32(0x00FF00FF);
  const __m256i b = H == 0 ? _mm256_blend_epi16(x0, _mm256_slli_epi32(x1, 16), 0xAA)
                           : _mm256_blend_epi16(_mm256_srli_epi32(x0, 16), x1, 0xAA);
  sa = _mm256_and_si256(b, low_bytes);
  sb = _mm256_srli_epi16(b, 8);
}
// ... and of a single tap (partner zero: one int32 per lane, packed against (w, 0) pairs).
template <int H>
inline void split_single(__m256i x, __m256i& sa, __m256i& sb) {
  const __m256i byte0 = _mm256_set1_epi32(0xFF);
  if constexpr (H == 0) {
    sa = _mm256_and_si256(x, byte0);
    sb = _mm256_and_si256(_mm256_srli_epi32(x, 8), byte0);
  } else {
    sa = _mm256_and_si256(_mm256_srli_epi32(x, 16), byte0);
    sb = _mm256_srli_epi32(x, 24);
  }
}

// What a half-sweep reads, copied out of RowStrip into locals (stores into `parked` could
// otherwise alias the strip's fields and force reloads).
struct SweepArgs {
  const uint8_t* const* rows[3];  // column pointers of kernel rows 0, 1, 2
  const uint8_t* w;               // the half's weights (see row_column)
  size_t c, n;
  __m256i* parked;
};

// acc += x, in this order: the empty asm stops the compiler from reassociating the sums into
// trees of products, which keeps many products alive at once and spills (gcc does that here).
inline void accumulate(__m256i& acc, __m256i x) {
  acc = _mm256_add_epi32(acc, x);
  __asm__("" : "+x"(acc));
}

// One input column j of a half-sweep: the split of its rows (0, 1) and of row 2 meets the weights
// of kx = 0 for pixel j (accumulators n*, started here), kx = 1 for pixel j - 1 (m*) and kx = 2
// for pixel j - 2 (d*, finished: parked; the bias is added in the epilogue). The accumulators are
// named locals of the caller, so they stay in registers.
template <int H, bool kFull>
inline void row_column(const SweepArgs& s, size_t j, __m256i& n0, __m256i& n1, __m256i& m0, __m256i& m1, __m256i& d0,
                       __m256i& d1) {
  // Weights of (row group g, kx) for class 2H + i: tile + 256 + (3g + kx) * 128 + (2H + i) * 32.
  const uint8_t* w = s.w;
  __m256i sa, sb;
  split_pair<H>(load_tile<kFull>(s.rows[0][j] + s.c, s.n), load_tile<kFull>(s.rows[1][j] + s.c, s.n), sa, sb);
  n0 = madd(sa, w);
  n1 = madd(sb, w + 32);
  accumulate(m0, madd(sa, w + 128));
  accumulate(m1, madd(sb, w + 160));
  accumulate(d0, madd(sa, w + 256));
  accumulate(d1, madd(sb, w + 288));
  split_single<H>(load_tile<kFull>(s.rows[2][j] + s.c, s.n), sa, sb);
  accumulate(n0, madd(sa, w + 384));
  accumulate(n1, madd(sb, w + 416));
  accumulate(m0, madd(sa, w + 512));
  accumulate(m1, madd(sb, w + 544));
  accumulate(d0, madd(sa, w + 640));
  accumulate(d1, madd(sb, w + 672));
  // Pixel j - 2 goes to slot j of `parked` (pixels -2 and -1 land in slots 0 and 1, unread).
  _mm256_store_si256(s.parked + 4 * j, d0);
  _mm256_store_si256(s.parked + 4 * j + 1, d1);
}

// Classes 2H and 2H + 1 of every pixel of the strip (without the bias) into `parked`.
template <int H, bool kFull>
void row_sweep(RowStrip& t) {
  SweepArgs s;
  for (size_t ky = 0; ky < 3; ++ky) s.rows[ky] = t.cols[ky];
  s.w = t.tile + 256 + 64 * H;
  s.c = t.c, s.n = t.n;
  s.parked = reinterpret_cast<__m256i*>(t.parked[0]) + 2 * H;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
  const size_t cols = t.width + 2;
  size_t j = 0;
  // Roles rotate: the pixel started at column j is "m" at j + 1 and "d" (finished) at j + 2.
  for (; j + 3 <= cols; j += 3) {
    row_column<H, kFull>(s, j, a0, a1, b0, b1, c0, c1);
    row_column<H, kFull>(s, j + 1, c0, c1, a0, a1, b0, b1);
    row_column<H, kFull>(s, j + 2, b0, b1, c0, c1, a0, a1);
  }
  if (j < cols) row_column<H, kFull>(s, j++, a0, a1, b0, b1, c0, c1);
  if (j < cols) row_column<H, kFull>(s, j++, c0, c1, a0, a1, b0, b1);
}

template <bool kFull, bool kResidual, bool kHardswish>
void row_tile(RowStrip& t, const avx2::Requant8& rq, const avx2::ClassCodes32& cc) {
  row_sweep<0, kFull>(t);
  row_sweep<1, kFull>(t);
  for (size_t p = 0; p < t.width; ++p) {
    const __m256i* parked = reinterpret_cast<const __m256i*>(t.parked[p + 2]);
    const __m256i* bias = reinterpret_cast<const __m256i*>(t.tile);
    __m256i all[4];
    for (size_t k = 0; k < 4; ++k) all[k] = _mm256_add_epi32(_mm256_load_si256(parked + k), _mm256_loadu_si256(bias + k));
    finish<kFull, kResidual, kHardswish>(all, t.tile, kResidual ? t.res + p * t.res_stride + t.c : nullptr, t.n,
                                         t.out + p * t.out_stride + t.c, rq, cc);
  }
}

template <bool kResidual, bool kHardswish>
void rows_impl(const DwConvArgs& a, const avx2::Requant8& rq, const avx2::ClassCodes32& cc) {
  const size_t tile_bytes = 256 + 2 * 3 * 128;  // row groups (0, 1) and (2, none), three kx each
  const size_t row_width = a.row_pixels;
  RowStrip t;
  for (size_t row0 = 0; row0 < a.pixels; row0 += row_width) {
    for (size_t x0 = 0; x0 < row_width; x0 += kStrip) {
      t.width = std::min(kStrip, row_width - x0);
      const uint8_t* const* ind = a.indirection + (row0 + x0) * a.indirection_step;
      for (size_t ky = 0; ky < 3; ++ky) {
        for (size_t j = 0; j < 3; ++j) t.cols[ky][j] = ind[3 * ky + j];
        for (size_t j = 3; j < t.width + 2; ++j) t.cols[ky][j] = ind[(j - 2) * a.indirection_step + 3 * ky + 2];
      }
      t.out = a.output + (row0 + x0) * a.output_stride, t.out_stride = a.output_stride;
      t.res = kResidual ? a.residual + (row0 + x0) * a.residual_stride : nullptr, t.res_stride = a.residual_stride;
      t.tile = static_cast<const uint8_t*>(a.packed);
      for (t.c = 0; t.c < a.channels; t.c += 32, t.tile += tile_bytes) {
        t.n = std::min<size_t>(32, a.channels - t.c);
        if (t.n == 32) {
          row_tile<true, kResidual, kHardswish>(t, rq, cc);
        } else {
          row_tile<false, kResidual, kHardswish>(t, rq, cc);
        }
      }
    }
  }
}

template <bool kResidual, bool kHardswish>
void dispatch(const DwConvArgs& a, const avx2::Requant8& rq, const avx2::ClassCodes32& cc) {
  if (a.row_pixels > 0) {
    rows_impl<kResidual, kHardswish>(a, rq, cc);
  } else {
    pixels_impl<kResidual, kHardswish>(a, rq, cc);
  }
}

}  // namespace

void dwconv_c32__avx2(const DwConvArgs& a, const RequantParams& p) {
  const avx2::Requant8 rq(p);
  const avx2::ClassCodes32 cc(p);
  const bool hs = p.activation == Activation::hardswish;
  if (p.residual != nullptr) {
    hs ? dispatch<true, true>(a, rq, cc) : dispatch<true, false>(a, rq, cc);
  } else {
    hs ? dispatch<false, true>(a, rq, cc) : dispatch<false, false>(a, rq, cc);
  }
}

}  // namespace kiln::kernels
