# Plan, observe, QFloat, freeze: target_sources(kiln_calib ...). Owner: QS.
target_sources(kiln_calib PRIVATE
  src/quantize/plan.cc
  src/quantize/observe.cc
  src/quantize/freeze.cc
  src/quantize/overrides.cc
  src/quantize/quantize_graph.cc
)
