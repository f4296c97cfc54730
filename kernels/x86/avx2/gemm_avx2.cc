// AVX2 int8 GEMM / igemm micro-kernels, up to 6 rows x 16 columns (two ymm per row), k-groups of 4,
// EXACT for every uint8 x int8 operand. vpmaddubsw would saturate (255 * 127 * 2 > 32767), so both
// operands are int16 and multiplied with vpmaddwd (16 MACs) + vpaddd per 8 columns and 2 k.
// B is packed (layout avx2_int16pair, int8) so that one vpmovsxbw yields the int16 pairs
// (w0,w2) / (w1,w3) of 8 columns; that widening is shared by the 6 rows. A is needed as the
// matching int32 pair words (a0 | a2 << 16) and (a1 | a3 << 16), broadcast:
//   gemm_pa_u8s8_6x16c4__avx2: A was packed once per GEMM by pack_a_u8_c4__avx2 (each row widened
//     to those pair words), so the inner loop is load-broadcast + vpmaddwd + vpaddd only. This is
//     what gemm_run uses.
//   gemm_u8s8_6x16c4__avx2 / igemm_: A's 4 bytes are broadcast and split in the loop with an AND
//     (a0,a2) and a shift (a1,a3): 2 more ALU uops per row and 4 k (convolution paths).
// 6x16 = 12 accumulators + 2 B registers + 1 A register: 15 of the 16 ymm.
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

constexpr size_t kMr = 6, kNr = 16;
constexpr size_t kPrefetch = 1024;  // bytes of B ahead of the few-row (GEMV) loop

// An empty asm that claims to modify v: the compiler must materialise v here and cannot
// reassociate the adds across it. Without it gcc sums both k-pairs' products before adding them to
// the accumulator, which keeps 4 B registers live and spills half the accumulators in the loop.
#define KILN_PIN(v) __asm__("" : "+x"(v))
inline __m256i load_b16(const uint8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// A as uint8 rows (gemm and igemm): rows(p, a) sets the M row pointers of segment p.
template <int M, class Rows>
void tile_u8(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
             size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  __m256i acc[M][2];
  for (int m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();
  const uint8_t* wp = blk + 8 * kNr;
  const size_t kcp = (kc + 3) / 4 * 4;
  const size_t k_full = kc / 4 * 4;
  const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
  const uint8_t* a[M];
  // One group of 4 k. A4(m) is the broadcast of row m's 4 bytes. A macro rather than a lambda:
  // gcc keeps lambda-captured accumulators in memory.
#define KILN_AVX2_GROUP(A4)                                                     \
  do {                                                                          \
    __m256i b0 = load_b16(wp), b1 = load_b16(wp + 32);                          \
    for (int m = 0; m < M; ++m) {                                               \
      const __m256i va = _mm256_and_si256(A4(m), low_bytes);                    \
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(va, b0));       \
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(va, b1));       \
      KILN_PIN(acc[m][0]);                                                      \
      KILN_PIN(acc[m][1]);                                                      \
    }                                                                           \
    b0 = load_b16(wp + 16);                                                     \
    b1 = load_b16(wp + 48);                                                     \
    for (int m = 0; m < M; ++m) {                                               \
      const __m256i va = _mm256_srli_epi16(A4(m), 8);                           \
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(va, b0));       \
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(va, b1));       \
    }                                                                           \
    wp += 64;                                                                   \
  } while (0)
