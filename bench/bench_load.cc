// Load time of a ~10 MB quantized .kiln file (issue 6, acceptance 2: < 5 ms and no weight copied).
// The model is a real Q graph (kiln.Quantize, 60 kiln.QConv 3x3 96->96 with ReLU clamps,
// kiln.Dequantize) whose convolutions carry kernel blobs packed for this CPU's ISA (what
// `kiln quantize` writes). The file is written once to the temporary folder (so it is in the page
// cache, as a deployed model loaded a second time is) and loaded once per iteration, including the
// unmap at the end:
//   LoadFile/checksum     load_kiln() as shipped: mmap + hash every byte + verify + build graph
//   LoadFile/no_checksum  the same without the hash: pages are mapped lazily, only metadata is read
//   LoadMemory            verification and graph building alone, from bytes already in memory
//   LoadAndPrepare        load_kiln() (no checksum) + Model::create() as the C API does it (no
//                         canonicalisation): ready to run; every QConv uses its blob in
//                         place ("packed_in_place" counts them; it must equal "convs")
//   PrepareWithoutBlobs   Model::create() of the same graph with the blobs removed: packing at load,
//                         for comparison
// Every iteration checks that each weight tensor points into the file's bytes (zero copy); the
// "copied_weights" counter must read 0.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kiln/format/kiln_file.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/q_blobs.h"

namespace {

constexpr int kLayers = 60;  // 60 x (81 KiB int8 weight + ~82 KiB packed blob) ~ 10 MB
constexpr int64_t kC = 96, kHW = 14;

kiln::Graph model() {
  kiln::Graph g;
  kiln::Value x;
  x.name = "input";
  x.dtype = kiln::DType::f32;
  x.shape = {kiln::kSymbolicDim, kC, kHW, kHW};
  x.shape_known = true;
  const int in = g.add_value(x);
  kiln::Value q = x;
  q.name = "input__q";
  q.dtype = kiln::DType::u8;
  q.shape_known = false;
  q.quant.scales = {0.02f};
  q.quant.zero_points = {128};
  int prev = g.add_value(q);
  kiln::Node qn;
  qn.name = "quantize";
  qn.op = "kiln.Quantize";
  qn.inputs = {in};
  qn.outputs = {prev};
  g.nodes.push_back(qn);
  for (int l = 0; l < kLayers; ++l) {
    const std::string name = "block" + std::to_string(l) + ".conv";
    kiln::Tensor w(kiln::DType::s8, {kC, 3, 3, kC});  // OHWI
    for (size_t i = 0; i < w.bytes(); ++i) w.mutable_data<int8_t>()[i] = static_cast<int8_t>((i * 37 + l) % 255 - 127);
    const int wi = g.add_constant(name + ".weight", w);
    g.values[wi].quant.scales.assign(kC, 0.01f);
    g.values[wi].quant.zero_points.assign(kC, 0);
    g.values[wi].quant.axis = 0;
    const int bi = g.add_constant(name + ".bias", kiln::Tensor(kiln::DType::s32, {kC}));
    kiln::Tensor m(kiln::DType::f32, {kC});
    for (int64_t c = 0; c < kC; ++c) m.mutable_data<float>()[c] = 1e-4f;
    const int mi = g.add_constant(name + ".multiplier", m);
    kiln::Value y;
    y.name = name + ".out";
    y.dtype = kiln::DType::u8;
    y.quant.scales = {0.05f};
    y.quant.zero_points = {0};
    const int yo = g.add_value(y);
    kiln::Node n;
    n.name = name;
    n.op = "kiln.QConv";
    n.inputs = {prev, wi, bi, mi};
    n.outputs = {yo};
    n.attrs["kernel_shape"] = kiln::Attr::of_ints({3, 3});
    n.attrs["pads"] = kiln::Attr::of_ints({1, 1, 1, 1});
    n.attrs["strides"] = kiln::Attr::of_ints({1, 1});
    n.attrs["qmin"] = kiln::Attr::of_int(0);  // ReLU: qmin = zo
    g.nodes.push_back(n);
    prev = yo;
  }
  kiln::Value out;
  out.name = "output";
  const int o = g.add_value(out);
  kiln::Node dq;
  dq.name = "dequantize";
  dq.op = "kiln.Dequantize";
  dq.inputs = {prev};
  dq.outputs = {o};
  g.nodes.push_back(dq);
  g.inputs = {in};
  g.outputs = {o};
  return g;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "kiln-bench-load: %s\n", what.c_str());
  std::exit(1);
}

const std::string& model_path() {
  static const std::string path = [] {
    const std::string p = (std::filesystem::temp_directory_path() / ("kiln_bench_load_" + std::to_string(::getpid()) + ".kiln")).string();
    kiln::Graph g = model();
    const kiln::kernels::IsaChoice isa = kiln::kernels::choose_isa();
    if (!isa.ok) die(isa.error);
    if (std::string e = kiln::pack_q_blobs(g, isa.isa); !e.empty()) die(e);
    std::string error;
    if (!kiln::save_kiln(g, kiln::KilnMetadata(), p, &error)) die(error);
    std::atexit([] { std::filesystem::remove(model_path()); });
    return p;
  }();
  return path;
}

