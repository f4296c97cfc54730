// Load time of a ~10 MB .kiln file (issue 6, acceptance 2: < 5 ms and no weight copied).
// The file is written once to the temporary folder (so it is in the page cache, as a deployed model
// loaded a second time is) and loaded once per iteration, including the unmap at the end:
//   LoadFile/checksum     load_kiln() as shipped: mmap + hash every byte + verify + build graph
//   LoadFile/no_checksum  the same without the hash: pages are mapped lazily, only metadata is read
//   LoadMemory            verification and graph building alone, from bytes already in memory
// Every iteration checks that each weight tensor points into the file's bytes (zero copy); the
// "copied_weights" counter must read 0.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kiln/format/kiln_file.h"

namespace {

constexpr int kLayers = 68;  // 68 x (72 KiB int8 weight + 0.5 KiB bias + 72.5 KiB packed blob) ~ 10 MB

kiln::Graph model(kiln::NodeBlobs* blobs) {
  kiln::Graph g;
  kiln::Value x;
  x.name = "input";
  x.dtype = kiln::DType::u8;
  x.shape = {kiln::kSymbolicDim, 64, 56, 56};
  x.shape_known = true;
  x.quant.scales = {0.02f};
  x.quant.zero_points = {128};
  int prev = g.add_value(x);
  blobs->assign(kLayers, {});
  for (int l = 0; l < kLayers; ++l) {
    const std::string name = "block" + std::to_string(l) + ".conv";
    kiln::Tensor w(kiln::DType::s8, {128, 64, 3, 3});
    for (size_t i = 0; i < w.bytes(); ++i) w.mutable_data<int8_t>()[i] = static_cast<int8_t>((i * 37 + l) % 255 - 127);
    const int wi = g.add_constant(name + ".weight", w);
    g.values[wi].quant.scales.assign(128, 0.01f);
    g.values[wi].quant.zero_points.assign(128, 0);
    g.values[wi].quant.axis = 0;
    const int bi = g.add_constant(name + ".bias", kiln::Tensor(kiln::DType::s32, {128}));
    kiln::Value y;
    y.name = name + ".out";
    y.dtype = kiln::DType::u8;
    y.shape = {kiln::kSymbolicDim, 64, 56, 56};
    y.shape_known = true;
    y.quant.scales = {0.05f};
    y.quant.zero_points = {0};
    const int yo = g.add_value(y);
    kiln::Node n;
    n.name = name;
    n.op = "kiln.QConv";
    n.inputs = {prev, wi, bi};
    n.outputs = {yo};
    n.attrs["pads"] = kiln::Attr::of_ints({1, 1, 1, 1});
    n.attrs["strides"] = kiln::Attr::of_ints({1, 1});
    n.attrs["activation"] = kiln::Attr::of_string("relu");
    g.nodes.push_back(n);
    kiln::KernelBlob b;
    b.kind = "packed_weights";
    b.isa = "avx512vnni";
    b.mr = 4;
    b.nr = 16;
    b.kr = 4;
    b.data = kiln::Tensor(kiln::DType::u8, {128 * 64 * 9 + 512});
    (*blobs)[l].push_back(b);
    prev = yo;
  }
  g.inputs = {0};
  g.outputs = {prev};
  return g;
}

const std::string& model_path() {
  static const std::string path = [] {
    const std::string p = (std::filesystem::temp_directory_path() / ("kiln_bench_load_" + std::to_string(::getpid()) + ".kiln")).string();
    kiln::NodeBlobs blobs;
    const kiln::Graph g = model(&blobs);
    kiln::KilnSaveOptions o;
    o.blobs = &blobs;
    std::string error;
    if (!kiln::save_kiln(g, kiln::KilnMetadata(), p, &error, o)) {
      std::fprintf(stderr, "kiln-bench-load: %s\n", error.c_str());
      std::exit(1);
    }
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

}  // namespace
