#include "dwconv_row_sweep_avx512vnni.h"

#if !defined(KILN_AVX512_EMULATED)

#include <immintrin.h>

#include <cstring>

namespace kiln::kernels::avx512 {

void dw_quad_tile(const uint8_t* tile, const DwSweepConstants& k, DwQuadTile* quad) {
  for (size_t v = 0; v < 20; ++v) {  // biases, multipliers, weights
    const __m512i low = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 64 * v)));
    _mm512_store_si512(quad->bytes + 64 * v, low);
  }
  std::memcpy(quad->bytes + 20 * 64, &k, sizeof(k));
  quad->hardswish = k.hardswish;
}

// Registers: zmm0-4 temporaries, zmm5 qmax (bytes), zmm6 zo (int16), zmm7 qmin (bytes), zmm8-11 / 12-15 /
// 16-19 three pixels' accumulators (four unpack-order vectors each), zmm20 + 4 kx + v the weights
// of tap column kx for vector v.
#define KILN_DW_Z(R) "%%zmm" #R

// Loading one input column's three rows (ky = 0, 1, 2: the indirection entries at byte offsets A,
// B, C from %[base]) into R0, R1, R2.
// Full tile: 64 channels of one output row.
#define KILN_DW_LOAD_FULL(A, B, C, R0, R1, R2, T) \
  "mov " #A "(%[base]), %[p0]\n\t"             \
  "mov " #B "(%[base]), %[p1]\n\t"             \
  "mov " #C "(%[base]), %[p2]\n\t"             \
  "vmovdqu64 (%[p0],%[c]), " KILN_DW_Z(R0) "\n\t" \
  "vmovdqu64 (%[p1],%[c]), " KILN_DW_Z(R1) "\n\t" \
  "vmovdqu64 (%[p2],%[c]), " KILN_DW_Z(R2) "\n\t"
// Four rows: 16 channels of four output rows, one per 128-bit lane (their indirection entries are
// %[rb] bytes apart; %[base3] is row 3's).
#define KILN_DW_LOAD4_ONE(A, R)                                           \
  "mov " #A "(%[base]), %[p0]\n\t"                                        \
  "mov " #A "(%[base],%[rb],1), %[p1]\n\t"                                \
  "mov " #A "(%[base],%[rb],2), %[p2]\n\t"                                \
  "vmovdqu32 (%[p0],%[c]), %%xmm" #R "\n\t"                                 \
  "mov " #A "(%[base3]), %[p0]\n\t"                                       \
  "vinserti32x4 $1, (%[p1],%[c]), " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t" \
  "vinserti32x4 $2, (%[p2],%[c]), " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t" \
  "vinserti32x4 $3, (%[p0],%[c]), " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t"
#define KILN_DW_LOAD_QUAD(A, B, C, R0, R1, R2, T) KILN_DW_LOAD4_ONE(A, R0) KILN_DW_LOAD4_ONE(B, R1) KILN_DW_LOAD4_ONE(C, R2)
// Masked (tiles of fewer channels: k1 holds the channel mask; masked-off bytes are neither read nor
// written, and load as zero against zero weights). Full width: 17..63 channels; four rows: 1..15,
// each row loaded into temporary T and inserted.
#define KILN_DW_MASKED "%{%%k1%}"
#define KILN_DW_ZEROED "%{%%k1%}%{z%}"
#define KILN_DW_LOAD_FULL_MASKED(A, B, C, R0, R1, R2, T)          \
  "mov " #A "(%[base]), %[p0]\n\t"                                \
  "mov " #B "(%[base]), %[p1]\n\t"                                \
  "mov " #C "(%[base]), %[p2]\n\t"                                \
  "vmovdqu8 (%[p0],%[c]), " KILN_DW_Z(R0) KILN_DW_ZEROED "\n\t"   \
  "vmovdqu8 (%[p1],%[c]), " KILN_DW_Z(R1) KILN_DW_ZEROED "\n\t"   \
  "vmovdqu8 (%[p2],%[c]), " KILN_DW_Z(R2) KILN_DW_ZEROED "\n\t"
