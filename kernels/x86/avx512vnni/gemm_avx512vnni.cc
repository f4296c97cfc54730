// AVX-512 VNNI GEMM / igemm micro-kernels, up to 8 rows x 32 columns (two zmm per row), k-groups of
// 4: gemm_u8s8_8x32c4__avx512vnni, gemm_u8s4_8x32c4__avx512vnni and their igemm_ twins.
//
// vpdpbusd multiplies uint8 A by int8 B and adds groups of 4 into int32 without saturation, so A is
// used as it arrives (no sign flip) and the zero point lives in the packed bias.
// int4: a byte holds k-group 2g in its low and 2g+1 in its high nibble; (x << 4) & 0xF0 and
// x & 0xF0 give 16*w as exact int8, so the kernel accumulates 16 * sum(a*w) and shifts right by 4
// before adding the bias (|16 * 255 * 8 * K| < 2^31 for K < 65536).
// gcc 12 reports its own avx512fintrin.h ("__Y = __Y" in unmasked conversions, shifts, min/max) as
// maybe-uninitialized once they are inlined here; it is a known false positive of those headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstring>
#include <type_traits>
#include <utility>

#include "avx512_intrinsics.h"
#include "gemm/a_bytes.h"
#include "gemm/row_dispatch.h"
#include "gemm/ukernels.h"

namespace kiln::kernels {
namespace {

constexpr size_t kMr = 8, kNr = 32;

inline __m512i broadcast_a(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The i32 / f32 outputs (float islands) on n <= 16 columns: the sums as they are, or times the
// multipliers. u8 outputs take store_u8_rows.
inline void store_wide_cols(const GemmEpilogue& ep, __m512i acc, __m512 mult, void* c, size_t n) {
  alignas(64) uint8_t buf[64];
  if (ep.output == GemmOutput::i32) {
    if (n == 16) {
      _mm512_storeu_si512(c, acc);
    } else {
      _mm512_store_si512(buf, acc);
      std::memcpy(c, buf, 4 * n);
    }
    return;
  }
  const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
  if (n == 16) {
    _mm512_storeu_ps(c, v);
  } else {
    _mm512_store_ps(reinterpret_cast<float*>(buf), v);
    std::memcpy(c, buf, 4 * n);
  }
}

// The u8 epilogue (requant.h's codes) of rows of nc <= 32 columns, two rows at a time: the
// product, plus the residual and through hardswish in requant.h's order of operations, is clamped
// above in float (to qmax - zero point), rounded half to even, narrowed by two saturating packs per
// 64 values and one vpermd that undoes the packs' lane interleaving (instead of a vpmovusdb per
// 16), the zero point added in int16 (saturating) and the lower clamp applied to the bytes (vpmaxub
// qmin). Why the lower clamp may move after the rounding: for v below qmin - zp (an integer),
// round(v) is at most that bound (or INT32_MIN when v is beyond the int32 range), each saturating
// step keeps it at most qmin, and the byte max then gives qmin, as clamping first does; above, v
// is clamped in float before any rounding, so no out-of-range conversion happens on that side.
// H = 1: a tile of at most 16 columns; the second half's codes are not computed.
template <int M, bool kResidual, bool kHardswish, int H = 2>
void store_u8_rows(const GemmEpilogue& ep, const __m512i (&acc)[M][2], __m512 mult0, __m512 mult1, size_t nc,
                   const uint8_t* r, size_t r_stride, uint8_t* c, size_t c_stride) {
  const __m512 hi = _mm512_set1_ps(static_cast<float>(ep.qmax - ep.zero_point));
  const __m512i zp16 = _mm512_set1_epi16(static_cast<int16_t>(ep.zero_point));
  const __m512i qmin = _mm512_set1_epi8(static_cast<char>(ep.qmin));
  const __m512 rmult = _mm512_set1_ps(ep.residual_multiplier);
  const __m512i rzp = _mm512_set1_epi32(ep.residual_zero_point);
  const __m512 out_scale = _mm512_set1_ps(ep.out_scale), hswish = _mm512_set1_ps(ep.hardswish_multiplier);
  const __m512 three = _mm512_set1_ps(3.0f), six = _mm512_set1_ps(6.0f), zero = _mm512_setzero_ps();
  const __mmask64 mask = nc >= 64 ? ~__mmask64{0} : (__mmask64{1} << nc) - 1;
  // After packs_epi32(a, b) and packus_epi16 of two such, 128-bit lane i holds the dwords
  // a[4i..], b[4i..], c[4i..], d[4i..]; this puts a, b (row m) in the low and c, d in the high half.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // Row m's residual codes of columns h * 16 .. h * 16 + 15 as int32 (zero past nc).
  auto residual = [&](int m, int h) {
    const __m128i bytes = _mm512_castsi512_si128(_mm512_maskz_loadu_epi8(mask >> (16 * h), r + m * r_stride + 16 * h));
    return _mm512_cvtepu8_epi32(bytes);
  };
  auto codes = [&](__m512i x, __m512 mult, int m, int h) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(x), mult);
    if constexpr (kResidual) {
      v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(residual(m, h), rzp)), rmult));
    }
    if constexpr (kHardswish) {
      const __m512 t = _mm512_mul_ps(v, out_scale);
      const __m512 g = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(t, three), zero), six);
      v = _mm512_mul_ps(_mm512_mul_ps(t, g), hswish);
    }
    return _mm512_cvtps_epi32(_mm512_min_ps(v, hi));
  };
  for (int m = 0; m < M; m += 2) {
    const int m1 = m + 1 < M ? m + 1 : m;
    const __m512i none = _mm512_setzero_si512();
    const __m512i r0 = _mm512_adds_epi16(
        _mm512_packs_epi32(codes(acc[m][0], mult0, m, 0), H == 2 ? codes(acc[m][1], mult1, m, 1) : none), zp16);
    const __m512i r1 = _mm512_adds_epi16(
        _mm512_packs_epi32(codes(acc[m1][0], mult0, m1, 0), H == 2 ? codes(acc[m1][1], mult1, m1, 1) : none), zp16);
    const __m512i bytes = _mm512_max_epu8(_mm512_permutexvar_epi32(order, _mm512_packus_epi16(r0, r1)), qmin);
    if (nc == kNr) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + m * c_stride), _mm512_castsi512_si256(bytes));
      if (m + 1 < M) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + (m + 1) * c_stride), _mm512_extracti64x4_epi64(bytes, 1));
      }
    } else {  // a column tail: only the first nc bytes of each row are written
      _mm512_mask_storeu_epi8(c + m * c_stride, mask, bytes);
      if (m + 1 < M) _mm512_mask_storeu_epi8(c + (m + 1) * c_stride, mask, _mm512_castsi256_si512(_mm512_extracti64x4_epi64(bytes, 1)));
    }
  }
}

