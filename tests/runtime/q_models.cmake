# Q == QFloat on the committed Q models (tests/models/q, written by kiln_make_q_models): runs in
# every lane with the runtime (native, aarch64 under qemu, sanitize). Owner: QS2.
kiln_add_gtest(kiln_test_q_models LABELS runtime
  SOURCES runtime/test_q_models_aarch64.cc
  LIBS kiln_runtime)
target_compile_definitions(kiln_test_q_models PRIVATE KILN_TEST_MODELS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/models")
target_include_directories(kiln_test_q_models PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/runtime)
