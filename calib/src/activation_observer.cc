#include "kiln/calib/activation_observer.h"

namespace kiln::calib {

bool parse_range_method(const std::string& text, RangeMethod* out, std::string* error) {
  if (text == "minmax") *out = RangeMethod::minmax;
  else if (text == "ema" || text == "ema_minmax") *out = RangeMethod::ema_minmax;
  else if (text == "percentile") *out = RangeMethod::percentile;
  else if (text == "kl" || text == "entropy") *out = RangeMethod::kl;
  else if (text == "mse") *out = RangeMethod::mse;
  else {
    *error = "range method '" + text + "' is not minmax, ema, percentile, kl or mse";
    return false;
  }
  return true;
}

const char* range_method_name(RangeMethod m) {
  switch (m) {
    case RangeMethod::minmax: return "minmax";
    case RangeMethod::ema_minmax: return "ema";
    case RangeMethod::percentile: return "percentile";
    case RangeMethod::kl: return "kl";
    case RangeMethod::mse: return "mse";
  }
  return "?";
}

namespace {
bool uses_histogram(RangeMethod m) {
  return m == RangeMethod::percentile || m == RangeMethod::kl || m == RangeMethod::mse;
}
}  // namespace

ActivationObserver::ActivationObserver(const ActivationObserverOptions& options)
    : options_(options),
      ema_(options.ema_constant),
      histogram_(uses_histogram(options.method) ? options.histogram_bins_per_side : 2) {}

void ActivationObserver::observe(const float* values, size_t count) {
  switch (options_.method) {
    case RangeMethod::minmax: minmax_.observe(values, count); break;
    case RangeMethod::ema_minmax: ema_.observe(values, count); break;
    default: histogram_.observe(values, count); break;
  }
}

bool ActivationObserver::empty() const {
  switch (options_.method) {
    case RangeMethod::minmax: return minmax_.empty();
    case RangeMethod::ema_minmax: return ema_.empty();
    default: return histogram_.empty();
  }
}

size_t ActivationObserver::non_finite() const {
  switch (options_.method) {
    case RangeMethod::minmax: return minmax_.non_finite();
    case RangeMethod::ema_minmax: return ema_.non_finite();
    default: return histogram_.non_finite();
  }
}

bool ActivationObserver::range(float* lo, float* hi, std::string* error) const {
  if (empty()) {
    *error = "no finite values were observed";
    return false;
  }
  switch (options_.method) {
    case RangeMethod::minmax:
      *lo = minmax_.min();
      *hi = minmax_.max();
      return true;
    case RangeMethod::ema_minmax:
      *lo = ema_.min();
      *hi = ema_.max();
      return true;
    case RangeMethod::percentile: return percentile_range(histogram_, options_.percentile, lo, hi, error);
    case RangeMethod::kl: return kl_range(histogram_, options_.bits, options_.activation, lo, hi, error);
    case RangeMethod::mse:
      return lp_range(histogram_, options_.bits, options_.activation, options_.p_norm, lo, hi, error);
  }
  return false;
}

bool ActivationObserver::params(QuantParams* out, std::string* error) const {
  float lo = 0.0f, hi = 0.0f;
  if (!range(&lo, &hi, error)) return false;
  return choose_activation_params(lo, hi, options_.bits, options_.activation, out, error);
}

}  // namespace kiln::calib
