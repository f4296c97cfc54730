// Exponential moving average of per-batch minima and maxima (PyTorch's MovingAverageMinMaxObserver):
//   first batch: min = batch_min;  later: min = min + c * (batch_min - min)   (the same for max).
// Each observe() call is one batch. Non-finite values are counted and left out.
#pragma once

#include <cstddef>

namespace kiln::calib {

class EmaMinMaxObserver {
 public:
  explicit EmaMinMaxObserver(float averaging_constant = 0.01f) : c_(averaging_constant) {}
  void observe(const float* values, size_t count);
  bool empty() const { return batches_ == 0; }
  float min() const { return min_; }
  float max() const { return max_; }
  size_t batches() const { return batches_; }
  size_t non_finite() const { return non_finite_; }

 private:
  float c_;
  float min_ = 0.0f;
  float max_ = 0.0f;
  size_t batches_ = 0;
  size_t non_finite_ = 0;
};

}  // namespace kiln::calib