#define KILN_DW_LOAD4_ONE_MASKED(A, R, T)                                          \
  "mov " #A "(%[base]), %[p0]\n\t"                                                 \
  "mov " #A "(%[base],%[rb],1), %[p1]\n\t"                                         \
  "mov " #A "(%[base],%[rb],2), %[p2]\n\t"                                         \
  "vmovdqu8 (%[p0],%[c]), %%xmm" #R KILN_DW_ZEROED "\n\t"                          \
  "mov " #A "(%[base3]), %[p0]\n\t"                                                \
  "vmovdqu8 (%[p1],%[c]), %%xmm" #T KILN_DW_ZEROED "\n\t"                          \
  "vinserti32x4 $1, %%xmm" #T ", " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t"            \
  "vmovdqu8 (%[p2],%[c]), %%xmm" #T KILN_DW_ZEROED "\n\t"                          \
  "vinserti32x4 $2, %%xmm" #T ", " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t"            \
  "vmovdqu8 (%[p0],%[c]), %%xmm" #T KILN_DW_ZEROED "\n\t"                          \
  "vinserti32x4 $3, %%xmm" #T ", " KILN_DW_Z(R) ", " KILN_DW_Z(R) "\n\t"
#define KILN_DW_LOAD_QUAD_MASKED(A, B, C, R0, R1, R2, T) \
  KILN_DW_LOAD4_ONE_MASKED(A, R0, T) KILN_DW_LOAD4_ONE_MASKED(B, R1, T) KILN_DW_LOAD4_ONE_MASKED(C, R2, T)

// One input column interleaved into g0..g3 = zmm4, 3, 1, 0: lane i of g_v holds one channel's
// (row 0, row 1, row 2, row 2) bytes; the weights' fourth byte is zero, so the repeated row 2 byte
// adds nothing and needs no zero register.
#define KILN_DW_COLUMN(LOAD, A, B, C)            \
  LOAD(A, B, C, 0, 1, 2, 3)                      \
  "vpunpcklbw %%zmm1, %%zmm0, %%zmm3\n\t"        \
  "vpunpckhbw %%zmm1, %%zmm0, %%zmm0\n\t"        \
  "vpunpcklbw %%zmm2, %%zmm2, %%zmm1\n\t"        \
  "vpunpckhbw %%zmm2, %%zmm2, %%zmm2\n\t"        \
  "vpunpcklwd %%zmm1, %%zmm3, %%zmm4\n\t"        \
  "vpunpckhwd %%zmm1, %%zmm3, %%zmm3\n\t"        \
  "vpunpcklwd %%zmm2, %%zmm0, %%zmm1\n\t"        \
  "vpunpckhwd %%zmm2, %%zmm0, %%zmm0\n\t"

// The same into g0..g3 = zmm19, 2, 17, 16 (temporaries zmm16-19 and zmm2: the stride-2 sweep has
// no third accumulator set, so its two columns per step are in flight at once).
#define KILN_DW_COLUMN_B(LOAD, A, B, C)          \
  LOAD(A, B, C, 16, 17, 18, 19)                  \
  "vpunpcklbw %%zmm17, %%zmm16, %%zmm2\n\t"      \
  "vpunpckhbw %%zmm17, %%zmm16, %%zmm16\n\t"     \
  "vpunpcklbw %%zmm18, %%zmm18, %%zmm17\n\t"     \
  "vpunpckhbw %%zmm18, %%zmm18, %%zmm18\n\t"     \
  "vpunpcklwd %%zmm17, %%zmm2, %%zmm19\n\t"      \
  "vpunpckhwd %%zmm17, %%zmm2, %%zmm2\n\t"       \
  "vpunpcklwd %%zmm18, %%zmm16, %%zmm17\n\t"     \
  "vpunpckhwd %%zmm18, %%zmm16, %%zmm16\n\t"