// Adds the bias (int4: after the >> 4 that undoes the 16 * w nibble scaling; int8 accumulators
// start from it) and runs the epilogue on an M x 32 tile of int32 sums.
template <int M, int WBITS, int H = 2>
inline __attribute__((always_inline)) void finish_tile(__m512i (&acc)[M][2], const uint8_t* blk, size_t nc, void* c, size_t c_stride, const uint8_t* r,
                 size_t r_stride, const GemmEpilogue& ep) {
  if constexpr (WBITS == 4) {
    const __m512i bias0 = _mm512_loadu_si512(blk);
    const __m512i bias1 = _mm512_loadu_si512(blk + 64);
    for (int m = 0; m < M; ++m) {
      acc[m][0] = _mm512_add_epi32(_mm512_srai_epi32(acc[m][0], 4), bias0);
      acc[m][1] = _mm512_add_epi32(_mm512_srai_epi32(acc[m][1], 4), bias1);
    }
  }
  const __m512 mult0 = _mm512_loadu_ps(blk + 4 * kNr);
  const __m512 mult1 = _mm512_loadu_ps(blk + 4 * kNr + 64);
  if (ep.output == GemmOutput::u8) {
    uint8_t* c8 = static_cast<uint8_t*>(c);
    const bool hs = ep.activation == Activation::hardswish;
    if (r != nullptr) {
      hs ? store_u8_rows<M, true, true, H>(ep, acc, mult0, mult1, nc, r, r_stride, c8, c_stride)
         : store_u8_rows<M, true, false, H>(ep, acc, mult0, mult1, nc, r, r_stride, c8, c_stride);
    } else {
      hs ? store_u8_rows<M, false, true, H>(ep, acc, mult0, mult1, nc, r, r_stride, c8, c_stride)
         : store_u8_rows<M, false, false, H>(ep, acc, mult0, mult1, nc, r, r_stride, c8, c_stride);
    }
    return;
  }
  const size_t n0 = nc < 16 ? nc : 16, n1 = nc > 16 ? nc - 16 : 0;
  for (int m = 0; m < M; ++m) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * 4;
    store_wide_cols(ep, acc[m][0], mult0, crow, n0);
    if (n1) store_wide_cols(ep, acc[m][1], mult1, crow + 64, n1);
  }
}

