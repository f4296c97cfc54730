// A streaming histogram of a tensor's values and the range choices computed from it: percentile,
// KL divergence (TensorRT-style entropy calibration) and MSE / Lp error minimisation.
//
// The histogram covers [-R, R] with 2 * bins_per_side equal bins, 0 being a bin edge. R starts at the
// first batch's largest magnitude; when a later value lies outside, R doubles (adjacent bin pairs
// merge exactly, no re-binning error) until it fits. Memory is fixed, whatever the number of samples,
// and the result is deterministic for a given order of batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"

namespace kiln::calib {

class HistogramObserver {
 public:
  explicit HistogramObserver(size_t bins_per_side = 2048);  // rounded up to an even number >= 2
  void observe(const float* values, size_t count);
  // Before the first observe: R set to the largest magnitude of all batches to come, so that
  // observing them one by one bins exactly as observing them in one call would (no doubling).
  void expect_magnitude(float absmax);

  bool empty() const { return total_ == 0; }
  uint64_t total() const { return total_; }  // finite values seen
  uint64_t zeros() const { return zeros_; }  // values exactly 0 (also counted in their bin)
  size_t non_finite() const { return non_finite_; }
  float min() const { return min_; }  // exact, over every finite value
  float max() const { return max_; }
  double half_range() const { return range_; }  // R (0 while every value seen was 0)
  size_t bins_per_side() const { return half_; }
  double bin_width() const { return range_ / static_cast<double>(half_); }
  // counts()[j] covers [-R + j w, -R + (j + 1) w); the last bin also holds R.
  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  void grow_to(double magnitude);
  size_t half_;
  std::vector<uint64_t> counts_;
  double range_ = 0.0;
  uint64_t total_ = 0;
  uint64_t zeros_before_range_ = 0;  // zeros seen while R was still 0
  uint64_t zeros_ = 0;
  size_t non_finite_ = 0;
  float min_ = 0.0f;
  float max_ = 0.0f;
};

// The range holding all but (100 - percentile)% of the values, that share split evenly between the
// two tails (linear interpolation inside a bin), never wider than [min, max]. percentile in (0, 100].
bool percentile_range(const HistogramObserver& h, float percentile, float* lo, float* hi, std::string* error);

// TensorRT's entropy calibration on the histogram of |x|: the clipping threshold T whose quantized
// distribution (`levels` bins) has the smallest KL divergence from the clipped reference. Values that
// are all non-negative (or a fused ReLU) use 2^bits levels over [0, T]; signed values use 2^(bits-1)
// levels per side over [-T, T] (cut to [min, max]). Values that become exactly 0 (zeros; negatives
// under a fused ReLU) are left out of both distributions: they are a code at any threshold.
bool kl_range(const HistogramObserver& h, int bits, FusedActivation act, float* lo, float* hi, std::string* error);

// Searches clipping ranges [a min, a max] for a = 1/grid .. 1 and keeps the one whose asymmetric
// quantizer (bits, act) has the smallest expected |x - fq(x)|^p_norm over the histogram (bin centres
// stand for their values). p_norm = 2 is MSE.
bool lp_range(const HistogramObserver& h, int bits, FusedActivation act, float p_norm, float* lo, float* hi,
              std::string* error, int grid = 100);

}  // namespace kiln::calib
