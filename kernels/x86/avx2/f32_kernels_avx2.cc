// The AVX2+FMA fp32 kernels: the templates of f32/f32_simd_impl.h over 8-lane vectors; GEMM tile 6x16.
#include "f32/f32_simd_impl.h"
#include "x86/avx2/f32_vec_avx2.h"

namespace kiln::kernels::f32::detail {

const F32Kernels& kernels_avx2() {
  static const F32Kernels k = make_kernels<VecAvx2, 6, 2, 6>(Isa::avx2);
  return k;
}

}  // namespace kiln::kernels::f32::detail
