# Benchmarks of the gemm kernels (included by bench/CMakeLists.txt): add sources to kiln-bench-kernels.
target_sources(kiln-bench-kernels PRIVATE
  bench_shapes.cc
  bench_peak.cc
  bench_stream.cc
  bench_gemm.cc
  bench_ukernel.cc
)
# shared/bench/shapes.json sits beside the repository (../shared from the repo root); the
# KILN_BENCH_SHAPES environment variable overrides it at run time.
get_filename_component(_kiln_shapes_json "${PROJECT_SOURCE_DIR}/../shared/bench/shapes.json" ABSOLUTE)
set_source_files_properties(bench_shapes.cc TARGET_DIRECTORY kiln-bench-kernels PROPERTIES
  COMPILE_DEFINITIONS "KILN_SHAPES_JSON_DEFAULT=\"${_kiln_shapes_json}\"")
if(KILN_ARCH_X86)
  target_sources(kiln-bench-kernels PRIVATE bench_peak_avx2.cc bench_peak_avx512vnni.cc)
  set_source_files_properties(bench_peak_avx2.cc TARGET_DIRECTORY kiln-bench-kernels PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(bench_peak_avx512vnni.cc TARGET_DIRECTORY kiln-bench-kernels PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
endif()
# oneDNN runs on OpenMP: the benchmark sets its thread count with omp_set_num_threads.
find_library(KILN_GOMP_LIB NAMES gomp libgomp.so.1 PATHS /usr/lib/gcc/x86_64-linux-gnu/12)
if(KILN_GOMP_LIB)
  target_link_libraries(kiln-bench-kernels PRIVATE ${KILN_GOMP_LIB})
endif()