// acc_v += g_v . weights of tap column KX (W = 20 + 4 KX).
#define KILN_DW_DOT(W0, W1, W2, W3, A0, A1, A2, A3)          \
  "vpdpbusd " KILN_DW_Z(W0) ", %%zmm4, " KILN_DW_Z(A0) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W1) ", %%zmm3, " KILN_DW_Z(A1) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W2) ", %%zmm1, " KILN_DW_Z(A2) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W3) ", %%zmm0, " KILN_DW_Z(A3) "\n\t"
#define KILN_DW_DOT_B(W0, W1, W2, W3, A0, A1, A2, A3)        \
  "vpdpbusd " KILN_DW_Z(W0) ", %%zmm19, " KILN_DW_Z(A0) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W1) ", %%zmm2, " KILN_DW_Z(A1) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W2) ", %%zmm17, " KILN_DW_Z(A2) "\n\t" \
  "vpdpbusd " KILN_DW_Z(W3) ", %%zmm16, " KILN_DW_Z(A3) "\n\t"

// A new pixel: the biases, then tap column 0.
#define KILN_DW_START(A0, A1, A2, A3)                  \
  "vmovdqu64 0(%[tile]), " KILN_DW_Z(A0) "\n\t"        \
  "vmovdqu64 64(%[tile]), " KILN_DW_Z(A1) "\n\t"       \
  "vmovdqu64 128(%[tile]), " KILN_DW_Z(A2) "\n\t"      \
  "vmovdqu64 192(%[tile]), " KILN_DW_Z(A3) "\n\t"      \
  KILN_DW_DOT(20, 21, 22, 23, A0, A1, A2, A3)

// The plain epilogue in place, stored at %[out] plus c (then %[out] moves one pixel): multiply in
// float, round (exact: the caller checked |acc * multiplier| < 2^30), saturate to int16, add zo
// saturating, saturate to bytes, clamp to [qmin, qmax] on the bytes. Clamping and rounding commute
// for integer bounds, so this equals requant.h's clamp-then-round.
#define KILN_DW_CODE(A)                                     \
  "vcvtdq2ps " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"
#define KILN_DW_MUL(A, OFF)                                             \
  "vmulps " #OFF "(%[tile]), " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"     \
  "vcvtps2dq " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"
#define KILN_DW_PLAIN(A0, A1, A2, A3)                                              \
  KILN_DW_CODE(A0) KILN_DW_CODE(A1) KILN_DW_CODE(A2) KILN_DW_CODE(A3)              \
  KILN_DW_MUL(A0, 256) KILN_DW_MUL(A1, 320) KILN_DW_MUL(A2, 384) KILN_DW_MUL(A3, 448)
// Hardswish (requant.h's order: v = acc * m; t = v * out_scale; g = min(max(t + 3, 0), 6);
// v = (t * g) * hs_mul), then the same rounding; the five scalars broadcast from memory at K
// (constants line 3: out_scale, 3, 0, 6, hs_mul), T a temporary (zmm0, 1, 3, 4 are free when a
// pixel finishes in every sweep). |t * g * hs_mul| <= |v| * (6 |out_scale hs_mul|), which the
// caller's bound covers.
#define KILN_DW_BCAST "%{1to16%}"
#define KILN_DW_HS_ONE(KD, KR, A, T, OFF)                                                   \
  "vcvtdq2ps " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"                                        \
  "vmulps " #OFF "(%[tile]), " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"                         \
  "vmulps (" KD "+0)(" KR ")" KILN_DW_BCAST ", " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"        \
  "vaddps (" KD "+4)(" KR ")" KILN_DW_BCAST ", " KILN_DW_Z(A) ", " KILN_DW_Z(T) "\n\t"        \
  "vmaxps (" KD "+8)(" KR ")" KILN_DW_BCAST ", " KILN_DW_Z(T) ", " KILN_DW_Z(T) "\n\t"        \
  "vminps (" KD "+12)(" KR ")" KILN_DW_BCAST ", " KILN_DW_Z(T) ", " KILN_DW_Z(T) "\n\t"       \
  "vmulps " KILN_DW_Z(T) ", " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"                          \
  "vmulps (" KD "+16)(" KR ")" KILN_DW_BCAST ", " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"       \
  "vcvtps2dq " KILN_DW_Z(A) ", " KILN_DW_Z(A) "\n\t"