// Weight tensors whose bytes are not inside the loaded file's bytes (copies): must be 0.
size_t copied_weights(const kiln::KilnFile& f) {
  size_t copies = 0;
  const uint8_t* lo = f.bytes;
  const uint8_t* hi = f.bytes + f.file_size;
  for (const kiln::Value& v : f.graph.values) {
    if (!v.constant) continue;
    const auto* p = static_cast<const uint8_t*>(v.constant->raw());
    if (p < lo || p + v.constant->bytes() > hi) ++copies;
  }
  return copies;
}

void report(benchmark::State& state, size_t file_size, size_t copies) {
  state.counters["file_MB"] = static_cast<double>(file_size) / 1e6;
  state.counters["copied_weights"] = static_cast<double>(copies);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * file_size));
  if (copies) state.SkipWithError("weights were copied");
}

void LoadFile(benchmark::State& state) {
  kiln::KilnLoadOptions o;
  o.verify_checksum = state.range(0) != 0;
  const std::string& path = model_path();
  size_t size = 0, copies = 0;
  for (auto _ : state) {
    kiln::KilnFile f;
    std::string error;
    if (!kiln::load_kiln(path, &f, &error, o)) {
      state.SkipWithError(error.c_str());
      return;
    }
    size = f.file_size;
    copies += copied_weights(f);
    benchmark::DoNotOptimize(f.graph.values.data());
  }
  report(state, size, copies);
}
BENCHMARK(LoadFile)->ArgName("checksum")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void LoadMemory(benchmark::State& state) {
  const std::string& path = model_path();
  const size_t size = std::filesystem::file_size(path);
  void* raw = std::aligned_alloc(64, (size + 63) / 64 * 64);
  std::ifstream(path, std::ios::binary).read(static_cast<char*>(raw), static_cast<std::streamsize>(size));
  std::shared_ptr<const void> owner(raw, [](const void* p) { std::free(const_cast<void*>(p)); });
  kiln::KilnLoadOptions o;
  o.verify_checksum = state.range(0) != 0;
  size_t copies = 0;
  for (auto _ : state) {
    kiln::KilnFile f;
    std::string error;
    if (!kiln::load_kiln_from_memory(raw, size, owner, &f, &error, o)) {
      state.SkipWithError(error.c_str());
      return;
    }
    copies += copied_weights(f);
    benchmark::DoNotOptimize(f.graph.values.data());
  }
  report(state, size, copies);
}
BENCHMARK(LoadMemory)->ArgName("checksum")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// Nodes of a created model whose packed weights are a node blob used in place.
size_t in_place(const kiln::Model& m, size_t* convs) {
  size_t n = 0;
  *convs = 0;
  for (size_t i = 0; i < m.graph().nodes.size(); ++i) {
    kiln::QPackedInfo info;
    if (!kiln::q_packed_info(m, i, &info)) continue;
    ++*convs;
    n += info.from_blob ? 1 : 0;
  }
  return n;
}

void LoadAndPrepare(benchmark::State& state) {
  const std::string& path = model_path();
  kiln::KilnLoadOptions o;
  o.verify_checksum = false;
  size_t size = 0, copies = 0, packed = 0, convs = 0;
  for (auto _ : state) {
    kiln::KilnFile f;
    std::string error;
    if (!kiln::load_kiln(path, &f, &error, o)) {
      state.SkipWithError(error.c_str());
      return;
    }
    size = f.file_size;
    copies += copied_weights(f);
    kiln::ModelOptions mo;
    mo.canonicalize = false;  // a .kiln graph runs as stored (what the C API does)
    auto m = kiln::Model::create(std::move(f.graph), &error, mo);
    if (!m) {
      state.SkipWithError(error.c_str());
      return;
    }
    packed = in_place(*m, &convs);
    benchmark::DoNotOptimize(m.get());
  }
  report(state, size, copies);
  state.counters["convs"] = static_cast<double>(convs);
  state.counters["packed_in_place"] = static_cast<double>(packed);
  if (packed != convs) state.SkipWithError("a QConv did not use its blob");
}
BENCHMARK(LoadAndPrepare)->Unit(benchmark::kMillisecond);

void PrepareWithoutBlobs(benchmark::State& state) {
  kiln::KilnFile f;
  std::string error;
  if (!kiln::load_kiln(model_path(), &f, &error)) die(error);
  for (kiln::Node& n : f.graph.nodes) n.blobs.clear();
  size_t convs = 0, packed = 0;
  kiln::ModelOptions mo;
  mo.canonicalize = false;
  for (auto _ : state) {
    auto m = kiln::Model::create(f.graph, &error, mo);
    if (!m) {
      state.SkipWithError(error.c_str());
      return;
    }
    packed = in_place(*m, &convs);
    benchmark::DoNotOptimize(m.get());
  }
  state.counters["convs"] = static_cast<double>(convs);
  state.counters["packed_in_place"] = static_cast<double>(packed);
}
BENCHMARK(PrepareWithoutBlobs)->Unit(benchmark::kMillisecond);

}  // namespace
