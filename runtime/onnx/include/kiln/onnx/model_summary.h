// A first look at an ONNX file: what it is and what it contains, without importing it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::onnx {

struct ModelSummary {
  int64_t ir_version = 0;
  int64_t opset = 0;  // the default ("ai.onnx") domain's version
  std::string producer;
  size_t nodes = 0;
  size_t initializers = 0;
  std::vector<std::string> inputs;   // graph inputs that are not initializers
  std::vector<std::string> outputs;
};

// Parses `bytes` as an ONNX ModelProto. False with a message in *error for anything that is not one.
bool summarize_model(const void* bytes, size_t size, ModelSummary* out, std::string* error);
bool summarize_model_file(const std::string& path, ModelSummary* out, std::string* error);

}  // namespace kiln::onnx