#define KILN_DW_HS(KD, KR, A0, A1, A2, A3)                                         \
  KILN_DW_HS_ONE(KD, KR, A0, 0, 256) KILN_DW_HS_ONE(KD, KR, A1, 1, 320)            \
  KILN_DW_HS_ONE(KD, KR, A2, 3, 384) KILN_DW_HS_ONE(KD, KR, A3, 4, 448)
#define KILN_DW_HS_FULL(A0, A1, A2, A3) KILN_DW_HS("192", "%[k]", A0, A1, A2, A3)
#define KILN_DW_HS_QUAD(A0, A1, A2, A3) KILN_DW_HS("1280+192", "%[tile]", A0, A1, A2, A3)
#define KILN_DW_FINISH(STORE, MATH, A0, A1, A2, A3)                                \
  MATH(A0, A1, A2, A3)                                                             \
  "vpackssdw " KILN_DW_Z(A1) ", " KILN_DW_Z(A0) ", " KILN_DW_Z(A0) "\n\t"          \
  "vpackssdw " KILN_DW_Z(A3) ", " KILN_DW_Z(A2) ", " KILN_DW_Z(A2) "\n\t"          \
  "vpaddsw %%zmm6, " KILN_DW_Z(A0) ", " KILN_DW_Z(A0) "\n\t"                        \
  "vpaddsw %%zmm6, " KILN_DW_Z(A2) ", " KILN_DW_Z(A2) "\n\t"                        \
  "vpackuswb " KILN_DW_Z(A2) ", " KILN_DW_Z(A0) ", " KILN_DW_Z(A0) "\n\t"          \
  "vpmaxub %%zmm7, " KILN_DW_Z(A0) ", " KILN_DW_Z(A0) "\n\t"                        \
  "vpminub %%zmm5, " KILN_DW_Z(A0) ", " KILN_DW_Z(A0) "\n\t"                        \
  STORE(A0)
// Storing one pixel's 64 codes (full tile: at %[out] + c) or four rows' 16 (at %[out], %[out] +
// %[ob], + 2 %[ob], %[out3]: the caller moved them by c), then moving to the next pixel.
#define KILN_DW_STORE_FULL(A)                         \
  "vmovdqu64 " KILN_DW_Z(A) ", (%[out],%[c])\n\t"   \
  "add %[os], %[out]\n\t"
#define KILN_DW_STORE_QUAD(A)                                             \
  "vmovdqu32 %%xmm" #A ", (%[out])\n\t"                                    \
  "vextracti32x4 $1, " KILN_DW_Z(A) ", (%[out],%[ob],1)\n\t"             \
  "vextracti32x4 $2, " KILN_DW_Z(A) ", (%[out],%[ob],2)\n\t"             \
  "vextracti32x4 $3, " KILN_DW_Z(A) ", (%[out3])\n\t"                    \
  "add %[os], %[out]\n\t"                                               \
  "add %[os], %[out3]\n\t"
// Masked stores; the four-row one extracts through zmm1 (free by the time a pixel finishes).
#define KILN_DW_STORE_FULL_MASKED(A)                                  \
  "vmovdqu8 " KILN_DW_Z(A) ", (%[out],%[c])" KILN_DW_MASKED "\n\t"  \
  "add %[os], %[out]\n\t"
