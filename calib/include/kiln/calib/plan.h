// The quantization plan of a Float' graph (docs/quantized-graph.md "Plan, overrides, ahead-ReLU").
//
// Two steps. lower_for_quantization rewrites the canonical Float' graph into the graph that is
// observed and frozen: every quantized operation becomes one node of it (MatMul with a constant
// weight [+ bias Add] -> Gemm over rows, Reshape-wrapped for > 2-D activations; Conv/Gemm fused with
// an activation the integer epilogue cannot apply (sigmoid, silu, leaky_relu) split into the layer
// and a separate activation node that becomes a lookup table). make_plan then decides, per node of
// the lowered graph, what it becomes in the Q graph and at which bits.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"
#include "kiln/calib/quantize.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib {

// Rewrites `in` (canonical Float', shapes annotated) into `out`. Value names of `in` are kept;
// values it adds are named <name>__2d (row views of a GEMM) and <name>__preact (a layer's output
// before a split-off activation). Nodes named in `keep_float` are left as they are.
bool lower_for_quantization(const Graph& in, const std::map<std::string, LayerOverride>& overrides, Graph* out,
                            std::string* error);

enum class NodeKind : uint8_t {
  shape_math,    // no float activation among its inputs (shape computations): copied as is
  quantized,     // a kiln.Q* op
  pass_through,  // moves codes when its data input is quantized (Reshape, Transpose, ...)
  float_island,  // runs in f32 between kiln.Dequantize / kiln.Quantize
  absorbed,      // a Relu folded into the clamp of the QAdd before it (NodePlan::absorbs)
};

struct NodePlan {
  NodeKind kind = NodeKind::float_island;
  std::string q_op;  // for quantized: "kiln.QConv", ...
  int wbits = 0;     // QConv / QGemm
  int abits = 8;     // bits of the node's quantized outputs
  FusedActivation ahead = FusedActivation::none;  // what the output range is cut to
  std::string why;   // for islands: the reason (reports)
  int absorbs = -1;  // QAdd: index of the Relu node whose output it writes (qmin = zero point)
};

struct Plan {
  std::vector<NodePlan> nodes;   // per node of the lowered graph
  std::vector<int> value_bits;   // per value: bits if it is quantized
  std::vector<FusedActivation> value_ahead;  // per value: the observer's ahead activation
  std::vector<char> observe;     // per value: 1 if its range is observed (f32 activations)
  std::vector<PlannedLayer> layers;
};

// Decides per node. Errors: an override naming a node the graph does not have (listing near names).
bool make_plan(const Graph& lowered, const QuantizeOptions& options, Plan* out, std::string* error);

// Ops whose quantized form moves codes without requantizing (their output carries their data
// input's parameters): the pass-through ops (Reshape, Transpose, Slice, Pad, ...), max pooling and
// resize.
bool moves_codes(const std::string& op);

// The ahead activation of a node's `activation` attribute (relu, clip >= 0 -> relu/relu6).
FusedActivation ahead_activation(const Node& n);

// Up to `limit` names of `names` closest to `name` (edit distance), for "did you mean" messages.
std::vector<std::string> near_names(const std::string& name, const std::vector<std::string>& names, size_t limit = 3);

}  // namespace kiln::calib
