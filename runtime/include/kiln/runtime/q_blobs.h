// Kernel blobs of the Q graph: packing a kiln.QConv / kiln.QGemm node's weights for one ISA ahead of
// time (the freezer attaches them to Node::blobs, save_kiln stores them), and the Q ops'
// registration. At load, Model::create's prepare step uses a blob whose ISA and kernel
// configuration match the CPU's choice IN PLACE (a view into the mapped file, no copy); otherwise it
// packs from the node's constants (same results, slower load).
#pragma once

#include <cstddef>
#include <string>

#include "kiln/kernels/isa.h"
#include "kiln/runtime/graph.h"
#include "kiln/runtime/model.h"

namespace kiln {

// Blob kinds (KernelBlob::kind).
inline constexpr const char* kQGemmBlobKind = "qgemm_packed";  // pack_gemm_weights' buffer (pack.h)
inline constexpr const char* kQConvBlobKind = "qconv_packed";  // conv_serialize's PackedConv (conv.h)

// Packs graph.nodes[node] (kiln.QConv or kiln.QGemm; other ops: nothing to do, "") for `isa`, which
// this build must contain and this CPU must run, and puts the blob on the node, replacing a blob
// of the same kind and ISA. Needs the weight, bias and multiplier constants, the input value's
// quantization parameters and (QConv) its shape, inferred from the graph inputs' shapes when the
// graph has none (a symbolic batch packs for batch 1; the batch may differ at run time). Returns "" or what is wrong.
std::string pack_q_node_blobs(Graph& graph, int node, kernels::Isa isa);
// The same for every kiln.QConv / kiln.QGemm node of the graph (shapes inferred once).
std::string pack_q_blobs(Graph& graph, kernels::Isa isa);

// What a prepared kiln.QConv / kiln.QGemm node of `model.graph()` runs from: its packed bytes, and
// whether they are one of the node's blobs used in place. False for other nodes.
struct QPackedInfo {
  const void* data = nullptr;
  size_t size = 0;
  bool from_blob = false;
  kernels::Isa isa = kernels::Isa::ref;
};
bool q_packed_info(const Model& model, size_t node, QPackedInfo* out);

// Adds the Q-graph ops (kiln.Quantize, kiln.QConv, ...) to the op registry. Idempotent and
// thread-safe; load_kiln calls it, and so does pack_q_node_blobs. Code that builds a Q graph by hand
// and creates a Model from it calls it first (unless the registry already lists the Q ops).
bool register_q_ops(std::string* error);

}  // namespace kiln
