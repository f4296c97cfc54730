#include "kiln/calib/histogram_observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::calib {

HistogramObserver::HistogramObserver(size_t bins_per_side)
    : half_(std::max<size_t>(2, bins_per_side + (bins_per_side & 1))), counts_(2 * half_, 0) {}

void HistogramObserver::grow_to(double magnitude) {
  if (range_ == 0.0) {
    range_ = magnitude;
    counts_[half_] += zeros_before_range_;  // bin [0, w)
    zeros_before_range_ = 0;
    return;
  }
  while (magnitude > range_) {
    // Bin j covers [(j - B) w, (j - B + 1) w); with w doubled it falls in bin floor((j + B) / 2).
    std::vector<uint64_t> merged(counts_.size(), 0);
    for (size_t j = 0; j < counts_.size(); ++j) merged[(j + half_) / 2] += counts_[j];
    counts_.swap(merged);
    range_ *= 2.0;
  }
}

void HistogramObserver::expect_magnitude(float absmax) {
  if (total_ == 0 && range_ == 0.0 && std::isfinite(absmax) && absmax > 0.0f) range_ = absmax;
}

void HistogramObserver::observe(const float* values, size_t count) {
  float absmax = 0.0f;
  for (size_t i = 0; i < count; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) continue;
    absmax = std::max(absmax, std::fabs(v));
  }
  if (absmax > range_) grow_to(absmax);
  const double inv_w = range_ > 0.0 ? static_cast<double>(half_) / range_ : 0.0;
  const int64_t last = static_cast<int64_t>(counts_.size()) - 1;
  for (size_t i = 0; i < count; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) {
      ++non_finite_;
      continue;
    }
    if (total_ == 0) {
      min_ = max_ = v;
    } else {
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
    ++total_;
    zeros_ += v == 0.0f;
    if (range_ == 0.0) {  // v is 0: R is not known yet
      ++zeros_before_range_;
      continue;
    }
    int64_t j = static_cast<int64_t>(std::floor(static_cast<double>(v) * inv_w)) + static_cast<int64_t>(half_);
    j = std::clamp<int64_t>(j, 0, last);
    ++counts_[static_cast<size_t>(j)];
  }
}

namespace {

bool check_nonempty(const HistogramObserver& h, std::string* error) {
  if (h.empty()) {
    *error = "no finite values were observed";
    return false;
  }
  return true;
}

}  // namespace

bool percentile_range(const HistogramObserver& h, float percentile, float* lo, float* hi, std::string* error) {
  if (!check_nonempty(h, error)) return false;
  if (!(percentile > 0.0f && percentile <= 100.0f)) {
    *error = "percentile must be in (0, 100]";
    return false;
  }
  if (h.half_range() == 0.0) {
    *lo = *hi = 0.0f;
    return true;
  }
  const auto& c = h.counts();
  const double w = h.bin_width(), r = h.half_range();
  const double tail = static_cast<double>(h.total()) * (100.0 - static_cast<double>(percentile)) / 200.0;
  // Lower edge: walk up from the left until the cumulative count passes `tail`.
  double cum = 0.0, low = -r, high = r;
  for (size_t j = 0; j < c.size(); ++j) {
    const double cj = static_cast<double>(c[j]);
    if (cum + cj > tail) {
      low = -r + w * (static_cast<double>(j) + (tail - cum) / cj);
      break;
    }
    cum += cj;
  }
  cum = 0.0;
  for (size_t j = c.size(); j-- > 0;) {
    const double cj = static_cast<double>(c[j]);
    if (cum + cj > tail) {
      high = -r + w * (static_cast<double>(j + 1) - (tail - cum) / cj);
      break;
    }
    cum += cj;
  }
  *lo = std::max(static_cast<float>(low), h.min());
  *hi = std::min(static_cast<float>(high), h.max());
  if (*lo > *hi) *lo = *hi = h.min();  // a single spike
  return true;
}

namespace {

// KL(p || q) of two unnormalised distributions after MXNet/TensorRT-style smoothing: zero entries get
// eps, taken proportionally from the non-zero ones. Returns +inf when either has no mass.
double smoothed_kl(std::vector<double>& p, std::vector<double>& q) {
  constexpr double eps = 1e-4;
  auto normalise_and_smooth = [](std::vector<double>& d) {
    double sum = 0.0;
    size_t zeros = 0;
    for (double v : d) {
      sum += v;
      zeros += v == 0.0;
    }
    if (sum <= 0.0 || zeros == d.size()) return false;
    const double eps1 = eps * static_cast<double>(zeros) / static_cast<double>(d.size() - zeros);
    for (double& v : d) v = v == 0.0 ? eps : v / sum - eps1;
    return true;
  };
  if (!normalise_and_smooth(p) || !normalise_and_smooth(q)) return std::numeric_limits<double>::infinity();
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] > 0.0 && q[i] > 0.0) kl += p[i] * std::log(p[i] / q[i]);
  }
  return kl;
}

}  // namespace

