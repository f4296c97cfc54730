// One graph node as a reconstruction block layer (calib-internal): what build_block and
// node_trainable share.
#pragma once

#include <string>

#include "kiln/calib/recon/block.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib::recon {

// The layer of a Conv (explicit 2-D pads, constant OIHW weights, relu / clip / hardswish or no
// activation), Gemm (constant weights, no transA, alpha = beta = 1), Add, Mul, Relu, an element-wise
// activation (Sigmoid, SiLU, HardSigmoid, HardSwish, Tanh, LeakyRelu, Clip, Gelu), pooling or channel
// Concat node, without its inputs (the block maps those). False with the reason otherwise.
bool layer_spec_of(const Graph& g, const Node& n, LayerSpec* s, std::string* error);

// A Gemm reading an NCHW flatten of an h x w > 1 tensor of dims `src`: its weight columns move from
// the (c, y, x) order to the NHWC (y, x, c) order blocks hold, and flatten_hw records it.
void permute_flatten_columns(const Dims& src, LayerSpec* s);

}  // namespace kiln::calib::recon
