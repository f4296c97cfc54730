// Whole-network fp32 benchmark (acceptance line 4 of issue 5): float ResNet-18 (full width,
// 224x224, batch 1, one thread) through import -> Model::create -> Session, every op of the network,
// against the SUM of oneDNN's fp32 convolution times for the same network's convolutions, in one
// binary. The oneDNN side is built from the canonicalised kiln graph itself, one primitive per kiln
// Conv node: same shapes, the layouts oneDNN prefers (format_tag::any), and the post-ops the fused
// kiln node has (bias; residual as a sum post-op; the fused activation as an eltwise post-op).
//
//   model_f32/kiln_session            Session::run of the whole network (every op)
//   model_f32/kiln_conv_sum           kiln's conv2d for each Conv node alone (same fusion), summed
//   model_f32/onednn_conv_sum         oneDNN's convolution for each Conv node, summed
//   model_f32_paired/kiln_vs_onednn   the three above alternately in every iteration, each timed by
//                                     the thread's CPU clock (robust to other processes on a loaded
//                                     machine): counters kiln_ms, kiln_conv_ms, onednn_conv_ms and
//                                     ratio = kiln_ms / onednn_conv_ms (the acceptance target: <= 1.2)
//   model_f32_conv/<node>             one Conv node, kiln vs oneDNN, paired the same way (per-layer view)
//
// Usage: kiln-bench-model [MODEL.onnx] [benchmark flags]; or KILN_MODEL_F32=MODEL.onnx. The model is
// generated, not committed: bench/run_model_bench.sh makes it with tests/models/make_models.py.
// oneDNN reads ONEDNN_MAX_CPU_ISA once per process; kiln reads KILN_ISA: set both to compare one ISA.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/kernels/f32/conv.h"
#include "kiln/kernels/isa.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

#if defined(KILN_HAVE_GOMP)
extern "C" void omp_set_num_threads(int);  // oneDNN's OpenMP runtime (libgomp)
#else
static void omp_set_num_threads(int) {}  // OMP_NUM_THREADS then decides oneDNN's threads
#endif

