// Helpers shared by the Q-graph ops (runtime-internal): reading a value's quantization parameters
// at prepare time, the output clamp of a node, the ISA the kernels run on, and the per-node state
// most Q ops keep (zero points and scales of their inputs and output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/qops.h"
#include "ops/op_util.h"

namespace kiln::ops {

// Per-tensor parameters of a quantized u8 value.
struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int bits = 8;
};

// The per-tensor parameters of value `v` (an error if it is not per-tensor quantized with a zero
// point in [0, 255]); `what` names it in the message.
std::string q_params_of(const Graph& g, int v, const char* what, QParams* out);

// The node's output clamp: attributes qmin/qmax (defaults 0 and 2^bits - 1) with the output's zero
// point; checked to satisfy 0 <= qmin <= qmax <= 255.
std::string q_out_of(const Node& n, const QParams& out, kernels::QOut* o);

// The ISA the Q kernels use for a model created now: choose_isa() (KILN_ISA honoured).
std::string q_isa(kernels::Isa* isa);

// What Quantize, Dequantize, Requantize, QAdd, QMul, QLut, pools, QResize and QConcat keep.
struct QState {
  kernels::Isa isa = kernels::Isa::ref;
  std::vector<QParams> in;  // one per input (defaults for non-quantized inputs)
  QParams out;
  kernels::QOut qout;
};

// Fills a QState: `quantized_inputs` lists which inputs are u8 values (their params are read).
std::string q_state(const Node& n, const Graph& g, const std::vector<int>& quantized_inputs, bool quantized_output,
                    std::shared_ptr<QState>* out);

inline const QState* q_state_of(const RunContext& c) { return static_cast<const QState*>(c.prepared); }

// Shape inference helpers.
std::string need_type(const InferContext& c, size_t i, DType t, const char* what);

// Registration of every Q op (q_register.cc).
void add_q_ops(std::vector<OpDef>& ops);
// The Q op families.
void add_q_elementwise_ops(std::vector<OpDef>& ops);
void add_q_pool_ops(std::vector<OpDef>& ops);
void add_q_linear_ops(std::vector<OpDef>& ops);

}  // namespace kiln::ops
