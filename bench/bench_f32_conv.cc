// fp32 convolution benchmark of acceptance line 4: the 20 convolutions of full-width ResNet-18
// (224x224, batch 1, downsample 1x1s included), kiln's fp32 conv2d (NHWC, bias) against oneDNN's
// fp32 convolution (bias), single-threaded, in one binary.
//
//   f32conv/<layer>/kiln_<isa>       one layer shape, kiln's conv2d on that ISA
//   f32conv/<layer>/onednn_nhwc      oneDNN with NHWC activations (kiln's layout)
//   f32conv/<layer>/onednn_any       oneDNN with the activation layout it prefers (blocked nChw16c)
//   f32conv/<layer>/paired_kiln_<isa>_vs_onednn_nhwc   one layer, timed like the paired network
//   f32conv_resnet18/<impl>          all 20 convolutions back to back: the sum of the conv times
//   f32conv_resnet18_paired/kiln_<isa>_vs_onednn_<layout>
//                                    both networks alternately in every iteration, each timed by its
//                                    thread CPU clock: counters kiln_ms, onednn_ms and ratio (kiln /
//                                    oneDNN), robust to load from other processes on a shared machine
// Weight packing / reordering happens before timing for both. GFLOPS counts a multiply-add as 2.
//
// oneDNN reads ONEDNN_MAX_CPU_ISA once per process: compare AVX2 with AVX2 by running
//   ONEDNN_MAX_CPU_ISA=AVX2 kiln-bench-f32 --benchmark_filter='kiln_avx2|onednn'
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/kernels/f32/conv.h"
#include "kiln/kernels/isa.h"

#if defined(KILN_HAVE_GOMP)
extern "C" void omp_set_num_threads(int);  // oneDNN's OpenMP runtime (libgomp)
#else
static void omp_set_num_threads(int) {}  // OMP_NUM_THREADS then decides oneDNN's threads
#endif

