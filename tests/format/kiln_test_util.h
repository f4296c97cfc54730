// Helpers shared by the .kiln format tests: a small quantized graph with every feature the format
// carries, a structural graph comparison, and re-assembly of a file from an edited FlatBuffer.
#pragma once

#include <memory>
#include <string>

#include "kiln/format/kiln_file.h"

namespace kiln::fb {
struct ModelT;
}

namespace kiln::test {

// A conv -> relu -> gemm graph with symbolic batch, f32/s8/s4/s32/s64 constants, per-tensor and
// per-channel quantization, every attribute kind, an omitted optional input and an nhwc value.
Graph sample_graph();
KilnMetadata sample_metadata();
// Kernel blobs for the sample graph's nodes 0 and 2 (node 1 has none).
NodeBlobs sample_blobs();

// Empty string when equal; otherwise what differs. Constants compare bitwise.
std::string graph_difference(const Graph& a, const Graph& b);

// Serialised sample (graph, metadata, blobs); fails the calling test on error.
std::string sample_file_bytes();

// Unpacks a file's FlatBuffer, and re-assembles a file from an (edited) model table and a data
// region, with data_offset/data_size/trailer/checksum all consistent: only the edit is wrong.
std::unique_ptr<fb::ModelT> unpack(const std::string& file);
std::string reassemble(fb::ModelT& model, const std::string& data_region);
std::string data_region_of(const std::string& file);

// Loads from a 64-byte aligned copy (the bytes of a std::string are not aligned that much).
bool load_bytes(const std::string& bytes, KilnFile* out, std::string* error, bool verify_checksum = true);

}  // namespace kiln::test
