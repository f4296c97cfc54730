// NEON i8mm GEMM / igemm micro-kernels, up to 4 rows x 16 columns, k-groups of 8:
// gemm_u8s8_4x16c8__i8mm, gemm_u8s4_4x16c8__i8mm and their igemm_ twins.
//
// usmmla multiplies a 2x8 uint8 block of A (two rows) by a 2x8 int8 block of B (two columns, the
// kgroup layout with kr = 8 stores exactly that) into a 2x2 int32 tile, so uint8 A needs no sign
// flip. An odd last row is paired with itself and not stored. int4: (x << 4) and x & 0xF0 give 16*w
// as exact int8; the sum is shifted right by 4 at the end.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "../neondot/gemm_neon_epilogue.h"
#include "gemm/row_dispatch.h"
#include "gemm/ukernels.h"

namespace kiln::kernels {
namespace {

constexpr size_t kMr = 4, kNr = 16;

// Bytes [k, k+8) of a row of length kc, zero past kc. No memcpy: a call inside the kernel would
// spill every accumulator.
inline uint8x8_t tail8(const uint8_t* row, size_t k, size_t kc) {
  uint64_t v = 0;
  for (size_t j = 0; j < 8 && k + j < kc; ++j) v |= static_cast<uint64_t>(row[k + j]) << (8 * j);
  return vcreate_u8(v);
}

template <int WBITS>
inline void load_group(const int8_t*& wp, int8x16_t (&g0)[8], int8x16_t (&g1)[8]) {
  if constexpr (WBITS == 8) {
    for (int j = 0; j < 8; ++j) g0[j] = vld1q_s8(wp + 16 * j);
    wp += 128;
  } else {
    const int8x16_t hi = vdupq_n_s8(static_cast<int8_t>(0xF0));
    for (int j = 0; j < 8; ++j) {
      const int8x16_t x = vld1q_s8(wp + 16 * j);
      g0[j] = vshlq_n_s8(x, 4);
      g1[j] = vandq_s8(x, hi);
    }
    wp += 128;
  }
}

template <int P>
inline void mma(int32x4_t (&acc)[P][8], const uint8x16_t (&va)[P], const int8x16_t (&b)[8]) {
  for (int q = 0; q < P; ++q) {
    for (int j = 0; j < 8; ++j) acc[q][j] = vusmmlaq_s32(acc[q][j], va[q], b[j]);
  }
}

template <int M, int WBITS, class Rows>
void tile(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
          size_t r_stride, const GemmEpilogue& ep) {
  constexpr int P = (M + 1) / 2;  // row pairs
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  int32x4_t acc[P][8];
  for (int q = 0; q < P; ++q) {
    for (int j = 0; j < 8; ++j) acc[q][j] = vdupq_n_s32(0);
  }
  const int8_t* wp = reinterpret_cast<const int8_t*>(blk + 8 * kNr);
  const size_t k_align = WBITS == 8 ? 8 : 16;
  const size_t kcp = (kc + k_align - 1) / k_align * k_align;
  const uint8_t* a[M];
  constexpr size_t kChunk = WBITS == 8 ? 8 : 16;  // k per loop step
  const size_t k_full = kc / kChunk * kChunk;
  // One step; LOAD8(m, j) gives bytes j*8.. (8 of them) of row m. A macro rather than a lambda:
  // gcc keeps lambda-captured accumulators in memory.
#define KILN_MM_STEP(LOAD8)                                                          \
  do {                                                                               \
    int8x16_t g0[8], g1[8];                                                          \
    load_group<WBITS>(wp, g0, g1);                                                   \
    uint8x16_t va[P];                                                                \
    for (int q = 0; q < P; ++q) {                                                    \
      const int m1 = 2 * q + 1 < M ? 2 * q + 1 : 2 * q;                              \
      va[q] = vcombine_u8(LOAD8(2 * q, 0), LOAD8(m1, 0));                            \
    }                                                                                \
    mma<P>(acc, va, g0);                                                             \
    if constexpr (WBITS == 4) {                                                      \
      for (int q = 0; q < P; ++q) {                                                  \
        const int m1 = 2 * q + 1 < M ? 2 * q + 1 : 2 * q;                            \
        va[q] = vcombine_u8(LOAD8(2 * q, 1), LOAD8(m1, 1));                          \
      }                                                                              \
      mma<P>(acc, va, g1);                                                           \
    }                                                                                \
  } while (0)
#define KILN_A_FULL(m, j) vld1_u8(a[m] + k + 8 * (j))
#define KILN_A_TAIL(m, j) tail8(a[m], k + 8 * (j), kc)
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    for (; k < k_full; k += kChunk) KILN_MM_STEP(KILN_A_FULL);
    if (k < kcp) KILN_MM_STEP(KILN_A_TAIL);  // zero-padded (the padded weights are zero)
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_MM_STEP
  const int32_t* bias = reinterpret_cast<const int32_t*>(blk);
  const float* mult = reinterpret_cast<const float*>(blk + 4 * kNr);
  const neon_gemm::Epilogue e(ep);
  const size_t eb = ep.output == GemmOutput::u8 ? 1 : 4;
  for (int m = 0; m < M; ++m) {
    const int q = m / 2;
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * eb;
    for (int j = 0; j < 4 && static_cast<size_t>(4 * j) < nc; ++j) {
      // acc[q][jp] = [r0 c2jp, r0 c2jp+1, r1 c2jp, r1 c2jp+1]: a row's 4 columns are two 64-bit halves.
      const int64x2_t x = vreinterpretq_s64_s32(acc[q][2 * j]);
      const int64x2_t y = vreinterpretq_s64_s32(acc[q][2 * j + 1]);
      int32x4_t v = vreinterpretq_s32_s64(m % 2 == 0 ? vzip1q_s64(x, y) : vzip2q_s64(x, y));
      if constexpr (WBITS == 4) v = vshrq_n_s32(v, 4);
      v = vaddq_s32(v, vld1q_s32(bias + 4 * j));
      const size_t n = nc - 4 * j < 4 ? nc - 4 * j : 4;
      neon_gemm::store4(ep, e, v, vld1q_f32(mult + 4 * j), r ? r + m * r_stride + 4 * j : nullptr, crow + 4 * j * eb, n);
    }
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

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x16c8__i8mm) {
  gemm_dispatch<8>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c8__i8mm) {
  gemm_dispatch<4>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x16c8__i8mm) {
  igemm_dispatch<8>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c8__i8mm) {
  igemm_dispatch<4>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}

}  // namespace kiln::kernels
