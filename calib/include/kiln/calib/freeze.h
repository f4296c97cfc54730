// Freeze: the lowered Float' graph + its plan + observed activation ranges -> the Q graph of
// docs/quantized-graph.md. Every integer constant (weight codes, int32 biases, multipliers, clamps,
// lookup tables) is computed here, once, in float exactly as the document writes it.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/calib/observe.h"
#include "kiln/calib/plan.h"
#include "kiln/calib/quant_params.h"
#include "kiln/calib/quantize.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib {

// round_half_even(b / (s_in * s_w)) saturated to int32 (the products in float, as written).
int32_t bias_code(float b, float s_in, float s_w);
// s_in * s_w / s_out (left to right, in float).
float epilogue_multiplier(float s_in, float s_w, float s_out);
// Output-code clamp of a layer fused with `activation` ("", relu, clip with act_a/act_b) whose
// output has parameters `out`: relu -> qmin = zo; clip -> [q(lo), q(hi)]; none -> [out.qmin, out.qmax].
void activation_clamp(const Node& layer, const QuantParams& out, int32_t* qmin, int32_t* qmax);
// The runtime's per-tensor QuantParams of an activation with parameters p at `bits`.
kiln::QuantParams value_params(const QuantParams& p, int bits);
// Back: the activation parameters carried by a u8 value of a Q graph.
QuantParams activation_params(const kiln::QuantParams& p);

// `learned` (optional): reconstruction's weight codes and scales, by node name, used instead of the
// nearest-rounded MSE weights (activation parameters come in through `ranges`).
bool freeze_q_graph(const Graph& lowered, const Plan& plan, const ObservedRanges& ranges, const QuantizeOptions& options,
                    Graph* q, std::string* error, const recon::GraphReconResult* learned = nullptr);

}  // namespace kiln::calib
