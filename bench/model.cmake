# Whole-model benchmarks (float ResNet-18 vs oneDNN conv sum). Owner: RT.
# kiln-bench-model MODEL.onnx: the whole float network through kiln's Session against the sum of
# oneDNN's fp32 convolutions of the same graph; bench/run_model_bench.sh generates the model.
add_executable(kiln-bench-model bench_model_f32.cc)
target_link_libraries(kiln-bench-model PRIVATE kiln_onnx kiln_runtime kiln_kernels kiln::dep::benchmark
                      kiln::dep::dnnl kiln_flags)
# oneDNN runs on OpenMP here: the benchmark pins it to one thread through libgomp.
find_library(KILN_MODEL_GOMP_LIB NAMES gomp libgomp.so.1)
if(KILN_MODEL_GOMP_LIB)
  target_link_libraries(kiln-bench-model PRIVATE ${KILN_MODEL_GOMP_LIB})
  target_compile_definitions(kiln-bench-model PRIVATE KILN_HAVE_GOMP)
endif()
