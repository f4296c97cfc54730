# QFloat: the code-domain simulation of Q graphs (kiln.Sim* ops, QFloatSession). Owner: QS2.
target_sources(kiln_calib PRIVATE
  src/qfloat/code_domain.cc
  src/qfloat/sim_elementwise_ops.cc
  src/qfloat/sim_linear_ops.cc
  src/qfloat/sim_pool_ops.cc
  src/qfloat/sim_graph.cc
  src/qfloat/qfloat_session.cc
)
