# conv kernels: the source lists of kiln_kernels for this family (included by kernels/CMakeLists.txt).
# Portable sources: target_sources(kiln_kernels PRIVATE ...).  ISA sources, inside
# if(KILN_ARCH_X86) / if(KILN_ARCH_ARM64): kiln_isa_sources(kiln_kernels <isa> ...).
target_sources(kiln_kernels PRIVATE
  conv/conv_shape.cc
  conv/conv_driver.cc
  conv/conv_plan.cc
  conv/conv_blob.cc
  conv/conv_gemm_paths.cc
  conv/indirection.cc
  conv/dwconv_pack.cc
  conv/conv_first_pack.cc
  conv/dwconv_dispatch.cc
  ref/conv_ref.cc
  ref/dwconv_ref.cc
)
if(KILN_ARCH_X86)
  kiln_isa_sources(kiln_kernels avx2
    x86/avx2/dwconv_c32_avx2.cc
    x86/avx2/conv_first_avx2.cc
  )
  kiln_isa_sources(kiln_kernels avx512vnni
    x86/avx512vnni/dwconv_c64_avx512vnni.cc
    x86/avx512vnni/dwconv_row_sweep_avx512vnni.cc
    x86/avx512vnni/conv_first_avx512vnni.cc
  )
elseif(KILN_ARCH_ARM64)
  kiln_isa_sources(kiln_kernels neondot
    arm/neondot/dwconv_c16_neondot.cc
  )
endif()
