// Shape inference over a whole graph for concrete input shapes. Nodes whose inputs are all known
// (constants, or values computed here) and Shape ops are evaluated on the way, so chains such as
// Shape -> Gather -> Concat -> Reshape resolve for any batch size.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kiln/runtime/graph.h"

namespace kiln {

struct ShapeState {
  std::vector<Shape> shapes;  // per value
  std::vector<DType> types;
  std::vector<bool> has;                      // shape inferred
  std::vector<std::optional<Tensor>> known;   // values computed during inference (not constants)
  std::vector<bool> evaluated;                // per node: its outputs are in `known`
};

// `input_shapes` follows g.inputs. Errors name the node.
std::string propagate_shapes(const Graph& g, const std::vector<Shape>& input_shapes, ShapeState* st);

// Fills Value::shape / dtype / shape_known from the inputs' declared shapes, with symbolic
// dimensions kept symbolic (inferred with the batch at 1 and at 2, other open sizes at 64 and 128:
// dims that differ are symbolic).
std::string annotate_shapes(Graph& g);

}  // namespace kiln
