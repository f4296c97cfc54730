// Canonicalisation passes over the Float graph. Each returns "" or an error naming the node; each
// leaves the graph valid (topologically sorted, shapes annotated where the pass needs them).
#pragma once

#include <string>

#include "kiln/runtime/graph.h"

namespace kiln {

// Evaluates nodes whose inputs are all constants (and Shape of statically shaped values, and
// Gather of static dims out of a Shape) into constants.
std::string fold_constants(Graph& g);
// HardSigmoid / HardSwish from Clip(x + 3, 0, 6) / 6 patterns, x * HardSigmoid(x) -> HardSwish,
// x * Sigmoid(x) -> kiln.Silu, LayerNormalization from ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div
// (with the Mul/Add affine), Gelu from x * 0.5 * (1 + Erf(x / sqrt 2)).
std::string recognise_patterns(Graph& g);
// BatchNormalization folded into the Conv or Gemm that feeds it.
std::string fold_batchnorm(Graph& g);
// Conv/Gemm + Relu/Clip/LeakyRelu/HardSwish/Sigmoid/Silu, and Conv + Add (a residual) before them.
std::string fuse_activations(Graph& g);
// auto_pad of Conv / MaxPool / AveragePool as explicit pads where they are fixed (stride 1, or a
// known input size).
std::string resolve_auto_pad(Graph& g);
// Identity/Dropout bypassed; nodes whose outputs nobody reads removed.
std::string eliminate_dead_code(Graph& g);
// Picks NHWC for 4-D activations around the ops that want it and inserts kiln.Relayout nodes.
std::string assign_layouts(Graph& g);

// All of the above except assign_layouts, in order, with shape annotation between.
std::string canonicalize(Graph& g);

}  // namespace kiln
