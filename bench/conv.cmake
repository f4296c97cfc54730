# Benchmarks of the conv kernels (included by bench/CMakeLists.txt): add sources to kiln-bench-kernels.
# The shapes come from bench_shapes.{h,cc} (gemm.cmake adds it).
target_sources(kiln-bench-kernels PRIVATE bench_conv.cc)
# oneDNN runs on OpenMP here: the benchmark sets its thread count through libgomp.
find_library(KILN_GOMP_LIB NAMES gomp libgomp.so.1)
if(KILN_GOMP_LIB)
  target_link_libraries(kiln-bench-kernels PRIVATE ${KILN_GOMP_LIB})
  set_property(SOURCE bench_conv.cc TARGET_DIRECTORY kiln-bench-kernels APPEND PROPERTY COMPILE_DEFINITIONS KILN_HAVE_GOMP)
endif()
