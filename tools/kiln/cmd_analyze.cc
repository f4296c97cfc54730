// kiln analyze: which layer hurts. Runs the float model and the .kiln's QFloat simulation on the
// same samples and compares every quantized activation (matched by name: Q values keep Float'
// names) with its float counterpart: SQNR and cosine similarity, plus the layer's own SQNR (the
// noise it adds beyond what its inputs bring), which ranks a layer by its own error rather than by
// the error it inherits from the layers before it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli_args.h"
#include "command.h"
#include "kiln/calib/qfloat.h"
#include "model_io.h"
#include "progress.h"

namespace kiln::cli {
namespace {

const char kUsage[] =
    "usage: kiln analyze FLOAT.onnx QUANT.kiln --data PATH [options]\n\n"
    "Per quantized activation of QUANT.kiln: SQNR (dB) and cosine similarity between the float model's\n"
    "activation and the quantized one (QFloat, dequantized) over the samples, and the layer's own SQNR\n"
    "('own': signal over the noise the layer adds beyond its inputs' noise). Rows are ranked worst first\n"
    "(lowest own SQNR; --sort sqnr ranks by the output SQNR), each with the override that keeps the layer float\n"
    "(for kiln quantize --overrides). The .kiln's recorded preprocessing is used unless overridden.\n\n"
    "options:\n"
    "  --data PATH            samples (images, IDX, .npy; no labels needed)\n"
    "  --data-format F        images|idx|npy|auto\n"
    "  --samples N            samples to compare over (default 64)\n"
    "  --batch B              samples per run (default 16)\n"
    "  --mean .. --std .. --size HxW --layout nchw|nhwc --gray   preprocessing overrides\n"
    "  --sort own|sqnr        ranking (default own)\n"
    "  --top K                print only the K worst rows (default all)\n"
    "  --threads T            threads (default 1)\n"
    "  --json                 machine-readable output\n\n"
    "examples:\n"
    "  kiln analyze model.onnx model_w4a8.kiln --data train-images-idx3-ubyte.gz --samples 64\n"
    "  kiln analyze model.onnx model_w4a8.kiln --data calib/ --top 5 --json\n";

std::vector<OptionSpec> analyze_options() {
  std::vector<OptionSpec> s = {{"data", true}, {"data-format", true}, {"samples", true}, {"batch", true},
                               {"sort", true}, {"top", true},         {"threads", true}, {"json", false}};
  s.insert(s.end(), kPreprocessOptions.begin(), kPreprocessOptions.end());
  return s;
}

// One compared activation: a u8 value of the Q graph and the float value of the same name.
struct Row {
  std::string q_name, f_name;
  std::string layer, op;  // the Float' node that produces it (the override key) and the Q op
  int wbits = 0, abits = 0;
  float scale = 1.0f;
  int32_t zero_point = 0;
  std::vector<std::string> q_inputs;  // the Q producer's quantized activation inputs
  double signal = 0, noise = 0, dot = 0, qq = 0;
  size_t elements = 0;
  bool shape_mismatch = false;
  double sqnr = 0, in_sqnr = 0, own = 0, cosine = 0;  // own: the layer's own SQNR (dB)
};

double sqnr_db(double signal, double noise) {
  if (noise <= 0) return std::numeric_limits<double>::infinity();
  if (signal <= 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

std::string db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string json_num(double v) { return std::isfinite(v) ? db(v) : (v > 0 ? "1e9" : "-1e9"); }

// The rows: every non-constant u8 activation of the Q graph with a float counterpart.
std::vector<Row> plan_rows(const Graph& q, const Graph& f) {
  std::vector<Row> rows;
  std::map<std::string, size_t> by_name;
  for (size_t vi = 0; vi < q.values.size(); ++vi) {
    const Value& v = q.values[vi];
    if (v.constant || v.dtype != DType::u8 || v.quant.scales.size() != 1) continue;
    std::string fname = v.name;
    if (f.find_value(fname) < 0 && fname.size() > 3 && fname.compare(fname.size() - 3, 3, "__q") == 0) {
      fname.resize(fname.size() - 3);
    }
    const int fv = f.find_value(fname);
    if (fv < 0 || f.values[fv].dtype != DType::f32) continue;
    Row r;
    r.q_name = v.name;
    r.f_name = fname;
    r.scale = v.quant.scales[0];
    r.zero_point = v.quant.zero_points.empty() ? 0 : v.quant.zero_points[0];
    r.abits = v.quant.bits;
    if (f.values[fv].producer >= 0) r.layer = f.nodes[f.values[fv].producer].name;
    if (v.producer >= 0) {
      const Node& n = q.nodes[v.producer];
      r.op = n.op;
      r.wbits = static_cast<int>(n.get_int("wbits", 0));
      for (int in : n.inputs) {
        if (in >= 0 && !q.values[in].constant && q.values[in].dtype == DType::u8) r.q_inputs.push_back(q.values[in].name);
      }
    } else {
      r.op = "input";
    }
    by_name[r.q_name] = rows.size();
    rows.push_back(std::move(r));
  }
  return rows;
}

// Output SQNR, input SQNR (the worst of the measured inputs) and the layer's own SQNR: the noise it
// adds itself, as noise-to-signal ratios add: own = -10 log10(nsr_out - nsr_in). A layer fed by
// float values (or unmeasured ones) owns all of its noise.
void finish_rows(std::vector<Row>* rows) {
  std::map<std::string, double> nsr_of;
  for (Row& r : *rows) {
    r.sqnr = sqnr_db(r.signal, r.noise);
    r.cosine = r.signal > 0 && r.qq > 0 ? r.dot / std::sqrt(r.signal * r.qq) : (r.noise == 0 ? 1.0 : 0.0);
    nsr_of[r.q_name] = r.signal > 0 ? r.noise / r.signal : (r.noise > 0 ? 1e30 : 0.0);
  }
  for (Row& r : *rows) {
    double nsr_in = 0;
    for (const std::string& in : r.q_inputs) {
      auto it = nsr_of.find(in);
      if (it != nsr_of.end()) nsr_in = std::max(nsr_in, it->second);
    }
    const double nsr_out = nsr_of[r.q_name];
    r.in_sqnr = nsr_in > 0 ? -10.0 * std::log10(nsr_in) : std::numeric_limits<double>::infinity();
    const double own = nsr_out - nsr_in;
    r.own = own > 0 ? -10.0 * std::log10(own) : std::numeric_limits<double>::infinity();
  }
}

}  // namespace

int run_analyze(int argc, char** argv) {
  const std::vector<OptionSpec> specs = analyze_options();
  ParsedArgs args;
  std::string err;
  if (!parse_args(argc, argv, specs, &args, &err)) return fail(err, "kiln analyze");
  if (args.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.positionals.size() != 2) return fail("give FLOAT.onnx and QUANT.kiln; see kiln analyze --help", "kiln analyze");
  if (!args.has("data")) return fail("--data is required", "kiln analyze");
  const std::string float_path = args.positionals[0], q_path = args.positionals[1];
  long long samples = 64, batch = 16, threads = 1, top = 0;
  if ((args.has("samples") && !parse_int_option("samples", args.get("samples"), 1, 1LL << 32, &samples, &err)) ||
      (args.has("batch") && !parse_int_option("batch", args.get("batch"), 1, 4096, &batch, &err)) ||
      (args.has("threads") && !parse_int_option("threads", args.get("threads"), 1, 1024, &threads, &err)) ||
      (args.has("top") && !parse_int_option("top", args.get("top"), 1, 1LL << 32, &top, &err))) {
    return fail(err, "kiln analyze");
  }
  const std::string sort = args.get("sort", "own");
  if (sort != "own" && sort != "sqnr") return fail("--sort: own or sqnr", "kiln analyze");
  const bool json = args.has("json");

  std::shared_ptr<const Model> fmodel;
  std::string bytes;
  if (!load_onnx(float_path, &fmodel, &bytes, &err)) return fail(err, float_path);
  bytes = std::string();
  LoadedModel qm;
  if (!load_model_file(q_path, &qm, &err)) return fail(err, q_path);
  if (!qm.is_kiln) return fail("the second model must be a .kiln", q_path);

  std::vector<Row> rows = plan_rows(qm.file.graph, fmodel->logical_graph());
  if (rows.empty()) return fail("no quantized activation of the .kiln matches a float value by name", q_path);
  std::map<std::string, size_t> wanted;  // float name -> row (a float value may feed one row only)
  for (size_t i = 0; i < rows.size(); ++i) wanted.emplace(rows[i].f_name, i);

  calib::QFloatOptions qo;
  qo.threads = static_cast<int>(threads);
  qo.keep_values = true;
  std::unique_ptr<calib::QFloatSession> sim;
  if (!calib::QFloatSession::create(qm.file.graph, qo, &sim, &err)) return fail("cannot simulate: " + err, q_path);

  calib::SourceOptions so;
  if (args.has("data-format") && !calib::parse_data_format(args.get("data-format"), &so.format, &err)) {
    return fail("--data-format: " + err, "kiln analyze");
  }
  if (!resolve_preprocess(args, &qm.file.metadata, *fmodel, &so.preprocess, &err)) return fail(err, "kiln analyze");
  so.limit = static_cast<size_t>(samples);
  std::unique_ptr<calib::SampleSource> source;
  if (!open_model_source(args.get("data"), so, *fmodel, &source, &err)) return fail_file(err, args.get("data"));
  const Value& in0 = fmodel->logical_graph().values[fmodel->logical_graph().inputs[0]];
  if (!in0.shape.empty() && in0.shape[0] > 0) batch = in0.shape[0];

  Session fs(fmodel, static_cast<int>(threads));
  std::map<std::string, Tensor> captured;
  fs.set_value_observer([&](int, const std::string& name, const Tensor& t) {
    if (wanted.count(name)) captured[name] = to_plain(t);
  });
  Progress progress(json);
  calib::SampleBatch b;
  size_t seen = 0;
  while (true) {
    if (!source->next(static_cast<size_t>(batch), &b, &err)) return fail_file(err, args.get("data"));
    if (b.count == 0) break;
    captured.clear();
    for (size_t i = 0; i < b.inputs.size(); ++i) {
      const std::string name = model_input_for(*source, i, *fmodel);
      const Tensor x = to_tensor(b.inputs[i]);
      if (std::string e = fs.set_input(name, x); !e.empty()) return fail(e, float_path);
      if (!sim->set_input(name, x, &err)) return fail(err, q_path);
    }
    if (std::string e = fs.run(); !e.empty()) return fail(e, float_path);
    if (!sim->run(&err)) return fail(err, q_path);
    for (Row& r : rows) {
      auto it = captured.find(r.f_name);
      const Tensor* qt = sim->value(r.q_name);
      if (it == captured.end() || !qt) continue;
      const Tensor& ft = it->second;
      if (ft.elements() != qt->elements()) {
        r.shape_mismatch = true;
        continue;
      }
      const float* fp = ft.data<float>();
      for (size_t k = 0; k < ft.elements(); ++k) {
        const double f = fp[k];
        const double d = (static_cast<double>(qt->float_at(k)) - r.zero_point) * r.scale;
        r.signal += f * f;
        r.noise += (f - d) * (f - d);
        r.dot += f * d;
        r.qq += d * d;
      }
      r.elements += ft.elements();
    }
    seen += b.count;
    progress.update("analyze", seen, source->size());
  }
  progress.finish();
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const Row& r) { return r.elements == 0; }), rows.end());
  if (rows.empty()) return fail("no activation could be compared (the float run did not report the values)", q_path);
  finish_rows(&rows);
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b2) {
    return sort == "own" ? a.own < b2.own : a.sqnr < b2.sqnr;
  });
  const size_t shown = top > 0 ? std::min(rows.size(), static_cast<size_t>(top)) : rows.size();
  if (json) {
    std::printf("{\"float\": \"%s\", \"quantized\": \"%s\", \"samples\": %zu, \"sort\": \"%s\", \"values\": [",
                json_escape(float_path).c_str(), json_escape(q_path).c_str(), seen, sort.c_str());
    for (size_t i = 0; i < shown; ++i) {
      const Row& r = rows[i];
      std::printf("%s{\"value\": \"%s\", \"layer\": \"%s\", \"op\": \"%s\", \"wbits\": %d, \"abits\": %d, "
                  "\"sqnr_db\": %s, \"input_sqnr_db\": %s, \"own_sqnr_db\": %s, \"cosine\": %.6f, \"override\": %s}",
                  i ? ", " : "", json_escape(r.q_name).c_str(), json_escape(r.layer).c_str(), json_escape(r.op).c_str(),
                  r.wbits, r.abits, json_num(r.sqnr).c_str(), json_num(r.in_sqnr).c_str(), json_num(r.own).c_str(),
                  r.cosine,
                  r.layer.empty() ? "null" : ("\"{\\\"" + json_escape(r.layer) + "\\\": {\\\"float\\\": true}}\"").c_str());
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("%zu quantized activations compared over %zu samples, worst first (by %s):\n", rows.size(), seen,
              sort == "own" ? "own SQNR, the noise the layer adds itself" : "SQNR");
  std::printf("%4s  %-32s %-16s %4s %8s %8s %8s %9s  %s\n", "rank", "value", "op", "bits", "sqnr", "in_sqnr", "own",
              "cosine", "override to keep it float");
  for (size_t i = 0; i < shown; ++i) {
    const Row& r = rows[i];
    const std::string bits = (r.wbits ? "w" + std::to_string(r.wbits) : std::string()) + "a" + std::to_string(r.abits);
    const std::string over = r.layer.empty() ? "-" : "{\"" + r.layer + "\": {\"float\": true}}";
    std::printf("%4zu  %-32s %-16s %4s %8s %8s %8s %9.6f  %s\n", i + 1, r.q_name.c_str(), r.op.c_str(), bits.c_str(),
                db(r.sqnr).c_str(), db(r.in_sqnr).c_str(), db(r.own).c_str(), r.cosine, over.c_str());
  }
  for (const Row& r : rows) {
    if (r.shape_mismatch) std::printf("note: %s has a different element count in the float model; skipped some batches\n", r.q_name.c_str());
  }
  return 0;
}

}  // namespace kiln::cli
