#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv_requant_avx2.h"
#include "kiln/kernels/conv_first.h"

namespace kiln::kernels {
namespace {

// Fully unrolled small loops keep the accumulator arrays in registers (gcc otherwise keeps them in
// memory).
#define KILN_UNROLL _Pragma("GCC unroll 8")

constexpr size_t kMr = 2, kNr = 32;  // 8 accumulators: 3 rows spill on gcc

// The input side of the int16-pair product, prepared once per pixel step and shared by every
// column block: for segment s of pixel m, the int32 lanes (a[4g], a[4g+2]) (even) and
// (a[4g+1], a[4g+3]) (odd) as int16 pairs, g over the segment's groups of 4 k (rounded up to 8).
struct Prepared {
  size_t g8 = 0;  // groups per segment, rounded up to a multiple of 8
  std::vector<int32_t> lanes;
  const int32_t* even(size_t m, size_t segments, size_t s) const { return lanes.data() + ((m * segments + s) * 2) * g8; }
  const int32_t* odd(size_t m, size_t segments, size_t s) const { return even(m, segments, s) + g8; }
};

// Reads 32 bytes per 8 groups: past kc, into the padded image's next pixels and its slack; those
// bytes meet zero weights.
void prepare(const uint8_t* const* rows, size_t m_count, size_t segments, Prepared* prep) {
  const __m256i low = _mm256_set1_epi16(0x00FF);
  for (size_t m = 0; m < m_count; ++m) {
    for (size_t s = 0; s < segments; ++s) {
      const uint8_t* src = rows[m * segments + s];
      int32_t* even = prep->lanes.data() + ((m * segments + s) * 2) * prep->g8;
      int32_t* odd = even + prep->g8;
      for (size_t g = 0; g < prep->g8; g += 8) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4 * g));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(even + g), _mm256_and_si256(v, low));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(odd + g), _mm256_srli_epi16(v, 8));
      }
    }
  }
}

// M pixels (1..2) x one block of 32 channels, written to nc <= 32 channels.
template <size_t M, bool kResidual, bool kHardswish>
void tile(const ConvFirstArgs& a, const RequantParams& p, const avx2::Requant8& rq, const Prepared& prep,
          const uint8_t* blk, size_t groups, size_t c0, size_t nc, uint8_t* out, const uint8_t* res) {
  __m256i acc[M][4];
  KILN_UNROLL
  for (size_t q = 0; q < 4; ++q) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk) + q);
    KILN_UNROLL
    for (size_t m = 0; m < M; ++m) acc[m][q] = b;
  }
  const __m256i* w = reinterpret_cast<const __m256i*>(blk + kNr * 4);
  for (size_t s = 0; s < a.segments; ++s) {
    const int32_t* even[M];
    const int32_t* odd[M];
    KILN_UNROLL
    for (size_t m = 0; m < M; ++m) even[m] = prep.even(m, a.segments, s), odd[m] = prep.odd(m, a.segments, s);
    for (size_t g = 0; g < groups; ++g, w += 8) {
      __m256i ae[M], ao[M];
      KILN_UNROLL
      for (size_t m = 0; m < M; ++m) ae[m] = _mm256_set1_epi32(even[m][g]), ao[m] = _mm256_set1_epi32(odd[m][g]);
      KILN_UNROLL
      for (size_t q = 0; q < 4; ++q) {
        const __m256i we = _mm256_loadu_si256(w + 2 * q), wo = _mm256_loadu_si256(w + 2 * q + 1);
        KILN_UNROLL
        for (size_t m = 0; m < M; ++m) {
          acc[m][q] = _mm256_add_epi32(acc[m][q], _mm256_madd_epi16(ae[m], we));
          acc[m][q] = _mm256_add_epi32(acc[m][q], _mm256_madd_epi16(ao[m], wo));
        }
      }
    }
  }
  KILN_UNROLL
  for (size_t m = 0; m < M; ++m) {
    uint8_t* o = out + m * a.out_c + c0;
    const uint8_t* r = kResidual ? res + m * a.residual_stride + c0 : nullptr;
    __m256i codes[4];
    KILN_UNROLL
    for (size_t q = 0; q < 4; ++q) {
      const size_t base = 8 * q, n = nc > base ? std::min<size_t>(8, nc - base) : 0;
      if (n == 0) {
        codes[q] = _mm256_setzero_si256();
        continue;
      }
      const __m128i rv = kResidual ? avx2::load_bytes8(r + base, n) : _mm_setzero_si128();
      codes[q] = rq.apply_t<kResidual, kHardswish>(acc[m][q], avx2::load_floats(p.multiplier + c0 + base, n), rv);
    }
    avx2::store_bytes(o, avx2::pack_codes32(codes[0], codes[1], codes[2], codes[3]), nc);
  }
}

template <bool kResidual, bool kHardswish>
void run(const ConvFirstArgs& a, const RequantParams& p) {
  const avx2::Requant8 rq(p);
  const size_t groups = (a.kc + 3) / 4;
  const size_t blk_bytes = kNr * 4 + a.segments * groups * 256;
  const uint8_t* packed = static_cast<const uint8_t*>(a.packed);
  Prepared prep;
  prep.g8 = (groups + 7) / 8 * 8;
  prep.lanes.resize(kMr * a.segments * 2 * prep.g8);
  for (size_t px = 0; px < a.pixels; px += kMr) {
    const size_t m = std::min(kMr, a.pixels - px);
    const uint8_t* const* rows = a.rows + px * a.segments;
    prepare(rows, m, a.segments, &prep);
    uint8_t* out = a.output + px * a.out_c;
    const uint8_t* res = kResidual ? a.residual + px * a.residual_stride : nullptr;
    for (size_t c0 = 0; c0 < a.out_c; c0 += kNr) {
      const uint8_t* blk = packed + c0 / kNr * blk_bytes;
      const size_t nc = std::min(kNr, a.out_c - c0);
      if (m == 2) {
        tile<2, kResidual, kHardswish>(a, p, rq, prep, blk, groups, c0, nc, out, res);
      } else {
        tile<1, kResidual, kHardswish>(a, p, rq, prep, blk, groups, c0, nc, out, res);
      }
    }
  }
}

}  // namespace

void conv_first_2x32c4__avx2(const ConvFirstArgs& a, const RequantParams& p) {
  const bool hs = p.activation == Activation::hardswish;
  if (p.residual != nullptr) {
    hs ? run<true, true>(a, p) : run<true, false>(a, p);
  } else {
    hs ? run<false, true>(a, p) : run<false, false>(a, p);
  }
}

}  // namespace kiln::kernels
