// ukernel/kiln_w<bits>a8/K<k> (label: the kernel): one full micro-kernel tile (config.mr rows x
// config.nr columns, u8 output) called over and over on L1-resident operands, for the int8 and
// int4 configs of the ISA kiln runs: the kernel gemm_run calls when a task has several row tiles
// (the widened-B one where the config has it, the block widened once outside the loop, as
// gemm_run amortises it; else the packed-A one; else the plain one). It separates the micro-kernel's own efficiency from the driver's (A packing, tiling,
// cache traffic), which the gemm/ benchmarks measure together.
// Counters: GOPS and pct_bound, the percent of the peak loop that bounds that kernel's inner loop
// (bench_peak.h: bound_peak_gops).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "bench_peak.h"
#include "kiln/kernels/gemm.h"
#include "kiln/kernels/pack.h"

namespace kiln::bench {
namespace {

// The GEMM configuration of the ISA kiln runs for `wbits`, or null (the benchmark is then skipped).
const kernels::GemmConfig* config_or_skip(benchmark::State& st, int wbits) {
  const kernels::IsaChoice choice = kernels::choose_isa();
  const kernels::GemmConfig* cfg = choice.ok ? kernels::gemm_config(choice.isa, wbits) : nullptr;
  if (cfg == nullptr) st.SkipWithError("no GEMM configuration for this ISA");
  return cfg;
}

// GOPS and pct_bound of `ops` operations per iteration.
void set_counters(benchmark::State& st, const kernels::GemmConfig& cfg, double ops) {
  st.counters["GOPS"] = benchmark::Counter(ops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  const double bound = bound_peak_gops(cfg.isa, cfg.wbits);
  if (bound > 0) {
    st.counters["pct_bound"] = benchmark::Counter(ops * 100.0 / (bound * 1e9), benchmark::Counter::kIsIterationInvariantRate);
  }
}

// `count` random weights in the configuration's range.
std::vector<int8_t> random_weights(const kernels::GemmConfig& cfg, size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> wd(cfg.wbits == 4 ? -8 : -127, cfg.wbits == 4 ? 7 : 127);
  std::vector<int8_t> w(count);
  for (auto& x : w) x = static_cast<int8_t>(wd(rng));
  return w;
}

void bench_ukernel(benchmark::State& st, int wbits, size_t k) {
  const kernels::GemmConfig* cfg = config_or_skip(st, wbits);
  if (cfg == nullptr) return;
  const size_t m = cfg->mr, n = cfg->nr;
  std::mt19937 rng(7);
  const std::vector<int8_t> w = random_weights(*cfg, k * n, rng);
  std::vector<uint8_t> a(m * k);
  for (auto& x : a) x = static_cast<uint8_t>(rng());
  std::vector<float> mult(n, 1.0f / (64.0f * static_cast<float>(k)));
  kernels::GemmWeightsSource src;
  src.w = w.data();
  src.n = n;
  src.kc = k;
  src.c_stride = 1;
  src.k_stride = n;
  src.multiplier = mult.data();
  src.input_zero_point = 128;
  kernels::AlignedBuffer packed(kernels::packed_gemm_size(*cfg, n, 1, k));
  const std::string err = kernels::pack_gemm_weights(*cfg, src, packed.data(), packed.size());
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  const bool packed_a = cfg->pack_a_row != nullptr && cfg->gemm_packed_a != nullptr;
  const size_t row_bytes = packed_a ? kernels::packed_a_row_bytes(*cfg, k) : k;
  kernels::AlignedBuffer pa(m * row_bytes);
  if (packed_a) {
    for (size_t i = 0; i < m; ++i) cfg->pack_a_row(k, a.data() + i * k, static_cast<uint8_t*>(pa.data()) + i * row_bytes);
  }
  const bool wide = cfg->gemm_wide != nullptr;
  kernels::AlignedBuffer wide_b(wide ? cfg->wide_block_bytes(k) : 0);
  if (wide) cfg->widen_block(k, packed.data(), wide_b.data());
  const void* a_rows = packed_a ? pa.data() : static_cast<const void*>(a.data());
  std::vector<uint8_t> c(m * n);
  kernels::GemmEpilogue ep;
  ep.zero_point = 128;
  for (auto _ : st) {
    if (wide) {
      cfg->gemm_wide(m, n, k, a_rows, row_bytes, packed.data(), wide_b.data(), c.data(), n, nullptr, 0, &ep);
    } else if (packed_a) {
      cfg->gemm_packed_a(m, n, k, pa.data(), row_bytes, packed.data(), c.data(), n, nullptr, 0, &ep);
    } else {
      cfg->gemm(m, n, k, a.data(), k, packed.data(), c.data(), n, nullptr, 0, &ep);
    }
    benchmark::ClobberMemory();
  }
  set_counters(st, *cfg, 2.0 * static_cast<double>(m * n * k));
  st.SetLabel(wide ? cfg->gemm_wide_name : packed_a ? cfg->gemm_packed_a_name : cfg->gemm_name);
}

// ukernel/kiln_w<bits>a8/igemm_K<kc>x<ks>: the igemm micro-kernel (the widened-B one where the
// config has it) on one full tile of a k x k convolution's shape: ks segments of kc channels, each
// row pointer to its own L1-resident row, as a 3x3 convolution's indirection buffer gives it.
void bench_uigemm(benchmark::State& st, int wbits, size_t kc, size_t ks) {
  const kernels::GemmConfig* cfg = config_or_skip(st, wbits);
  if (cfg == nullptr) return;
  const size_t m = cfg->mr, n = cfg->nr;
  std::mt19937 rng(7);
  const std::vector<int8_t> w = random_weights(*cfg, ks * kc * n, rng);
  std::vector<float> mult(n, 1.0f / (64.0f * static_cast<float>(ks * kc)));
  kernels::GemmWeightsSource src;
  src.w = w.data();
  src.n = n;
  src.ks = ks;
  src.kc = kc;
  src.ks_stride = kc;
  src.c_stride = ks * kc;
  src.k_stride = 1;
  src.multiplier = mult.data();
  src.input_zero_point = 128;
  kernels::AlignedBuffer packed(kernels::packed_gemm_size(*cfg, n, ks, kc));
  const std::string err = kernels::pack_gemm_weights(*cfg, src, packed.data(), packed.size());
  if (!err.empty()) {
    st.SkipWithError(err.c_str());
    return;
  }
  // (m + ks) distinct input rows, tap p of row i reading row i + p (neighbouring output pixels
  // share input rows as in a convolution), plus the zero row.
  const size_t row = (kc + 63) / 64 * 64;
  kernels::AlignedBuffer input((m + ks) * row + 64);
  auto* in = static_cast<uint8_t*>(input.data());
  for (size_t i = 0; i < (m + ks) * row; ++i) in[i] = static_cast<uint8_t>(rng());
  std::vector<uint8_t> zero(row + 64, 128);
  std::vector<const uint8_t*> ind(ks * m);
  for (size_t p = 0; p < ks; ++p) {
    for (size_t i = 0; i < m; ++i) ind[p * m + i] = in + (i + p) * row;
  }
  const size_t k_align = cfg->k_align;
  const bool wide = cfg->igemm_wide != nullptr;
  kernels::AlignedBuffer wide_b(wide ? cfg->wide_block_bytes(ks * ((kc + k_align - 1) / k_align * k_align)) : 0);
  if (wide) cfg->widen_block(ks * ((kc + k_align - 1) / k_align * k_align), packed.data(), wide_b.data());
  std::vector<uint8_t> c(m * n);
  kernels::GemmEpilogue ep;
  ep.zero_point = 128;
  for (auto _ : st) {
    if (wide) {
      cfg->igemm_wide(m, n, kc, ks, ind.data(), 0, zero.data(), packed.data(), wide_b.data(), c.data(), n, nullptr, 0,
                      &ep);
    } else {
      cfg->igemm(m, n, kc, ks, ind.data(), 0, zero.data(), packed.data(), c.data(), n, nullptr, 0, &ep);
    }
    benchmark::ClobberMemory();
  }
  set_counters(st, *cfg, 2.0 * static_cast<double>(m * n * kc * ks));
  st.SetLabel(wide ? cfg->igemm_wide_name : cfg->igemm_name);
}

// Registered by weight width, not kernel name: the config table is built by another translation
// unit's static initialisers, which may not have run yet.
int register_ukernels() {
  for (int wbits : {8, 4}) {
    for (size_t k : {24, 64, 144, 256, 1024}) {
      benchmark::RegisterBenchmark(("ukernel/kiln_w" + std::to_string(wbits) + "a8/K" + std::to_string(k)).c_str(),
                                   bench_ukernel, wbits, k)
          ->UseRealTime();  // pct_bound divides by a wall-clock peak
    }
    for (size_t kc : {64, 256}) {
      benchmark::RegisterBenchmark(
          ("ukernel/kiln_w" + std::to_string(wbits) + "a8/igemm_K" + std::to_string(kc) + "x9").c_str(), bench_uigemm,
          wbits, kc, size_t{9})
          ->UseRealTime();
    }
  }
  return 0;
}

const int registered = register_ukernels();

}  // namespace
}  // namespace kiln::bench
