// kiln_onnx_to_kgraph IN.onnx OUT.kgraph: imports and canonicalises an ONNX model and writes kiln's
// graph file (used to refresh tests/models/*.kgraph, the aarch64 lane's copies of the test models).
#include <cstdio>
#include <fstream>

#include "kiln/onnx/importer.h"
#include "kiln/runtime/graph_io.h"
#include "kiln/runtime/model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kiln_onnx_to_kgraph IN.onnx OUT.kgraph\n");
    return 2;
  }
  kiln::Graph g;
  std::string err;
  if (!kiln::onnx::import_model_file(argv[1], &g, &err)) {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), argv[1]);
    return 1;
  }
  auto m = kiln::Model::create(std::move(g), &err);
  if (!m) {
    std::fprintf(stderr, "kiln: error: %s (%s)\n", err.c_str(), argv[1]);
    return 1;
  }
  const std::string bytes = kiln::serialize_graph(m->logical_graph());
  const std::string tmp = std::string(argv[2]) + ".tmp";
  std::ofstream f(tmp, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f || std::rename(tmp.c_str(), argv[2]) != 0) {
    std::fprintf(stderr, "kiln: error: cannot write %s\n", argv[2]);
    return 1;
  }
  return 0;
}
