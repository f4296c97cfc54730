#include "kiln/calib/recon/quantizers.h"

#include <algorithm>
#include <cmath>

namespace kiln::calib::recon {
namespace {

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

}  // namespace

QDropSampler::QDropSampler(uint64_t seed, uint64_t step, float p) {
  const uint64_t base = mix(seed ^ (step * 0x9e3779b97f4a7c15ull));
  lo_ = static_cast<uint32_t>(base);
  hi_ = static_cast<uint32_t>(base >> 32);
  // u = top24 / 2^24 < p  <=>  top24 < p * 2^24 (exact in float) <=> top24 < ceil(p * 2^24).
  const double t = std::ceil(static_cast<double>(std::clamp(p, 0.0f, 1.0f) * 16777216.0f));
  threshold_ = static_cast<uint32_t>(t);
}

void QDropSampler::fill(uint32_t first, size_t count, uint8_t* keep_float) const {
  for (size_t i = 0; i < count; ++i) {  // vectorised: 32-bit integer operations only
    keep_float[i] = (hash(first + static_cast<uint32_t>(i)) >> 8) < threshold_ ? 1 : 0;
  }
}

bool qdrop_keeps_float(uint64_t seed, uint64_t step, uint32_t index, float p) {
  return QDropSampler(seed, step, p).keeps_float(index);
}

// ---- AdaRound ----

std::string AdaRoundQuantizer::init(const float* w, size_t channels, size_t per_channel,
                                    const std::vector<QuantParams>& params) {
  if (params.size() != channels) return "AdaRound: one QuantParams per channel expected";
  params_ = params;
  per_channel_ = per_channel;
  hard_ = false;
  floor_.resize(channels * per_channel);
  v_.resize(channels * per_channel);
  nearest_.resize(channels * per_channel);
  for (size_t c = 0; c < channels; ++c) {
    const float s = params[c].scale;
    if (s == 0.0f || !std::isfinite(s)) return "AdaRound: zero or non-finite scale in channel " + std::to_string(c);
    for (size_t k = 0; k < per_channel; ++k) {
      const size_t i = c * per_channel + k;
      if (!std::isfinite(w[i])) return "AdaRound: non-finite weight in channel " + std::to_string(c);
      const float u = w[i] / s;
      const float fl = std::floor(u);
      floor_[i] = fl;
      nearest_[i] = std::nearbyint(u);
      // h(V) = u - floor: sigmoid(V) = (rest - gamma) / (zeta - gamma), inside (0, 1) since rest in [0, 1).
      const float sig = (u - fl - kAdaRoundGamma) / (kAdaRoundZeta - kAdaRoundGamma);
      v_[i] = std::log(sig / (1.0f - sig));
    }
  }
  return "";
}

float AdaRoundQuantizer::h(size_t i) const {
  return std::clamp(sigmoid(v_[i]) * (kAdaRoundZeta - kAdaRoundGamma) + kAdaRoundGamma, 0.0f, 1.0f);
}

void AdaRoundQuantizer::soft_weights(float* out) const {
  if (hard_) {
    hard_weights(out);
    return;
  }
  for (size_t c = 0; c < params_.size(); ++c) {
    const QuantParams& p = params_[c];
    for (size_t k = 0; k < per_channel_; ++k) {
      const size_t i = c * per_channel_ + k;
      const float code = std::clamp(floor_[i] + h(i), static_cast<float>(p.qmin), static_cast<float>(p.qmax));
      out[i] = p.scale * code;
    }
  }
}

void AdaRoundQuantizer::backward(const float* grad_w, float* grad_v) const {
  for (size_t c = 0; c < params_.size(); ++c) {
    const QuantParams& p = params_[c];
    for (size_t k = 0; k < per_channel_; ++k) {
      const size_t i = c * per_channel_ + k;
      const float sig = sigmoid(v_[i]);
      const float hu = sig * (kAdaRoundZeta - kAdaRoundGamma) + kAdaRoundGamma;
      if (hu <= 0.0f || hu >= 1.0f) continue;  // clipped h
      const float code = floor_[i] + hu;
      if (code <= static_cast<float>(p.qmin) || code >= static_cast<float>(p.qmax)) continue;  // clamped code
      grad_v[i] += grad_w[i] * p.scale * (kAdaRoundZeta - kAdaRoundGamma) * sig * (1.0f - sig);
    }
  }
}

double AdaRoundQuantizer::regularizer(float lambda, float beta, float* grad_v) const {
  double sum = 0.0;
  for (size_t i = 0; i < v_.size(); ++i) {
    const float sig = sigmoid(v_[i]);
    const float hu = sig * (kAdaRoundZeta - kAdaRoundGamma) + kAdaRoundGamma;
    const float hv = std::clamp(hu, 0.0f, 1.0f);
    const float d = 2.0f * hv - 1.0f, a = std::fabs(d);
    sum += 1.0 - std::pow(static_cast<double>(a), static_cast<double>(beta));
    if (grad_v && hu > 0.0f && hu < 1.0f && a > 0.0f) {
      // d/dh (1 - |2h-1|^beta) = -2 beta |2h-1|^(beta-1) sign(2h-1)
      const float dh = -2.0f * beta * std::pow(a, beta - 1.0f) * (d > 0.0f ? 1.0f : -1.0f);
      grad_v[i] += lambda * dh * (kAdaRoundZeta - kAdaRoundGamma) * sig * (1.0f - sig);
    }
  }
  return lambda * sum;
}

void AdaRoundQuantizer::hard_codes(int8_t* codes) const {
  for (size_t c = 0; c < params_.size(); ++c) {
    const QuantParams& p = params_[c];
    for (size_t k = 0; k < per_channel_; ++k) {
      const size_t i = c * per_channel_ + k;
      const float code = floor_[i] + (h(i) >= 0.5f ? 1.0f : 0.0f);
      codes[i] = static_cast<int8_t>(std::clamp(static_cast<int32_t>(code), p.qmin, p.qmax));
    }
  }
}

void AdaRoundQuantizer::hard_weights(float* out) const {
  std::vector<int8_t> codes(v_.size());
  hard_codes(codes.data());
  for (size_t c = 0; c < params_.size(); ++c) {
    for (size_t k = 0; k < per_channel_; ++k) {
      const size_t i = c * per_channel_ + k;
      out[i] = params_[c].scale * static_cast<float>(codes[i]);
    }
  }
}

void AdaRoundQuantizer::nearest_weights(float* out) const {
  for (size_t c = 0; c < params_.size(); ++c) {
    const QuantParams& p = params_[c];
    for (size_t k = 0; k < per_channel_; ++k) {
      const size_t i = c * per_channel_ + k;
      out[i] = p.scale * std::clamp(nearest_[i], static_cast<float>(p.qmin), static_cast<float>(p.qmax));
    }
  }
}

// ---- LSQ ----

namespace {

// Round half to even of a float already clamped to a code range (|u| <= 2^22): adding and removing
// 1.5 * 2^23 rounds in the FPU's default mode, exactly like std::nearbyint, and unlike the libm call
// it vectorises. -ffp-contract=off and no -ffast-math keep the compiler from folding it away.
inline float round_clamped(float u) {
  constexpr float kMagic = 12582912.0f;
  return (u + kMagic) - kMagic;
}

}  // namespace

void LsqQuantizer::forward(const float* x, float* y, size_t count, const uint8_t* keep_float) const {
  const float s = p_.scale;
  const float lo = static_cast<float>(p_.qmin - p_.zero_point), hi = static_cast<float>(p_.qmax - p_.zero_point);
  // Branch-free body (NaN -> 0, clamp, round): the compiler vectorises it.
  for (size_t i = 0; i < count; ++i) {
    float u = x[i] / s;
    u = u == u ? u : 0.0f;
    u = u < lo ? lo : u;
    u = u > hi ? hi : u;
    y[i] = round_clamped(u) * s;  // s * (code - z), code - z = round(clamped u)
  }
  if (keep_float) {
    for (size_t i = 0; i < count; ++i) {  // both loads unconditional, or the select stays a branch
      const float xi = x[i], qi = y[i];
      y[i] = keep_float[i] ? xi : qi;
    }
  }
}

void LsqQuantizer::backward(const float* x, const float* dy, float* dx, size_t count, size_t elements_per_sample,
                            double* grad_scale, const uint8_t* keep_float) const {
  const float s = p_.scale;
  const float lo = static_cast<float>(p_.qmin - p_.zero_point), hi = static_cast<float>(p_.qmax - p_.zero_point);
  // Per element: the straight-through input gradient and the element's share of the step's gradient
  // (lo or hi where clamped, round(u) - u inside), computed branch-free so that it vectorises; the
  // shares are then summed in double, in index order.
  constexpr size_t kChunk = 1024;
  float share[kChunk];
  double gs = 0.0;
  for (size_t c0 = 0; c0 < count; c0 += kChunk) {
    const size_t nc = std::min(kChunk, count - c0);
    const float* xc = x + c0;
    const float* gc = dy + c0;
    float* dc = dx + c0;
    for (size_t i = 0; i < nc; ++i) {
      const float u = xc[i] / s;
      const float g = gc[i];
      float c = u < lo ? lo : u;  // lo or hi where clamped
      c = c > hi ? hi : c;
      const float d = round_clamped(c) - c;  // computed for every element: no branch to convert
      float m = u > lo ? 1.0f : 0.0f;
      m = u < hi ? m : 0.0f;
      share[i] = g * (m * d + (1.0f - m) * c);
      dc[i] = m * g;
    }
    if (keep_float) {
      const uint8_t* kc = keep_float + c0;
      for (size_t i = 0; i < nc; ++i) {  // loads unconditional, so the selects vectorise
        const float g = gc[i], d = dc[i], sh = share[i];
        share[i] = kc[i] ? 0.0f : sh;
        dc[i] = kc[i] ? g : d;
      }
    }
    gs += sum_in_order(share, nc);
  }
  const double n = static_cast<double>(elements_per_sample ? elements_per_sample : 1);
  const double qmax = static_cast<double>(std::max(1, p_.qmax));
  *grad_scale += gs / std::sqrt(n * qmax);
}

}  // namespace kiln::calib::recon