namespace {

namespace f32 = kiln::kernels::f32;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One Conv node of the canonicalised graph, as both libraries see it.
struct ConvSpec {
  std::string name;
  f32::Conv2dParams p;
  std::vector<float> weight_oihw;
  std::vector<float> bias;
  f32::Activation act;
  bool residual = false;
};

bool activation_of(const kiln::Node& n, f32::Activation* act, std::string* error) {
  const std::string a = n.get_string("activation", "");
  if (a.empty()) *act = f32::Activation::none();
  else if (a == "relu") *act = f32::Activation::relu();
  else if (a == "clip") *act = f32::Activation::clip(n.get_float("act_a", 0.0f), n.get_float("act_b", 0.0f));
  else if (a == "leaky_relu") *act = f32::Activation::leaky_relu(n.get_float("act_a", 0.01f));
  else if (a == "hardswish") *act = f32::Activation::hardswish();
  else if (a == "sigmoid") *act = f32::Activation::sigmoid();
  else if (a == "silu") *act = f32::Activation::silu();
  else {
    *error = "activation '" + a + "' has no oneDNN post-op here (" + n.label() + ")";
    return false;
  }
  return true;
}

bool collect_convs(const kiln::Graph& g, std::vector<ConvSpec>* out, std::string* error) {
  for (const kiln::Node& n : g.nodes) {
    if (n.op != "Conv") continue;
    const kiln::Value& x = g.values[n.inputs[0]];
    const kiln::Tensor* w = g.constant_of(n.inputs[1]);
    const kiln::Tensor* b = n.inputs.size() > 2 ? g.constant_of(n.inputs[2]) : nullptr;
    if (!w || !x.shape_known || x.shape.size() != 4 || w->shape().size() != 4) {
      *error = "conv without constant 4-D weights or known input shape (" + n.label() + ")";
      return false;
    }
    if (n.get_string("auto_pad", "NOTSET") != "NOTSET") {
      *error = "auto_pad is not handled by this benchmark (" + n.label() + ")";
      return false;
    }
    const kiln::Shape& ws = w->shape();
    const std::vector<int64_t> st = n.get_ints("strides", {1, 1}), dl = n.get_ints("dilations", {1, 1});
    const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
    ConvSpec c;
    c.name = n.name;
    c.p.batch = static_cast<size_t>(x.shape[0] < 1 ? 1 : x.shape[0]);
    c.p.in_c = static_cast<size_t>(x.shape[1]);
    c.p.in_h = static_cast<size_t>(x.shape[2]);
    c.p.in_w = static_cast<size_t>(x.shape[3]);
    c.p.out_c = static_cast<size_t>(ws[0]);
    c.p.groups = static_cast<size_t>(n.get_int("group", 1));
    c.p.kernel_h = static_cast<size_t>(ws[2]);
    c.p.kernel_w = static_cast<size_t>(ws[3]);
    c.p.stride_h = static_cast<size_t>(st[0]);
    c.p.stride_w = static_cast<size_t>(st[1]);
    c.p.dilation_h = static_cast<size_t>(dl[0]);
    c.p.dilation_w = static_cast<size_t>(dl[1]);
    c.p.pad_top = static_cast<size_t>(pads[0]);
    c.p.pad_left = static_cast<size_t>(pads[1]);
    c.p.pad_bottom = static_cast<size_t>(pads[2]);
    c.p.pad_right = static_cast<size_t>(pads[3]);
    if (std::string e = c.p.validate(); !e.empty()) {
      *error = e + " (" + n.label() + ")";
      return false;
    }
    c.weight_oihw.assign(w->data<float>(), w->data<float>() + w->elements());
    if (b) c.bias.assign(b->data<float>(), b->data<float>() + b->elements());
    else c.bias.assign(c.p.out_c, 0.0f);
    if (!activation_of(n, &c.act, error)) return false;
    c.residual = n.inputs.size() > 3 && n.inputs[3] >= 0;
    out->push_back(std::move(c));
  }
  return true;
}

// ---------------------------------------------------------------- kiln

struct KilnConv {
  const ConvSpec* spec = nullptr;
  f32::Conv2dPacked w;
  std::vector<float> x, y, residual;

  void run() const {
    f32::conv2d(spec->p, w, x.data(), const_cast<float*>(y.data()), spec->act, nullptr,
                spec->residual ? residual.data() : nullptr);
  }
};

std::unique_ptr<KilnConv> make_kiln(const ConvSpec& c, std::string* error) {
  auto k = std::make_unique<KilnConv>();
  k->spec = &c;
  *error = f32::conv2d_pack(c.p, c.weight_oihw.data(), c.bias.data(), &k->w);
  const size_t out_n = c.p.batch * c.p.out_h() * c.p.out_w() * c.p.out_c;
  k->x = random_floats(c.p.batch * c.p.in_h * c.p.in_w * c.p.in_c, 3);
  k->y.assign(out_n, 0.0f);
  if (c.residual) k->residual = random_floats(out_n, 4);
  return k;
}

// ---------------------------------------------------------------- oneDNN

struct OnednnConv {
  dnnl::convolution_forward conv;
  std::unordered_map<int, dnnl::memory> args;
  std::string impl;
};

bool onednn_post_ops(const ConvSpec& c, dnnl::post_ops* po, std::string* error) {
  using dnnl::algorithm;
  if (c.residual) po->append_sum(1.0f);  // dst = conv + dst: the residual lives in dst
  switch (c.act.op) {
    case f32::UnaryOp::identity: break;
    case f32::UnaryOp::relu: po->append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f); break;
    case f32::UnaryOp::leaky_relu: po->append_eltwise(1.0f, algorithm::eltwise_relu, c.act.a, 0.0f); break;
    case f32::UnaryOp::clip: po->append_eltwise(1.0f, algorithm::eltwise_clip, c.act.a, c.act.b); break;
    case f32::UnaryOp::hardswish: po->append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f); break;
    case f32::UnaryOp::sigmoid: po->append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f); break;
    case f32::UnaryOp::silu: po->append_eltwise(1.0f, algorithm::eltwise_swish, 1.0f, 0.0f); break;
    default: *error = "no oneDNN post-op for the activation of " + c.name; return false;
  }
  return true;
}

