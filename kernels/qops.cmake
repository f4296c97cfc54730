# Quantized non-GEMM kernels (qops.h spec): target_sources(kiln_kernels ...). Owner: QX.
