// kiln bench: latency (median, p90) and model size per bit-width; an ONNX model is quantized on the
// fly (minmax ranges, MSE weights) for each bit-width asked. --layers adds a per-node time breakdown.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cli_args.h"
#include "command.h"
#include "kiln/calib/quantize.h"
#include "model_io.h"

namespace kiln::cli {
namespace {

const char kUsage[] =
    "usage: kiln bench MODEL(.onnx|.kiln) [options]\n\n"
    "Latency per bit-width (median and p90 over --runs timed runs after --warmup untimed ones; batch\n"
    "1 unless --batch), model size (a .kiln's bytes; fp32: the float weights' bytes) and, with --layers,\n"
    "the time per layer. For an ONNX model each quantized bit-width is made on the fly with minmax\n"
    "activation ranges and MSE weight scales from --calib samples. A .kiln is benchmarked as it is.\n\n"
    "options:\n"
    "  --bits LIST            fp32,w8a8,w4a8,w4a4,w2a8 (default fp32,w8a8,w4a8; ONNX models only)\n"
    "  --calib PATH           calibration samples for the quantized bit-widths (also the bench input)\n"
    "  --calib-format F       images|idx|npy|auto\n"
    "  --samples N            calibration samples for the on-the-fly quantization (default 64)\n"
    "  --mean .. --std .. --size HxW --layout nchw|nhwc --gray   preprocessing of --calib images\n"
    "  --batch B              batch size of the bench input (default 1)\n"
    "  --threads T            threads (default 1)\n"
    "  --warmup N             untimed runs first (default 5)\n"
    "  --runs N               timed runs (default 50)\n"
    "  --layers               per-layer time breakdown (a separate profiled pass)\n"
    "  --json                 machine-readable output\n\n"
    "examples:\n"
    "  kiln bench model.onnx --calib train-images-idx3-ubyte.gz --mean 0.286 --std 0.353 --bits fp32,w8a8,w4a8\n"
    "  kiln bench model_w8a8.kiln --runs 200 --layers\n";

std::vector<OptionSpec> bench_options() {
  std::vector<OptionSpec> s = {{"bits", true},  {"calib", true},   {"calib-format", true}, {"samples", true},
                               {"batch", true}, {"threads", true}, {"warmup", true},       {"runs", true},
                               {"layers", false}, {"json", false}};
  s.insert(s.end(), kPreprocessOptions.begin(), kPreprocessOptions.end());
  return s;
}

struct Variant {
  std::string bits;  // "fp32", "w8a8", ...
  int wbits = 0, abits = 0;
};

bool parse_bits(const std::string& text, Variant* v) {
  v->bits = text;
  if (text == "fp32") return true;
  int w = 0, a = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "w%da%d%c", &w, &a, &tail) != 2) return false;
  if ((w != 8 && w != 4 && w != 2) || (a != 8 && a != 4)) return false;
  v->wbits = w;
  v->abits = a;
  return true;
}

struct Result {
  Variant v;
  size_t model_bytes = 0;
  double median_ms = 0, p90_ms = 0, min_ms = 0;
  std::vector<NodeProfile> layers;
};

size_t float_weight_bytes(const Graph& g) {
  size_t n = 0;
  for (const Value& v : g.values) {
    if (v.constant) n += v.constant->bytes();
  }
  return n;
}

// Inputs for the timed runs: the first samples of the calibration data, else fixed pseudo-random
// values (N(0,1), seed 1) of the model's input shapes with dynamic dimensions set to the batch.
bool make_inputs(const Model& model, calib::SampleSource* source, size_t batch, std::vector<std::pair<std::string, Tensor>>* out,
                 std::string* error) {
  if (source) {
    calib::SampleBatch b;
    if (!source->rewind(error) || !source->next(batch, &b, error)) return false;
    if (b.count != batch) {
      *error = "the data holds fewer samples than --batch";
      return false;
    }
    for (size_t i = 0; i < b.inputs.size(); ++i) out->emplace_back(model_input_for(*source, i, model), to_tensor(b.inputs[i]));
    return true;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const Graph& g = model.logical_graph();
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value& v = g.values[g.inputs[i]];
    Shape s = v.shape;
    for (size_t d = 0; d < s.size(); ++d) {
      if (s[d] <= 0) s[d] = d == 0 ? static_cast<int64_t>(batch) : 1;
    }
    if (v.dtype != DType::f32) {
      *error = "input '" + v.name + "' is not float32; give --calib data for it";
      return false;
    }
    Tensor t(DType::f32, s);
    float* p = t.mutable_data<float>();
    for (size_t k = 0; k < t.elements(); ++k) p[k] = nd(rng);
    out->emplace_back(v.name, std::move(t));
  }
  return true;
}