std::unique_ptr<OnednnConv> make_onednn(const ConvSpec& c, const dnnl::engine& eng, dnnl::stream& strm,
                                        std::string* error) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const f32::Conv2dParams& p = c.p;
  const auto d = [](size_t v) { return static_cast<memory::dim>(v); };
  const memory::dim g = d(p.groups), oc = d(p.out_c), ic = d(p.in_c), kh = d(p.kernel_h), kw = d(p.kernel_w);
  const memory::desc src_md({d(p.batch), ic, d(p.in_h), d(p.in_w)}, dt::f32, tag::any);
  const memory::desc dst_md({d(p.batch), oc, d(p.out_h()), d(p.out_w())}, dt::f32, tag::any);
  const memory::desc bias_md({oc}, dt::f32, tag::x);
  const bool grouped = p.groups > 1;
  const memory::dims w_dims = grouped ? memory::dims{g, oc / g, ic / g, kh, kw} : memory::dims{oc, ic, kh, kw};
  const memory::desc user_w_md(w_dims, dt::f32, grouped ? tag::goihw : tag::oihw);
  const memory::desc any_w_md(w_dims, dt::f32, tag::any);
  auto out = std::make_unique<OnednnConv>();
  post_ops po;
  if (!onednn_post_ops(c, &po, error)) return out;
  primitive_attr attr;
  attr.set_post_ops(po);
  try {
    const convolution_forward::desc desc(
        prop_kind::forward_inference, algorithm::convolution_direct, src_md, any_w_md, bias_md, dst_md,
        {d(p.stride_h), d(p.stride_w)}, {d(p.dilation_h) - 1, d(p.dilation_w) - 1}, {d(p.pad_top), d(p.pad_left)},
        {d(p.pad_bottom), d(p.pad_right)});
    const convolution_forward::primitive_desc pd(desc, attr, eng);
    out->impl = pd.impl_info_str();
    memory user_w(user_w_md, eng, const_cast<float*>(c.weight_oihw.data()));
    memory weights(pd.weights_desc(), eng);
    reorder(user_w, weights).execute(strm, user_w, weights);
    memory bias(bias_md, eng);
    std::memcpy(bias.get_data_handle(), c.bias.data(), c.bias.size() * sizeof(float));
    memory src(pd.src_desc(), eng);
    const auto x = random_floats(pd.src_desc().get_size() / sizeof(float), 3);
    std::memcpy(src.get_data_handle(), x.data(), x.size() * sizeof(float));
    memory dst(pd.dst_desc(), eng);
    const auto r = random_floats(pd.dst_desc().get_size() / sizeof(float), 4);
    std::memcpy(dst.get_data_handle(), r.data(), r.size() * sizeof(float));
    strm.wait();
    out->conv = convolution_forward(pd);
    out->args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
  } catch (const dnnl::error& e) {
    *error = std::string(e.what()) + " (" + c.name + ")";
  }
  return out;
}

// ---------------------------------------------------------------- the benchmarks

// Everything built once per process: the model, one session, the conv specs and both libraries'
// prepared convolutions.
struct Bench {
  std::shared_ptr<const kiln::Model> model;
  std::unique_ptr<kiln::Session> session;
  std::vector<ConvSpec> convs;
  std::vector<std::unique_ptr<KilnConv>> kiln_convs;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<std::unique_ptr<OnednnConv>> onednn_convs;
  double conv_flops = 0;

