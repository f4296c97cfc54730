# Q-graph ops (kiln.Q*, Quantize/Dequantize) of the runtime: target_sources(kiln_runtime ...). Owner: QX.
target_sources(kiln_runtime PRIVATE
  src/ops/q_util.cc
  src/ops/q_elementwise_ops.cc
  src/ops/q_pool_ops.cc
  src/ops/q_linear_ops.cc
  src/ops/q_register.cc
)
