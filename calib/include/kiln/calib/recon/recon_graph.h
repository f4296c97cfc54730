// Reconstruction of a whole Float' graph, unit by unit (AdaRound: layer units; BRECQ: block units;
// QDrop: BRECQ with activation quantization dropped and inputs mixed). Each unit's inputs come from
// the already-reconstructed (hard-rounded, quantized) preceding units; its targets are the float
// network's outputs of the same unit, cached as fp16.
//
// The result is what freeze needs to build the Q graph after reconstruction: the integer weight
// codes and per-channel scales of every Conv / Gemm, and the learned activation parameters of every
// quantized value, keyed by Float' names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kiln/calib/recon/reconstruct.h"
#include "kiln/calib/recon/units.h"
#include "kiln/calib/weight_quant.h"

namespace kiln::calib::recon {

struct GraphReconOptions {
  Granularity granularity = Granularity::block;
  int wbits = 4;
  int abits = 8;
  // Per-layer / per-value bits that differ from wbits / abits (a quantization plan's first / last
  // layers at 8 bits, overrides): Conv / Gemm node name -> weight bits, value name -> activation bits.
  std::map<std::string, int> layer_wbits;
  std::map<std::string, int> value_abits;
  bool quantize_activations = true;
  // Kept units (units.h): the plan's observed parameters of the values it quantizes (by name; a
  // value absent stays float there), how their quantized layers' weights are rounded, and the layers
  // the plan keeps float (never trained, weights float).
  std::map<std::string, QuantParams> observed_params;
  WeightQuantOptions weights;
  std::set<std::string> keep_float;
  // The plan's nodes that move codes (pass-through ops, max pooling, resize): their outputs carry
  // their input's parameters. Unset: every node of those kinds (units.h, code_source).
  std::optional<std::set<std::string>> code_moving;
  // The plan's values Q holds as floats (graph inputs, float islands' outputs: integer ops read them
  // through a kiln.Quantize) and the nodes that read floats (float islands). Unset: all codes.
  std::optional<std::set<std::string>> float_values, float_readers;
  ReconOptions recon;     // per-unit settings (iters, batch, lr, lambda, drop_prob, seed, threads)
  bool qdrop = false;     // also mix block inputs between the quantized and float networks (drop_prob)
  // BRECQ's Fisher-diagonal loss: each output element of a unit weighted by (|g| + 1)^2, g the gradient
  // at that element of KL(softmax(float logits) || softmax(quantized logits)) / fisher_batch, through
  // the quantized network as it stands when the unit is reached (earlier units reconstructed, later
  // ones at nearest rounding). The logits are the last unit's output. false: plain MSE.
  bool fisher = false;
  size_t fisher_batch = 32;  // BRECQ's "batchmean" divisor (its reconstruction batch)
  size_t eval_batch = 64; // batch of the float / quantized passes between units
  // (unit index, unit count, unit name, iteration, loss)
  std::function<void(size_t unit, size_t units, const std::string& name, int iter, double loss)> progress;
};

struct UnitReport {
  std::string name;
  size_t layers = 0;
  double nearest_loss = 0.0;  // block output error per sample and pixel before reconstruction (nearest rounding)
  double final_loss = 0.0;    // ...after
  double fisher_mean = 0.0;   // mean Fisher weight of the unit's outputs (0: MSE loss)
  bool reverted = false;      // training did not lower the loss: nearest rounding kept (ReconResult)
  bool kept = false;          // a kept unit: evaluated, not trained (losses 0)
  std::string reason;         // ...and why
};

struct GraphReconResult {
  // Conv: OIHW codes; Gemm: [N, K] codes with K in the Float' graph's order.
  std::map<std::string, std::vector<int8_t>> weight_codes;
  std::map<std::string, std::vector<QuantParams>> weight_params;  // per output channel
  std::map<std::string, QuantParams> activation_params;            // by Float' value name
  std::vector<UnitReport> units;
  double output_mse = 0.0;  // squared error per sample of the quantized network's outputs vs float (summed)
};

// `samples`: n graph inputs in logical order ([n, C, H, W], [n, K], ...), already preprocessed.
bool reconstruct_graph(const Graph& g, const std::vector<float>& samples, size_t n, const GraphReconOptions& options,
                       GraphReconResult* out, std::string* error);

}  // namespace kiln::calib::recon