#if !defined(KILN_AVX512_EMULATED)
// The full 8-row tile in asm, every segment and k-step (native builds; kc a multiple of the k
// step). As intrinsics gcc 12 copies all 16 accumulators to other registers and back on every
// k-step (32 extra µops per 16 vpdpbusd: the igemm ran at 70% of the vpdpbusd peak), or, with
// register pins, keeps them on the stack. The accumulators are the asm's register outputs,
// started from the bias (int8) or zero (int4) inside it; rows[p * 8 + m] is row m's pointer for
// segment p (the igemm indirection layout), moved by a_offset unless it is `zero`. The SIMDe
// build and the other row counts keep the intrinsics.
#define KILN_VNNI_ROW(M, R, OFF, REG, B0, B1)                \
  "vpbroadcastd " #OFF "(%%r" #R ",%[k]), %%zmm" #REG "\n\t" \
  "vpdpbusd %%zmm" #B0 ", %%zmm" #REG ", %[c" #M "0]\n\t"    \
  "vpdpbusd %%zmm" #B1 ", %%zmm" #REG ", %[c" #M "1]\n\t"
#define KILN_VNNI_ROWS(OFF, B0, B1)                                                                                \
  KILN_VNNI_ROW(0, 8, OFF, 26, B0, B1) KILN_VNNI_ROW(1, 9, OFF, 27, B0, B1) KILN_VNNI_ROW(2, 10, OFF, 26, B0, B1) \
  KILN_VNNI_ROW(3, 11, OFF, 27, B0, B1) KILN_VNNI_ROW(4, 12, OFF, 26, B0, B1)                                      \
  KILN_VNNI_ROW(5, 13, OFF, 27, B0, B1) KILN_VNNI_ROW(6, 14, OFF, 26, B0, B1) KILN_VNNI_ROW(7, 15, OFF, 27, B0, B1)
// Segment pointer m of 8 into r(8 + m): rows[m], plus a_offset unless it is the zero row.
#define KILN_VNNI_PTR(R, I)                  \
  "mov " #I "(%[rows]), %%r" #R "\n\t"       \
  "mov %%r" #R ", %%rax\n\t"                 \
  "add %[a_offset], %%rax\n\t"               \
  "cmp %[zero], %%r" #R "\n\t"               \
  "cmovne %%rax, %%r" #R "\n\t"
#define KILN_VNNI_PTRS                                                                                 \
  KILN_VNNI_PTR(8, 0) KILN_VNNI_PTR(9, 8) KILN_VNNI_PTR(10, 16) KILN_VNNI_PTR(11, 24) KILN_VNNI_PTR(12, 32) \
  KILN_VNNI_PTR(13, 40) KILN_VNNI_PTR(14, 48) KILN_VNNI_PTR(15, 56)                                         \
  "add $64, %[rows]\n\t"                                                                                     \
  "xor %k[k], %k[k]\n\t"
