// Reconstruction units of a Float' graph (canonical: a Conv node carries the residual as input 3 and
// its activation as attributes), at four granularities:
//   layer  one Conv / Gemm each;
//   block  a residual unit (every node from the tensor the fused residual Add re-uses, the fork, to
//          the Conv that fuses the Add: a BasicBlock, an inverted residual); weighted layers outside
//          residual units grouped, in order, up to three per unit;
//   stage  consecutive blocks until the spatial resolution of their outputs changes;
//   net    everything from the first to the last weighted layer.
// Non-weighted nodes (pools, flatten, concat, add) join the unit they sit in, in topological order.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kiln/calib/recon/block.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib::recon {

enum class Granularity : uint8_t { layer, block, stage, net };

bool parse_granularity(const std::string& text, Granularity* out, std::string* error);
const char* granularity_name(Granularity g);

struct ReconUnit {
  std::string name;          // the first weighted node's name, or "stage<i>" / "net"
  std::vector<int> nodes;    // indices into graph.nodes, topological order
  std::vector<int> inputs;   // non-constant values read from outside the unit
  int output = -1;           // the value the unit produces for the rest of the graph (its last node's)
  size_t weighted = 0;       // Conv / Gemm nodes in it
  bool residual = false;     // holds a fused residual
};

// Lists the units in topological order. False with a message on a graph it cannot split (for
// example a node kind that reconstruction does not support inside a unit).
bool list_units(const Graph& g, Granularity granularity, std::vector<ReconUnit>* out, std::string* error);

// One line per unit: "<index> <name>: <nodes> nodes, <weighted> weighted, residual" (for --dry-run).
std::string describe_units(const Graph& g, const std::vector<ReconUnit>& units);

// The unit as a Block: layers in the unit's order, block inputs = unit.inputs (dims from the
// graph's value shapes). Flatten / Reshape become no layers (values alias); a Gemm reading an NCHW
// flatten of an h x w > 1 tensor gets its weight columns permuted to NHWC order (LayerSpec::flatten_hw).
// graph_values (optional): for each block value, the graph value id it holds.
bool build_block(const Graph& g, const ReconUnit& unit, Block* block, std::string* error,
                 std::vector<int>* graph_values = nullptr);

}  // namespace kiln::calib::recon