#define KILN_DW_STORE_QUAD_MASKED(A)                                  \
  "vmovdqu8 %%xmm" #A ", (%[out])" KILN_DW_MASKED "\n\t"            \
  "vextracti32x4 $1, " KILN_DW_Z(A) ", %%xmm1\n\t"                  \
  "vmovdqu8 %%xmm1, (%[out],%[ob],1)" KILN_DW_MASKED "\n\t"         \
  "vextracti32x4 $2, " KILN_DW_Z(A) ", %%xmm1\n\t"                  \
  "vmovdqu8 %%xmm1, (%[out],%[ob],2)" KILN_DW_MASKED "\n\t"         \
  "vextracti32x4 $3, " KILN_DW_Z(A) ", %%xmm1\n\t"                  \
  "vmovdqu8 %%xmm1, (%[out3])" KILN_DW_MASKED "\n\t"                \
  "add %[os], %[out]\n\t"                                           \
  "add %[os], %[out3]\n\t"
#define KILN_DW_NEXT_FULL "add %[step], %[base]\n\t"
#define KILN_DW_NEXT_QUAD "add %[step], %[base]\n\tadd %[step], %[base3]\n\t"

// The epilogue constants (at K0, K1, K2) and the 12 weight vectors into their registers.
#define KILN_DW_SETUP(K0, K1, K2)                                                          \
  "vmovdqu64 " K0 ", %%zmm5\n\t"                                                           \
  "vmovdqu64 " K1 ", %%zmm6\n\t"                                                           \
  "vmovdqu64 " K2 ", %%zmm7\n\t"                                                           \
  "vmovdqu64 512(%[tile]), %%zmm20\n\t" "vmovdqu64 576(%[tile]), %%zmm21\n\t"              \
  "vmovdqu64 640(%[tile]), %%zmm22\n\t" "vmovdqu64 704(%[tile]), %%zmm23\n\t"              \
  "vmovdqu64 768(%[tile]), %%zmm24\n\t" "vmovdqu64 832(%[tile]), %%zmm25\n\t"              \
  "vmovdqu64 896(%[tile]), %%zmm26\n\t" "vmovdqu64 960(%[tile]), %%zmm27\n\t"              \
  "vmovdqu64 1024(%[tile]), %%zmm28\n\t" "vmovdqu64 1088(%[tile]), %%zmm29\n\t"            \
  "vmovdqu64 1152(%[tile]), %%zmm30\n\t" "vmovdqu64 1216(%[tile]), %%zmm31\n\t"

#define KILN_DW_CLOBBERS                                                                               \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",    \
      "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", \
      "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "cc", "memory"
#define KILN_DW_OPERANDS_FULL                                                                        \
  : [base] "+r"(base), [out] "+r"(out), [n] "+r"(n), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2)  \
  : [c] "r"(c), [tile] "r"(tile), [k] "r"(&k), [step] "r"(step), [os] "r"(out_stride), [mask] "m"(mask) \
  : KILN_DW_CLOBBERS, "k1"
// Four rows: step and os from memory (not enough general registers), the constants after the tile.
#define KILN_DW_OPERANDS_QUAD                                                                         \
  : [base] "+r"(base), [base3] "+r"(base3), [out] "+r"(out), [out3] "+r"(out3), [n] "+r"(n),           \
    [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2)                                                     \
  : [c] "r"(c), [tile] "r"(tb), [rb] "r"(rb), [ob] "r"(ob), [step] "m"(step), [os] "m"(out_stride),  \
    [mask] "m"(mask)                                                                                   \
  : KILN_DW_CLOBBERS, "k1"