namespace {

namespace f32 = kiln::kernels::f32;
using kiln::kernels::Isa;

struct Layer {
  const char* name;
  size_t hw, in_c, out_c, k, stride, pad;
  int count;  // how many times ResNet-18 has this shape
};

// ResNet-18 at 224x224: the stem, then per stage the 3x3 convolutions and the 1x1 downsample.
constexpr Layer kLayers[] = {
    {"conv1_7x7s2", 224, 3, 64, 7, 2, 3, 1},
    {"layer1_3x3_64", 56, 64, 64, 3, 1, 1, 4},
    {"layer2_3x3s2_64_128", 56, 64, 128, 3, 2, 1, 1},
    {"layer2_3x3_128", 28, 128, 128, 3, 1, 1, 3},
    {"layer2_down_1x1s2_64_128", 56, 64, 128, 1, 2, 0, 1},
    {"layer3_3x3s2_128_256", 28, 128, 256, 3, 2, 1, 1},
    {"layer3_3x3_256", 14, 256, 256, 3, 1, 1, 3},
    {"layer3_down_1x1s2_128_256", 28, 128, 256, 1, 2, 0, 1},
    {"layer4_3x3s2_256_512", 14, 256, 512, 3, 2, 1, 1},
    {"layer4_3x3_512", 7, 512, 512, 3, 1, 1, 3},
    {"layer4_down_1x1s2_256_512", 14, 256, 512, 1, 2, 0, 1},
};

f32::Conv2dParams params_of(const Layer& l) {
  f32::Conv2dParams p;
  p.in_h = p.in_w = l.hw;
  p.in_c = l.in_c;
  p.out_c = l.out_c;
  p.kernel_h = p.kernel_w = l.k;
  p.stride_h = p.stride_w = l.stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = l.pad;
  return p;
}

double flops(const Layer& l) {
  const f32::Conv2dParams p = params_of(l);
  return 2.0 * static_cast<double>(p.out_h() * p.out_w() * p.out_c * p.in_c * p.kernel_h * p.kernel_w);
}

double network_flops() {
  double f = 0;
  for (const Layer& l : kLayers) f += l.count * flops(l);
  return f;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// ---------------------------------------------------------------- kiln

struct KilnLayer {
  f32::Conv2dParams p;
  f32::Conv2dPacked w;
  std::vector<float> x, y;
};

std::unique_ptr<KilnLayer> make_kiln(const Layer& l, Isa isa, std::string* error) {
  auto k = std::make_unique<KilnLayer>();
  k->p = params_of(l);
  const auto w = random_floats(l.out_c * l.in_c * l.k * l.k, 1);
  const auto bias = random_floats(l.out_c, 2);
  *error = f32::conv2d_pack(k->p, w.data(), bias.data(), &k->w, isa);
  k->x = random_floats(l.hw * l.hw * l.in_c, 3);
  k->y.assign(k->p.out_h() * k->p.out_w() * l.out_c, 0.0f);
  return k;
}

void bench_kiln_layer(benchmark::State& state, Layer l, Isa isa) {
  std::string error;
  auto k = make_kiln(l, isa, &error);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  for (auto _ : state) {
    f32::conv2d(k->p, k->w, k->x.data(), k->y.data());
    benchmark::DoNotOptimize(k->y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops(l), benchmark::Counter::kIsIterationInvariantRate);
}

void bench_kiln_network(benchmark::State& state, Isa isa) {
  std::vector<std::unique_ptr<KilnLayer>> layers;
  std::vector<int> counts;
  for (const Layer& l : kLayers) {
    std::string error;
    layers.push_back(make_kiln(l, isa, &error));
    if (!error.empty()) return state.SkipWithError(error.c_str());
    counts.push_back(l.count);
  }
  for (auto _ : state) {
    for (size_t i = 0; i < layers.size(); ++i) {
      for (int r = 0; r < counts[i]; ++r) f32::conv2d(layers[i]->p, layers[i]->w, layers[i]->x.data(), layers[i]->y.data());
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = benchmark::Counter(network_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- oneDNN

struct OnednnLayer {
  dnnl::convolution_forward conv;
  std::unordered_map<int, dnnl::memory> args;
  std::string impl;
};

std::unique_ptr<OnednnLayer> make_onednn(const Layer& l, bool any_layout, const dnnl::engine& eng, dnnl::stream& strm,
                                         std::string* error) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const f32::Conv2dParams p = params_of(l);
  const memory::dim ic = l.in_c, oc = l.out_c, k = l.k, hw = l.hw;
  const memory::dim oh = p.out_h(), ow = p.out_w();
  const memory::desc src_md({1, ic, hw, hw}, dt::f32, any_layout ? tag::any : tag::nhwc);
  const memory::desc dst_md({1, oc, oh, ow}, dt::f32, any_layout ? tag::any : tag::nhwc);
  const memory::desc bias_md({oc}, dt::f32, tag::x);
  const memory::desc user_w_md({oc, ic, k, k}, dt::f32, tag::oihw);
  const memory::desc any_w_md({oc, ic, k, k}, dt::f32, tag::any);
  const memory::dim s = l.stride, pad = l.pad;
  auto out = std::make_unique<OnednnLayer>();
  try {
    const convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, src_md, any_w_md,
                                      bias_md, dst_md, {s, s}, {pad, pad}, {pad, pad});
    const convolution_forward::primitive_desc pd(d, eng);
    out->impl = pd.impl_info_str();
    const auto w = random_floats(l.out_c * l.in_c * l.k * l.k, 1);
    const auto b = random_floats(l.out_c, 2);
    memory user_w(user_w_md, eng, const_cast<float*>(w.data()));
    memory weights(pd.weights_desc(), eng);
    reorder(user_w, weights).execute(strm, user_w, weights);
    memory bias(bias_md, eng);
    std::memcpy(bias.get_data_handle(), b.data(), b.size() * sizeof(float));
    memory src(pd.src_desc(), eng);
    const auto x = random_floats(pd.src_desc().get_size() / sizeof(float), 3);
    std::memcpy(src.get_data_handle(), x.data(), x.size() * sizeof(float));
    memory dst(pd.dst_desc(), eng);
    strm.wait();
    out->conv = convolution_forward(pd);
    out->args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
  } catch (const dnnl::error& e) {
    *error = e.what();
  }
  return out;
}

void bench_onednn_layer(benchmark::State& state, Layer l, bool any_layout) {
  omp_set_num_threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::string error;
  auto o = make_onednn(l, any_layout, eng, strm, &error);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  for (auto _ : state) {
    o->conv.execute(strm, o->args);
    strm.wait();
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops(l), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(o->impl);
}

void bench_onednn_network(benchmark::State& state, bool any_layout) {
  omp_set_num_threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::vector<std::unique_ptr<OnednnLayer>> layers;
  std::vector<int> counts;
  for (const Layer& l : kLayers) {
    std::string error;
    layers.push_back(make_onednn(l, any_layout, eng, strm, &error));
    if (!error.empty()) return state.SkipWithError(error.c_str());
    counts.push_back(l.count);
  }
  for (auto _ : state) {
    for (size_t i = 0; i < layers.size(); ++i) {
      for (int r = 0; r < counts[i]; ++r) layers[i]->conv.execute(strm, layers[i]->args);
    }
    strm.wait();
  }
  state.counters["GFLOPS"] = benchmark::Counter(network_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// layer < 0: the whole network; otherwise that layer of kLayers alone.
void bench_paired(benchmark::State& state, Isa isa, bool any_layout, int layer) {
  omp_set_num_threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::vector<std::unique_ptr<KilnLayer>> kiln_layers;
  std::vector<std::unique_ptr<OnednnLayer>> onednn_layers;
  std::vector<int> counts;
  for (size_t li = 0; li < std::size(kLayers); ++li) {
    if (layer >= 0 && static_cast<size_t>(layer) != li) continue;
    const Layer& l = kLayers[li];
    counts.push_back(l.count);
    std::string error;
    kiln_layers.push_back(make_kiln(l, isa, &error));
    if (error.empty()) onednn_layers.push_back(make_onednn(l, any_layout, eng, strm, &error));
    if (!error.empty()) return state.SkipWithError(error.c_str());
  }
  double kiln_s = 0, onednn_s = 0;
  for (auto _ : state) {
    double t0 = thread_cpu_seconds();
    for (size_t i = 0; i < kiln_layers.size(); ++i) {
      for (int r = 0; r < counts[i]; ++r) {
        f32::conv2d(kiln_layers[i]->p, kiln_layers[i]->w, kiln_layers[i]->x.data(), kiln_layers[i]->y.data());
      }
    }
    double t1 = thread_cpu_seconds();
    kiln_s += t1 - t0;
    for (size_t i = 0; i < onednn_layers.size(); ++i) {
      for (int r = 0; r < counts[i]; ++r) onednn_layers[i]->conv.execute(strm, onednn_layers[i]->args);
    }
    strm.wait();
    onednn_s += thread_cpu_seconds() - t1;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["kiln_ms"] = 1e3 * kiln_s / n;
  state.counters["onednn_ms"] = 1e3 * onednn_s / n;
  state.counters["ratio"] = onednn_s > 0 ? kiln_s / onednn_s : 0.0;
}

int register_benchmarks() {
  std::vector<Isa> isas;
  for (Isa isa : kiln::kernels::compiled_isas()) {
    // The scalar reference is far too slow for full-size layers; it is measured by the tests' sizes.
    if (isa != Isa::ref && kiln::kernels::cpu_supports(isa) && f32::usable_isa(isa) == isa) isas.push_back(isa);
  }
  for (Isa isa : isas) {
    const std::string name = "f32conv_resnet18/kiln_" + std::string(kiln::kernels::isa_name(isa));
    benchmark::RegisterBenchmark(name.c_str(), bench_kiln_network, isa)->Unit(benchmark::kMillisecond);
  }
  for (Isa isa : isas) {
    for (bool any_layout : {false, true}) {
      const std::string name = "f32conv_resnet18_paired/kiln_" + std::string(kiln::kernels::isa_name(isa)) +
                               "_vs_onednn_" + (any_layout ? "any" : "nhwc");
      benchmark::RegisterBenchmark(name.c_str(), bench_paired, isa, any_layout, -1)->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RegisterBenchmark("f32conv_resnet18/onednn_nhwc", bench_onednn_network, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("f32conv_resnet18/onednn_any", bench_onednn_network, true)->Unit(benchmark::kMillisecond);
  for (const Layer& l : kLayers) {
    const std::string base = std::string("f32conv/") + l.name + "/";
    for (Isa isa : isas) {
      benchmark::RegisterBenchmark((base + "kiln_" + std::string(kiln::kernels::isa_name(isa))).c_str(), bench_kiln_layer, l, isa)
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark((base + "onednn_nhwc").c_str(), bench_onednn_layer, l, false)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((base + "onednn_any").c_str(), bench_onednn_layer, l, true)->Unit(benchmark::kMicrosecond);
    for (Isa isa : isas) {
      benchmark::RegisterBenchmark((base + "paired_kiln_" + std::string(kiln::kernels::isa_name(isa)) + "_vs_onednn_nhwc").c_str(),
                                   bench_paired, isa, false, static_cast<int>(&l - kLayers))
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return 0;
}

const int registered = register_benchmarks();

}  // namespace
