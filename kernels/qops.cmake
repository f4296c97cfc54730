# Quantized non-GEMM kernels (qops.h spec): target_sources(kiln_kernels ...). Owner: QX.
# Portable drivers + the scalar reference variant; AVX2 (x86) and NEON (aarch64) variants.
target_sources(kiln_kernels PRIVATE
  q/q_ref.cc
  q/q_elementwise.cc
  q/q_pool.cc
)
if(KILN_ARCH_X86)
  kiln_isa_sources(kiln_kernels avx2 q/q_avx2.cc)
elseif(KILN_ARCH_ARM64)
  kiln_isa_sources(kiln_kernels neondot q/q_neon.cc)
endif()
