// Convolution benchmarks: every `conv` shape of shared/bench/shapes.json, for kiln (int8 and int4
// weights), oneDNN (u8s8 convolution, per-channel output scales, fused ReLU, u8 destination) and
// XNNPACK (qc8 convolution: int8 activations, per-channel int8 weights), at 1 and 2 threads.
// Names: conv/<shape>/<impl>/t<threads>. GOPS counts one multiply-add as 2 ops.
//
// Compare like with like on an AVX-512 machine: KILN_ISA=avx2 with ONEDNN_MAX_CPU_ISA=AVX2, or
// KILN_ISA=avx512vnni with ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI (both read once per process).
// XNNPACK has no such switch and uses the best ISA it knows.
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_shapes.h"
#include "kiln/kernels/conv.h"
#include "kiln/kernels/isa.h"
#include "kiln/thread_pool.h"

#if defined(KILN_HAVE_GOMP)
extern "C" void omp_set_num_threads(int);  // oneDNN's OpenMP runtime (libgomp)
#else
static void omp_set_num_threads(int) {}   // OMP_NUM_THREADS then decides oneDNN's threads
#endif

namespace {

using ConvBenchShape = kiln::bench::ConvShape;
namespace kk = kiln::kernels;

kk::ConvShape to_shape(const ConvBenchShape& b) {
  kk::ConvShape s;
  s.in_h = b.h, s.in_w = b.w, s.in_c = b.cin, s.out_c = b.cout;
  s.kernel_h = s.kernel_w = b.kernel;
  s.stride_h = s.stride_w = b.stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = b.pad;
  s.groups = b.groups;
  return s;
}

double macs(const kk::ConvShape& s) {
  return static_cast<double>(s.out_h()) * s.out_w() * s.out_c * s.taps() * s.group_in_c();
}

void set_rate(benchmark::State& state, const kk::ConvShape& s) {
  state.counters["GOPS"] =
      benchmark::Counter(2.0 * macs(s), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

struct Operands {
  std::vector<uint8_t> input;
  std::vector<int8_t> weights;  // OHWI
  std::vector<int32_t> bias;
  std::vector<float> multiplier;
};

Operands make_operands(const kk::ConvShape& s, int wbits) {
  std::mt19937 rng(12345);
  Operands o;
  o.input.resize(static_cast<size_t>(s.in_h) * s.in_w * s.in_c);
  for (auto& v : o.input) v = static_cast<uint8_t>(rng());
  o.weights.resize(static_cast<size_t>(s.out_c) * s.taps() * s.group_in_c());
  const int lo = wbits == 8 ? -127 : -8, hi = wbits == 8 ? 127 : 7;
  std::uniform_int_distribution<int> wd(lo, hi);
  for (auto& v : o.weights) v = static_cast<int8_t>(wd(rng));
  o.bias.resize(s.out_c);
  o.multiplier.resize(s.out_c);
  std::uniform_int_distribution<int> bd(-1000, 1000);
  std::uniform_real_distribution<float> md(0.5e-4f, 2e-4f);
  for (int32_t c = 0; c < s.out_c; ++c) o.bias[c] = bd(rng), o.multiplier[c] = md(rng);
  return o;
}

void bench_kiln(benchmark::State& state, ConvBenchShape b, int wbits, int threads) {
  const kk::ConvShape s = to_shape(b);
  const kk::IsaChoice isa = kk::choose_isa();
  if (!isa.ok) return state.SkipWithError(isa.error.c_str());
  Operands o = make_operands(s, wbits);
  kk::PackedConv conv;
  std::string error = kk::conv_pack(s, o.weights.data(), wbits, o.bias.data(), o.multiplier.data(), 128, isa.isa, &conv);
  if (!error.empty()) return state.SkipWithError(error.c_str());
  std::vector<uint8_t> out(static_cast<size_t>(s.out_h()) * s.out_w() * s.out_c);
  kk::RequantParams p;
  p.zero_point = 0;  // ReLU: clamp at the zero point
  // KILN_BENCH_KILN_EPILOGUE=hardswish: kiln's side runs a hardswish epilogue instead (MobileNetV3's
  // depthwise layers; oneDNN and XNNPACK keep ReLU, so only kiln-to-kiln figures compare).
  if (const char* e = std::getenv("KILN_BENCH_KILN_EPILOGUE"); e != nullptr && std::string(e) != "relu") {
    if (std::string(e) != "hardswish") {
      return state.SkipWithError(("KILN_BENCH_KILN_EPILOGUE='" + std::string(e) + "': relu or hardswish").c_str());
    }
    p.activation = kk::Activation::hardswish;
    p.zero_point = 20;
    p.out_scale = 0.05f;
    p.hardswish_multiplier = 1.0f / (6.0f * 0.05f);
  }
  kiln::ThreadPool pool(threads);
  kk::ConvWorkspace workspace;
  for (auto _ : state) {
    error = kk::conv_run(conv, workspace, o.input.data(), out.data(), p, &pool);
    if (!error.empty()) return state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(state, s);
  state.SetLabel(std::string(kk::isa_name(isa.isa)) + " " + std::string(kk::conv_path_name(conv.path)));
}

void bench_onednn(benchmark::State& state, ConvBenchShape b, int threads) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const kk::ConvShape s = to_shape(b);
  omp_set_num_threads(threads);
  Operands o = make_operands(s, 8);
  const memory::dim g = s.groups, ic = s.in_c, oc = s.out_c, k = s.kernel_h;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc src_md({1, ic, s.in_h, s.in_w}, dt::u8, tag::nhwc);
  const memory::desc dst_md({1, oc, s.out_h(), s.out_w()}, dt::u8, tag::nhwc);
  const memory::desc bia_md({oc}, dt::s32, tag::x);
  // User weights: OHWI is ohwi (groups == 1) or, per group, g/o/h/w/i.
  const memory::desc user_w_md = g == 1 ? memory::desc({oc, ic, k, k}, dt::s8, tag::ohwi)
                                        : memory::desc({g, oc / g, ic / g, k, k}, dt::s8, tag::gohwi);
  const memory::desc any_w_md = g == 1 ? memory::desc({oc, ic, k, k}, dt::s8, tag::any)
                                       : memory::desc({g, oc / g, ic / g, k, k}, dt::s8, tag::any);
  const convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, src_md, any_w_md,
                                    bia_md, dst_md, {s.stride_h, s.stride_w}, {s.pad_top, s.pad_left},
                                    {s.pad_bottom, s.pad_right});
  primitive_attr attr;
  attr.set_output_scales(2, std::vector<float>(o.multiplier.begin(), o.multiplier.end()));
  post_ops po;
  po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(po);
  convolution_forward::primitive_desc pd;
  try {
    pd = convolution_forward::primitive_desc(d, attr, eng);
  } catch (const dnnl::error& e) {
    return state.SkipWithError(e.what());
  }
  memory src(src_md, eng, o.input.data());
  memory user_w(user_w_md, eng, o.weights.data());
  memory w(pd.weights_desc(), eng);
  reorder(user_w, w).execute(strm, user_w, w);
  memory bias(bia_md, eng, o.bias.data());
  memory dst(dst_md, eng);
  convolution_forward conv(pd);
  const std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
  for (auto _ : state) {
    conv.execute(strm, args);
    strm.wait();
  }
  set_rate(state, s);
  state.SetLabel(pd.impl_info_str());
}

void bench_xnnpack(benchmark::State& state, ConvBenchShape b, int threads) {
  const kk::ConvShape s = to_shape(b);
  if (xnn_initialize(nullptr) != xnn_status_success) return state.SkipWithError("xnn_initialize failed");
  Operands o = make_operands(s, 8);
  std::vector<int8_t> input(o.input.size());
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<int8_t>(o.input[i] - 128);
  std::vector<float> kernel_scale(s.out_c);
  for (int32_t c = 0; c < s.out_c; ++c) kernel_scale[c] = o.multiplier[c];  // input scale 1, output scale 1
  std::vector<int8_t> out(static_cast<size_t>(s.out_h()) * s.out_w() * s.out_c);
  xnn_operator_t op = nullptr;
  const uint32_t flags = s.is_depthwise() ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0;
  // XNNPACK's depthwise weights are [1][kh][kw][channels]; OHWI with one input per group is
  // [channels][kh][kw]: transpose.
  std::vector<int8_t> w = o.weights;
  if (s.is_depthwise()) {
    for (int32_t c = 0; c < s.out_c; ++c)
      for (int32_t t = 0; t < s.taps(); ++t) w[static_cast<size_t>(t) * s.out_c + c] = o.weights[static_cast<size_t>(c) * s.taps() + t];
  }
  const size_t gic = s.is_depthwise() ? 1 : s.group_in_c();
  const size_t goc = s.is_depthwise() ? 1 : s.group_out_c();
  xnn_status st = xnn_create_convolution2d_nhwc_qc8(
      s.pad_top, s.pad_right, s.pad_bottom, s.pad_left, s.kernel_h, s.kernel_w, s.stride_h, s.stride_w, 1, 1,
      s.groups, gic, goc, s.in_c, s.out_c, /*input_zero_point=*/0, 1.0f, kernel_scale.data(), w.data(), o.bias.data(),
      /*output_zero_point=*/-128, 1.0f, -128, 127, flags, &op);
  if (st != xnn_status_success) return state.SkipWithError("xnn_create_convolution2d_nhwc_qc8 failed");
  std::unique_ptr<xnn_operator, decltype(&xnn_delete_operator)> guard(op, xnn_delete_operator);
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
  st = xnn_setup_convolution2d_nhwc_qc8(op, 1, s.in_h, s.in_w, input.data(), out.data(), pool);
  if (st != xnn_status_success) {
    if (pool) pthreadpool_destroy(pool);
    return state.SkipWithError("xnn_setup_convolution2d_nhwc_qc8 failed");
  }
  for (auto _ : state) {
    if (xnn_run_operator(op, pool) != xnn_status_success) {
      state.SkipWithError("xnn_run_operator failed");
      break;
    }
  }
  if (pool) pthreadpool_destroy(pool);
  set_rate(state, s);
}

int register_conv_benchmarks() {
  const kiln::bench::Shapes& all = kiln::bench::shapes();
  if (!all.error.empty()) {
    std::fprintf(stderr, "kiln-bench-kernels: conv benchmarks not registered: %s\n", all.error.c_str());
    return 0;
  }
  for (const ConvBenchShape& b : all.conv) {
    for (int t : {1, 2}) {
      const std::string suffix = "/t" + std::to_string(t);
      const std::string base = "conv/" + b.name + "/";
      benchmark::RegisterBenchmark((base + "kiln_w8a8" + suffix).c_str(), bench_kiln, b, 8, t)->UseRealTime();
      benchmark::RegisterBenchmark((base + "kiln_w4a8" + suffix).c_str(), bench_kiln, b, 4, t)->UseRealTime();
      benchmark::RegisterBenchmark((base + "onednn_u8s8" + suffix).c_str(), bench_onednn, b, t)->UseRealTime();
      benchmark::RegisterBenchmark((base + "xnnpack_qc8" + suffix).c_str(), bench_xnnpack, b, t)->UseRealTime();
    }
  }
  return 0;
}

const int registered = register_conv_benchmarks();

}  // namespace
