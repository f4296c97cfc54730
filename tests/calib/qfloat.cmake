# QFloat (the code-domain simulation of Q graphs) and the Q == QFloat checks. Owner: QS2.
kiln_add_gtest(kiln_test_qfloat LABELS host
  SOURCES calib/test_qfloat_ops.cc
  LIBS kiln_calib)
target_compile_definitions(kiln_test_qfloat PRIVATE KILN_TEST_MODELS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/models")

# Acceptance 1 of #6: Q == QFloat on every test model (W8A8, W4A8) at every usable ISA, and on the
# hand-built Q graphs. Prints the measured agreement per model.
kiln_add_gtest(kiln_test_qfloat_equivalence LABELS host
  SOURCES calib/test_qfloat_equivalence.cc
  LIBS kiln_calib)
target_compile_definitions(kiln_test_qfloat_equivalence PRIVATE KILN_TEST_MODELS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/models")
