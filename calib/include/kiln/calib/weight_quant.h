// Per-output-channel symmetric weight quantization (zero point 0; below 8 bits a channel's scale may
// be negative, see choose_weight_params_per_channel). Weights are [channels][per_channel], contiguous:
// ONNX Conv's OIHW (depthwise [C,1,kh,kw] too) and Gemm's [N, K] (transB = 1) are already that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"

namespace kiln::calib {

enum class WeightRangeMethod : uint8_t {
  absmax,  // scale = max |w| / qmax: nothing is clipped
  mse,     // scale = ±a max |w| / qmax with a in {1/grid, ..., 1} minimising sum |w - fq(w)|^p_norm;
           // the negative sign only below 8 bits, where codes span one more level under zero
};

struct WeightQuantOptions {
  int bits = 8;  // 2..8; see weight_code_range
  WeightRangeMethod method = WeightRangeMethod::mse;
  float p_norm = 2.0f;
  int grid = 100;
};

bool parse_weight_range_method(const std::string& text, WeightRangeMethod* out, std::string* error);

// One QuantParams per channel. Non-finite weights are an error naming the channel.
bool choose_weight_params_per_channel(const float* w, size_t channels, size_t per_channel,
                                      const WeightQuantOptions& options, std::vector<QuantParams>* out,
                                      std::string* error);
// Integer codes, clamp(round_half_even(w / scale)) per channel.
void quantize_weights(const float* w, size_t channels, size_t per_channel, const std::vector<QuantParams>& params,
                      int8_t* codes);
// w -> fq(w) per channel (what QFloat uses).
void fake_quantize_weights(const float* w, size_t channels, size_t per_channel,
                           const std::vector<QuantParams>& params, float* out);

}  // namespace kiln::calib
