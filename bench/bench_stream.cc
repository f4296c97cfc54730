// peak/read_4MiB: how fast one core reads the 4 MiB of weights of the M1xK4096xN1024 int8 GEMV
// (`gemm/M1xK4096xN1024/...`) when nothing else is done with them: the bound a GEMV over weights
// that live in L3 cannot beat. Independent sums over a 64-byte aligned buffer, read again and again
// as the GEMV benchmark reads its weights: where the CPU has AVX-512, zmm loads with the GEMV's
// prefetch 1 KiB ahead (the same access pattern without the arithmetic), else whatever the
// compiler makes of a plain loop. Counter GBps: bytes read per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "kiln/kernels/isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr size_t kBytes = size_t{4} << 20;

uint64_t read_plain(const uint64_t* p, size_t words) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < words; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
  return s0 + s1 + s2 + s3;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) uint64_t read_avx512(const uint64_t* p, size_t words) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < words; i += 32) {
    // 1 KiB ahead, as the GEMV micro-kernels prefetch their weights.
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 1024, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 1088, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 1152, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + 1216, _MM_HINT_T0);
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 24));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  uint64_t sum = 0;
  for (uint64_t v : lanes) sum += v;
  return sum;
}
#endif

void bench_read(benchmark::State& state) {
  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  const std::unique_ptr<uint64_t, Free> buf(static_cast<uint64_t*>(std::aligned_alloc(64, kBytes)));
  const size_t words = kBytes / sizeof(uint64_t);
  for (size_t i = 0; i < words; ++i) buf.get()[i] = i;
  auto read = read_plain;
#if defined(__x86_64__)
  if (kiln::kernels::cpu_supports(kiln::kernels::Isa::avx512vnni) && !kiln::kernels::avx512_is_emulated()) {
    read = read_avx512;
  }
#endif
  for (auto _ : state) benchmark::DoNotOptimize(read(buf.get(), words));
  state.counters["GBps"] = benchmark::Counter(static_cast<double>(kBytes), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(bench_read)->Name("peak/read_4MiB")->Unit(benchmark::kMicrosecond)->UseRealTime();
