// dot_u8s8 per ISA: the self-check kernel's throughput, in GOPS (one multiply-add = 2 ops).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/dot.h"
#include "kiln/kernels/isa.h"

namespace {

void bench_dot(benchmark::State& state, kiln::kernels::Isa isa) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> a(n, 200);
  std::vector<int8_t> b(n, -100);
  const kiln::kernels::DotU8S8Fn dot = kiln::kernels::dot_u8s8_for(isa);
  for (auto _ : state) benchmark::DoNotOptimize(dot(a.data(), b.data(), n));
  state.counters["GOPS"] = benchmark::Counter(2.0 * static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

int register_dot_benchmarks() {
  for (kiln::kernels::Isa isa : kiln::kernels::compiled_isas()) {
    if (!kiln::kernels::cpu_supports(isa)) continue;
    const std::string name = "dot_u8s8/" + std::string(kiln::kernels::isa_name(isa));
    benchmark::RegisterBenchmark(name.c_str(), bench_dot, isa)->Arg(4096);
  }
  return 0;
}

const int registered = register_dot_benchmarks();

}  // namespace
