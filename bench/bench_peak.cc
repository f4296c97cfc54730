// peak/<loop> benchmarks and the reference peak the GEMM benchmarks' pct_peak divides by.
#include "bench_peak.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <mutex>

namespace kiln::bench {

std::vector<PeakLoop> peak_loops() {
  std::vector<PeakLoop> loops;
#if defined(__x86_64__)
  loops.push_back({"avx2_u8s8_vpmaddubsw_vpmaddwd_vpaddd", kernels::Isa::avx2, 8 * 32, peak_avx2_maddubs_madd_add});
  loops.push_back({"avx2_exact_vpmaddwd_vpaddd", kernels::Isa::avx2, 8 * 16, peak_avx2_madd_add});
  loops.push_back({"avx2_int4_vpmaddubsw_vpaddw", kernels::Isa::avx2, 8 * 32, peak_avx2_maddubs_addw});
  loops.push_back({"avx512vnni_vpdpbusd_zmm", kernels::Isa::avx512vnni, 12 * 64, peak_avx512vnni_dpbusd});
#endif
  return loops;
}

namespace {

double measure(const PeakLoop& loop) {
  using clock = std::chrono::steady_clock;
  uint64_t iters = 1 << 16;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = clock::now();
    benchmark::DoNotOptimize(loop.run(iters));
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s < 0.01) {
      iters *= 4;
      --rep;
      continue;
    }
    best = std::max(best, 2.0 * loop.macs_per_iteration * static_cast<double>(iters) / s * 1e-9);
  }
  return best;
}

void bench_peak(benchmark::State& state, PeakLoop loop) {
  const uint64_t iters = 1 << 14;
  for (auto _ : state) benchmark::DoNotOptimize(loop.run(iters));
  state.counters["GOPS"] = benchmark::Counter(2.0 * loop.macs_per_iteration * static_cast<double>(iters),
                                              benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

int register_peak() {
  for (const PeakLoop& loop : peak_loops()) {
    if (!kernels::cpu_supports(loop.isa) || kernels::avx512_is_emulated()) continue;
    benchmark::RegisterBenchmark(("peak/" + loop.name).c_str(), bench_peak, loop);
  }
  return 0;
}

const int registered = register_peak();

}  // namespace

namespace {

// measure(loop) once per loop, cached.
double cached_gops(uint64_t (*run)(uint64_t)) {
  static std::mutex mu;
  static std::map<uint64_t (*)(uint64_t), double> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(run); it != cache.end()) return it->second;
  double gops = 0;
  for (const PeakLoop& loop : peak_loops()) {
    if (loop.run == run && kernels::cpu_supports(loop.isa)) gops = measure(loop);
  }
  cache[run] = gops;
  return gops;
}

}  // namespace

double reference_peak_gops(kernels::Isa isa) {
#if defined(__x86_64__)
  if (isa == kernels::Isa::avx2) return cached_gops(peak_avx2_maddubs_madd_add);
  if (isa == kernels::Isa::avx512vnni) return cached_gops(peak_avx512vnni_dpbusd);
#endif
  (void)isa;
  return 0;
}

double bound_peak_gops(kernels::Isa isa, int wbits) {
#if defined(__x86_64__)
  if (isa == kernels::Isa::avx2) return cached_gops(wbits == 4 ? peak_avx2_maddubs_addw : peak_avx2_madd_add);
  if (isa == kernels::Isa::avx512vnni) return cached_gops(peak_avx512vnni_dpbusd);
#endif
  (void)isa;
  (void)wbits;
  return 0;
}

}  // namespace kiln::bench
