#include "kiln/calib/quant_params.h"

#include <algorithm>
#include <cmath>

#include "kiln/kernels/requant.h"

namespace kiln::calib {

bool activation_code_range(int bits, int32_t* qmin, int32_t* qmax, std::string* error) {
  if (bits < 2 || bits > 8) {
    *error = "activation bits must be in [2, 8], got " + std::to_string(bits);
    return false;
  }
  *qmin = 0;
  *qmax = (1 << bits) - 1;
  return true;
}

bool weight_code_range(int bits, int32_t* qmin, int32_t* qmax, std::string* error) {
  if (bits < 2 || bits > 8) {
    *error = "weight bits must be in [2, 8], got " + std::to_string(bits);
    return false;
  }
  // int8 never uses -128 (negation and sign tricks stay exact); narrower types use their full range.
  *qmax = (1 << (bits - 1)) - 1;
  *qmin = bits == 8 ? -127 : -(1 << (bits - 1));
  return true;
}

bool choose_activation_params(float min, float max, int bits, FusedActivation act, QuantParams* out,
                              std::string* error) {
  QuantParams p;
  if (!activation_code_range(bits, &p.qmin, &p.qmax, error)) return false;
  if (!std::isfinite(min) || !std::isfinite(max) || min > max) {
    *error = "invalid activation range [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    return false;
  }
  if (act != FusedActivation::none) {
    min = std::max(min, 0.0f);
    max = std::max(max, 0.0f);
  }
  if (act == FusedActivation::relu6) {
    min = std::min(min, 6.0f);
    max = std::min(max, 6.0f);
  }
  min = std::min(min, 0.0f);
  max = std::max(max, 0.0f);
  const float span = static_cast<float>(p.qmax - p.qmin);
  p.scale = std::max((max - min) / span, kMinScale);
  const float zp = static_cast<float>(p.qmin) - kernels::round_half_even(min / p.scale);
  p.zero_point = static_cast<int32_t>(std::clamp(zp, static_cast<float>(p.qmin), static_cast<float>(p.qmax)));
  *out = p;
  return true;
}

bool choose_weight_params(float absmax, int bits, QuantParams* out, std::string* error) {
  QuantParams p;
  if (!weight_code_range(bits, &p.qmin, &p.qmax, error)) return false;
  if (!std::isfinite(absmax) || absmax < 0.0f) {
    *error = "invalid weight magnitude " + std::to_string(absmax);
    return false;
  }
  p.zero_point = 0;
  p.scale = std::max(absmax / static_cast<float>(p.qmax), kMinScale);
  *out = p;
  return true;
}

int32_t quantize_value(float x, const QuantParams& p) {
  float v = x / p.scale;
  if (std::isnan(v)) return p.zero_point;
  // The same steps, in the same order, as kernels::requantize after its multiply.
  const float lo = static_cast<float>(p.qmin - p.zero_point);
  const float hi = static_cast<float>(p.qmax - p.zero_point);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<int32_t>(kernels::round_half_even(v)) + p.zero_point;
}

void fake_quantize(const float* in, float* out, size_t count, const QuantParams& p) {
  for (size_t i = 0; i < count; ++i) out[i] = fake_quantize(in[i], p);
}

double quantization_error(const float* x, size_t count, const QuantParams& p, float p_norm) {
  double sum = 0.0;
  for (size_t i = 0; i < count; ++i) {
    const double e = std::fabs(static_cast<double>(x[i]) - static_cast<double>(fake_quantize(x[i], p)));
    sum += p_norm == 2.0f ? e * e : std::pow(e, static_cast<double>(p_norm));
  }
  return sum;
}

}  // namespace kiln::calib