bool time_model(std::shared_ptr<const Model> model, const std::vector<std::pair<std::string, Tensor>>& inputs,
                int threads, int warmup, int runs, bool layers, Result* r, std::string* error) {
  Session s(std::move(model), threads);
  for (const auto& [name, t] : inputs) {
    if (std::string e = s.set_input(name, t); !e.empty()) {
      *error = e;
      return false;
    }
  }
  for (int i = 0; i < std::max(warmup, 1); ++i) {  // the first run plans
    if (std::string e = s.run(); !e.empty()) {
      *error = e;
      return false;
    }
  }
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (std::string e = s.run(); !e.empty()) {
      *error = e;
      return false;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  r->median_ms = ms[ms.size() / 2];
  r->p90_ms = ms[std::min(ms.size() - 1, static_cast<size_t>(std::ceil(0.9 * static_cast<double>(ms.size()))) - 1)];
  r->min_ms = ms.front();
  if (layers) {  // a separate pass, so the timer calls do not inflate the latency above
    s.set_profiling(true);
    for (int i = 0; i < runs; ++i) {
      if (std::string e = s.run(); !e.empty()) {
        *error = e;
        return false;
      }
    }
    r->layers = s.profile();
    s.set_profiling(false);
  }
  return true;
}

void print_layers(const Result& r, bool json) {
  std::vector<NodeProfile> l = r.layers;
  l.erase(std::remove_if(l.begin(), l.end(), [](const NodeProfile& p) { return p.runs == 0; }), l.end());
  double total = 0;
  for (const NodeProfile& p : l) total += p.total_us / static_cast<double>(p.runs);
  std::stable_sort(l.begin(), l.end(), [](const NodeProfile& a, const NodeProfile& b) {
    return a.total_us / static_cast<double>(a.runs) > b.total_us / static_cast<double>(b.runs);
  });
  if (json) {
    std::printf(", \"layers\": [");
    for (size_t i = 0; i < l.size(); ++i) {
      std::printf("%s{\"name\": \"%s\", \"op\": \"%s\", \"us\": %.3f}", i ? ", " : "", json_escape(l[i].name).c_str(),
                  json_escape(l[i].op).c_str(), l[i].total_us / static_cast<double>(l[i].runs));
    }
    std::printf("]");
    return;
  }
  std::printf("  layers of %s (mean per run, slowest first; sum %.1f us):\n", r.v.bits.c_str(), total);
  for (const NodeProfile& p : l) {
    const double us = p.total_us / static_cast<double>(p.runs);
    std::printf("    %-40s %-22s %9.1f us %5.1f%%\n", p.name.c_str(), p.op.c_str(), us, total > 0 ? 100.0 * us / total : 0.0);
  }
}

}  // namespace

