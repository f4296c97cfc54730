#include "kiln/calib/weight_quant.h"

#include <cmath>
#include <limits>

namespace kiln::calib {

bool parse_weight_range_method(const std::string& text, WeightRangeMethod* out, std::string* error) {
  if (text == "absmax" || text == "minmax") {
    *out = WeightRangeMethod::absmax;
  } else if (text == "mse") {
    *out = WeightRangeMethod::mse;
  } else {
    *error = "weight range method '" + text + "' is not absmax or mse";
    return false;
  }
  return true;
}

bool choose_weight_params_per_channel(const float* w, size_t channels, size_t per_channel,
                                      const WeightQuantOptions& o, std::vector<QuantParams>* out,
                                      std::string* error) {
  if (o.grid < 1 || !(o.p_norm > 0.0f)) {
    *error = "weight search needs grid >= 1 and a positive norm";
    return false;
  }
  std::vector<QuantParams> params(channels);
  for (size_t c = 0; c < channels; ++c) {
    const float* row = w + c * per_channel;
    float absmax = 0.0f;
    for (size_t k = 0; k < per_channel; ++k) {
      if (!std::isfinite(row[k])) {
        *error = "weight channel " + std::to_string(c) + " holds a " + (std::isnan(row[k]) ? "NaN" : "infinity");
        return false;
      }
      absmax = std::fmax(absmax, std::fabs(row[k]));
    }
    QuantParams best;
    if (!choose_weight_params(absmax, o.bits, &best, error)) return false;
    // Codes below 8 bits span [-2^(b-1), 2^(b-1) - 1]: one more level below zero than above. A
    // channel whose large weights are positive uses the grid better with a negative scale (codes
    // of -w), which the kernels take as they are: the scale only enters the fp32 multiplier.
    const bool lopsided = best.qmin != -best.qmax;
    if (o.method == WeightRangeMethod::mse && absmax > 0.0f) {
      double best_err = quantization_error(row, per_channel, best, o.p_norm);
      for (int sign = 1; sign >= (lopsided ? -1 : 1); sign -= 2) {
        for (int k = o.grid; k >= 1; --k) {  // narrower clipping ranges; ties keep the wider one
          if (sign == 1 && k == o.grid) continue;  // the starting point
          QuantParams qp;
          const float a = static_cast<float>(k) / static_cast<float>(o.grid);
          if (!choose_weight_params(a * absmax, o.bits, &qp, error)) return false;
          qp.scale *= static_cast<float>(sign);
          const double err = quantization_error(row, per_channel, qp, o.p_norm);
          if (err < best_err) {
            best_err = err;
            best = qp;
          }
        }
      }
    }
    params[c] = best;
  }
  *out = std::move(params);
  return true;
}

void quantize_weights(const float* w, size_t channels, size_t per_channel, const std::vector<QuantParams>& params,
                      int8_t* codes) {
  for (size_t c = 0; c < channels; ++c) {
    for (size_t k = 0; k < per_channel; ++k) {
      codes[c * per_channel + k] = static_cast<int8_t>(quantize_value(w[c * per_channel + k], params[c]));
    }
  }
}

void fake_quantize_weights(const float* w, size_t channels, size_t per_channel,
                           const std::vector<QuantParams>& params, float* out) {
  for (size_t c = 0; c < channels; ++c) fake_quantize(w + c * per_channel, out + c * per_channel, per_channel, params[c]);
}

}  // namespace kiln::calib
