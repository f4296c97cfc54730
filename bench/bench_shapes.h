// Reads the layer shapes every kernel benchmark reports (shared/bench/shapes.json).
// The file is found at KILN_BENCH_SHAPES (environment) if set, else at the path compiled in
// (KILN_SHAPES_JSON_DEFAULT: <repo>/../shared/bench/shapes.json).
#pragma once

#include <string>
#include <vector>

namespace kiln::bench {

struct GemmShape {
  std::string name;
  size_t m = 0, k = 0, n = 0;
};

struct ConvShape {
  std::string name;
  size_t h = 0, w = 0, cin = 0, cout = 0, kernel = 0, stride = 1, pad = 0, groups = 1;
};

struct Shapes {
  std::vector<GemmShape> gemm;
  std::vector<ConvShape> conv;
  std::string path;   // the file read
  std::string error;  // empty on success
};

// Reads the file once (thread-safe) and returns the same result on every call.
const Shapes& shapes();
// Parses JSON text in the shapes.json schema; for tests and other callers.
Shapes parse_shapes(const std::string& json_text);

}  // namespace kiln::bench