int run_bench(int argc, char** argv) {
  const std::vector<OptionSpec> specs = bench_options();
  ParsedArgs args;
  std::string err;
  if (!parse_args(argc, argv, specs, &args, &err)) return fail(err, "kiln bench");
  if (args.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.positionals.size() != 1) return fail("give exactly one MODEL; see kiln bench --help", "kiln bench");
  const std::string model_path = args.positionals[0];
  long long threads = 1, warmup = 5, runs = 50, batch = 1, samples = 64;
  if ((args.has("threads") && !parse_int_option("threads", args.get("threads"), 1, 1024, &threads, &err)) ||
      (args.has("warmup") && !parse_int_option("warmup", args.get("warmup"), 0, 100000, &warmup, &err)) ||
      (args.has("runs") && !parse_int_option("runs", args.get("runs"), 1, 1000000, &runs, &err)) ||
      (args.has("batch") && !parse_int_option("batch", args.get("batch"), 1, 4096, &batch, &err)) ||
      (args.has("samples") && !parse_int_option("samples", args.get("samples"), 1, 1LL << 32, &samples, &err))) {
    return fail(err, "kiln bench");
  }
  const bool json = args.has("json");

  LoadedModel lm;
  if (!load_model_file(model_path, &lm, &err)) return fail(err, model_path);
  std::vector<Variant> variants;
  if (lm.is_kiln) {
    if (args.has("bits")) return fail("--bits applies to ONNX models; a .kiln is benchmarked as it is", model_path);
    Variant v;
    v.wbits = lm.file.metadata.weight_bits;
    v.abits = lm.file.metadata.activation_bits;
    v.bits = v.wbits ? "w" + std::to_string(v.wbits) + "a" + std::to_string(v.abits) : "fp32";
    variants.push_back(v);
  } else {
    std::vector<std::string> names;
    parse_list(args.get("bits", "fp32,w8a8,w4a8"), &names);
    for (const std::string& n : names) {
      Variant v;
      if (!parse_bits(n, &v)) return fail("--bits: '" + n + "' is not fp32 or wXaY (w 8/4/2, a 8/4)", "kiln bench");
      if (v.wbits && !args.has("calib")) {
        return fail("--bits " + n + " needs --calib PATH: samples to quantize the ONNX model on the fly", "kiln bench");
      }
      variants.push_back(v);
    }
  }

  std::unique_ptr<calib::SampleSource> source;
  if (args.has("calib")) {
    calib::SourceOptions so;
    if (args.has("calib-format") && !calib::parse_data_format(args.get("calib-format"), &so.format, &err)) {
      return fail("--calib-format: " + err, "kiln bench");
    }
    if (!resolve_preprocess(args, lm.is_kiln ? &lm.file.metadata : nullptr, *lm.model, &so.preprocess, &err)) {
      return fail(err, "kiln bench");
    }
    so.limit = static_cast<size_t>(std::max(samples, batch));
    if (!open_model_source(args.get("calib"), so, *lm.model, &source, &err)) return fail_file(err, args.get("calib"));
    if (!lm.is_kiln) {  // quantized variants run at the data's sizes: so does the float baseline
      Graph g;
      std::string bound;
      if (!calib::bind_open_input_sizes(lm.model->logical_graph(), *source, &g, &bound, &err)) return fail(err, model_path);
      if (!bound.empty()) {
        std::fprintf(stderr, "kiln: note: %s\n", bound.c_str());
        if (!(lm.model = Model::create(std::move(g), &err))) return fail(err, model_path);
      }
    }
  }
  std::vector<std::pair<std::string, Tensor>> inputs;
  if (!make_inputs(*lm.model, source.get(), static_cast<size_t>(batch), &inputs, &err)) {
    return fail(err, source ? args.get("calib") : model_path);
  }

  std::vector<Result> results;
  for (const Variant& v : variants) {
    Result r;
    r.v = v;
    std::shared_ptr<const Model> m = lm.model;
    if (lm.is_kiln) {
      r.model_bytes = lm.file_bytes;
    } else if (!v.wbits) {
      r.model_bytes = float_weight_bytes(lm.model->logical_graph());
    } else {
      calib::QuantizeOptions q;
      q.wbits = v.wbits;
      q.abits = v.abits;
      q.samples = static_cast<size_t>(samples);
      q.threads = static_cast<int>(threads);
      calib::QuantizeResult qr;
      if (!calib::quantize_graph(lm.model->logical_graph(), *source, q, &qr, &err)) return fail(v.bits + ": " + err, model_path);
      KilnMetadata meta;
      meta.calibration_method = "minmax";
      meta.weight_bits = v.wbits;
      meta.activation_bits = v.abits;
      std::string bytes;
      if (!serialize_kiln(qr.q, meta, &bytes, &err)) return fail(v.bits + ": " + err, model_path);
      r.model_bytes = bytes.size();
      KilnFile file;
      if (!load_kiln_copy(bytes.data(), bytes.size(), &file, &err)) return fail(v.bits + ": " + err, model_path);
      ModelOptions mo;
      mo.canonicalize = false;
      m = Model::create(file.graph, &err, mo);
      if (!m) return fail(v.bits + ": " + err, model_path);
    }
    if (!time_model(m, inputs, static_cast<int>(threads), static_cast<int>(warmup), static_cast<int>(runs),
                    args.has("layers"), &r, &err)) {
      return fail(v.bits + ": " + err, model_path);
    }
    if (!json) {
      std::printf("%-6s median %8.3f ms  p90 %8.3f ms  min %8.3f ms  size %9zu bytes\n", v.bits.c_str(), r.median_ms,
                  r.p90_ms, r.min_ms, r.model_bytes);
      if (args.has("layers")) print_layers(r, false);
      std::fflush(stdout);
    }
    results.push_back(std::move(r));
  }
  if (json) {
    std::printf("{\"model\": \"%s\", \"threads\": %lld, \"batch\": %lld, \"runs\": %lld, \"results\": [",
                json_escape(model_path).c_str(), threads, batch, runs);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("%s{\"bits\": \"%s\", \"median_ms\": %.4f, \"p90_ms\": %.4f, \"min_ms\": %.4f, \"model_bytes\": %zu",
                  i ? ", " : "", r.v.bits.c_str(), r.median_ms, r.p90_ms, r.min_ms, r.model_bytes);
      if (args.has("layers")) print_layers(r, true);
      std::printf("}");
    }
    std::printf("]}\n");
  }
  return 0;
}

}  // namespace kiln::cli
