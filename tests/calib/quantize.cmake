# Tests of plan/observe/QFloat/freeze and Q==QFloat. Owner: QS.
kiln_add_gtest(kiln_test_quantize LABELS host
  SOURCES calib/test_quantize_session.cc calib/test_quantize_plan.cc calib/test_quantize_models.cc
  LIBS kiln_calib)
target_compile_definitions(kiln_test_quantize PRIVATE KILN_TEST_MODELS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/models")

# Writes tests/models/q/*.kiln + QFloat codes for the aarch64 lane (run by hand; outputs are committed):
#   kiln_make_q_models tests/models tests/models/q
add_executable(kiln_make_q_models calib/make_q_models.cc)
target_link_libraries(kiln_make_q_models PRIVATE kiln_calib kiln_flags)
target_include_directories(kiln_make_q_models PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
