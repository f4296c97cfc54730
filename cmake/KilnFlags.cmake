# Compiler flags shared by every kiln target (applied through the kiln_flags interface target, so
# third-party code built in-tree, such as GoogleTest for the cross build, keeps its own flags).
add_library(kiln_flags INTERFACE)
target_compile_options(kiln_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wno-psabi
  # Bit-exactness between the reference, QFloat and the SIMD kernels depends on the compiler never
  # fusing a multiply and an add on its own; kernels that want an FMA spell it out.
  -ffp-contract=off)
if(KILN_SANITIZE)
  target_compile_options(kiln_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=undefined
                                              -fno-omit-frame-pointer)
  target_link_options(kiln_flags INTERFACE -fsanitize=address,undefined)
endif()
if(KILN_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "KILN_FUZZ needs clang (libFuzzer)")
endif()

string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _kiln_proc)
if(_kiln_proc MATCHES "^(x86_64|amd64)$")
  set(KILN_ARCH_X86 ON)
elseif(_kiln_proc MATCHES "^(aarch64|arm64)$")
  set(KILN_ARCH_ARM64 ON)
else()
  message(STATUS "kiln: unknown processor '${CMAKE_SYSTEM_PROCESSOR}': only the portable reference kernels are built")
endif()
