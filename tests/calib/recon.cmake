# Tests of reconstruction building blocks. Owner: REC.
kiln_add_gtest(kiln_test_recon LABELS host
  SOURCES calib/test_recon_layers.cc calib/test_recon_quantizers.cc calib/test_recon_block.cc
          calib/test_recon_units.cc calib/test_recon_graph.cc
  LIBS kiln_calib kiln_onnx)
target_compile_definitions(kiln_test_recon PRIVATE KILN_EXAMPLES_DIR="${PROJECT_SOURCE_DIR}/examples")
target_compile_definitions(kiln_test_recon PRIVATE KILN_TEST_MODELS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/models")
