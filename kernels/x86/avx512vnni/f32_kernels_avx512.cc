// The AVX-512F fp32 kernels (chosen with the avx512vnni ISA): the templates of f32/f32_simd_impl.h
// over 16-lane vectors; GEMM tile 12x32 (24 accumulators of the 32 zmm registers).
#include "f32/f32_simd_impl.h"
#include "x86/avx512vnni/f32_vec_avx512.h"

namespace kiln::kernels::f32::detail {

const F32Kernels& kernels_avx512() {
  static const F32Kernels k = make_kernels<VecAvx512, 6, 4, 6>(Isa::avx512vnni);
  return k;
}

}  // namespace kiln::kernels::f32::detail
