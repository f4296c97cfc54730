// kiln eval: top-1 / top-5 accuracy of a model (.onnx float, .kiln integer or its QFloat simulation)
// on a labelled data set, streamed batch by batch.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.h"
#include "command.h"
#include "kiln/calib/data/labels.h"
#include "model_io.h"
#include "progress.h"
#include "runner.h"

namespace kiln::cli {
namespace {

const char kUsage[] =
    "usage: kiln eval MODEL(.onnx|.kiln) --data PATH [--labels PATH] [options]\n\n"
    "Top-1 and top-5 accuracy of MODEL's first output (class scores) on a data set. Data: an image\n"
    "folder, an IDX file (gzipped or not), a .npy file or a folder of them (see kiln quantize --help).\n"
    "Labels: an IDX label file, or a text file with one class index per line in the sorted order of\n"
    "the samples; none when --data is an ImageFolder layout (one subfolder per class). A .kiln's\n"
    "recorded preprocessing is used unless --mean/--std/--size/--layout/--gray override it.\n\n"
    "options:\n"
    "  --data PATH            evaluation samples\n"
    "  --labels PATH          ground truth (IDX or text)\n"
    "  --data-format F        images|idx|npy|auto (default auto)\n"
    "  --mean M[,M,M] --std S[,S,S] --size HxW --layout nchw|nhwc --gray   image preprocessing\n"
    "  --limit N              evaluate the first N samples only\n"
    "  --batch B              samples per run (default 32; 1 for a model with a fixed batch of 1)\n"
    "  --threads T            threads (default 1)\n"
    "  --simulate             run the .kiln's QFloat simulation instead of the integer model\n"
    "  --compare-simulate     run both; report how many predictions agree (and each one's accuracy)\n"
    "  --json                 machine-readable output\n\n"
    "examples:\n"
    "  kiln eval m.kiln --data t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz\n"
    "  kiln eval model.onnx --data val/ --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"
    "  kiln eval m.kiln --data t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz --compare-simulate\n";

std::vector<OptionSpec> eval_options() {
  std::vector<OptionSpec> s = {{"data", true},     {"labels", true},   {"data-format", true}, {"limit", true},
                               {"batch", true},    {"threads", true},  {"simulate", false},   {"json", false},
                               {"compare-simulate", false}};
  s.insert(s.end(), kPreprocessOptions.begin(), kPreprocessOptions.end());
  return s;
}

struct Tally {
  size_t top1 = 0, top5 = 0;
};

// Scores one batch on `r`; predictions[i] is the top-5 of sample i.
bool score_batch(Runner& r, const Model& model, const calib::SampleSource& source, const calib::SampleBatch& batch,
                 std::vector<std::vector<size_t>>* predictions, std::string* error) {
  for (size_t i = 0; i < batch.inputs.size(); ++i) {
    if (!r.set_input(model_input_for(source, i, model), to_tensor(batch.inputs[i]), error)) return false;
  }
  if (!r.run(error)) return false;
  const std::string out_name = model.output_names().at(0);
  const Tensor* y = r.output(out_name);
  if (!y || y->rank() < 1 || y->elements() == 0) {
    *error = "output '" + out_name + "' missing or empty";
    return false;
  }
  const size_t cols = static_cast<size_t>(y->shape().back());
  if (y->elements() != cols * batch.count) {
    *error = "output '" + out_name + "' has " + std::to_string(y->elements()) + " elements for " +
             std::to_string(batch.count) + " samples (want [batch, classes])";
    return false;
  }
  std::vector<float> row(cols);
  predictions->clear();
  for (size_t n = 0; n < batch.count; ++n) {
    for (size_t c = 0; c < cols; ++c) row[c] = y->float_at(n * cols + c);
    predictions->push_back(top_k(row.data(), cols, 5));
  }
  return true;
}

void count(const std::vector<std::vector<size_t>>& pred, const std::vector<int64_t>& labels, size_t first, Tally* t) {
  for (size_t n = 0; n < pred.size(); ++n) {
    const int64_t want = labels[first + n];
    if (!pred[n].empty() && static_cast<int64_t>(pred[n][0]) == want) ++t->top1;
    for (size_t p : pred[n]) {
      if (static_cast<int64_t>(p) == want) ++t->top5;
    }
  }
}

double pct(size_t k, size_t n) { return n ? 100.0 * static_cast<double>(k) / static_cast<double>(n) : 0.0; }

}  // namespace

int run_eval(int argc, char** argv) {
  const std::vector<OptionSpec> specs = eval_options();
  ParsedArgs args;
  std::string err;
  if (!parse_args(argc, argv, specs, &args, &err)) return fail(err, "kiln eval");
  if (args.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.positionals.size() != 1) return fail("give exactly one MODEL; see kiln eval --help", "kiln eval");
  const std::string model_path = args.positionals[0];
  if (!args.has("data")) return fail("--data is required", "kiln eval");
  long long limit = 0, batch_size = 32, threads = 1;
  if (args.has("limit") && !parse_int_option("limit", args.get("limit"), 1, 1LL << 40, &limit, &err)) {
    return fail(err, "kiln eval");
  }
  if (args.has("batch") && !parse_int_option("batch", args.get("batch"), 1, 4096, &batch_size, &err)) {
    return fail(err, "kiln eval");
  }
  if (args.has("threads") && !parse_int_option("threads", args.get("threads"), 1, 1024, &threads, &err)) {
    return fail(err, "kiln eval");
  }
  const bool compare = args.has("compare-simulate");
  const bool simulate = args.has("simulate");
  const bool json = args.has("json");
  if (compare && simulate) return fail("give --simulate or --compare-simulate, not both", "kiln eval");

  LoadedModel lm;
  if (!load_model_file(model_path, &lm, &err)) return fail(err, model_path);
  if ((simulate || compare) && !lm.is_kiln) return fail("--simulate needs a .kiln model", model_path);
  const Model& model = *lm.model;
  if (model.output_names().empty()) return fail("the model has no outputs", model_path);

  calib::SourceOptions so;
  if (args.has("data-format") && !calib::parse_data_format(args.get("data-format"), &so.format, &err)) {
    return fail("--data-format: " + err, "kiln eval");
  }
  if (!resolve_preprocess(args, lm.is_kiln ? &lm.file.metadata : nullptr, model, &so.preprocess, &err)) {
    return fail(err, "kiln eval");
  }
  so.limit = static_cast<size_t>(limit);
  std::unique_ptr<calib::SampleSource> source;
  if (!open_model_source(args.get("data"), so, model, &source, &err)) return fail_file(err, args.get("data"));
  const size_t total = source->size();

  std::vector<int64_t> labels;
  const bool folder_labels = !source->class_names().empty();
  if (args.has("labels")) {
    if (!calib::read_labels(args.get("labels"), &labels, &err)) return fail_file(err, args.get("labels"));
    if (labels.size() < total) {
      return fail("the labels cover " + std::to_string(labels.size()) + " samples, the data has " +
                      std::to_string(total), args.get("labels"));
    }
  } else if (!folder_labels) {
    return fail("--labels is required unless --data is an ImageFolder layout", "kiln eval");
  }

  // A model whose batch axis is fixed takes exactly that many samples per run.
  const Value& in0 = model.logical_graph().values[model.logical_graph().inputs[0]];
  if (!in0.shape.empty() && in0.shape[0] > 0) batch_size = in0.shape[0];

  std::vector<std::unique_ptr<Runner>> runners;  // [0]: the chosen model; [1]: QFloat with --compare-simulate
  if (!simulate) runners.push_back(make_session_runner(lm.model, static_cast<int>(threads)));
  if (simulate || compare) {
    auto r = make_qfloat_runner(lm.file.graph, static_cast<int>(threads), &err);
    if (!r) return fail("cannot simulate: " + err, model_path);
    runners.push_back(std::move(r));
  }

  std::vector<Tally> tally(runners.size());
  size_t seen = 0, agree = 0, first_disagreement = SIZE_MAX;
  Progress progress(json);
  const auto t0 = std::chrono::steady_clock::now();
  calib::SampleBatch batch;
  std::vector<std::vector<std::vector<size_t>>> pred(runners.size());
  while (true) {
    if (!source->next(static_cast<size_t>(batch_size), &batch, &err)) return fail_file(err, args.get("data"));
    if (batch.count == 0) break;
    if (folder_labels && !args.has("labels")) {
      if (batch.labels.size() != batch.count) return fail("the data set gives no labels", args.get("data"));
      labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
    }
    for (size_t r = 0; r < runners.size(); ++r) {
      if (!score_batch(*runners[r], model, *source, batch, &pred[r], &err)) {
        const std::string where = batch.origins.empty() ? model_path : batch.origins.front();
        return fail(err, where);
      }
      count(pred[r], labels, seen, &tally[r]);
    }
    if (runners.size() == 2) {
      for (size_t n = 0; n < batch.count; ++n) {
        if (pred[0][n][0] == pred[1][n][0]) {
          ++agree;
        } else if (first_disagreement == SIZE_MAX) {
          first_disagreement = seen + n;
        }
      }
    }
    seen += batch.count;
    progress.update("eval", seen, total);
  }
  progress.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const char* mode = simulate ? "simulate" : (lm.is_kiln ? "integer" : "float");
  if (json) {
    std::printf("{\"model\": \"%s\", \"mode\": \"%s\", \"samples\": %zu, \"top1\": %.2f, \"top5\": %.2f, \"seconds\": %.3f",
                json_escape(model_path).c_str(), mode, seen, pct(tally[0].top1, seen), pct(tally[0].top5, seen), secs);
    if (compare) {
      std::printf(", \"simulate_top1\": %.2f, \"simulate_top5\": %.2f, \"agree\": %zu", pct(tally[1].top1, seen),
                  pct(tally[1].top5, seen), agree);
    }
    std::printf("}\n");
  } else {
    std::printf("%s (%s): %zu samples  top-1 %.2f%%  top-5 %.2f%%  (%.1f s)\n", base_name(model_path).c_str(), mode,
                seen, pct(tally[0].top1, seen), pct(tally[0].top5, seen), secs);
    if (compare) {
      std::printf("%s (simulate): top-1 %.2f%%  top-5 %.2f%%\n", base_name(model_path).c_str(),
                  pct(tally[1].top1, seen), pct(tally[1].top5, seen));
      std::printf("integer vs simulate: same prediction on %zu of %zu samples", agree, seen);
      if (first_disagreement != SIZE_MAX) std::printf(" (first difference: sample %zu)", first_disagreement);
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace kiln::cli
