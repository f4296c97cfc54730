# Per-ISA compile flags. kernels/ compiles each ISA's sources with that ISA's flags only; the rest of
# kiln is built for the baseline and reaches the ISA code through run-time dispatch.
#   kiln_isa_sources(<target> <isa> <files...>)   isa: avx2 | avx512vnni | neondot | i8mm
function(kiln_isa_sources target isa)
  set(files ${ARGN})
  if(isa STREQUAL "avx2")
    set(flags -mavx2 -mfma -mf16c)
  elseif(isa STREQUAL "avx512vnni")
    if(KILN_AVX512_EMULATION)
      # SIMDe implements the AVX-512 intrinsics on top of AVX2.
      set(flags -mavx2 -mfma -mf16c)
    else()
      set(flags -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # gcc 12's avx512fintrin.h builds results from _mm512_undefined_*(), which trips its own
        # -Wmaybe-uninitialized once inlined into kiln code (GCC bug 105593): not kiln's to fix.
        list(APPEND flags -Wno-maybe-uninitialized -Wno-uninitialized)
      endif()
    endif()
  elseif(isa STREQUAL "neondot")
    set(flags -march=armv8.2-a+dotprod)
  elseif(isa STREQUAL "i8mm")
    set(flags -march=armv8.2-a+dotprod+i8mm)
  else()
    message(FATAL_ERROR "kiln_isa_sources: unknown isa '${isa}'")
  endif()
  target_sources(${target} PRIVATE ${files})
  set_source_files_properties(${files} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS "${flags}")
endfunction()