#define KILN_VNNI_INIT(M, X0, X1) "vmovdqa64 " X0 ", %[c" #M "0]\n\tvmovdqa64 " X1 ", %[c" #M "1]\n\t"
#define KILN_VNNI_INIT8(X0, X1)                                                                              \
  KILN_VNNI_INIT(0, X0, X1) KILN_VNNI_INIT(1, X0, X1) KILN_VNNI_INIT(2, X0, X1) KILN_VNNI_INIT(3, X0, X1) \
  KILN_VNNI_INIT(4, X0, X1) KILN_VNNI_INIT(5, X0, X1) KILN_VNNI_INIT(6, X0, X1) KILN_VNNI_INIT(7, X0, X1)
#define KILN_VNNI_ACCS                                                                                        \
  [c00] "=&v"(acc[0][0]), [c01] "=&v"(acc[0][1]), [c10] "=&v"(acc[1][0]), [c11] "=&v"(acc[1][1]),              \
      [c20] "=&v"(acc[2][0]), [c21] "=&v"(acc[2][1]), [c30] "=&v"(acc[3][0]), [c31] "=&v"(acc[3][1]),          \
      [c40] "=&v"(acc[4][0]), [c41] "=&v"(acc[4][1]), [c50] "=&v"(acc[5][0]), [c51] "=&v"(acc[5][1]),          \
      [c60] "=&v"(acc[6][0]), [c61] "=&v"(acc[6][1]), [c70] "=&v"(acc[7][0]), [c71] "=&v"(acc[7][1])
#define KILN_VNNI_OUTPUTS KILN_VNNI_ACCS, [rows] "+r"(rows), [ks] "+r"(ks), [w] "+r"(wp), [k] "=&r"(k)
// The direct variant's segment count lives in memory: with the stride operand, the frame pointer and
// r8-r15 there are not enough general registers for it.
#define KILN_VNNI_OUTPUTS_DIRECT KILN_VNNI_ACCS, [rows] "+r"(rows), [ks] "+m"(ks), [w] "+r"(wp), [k] "=&r"(k)
#define KILN_VNNI_ROW_CLOBBERS "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm26", "xmm27", "cc", "memory"
#define KILN_VNNI_CLOBBERS "rax", KILN_VNNI_ROW_CLOBBERS

// A GEMM tile's rows are a + m * stride: computed in registers, with no trip through memory (the
// 8 pointer loads of the igemm setup are on the critical path of a short-K tile).
#define KILN_VNNI_PTRS_DIRECT                    \
  "mov %[rows], %%r8\n\t"                        \
  "lea (%%r8,%[stride]), %%r9\n\t"               \
  "lea (%%r8,%[stride],2), %%r10\n\t"            \
  "lea (%%r9,%[stride],2), %%r11\n\t"            \
  "lea (%%r8,%[stride],4), %%r12\n\t"            \
  "lea (%%r9,%[stride],4), %%r13\n\t"            \
  "lea (%%r10,%[stride],4), %%r14\n\t"           \
  "lea (%%r11,%[stride],4), %%r15\n\t"           \
  "xor %k[k], %k[k]\n\t"
// The end of a k-step (128 packed bytes, KSTEP values of k) and of a segment.
#define KILN_VNNI_NEXT(KSTEP)  \
  "sub $-128, %[w]\n\t"       \
  "add $" KSTEP ", %[k]\n\t"  \
  "cmp %[kc], %[k]\n\t"       \
  "jb 1b\n\t"                 \
  "decq %[ks]\n\t"            \
  "jnz 2b\n\t"
// int8: the bias into every row's accumulators, then per segment the pointers and k in steps of 4.
#define KILN_VNNI_BODY_W8(PTRS)               \
  "vmovdqu64 (%[blk]), %%zmm30\n\t"            \
  "vmovdqu64 64(%[blk]), %%zmm31\n\t"          \
  KILN_VNNI_INIT8("%%zmm30", "%%zmm31")        \
  "2:\n\t"                                     \
  PTRS                                         \
  "1:\n\t"                                     \
  "vmovdqu64 (%[w]), %%zmm30\n\t"              \
  "vmovdqu64 64(%[w]), %%zmm31\n\t"            \
  KILN_VNNI_ROWS(0, 30, 31)                    \
  KILN_VNNI_NEXT("4")
