# Tests of Q ops, kernel blobs and Q execution. Owner: QX.
# Quantized non-GEMM kernels: every lane (label kernels).
kiln_add_gtest(kiln_test_kernels_q LABELS kernels
  SOURCES kernels/q_elementwise_test.cc
  LIBS kiln_kernels)

# The Q graph on Model/Session, kernel blobs through .kiln files: native, aarch64, sanitize.
kiln_add_gtest(kiln_test_runtime_q LABELS runtime
  SOURCES runtime/q_graph_test.cc
  LIBS kiln_runtime)
