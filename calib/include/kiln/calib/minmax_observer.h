// The simplest activation observer: the running minimum and maximum of every value seen.
#pragma once

#include <cstddef>

namespace kiln::calib {

class MinMaxObserver {
 public:
  // Non-finite values are counted, not folded into the range.
  void observe(const float* values, size_t count);
  bool empty() const { return seen_ == 0; }
  float min() const { return min_; }
  float max() const { return max_; }
  size_t non_finite() const { return non_finite_; }

 private:
  float min_ = 0.0f;
  float max_ = 0.0f;
  size_t seen_ = 0;
  size_t non_finite_ = 0;
};

}  // namespace kiln::calib