// Stride 1, column j >= 2 (taps kx = 2 of pixel j - 2, at %[base] + 16, 40, 64): finishes pixel
// j - 2 (set OLD, kx = 2), continues pixel j - 1 (MID, kx = 1), starts pixel j (NEW, kx = 0; its
// results are dropped past the row's end). Three columns rotate the sets through the roles.
#define KILN_DW_S1(L, ST, NX, MATH, N0, N1, N2, N3, M0, M1, M2, M3, O0, O1, O2, O3) \
  KILN_DW_COLUMN(L, 16, 40, 64)                                              \
  KILN_DW_DOT(28, 29, 30, 31, O0, O1, O2, O3)                                \
  KILN_DW_DOT(24, 25, 26, 27, M0, M1, M2, M3)                                \
  KILN_DW_START(N0, N1, N2, N3)                                              \
  KILN_DW_FINISH(ST, MATH, O0, O1, O2, O3)                                   \
  NX
#define KILN_DW_SWEEP_S1(L, ST, NX, MATH)                                  \
  /* Columns 0 and 1 (pixel 0's kx = 0 and 1): start pixels 0 (x) and 1 (y), pixel 0 += kx = 1. */ \
  KILN_DW_COLUMN(L, 0, 24, 48)                                             \
  KILN_DW_START(8, 9, 10, 11)                                              \
  KILN_DW_COLUMN(L, 8, 32, 56)                                             \
  KILN_DW_DOT(24, 25, 26, 27, 8, 9, 10, 11)                                \
  KILN_DW_START(12, 13, 14, 15)                                            \
  "1:\n\t"                                                                 \
  KILN_DW_S1(L, ST, NX, MATH, 16, 17, 18, 19, 12, 13, 14, 15, 8, 9, 10, 11)      \
  "dec %[n]\n\t"                                                           \
  "jz 2f\n\t"                                                              \
  KILN_DW_S1(L, ST, NX, MATH, 8, 9, 10, 11, 16, 17, 18, 19, 12, 13, 14, 15)      \
  "dec %[n]\n\t"                                                           \
  "jz 2f\n\t"                                                              \
  KILN_DW_S1(L, ST, NX, MATH, 12, 13, 14, 15, 8, 9, 10, 11, 16, 17, 18, 19)      \
  "dec %[n]\n\t"                                                           \
  "jnz 1b\n\t"                                                             \
  "2:\n\t"

// Stride 2, pixel q: columns 2q (taps kx = 0 at %[base] + 0, 24, 48; also pixel q - 1's kx = 2)
// and 2q + 1 (kx = 1 at + 8, 32, 56): finishes pixel q - 1 (OLD) and starts and continues pixel q
// (NEW). Two pixels per iteration swap the sets; the row ends with the last pixel's kx = 2 column.
#define KILN_DW_S2(L, ST, NX, MATH, N0, N1, N2, N3, O0, O1, O2, O3) \
  NX                                                         \
  KILN_DW_COLUMN(L, 0, 24, 48)                               \
  KILN_DW_COLUMN_B(L, 8, 32, 56)                             \
  KILN_DW_DOT(28, 29, 30, 31, O0, O1, O2, O3)                \
  KILN_DW_START(N0, N1, N2, N3)                              \
  KILN_DW_DOT_B(24, 25, 26, 27, N0, N1, N2, N3)              \
  KILN_DW_FINISH(ST, MATH, O0, O1, O2, O3)
#define KILN_DW_S2_LAST(L, ST, MATH, O0, O1, O2, O3)         \
  KILN_DW_COLUMN(L, 16, 40, 64)                              \
  KILN_DW_DOT(28, 29, 30, 31, O0, O1, O2, O3)                \
  KILN_DW_FINISH(ST, MATH, O0, O1, O2, O3)
