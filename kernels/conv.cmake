# conv kernels: the source lists of kiln_kernels for this family (included by kernels/CMakeLists.txt).
# Portable sources: target_sources(kiln_kernels PRIVATE ...).  ISA sources, inside
# if(KILN_ARCH_X86) / if(KILN_ARCH_ARM64): kiln_isa_sources(kiln_kernels <isa> ...).
