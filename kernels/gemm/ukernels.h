// Declarations of every GEMM / igemm micro-kernel (internal to kernels/; reached through
// gemm_config()). Each ISA's definitions live in that ISA's folder, compiled with its flags.
#pragma once

#include "kiln/kernels/gemm.h"

#define KILN_DECLARE_GEMM_UKERNEL(name)                                                              \
  void name(size_t mr, size_t nc, size_t kc, const uint8_t* a, size_t a_stride, const void* w, void* c, \
            size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep)
#define KILN_DECLARE_IGEMM_UKERNEL(name)                                                             \
  void name(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a, size_t a_offset,     \
            const uint8_t* zero, const void* w, void* c, size_t c_stride, const uint8_t* r, size_t r_stride, \
            const GemmEpilogue* ep)

namespace kiln::kernels {

KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x8c4__ref);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x8c4__ref);
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x8c4__ref);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x8c4__ref);

#if defined(KILN_HAVE_AVX2)
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_6x16c4__avx2);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_6x16c4__avx2);
void pack_a_u8_c4__avx2(size_t kc, const uint8_t* a_row, void* packed_row);
void gemm_pa_u8s8_6x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes, const void* w,
                               void* c, size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep);
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c4__avx2);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c4__avx2);
size_t gemm_wide_block_bytes_u8s4__avx2(size_t kc);
void gemm_widen_block_u8s4__avx2(size_t kc, const void* packed_block, void* wide);
void gemm_wide_u8s4_4x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride_bytes,
                                 const void* w, const void* wide, void* c, size_t c_stride, const uint8_t* r,
                                 size_t r_stride, const GemmEpilogue* ep);
void igemm_wide_u8s4_4x16c4__avx2(size_t mr, size_t nc, size_t kc, size_t ks, const uint8_t* const* a,
                                  size_t a_offset, const uint8_t* zero, const void* w, const void* wide, void* c,
                                  size_t c_stride, const uint8_t* r, size_t r_stride, const GemmEpilogue* ep);
#endif
#if defined(KILN_HAVE_AVX512VNNI)
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_8x32c4__avx512vnni);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_8x32c4__avx512vnni);
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_8x32c4__avx512vnni);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_8x32c4__avx512vnni);
#endif
#if defined(KILN_HAVE_NEONDOT)
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x16c4__neondot);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x16c4__neondot);
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c4__neondot);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c4__neondot);
#endif
#if defined(KILN_HAVE_I8MM)
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s8_4x16c8__i8mm);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s8_4x16c8__i8mm);
KILN_DECLARE_GEMM_UKERNEL(gemm_u8s4_4x16c8__i8mm);
KILN_DECLARE_IGEMM_UKERNEL(igemm_u8s4_4x16c8__i8mm);
#endif

}  // namespace kiln::kernels