// int8, the first 16 columns only (a column tail of at most 16): one vpdpbusd per row and step,
// half the work of the full tile, on the same packed block (the step stride stays 128 bytes).
#define KILN_VNNI_ROW_HALF(M, R, OFF, REG, B0)               \
  "vpbroadcastd " #OFF "(%%r" #R ",%[k]), %%zmm" #REG "\n\t" \
  "vpdpbusd %%zmm" #B0 ", %%zmm" #REG ", %[c" #M "0]\n\t"
#define KILN_VNNI_BODY_W8_HALF(PTRS)                                                                         \
  "vmovdqu64 (%[blk]), %%zmm30\n\t"                                                                          \
  KILN_VNNI_INIT8("%%zmm30", "%%zmm30")                                                                      \
  "2:\n\t"                                                                                                   \
  PTRS                                                                                                       \
  "1:\n\t"                                                                                                   \
  "vmovdqu64 (%[w]), %%zmm30\n\t"                                                                            \
  KILN_VNNI_ROW_HALF(0, 8, 0, 26, 30) KILN_VNNI_ROW_HALF(1, 9, 0, 27, 30) KILN_VNNI_ROW_HALF(2, 10, 0, 28, 30) \
  KILN_VNNI_ROW_HALF(3, 11, 0, 29, 30) KILN_VNNI_ROW_HALF(4, 12, 0, 26, 30)                                  \
  KILN_VNNI_ROW_HALF(5, 13, 0, 27, 30) KILN_VNNI_ROW_HALF(6, 14, 0, 28, 30)                                  \
  KILN_VNNI_ROW_HALF(7, 15, 0, 29, 30)                                                                       \
  KILN_VNNI_NEXT("4")
// int4: 8 k per step, the low nibbles (16 * w of k-group 2g) against A bytes k..k+3, the high
// nibbles (k-group 2g + 1) against k+4..k+7.
#define KILN_VNNI_BODY_W4(PTRS)               \
  "vpxord %%zmm30, %%zmm30, %%zmm30\n\t"       \
  KILN_VNNI_INIT8("%%zmm30", "%%zmm30")        \
  "2:\n\t"                                     \
  PTRS                                         \
  "1:\n\t"                                     \
  "vmovdqu64 (%[w]), %%zmm30\n\t"              \
  "vmovdqu64 64(%[w]), %%zmm31\n\t"            \
  "vpsllw $4, %%zmm30, %%zmm28\n\t"            \
  "vpsllw $4, %%zmm31, %%zmm29\n\t"            \
  "vpandq %[nib], %%zmm28, %%zmm28\n\t"        \
  "vpandq %[nib], %%zmm29, %%zmm29\n\t"        \
  "vpandq %[nib], %%zmm30, %%zmm30\n\t"        \
  "vpandq %[nib], %%zmm31, %%zmm31\n\t"        \
  KILN_VNNI_ROWS(0, 28, 29)                    \
  KILN_VNNI_ROWS(4, 30, 31)                    \
  KILN_VNNI_NEXT("8")

// igemm: ks segments, rows[p * 8 + m] (moved by a_offset unless it is `zero`).
template <int WBITS>
inline __attribute__((always_inline)) void tile8_asm(size_t kc, size_t ks, const uint8_t* const* rows,
                                                     size_t a_offset, const uint8_t* zero, const uint8_t* blk,
                                                     __m512i (&acc)[8][2]) {
  const uint8_t* wp = blk + 8 * kNr;
  size_t k;
  if constexpr (WBITS == 8) {
    __asm__ volatile(KILN_VNNI_BODY_W8(KILN_VNNI_PTRS)
                     : KILN_VNNI_OUTPUTS
                     : [blk] "r"(blk), [kc] "m"(kc), [a_offset] "m"(a_offset), [zero] "m"(zero)
                     : KILN_VNNI_CLOBBERS, "xmm30", "xmm31");
  } else {
    const __m512i nib_hi = _mm512_set1_epi8(static_cast<char>(0xF0));
    __asm__ volatile(KILN_VNNI_BODY_W4(KILN_VNNI_PTRS)
                     : KILN_VNNI_OUTPUTS
                     : [kc] "m"(kc), [a_offset] "m"(a_offset), [zero] "m"(zero), [nib] "v"(nib_hi)
                     : KILN_VNNI_CLOBBERS, "xmm28", "xmm29", "xmm30", "xmm31");
  }
}