  void run_kiln_session() {
    const std::string e = session->run();
    if (!e.empty()) std::fprintf(stderr, "kiln-bench-model: run: %s\n", e.c_str());
  }
  void run_kiln_convs(size_t only = SIZE_MAX) {
    for (size_t i = 0; i < kiln_convs.size(); ++i) {
      if (only == SIZE_MAX || only == i) kiln_convs[i]->run();
    }
  }
  void run_onednn_convs(size_t only = SIZE_MAX) {
    for (size_t i = 0; i < onednn_convs.size(); ++i) {
      if (only == SIZE_MAX || only == i) onednn_convs[i]->conv.execute(strm, onednn_convs[i]->args);
    }
    strm.wait();
  }
};

Bench* g_bench = nullptr;

bool build_bench(const std::string& path, Bench* b, std::string* error) {
  omp_set_num_threads(1);
  kiln::Graph g;
  if (!kiln::onnx::import_model_file(path, &g, error)) return false;
  b->model = kiln::Model::create(std::move(g), error);
  if (!b->model) return false;
  b->session = std::make_unique<kiln::Session>(b->model, 1);
  const kiln::Graph& mg = b->model->graph();
  for (int v : mg.inputs) {
    kiln::Shape s = mg.values[v].shape;
    for (int64_t& dim : s) dim = dim < 1 ? 1 : dim;  // symbolic batch -> 1
    kiln::Tensor t(kiln::DType::f32, s);
    const auto x = random_floats(static_cast<size_t>(t.elements()), 7);
    std::memcpy(t.mutable_data<float>(), x.data(), x.size() * sizeof(float));
    if (*error = b->session->set_input(mg.values[v].name, t); !error->empty()) return false;
  }
  if (*error = b->session->run(); !error->empty()) return false;  // plans the arena once
  if (!collect_convs(mg, &b->convs, error)) return false;
  if (b->convs.empty()) {
    *error = "the model has no Conv node";
    return false;
  }
  for (const ConvSpec& c : b->convs) {
    b->kiln_convs.push_back(make_kiln(c, error));
    if (!error->empty()) return false;
    b->onednn_convs.push_back(make_onednn(c, b->eng, b->strm, error));
    if (!error->empty()) return false;
    const f32::Conv2dParams& p = c.p;
    b->conv_flops += 2.0 * static_cast<double>(p.batch * p.out_h() * p.out_w() * p.out_c * (p.in_c / p.groups) *
                                               p.kernel_h * p.kernel_w);
  }
  return true;
}

void set_flops(benchmark::State& state) {
  state.counters["conv_GFLOPS"] = benchmark::Counter(g_bench->conv_flops, benchmark::Counter::kIsIterationInvariantRate);
}

void bench_kiln_session(benchmark::State& state) {
  for (auto _ : state) g_bench->run_kiln_session();
  set_flops(state);
}

void bench_kiln_conv_sum(benchmark::State& state) {
  for (auto _ : state) g_bench->run_kiln_convs();
  set_flops(state);
}

void bench_onednn_conv_sum(benchmark::State& state) {
  omp_set_num_threads(1);
  for (auto _ : state) g_bench->run_onednn_convs();
  set_flops(state);
}