#define KILN_A_FULL(m) broadcast32(a[m] + k)
#define KILN_A_TAIL(m) _mm256_set1_epi32(static_cast<int32_t>(tail_bytes(a[m], k, kc)))
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    if constexpr (M == 6) {
      // Full groups in asm (gcc spills the intrinsics version at 6 rows). The row pointers are
      // read from a[] inside the asm: 12 accumulators leave no room for 6 pointer operands.
#define KILN_ROW(m, split)                                   \
  "movq " #m "*8(%[ap]), %%rax\n\t"                          \
  "vpbroadcastd (%%rax,%[k]), %%ymm14\n\t" split             \
  "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"                   \
  "vpaddd %%ymm15, %[c" #m "0], %[c" #m "0]\n\t"             \
  "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"                   \
  "vpaddd %%ymm14, %[c" #m "1], %[c" #m "1]\n\t"
#define KILN_ROWS(split) \
  KILN_ROW(0, split) KILN_ROW(1, split) KILN_ROW(2, split) KILN_ROW(3, split) KILN_ROW(4, split) KILN_ROW(5, split)
      __m256i c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1], c20 = acc[2][0], c21 = acc[2][1];
      __m256i c30 = acc[3][0], c31 = acc[3][1], c40 = acc[4][0], c41 = acc[4][1], c50 = acc[5][0], c51 = acc[5][1];
      const uint8_t* const* ap = a;
      for (; k < k_full; k += 4) {
        __asm__ volatile(
            "vpmovsxbw (%[w]), %%ymm12\n\t"
            "vpmovsxbw 32(%[w]), %%ymm13\n\t"  //
            KILN_ROWS("vpand %[mask], %%ymm14, %%ymm14\n\t")
            "vpmovsxbw 16(%[w]), %%ymm12\n\t"
            "vpmovsxbw 48(%[w]), %%ymm13\n\t"  //
            KILN_ROWS("vpsrlw $8, %%ymm14, %%ymm14\n\t")
            : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
              [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
            : [w] "r"(wp), [ap] "r"(ap), [k] "r"(k), [mask] "m"(low_bytes)
            : "rax", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
        wp += 64;
      }
#undef KILN_ROWS
#undef KILN_ROW
      acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
      acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
    } else {
      for (; k < k_full; k += 4) KILN_AVX2_GROUP(KILN_A_FULL);
    }
    if (k < kcp) KILN_AVX2_GROUP(KILN_A_TAIL);  // zero-padded (the padded weights are zero)
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_AVX2_GROUP
  store_tile<M>(acc, blk, nc, c, c_stride, r, r_stride, ep);
}