#define KILN_DW_SWEEP_S2(L, ST, NX, MATH)                    \
  /* Pixel 0: columns 0 and 1 into x. */                     \
  KILN_DW_COLUMN(L, 0, 24, 48)                               \
  KILN_DW_COLUMN_B(L, 8, 32, 56)                             \
  KILN_DW_START(8, 9, 10, 11)                                \
  KILN_DW_DOT_B(24, 25, 26, 27, 8, 9, 10, 11)                \
  "dec %[n]\n\t"                                             \
  "jz 3f\n\t"                                                \
  "1:\n\t"                                                   \
  KILN_DW_S2(L, ST, NX, MATH, 12, 13, 14, 15, 8, 9, 10, 11)        \
  "dec %[n]\n\t"                                             \
  "jz 4f\n\t"                                                \
  KILN_DW_S2(L, ST, NX, MATH, 8, 9, 10, 11, 12, 13, 14, 15)        \
  "dec %[n]\n\t"                                             \
  "jnz 1b\n\t"                                               \
  "3:\n\t" /* the last pixel is in x */                      \
  KILN_DW_S2_LAST(L, ST, MATH, 8, 9, 10, 11)                       \
  "jmp 5f\n\t"                                               \
  "4:\n\t" /* the last pixel is in y */                      \
  KILN_DW_S2_LAST(L, ST, MATH, 12, 13, 14, 15)                     \
  "5:\n\t"

// One asm statement per (stride, masking, epilogue): PRE sets k1 for the masked ones.
#define KILN_DW_ASM_FULL(PRE, SWEEP, LOAD, STORE, MATH)                                              \
  __asm__ volatile(PRE KILN_DW_SETUP("0(%[k])", "64(%[k])", "128(%[k])")                            \
                       SWEEP(LOAD, STORE, KILN_DW_NEXT_FULL, MATH) KILN_DW_OPERANDS_FULL)
#define KILN_DW_ASM_QUAD(PRE, SWEEP, LOAD, STORE, MATH)                                              \
  __asm__ volatile(PRE KILN_DW_SETUP("1280(%[tile])", "1344(%[tile])", "1408(%[tile])")              \
                       SWEEP(LOAD, STORE, KILN_DW_NEXT_QUAD, MATH) KILN_DW_OPERANDS_QUAD)
#define KILN_DW_K1 "kmovq %[mask], %%k1\n\t"

void dw_row_sweep(const uint8_t* const* ind, size_t step, size_t ow, size_t stride, uint8_t* out, size_t out_stride,
                  size_t c, size_t channels, const uint8_t* tile, const DwSweepConstants& k) {
  const uint8_t* const* base = ind;
  size_t n = ow;  // stride 1: columns 2 .. ow + 1; stride 2: pixels 1 .. ow - 1 in the loop, n from ow to 1
  step *= sizeof(const uint8_t*);
  const uint64_t mask = channels >= 64 ? ~uint64_t{0} : (uint64_t{1} << channels) - 1;
  const uint8_t *p0, *p1, *p2;
  const int variant = (stride == 1 ? 0 : 1) + (channels >= 64 ? 0 : 2) + (k.hardswish ? 4 : 0);
  switch (variant) {
    case 0: KILN_DW_ASM_FULL("", KILN_DW_SWEEP_S1, KILN_DW_LOAD_FULL, KILN_DW_STORE_FULL, KILN_DW_PLAIN); break;
    case 1: KILN_DW_ASM_FULL("", KILN_DW_SWEEP_S2, KILN_DW_LOAD_FULL, KILN_DW_STORE_FULL, KILN_DW_PLAIN); break;
    case 2:
      KILN_DW_ASM_FULL(KILN_DW_K1, KILN_DW_SWEEP_S1, KILN_DW_LOAD_FULL_MASKED, KILN_DW_STORE_FULL_MASKED, KILN_DW_PLAIN);
      break;
    case 3:
      KILN_DW_ASM_FULL(KILN_DW_K1, KILN_DW_SWEEP_S2, KILN_DW_LOAD_FULL_MASKED, KILN_DW_STORE_FULL_MASKED, KILN_DW_PLAIN);
      break;
    case 4: KILN_DW_ASM_FULL("", KILN_DW_SWEEP_S1, KILN_DW_LOAD_FULL, KILN_DW_STORE_FULL, KILN_DW_HS_FULL); break;
    case 5: KILN_DW_ASM_FULL("", KILN_DW_SWEEP_S2, KILN_DW_LOAD_FULL, KILN_DW_STORE_FULL, KILN_DW_HS_FULL); break;
    case 6:
      KILN_DW_ASM_FULL(KILN_DW_K1, KILN_DW_SWEEP_S1, KILN_DW_LOAD_FULL_MASKED, KILN_DW_STORE_FULL_MASKED, KILN_DW_HS_FULL);
      break;
    default:
      KILN_DW_ASM_FULL(KILN_DW_K1, KILN_DW_SWEEP_S2, KILN_DW_LOAD_FULL_MASKED, KILN_DW_STORE_FULL_MASKED, KILN_DW_HS_FULL);
      break;
  }
}

