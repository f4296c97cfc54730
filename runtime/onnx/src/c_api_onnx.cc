#include "kiln/c_api_internal.h"
#include "kiln/kiln_onnx.h"
#include "kiln/onnx/importer.h"

namespace {
template <class Import>
kiln_status load(Import&& import, kiln_model** out) {
  if (!out) return kiln::set_last_error("null argument");
  *out = nullptr;
  try {
    kiln::Graph g;
    std::string err;
    if (!import(&g, &err)) return kiln::set_last_error(err);
    auto model = kiln::Model::create(std::move(g), &err);
    if (!model) return kiln::set_last_error(err);
    *out = kiln::wrap_model(std::move(model));
    kiln::set_last_error("");
    return KILN_OK;
  } catch (const std::exception& e) {
    return kiln::set_last_error(std::string("internal error: ") + e.what());
  }
}
}  // namespace

extern "C" {

kiln_status kiln_model_load_onnx_file(const char* path, kiln_model** out) {
  if (!path) return kiln::set_last_error("null argument");
  return load([&](kiln::Graph* g, std::string* e) { return kiln::onnx::import_model_file(path, g, e); }, out);
}

kiln_status kiln_model_load_onnx_memory(const void* data, size_t size, kiln_model** out) {
  if (!data && size) return kiln::set_last_error("null argument");
  return load([&](kiln::Graph* g, std::string* e) { return kiln::onnx::import_model(data, size, g, e); }, out);
}

}  // extern "C"
