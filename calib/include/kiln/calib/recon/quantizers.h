// The quantizers reconstruction trains, with their gradients:
//
//   AdaRound (weights, per output channel, scale s fixed by the MSE weight observer):
//     h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1), zeta = 1.1, gamma = -0.1
//     soft code = clamp(floor(w / s) + h(V), qmin, qmax), soft weight = s * soft code
//     V starts where floor(w / s) + h(V) = w / s; the hard code at the end is floor(w / s) + (h >= 0.5),
//     clamped: exactly the integer the frozen model stores.
//     regulariser: lambda * sum (1 - |2 h - 1|^beta).
//   LSQ (activations, per tensor, zero point fixed): code = requant.h's tail of x / s, i.e.
//     clamp(x / s, qmin - z, qmax - z), round half to even, + z; output s * (code - z).
//     d/dx: 1 inside the range, 0 outside (straight-through); d/ds: round(u) - u inside,
//     (qmin - z) or (qmax - z) outside (u = x / s), times the gradient scale 1 / sqrt(N qmax).
//   QDrop: per element, with probability p, the activation passes unquantized (gradient 1 to x,
//     nothing to s). The choice is a hash of (seed, step, element): same for any thread count. The
//     caller draws the choices once per step into a mask (QDropSampler::fill) that forward and
//     backward share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"

namespace kiln::calib::recon {

inline constexpr float kAdaRoundZeta = 1.1f;
inline constexpr float kAdaRoundGamma = -0.1f;

class AdaRoundQuantizer {
 public:
  // w: [channels][per_channel]; params: one per channel (symmetric, zero point 0).
  std::string init(const float* w, size_t channels, size_t per_channel, const std::vector<QuantParams>& params);
  size_t size() const { return v_.size(); }
  size_t channels() const { return params_.size(); }
  const std::vector<QuantParams>& params() const { return params_; }
  std::vector<float>& v() { return v_; }
  const std::vector<float>& v() const { return v_; }

  float h(size_t i) const;
  // Soft weights s * clamp(floor + h(V), qmin, qmax) (or hard ones once hardened).
  void soft_weights(float* out) const;
  // Accumulates dL/dV into grad_v from dL/dw_soft (same layout as the weights).
  void backward(const float* grad_w, float* grad_v) const;
  // lambda * sum (1 - |2h - 1|^beta); adds its gradient to grad_v when non-null.
  double regularizer(float lambda, float beta, float* grad_v) const;
  // Integer codes floor + (h >= 0.5), clamped: what freeze stores.
  void hard_codes(int8_t* codes) const;
  // Hard weights s * hard code.
  void hard_weights(float* out) const;
  // From now on soft_weights() gives the hard weights (evaluation after reconstruction).
  void set_hard(bool hard) { hard_ = hard; }
  bool hard() const { return hard_; }
  // Codes of round-to-nearest (the baseline AdaRound improves on).
  void nearest_weights(float* out) const;

 private:
  std::vector<QuantParams> params_;
  std::vector<float> floor_;  // floor(w / s)
  std::vector<float> v_;
  std::vector<float> nearest_;  // round_half_even(w / s), before clamping
  size_t per_channel_ = 0;
  bool hard_ = false;
};

// Learned-step-size activation quantizer (LSQ) with an optional QDrop probability.
class LsqQuantizer {
 public:
  void init(const QuantParams& p) { p_ = p; }
  const QuantParams& params() const { return p_; }
  float scale() const { return p_.scale; }
  void set_scale(float s) { p_.scale = s < kMinScale ? kMinScale : s; }

  // y = fake-quantized x; where keep_float[i] != 0 (QDrop), x passes unchanged. keep_float may be null.
  void forward(const float* x, float* y, size_t count, const uint8_t* keep_float = nullptr) const;
  // dx from dy (may alias dy), and the scale gradient (gradient-scaled) added to *grad_scale.
  // `elements_per_sample` is LSQ's N (the features of one sample). Same keep_float as forward.
  void backward(const float* x, const float* dy, float* dx, size_t count, size_t elements_per_sample,
                double* grad_scale, const uint8_t* keep_float = nullptr) const;

 private:
  QuantParams p_;
};

// QDrop's per-element choice for one (seed, step): element `index` keeps its float value with
// probability p. Counter-based and stateless (a function of seed, step and index only), so results do
// not depend on threads or on the order of evaluation. The step's 64-bit hash is computed once per
// sampler; each element then costs one 32-bit hash (Wellons' lowbias32: 32-bit multiplies, which
// vectorise where 64-bit ones do not; indices beyond 2^32 are not needed, a mask covers one batch).
class QDropSampler {
 public:
  QDropSampler(uint64_t seed, uint64_t step, float p);
  bool keeps_float(uint32_t index) const { return (hash(index) >> 8) < threshold_; }
  // keep_float[i] = keeps_float(first + i) for i < count, as 0 / 1 bytes.
  void fill(uint32_t first, size_t count, uint8_t* keep_float) const;

  static uint64_t mix(uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint32_t hash(uint32_t index) const {
    uint32_t x = (index + lo_) ^ hi_;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    return x ^ (x >> 16);
  }
  uint32_t lo_ = 0, hi_ = 0;  // the step's hash
  uint32_t threshold_ = 0;    // keeps float iff the top 24 bits of the element's hash are below it
};

// Sum in double over four interleaved chains, always in the same order: deterministic, and not one
// long dependency chain (the LSQ step gradient and the reconstruction loss both use it).
inline double sum_in_order(const float* x, size_t n) {
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t j = 0; j < 4; ++j) part[j] += static_cast<double>(x[i + j]);
  }
  for (; i < n; ++i) part[0] += static_cast<double>(x[i]);
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// One element's choice (QDropSampler(seed, step, p).keeps_float(index)).
bool qdrop_keeps_float(uint64_t seed, uint64_t step, uint32_t index, float p);

}  // namespace kiln::calib::recon
