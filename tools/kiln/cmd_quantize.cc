// kiln quantize: float ONNX model + calibration samples -> deployable .kiln (Q graph), with the
// settings, the source model's hash and the preprocessing recorded in its metadata.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.h"
#include "command.h"
#include "kiln/calib/quantize.h"
#include "kiln/format/sha256.h"
#include "model_io.h"
#include "progress.h"

namespace kiln::cli {
namespace {

const char kUsage[] =
    "usage: kiln quantize MODEL.onnx --calib PATH [options] -o OUT.kiln\n\n"
    "Imports and canonicalises MODEL, observes activation ranges over calibration samples, chooses\n"
    "per-channel weight scales, freezes the integer graph and writes OUT.kiln atomically (no partial\n"
    "file on failure). Calibration data: a folder of images (png/jpg/bmp/pgm, sorted by name), an IDX\n"
    "file (gzipped or not, uint8 images take --mean/--std), a .npy file whose first axis is the sample\n"
    "axis or a folder of .npy files (used as they are); several inputs as name=PATH,name=PATH.\n\n"
    "options:\n"
    "  --calib PATH            calibration samples (unlabelled)\n"
    "  --calib-format F        images|idx|npy|auto (default auto)\n"
    "  --samples N             calibration samples to use (default 512)\n"
    "  --wbits B               weight bits 2..8 (default 8; per channel, symmetric; 2..4-bit codes run\n"
    "                          on the int4 kernels, 5..8-bit on the int8 ones)\n"
    "  --abits B               activation bits 2..8 (default 8; per tensor, asymmetric, uint8 codes)\n"
    "  --method M              activation ranges minmax|ema|percentile|kl|mse (default minmax), or\n"
    "                          reconstruction: adaround (layer by layer), brecq (block by block),\n"
    "                          qdrop (brecq with activation quantization dropped); these learn the\n"
    "                          weight rounding and the activation steps against the float model;\n"
    "                          ops they cannot learn (attention, LayerNorm, Pad, Resize, shape math,\n"
    "                          layers kept float) are kept units: evaluated, not trained (--dry-run)\n"
    "  --percentile P          for --method percentile (default 99.99)\n"
    "  --weight-method M       mse|absmax weight clipping (default mse)\n"
    "  --no-first-last-8bit    quantize the first and last layers with --wbits/--abits too\n"
    "  --overrides FILE        per-layer overrides, JSON or YAML: {\"fc\": {\"float\": true}, \"conv1\": {\"wbits\": 8}}\n"
    "  --config FILE           JSON or YAML with any of these options as keys (the command line wins)\n"
    "  --mean M[,M,M] --std S[,S,S] --size HxW --layout nchw|nhwc --gray   image preprocessing\n"
    "  --seed S                random seed (default 0)\n"
    "  --threads T             threads (default 1)\n"
    "  --batch B               calibration batch size (default 32)\n"
    "reconstruction (adaround|brecq|qdrop):\n"
    "  --iters N               iterations per unit (default 2000)\n"
    "  --lr X                  Adam step of the rounding variables (default 0.01)\n"
    "  --lr-scale X            Adam step of the activation step sizes, cosine-annealed to 0 (default\n"
    "                          4e-4; 0 keeps them)\n"
    "  --lambda X              rounding regulariser weight (default 0.01)\n"
    "  --granularity G         layer|block|stage|net (default: layer for adaround, block otherwise)\n"
    "  --drop-prob P           qdrop: probability of dropping an activation's quantization (default 0.5)\n"
    "  --drop-until F          qdrop: fraction of the iterations that drop (default 0.8; the rest\n"
    "                          train the unit fully quantized)\n"
    "  --loss L                mse|fisher: fisher weights each unit output by BRECQ's Fisher diagonal,\n"
    "                          the squared KL gradient from the logits (default mse)\n"
    "  --pack ISA[,ISA..]      pack kernel blobs for these ISAs (default: this machine's); none: no\n"
    "                          blobs (the runtime packs at load)\n"
    "  --dry-run               calibrate and print the plan (and the reconstruction units); write nothing\n"
    "  --quiet                 no progress output\n"
    "  -o, --output OUT.kiln   the quantized model\n\n"
    "examples:\n"
    "  kiln quantize model.onnx --calib train-images-idx3-ubyte.gz --samples 512 --mean 0.286 --std 0.353 \\\n"
    "      --method percentile -o model_w8a8.kiln\n"
    "  kiln quantize model.onnx --calib images/ --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \\\n"
    "      --wbits 4 --abits 8 --method mse -o model_w4a8.kiln\n"
    "  kiln quantize model.onnx --calib train-images-idx3-ubyte.gz --mean 0.286 --std 0.353 --wbits 2 --abits 4 \\\n"
    "      --method brecq -o model_w2a4.kiln\n"
    "  kiln quantize model.onnx --calib samples.npy --config quant.yaml --overrides keep_float.json -o m.kiln\n";

std::vector<OptionSpec> quantize_options() {
  std::vector<OptionSpec> s = {{"calib", true},         {"calib-format", true},      {"samples", true},
                               {"wbits", true},         {"abits", true},             {"method", true},
                               {"percentile", true},    {"weight-method", true},     {"no-first-last-8bit", false},
                               {"overrides", true},     {"config", true},            {"seed", true},
                               {"threads", true},       {"batch", true},             {"pack", true},
                               {"dry-run", false},      {"quiet", false},            {"output", true},
                               {"iters", true},         {"lr", true},                {"lr-scale", true},
                               {"lambda", true},        {"granularity", true},       {"drop-prob", true},
                               {"loss", true},          {"drop-until", true}};
  s.insert(s.end(), kPreprocessOptions.begin(), kPreprocessOptions.end());
  return s;
}

bool parse_float_option(const ParsedArgs& a, const std::string& name, float lo, float hi, float* out,
                        std::string* error) {
  if (!a.has(name)) return true;
  const std::string t = a.get(name);
  char* end = nullptr;
  const float v = std::strtof(t.c_str(), &end);
  if (t.empty() || *end || !(v >= lo && v <= hi)) {
    *error = "--" + name + ": a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    return false;
  }
  *out = v;
  return true;
}

// Reconstruction settings; the defaults are the ones docs/accuracy.md measures.
bool build_recon_options(const ParsedArgs& a, const std::string& method, calib::recon::GraphReconOptions* r,
                         std::string* error) {
  r->granularity = method == "adaround" ? calib::recon::Granularity::layer : calib::recon::Granularity::block;
  r->qdrop = method == "qdrop";
  r->recon.iters = 2000;
  r->recon.batch = 32;
  r->recon.lr_adaround = 1e-2f;
  r->recon.drop_prob = r->qdrop ? 0.5f : 0.0f;
  r->recon.drop_until = r->qdrop ? 0.8f : 1.0f;
  long long v = 0;
  if (a.has("iters")) {
    if (!parse_int_option("iters", a.get("iters"), 0, 1000000, &v, error)) return false;
    r->recon.iters = static_cast<int>(v);
  }
  if (a.has("batch")) {
    if (!parse_int_option("batch", a.get("batch"), 1, 4096, &v, error)) return false;
    r->recon.batch = static_cast<size_t>(v);
  }
  if (!parse_float_option(a, "lr", 0.0f, 1.0f, &r->recon.lr_adaround, error) ||
      !parse_float_option(a, "lr-scale", 0.0f, 1.0f, &r->recon.lr_scale, error) ||
      !parse_float_option(a, "lambda", 0.0f, 100.0f, &r->recon.lambda, error) ||
      !parse_float_option(a, "drop-prob", 0.0f, 1.0f, &r->recon.drop_prob, error) ||
      !parse_float_option(a, "drop-until", 0.0f, 1.0f, &r->recon.drop_until, error)) {
    return false;
  }
  if ((a.has("drop-prob") || a.has("drop-until")) && !r->qdrop) {
    *error = "--drop-prob and --drop-until go with --method qdrop";
    return false;
  }
  if (a.has("loss")) {
    const std::string loss = a.get("loss");
    if (loss != "mse" && loss != "fisher") {
      *error = "--loss: mse or fisher, not '" + loss + "'";
      return false;
    }
    r->fisher = loss == "fisher";
  }
  if (a.has("granularity") && !calib::recon::parse_granularity(a.get("granularity"), &r->granularity, error)) {
    *error = "--granularity: " + *error;
    return false;
  }
  return true;
}

// Options into QuantizeOptions; false with a message for a bad value.
bool build_options(const ParsedArgs& a, calib::QuantizeOptions* q, std::string* method_name, std::string* error) {
  long long v = 0;
  if (a.has("wbits")) {
    if (!parse_int_option("wbits", a.get("wbits"), 2, 8, &v, error)) return false;
    q->wbits = static_cast<int>(v);
  }
  if (a.has("abits")) {
    if (!parse_int_option("abits", a.get("abits"), 2, 8, &v, error)) return false;
    q->abits = static_cast<int>(v);
  }
  *method_name = a.get("method", "minmax");
  const bool recon = *method_name == "adaround" || *method_name == "brecq" || *method_name == "qdrop";
  if (recon) {
    q->activation_method = calib::RangeMethod::mse;  // the start of the learned steps
    if (!build_recon_options(a, *method_name, &q->reconstruction.emplace(), error)) return false;
  } else if (a.has("iters") || a.has("lr") || a.has("lr-scale") || a.has("lambda") || a.has("granularity") ||
             a.has("drop-prob") || a.has("drop-until") || a.has("loss")) {
    *error =
        "--iters, --lr, --lr-scale, --lambda, --granularity, --drop-prob, --drop-until and --loss go with "
        "--method adaround|brecq|qdrop";
    return false;
  } else if (!calib::parse_range_method(*method_name, &q->activation_method, error)) {
    *error = "--method: " + *error;
    return false;
  }
  if (a.has("percentile")) {
    char* end = nullptr;
    const std::string t = a.get("percentile");
    const float p = std::strtof(t.c_str(), &end);
    if (t.empty() || *end || !(p > 50.0f && p <= 100.0f)) {
      *error = "--percentile: a number in (50, 100]";
      return false;
    }
    q->observer.percentile = p;
  }
  if (a.has("weight-method") && !calib::parse_weight_range_method(a.get("weight-method"), &q->weights.method, error)) {
    *error = "--weight-method: " + *error;
    return false;
  }
  q->first_last_8bit = !a.has("no-first-last-8bit");
  if (a.has("samples")) {
    if (!parse_int_option("samples", a.get("samples"), 1, 1LL << 32, &v, error)) return false;
    q->samples = static_cast<size_t>(v);
  }
  if (a.has("batch")) {
    if (!parse_int_option("batch", a.get("batch"), 1, 4096, &v, error)) return false;
    q->batch = static_cast<size_t>(v);
  }
  if (a.has("seed")) {
    if (!parse_int_option("seed", a.get("seed"), 0, (1LL << 62), &v, error)) return false;
    q->seed = static_cast<uint64_t>(v);
  }
  if (a.has("threads")) {
    if (!parse_int_option("threads", a.get("threads"), 1, 1024, &v, error)) return false;
    q->threads = static_cast<int>(v);
  }
  if (a.get("pack") == "none") {
    q->pack_blobs = false;
  } else if (a.has("pack")) {
    parse_list(a.get("pack"), &q->pack_isas);
  }
  return true;
}

void print_plan(const calib::QuantizeResult& r) {
  size_t quantized = 0;
  for (const calib::PlannedLayer& l : r.layers) quantized += l.quantized;
  std::printf("plan: %zu layers, %zu quantized, %zu float\n", r.layers.size(), quantized, r.layers.size() - quantized);
  for (const calib::PlannedLayer& l : r.layers) {
    if (l.quantized) {
      std::printf("  %-40s %-20s w%d a%d\n", l.node.c_str(), l.op.c_str(), l.wbits, l.abits);
    } else {
      std::printf("  %-40s %-20s float\n", l.node.c_str(), l.op.c_str());
    }
  }
}

}  // namespace

int run_quantize(int argc, char** argv) {
  const std::vector<OptionSpec> specs = quantize_options();
  ParsedArgs args;
  std::string err;
  if (!parse_args(argc, argv, specs, &args, &err)) return fail(err, "kiln quantize");
  if (args.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.has("config")) {
    std::map<std::string, std::vector<std::string>> config;
    if (!read_config_file(args.get("config"), specs, &config, &err)) return fail_file(err, args.get("config"));
    merge_config(config, &args);
  }
  if (args.positionals.size() != 1) return fail("give exactly one MODEL.onnx; see kiln quantize --help", "kiln quantize");
  const std::string model_path = args.positionals[0];
  const bool dry_run = args.has("dry-run");
  const std::string out_path = args.get("output");
  if (!args.has("calib")) return fail("--calib is required", "kiln quantize");
  if (out_path.empty() && !dry_run) return fail("-o OUT.kiln is required (or --dry-run)", "kiln quantize");
  if (!out_path.empty() && !check_output_path(out_path, &err)) return fail(err, out_path);

  calib::QuantizeOptions q;
  std::string method;
  if (!build_options(args, &q, &method, &err)) return fail(err, "kiln quantize");
  if (args.has("overrides") && !calib::load_overrides(args.get("overrides"), &q.overrides, &err)) {
    return fail_file(err, args.get("overrides"));
  }

  std::shared_ptr<const Model> model;
  std::string bytes;
  if (!load_onnx(model_path, &model, &bytes, &err)) return fail(err, model_path);
  const auto digest = sha256(bytes.data(), bytes.size());
  bytes = std::string();

  calib::SourceOptions so;
  if (args.has("calib-format") && !calib::parse_data_format(args.get("calib-format"), &so.format, &err)) {
    return fail("--calib-format: " + err, "kiln quantize");
  }
  if (!resolve_preprocess(args, nullptr, *model, &so.preprocess, &err)) return fail(err, "kiln quantize");
  so.limit = q.samples;
  std::unique_ptr<calib::SampleSource> source;
  if (!open_model_source(args.get("calib"), so, *model, &source, &err)) return fail_file(err, args.get("calib"));
  Graph float_graph;  // the model with open input sizes (dynamic H, W) bound to the data's
  std::string bound;
  if (!calib::bind_open_input_sizes(model->logical_graph(), *source, &float_graph, &bound, &err)) {
    return fail(err, model_path);
  }
  if (!bound.empty() && !args.has("quiet")) std::fprintf(stderr, "kiln: note: %s\n", bound.c_str());

  if (dry_run && q.reconstruction) {  // the units reconstruction would train, without training them
    std::string listing;
    size_t count = 0;
    if (!calib::describe_reconstruction_units(float_graph, q, &listing, &count, &err)) {
      return fail(err, model_path);
    }
    std::printf("reconstruction units (%s, %s granularity): %zu\n%s", method.c_str(),
                calib::recon::granularity_name(q.reconstruction->granularity), count, listing.c_str());
    q.reconstruction.reset();
  }
  Progress progress(args.has("quiet"));
  q.progress = [&](const std::string& stage, size_t done, size_t total) { progress.update(stage, done, total); };
  if (q.reconstruction) {
    const int iters = q.reconstruction->recon.iters;
    q.reconstruction->recon.progress_every = std::max(1, iters / 20);
    q.reconstruction->progress = [&, iters](size_t unit, size_t units, const std::string& name, int iter, double loss) {
      char label[160], detail[64];
      std::snprintf(label, sizeof label, "%s unit %zu/%zu %s", method.c_str(), unit + 1, units, name.c_str());
      std::snprintf(detail, sizeof detail, "loss %.4g", loss);
      progress.update(label, static_cast<size_t>(iter), static_cast<size_t>(std::max(iters, 1)), detail);
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  calib::QuantizeResult result;
  const bool ok = calib::quantize_graph(float_graph, *source, q, &result, &err);
  progress.finish();
  if (!ok) return err.rfind(args.get("calib"), 0) == 0 ? fail_file(err, args.get("calib")) : fail(err, model_path);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (const calib::recon::UnitReport& u : result.units) {
    if (args.has("quiet")) continue;
    if (u.kept) {
      std::printf("  unit %-32s kept (%s)\n", u.name.c_str(), u.reason.c_str());
      continue;
    }
    std::printf("  unit %-32s %zu layers  loss %.4g -> %.4g", u.name.c_str(), u.layers, u.nearest_loss, u.final_loss);
    if (u.fisher_mean > 0.0) std::printf("  (Fisher weight mean %.6g)", u.fisher_mean);
    if (u.reverted) std::printf("  (training ended higher: nearest rounding kept)");
    std::printf("\n");
  }
  if (dry_run) {
    print_plan(result);
    std::printf("calibrated on %zu samples in %.1f s; --dry-run: nothing written\n",
                std::min(q.samples, source->size()), secs);
    return 0;
  }

  KilnMetadata meta;
  meta.source_model_sha256.assign(digest.begin(), digest.end());
  meta.source_model_name = base_name(model_path);
  meta.calibration_method = method;
  meta.calibration_settings = result.settings;
  auto& s = meta.calibration_settings;
  // quantize_graph records its own settings ("quantize.*"); the CLI adds what only it knows.
  if (!s.count("quantize.samples")) s["samples"] = std::to_string(std::min(q.samples, source->size()));
  s["calib_data"] = base_name(args.get("calib"));
  if (args.has("overrides")) s["overrides"] = base_name(args.get("overrides"));
  s["calibration_seconds"] = std::to_string(secs);
  meta.weight_bits = q.wbits;
  meta.activation_bits = q.abits;
  meta.preprocessing = preprocess_metadata(so.preprocess);
  if (!save_kiln(result.q, meta, out_path, &err)) return fail(err, out_path);

  size_t quantized = 0;
  for (const calib::PlannedLayer& l : result.layers) quantized += l.quantized;
  std::printf("wrote %s: %zu layers (%zu quantized, %zu float), w%d a%d, method %s, %zu samples, %.1f s\n",
              out_path.c_str(), result.layers.size(), quantized, result.layers.size() - quantized, q.wbits, q.abits,
              method.c_str(), std::min(q.samples, source->size()), secs);
  return 0;
}

}  // namespace kiln::cli
