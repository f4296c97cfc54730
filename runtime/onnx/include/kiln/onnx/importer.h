// The ONNX importer: an ONNX ModelProto (opsets 9 to 18) to kiln's Float graph. Initializers and
// Constant nodes become constants, dim_params become the symbolic batch, Upsample and opset-10
// Resize become Resize. Anything unsupported is an error naming the node and the op.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/runtime/graph.h"

namespace kiln::onnx {

constexpr int kMinOpset = 7;   // older models use broadcast attributes kiln does not implement
constexpr int kMaxOpset = 18;

// The raw imported graph (not canonicalised). False with a message in *error.
bool import_model(const void* bytes, size_t size, Graph* out, std::string* error);
bool import_model_file(const std::string& path, Graph* out, std::string* error);

}  // namespace kiln::onnx
