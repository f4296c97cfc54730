// kiln_onnx_to_kiln IN.onnx OUT.kiln: imports and canonicalises an ONNX model and saves the float
// graph (Model::logical_graph(), what the runtime loads without canonicalising again) as a .kiln
// file. Refreshes tests/models/*.kiln, the copies of the test models that the deployable runtime
// (aarch64 lane, C API) loads, and converts models for examples/classify.
#include <array>
#include <cstdio>
#include <string>

#include "kiln/format/kiln_file.h"
#include "kiln/format/sha256.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kiln_onnx_to_kiln IN.onnx OUT.kiln\n");
    return 2;
  }
  const std::string in = argv[1], out = argv[2];
  kiln::Graph g;
  std::string err;
  if (!kiln::onnx::import_model_file(in, &g, &err)) {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), in.c_str());
    return 1;
  }
  auto m = kiln::Model::create(std::move(g), &err);
  if (!m) {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), in.c_str());
    return 1;
  }
  kiln::KilnMetadata meta;
  std::array<uint8_t, 32> hash{};
  if (!kiln::sha256_file(in, &hash, &err)) {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), in.c_str());
    return 1;
  }
  meta.source_model_sha256.assign(hash.begin(), hash.end());
  meta.source_model_name = in.substr(in.find_last_of('/') + 1);  // npos + 1 == 0: the whole name
  if (!kiln::save_kiln(m->logical_graph(), meta, out, &err)) {  // atomic: temporary file + rename
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), out.c_str());
    return 1;
  }
  return 0;
}
