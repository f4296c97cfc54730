# Reconstruction benchmarks (fp32 fwd+bwd of the largest layer vs peak). Owner: REC.
# kiln-bench-recon [--model M.onnx]: oneDNN fp32 forward + backward-data + backward-weights of the
# largest conv of the ResNet demo model, GFLOPS and % of the measured AVX2 / AVX-512 FMA peak.
add_executable(kiln-bench-recon bench_recon.cc)
target_link_libraries(kiln-bench-recon PRIVATE kiln_calib kiln_onnx kiln::dep::benchmark kiln_flags)
target_compile_definitions(kiln-bench-recon PRIVATE
  KILN_RECON_DEFAULT_MODEL="${PROJECT_SOURCE_DIR}/examples/fashion-mnist/resnet_fmnist.onnx")