// A packed by pack_a_row: group g of row m = the int32 words at bytes 8g (a0,a2) and 8g+4 (a1,a3).
template <int M>
void tile_packed(size_t nc, size_t kc, const uint8_t* a, size_t a_stride, const void* w, void* c, size_t c_stride,
                 const uint8_t* r, size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  __m256i acc[M][2];
  for (int m = 0; m < M; ++m) acc[m][0] = acc[m][1] = _mm256_setzero_si256();
  const uint8_t* wp = blk + 8 * kNr;
  const uint8_t* ap[M];
  for (int m = 0; m < M; ++m) ap[m] = a + m * a_stride;
  const size_t groups = (kc + 3) / 4;
  if constexpr (M == 6) {
    // The full tile in asm: gcc's scheduler otherwise hoists the second pair's B loads and spills.
    // Per group: 4 vpmovsxbw (B), 12 vpbroadcastd (A), 24 vpmaddwd + 24 vpaddd; ymm12-15 scratch.
#define KILN_ROW(m, addr)                                         \
  "vpbroadcastd " addr ", %%ymm14\n\t"                            \
  "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"                        \
  "vpaddd %%ymm15, %[c" #m "0], %[c" #m "0]\n\t"                  \
  "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"                        \
  "vpaddd %%ymm14, %[c" #m "1], %[c" #m "1]\n\t"
#define KILN_ROWS(off)                                                                           \
  KILN_ROW(0, off "(%[a])") KILN_ROW(1, off "(%[a],%[s])") KILN_ROW(2, off "(%[a],%[s],2)")      \
  KILN_ROW(3, off "(%[b])") KILN_ROW(4, off "(%[b],%[s])") KILN_ROW(5, off "(%[b],%[s],2)")
    // Rows 0-2 at a + {0,1,2} * a_stride, rows 3-5 at b = a + 3 * a_stride (asm has 30 operands).
    // Plain locals, not the acc array: gcc would store an array back to memory every iteration.
    __m256i c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1], c20 = acc[2][0], c21 = acc[2][1];
    __m256i c30 = acc[3][0], c31 = acc[3][1], c40 = acc[4][0], c41 = acc[4][1], c50 = acc[5][0], c51 = acc[5][1];
    const uint8_t* pa = ap[0];
    const uint8_t* pb = ap[3];
    for (size_t g = 0; g < groups; ++g) {
      __asm__ volatile(
          "vpmovsxbw (%[w]), %%ymm12\n\t"
          "vpmovsxbw 32(%[w]), %%ymm13\n\t"  //
          KILN_ROWS("0")
          "vpmovsxbw 16(%[w]), %%ymm12\n\t"
          "vpmovsxbw 48(%[w]), %%ymm13\n\t"  //
          KILN_ROWS("4")
          : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
            [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
          : [w] "r"(wp), [a] "r"(pa), [b] "r"(pb), [s] "r"(a_stride)
          : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
      wp += 64;
      pa += 8;
      pb += 8;
    }
#undef KILN_ROWS
    acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
    acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
#undef KILN_ROW
    store_tile<M>(acc, blk, nc, c, c_stride, r, r_stride, ep);
    return;
  }
  for (size_t g = 0; g < groups; ++g) {
    // Few rows: the loop streams B (one 64-byte line per group) faster than the hardware
    // prefetcher ramps up on one stream; fetch a few lines ahead. Past the block end this touches
    // the next block (or at most kPrefetch bytes past the buffer: prefetches never fault).
    if constexpr (M <= 2) _mm_prefetch(reinterpret_cast<const char*>(wp) + kPrefetch, _MM_HINT_T0);
    __m256i b0 = load_b16(wp), b1 = load_b16(wp + 32);
    for (int m = 0; m < M; ++m) {
      const __m256i va = broadcast32(ap[m] + 8 * g);
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(va, b0));
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(va, b1));
      KILN_PIN(acc[m][0]);
      KILN_PIN(acc[m][1]);
    }
    b0 = load_b16(wp + 16);
    b1 = load_b16(wp + 48);
    for (int m = 0; m < M; ++m) {
      const __m256i va = broadcast32(ap[m] + 8 * g + 4);
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(va, b0));
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(va, b1));
    }
    wp += 64;
  }
  store_tile<M>(acc, blk, nc, c, c_stride, r, r_stride, ep);
}

#undef KILN_PIN

}  // namespace

// One row of kc uint8 values -> round_up(kc, 16) int16 values: each 4 bytes (a0,a1,a2,a3) become
// a0,a2,a1,a3 zero-extended, i.e. the pair words (a0 | a2 << 16), (a1 | a3 << 16); zeros past kc.
void pack_a_u8_c4__avx2(size_t kc, const uint8_t* a_row, void* packed_row) {
  const __m128i order = _mm_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  uint8_t* out = static_cast<uint8_t*>(packed_row);
  size_t k = 0;
  for (; k + 16 <= kc; k += 16, out += 32) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a_row + k));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(x, order)));
  }
  if (k < kc) {
    alignas(16) uint8_t tail[16] = {};
    for (size_t j = 0; k + j < kc; ++j) tail[j] = a_row[k + j];
    const __m128i x = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(x, order)));
  }
}

void gemm_pa_u8s8_6x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes, const void* w,
                               void* c, size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    tile_packed<decltype(mtag)::value>(nc, kc, static_cast<const uint8_t*>(a), a_stride_bytes, w, c, c_stride, r,
                                       r_stride, *ep);
  });
}

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_6x16c4__avx2) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile_u8<M>(
        nc, kc, 1,
        [&](size_t, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) ptrs[m] = a + m * a_stride;
        },
        w, c, c_stride, r, r_stride, *ep);
  });
}

KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_6x16c4__avx2) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile_u8<M>(
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
