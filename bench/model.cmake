# Whole-model benchmarks (float ResNet-18 vs oneDNN conv sum). Owner: RT.
