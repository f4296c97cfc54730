// Post-training quantization of a Float' graph into the Q graph (docs/quantized-graph.md): plan,
// observe activation ranges over calibration samples, choose weight scales, freeze. The result is
// saved with save_kiln; QFloatSession (qfloat.h) simulates it, Model::create runs it on integers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/calib/activation_observer.h"
#include "kiln/calib/data/sample_source.h"
#include "kiln/calib/recon/recon_graph.h"
#include "kiln/calib/weight_quant.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib {

// One override, keyed by the Float' node name (or, for a value fed to several ops, its producer).
struct LayerOverride {
  bool keep_float = false;
  int wbits = 0;  // 0: the default
  int abits = 0;
};

// Reads a JSON object (or the YAML subset `name: {float: true, wbits: 4}`) of overrides.
bool load_overrides(const std::string& path, std::map<std::string, LayerOverride>* out, std::string* error);

struct QuantizeOptions {
  int wbits = 8;                                   // 2..8
  int abits = 8;                                   // 4 or 8 (2..8 for studies)
  RangeMethod activation_method = RangeMethod::minmax;
  ActivationObserverOptions observer;              // percentile etc.; method/bits/activation set per tensor
  WeightQuantOptions weights;                      // method (mse default), p_norm, grid; bits set per layer
  bool first_last_8bit = true;
  size_t samples = 512;                            // calibration samples used (<= the source's size)
  size_t batch = 32;
  uint64_t seed = 0;
  int threads = 1;
  std::map<std::string, LayerOverride> overrides;
  std::vector<std::string> pack_isas;              // ISAs to pack kernel blobs for; empty: the host's
  bool pack_blobs = true;                          // false: no blobs (the runtime packs at load)
  // Reconstruction (AdaRound: layer units, BRECQ: block units, QDrop: BRECQ with dropped activation
  // quantization) after observation. Unset: MSE weight scales with nearest rounding. Its bits are
  // taken from the plan (wbits/abits above, first/last layers, overrides); the learned weight codes
  // and activation parameters replace the observed ones in freeze.
  std::optional<recon::GraphReconOptions> reconstruction;
  // Progress: (stage, done, total), stage "observe", "weights", "freeze", ...
  std::function<void(const std::string& stage, size_t done, size_t total)> progress;
};

// One line per planned layer, for reports, `inspect` and `--dry-run`.
struct PlannedLayer {
  std::string node;       // Float' node name
  std::string op;         // Q op ("kiln.QConv", ...) or the float op of an island
  bool quantized = false;
  int wbits = 0, abits = 0;
};

struct QuantizeResult {
  Graph q;                              // the Q graph (logical; weights, biases, multipliers, blobs)
  std::vector<recon::UnitReport> units;  // with reconstruction: per unit, the loss before and after
  // With reconstruction: squared error per calibration sample of the network output, quantized vs
  // float, as reconstruction simulated the quantized network (the deployed one should agree).
  double reconstruction_output_mse = 0.0;
  std::vector<PlannedLayer> layers;
  std::map<std::string, std::string> settings;  // recorded in the .kiln metadata
};

// `float_graph` is canonical Float' (as Model::create(..).logical_graph() gives). Reads up to
// options.samples samples from `source` (rewinding it first). Errors name the layer or the sample.
bool quantize_graph(const Graph& float_graph, SampleSource& source, const QuantizeOptions& options,
                    QuantizeResult* out, std::string* error);

// Integer kernels are packed for known sizes: a graph input whose sizes after the batch are open
// (dynamic H and W) is bound to `source`'s sample shape (the quantized model runs at those sizes).
// *out: the graph re-canonicalised with those sizes, or a copy when nothing was open; *note says what
// was bound ("" when nothing). quantize_graph does this itself.
bool bind_open_input_sizes(const Graph& float_graph, const SampleSource& source, Graph* out, std::string* note,
                           std::string* error);

// The units options.reconstruction would train (and those it keeps), one line each as
// recon::describe_units writes them, for the graph quantize_graph would reconstruct; *count: units.
bool describe_reconstruction_units(const Graph& float_graph, const QuantizeOptions& options, std::string* listing,
                                   size_t* count, std::string* error);

}  // namespace kiln::calib
