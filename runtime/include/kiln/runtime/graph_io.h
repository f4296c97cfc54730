// kiln's Float-graph file (".kgraph"): the canonicalised graph with its constants, in a simple
// little-endian binary form the deployable runtime reads without protobuf (the aarch64 build and
// the C API load it). Layout: "KILNGRF1", then values, nodes, inputs, outputs (see graph_io.cc).
// The quantized .kiln format (FlatBuffers) is a later issue's.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/runtime/graph.h"

namespace kiln {

constexpr char kGraphMagic[9] = "KILNGRF1";

// Deterministic: the same graph gives the same bytes.
std::string serialize_graph(const Graph& g);
// False with a message for anything malformed (bounds-checked; never crashes).
bool deserialize_graph(const void* bytes, size_t size, Graph* out, std::string* error);
bool is_graph_file(const void* bytes, size_t size);

}  // namespace kiln
