# fp32 kernels: the source lists of kiln_kernels for this family (included by kernels/CMakeLists.txt).
# Portable sources: target_sources(kiln_kernels PRIVATE ...).  ISA sources, inside
# if(KILN_ARCH_X86) / if(KILN_ARCH_ARM64): kiln_isa_sources(kiln_kernels <isa> ...).
#
# Drivers and packing live in f32/ (baseline ISA); the per-ISA kernels instantiate the templates of
# f32/f32_simd_impl.h: AVX2+FMA under avx2, AVX-512F under avx512vnni, plain NEON under neondot.
target_sources(kiln_kernels PRIVATE
  f32/exec.cc
  f32/sgemm.cc
  f32/conv2d.cc
  f32/conv_transpose2d.cc
  f32/elementwise.cc
  f32/normalize.cc
  f32/pool.cc
  f32/resize.cc
  ref/f32_kernels_ref.cc
)
if(KILN_ARCH_X86)
  kiln_isa_sources(kiln_kernels avx2 x86/avx2/f32_kernels_avx2.cc)
  kiln_isa_sources(kiln_kernels avx512vnni x86/avx512vnni/f32_kernels_avx512.cc)
elseif(KILN_ARCH_ARM64)
  kiln_isa_sources(kiln_kernels neondot arm/neondot/f32_kernels_neon.cc)
endif()
