// Helpers of the fp32 kernel tests: the ISAs to test, random data, a tolerance check, a threaded
// TaskRunner.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kiln/kernels/f32/common.h"
#include "kiln/kernels/isa.h"

namespace kiln::kernels::f32::testing {

// Every ISA this build has and this CPU runs, ref included (first).
inline std::vector<Isa> runnable_isas() {
  std::vector<Isa> out = {Isa::ref};
  for (Isa isa : compiled_isas()) {
    if (isa != Isa::ref && cpu_supports(isa) && usable_isa(isa) == isa) out.push_back(isa);
  }
  return out;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Expects |got - want| <= atol + rtol * |want| element-wise, reporting the first few failures.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const bool ok = err <= atol + rtol * std::fabs(want[i]) || (std::isnan(want[i]) && std::isnan(got[i]));
    if (!ok && reported++ < 5) ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
}

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Runs tasks on `threads` std::threads per call (tests only: simple, not fast).
class TestRunner final : public TaskRunner {
 public:
  explicit TestRunner(int threads) : threads_(threads) {}
  int threads() const override { return threads_; }
  void run(size_t count, TaskFn task, void* context) override {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads_; ++t) {
      pool.emplace_back([&] {
        for (size_t i = next++; i < count; i = next++) task(context, i);
      });
    }
    for (auto& th : pool) th.join();
  }

 private:
  int threads_;
};

inline std::string isa_label(Isa isa) { return std::string(isa_name(isa)); }

}  // namespace kiln::kernels::f32::testing
