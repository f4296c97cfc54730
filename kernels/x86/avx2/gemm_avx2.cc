// AVX2 GEMM / igemm micro-kernels, up to 4 rows x 16 columns (two ymm per row), k-groups of 4:
//   gemm_u8s8_4x16c4__avx2 (+ igemm_): EXACT for every uint8 x int8 operand. vpmaddubsw would
//     saturate (255 * 127 * 2 > 32767), so both operands are widened to int16 and multiplied with
//     vpmaddwd: A's 4 bytes are broadcast and split into the int16 pairs (a0,a2) = x & 0x00FF and
//     (a1,a3) = x >> 8; B is packed (layout avx2_int16pair) so that one vpmovsxbw yields the
//     matching pairs (w0,w2) / (w1,w3) of 8 columns.
//   gemm_u8s4_4x16c4__avx2 (+ igemm_): int4 weights make vpmaddubsw safe: |a0 w0 + a1 w1| <=
//     2 * 255 * 8 = 4080, so 8 of its results add up in int16 (<= 32640) before one vpmaddwd by
//     ones widens them. Nibbles become int8 through a vpshufb table.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "gemm/row_dispatch.h"
#include "gemm/ukernels.h"

namespace kiln::kernels {
namespace {

constexpr size_t kMr = 4, kNr = 16;

// Bytes [k, k+4) of a row of length kc as a little-endian word, zero past kc. No memcpy: a call
// inside the kernel would spill every accumulator.
inline uint32_t tail_bytes(const uint8_t* row, size_t k, size_t kc) {
  uint32_t v = 0;
  for (size_t j = 0; j < 4 && k + j < kc; ++j) v |= static_cast<uint32_t>(row[k + j]) << (8 * j);
  return v;
}
inline __m256i broadcast_a(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

struct Epilogue {
  __m256 lo, hi, out_scale, hswish, three, zero, six, rmult;
  __m256i zo, rzp;
  explicit Epilogue(const GemmEpilogue& ep)
      : lo(_mm256_set1_ps(static_cast<float>(ep.qmin - ep.zero_point))),
        hi(_mm256_set1_ps(static_cast<float>(ep.qmax - ep.zero_point))),
        out_scale(_mm256_set1_ps(ep.out_scale)),
        hswish(_mm256_set1_ps(ep.hardswish_multiplier)),
        three(_mm256_set1_ps(3.0f)),
        zero(_mm256_setzero_ps()),
        six(_mm256_set1_ps(6.0f)),
        rmult(_mm256_set1_ps(ep.residual_multiplier)),
        zo(_mm256_set1_epi32(ep.zero_point)),
        rzp(_mm256_set1_epi32(ep.residual_zero_point)) {}
};

// The requant.h epilogue on 8 columns.
inline void store_cols(const GemmEpilogue& ep, const Epilogue& e, __m256i acc, __m256 mult, const uint8_t* r, void* c,
                       size_t n) {
  alignas(32) uint8_t buf[32];
  if (ep.output == GemmOutput::i32) {
    if (n == 8) {
      _mm256_storeu_si256(static_cast<__m256i*>(c), acc);
    } else {
      _mm256_store_si256(reinterpret_cast<__m256i*>(buf), acc);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
  if (ep.output == GemmOutput::f32) {
    if (n == 8) {
      _mm256_storeu_ps(static_cast<float*>(c), v);
    } else {
      _mm256_store_ps(reinterpret_cast<float*>(buf), v);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  if (r != nullptr) {
    int64_t bytes = 0;
    std::memcpy(&bytes, r, n);
    const __m256i ri = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
    const __m256 rv = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ri, e.rzp)), e.rmult);
    v = _mm256_add_ps(v, rv);
  }
  if (ep.activation == Activation::hardswish) {
    const __m256 t = _mm256_mul_ps(v, e.out_scale);
    const __m256 g = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, e.three), e.zero), e.six);
    v = _mm256_mul_ps(_mm256_mul_ps(t, g), e.hswish);
  }
  v = _mm256_min_ps(_mm256_max_ps(v, e.lo), e.hi);
  const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), e.zo);  // in [qmin, qmax] within 0..255
  const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const int64_t q8 = _mm_cvtsi128_si64(_mm_packus_epi16(q16, q16));
  std::memcpy(c, &q8, n);
}

template <int M, int WBITS, class Rows>
void tile(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
          size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  __m256i acc[M][2];
  for (int m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();
  const uint8_t* wp = blk + 8 * kNr;
  const size_t k_align = WBITS == 8 ? 4 : 8;
  const size_t kcp = (kc + k_align - 1) / k_align * k_align;
  const uint8_t* a[M];
  constexpr size_t kChunk = WBITS == 8 ? 4 : 8;  // k per loop step
  const size_t k_full = kc / kChunk * kChunk;
  // One step over kChunk values of k; A4(m, j) is the broadcast of the 4 bytes j*4.. of row m.
  // A macro rather than a lambda: gcc keeps lambda-captured accumulators in memory.
#define KILN_AVX2_STEP8(A4)                                                                            \
  do {                                                                                                 \
    const __m256i b0e = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp)));      \
    const __m256i b0o = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + 16))); \
    const __m256i b1e = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + 32))); \
    const __m256i b1o = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + 48))); \
    wp += 64;                                                                                          \
    for (int m = 0; m < M; ++m) {                                                                      \
      const __m256i va = A4(m, 0);                                                                     \
      const __m256i ae = _mm256_and_si256(va, low_bytes);                                              \
      const __m256i ao = _mm256_srli_epi16(va, 8);                                                     \
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(ae, b0e));                             \
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(ae, b1e));                             \
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(ao, b0o));                             \
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(ao, b1o));                             \
    }                                                                                                  \
  } while (0)
