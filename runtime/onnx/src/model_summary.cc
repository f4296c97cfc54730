#include "kiln/onnx/model_summary.h"

#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include <onnx/onnx_pb.h>

namespace kiln::onnx {

bool summarize_model(const void* bytes, size_t size, ModelSummary* out, std::string* error) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) {
    *error = "ONNX file larger than 2 GiB (external data is not supported)";
    return false;
  }
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(bytes, static_cast<int>(size))) {
    *error = "not an ONNX model (protobuf parse failed)";
    return false;
  }
  if (!model.has_graph()) {
    *error = "ONNX model has no graph";
    return false;
  }
  ModelSummary s;
  s.ir_version = model.ir_version();
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") s.opset = op.version();
  }
  s.producer = model.producer_name();
  if (!model.producer_version().empty()) s.producer += " " + model.producer_version();
  const ::onnx::GraphProto& g = model.graph();
  s.nodes = static_cast<size_t>(g.node_size());
  s.initializers = static_cast<size_t>(g.initializer_size());
  std::set<std::string> init_names;
  for (const auto& t : g.initializer()) init_names.insert(t.name());
  for (const auto& v : g.input()) {
    if (!init_names.count(v.name())) s.inputs.push_back(v.name());
  }
  for (const auto& v : g.output()) s.outputs.push_back(v.name());
  *out = std::move(s);
  return true;
}

bool summarize_model_file(const std::string& path, ModelSummary* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open " + path;
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) {
    *error = "cannot read " + path;
    return false;
  }
  return summarize_model(bytes.data(), bytes.size(), out, error);
}

}  // namespace kiln::onnx
