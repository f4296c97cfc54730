# Tests of the gemm kernels (included by tests/CMakeLists.txt); use kiln_add_gtest(... LABELS kernels ...).
