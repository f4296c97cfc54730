// One activation tensor's observer, whichever range method is chosen: it keeps only the statistics
// that method needs (min/max, an EMA of them, or a fixed-size histogram) and turns them into the
// tensor's QuantParams at the end. Streaming: feed it every batch, in order.
#pragma once

#include <string>

#include "kiln/calib/ema_minmax_observer.h"
#include "kiln/calib/histogram_observer.h"
#include "kiln/calib/minmax_observer.h"
#include "kiln/calib/quant_params.h"

namespace kiln::calib {

enum class RangeMethod : uint8_t { minmax, ema_minmax, percentile, kl, mse };

bool parse_range_method(const std::string& text, RangeMethod* out, std::string* error);  // "minmax", "ema", ...
const char* range_method_name(RangeMethod m);

struct ActivationObserverOptions {
  RangeMethod method = RangeMethod::minmax;
  int bits = 8;                                  // 2..8 (8 and 4 are the deployable ones)
  FusedActivation activation = FusedActivation::none;
  float percentile = 99.99f;                     // percentile
  float ema_constant = 0.01f;                    // ema_minmax
  float p_norm = 2.0f;                           // mse (Lp search)
  size_t histogram_bins_per_side = 2048;         // percentile, kl, mse
};

class ActivationObserver {
 public:
  explicit ActivationObserver(const ActivationObserverOptions& options = {});
  void observe(const float* values, size_t count);  // one batch
  // Histogram methods: see HistogramObserver::expect_magnitude (others ignore it).
  void expect_magnitude(float absmax) { histogram_.expect_magnitude(absmax); }
  bool empty() const;
  size_t non_finite() const;
  // The range the method chooses (before the zero-point nudge) and the parameters for it.
  bool range(float* lo, float* hi, std::string* error) const;
  bool params(QuantParams* out, std::string* error) const;
  const ActivationObserverOptions& options() const { return options_; }

 private:
  ActivationObserverOptions options_;
  MinMaxObserver minmax_;
  EmaMinMaxObserver ema_;
  HistogramObserver histogram_;
};

}  // namespace kiln::calib
