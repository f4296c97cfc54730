# fp32 benchmarks (included by bench/CMakeLists.txt): kiln-bench-f32, kiln's fp32 convolutions
# against oneDNN's on full-width ResNet-18 (acceptance line 4 of issue 5).
add_executable(kiln-bench-f32 bench_f32_conv.cc)
target_link_libraries(kiln-bench-f32 PRIVATE kiln_kernels kiln::dep::benchmark kiln::dep::benchmark_main
                      kiln::dep::dnnl kiln_flags)
# oneDNN runs on OpenMP here: the benchmark pins it to one thread through libgomp.
find_library(KILN_F32_GOMP_LIB NAMES gomp libgomp.so.1)
if(KILN_F32_GOMP_LIB)
  target_link_libraries(kiln-bench-f32 PRIVATE ${KILN_F32_GOMP_LIB})
  target_compile_definitions(kiln-bench-f32 PRIVATE KILN_HAVE_GOMP)
endif()