// gemm: one segment, rows a + m * a_stride.
template <int WBITS>
inline __attribute__((always_inline)) void tile8_asm_direct(size_t kc, const uint8_t* a, size_t a_stride,
                                                            const uint8_t* blk, __m512i (&acc)[8][2]) {
  const uint8_t* wp = blk + 8 * kNr;
  const void* rows = a;
  size_t ks = 1, k;
  if constexpr (WBITS == 8) {
    __asm__ volatile(KILN_VNNI_BODY_W8(KILN_VNNI_PTRS_DIRECT)
                     : KILN_VNNI_OUTPUTS_DIRECT
                     : [blk] "r"(blk), [kc] "m"(kc), [stride] "r"(a_stride)
                     : KILN_VNNI_ROW_CLOBBERS, "xmm30", "xmm31");
  } else {
    const __m512i nib_hi = _mm512_set1_epi8(static_cast<char>(0xF0));
    __asm__ volatile(KILN_VNNI_BODY_W4(KILN_VNNI_PTRS_DIRECT)
                     : KILN_VNNI_OUTPUTS_DIRECT
                     : [kc] "m"(kc), [stride] "r"(a_stride), [nib] "v"(nib_hi)
                     : KILN_VNNI_ROW_CLOBBERS, "xmm28", "xmm29", "xmm30", "xmm31");
  }
}
// The int8 tiles on the first 16 columns (nc <= 16); acc[m][1] is left undefined.
inline __attribute__((always_inline)) void tile8_asm_half(size_t kc, size_t ks, const uint8_t* const* rows,
                                                          size_t a_offset, const uint8_t* zero, const uint8_t* blk,
                                                          __m512i (&acc)[8][2]) {
  const uint8_t* wp = blk + 8 * kNr;
  size_t k;
  __asm__ volatile(KILN_VNNI_BODY_W8_HALF(KILN_VNNI_PTRS)
                   : KILN_VNNI_OUTPUTS
                   : [blk] "r"(blk), [kc] "m"(kc), [a_offset] "m"(a_offset), [zero] "m"(zero)
                   : KILN_VNNI_CLOBBERS, "xmm28", "xmm29", "xmm30");
}
inline __attribute__((always_inline)) void tile8_asm_direct_half(size_t kc, const uint8_t* a, size_t a_stride,
                                                                 const uint8_t* blk, __m512i (&acc)[8][2]) {
  const uint8_t* wp = blk + 8 * kNr;
  const void* rows = a;
  size_t ks = 1, k;
  __asm__ volatile(KILN_VNNI_BODY_W8_HALF(KILN_VNNI_PTRS_DIRECT)
                   : KILN_VNNI_OUTPUTS_DIRECT
                   : [blk] "r"(blk), [kc] "m"(kc), [stride] "r"(a_stride)
                   : KILN_VNNI_ROW_CLOBBERS, "xmm28", "xmm29", "xmm30");
}
#undef KILN_VNNI_BODY_W8_HALF
#undef KILN_VNNI_NEXT
#undef KILN_VNNI_ROW_HALF
#undef KILN_VNNI_BODY_W4
#undef KILN_VNNI_BODY_W8
#undef KILN_VNNI_PTRS_DIRECT
#undef KILN_VNNI_CLOBBERS
#undef KILN_VNNI_ROW_CLOBBERS
#undef KILN_VNNI_OUTPUTS_DIRECT
#undef KILN_VNNI_ACCS
#undef KILN_VNNI_OUTPUTS
#undef KILN_VNNI_INIT8
#undef KILN_VNNI_INIT
#undef KILN_VNNI_PTRS
#undef KILN_VNNI_PTR
#undef KILN_VNNI_ROWS
#undef KILN_VNNI_ROW
#endif

