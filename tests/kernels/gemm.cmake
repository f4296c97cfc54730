# Tests of the gemm kernels (included by tests/CMakeLists.txt); use kiln_add_gtest(... LABELS kernels ...).
# kiln_gemm_tester is the generic micro-kernel tester; the convolution tests link it too.
add_library(kiln_gemm_tester STATIC kernels/gemm_tester.cc)
target_include_directories(kiln_gemm_tester PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/kernels)
target_link_libraries(kiln_gemm_tester PUBLIC kiln_kernels kiln::dep::gtest_main PRIVATE kiln_flags)

kiln_add_gtest(kiln_test_kernels_gemm LABELS kernels
  SOURCES kernels/gemm_test.cc
  LIBS kiln_gemm_tester)
