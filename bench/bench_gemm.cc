// gemm/<shape>/<impl>/t<threads>: every GEMM shape of shared/bench/shapes.json for kiln (int8 and
// int4 weights), oneDNN (u8s8 matmul: weights in its preferred layout, per-column output scales,
// u8 destination) and XNNPACK (qs8 fully connected), at 1 and 2 threads, in one run.
// Counters: GOPS (2*M*N*K per second) and pct_peak (percent of this machine's measured int8 peak
// for the ISA kiln runs, times the thread count; see bench_peak.h).
//
// Like with like: kiln runs the ISA choose_isa() picks (KILN_ISA=avx2 forces AVX2); unless
// ONEDNN_MAX_CPU_ISA is set, oneDNN is capped to the same ISA (AVX2, or AVX512_CORE_VNNI - no AMX).
// XNNPACK picks its own path.
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstdlib>
#include <dnnl.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_peak.h"
#include "bench_shapes.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/pack.h"
#include "kiln/thread_pool.h"

extern "C" void omp_set_num_threads(int);  // oneDNN's threads (Debian builds it with OpenMP)

namespace kiln::bench {
namespace {

using kernels::Isa;

Isa kiln_isa() {
  static const Isa isa = [] {
    const kernels::IsaChoice c = kernels::choose_isa();
    return c.ok ? c.isa : Isa::ref;
  }();
  return isa;
}

// Runs before main(), so before oneDNN's first use reads its ISA cap.
const bool onednn_capped = [] {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA")) return false;
  const char* cap = kiln_isa() == Isa::avx2 ? "AVX2" : kiln_isa() == Isa::avx512vnni ? "AVX512_CORE_VNNI" : nullptr;
  if (cap == nullptr) return false;
  setenv("ONEDNN_MAX_CPU_ISA", cap, 0);
  setenv("DNNL_MAX_CPU_ISA", cap, 0);
  return true;
}();

double flops(const GemmShape& s) { return 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k); }

void set_counters(benchmark::State& st, const GemmShape& s, int threads) {
  st.counters["GOPS"] = benchmark::Counter(flops(s), benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
  const double peak = reference_peak_gops(kiln_isa());
  if (peak > 0) {
    st.counters["pct_peak"] =
        benchmark::Counter(flops(s) * 100.0 / (peak * 1e9 * threads), benchmark::Counter::kIsIterationInvariantRate);
  }
}

std::vector<uint8_t> random_u8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(rng());
  return v;
}

std::vector<int8_t> random_s8(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

void bench_kiln(benchmark::State& st, GemmShape s, int wbits, int threads) {
  std::string err;
  const kernels::GemmConfig* cfg = kernels::gemm_config_for_cpu(wbits, &err);
  if (cfg == nullptr) {
    st.SkipWithError(err.c_str());
    return;
  }
  const int hi = wbits == 4 ? 7 : 127, lo = wbits == 4 ? -8 : -127;
  const std::vector<int8_t> w = random_s8(s.k * s.n, lo, hi, 2);  // B[K][N]
  std::vector<int32_t> bias(s.n, 1000);
  std::vector<float> mult(s.n, 1.0f / (64.0f * static_cast<float>(s.k)));
  kernels::GemmWeightsSource src;
  src.w = w.data();
  src.n = s.n;
  src.kc = s.k;
  src.c_stride = 1;
  src.k_stride = s.n;
  src.bias = bias.data();
  src.multiplier = mult.data();
  src.input_zero_point = 128;
  kernels::AlignedBuffer packed(kernels::packed_gemm_size(*cfg, s.n, 1, s.k));
  err = kernels::pack_gemm_weights(*cfg, src, packed.data(), packed.size());
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  const std::vector<uint8_t> a = random_u8(s.m * s.k, 1);
  std::vector<uint8_t> c(s.m * s.n);
  kernels::GemmProblem pb;
  pb.m = s.m;
  pb.n = s.n;
  pb.k = s.k;
  pb.a = a.data();
  pb.a_stride = s.k;
  pb.packed = packed.data();
  pb.c = c.data();
  pb.c_stride = s.n;
  pb.epilogue.zero_point = 128;
  ThreadPool pool(threads);
  for (auto _ : st) {
    err = kernels::gemm_run(*cfg, pb, &pool);
    benchmark::ClobberMemory();
  }
  if (!err.empty()) st.SkipWithError(err.c_str());
  // What gemm_run calls (a task gets all the row tiles at 1 thread, so several tiles mean the wide path).
  const bool wide = cfg->gemm_wide != nullptr && s.m >= 2 * cfg->mr;
  st.SetLabel(wide ? cfg->gemm_wide_name : cfg->gemm_packed_a != nullptr ? cfg->gemm_packed_a_name : cfg->gemm_name);
  set_counters(st, s, threads);
}

void bench_onednn(benchmark::State& st, GemmShape s, int threads) {
  using dnnl::memory;
  const auto m = static_cast<memory::dim>(s.m), k = static_cast<memory::dim>(s.k), n = static_cast<memory::dim>(s.n);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  memory::desc a_md({m, k}, memory::data_type::u8, memory::format_tag::ab);
  memory::desc b_any({k, n}, memory::data_type::s8, memory::format_tag::any);
  memory::desc c_md({m, n}, memory::data_type::u8, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  attr.set_output_scales(1 << 1, std::vector<float>(s.n, 1.0f / (64.0f * static_cast<float>(s.k))));
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), attr, eng);
  std::vector<uint8_t> a = random_u8(s.m * s.k, 1);
  std::vector<int8_t> w = random_s8(s.k * s.n, -127, 127, 2);
  std::vector<uint8_t> c(s.m * s.n);
  memory a_mem(a_md, eng, a.data());
  memory c_mem(c_md, eng, c.data());
  memory b_user({{k, n}, memory::data_type::s8, memory::format_tag::ab}, eng, w.data());
  memory b_mem(pd.weights_desc(), eng);
  dnnl::reorder(b_user, b_mem).execute(strm, b_user, b_mem);
  strm.wait();
  dnnl::matmul prim(pd);
  omp_set_num_threads(threads);
  for (auto _ : st) {
    prim.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    strm.wait();
  }
  st.SetLabel(pd.impl_info_str());
  set_counters(st, s, threads);
}

void bench_xnnpack(benchmark::State& st, GemmShape s, int threads) {
  if (xnn_initialize(nullptr) != xnn_status_success) {
    st.SkipWithError("xnn_initialize failed");
    return;
  }
  std::vector<int8_t> a = random_s8(s.m * s.k + XNN_EXTRA_BYTES, -128, 127, 1);
  std::vector<int8_t> w = random_s8(s.n * s.k, -127, 127, 2);  // [N][K]
  std::vector<int32_t> bias(s.n, 1000);
  std::vector<int8_t> c(s.m * s.n);
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_qs8(s.k, s.n, s.k, s.n, 0, 0.02f, 0.01f, w.data(), bias.data(), 0, 1.0f, -128, 127,
                                        0, &op) != xnn_status_success) {
    st.SkipWithError("xnn_create_fully_connected_nc_qs8 failed");
    return;
  }
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(static_cast<size_t>(threads)) : nullptr;
  if (xnn_setup_fully_connected_nc_qs8(op, s.m, a.data(), c.data(), pool) != xnn_status_success) {
    st.SkipWithError("xnn_setup_fully_connected_nc_qs8 failed");
  } else {
    for (auto _ : st) xnn_run_operator(op, pool);
  }
  xnn_delete_operator(op);
  if (pool) pthreadpool_destroy(pool);
  set_counters(st, s, threads);
}

void bench_shapes_error(benchmark::State& st, std::string error) {
  for (auto _ : st) {
  }
  st.SkipWithError(error.c_str());
}

int register_gemm() {
  const Shapes& sh = shapes();
  if (!sh.error.empty()) {
    benchmark::RegisterBenchmark("gemm/shapes_json_error", bench_shapes_error, sh.error);
    return 0;
  }
  for (const GemmShape& s : sh.gemm) {
    for (int t : {1, 2}) {
      const std::string suffix = "/t" + std::to_string(t);
      const std::string base = "gemm/" + s.name + "/";
      benchmark::RegisterBenchmark((base + "kiln_w8a8" + suffix).c_str(), bench_kiln, s, 8, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark((base + "kiln_w4a8" + suffix).c_str(), bench_kiln, s, 4, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark((base + "onednn_u8s8" + suffix).c_str(), bench_onednn, s, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark((base + "xnnpack_qs8" + suffix).c_str(), bench_xnnpack, s, t)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  return 0;
}

const int registered = register_gemm();

}  // namespace
}  // namespace kiln::bench
