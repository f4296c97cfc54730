#include "kiln/calib/ema_minmax_observer.h"

#include <cmath>

namespace kiln::calib {

void EmaMinMaxObserver::observe(const float* values, size_t count) {
  bool any = false;
  float lo = 0.0f, hi = 0.0f;
  for (size_t i = 0; i < count; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) {
      ++non_finite_;
      continue;
    }
    if (!any) {
      lo = hi = v;
      any = true;
    } else {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  }
  if (!any) return;  // a batch with no finite value does not move the average
  if (batches_ == 0) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = min_ + c_ * (lo - min_);
    max_ = max_ + c_ * (hi - max_);
  }
  ++batches_;
}

}  // namespace kiln::calib