bool kl_range(const HistogramObserver& h, int bits, FusedActivation act, float* lo, float* hi, std::string* error) {
  if (!check_nonempty(h, error)) return false;
  int32_t qmin = 0, qmax = 0;
  if (!activation_code_range(bits, &qmin, &qmax, error)) return false;
  const bool non_negative = act != FusedActivation::none || h.min() >= 0.0f;
  if (h.half_range() == 0.0) {
    *lo = *hi = 0.0f;
    return true;
  }
  // Histogram of |x| (of max(x, 0) under a fused ReLU) without the values that become exactly 0:
  // zero is a code whatever the threshold, so they carry no error to weigh, and as a spike in the
  // first bin (half of a ReLU's outputs) they made the divergence favour the smallest thresholds,
  // where the first merged bin is that spike alone: 4-bit activations were clipped to a few bin
  // widths (10% top-1 on the demo models), 8-bit ReLU6 outputs to a quarter of their range.
  const size_t b = h.bins_per_side();
  const auto& c = h.counts();
  std::vector<double> abs_hist(b, 0.0);
  for (size_t k = 0; k < b; ++k) {
    abs_hist[k] = static_cast<double>(c[b + k]);
    if (act == FusedActivation::none) abs_hist[k] += static_cast<double>(c[b - 1 - k]);
  }
  abs_hist[0] = std::max(0.0, abs_hist[0] - static_cast<double>(h.zeros()));  // exact zeros sit in bin [0, w)
  const size_t levels = non_negative ? static_cast<size_t>(qmax) + 1 : (static_cast<size_t>(qmax) + 1) / 2;
  double best_kl = std::numeric_limits<double>::infinity();
  size_t best_i = b;
  std::vector<double> p, q;
  for (size_t i = std::min(levels, b); i <= b; ++i) {
    // Reference: the first i bins, the clipped outliers added to the last one.
    p.assign(abs_hist.begin(), abs_hist.begin() + static_cast<std::ptrdiff_t>(i));
    double outliers = 0.0;
    for (size_t k = i; k < b; ++k) outliers += abs_hist[k];
    p[i - 1] += outliers;
    // Candidate: the first i bins merged into `levels` groups, each group's mass spread evenly over
    // the group's non-empty bins.
    q.assign(i, 0.0);
    const size_t per = i / levels;
    for (size_t g = 0; g < levels; ++g) {
      const size_t start = g * per;
      const size_t stop = g + 1 == levels ? i : start + per;
      double mass = 0.0;
      size_t nonzero = 0;
      for (size_t k = start; k < stop; ++k) {
        mass += abs_hist[k];
        nonzero += abs_hist[k] != 0.0;
      }
      if (nonzero == 0) continue;
      for (size_t k = start; k < stop; ++k) {
        if (abs_hist[k] != 0.0) q[k] = mass / static_cast<double>(nonzero);
      }
    }
    const double kl = smoothed_kl(p, q);
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  const float threshold = static_cast<float>(static_cast<double>(best_i) * h.bin_width());
  if (non_negative) {
    *lo = 0.0f;
    *hi = std::min(threshold, std::max(h.max(), 0.0f));
  } else {
    *lo = std::max(-threshold, h.min());
    *hi = std::min(threshold, h.max());
  }
  return true;
}

bool lp_range(const HistogramObserver& h, int bits, FusedActivation act, float p_norm, float* lo, float* hi,
              std::string* error, int grid) {
  if (!check_nonempty(h, error)) return false;
  if (!(p_norm > 0.0f) || grid < 1) {
    *error = "the Lp norm must be positive and the grid at least 1";
    return false;
  }
  QuantParams full;  // validates bits and the range
  if (!choose_activation_params(h.min(), h.max(), bits, act, &full, error)) return false;
  // The values the quantizer will actually see: after the fused activation.
  float vmin = h.min(), vmax = h.max();
  if (act != FusedActivation::none) {
    vmin = std::max(vmin, 0.0f);
    vmax = std::max(vmax, 0.0f);
  }
  if (act == FusedActivation::relu6) {
    vmin = std::min(vmin, 6.0f);
    vmax = std::min(vmax, 6.0f);
  }
  const auto& c = h.counts();
  const double w = h.bin_width(), r = h.half_range();
  // Exact zeros (common after a ReLU) are represented exactly, not by their bin's centre.
  std::vector<float> centre{0.0f};
  std::vector<double> weight{static_cast<double>(h.zeros())};
  for (size_t j = 0; j < c.size(); ++j) {
    const uint64_t n = c[j] - (j == h.bins_per_side() && r > 0.0 ? h.zeros() : 0);
    if (n == 0) continue;
    float x = static_cast<float>(-r + (static_cast<double>(j) + 0.5) * w);
    x = std::clamp(x, h.min(), h.max());  // a bin centre never lies outside the observed values
    if (act != FusedActivation::none) x = std::max(x, 0.0f);
    if (act == FusedActivation::relu6) x = std::min(x, 6.0f);
    centre.push_back(x);
    weight.push_back(static_cast<double>(n));
  }
  double best = std::numeric_limits<double>::infinity();
  float best_lo = vmin, best_hi = vmax;
  for (int k = grid; k >= 1; --k) {  // from the full range down; ties keep the wider range
    const float a = static_cast<float>(k) / static_cast<float>(grid);
    QuantParams qp;
    if (!choose_activation_params(a * vmin, a * vmax, bits, act, &qp, error)) return false;
    double err = 0.0;
    for (size_t i = 0; i < centre.size(); ++i) {
      const double e = std::fabs(static_cast<double>(centre[i]) - static_cast<double>(fake_quantize(centre[i], qp)));
      err += weight[i] * (p_norm == 2.0f ? e * e : std::pow(e, static_cast<double>(p_norm)));
    }
    if (err < best) {
      best = err;
      best_lo = a * vmin;
      best_hi = a * vmax;
    }
  }
  *lo = best_lo;
  *hi = best_hi;
  return true;
}

}  // namespace kiln::calib
