// kiln-bench-recon: fp32 forward + backward (data and weights) of the largest layer (by MACs) of the
// ResNet-style demo model on oneDNN, the work reconstruction spends its time in, against this
// machine's measured fp32 FMA peak (AVX2 ymm and AVX-512 zmm loops in this binary).
//
//   kiln-bench-recon [--model examples/fashion-mnist/resnet_fmnist.onnx] [benchmark flags]
// Counters: GFLOPS (2 flops per MAC, three passes), pct_peak_avx2 / pct_peak_avx512 (peak of one
// thread times the threads used) and pct_peak: against the peak of the vector width oneDNN's
// dispatcher picked here (AVX-512 when its effective ISA includes avx512_core, else AVX2).
// The ResNet model's three 3x3 convolutions of 16, 32 and 64 channels tie on MACs; the first
// (16 channels at 28x28, the narrowest for 16-lane vectors) is the one measured.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kiln/calib/recon/dnnl_layers.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

namespace {

using kiln::calib::recon::ConvGeometry;
using kiln::calib::recon::ConvLayer;

// ---- fp32 FMA peak: 12 independent accumulator chains, 1 thread ----
#if defined(__x86_64__)
#include <immintrin.h>
// Twelve independent FMA chains in named registers (an array with asm constraints on its elements is
// kept in memory by gcc, and the loop then measures store forwarding, a third of the real peak).
#define KILN_FMA12(fma, c)                                                                                  \
  a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c); a4 = fma(a4, m, c);        \
  a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); a8 = fma(a8, m, c); a9 = fma(a9, m, c);        \
  a10 = fma(a10, m, c); a11 = fma(a11, m, c)
#define KILN_PIN12(k)                                                                                       \
  __asm__ volatile("" : "+" k(a0), "+" k(a1), "+" k(a2), "+" k(a3), "+" k(a4), "+" k(a5), "+" k(a6),        \
                   "+" k(a7), "+" k(a8), "+" k(a9), "+" k(a10), "+" k(a11))
__attribute__((target("avx2,fma"))) float fma_loop_avx2(uint64_t iters) {
  __m256 a0 = _mm256_set1_ps(0.001f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
         a9 = a0, a10 = a0, a11 = a0;
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (uint64_t t = 0; t < iters; ++t) {
    KILN_FMA12(_mm256_fmadd_ps, c);
    KILN_PIN12("x");
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                 _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                               _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11))));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}
__attribute__((target("avx512f"))) float fma_loop_avx512(uint64_t iters) {
  __m512 a0 = _mm512_set1_ps(0.001f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
         a9 = a0, a10 = a0, a11 = a0;
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (uint64_t t = 0; t < iters; ++t) {
    KILN_FMA12(_mm512_fmadd_ps, c);
    KILN_PIN12("v");
  }
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                 _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)),
                                               _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))));
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
#undef KILN_FMA12
#undef KILN_PIN12
bool has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool has_avx512() { return __builtin_cpu_supports("avx512f"); }
#else
float fma_loop_avx2(uint64_t) { return 0.0f; }
float fma_loop_avx512(uint64_t) { return 0.0f; }
bool has_avx2_fma() { return false; }
bool has_avx512() { return false; }
#endif

// GFLOPS of one thread for a loop doing 12 FMAs of `lanes` floats per iteration (best of 5 runs).
double measure_peak(float (*loop)(uint64_t), int lanes) {
  const uint64_t iters = 20'000'000;
  double best = 0.0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(loop(iters));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 12.0 * 2.0 * lanes * static_cast<double>(iters) / s * 1e-9);
  }
  return best;
}

double peak_avx2() {
  static const double p = has_avx2_fma() ? measure_peak(fma_loop_avx2, 8) : 0.0;
  return p;
}
double peak_avx512() {
  static const double p = has_avx512() ? measure_peak(fma_loop_avx512, 16) : 0.0;
  return p;
}

// Whether oneDNN runs its AVX-512 kernels here (cpu_isa values are feature bit masks).
bool onednn_uses_avx512() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}
double peak_onednn_isa() { return onednn_uses_avx512() ? peak_avx512() : peak_avx2(); }

