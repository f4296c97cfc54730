# Benchmarks of the conv kernels (included by bench/CMakeLists.txt): add sources to kiln-bench-kernels.
