# Benchmarks of the gemm kernels (included by bench/CMakeLists.txt): add sources to kiln-bench-kernels.
