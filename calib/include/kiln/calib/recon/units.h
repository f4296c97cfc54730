// Reconstruction units of a Float' (or lowered) graph (canonical: a Conv node carries the residual
// as input 3 and its activation as attributes), at four granularities:
//   layer  one Conv / Gemm each;
//   block  a residual unit (every node from the tensor the fused residual Add re-uses, the fork, to
//          the Conv that fuses the Add: a BasicBlock, an inverted residual); weighted layers outside
//          residual units grouped, in order, up to three per unit, where a squeeze-excitation
//          branch (pool, 1x1 layers, gate, product) stays with the value it gates and its layers
//          do not count (so a non-residual MBConv block with its gate is one unit);
//   stage  consecutive blocks until the spatial resolution of their outputs changes;
//   net    everything from the first to the last weighted layer.
// Non-weighted nodes (pools, flatten, concat, add) join the unit they sit in, in topological order.
//
// Blocks learn convolutions, GEMMs (over [K] samples, or over the rows of [T, d] samples: a
// transformer's Linear), adds, products (squeeze-excitation gates), concats, pooling and element-wise
// activations. Any other node (shape arithmetic, pads, resizes, LayerNorm, attention, layers the
// plan keeps float...) never sits inside a trained unit: each run of them becomes a "kept" unit that
// reconstruction evaluates (float, and quantized with the observed ranges and nearest-rounded
// weights) but does not train. Every value a trained unit hands to the rest of the graph is its
// single output (a unit whose inner value escapes is split there).
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "kiln/calib/recon/block.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib::recon {

enum class Granularity : uint8_t { layer, block, stage, net };

bool parse_granularity(const std::string& text, Granularity* out, std::string* error);
const char* granularity_name(Granularity g);

struct ReconUnit {
  std::string name;          // the first weighted node's name, or "stage<i>" / "net"; kept: the first node's
  std::vector<int> nodes;    // indices into graph.nodes, topological order
  std::vector<int> recompute;  // kept units: earlier nodes re-run for values that are not per-sample (shapes)
  std::vector<int> inputs;   // per-sample values read from outside the unit
  int output = -1;           // trained units: the value the unit produces (its last node's)
  std::vector<int> outputs;  // values of the unit read after it or the graph's output (trained: {output})
  size_t weighted = 0;       // Conv / Gemm nodes in it
  bool residual = false;     // holds a fused residual
  bool trained = true;       // false: a kept unit
  std::string reason;        // kept units: why its first node cannot be trained
};

// What the listing needs beyond the graph. list_units fills `sample_shape` / `batched` when empty.
struct UnitContext {
  std::set<std::string> keep;        // node names never trained (layers the plan keeps float)
  std::vector<char> batched;         // per value: f32 with one slice per sample (what units exchange)
  std::vector<Shape> sample_shape;   // per batched value: its shape without the batch dimension
  // Per value: T for a row view, the [batch * T, d] reshape of per-sample [T, d] tensors that a GEMM
  // runs over (a transformer's Linear); its sample_shape is [T, d]. 0 otherwise.
  std::vector<int64_t> rows;
};

// Lists the units in topological order. False with a message on a graph it cannot split.
bool list_units(const Graph& g, Granularity granularity, std::vector<ReconUnit>* out, std::string* error,
                UnitContext* context = nullptr);

// Fills context->batched / sample_shape from shape inference at a concrete batch.
bool annotate_batched_values(const Graph& g, UnitContext* context, std::string* error);

// Whether a block can learn node `node` (given the per-sample values); otherwise why not.
bool node_trainable(const Graph& g, int node, const UnitContext& context, std::string* why);

// The value whose quantization parameters `v` carries in the Q graph: v itself, unless an op that
// moves codes without requantizing (max pooling, resize, reshapes, transposes, slices, pads)
// produced it; then its data input's source. `moving`: the names of the nodes that move codes (a
// plan knows: such an op on float data runs float); null: every node of those kinds.
int code_source(const Graph& g, int v, const std::set<std::string>* moving = nullptr);

// One line per unit: "<index> <name>: <nodes> nodes, <weighted> weighted, residual" (for --dry-run);
// kept units say so and why.
std::string describe_units(const Graph& g, const std::vector<ReconUnit>& units);

// The unit as a Block: layers in the unit's order, block inputs = unit.inputs (dims from the
// graph's value shapes). Flatten / Reshape become no layers (values alias); a Gemm reading an NCHW
// flatten of an h x w > 1 tensor gets its weight columns permuted to NHWC order (LayerSpec::flatten_hw).
// graph_values (optional): for each block value, the graph value id it holds.
// context (optional): the per-sample shapes; a GEMM over a row view becomes a 1x1 convolution over
// [1, T, d] samples. Without it, dims come from the graph's value shapes (NCHW or [N, K]).
bool build_block(const Graph& g, const ReconUnit& unit, Block* block, std::string* error,
                 std::vector<int>* graph_values = nullptr, const UnitContext* context = nullptr);

}  // namespace kiln::calib::recon
