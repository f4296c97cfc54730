// AVX2 int4-weight GEMM / igemm micro-kernels, up to 4 rows x 16 columns, k-groups of 4 (packed in
// pairs: one byte holds group 2g in its low nibble and 2g+1 in its high nibble, layout kgroup).
// int4 weights make vpmaddubsw safe: |a0 w0 + a1 w1| <= 2 * 255 * 8 = 4080, so 8 of its results
// (4 steps of 8 k) add up in int16 (<= 32640) before one vpmaddwd by ones widens them to int32.
// Nibbles become int8 through a vpshufb table, once per 64 weights, shared by the rows.
// Registers: the 4x2 int16 sums, 2 unpacked B, 1 A, the shuffle table and the nibble mask stay in
// ymm; the int32 totals live in a small stack array touched once per 32 k (no spills in the loop).
#include <immintrin.h>

#include <cstring>

#include "gemm/row_dispatch.h"
#include "gemm/ukernels.h"
#include "x86/avx2/gemm_a_avx2.h"
#include "x86/avx2/gemm_epilogue_avx2.h"

namespace kiln::kernels {
namespace {

using avx2_gemm::broadcast32;
using avx2_gemm::store_tile;

constexpr size_t kMr = 4, kNr = 16;


template <int M, class Rows>
void tile(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
          size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  alignas(32) int32_t total[M][kNr] = {};  // int32 sums, updated once per <= 4 steps
  const uint8_t* wp = blk + 8 * kNr;
  const size_t kcp = (kc + 7) / 8 * 8;
  const size_t k_full = kc / 8 * 8;
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i sext = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,  //
                                        0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t* a[M];
  __m256i s16[M][2];
  // One step of 8 k (two k-groups: low nibbles = the first, high nibbles = the second).
#define KILN_AVX2_STEP4(A4)                                                                             \
  do {                                                                                                  \
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));                        \
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32));                   \
    __m256i e0 = _mm256_shuffle_epi8(sext, _mm256_and_si256(x0, low_nibbles));                          \
    __m256i e1 = _mm256_shuffle_epi8(sext, _mm256_and_si256(x1, low_nibbles));                          \
    for (int m = 0; m < M; ++m) {                                                                       \
      const __m256i va = A4(m, 0);                                                                      \
      s16[m][0] = _mm256_add_epi16(s16[m][0], _mm256_maddubs_epi16(va, e0));                            \
      s16[m][1] = _mm256_add_epi16(s16[m][1], _mm256_maddubs_epi16(va, e1));                            \
    }                                                                                                   \
    e0 = _mm256_shuffle_epi8(sext, _mm256_and_si256(_mm256_srli_epi16(x0, 4), low_nibbles));            \
    e1 = _mm256_shuffle_epi8(sext, _mm256_and_si256(_mm256_srli_epi16(x1, 4), low_nibbles));            \
    for (int m = 0; m < M; ++m) {                                                                       \
      const __m256i vb = A4(m, 1);                                                                      \
      s16[m][0] = _mm256_add_epi16(s16[m][0], _mm256_maddubs_epi16(vb, e0));                            \
      s16[m][1] = _mm256_add_epi16(s16[m][1], _mm256_maddubs_epi16(vb, e1));                            \
    }                                                                                                   \
    wp += 64;                                                                                           \
  } while (0)
#define KILN_A_FULL(m, j) broadcast32(a[m] + k + 4 * (j))
#define KILN_A_TAIL(m, j) _mm256_set1_epi32(static_cast<int32_t>(tail_bytes(a[m], k + 4 * (j), kc)))
  // total += widen(s16); s16 = 0. A macro: a lambda capturing s16 would keep it in memory.
