// AVX2 int4-weight GEMM / igemm over a widened B block (gemm_run and the convolution driver, for
// tasks with several row tiles).
//
// Why: in gemm_u8s4_4x16c4__avx2 every 64 packed bytes are turned into int8 in the loop (2 vpand,
// 2 vpsrlw, 4 vpshufb), and on Zen3 vpshufb, vpsrlw and the A broadcasts all issue on the same two
// FP pipes: the unpacking, not vpmaddubsw, limits the loop. gemm_run instead widens each packed
// block once per task (gemm_widen_block_u8s4__avx2: the int8 kgroup layout, 16 bytes per k of the
// padded block: ks segments of round_up(kc, 8)) and this kernel reads B with plain loads: per 4 k and row, one broadcast,
// two vpmaddubsw and two vpaddw. The widening is shared by every row tile of the task.
// Exact as the unpacking kernel: |a0 w0 + a1 w1| <= 2 * 255 * 8 = 4080, so 8 groups of 4 k add up
// in int16 (<= 32640) before one vpmaddwd by ones widens them into the int32 totals.
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
constexpr size_t kGroupBytes = 4 * kNr;  // one k-group of the widened block
constexpr size_t kFlushGroups = 8;       // int16 sums stay exact for 8 groups

inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// A as uint8 rows (gemm and igemm): rows(p, a) sets the M row pointers of segment p; the widened
// block holds ks segments of round_up(kc, 8) k each.
template <int M, class Rows>
void tile_wide(size_t nc, size_t kc, size_t ks, Rows rows, const uint8_t* blk, const uint8_t* wide, void* c,
               size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue& ep) {
  alignas(32) int32_t total[M][kNr] = {};
  const uint8_t* a[M];
  const size_t full_groups = kc / 4, groups = (kc + 7) / 8 * 2;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s16[M][2];
  for (int m = 0; m < M; ++m) s16[m][0] = s16[m][1] = _mm256_setzero_si256();
  const uint8_t* wp = wide;
  // total += widen(s16); s16 = 0. Macros, not lambdas: gcc keeps lambda-captured vectors in memory.
#define KILN_FLUSH()                                                                                       \
  do {                                                                                                     \
    for (int m = 0; m < M; ++m) {                                                                          \
      for (int h = 0; h < 2; ++h) {                                                                        \
        __m256i* t = reinterpret_cast<__m256i*>(&total[m][8 * h]);                                         \
        _mm256_store_si256(t, _mm256_add_epi32(_mm256_load_si256(t), _mm256_madd_epi16(s16[m][h], ones))); \
        s16[m][h] = _mm256_setzero_si256();                                                                \
      }                                                                                                    \
    }                                                                                                      \
  } while (0)
#define KILN_GROUP(A4)                                                          \
  do {                                                                          \
    const __m256i b0 = load(wp), b1 = load(wp + 32);                            \
    for (int m = 0; m < M; ++m) {                                               \
      const __m256i va = A4(m);                                                 \
      s16[m][0] = _mm256_add_epi16(s16[m][0], _mm256_maddubs_epi16(va, b0));    \
      s16[m][1] = _mm256_add_epi16(s16[m][1], _mm256_maddubs_epi16(va, b1));    \
    }                                                                           \
    wp += kGroupBytes;                                                          \
  } while (0)
#define KILN_A_FULL(m) broadcast32(a[m] + 4 * g)
#define KILN_A_TAIL(m) _mm256_set1_epi32(static_cast<int32_t>(tail_bytes(a[m], 4 * g, kc)))
  for (size_t p = 0; p < ks; ++p) {
  rows(p, a);
  size_t g = 0;
  if constexpr (M == 4) {
    // The full tile in asm: gcc reassociates the int16 adds across groups and spills products.
#define KILN_ROW(m)                                     \
  "vpbroadcastd (%[a" #m "],%[k]), %%ymm14\n\t"           \
  "vpmaddubsw %%ymm12, %%ymm14, %%ymm15\n\t"              \
  "vpaddw %%ymm15, %[s" #m "0], %[s" #m "0]\n\t"          \
  "vpmaddubsw %%ymm13, %%ymm14, %%ymm14\n\t"              \
  "vpaddw %%ymm14, %[s" #m "1], %[s" #m "1]\n\t"
    __m256i s00 = s16[0][0], s01 = s16[0][1], s10 = s16[1][0], s11 = s16[1][1];
    __m256i s20 = s16[2][0], s21 = s16[2][1], s30 = s16[3][0], s31 = s16[3][1];
    for (; g + kFlushGroups <= full_groups;) {
      for (size_t i = 0; i < kFlushGroups; ++i, ++g) {
        const size_t k = 4 * g;
        __asm__ volatile(
            "vmovdqu (%[w]), %%ymm12\n\t"
            "vmovdqu 32(%[w]), %%ymm13\n\t"  //
            KILN_ROW(0) KILN_ROW(1) KILN_ROW(2) KILN_ROW(3)
            : [s00] "+x"(s00), [s01] "+x"(s01), [s10] "+x"(s10), [s11] "+x"(s11), [s20] "+x"(s20),
              [s21] "+x"(s21), [s30] "+x"(s30), [s31] "+x"(s31)
            : [w] "r"(wp), [a0] "r"(a[0]), [a1] "r"(a[1]), [a2] "r"(a[2]), [a3] "r"(a[3]), [k] "r"(k)
            : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
        wp += kGroupBytes;
      }
      s16[0][0] = s00, s16[0][1] = s01, s16[1][0] = s10, s16[1][1] = s11;
      s16[2][0] = s20, s16[2][1] = s21, s16[3][0] = s30, s16[3][1] = s31;
      KILN_FLUSH();
      s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = _mm256_setzero_si256();
    }
#undef KILN_ROW
  } else {
    for (; g + kFlushGroups <= full_groups;) {
      for (size_t i = 0; i < kFlushGroups; ++i, ++g) KILN_GROUP(KILN_A_FULL);
      KILN_FLUSH();
    }
  }
  // At most 7 full groups, then the 1-2 groups past the last full one (A read up to kc, the
  // widened weights are zero past kc): at most 9 groups since the last flush, one too many for
  // int16, so a flush in between when both kinds are there. No flush when nothing was added.
  const bool pending = g < full_groups;
  for (; g < full_groups; ++g) KILN_GROUP(KILN_A_FULL);
  if (pending && g < groups) KILN_FLUSH();
  const bool tail = g < groups;
  for (; g < groups; ++g) KILN_GROUP(KILN_A_TAIL);
  if (pending || tail) KILN_FLUSH();
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_GROUP
#undef KILN_FLUSH
  __m256i acc[M][2];
  for (int m = 0; m < M; ++m) {
    acc[m][0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&total[m][0]));
    acc[m][1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&total[m][8]));
  }
  store_tile<M>(acc, blk, nc, c, c_stride, r, r_stride, ep);
}

}  // namespace