void BM_PeakFmaAvx2(benchmark::State& st) {
  if (!has_avx2_fma()) return st.SkipWithError("no AVX2/FMA");
  for (auto _ : st) benchmark::DoNotOptimize(fma_loop_avx2(1'000'000));
  st.counters["GFLOPS"] = benchmark::Counter(24.0 * 8 * 1e6 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void BM_PeakFmaAvx512(benchmark::State& st) {
  if (!has_avx512()) return st.SkipWithError("no AVX-512");
  for (auto _ : st) benchmark::DoNotOptimize(fma_loop_avx512(1'000'000));
  st.counters["GFLOPS"] = benchmark::Counter(24.0 * 16 * 1e6 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- the largest conv of the model ----
struct Largest {
  std::string name;
  ConvGeometry g;
  size_t h = 0, w = 0;
  double macs = 0;  // per sample
};

std::string g_model = KILN_RECON_DEFAULT_MODEL;

bool find_largest(Largest* out, std::string* e) {
  kiln::Graph g;
  if (!kiln::onnx::import_model_file(g_model, &g, e)) return false;
  auto m = kiln::Model::create(g, e);
  if (!m) return false;
  const kiln::Graph& fg = m->logical_graph();
  for (const kiln::Node& n : fg.nodes) {
    if (n.op != "Conv") continue;
    const kiln::Tensor* w = fg.constant_of(n.inputs[1]);
    const kiln::Value& x = fg.values[n.inputs[0]];
    const kiln::Value& y = fg.values[n.outputs[0]];
    if (!w || x.shape.size() != 4 || y.shape.size() != 4) continue;
    const auto ws = w->shape();
    const double macs = static_cast<double>(y.shape[1] * y.shape[2] * y.shape[3] * ws[1] * ws[2] * ws[3]);
    if (macs <= out->macs) continue;
    const std::vector<int64_t> st = n.get_ints("strides", {1, 1}), pads = n.get_ints("pads", {0, 0, 0, 0});
    const int64_t groups = n.get_int("group", 1);
    out->name = n.name;
    out->macs = macs;
    out->h = static_cast<size_t>(x.shape[2]);
    out->w = static_cast<size_t>(x.shape[3]);
    out->g = ConvGeometry{static_cast<size_t>(ws[1] * groups), static_cast<size_t>(ws[0]), static_cast<size_t>(groups),
                          static_cast<size_t>(ws[2]), static_cast<size_t>(ws[3]), static_cast<size_t>(st[0]),
                          static_cast<size_t>(st[1]), 1, 1, static_cast<size_t>(pads[0]), static_cast<size_t>(pads[1]),
                          static_cast<size_t>(pads[2]), static_cast<size_t>(pads[3])};
  }
  if (out->macs == 0) *e = "no convolution in " + g_model;
  return out->macs > 0;
}

void BM_LargestLayerFwdBwd(benchmark::State& st) {
  static Largest L;
  static std::string err;
  static const bool ok = find_largest(&L, &err);
  if (!ok) return st.SkipWithError(err.c_str());
  const size_t batch = static_cast<size_t>(st.range(0));
  const int threads = static_cast<int>(st.range(1));
  kiln::calib::recon::set_compute_threads(threads);
  ConvLayer conv;
  if (!conv.init(L.g).empty()) return st.SkipWithError("bad geometry");
  const size_t oh = L.g.out_h(L.h), ow = L.g.out_w(L.w);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> x(batch * L.h * L.w * L.g.in_c), w(L.g.weight_elements()), b(L.g.out_c);
  std::vector<float> y(batch * oh * ow * L.g.out_c), dy(y.size()), dx(x.size()), dw(w.size()), db(b.size());
  for (float& v : x) v = d(rng);
  for (float& v : w) v = d(rng);
  for (float& v : dy) v = d(rng);
  std::string e;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    e = conv.forward(batch, L.h, L.w, x.data(), w.data(), b.data(), y.data());
    if (e.empty()) e = conv.backward_data(batch, L.h, L.w, dy.data(), w.data(), dx.data());
    if (e.empty()) e = conv.backward_weights(batch, L.h, L.w, x.data(), dy.data(), dw.data(), db.data());
    if (!e.empty()) return st.SkipWithError(e.c_str());
    benchmark::ClobberMemory();
  }
  // Wall time per iteration, the same clock the peak loops are timed with.
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(std::max<benchmark::IterationCount>(1, st.iterations()));
  const double gflops = 3.0 * 2.0 * L.macs * static_cast<double>(batch) / secs * 1e-9;
  st.SetLabel(L.name);
  st.counters["GFLOPS"] = gflops;
  if (peak_avx2() > 0) st.counters["pct_peak_avx2"] = 100.0 * gflops / (peak_avx2() * threads);
  if (peak_avx512() > 0) st.counters["pct_peak_avx512"] = 100.0 * gflops / (peak_avx512() * threads);
  if (peak_onednn_isa() > 0) st.counters["pct_peak"] = 100.0 * gflops / (peak_onednn_isa() * threads);
}

}  // namespace

BENCHMARK(BM_PeakFmaAvx2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PeakFmaAvx512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LargestLayerFwdBwd)
    ->ArgNames({"batch", "threads"})
    ->Args({32, 1})
    ->Args({32, 2})
    ->Args({128, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      g_model = argv[++i];
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  std::printf("fp32 FMA peak, 1 thread: AVX2 %.1f GFLOPS, AVX-512 %.1f GFLOPS; oneDNN runs %s kernels (pct_peak)\n",
              peak_avx2(), peak_avx512(), onednn_uses_avx512() ? "AVX-512" : "AVX2");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
