# Reconstruction benchmarks (fp32 fwd+bwd of the largest layer vs peak). Owner: REC.