size_t gemm_wide_block_bytes_u8s4__avx2(size_t kc) { return (kc + 7) / 8 * 8 * kNr; }

// Packed int4 (layout kgroup): the 64 bytes of group pair p hold group 2p in their low nibbles and
// 2p+1 in their high nibbles, at the byte offsets of the int8 layout. Each nibble becomes its int8
// value through a vpshufb table; group 2p goes to wide + 128p, group 2p+1 to wide + 128p + 64.
void gemm_widen_block_u8s4__avx2(size_t kc, const void* packed_block, void* wide) {
  const uint8_t* in = static_cast<const uint8_t*>(packed_block) + 8 * kNr;
  uint8_t* out = static_cast<uint8_t*>(wide);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i sext = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,  //
                                        0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1);
  const size_t pairs = (kc + 7) / 8;
  for (size_t p = 0; p < pairs; ++p, in += 2 * 32, out += 4 * 32) {
    for (size_t h = 0; h < 2; ++h) {
      const __m256i x = load(in + 32 * h);
      const __m256i lo = _mm256_shuffle_epi8(sext, _mm256_and_si256(x, low_nibbles));
      const __m256i hi = _mm256_shuffle_epi8(sext, _mm256_and_si256(_mm256_srli_epi16(x, 4), low_nibbles));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * h), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 + 32 * h), hi);
    }
  }
}

void gemm_wide_u8s4_4x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes,
                                 const void* w, const void* wide, void* c, size_t c_stride, const uint8_t* r,
                                 size_t r_stride, const GemmEpilogue* ep) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    const uint8_t* a0 = static_cast<const uint8_t*>(a);
    tile_wide<M>(
        nc, kc, 1,
        [&](size_t, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) ptrs[m] = a0 + m * a_stride_bytes;
        },
        static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(wide), c, c_stride, r, r_stride, *ep);
  });
}

void igemm_wide_u8s4_4x16c4__avx2(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a,
                                  size_t a_offset, const uint8_t* zero, const void* w, const void* wide, void* c,
                                  size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep) {
  dispatch_row_count<kMr>(mr, [&](auto mtag) {
    constexpr int M = decltype(mtag)::value;
    tile_wide<M>(
        nc, kc, ks,
        [&](size_t p, const uint8_t** ptrs) {
          for (int m = 0; m < M; ++m) {
            const uint8_t* s = a[p * kMr + m];
            ptrs[m] = s == zero ? s : s + a_offset;
          }
        },
        static_cast<const uint8_t*>(w), static_cast<const uint8_t*>(wide), c, c_stride, r, r_stride, *ep);
  });
}

}  // namespace kiln::kernels