// Whether the asm tile takes this call: 8 rows, native build, every segment whole k-steps.
template <int WBITS>
constexpr bool asm_tile(size_t mr, size_t kc) {
#if defined(KILN_AVX512_EMULATED)
  (void)mr, (void)kc;
  return false;
#else
  return mr >= kMr && kc > 0 && kc % (WBITS == 8 ? 4 : 8) == 0;
#endif
}

// Independent accumulator sets a tile of M rows cycles through over k: one vpdpbusd has a latency
// of several cycles, so a GEMV tile (2 chains per set) would wait on its own sums; 8 chains keep
// both vpdpbusd pipes busy. Full tiles already have 2 * M chains.
template <int M>
constexpr int kAccSets = M == 1 ? 4 : M == 2 ? 2 : 1;  // 1, 2 or 4 (the loop below unrolls by it)

// rows(p, ptrs) fills ptrs[0..M) with segment p of each row.
template <int M, int WBITS, class Rows>
void tile(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
          size_t r_stride, const GemmEpilogue& ep) {
  constexpr int U = kAccSets<M>;
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  const __m512i bias0 = _mm512_loadu_si512(blk);
  const __m512i bias1 = _mm512_loadu_si512(blk + 64);
  __m512i acc[U][M][2];
  for (int u = 0; u < U; ++u) {
    for (int m = 0; m < M; ++m) {
      acc[u][m][0] = WBITS == 8 && u == 0 ? bias0 : _mm512_setzero_si512();
      acc[u][m][1] = WBITS == 8 && u == 0 ? bias1 : _mm512_setzero_si512();
    }
  }
  const uint8_t* wp = blk + 8 * kNr;
  const size_t k_align = WBITS == 8 ? 4 : 8;
  const size_t kcp = (kc + k_align - 1) / k_align * k_align;
  const uint8_t* a[M];
  constexpr size_t kChunk = WBITS == 8 ? 4 : 8;  // k per loop step
  const size_t k_full = kc / kChunk * kChunk;
  // One step over kChunk values of k into accumulator set S; A4(m, j) is the broadcast of the 4
  // bytes j*4.. of row m at offset `ko` past k.
  // A macro rather than a lambda: gcc keeps lambda-captured accumulators in memory.
#define KILN_VNNI_STEP(S, A4)                                                \
  do {                                                                       \
    if constexpr (M <= 2) _mm_prefetch(reinterpret_cast<const char*>(wp) + 1024, _MM_HINT_T0); \
    if constexpr (M <= 2) _mm_prefetch(reinterpret_cast<const char*>(wp) + 1024 + 64, _MM_HINT_T0); \
    const __m512i x0 = _mm512_loadu_si512(wp);                               \
    const __m512i x1 = _mm512_loadu_si512(wp + 64);                          \
    wp += 128;                                                               \
    if constexpr (WBITS == 8) {                                              \
      for (int m = 0; m < M; ++m) {                                          \
        const __m512i va = A4(m, 0);                                         \
        acc[S][m][0] = _mm512_dpbusd_epi32(acc[S][m][0], va, x0);            \
        acc[S][m][1] = _mm512_dpbusd_epi32(acc[S][m][1], va, x1);            \
      }                                                                      \
    } else {                                                                 \
      const __m512i nib_hi = _mm512_set1_epi8(static_cast<char>(0xF0));      \
      const __m512i e0 = _mm512_and_si512(_mm512_slli_epi16(x0, 4), nib_hi); \
      const __m512i e1 = _mm512_and_si512(_mm512_slli_epi16(x1, 4), nib_hi); \
      const __m512i o0 = _mm512_and_si512(x0, nib_hi);                       \
      const __m512i o1 = _mm512_and_si512(x1, nib_hi);                       \
      for (int m = 0; m < M; ++m) {                                          \
        const __m512i va = A4(m, 0);                                         \
        const __m512i vb = A4(m, 1);                                         \
        acc[S][m][0] = _mm512_dpbusd_epi32(acc[S][m][0], va, e0);            \
        acc[S][m][1] = _mm512_dpbusd_epi32(acc[S][m][1], va, e1);            \
        acc[S][m][0] = _mm512_dpbusd_epi32(acc[S][m][0], vb, o0);            \
        acc[S][m][1] = _mm512_dpbusd_epi32(acc[S][m][1], vb, o1);            \
      }                                                                      \
    }                                                                        \
  } while (0)
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    size_t ko = 0;
#define KILN_A_FULL(m, j) broadcast_a(a[m] + k + ko + 4 * (j))
    if constexpr (U > 1) {
      for (; k + U * kChunk <= k_full; k += U * kChunk) {
        ko = 0;
        KILN_VNNI_STEP(0, KILN_A_FULL);
        ko = kChunk;
        KILN_VNNI_STEP(1 % U, KILN_A_FULL);
        if constexpr (U > 2) {
          ko = 2 * kChunk;
          KILN_VNNI_STEP(2 % U, KILN_A_FULL);
          ko = 3 * kChunk;
          KILN_VNNI_STEP(3 % U, KILN_A_FULL);
        }
      }
      ko = 0;
    }
    for (; k < k_full; k += kChunk) KILN_VNNI_STEP(0, KILN_A_FULL);
#undef KILN_A_FULL
    if (k < kcp) {  // the partial last chunk, zero-padded (the padded weights are zero)
#define KILN_A_TAIL(m, j) _mm512_set1_epi32(static_cast<int32_t>(tail_bytes(a[m], k + 4 * (j), kc)))
      KILN_VNNI_STEP(0, KILN_A_TAIL);
#undef KILN_A_TAIL
    }
  }