#define KILN_AVX2_STEP4(A4)                                                                             \
  do {                                                                                                  \
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));                        \
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32));                   \
    wp += 64;                                                                                           \
    const __m256i e0 = _mm256_shuffle_epi8(sext, _mm256_and_si256(x0, low_nibbles));                    \
    const __m256i e1 = _mm256_shuffle_epi8(sext, _mm256_and_si256(x1, low_nibbles));                    \
    const __m256i o0 = _mm256_shuffle_epi8(sext, _mm256_and_si256(_mm256_srli_epi16(x0, 4), low_nibbles)); \
    const __m256i o1 = _mm256_shuffle_epi8(sext, _mm256_and_si256(_mm256_srli_epi16(x1, 4), low_nibbles)); \
    for (int m = 0; m < M; ++m) {                                                                       \
      const __m256i va = A4(m, 0);                                                                      \
      const __m256i vb = A4(m, 1);                                                                      \
      s16[m][0] = _mm256_add_epi16(s16[m][0], _mm256_maddubs_epi16(va, e0));                            \
      s16[m][1] = _mm256_add_epi16(s16[m][1], _mm256_maddubs_epi16(va, e1));                            \
      s16[m][0] = _mm256_add_epi16(s16[m][0], _mm256_maddubs_epi16(vb, o0));                            \
      s16[m][1] = _mm256_add_epi16(s16[m][1], _mm256_maddubs_epi16(vb, o1));                            \
    }                                                                                                   \
  } while (0)
#define KILN_A_FULL(m, j) broadcast_a(a[m] + k + 4 * (j))
#define KILN_A_TAIL(m, j) _mm256_set1_epi32(static_cast<int32_t>(tail_bytes(a[m], k + 4 * (j), kc)))
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    if constexpr (WBITS == 8) {
      const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
      for (; k < k_full; k += 4) KILN_AVX2_STEP8(KILN_A_FULL);
      if (k < kcp) KILN_AVX2_STEP8(KILN_A_TAIL);  // zero-padded (the padded weights are zero)
    } else {
      const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
      const __m256i sext = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,  //
                                            0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
      const __m256i ones = _mm256_set1_epi16(1);
      __m256i s16[M][2];
      for (int m = 0; m < M; ++m) s16[m][0] = s16[m][1] = _mm256_setzero_si256();
      // Each step adds 2 vpmaddubsw results (<= 4080 each) per int16 lane: widen every 4 steps.
      size_t steps = 0;
      for (; k < k_full; k += 8) {
        KILN_AVX2_STEP4(KILN_A_FULL);
        if (++steps == 4) {
          steps = 0;
          for (int m = 0; m < M; ++m) {
            acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(s16[m][0], ones));
            acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(s16[m][1], ones));
            s16[m][0] = s16[m][1] = _mm256_setzero_si256();
          }
        }
      }
      if (k < kcp) KILN_AVX2_STEP4(KILN_A_TAIL);  // at most the 4th step since the last widening
      for (int m = 0; m < M; ++m) {
        acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(s16[m][0], ones));
        acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(s16[m][1], ones));
      }
    }
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_AVX2_STEP8
#undef KILN_AVX2_STEP4
  const __m256i bias0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
  const __m256i bias1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32));
  const __m256 mult0 = _mm256_loadu_ps(reinterpret_cast<const float*>(blk + 4 * kNr));
  const __m256 mult1 = _mm256_loadu_ps(reinterpret_cast<const float*>(blk + 4 * kNr + 32));
  const Epilogue e(ep);
  const size_t eb = ep.output == GemmOutput::u8 ? 1 : 4;
  const size_t n0 = nc < 8 ? nc : 8, n1 = nc > 8 ? nc - 8 : 0;
  for (int m = 0; m < M; ++m) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * eb;
    const uint8_t* rrow = r ? r + m * r_stride : nullptr;
    store_cols(ep, e, _mm256_add_epi32(acc[m][0], bias0), mult0, rrow, crow, n0);
    if (n1) store_cols(ep, e, _mm256_add_epi32(acc[m][1], bias1), mult1, rrow ? rrow + 8 : nullptr, crow + 8 * eb, n1);
  }
}

template <int WBITS>
void gemm_dispatch(size_t mr, size_t nc, size_t kc, const uint8_t* a, size_t a_stride, const void* w, void* c,
                   size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep) {
  auto run = [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile<M, WBITS>(
        nc, kc, 1,
        [&](size_t, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) ptrs[m] = a + m * a_stride;
        },
        w, c, c_stride, r, r_stride, *ep);
  };
  dispatch_row_count<kMr>(mr, run);
}

template <int WBITS>
void igemm_dispatch(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a, size_t a_offset,
                    const uint8_t* zero, const void* w, void* c, size_t c_stride, const uint8_t* r, size_t r_stride,
                    const GemmEpilogue* ep) {
  auto run = [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile<M, WBITS>(
        nc, kc, ks,
        [&](size_t p, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) {
            const uint8_t* s = a[p * kMr + m];
            ptrs[m] = s == zero ? s : s + a_offset;
          }
        },
        w, c, c_stride, r, r_stride, *ep);
  };
  dispatch_row_count<kMr>(mr, run);
}

}  // namespace

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x16c4__avx2) {
  gemm_dispatch<8>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c4__avx2) {
  gemm_dispatch<4>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x16c4__avx2) {
  igemm_dispatch<8>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c4__avx2) {
  igemm_dispatch<4>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}

}  // namespace kiln::kernels