#define KILN_AVX2_FLUSH()                                                                                  \
  do {                                                                                                     \
    for (int m = 0; m < M; ++m) {                                                                          \
      for (int h = 0; h < 2; ++h) {                                                                        \
        __m256i* t = reinterpret_cast<__m256i*>(&total[m][8 * h]);                                         \
        _mm256_store_si256(t, _mm256_add_epi32(_mm256_load_si256(t), _mm256_madd_epi16(s16[m][h], ones))); \
        s16[m][h] = _mm256_setzero_si256();                                                                \
      }                                                                                                    \
    }                                                                                                      \
  } while (0)
  for (int m = 0; m < M; ++m) s16[m][0] = s16[m][1] = _mm256_setzero_si256();
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    if constexpr (M == 4) {
      // Blocks of 4 full steps in asm: gcc reassociates the int16 adds of the intrinsics version
      // across steps and parks every vpmaddubsw product on the stack.
      // ymm10-15 scratch: x0/x1 (then their high nibbles), e0/e1, the A broadcast, a product.
#define KILN_ROW(m, off)                                      \
  "vpbroadcastd " off "(%[a" #m "],%[k]), %%ymm11\n\t"          \
  "vpmaddubsw %%ymm14, %%ymm11, %%ymm10\n\t"                    \
  "vpaddw %%ymm10, %[s" #m "0], %[s" #m "0]\n\t"                \
  "vpmaddubsw %%ymm15, %%ymm11, %%ymm11\n\t"                    \
  "vpaddw %%ymm11, %[s" #m "1], %[s" #m "1]\n\t"
      __m256i s00 = s16[0][0], s01 = s16[0][1], s10 = s16[1][0], s11 = s16[1][1];
      __m256i s20 = s16[2][0], s21 = s16[2][1], s30 = s16[3][0], s31 = s16[3][1];
      for (; k + 32 <= k_full;) {
        for (int i = 0; i < 4; ++i, k += 8) {
          __asm__ volatile(
              "vmovdqu (%[w]), %%ymm12\n\t"
              "vmovdqu 32(%[w]), %%ymm13\n\t"
              "vpand %[mask], %%ymm12, %%ymm14\n\t"
              "vpshufb %%ymm14, %[sext], %%ymm14\n\t"
              "vpand %[mask], %%ymm13, %%ymm15\n\t"
              "vpshufb %%ymm15, %[sext], %%ymm15\n\t"
              "vpsrlw $4, %%ymm12, %%ymm12\n\t"
              "vpsrlw $4, %%ymm13, %%ymm13\n\t"  //
              KILN_ROW(0, "0") KILN_ROW(1, "0") KILN_ROW(2, "0") KILN_ROW(3, "0")
              "vpand %[mask], %%ymm12, %%ymm14\n\t"
              "vpshufb %%ymm14, %[sext], %%ymm14\n\t"
              "vpand %[mask], %%ymm13, %%ymm15\n\t"
              "vpshufb %%ymm15, %[sext], %%ymm15\n\t"  //
              KILN_ROW(0, "4") KILN_ROW(1, "4") KILN_ROW(2, "4") KILN_ROW(3, "4")
              : [s00] "+x"(s00), [s01] "+x"(s01), [s10] "+x"(s10), [s11] "+x"(s11), [s20] "+x"(s20),
                [s21] "+x"(s21), [s30] "+x"(s30), [s31] "+x"(s31)
              : [w] "r"(wp), [a0] "r"(a[0]), [a1] "r"(a[1]), [a2] "r"(a[2]), [a3] "r"(a[3]), [k] "r"(k),
                [sext] "x"(sext), [mask] "m"(low_nibbles)
              : "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
          wp += 64;
        }
        s16[0][0] = s00, s16[0][1] = s01, s16[1][0] = s10, s16[1][1] = s11;
        s16[2][0] = s20, s16[2][1] = s21, s16[3][0] = s30, s16[3][1] = s31;
        KILN_AVX2_FLUSH();
        s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = _mm256_setzero_si256();
      }
#undef KILN_ROW
    } else {
      for (; k + 32 <= k_full;) {
        for (int i = 0; i < 4; ++i, k += 8) KILN_AVX2_STEP4(KILN_A_FULL);
        KILN_AVX2_FLUSH();
      }
    }
    // The rest: at most 3 full steps and one tail step (zero-padded weights), then one flush.
    for (; k < k_full; k += 8) KILN_AVX2_STEP4(KILN_A_FULL);
    if (k < kcp) KILN_AVX2_STEP4(KILN_A_TAIL);
    KILN_AVX2_FLUSH();
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_AVX2_STEP4
#undef KILN_AVX2_FLUSH
  __m256i acc[M][2];
  for (int m = 0; m < M; ++m) {
    acc[m][0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&total[m][0]));
    acc[m][1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&total[m][8]));
  }
  store_tile<M>(acc, blk, nc, c, c_stride, r, r_stride, ep);
}

}  // namespace

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c4__avx2) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile<M>(
        nc, kc, 1,
        [&](size_t, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) ptrs[m] = a + m * a_stride;
        },
        w, c, c_stride, r, r_stride, *ep);
  });
}

KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c4__avx2) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile<M>(
        nc, kc, ks,
        [&](size_t p, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) {
            const uint8_t* s = a[p * kMr + m];
            ptrs[m] = s == zero ? s : s + a_offset;
          }
        },
        w, c, c_stride, r, r_stride, *ep);
  });
}

}  // namespace kiln::kernels
