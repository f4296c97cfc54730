# Tests of the conv kernels (included by tests/CMakeLists.txt); use kiln_add_gtest(... LABELS kernels ...).
kiln_add_gtest(kiln_test_kernels_conv LABELS kernels
  SOURCES kernels/conv_test_util.cc kernels/conv_ref_test.cc kernels/dwconv_test.cc kernels/conv_gemm_test.cc
          kernels/conv_blob_test.cc
  LIBS kiln_kernels)
# conv_view is parser input (blobs come from .kiln files): fuzzed in the sanitize lane.
kiln_add_fuzz(kiln_fuzz_conv_view fuzz/fuzz_conv_view.cc kiln_kernels)
