#include "kiln/calib/minmax_observer.h"

#include <cmath>

namespace kiln::calib {

void MinMaxObserver::observe(const float* values, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) {
      ++non_finite_;
      continue;
    }
    if (seen_ == 0) {
      min_ = max_ = v;
    } else {
      min_ = v < min_ ? v : min_;
      max_ = v > max_ ? v : max_;
    }
    ++seen_;
  }
}

}  // namespace kiln::calib
