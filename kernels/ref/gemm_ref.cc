// The portable scalar GEMM / igemm micro-kernels: 4 rows x 8 columns, k-groups of 4, reading the
// packed layout of pack.h element by element. They are the `ref` ISA's kernels; the tests' oracle is
// a separate plain loop over the unpacked weights.
#include <cstring>

#include "gemm/epilogue_scalar.h"
#include "gemm/ukernels.h"

namespace kiln::kernels {
namespace {

constexpr size_t kNr = 8, kKr = 4;

template <int WBITS>
int32_t packed_weight(const uint8_t* wb, size_t flat_k, size_t j) {
  const size_t g = flat_k / kKr, i = flat_k % kKr;
  if constexpr (WBITS == 8) {
    return static_cast<int8_t>(wb[g * kNr * kKr + j * kKr + i]);
  } else {
    const uint8_t byte = wb[(g / 2) * kNr * kKr + j * kKr + i];
    const int32_t nib = (g & 1) ? byte >> 4 : byte & 0x0F;
    return nib >= 8 ? nib - 16 : nib;
  }
}

// row_segment(m, p) returns the kc bytes of segment p of row m.
template <int WBITS, class RowSegment>
void ref_tile(size_t mr, size_t nc, size_t kc, size_t ks, RowSegment row_segment, const void* w, void* c,
              size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue& ep) {
  const uint8_t* block = static_cast<const uint8_t*>(w);
  int32_t bias[kNr];
  float mult[kNr];
  std::memcpy(bias, block, sizeof(bias));
  std::memcpy(mult, block + 4 * kNr, sizeof(mult));
  const uint8_t* wb = block + 8 * kNr;
  const size_t k_align = WBITS == 4 ? 2 * kKr : kKr;
  const size_t kcp = (kc + k_align - 1) / k_align * k_align;
  const RequantParams rp = gemm_detail::requant_params(ep, r != nullptr);
  const size_t out_bytes = gemm_detail::output_bytes(ep.output);
  for (size_t m = 0; m < mr; ++m) {
    void* c_row = static_cast<uint8_t*>(c) + m * c_stride * out_bytes;
    for (size_t j = 0; j < nc; ++j) {
      // Modulo 2^32, as the SIMD kernels' int32 lanes wrap: a (pathological) bias near INT32_MAX must
      // give the same result everywhere, and signed overflow would be undefined behaviour here.
      uint32_t acc = static_cast<uint32_t>(bias[j]);
      for (size_t p = 0; p < ks; ++p) {
        const uint8_t* seg = row_segment(m, p);
        for (size_t k = 0; k < kc; ++k) {
          acc += static_cast<uint32_t>(static_cast<int32_t>(seg[k]) * packed_weight<WBITS>(wb, p * kcp + k, j));
        }
      }
      gemm_detail::store_one(ep, rp, static_cast<int32_t>(acc), mult[j], r ? r[m * r_stride + j] : uint8_t{0}, c_row, j);
    }
  }
}

template <int WBITS>
void ref_gemm(size_t mr, size_t nc, size_t kc, const uint8_t* a, size_t a_stride, const void* w, void* c,
              size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep) {
  ref_tile<WBITS>(mr, nc, kc, 1, [&](size_t m, size_t) { return a + m * a_stride; }, w, c, c_stride, r, r_stride, *ep);
}

template <int WBITS>
void ref_igemm(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a, size_t a_offset,
               const uint8_t* zero, const void* w, void* c, size_t c_stride, const uint8_t* r, size_t r_stride,
               const GemmEpilogue* ep) {
  const size_t stride = 4;  // the config's mr: pointers per ks step
  ref_tile<WBITS>(
      mr, nc, kc, ks,
      [&](size_t m, size_t p) {
        const uint8_t* s = a[p * stride + m];
        return s == zero ? s : s + a_offset;
      },
      w, c, c_stride, r, r_stride, *ep);
}

}  // namespace

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x8c4__ref) { ref_gemm<8>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep); }
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x8c4__ref) { ref_gemm<4>(mr, nc, kc, a, a_stride, w, c, c_stride, r, r_stride, ep); }
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x8c4__ref) {
  ref_igemm<8>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x8c4__ref) {
  ref_igemm<4>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, r, r_stride, ep);
}

}  // namespace kiln::kernels
