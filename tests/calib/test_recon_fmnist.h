// Test helpers: the Fashion-MNIST demo models as Float' graphs, and training images through them
// (Debian's dataset-fashion-mnist; deterministic synthetic images when it is not installed).
#pragma once

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kiln/calib/data/idx.h"
#include "kiln/calib/recon/units.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

namespace kiln::calib::recon::testing {

inline bool load_demo(const std::string& name, Graph* out, std::string* e) {
  Graph g;
  if (!kiln::onnx::import_model_file(std::string(KILN_EXAMPLES_DIR) + "/fashion-mnist/" + name + ".onnx", &g, e))
    return false;
  auto m = Model::create(g, e);
  if (!m) return false;
  *out = m->logical_graph();
  return true;
}

// `count` normalised 28x28 images ([count, 28, 28, 1] == NCHW with one channel).
inline std::vector<float> fmnist_images(size_t count) {
  std::vector<float> x(count * 784);
  IdxReader r;
  std::string e;
  if (r.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &e) && r.items() >= count &&
      r.item_elements() == 784 && r.read_next(count, x.data(), &e)) {
    for (float& v : x) v = (v / 255.0f - 0.2860f) / 0.3530f;
    return x;
  }
  std::mt19937 rng(99);  // synthetic: smooth blobs, roughly the data's value range
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  for (size_t i = 0; i < count; ++i) {
    const float cx = 8 + 12 * d(rng), cy = 8 + 12 * d(rng), rad = 4 + 6 * d(rng);
    for (size_t p = 0; p < 784; ++p) {
      const float dx = static_cast<float>(p % 28) - cx, dy = static_cast<float>(p / 28) - cy;
      const float v = std::exp(-(dx * dx + dy * dy) / (2 * rad * rad)) + 0.1f * d(rng);
      x[i * 784 + p] = (v - 0.2860f) / 0.3530f;
    }
  }
  return x;
}

// Runs the float model unit by unit (block granularity) and returns every unit boundary value
// (graph value id -> NHWC data for `n` samples).
inline bool float_activations(const Graph& g, const std::vector<float>& images, size_t n,
                              std::map<int, std::vector<float>>* values, std::string* e) {
  std::vector<ReconUnit> units;
  if (!list_units(g, Granularity::block, &units, e)) return false;
  (*values)[g.inputs[0]] = images;
  for (const ReconUnit& u : units) {
    Block b;
    if (!build_block(g, u, &b, e)) return false;
    std::vector<const float*> in;
    for (int v : u.inputs) {
      auto it = values->find(v);
      if (it == values->end()) {
        *e = "unit input not computed";
        return false;
      }
      in.push_back(it->second.data());
    }
    if (!(*e = b.forward(in, n)).empty()) return false;
    (*values)[u.output].assign(b.output(), b.output() + n * b.output_dims().elements());
  }
  return true;
}

}  // namespace kiln::calib::recon::testing
