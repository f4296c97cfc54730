// The NEON fp32 kernels (chosen with the neondot and i8mm ISAs; only baseline AArch64 Advanced SIMD
// is used): the templates of f32/f32_simd_impl.h over 4-lane vectors; GEMM tile 8x12.
#include "arm/neondot/f32_vec_neon.h"
#include "f32/f32_simd_impl.h"

namespace kiln::kernels::f32::detail {

const F32Kernels& kernels_neon() {
  static const F32Kernels k = make_kernels<VecNeon, 8, 3, 8>(Isa::neondot);
  return k;
}

}  // namespace kiln::kernels::f32::detail
