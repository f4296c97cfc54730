# Reconstruction building blocks (fp32 fwd/bwd on oneDNN, AdaRound, LSQ, units): target_sources(kiln_calib ...). Owner: REC.
target_sources(kiln_calib PRIVATE
  src/recon/dnnl_layers.cc
  src/recon/quantizers.cc
  src/recon/block.cc
  src/recon/reconstruct.cc
  src/recon/layer_spec.cc
  src/recon/units.cc
  src/recon/kept_unit.cc
  src/recon/recon_graph.cc
)
# oneDNN runs on OpenMP (Debian's build): the recon engine sets its thread count with
# omp_set_num_threads, so link the OpenMP runtime libdnnl itself uses (libgomp).
find_library(KILN_GOMP_LIBRARY NAMES gomp libgomp.so.1)
if(KILN_GOMP_LIBRARY)
  target_link_libraries(kiln_calib PRIVATE ${KILN_GOMP_LIBRARY})
endif()
# The LSQ quantizer loops select between clamped and rounded values; without -fno-trapping-math gcc
# will not if-convert them and they stay scalar (they are a fifth of a reconstruction's time). kiln
# never reads floating-point exception flags, so this changes no result.
set_source_files_properties(src/recon/quantizers.cc PROPERTIES COMPILE_OPTIONS -fno-trapping-math)
# The same for the activation derivatives' selects (hardsigmoid, leaky relu) in the block.
set_source_files_properties(src/recon/block.cc PROPERTIES COMPILE_OPTIONS -fno-trapping-math)
# Adam's update (sqrt) and the loss loops vectorise only without errno and trapping semantics.
set_source_files_properties(src/recon/reconstruct.cc PROPERTIES COMPILE_OPTIONS "-fno-trapping-math;-fno-math-errno")