void dw_rows4_sweep(const uint8_t* const* ind, size_t step, size_t rows_step, size_t ow, size_t stride,
                    uint8_t* out, size_t out_stride, size_t out_rows, size_t c, size_t channels,
                    const DwQuadTile& tile) {
  const uint8_t* const* base = ind;
  const uint8_t* const* base3 = ind + 3 * rows_step;
  const size_t rb = rows_step * sizeof(const uint8_t*), ob = out_rows;
  uint8_t* out3 = out + 3 * out_rows;
  const uint8_t* tb = tile.bytes;
  size_t n = ow;
  step *= sizeof(const uint8_t*);
  const uint64_t mask = channels >= 16 ? uint64_t{0xFFFF} : (uint64_t{1} << channels) - 1;
  const uint8_t *p0, *p1, *p2;
  const int variant = (stride == 1 ? 0 : 1) + (channels >= 16 ? 0 : 2) + (tile.hardswish ? 4 : 0);
  switch (variant) {
    case 0: KILN_DW_ASM_QUAD("", KILN_DW_SWEEP_S1, KILN_DW_LOAD_QUAD, KILN_DW_STORE_QUAD, KILN_DW_PLAIN); break;
    case 1: KILN_DW_ASM_QUAD("", KILN_DW_SWEEP_S2, KILN_DW_LOAD_QUAD, KILN_DW_STORE_QUAD, KILN_DW_PLAIN); break;
    case 2:
      KILN_DW_ASM_QUAD(KILN_DW_K1, KILN_DW_SWEEP_S1, KILN_DW_LOAD_QUAD_MASKED, KILN_DW_STORE_QUAD_MASKED, KILN_DW_PLAIN);
      break;
    case 3:
      KILN_DW_ASM_QUAD(KILN_DW_K1, KILN_DW_SWEEP_S2, KILN_DW_LOAD_QUAD_MASKED, KILN_DW_STORE_QUAD_MASKED, KILN_DW_PLAIN);
      break;
    case 4: KILN_DW_ASM_QUAD("", KILN_DW_SWEEP_S1, KILN_DW_LOAD_QUAD, KILN_DW_STORE_QUAD, KILN_DW_HS_QUAD); break;
    case 5: KILN_DW_ASM_QUAD("", KILN_DW_SWEEP_S2, KILN_DW_LOAD_QUAD, KILN_DW_STORE_QUAD, KILN_DW_HS_QUAD); break;
    case 6:
      KILN_DW_ASM_QUAD(KILN_DW_K1, KILN_DW_SWEEP_S1, KILN_DW_LOAD_QUAD_MASKED, KILN_DW_STORE_QUAD_MASKED, KILN_DW_HS_QUAD);
      break;
    default:
      KILN_DW_ASM_QUAD(KILN_DW_K1, KILN_DW_SWEEP_S2, KILN_DW_LOAD_QUAD_MASKED, KILN_DW_STORE_QUAD_MASKED, KILN_DW_HS_QUAD);
      break;
  }
}

}  // namespace kiln::kernels::avx512

#endif  // !KILN_AVX512_EMULATED
