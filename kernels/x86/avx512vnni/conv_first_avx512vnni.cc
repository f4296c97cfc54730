// gcc 12 reports its own _mm512_undefined_epi32() inside some intrinsics as maybe uninitialized;
// the warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "avx512_intrinsics.h"
#include "conv_requant_avx512.h"
#include "kiln/kernels/conv_first.h"

namespace kiln::kernels {
namespace {

// Fully unrolled small loops keep the accumulator arrays in registers (gcc otherwise keeps them in
// memory).
#define KILN_UNROLL _Pragma("GCC unroll 8")

constexpr size_t kMr = 6, kNr = 64;

inline __m512i broadcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// M pixels (1..6) x one block of 64 channels (kgroup64 layout), written to nc <= 64 channels. Only
// the first Q of the block's four 16-channel quarters are computed (Q = 2 for blocks of at most 32
// channels, such as MobileNet's 32-channel stem: the others hold zero weights). Not inlined: inside
// the driver's switch gcc's register allocation copies accumulators and spills weights every step.
template <size_t M, size_t Q>
__attribute__((noinline)) void tile(const ConvFirstArgs& a, const RequantParams& p, const avx512::Requant16& rq, const uint8_t* const* rows,
          const uint8_t* blk, size_t groups, size_t c0, size_t nc, uint8_t* out, const uint8_t* res) {
  __m512i acc[M][Q];
  KILN_UNROLL
  for (size_t q = 0; q < Q; ++q) {
    const __m512i b = _mm512_loadu_si512(blk + 64 * q);
    KILN_UNROLL
    for (size_t m = 0; m < M; ++m) acc[m][q] = b;
  }
  const uint8_t* w = blk + kNr * 4;
  for (size_t s = 0; s < a.segments; ++s) {
    const uint8_t* src[M];
    KILN_UNROLL
    for (size_t m = 0; m < M; ++m) src[m] = rows[m * a.segments + s];
    for (size_t g = 0; g < groups; ++g, w += 256) {
      __m512i wq[Q];
      KILN_UNROLL
      for (size_t q = 0; q < Q; ++q) wq[q] = _mm512_loadu_si512(w + 64 * q);
      KILN_UNROLL
      for (size_t m = 0; m < M; ++m) {
        const __m512i va = broadcast4(src[m] + 4 * g);
        KILN_UNROLL
        for (size_t q = 0; q < Q; ++q) acc[m][q] = _mm512_dpbusd_epi32(acc[m][q], va, wq[q]);
      }
    }
  }
  KILN_UNROLL
  for (size_t m = 0; m < M; ++m) {
    const uint8_t* r = p.residual != nullptr ? res + m * a.residual_stride + c0 : nullptr;
    __m512i codes[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
    KILN_UNROLL
    for (size_t q = 0; q < Q; ++q) {
      const size_t base = 16 * q, n = nc > base ? std::min<size_t>(16, nc - base) : 0;
      if (n > 0) codes[q] = rq.apply(acc[m][q], p.multiplier + c0 + base, r != nullptr ? r + base : nullptr, n);
    }
    _mm512_mask_storeu_epi8(out + m * a.out_c + c0, avx512::byte_mask64(nc),
                            avx512::pack_codes64(codes[0], codes[1], codes[2], codes[3]));
  }
}

}  // namespace

void conv_first_6x64c4__avx512vnni(const ConvFirstArgs& a, const RequantParams& p) {
  const avx512::Requant16 rq(p);
  const size_t groups = (a.kc + 3) / 4;
  const size_t blk_bytes = kNr * 4 + a.segments * groups * 256;
  const uint8_t* packed = static_cast<const uint8_t*>(a.packed);
  for (size_t px = 0; px < a.pixels; px += kMr) {
    const size_t m = std::min(kMr, a.pixels - px);
    const uint8_t* const* rows = a.rows + px * a.segments;
    uint8_t* out = a.output + px * a.out_c;
    const uint8_t* res = p.residual != nullptr ? a.residual + px * a.residual_stride : nullptr;
    for (size_t c0 = 0; c0 < a.out_c; c0 += kNr) {
      const uint8_t* blk = packed + c0 / kNr * blk_bytes;
      const size_t nc = std::min(kNr, a.out_c - c0);
      auto run = [&](auto quarters) {
        constexpr size_t Q = decltype(quarters)::value;
        switch (m) {
          case 6: tile<6, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
          case 5: tile<5, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
          case 4: tile<4, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
          case 3: tile<3, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
          case 2: tile<2, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
          default: tile<1, Q>(a, p, rq, rows, blk, groups, c0, nc, out, res); break;
        }
      };
      if (nc <= 32) {
        run(std::integral_constant<size_t, 2>{});
      } else {
        run(std::integral_constant<size_t, 4>{});
      }
    }
  }
}

}  // namespace kiln::kernels
