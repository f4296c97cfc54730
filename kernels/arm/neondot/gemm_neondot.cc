// NEON dot-product GEMM / igemm micro-kernels, up to 4 rows x 16 columns, k-groups of 4:
// gemm_u8s8_4x16c4__neondot, gemm_u8s4_4x16c4__neondot and their igemm_ twins.
//
// sdot multiplies int8 by int8 only, so A is fed as a ^ 0x80 = a - 128 (exact in int8) and the
// packed bias carries + 128 * sum(w) (config bias_wsum_factor = 128). Each k-group of 16 columns is
// four q registers (4 columns x 4 k); sdot-by-lane takes the 4 k of one row from a 16-byte A load,
// so K is padded to 16 (k_align 16) and every step is 16 k.
// int4: (x << 4) and x & 0xF0 give 16*w as exact int8; the kernel shifts the sum right by 4 at the end.
#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "gemm/row_dispatch.h"
#include "gemm/ukernels.h"
#include "gemm_neon_epilogue.h"

namespace kiln::kernels {
namespace {

constexpr size_t kMr = 4, kNr = 16;

// Bytes [k, k+16) of a row of length kc, zero past kc. No memcpy: a call inside the kernel would
// spill every accumulator.
inline uint8x16_t tail16(const uint8_t* row, size_t k, size_t kc) {
  uint64_t half[2] = {0, 0};
  for (size_t j = 0; j < 16 && k + j < kc; ++j) half[j / 8] |= static_cast<uint64_t>(row[k + j]) << (8 * (j % 8));
  return vcombine_u8(vcreate_u8(half[0]), vcreate_u8(half[1]));
}

template <int M>
inline void dot_group(int32x4_t (&acc)[M][4], const int8x16_t (&b)[4], const int8x16_t (&va)[M], int lane) {
  for (int m = 0; m < M; ++m) {
    for (int j = 0; j < 4; ++j) {
      switch (lane) {
        case 0: acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], va[m], 0); break;
        case 1: acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], va[m], 1); break;
        case 2: acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], va[m], 2); break;
        default: acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], va[m], 3); break;
      }
    }
  }
}

// 16 k of B (four groups) against va: one group (4 registers) live at a time keeps the 4x16 tile's
// 16 accumulators, 4 A and 4 B registers within the 32 of the register file.
template <int M, int WBITS>
inline void dot_step(int32x4_t (&acc)[M][4], const int8_t*& wp, const int8x16_t (&va)[M]) {
  if constexpr (WBITS == 8) {
    int8x16_t b[4];
    for (int j = 0; j < 4; ++j) b[j] = vld1q_s8(wp + 16 * j);
    dot_group<M>(acc, b, va, 0);
    for (int j = 0; j < 4; ++j) b[j] = vld1q_s8(wp + 64 + 16 * j);
    dot_group<M>(acc, b, va, 1);
    for (int j = 0; j < 4; ++j) b[j] = vld1q_s8(wp + 128 + 16 * j);
    dot_group<M>(acc, b, va, 2);
    for (int j = 0; j < 4; ++j) b[j] = vld1q_s8(wp + 192 + 16 * j);
    dot_group<M>(acc, b, va, 3);
    wp += 256;
  } else {
    const int8x16_t hi = vdupq_n_s8(static_cast<int8_t>(0xF0));
    int8x16_t b[4];
    for (int j = 0; j < 4; ++j) b[j] = vshlq_n_s8(vld1q_s8(wp + 16 * j), 4);
    dot_group<M>(acc, b, va, 0);
    for (int j = 0; j < 4; ++j) b[j] = vandq_s8(vld1q_s8(wp + 16 * j), hi);
    dot_group<M>(acc, b, va, 1);
    for (int j = 0; j < 4; ++j) b[j] = vshlq_n_s8(vld1q_s8(wp + 64 + 16 * j), 4);
    dot_group<M>(acc, b, va, 2);
    for (int j = 0; j < 4; ++j) b[j] = vandq_s8(vld1q_s8(wp + 64 + 16 * j), hi);
    dot_group<M>(acc, b, va, 3);
    wp += 128;
  }
}

template <int M, int WBITS, class Rows>
void tile(size_t nc, size_t kc, size_t ks, Rows rows, const void* w, void* c, size_t c_stride, const uint8_t* r,
          size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* blk = static_cast<const uint8_t*>(w);
  int32x4_t acc[M][4];
  for (int m = 0; m < M; ++m) {
    for (int j = 0; j < 4; ++j) acc[m][j] = vdupq_n_s32(0);
  }
  const int8_t* wp = reinterpret_cast<const int8_t*>(blk + 8 * kNr);
  const size_t kcp = (kc + 15) / 16 * 16;  // this config's k_align is 16
  const uint8_t* a[M];
  const size_t k_full = kc / 16 * 16;
  const uint8x16_t flip = vdupq_n_u8(0x80);
  // One step over 16 k; LOAD(m) gives the 16 bytes of row m. A macro rather than a lambda: gcc
  // keeps lambda-captured accumulators in memory.
#define KILN_DOT_STEP(LOAD)                                                                   \
  do {                                                                                        \
    int8x16_t va[M];                                                                          \
    for (int m = 0; m < M; ++m) va[m] = vreinterpretq_s8_u8(veorq_u8(LOAD(m), flip));         \
    dot_step<M, WBITS>(acc, wp, va);                                                          \
  } while (0)
#define KILN_A_FULL(m) vld1q_u8(a[m] + k)
#define KILN_A_TAIL(m) tail16(a[m], k, kc)
  for (size_t p = 0; p < ks; ++p) {
    rows(p, a);
    size_t k = 0;
    for (; k < k_full; k += 16) KILN_DOT_STEP(KILN_A_FULL);
    if (k < kcp) KILN_DOT_STEP(KILN_A_TAIL);  // zero-padded (the padded weights are zero)
  }
#undef KILN_A_FULL
#undef KILN_A_TAIL
#undef KILN_DOT_STEP
  const int32_t* bias = reinterpret_cast<const int32_t*>(blk);
  const float* mult = reinterpret_cast<const float*>(blk + 4 * kNr);
  const neon_gemm::Epilogue e(ep);
  const size_t eb = ep.output == GemmOutput::u8 ? 1 : 4;
  for (int m = 0; m < M; ++m) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride * eb;
    for (int j = 0; j < 4 && static_cast<size_t>(4 * j) < nc; ++j) {
      int32x4_t v = acc[m][j];
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

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x16c4__neondot) {
  gemm_dispatch<8>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c4__neondot) {
  gemm_dispatch<4>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x16c4__neondot) {
  igemm_dispatch<8>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c4__neondot) {
  igemm_dispatch<4>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}

}  // namespace kiln::kernels