void bench_paired(benchmark::State& state) {
  omp_set_num_threads(1);
  double kiln_s = 0, kiln_conv_s = 0, onednn_s = 0;
  for (auto _ : state) {
    const double t0 = thread_cpu_seconds();
    g_bench->run_kiln_session();
    const double t1 = thread_cpu_seconds();
    g_bench->run_onednn_convs();
    const double t2 = thread_cpu_seconds();
    g_bench->run_kiln_convs();
    const double t3 = thread_cpu_seconds();
    kiln_s += t1 - t0;
    onednn_s += t2 - t1;
    kiln_conv_s += t3 - t2;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["kiln_ms"] = 1e3 * kiln_s / n;
  state.counters["kiln_conv_ms"] = 1e3 * kiln_conv_s / n;
  state.counters["onednn_conv_ms"] = 1e3 * onednn_s / n;
  state.counters["ratio"] = onednn_s > 0 ? kiln_s / onednn_s : 0.0;
  state.counters["conv_ratio"] = onednn_s > 0 ? kiln_conv_s / onednn_s : 0.0;
}

void bench_conv_paired(benchmark::State& state, size_t index) {
  omp_set_num_threads(1);
  double kiln_s = 0, onednn_s = 0;
  for (auto _ : state) {
    const double t0 = thread_cpu_seconds();
    g_bench->run_kiln_convs(index);
    const double t1 = thread_cpu_seconds();
    g_bench->run_onednn_convs(index);
    onednn_s += thread_cpu_seconds() - t1;
    kiln_s += t1 - t0;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["kiln_us"] = 1e6 * kiln_s / n;
  state.counters["onednn_us"] = 1e6 * onednn_s / n;
  state.counters["ratio"] = onednn_s > 0 ? kiln_s / onednn_s : 0.0;
  state.SetLabel(g_bench->onednn_convs[index]->impl);
}

std::string conv_label(const ConvSpec& c) {
  const f32::Conv2dParams& p = c.p;
  // ONNX exporters name nodes like "/blocks/blocks.0/conv1/Conv": drop the leading slash.
  std::string s = (c.name.rfind('/', 0) == 0 ? c.name.substr(1) : c.name) + "/" + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + "s" +
                  std::to_string(p.stride_h) + "_" + std::to_string(p.in_c) + "x" + std::to_string(p.in_h) + "to" +
                  std::to_string(p.out_c);
  if (c.residual) s += "+res";
  if (c.act.op != f32::UnaryOp::identity) s += "+act";
  return s;
}

void register_benchmarks() {
  benchmark::RegisterBenchmark("model_f32/kiln_session", bench_kiln_session)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("model_f32/kiln_conv_sum", bench_kiln_conv_sum)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("model_f32/onednn_conv_sum", bench_onednn_conv_sum)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("model_f32_paired/kiln_vs_onednn", bench_paired)->Unit(benchmark::kMillisecond);
  for (size_t i = 0; i < g_bench->convs.size(); ++i) {
    benchmark::RegisterBenchmark(("model_f32_conv/" + conv_label(g_bench->convs[i])).c_str(), bench_conv_paired, i)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // The model path: the first argument that is not a benchmark flag, else $KILN_MODEL_F32.
  std::string path;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && path.empty() && std::strncmp(argv[i], "--", 2) != 0) {
      path = argv[i];
    } else {
      args.push_back(argv[i]);
    }
  }
  if (path.empty()) {
    if (const char* env = std::getenv("KILN_MODEL_F32")) path = env;
  }
  if (path.empty()) {
    std::fprintf(stderr,
                 "kiln-bench-model: error: no model given. Pass MODEL.onnx or set KILN_MODEL_F32; "
                 "bench/run_model_bench.sh generates full-width ResNet-18 with tests/models/make_models.py\n");
    return 2;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "kiln-bench-model: error: cannot open the model (%s); generate it with "
                         "bench/run_model_bench.sh\n", path.c_str());
    return 2;
  }
  std::fclose(f);
  Bench bench;
  std::string error;
  if (!build_bench(path, &bench, &error)) {
    std::fprintf(stderr, "kiln-bench-model: error: %s (%s)\n", error.c_str(), path.c_str());
    return 1;
  }
  g_bench = &bench;
  std::printf("model %s: %zu Conv nodes, %.2f GFLOP in convolutions, kiln ISA %s\n", path.c_str(), bench.convs.size(),
              bench.conv_flops * 1e-9, std::string(kiln::kernels::isa_name(f32::default_isa())).c_str());
  register_benchmarks();
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
