# gemm kernels: the source lists of kiln_kernels for this family (included by kernels/CMakeLists.txt).
# Portable sources: target_sources(kiln_kernels PRIVATE ...).  ISA sources, inside
# if(KILN_ARCH_X86) / if(KILN_ARCH_ARM64): kiln_isa_sources(kiln_kernels <isa> ...).
target_sources(kiln_kernels PRIVATE
  gemm/config.cc
  gemm/driver.cc
  gemm/pack.cc
  ref/gemm_ref.cc
)
if(KILN_ARCH_X86)
  kiln_isa_sources(kiln_kernels avx2
    x86/avx2/gemm_avx2.cc
    x86/avx2/gemm_u8s4_avx2.cc
    x86/avx2/gemm_u8s4_wide_avx2.cc
  )
  kiln_isa_sources(kiln_kernels avx512vnni
    x86/avx512vnni/gemm_avx512vnni.cc
  )
endif()
if(KILN_ARCH_ARM64)
  kiln_isa_sources(kiln_kernels neondot
    arm/neondot/gemm_neondot.cc
  )
  kiln_isa_sources(kiln_kernels i8mm
    arm/i8mm/gemm_i8mm.cc
  )
endif()
