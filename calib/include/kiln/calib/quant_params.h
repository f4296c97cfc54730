// Quantization parameters: turning a real range into (scale, zero point), and the fake-quantization
// helpers whose rounding and clamping are exactly those of kernels/include/kiln/kernels/requant.h
// (clamp in real-code units first, then round half to even, then add the zero point).
//
// Conventions (docs: DESIGN.md "Numerics"):
//   activations: asymmetric uint8 per tensor, codes [0, 2^bits - 1] (8 bits: 0..255, 4 bits: 0..15),
//                real = (code - zero_point) * scale; the range always contains 0 exactly.
//   weights:     symmetric per output channel, zero point 0; 8 bits [-127, 127] (never -128),
//                b < 8 bits [-2^(b-1), 2^(b-1) - 1] (4: [-8, 7], 2: [-2, 1]); scale = absmax / qmax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::calib {

struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmin = 0;
  int32_t qmax = 255;
};

// The activation a tensor's producer is fused with; the observed range is cut to what it can output
// ("ahead ReLU": a tensor produced by an op fused with ReLU uses only its non-negative range).
enum class FusedActivation : uint8_t { none, relu, relu6 };

// Smallest scale handed out (PyTorch uses float32's epsilon too): a constant tensor still gets a
// usable, finite quantizer.
inline constexpr float kMinScale = 1.1920929e-07f;

// Code range of an activation with `bits` in [2, 8]: [0, 2^bits - 1].
bool activation_code_range(int bits, int32_t* qmin, int32_t* qmax, std::string* error);
// Code range of a weight with `bits` in [2, 8]: 8 -> [-127, 127], else [-2^(b-1), 2^(b-1) - 1].
bool weight_code_range(int bits, int32_t* qmin, int32_t* qmax, std::string* error);

// Asymmetric activation parameters for the real range [min, max] (widened to contain 0, cut by the
// fused activation): scale = (max - min) / (qmax - qmin), zero_point = qmin - round_half_even(min /
// scale) clamped to [qmin, qmax]. False for a non-finite or inverted range or unsupported bits.
bool choose_activation_params(float min, float max, int bits, FusedActivation act, QuantParams* out,
                              std::string* error);
// Symmetric weight parameters for one channel with largest magnitude absmax: scale = absmax / qmax.
bool choose_weight_params(float absmax, int bits, QuantParams* out, std::string* error);

// The code of real value x: clamp(x / scale, qmin - zp, qmax - zp), round half to even, + zp.
// This is requant.h's tail applied to x / scale. NaN maps to the zero point.
int32_t quantize_value(float x, const QuantParams& p);
inline float dequantize_value(int32_t code, const QuantParams& p) {
  return static_cast<float>(code - p.zero_point) * p.scale;
}
inline float fake_quantize(float x, const QuantParams& p) { return dequantize_value(quantize_value(x, p), p); }
void fake_quantize(const float* in, float* out, size_t count, const QuantParams& p);
// Sum over elements of |x - fake_quantize(x)|^p_norm (p_norm = 2: squared error).
double quantization_error(const float* x, size_t count, const QuantParams& p, float p_norm = 2.0f);

}  // namespace kiln::calib
