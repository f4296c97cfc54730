# Tests of the fp32 kernels (included by tests/CMakeLists.txt). Label kernels: every lane runs them
# (the emulated AVX-512 lane checks the AVX-512F float kernels through SIMDe).
kiln_add_gtest(kiln_test_kernels_f32 LABELS kernels
  SOURCES kernels/f32_gemm_test.cc kernels/f32_conv_test.cc kernels/f32_elementwise_test.cc
          kernels/f32_normalize_pool_resize_test.cc
  LIBS kiln_kernels)
