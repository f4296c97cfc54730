// A tiny in-memory SampleSource for the quantize tests: fixed samples of one unnamed input.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/calib/data/sample_source.h"

namespace kiln::calib::testing {

class VectorSource : public SampleSource {
 public:
  VectorSource(std::vector<int64_t> sample_shape, std::vector<std::vector<float>> samples)
      : shape_(std::move(sample_shape)), samples_(std::move(samples)) {}
  size_t size() const override { return samples_.size(); }
  const std::vector<std::string>& input_names() const override { return names_; }
  std::vector<int64_t> sample_shape(size_t) const override { return shape_; }
  bool next(size_t max_samples, SampleBatch* out, std::string*) override {
    *out = SampleBatch{};
    const size_t n = std::min(max_samples, samples_.size() - pos_);
    out->count = n;
    FloatTensor t;
    t.shape = shape_;
    t.shape.insert(t.shape.begin(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) {
      t.data.insert(t.data.end(), samples_[pos_ + i].begin(), samples_[pos_ + i].end());
      out->origins.push_back("memory[" + std::to_string(pos_ + i) + "]");
    }
    out->inputs.push_back(std::move(t));
    pos_ += n;
    return true;
  }
  bool rewind(std::string*) override {
    pos_ = 0;
    return true;
  }

 private:
  std::vector<int64_t> shape_;
  std::vector<std::vector<float>> samples_;
  std::vector<std::string> names_ = {""};
  size_t pos_ = 0;
};

// Deterministic pseudo-random floats in [-1, 1) (a 64-bit LCG), for weights and perturbations.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : s_(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  float next() {
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(static_cast<double>(s_ >> 11) / 4503599627370496.0 - 1.0);
  }

 private:
  uint64_t s_;
};

}  // namespace kiln::calib::testing