#undef KILN_VNNI_STEP
  for (int u = 1; u < U; ++u) {
    for (int m = 0; m < M; ++m) {
      acc[0][m][0] = _mm512_add_epi32(acc[0][m][0], acc[u][m][0]);
      acc[0][m][1] = _mm512_add_epi32(acc[0][m][1], acc[u][m][1]);
    }
  }
  finish_tile<M, WBITS>(acc[0], blk, nc, c, c_stride, r, r_stride, ep);
}

template <int WBITS>
void gemm_dispatch(size_t mr, size_t nc, size_t kc, const uint8_t* a, size_t a_stride, const void* w, void* c,
                   size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep) {
#if !defined(KILN_AVX512_EMULATED)
  if (asm_tile<WBITS>(mr, kc)) {
    __m512i acc[kMr][2];
    if constexpr (WBITS == 8) {
      if (nc <= 16) {  // a column tail of at most 16: the half-width tile
        tile8_asm_direct_half(kc, a, a_stride, static_cast<const uint8_t*>(w), acc);
        finish_tile<kMr, WBITS, 1>(acc, static_cast<const uint8_t*>(w), nc, c, c_stride, r, r_stride, *ep);
        return;
      }
    }
    tile8_asm_direct<WBITS>(kc, a, a_stride, static_cast<const uint8_t*>(w), acc);
    finish_tile<kMr, WBITS>(acc, static_cast<const uint8_t*>(w), nc, c, c_stride, r, r_stride, *ep);
    return;
  }
#endif
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
#if !defined(KILN_AVX512_EMULATED)
  if (asm_tile<WBITS>(mr, kc)) {
    __m512i acc[kMr][2];
    if constexpr (WBITS == 8) {
      if (nc <= 16) {  // a column tail of at most 16: the half-width tile
        tile8_asm_half(kc, ks, a, a_offset, zero, static_cast<const uint8_t*>(w), acc);
        finish_tile<kMr, WBITS, 1>(acc, static_cast<const uint8_t*>(w), nc, c, c_stride, r, r_stride, *ep);
        return;
      }
    }
    tile8_asm<WBITS>(kc, ks, a, a_offset, zero, static_cast<const uint8_t*>(w), acc);
    finish_tile<kMr, WBITS>(acc, static_cast<const uint8_t*>(w), nc, c, c_stride, r, r_stride, *ep);
    return;
  }
#endif
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

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_8x32c4__avx512vnni) {
  gemm_dispatch<8>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_8x32c4__avx512vnni) {
  gemm_dispatch<4>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_8x32c4__avx512vnni) {
  igemm_dispatch<8>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_8x32c4__avx512vnni) {
  igemm_dispatch<4>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}

}  // namespace kiln::kernels
