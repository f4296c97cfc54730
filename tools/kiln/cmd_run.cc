// kiln run: one inference of an ONNX model or a .kiln file on images or .npy tensors.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "command.h"
#include "kiln/calib/data/image.h"
#include "kiln/calib/data/npy.h"
#include "kiln/format/kiln_file.h"
#include "kiln/format/sha256.h"
#include "model_io.h"
#include "kiln/runtime/model.h"

namespace kiln::cli {
namespace {

const char kUsage[] =
    "usage: kiln run MODEL --input FILE [--input NAME=FILE ...] [options]\n\n"
    "Runs MODEL (.onnx or .kiln) once and prints each output (top-K for class scores).\n"
    "Inputs are images (png, jpg, bmp, pgm; preprocessed like torchvision: pixel/255, minus mean,\n"
    "divided by std) or .npy tensors used as they are. Without NAME=, inputs are taken in order.\n"
    "A .kiln written by `kiln quantize` brings its recorded preprocessing; options given here win.\n\n"
    "options:\n"
    "  --mean M[,M,M]        per-channel mean (after /255), default 0\n"
    "  --std S[,S,S]         per-channel std, default 1\n"
    "  --size HxW            resize images (bilinear); default: the model input's H and W if fixed\n"
    "  --layout nchw|nhwc    layout of the image tensor (default nchw)\n"
    "  --gray                one-channel images\n"
    "  --topk K              classes to print per output row (default 5)\n"
    "  --save-outputs DIR    write every output as DIR/<output name>.npy (float32)\n"
    "  --save-kiln FILE      write the canonicalised float graph as a .kiln file (for the C API and\n"
    "                        edge devices; `kiln quantize` writes the integer one)\n"
    "  --dump                print the canonicalised graph\n"
    "  --threads T           threads (default 1)\n"
    "  --repeat N            time N more runs after the first (planning) run; prints the median\n"
    "  --json                machine-readable output\n\n"
    "examples:\n"
    "  kiln run resnet18.onnx --input cat.jpg --size 224x224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n"
    "  kiln run model.onnx --input input=x.npy --save-outputs out/\n"
    "  kiln run model.onnx --save-kiln model.kiln\n";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                                                 [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

std::string safe_file_name(std::string s) {
  for (char& c : s) {
    if (c == '/' || c == '\\' || c == ':' || static_cast<unsigned char>(c) < 0x20) c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

}  // namespace

int run_run(int argc, char** argv) {
  std::string model_path, save_dir, save_kiln_path;
  std::vector<std::string> inputs;
  calib::ImagePreprocess pre;
  int topk = 5, threads = 1, repeat = 0;
  bool json = false, dump = false, size_given = false;
  std::set<std::string> given;  // preprocessing options on the command line (they beat the recorded ones)
  std::string err;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (a == "--input") {
      if (!value(&v)) return fail("--input needs a value", "kiln run");
      inputs.push_back(v);
    } else if (a == "--mean" || a == "--std") {
      given.insert(a.substr(2));
      if (!value(&v) || !calib::parse_float_list(v, a == "--mean" ? &pre.mean : &pre.std, &err)) {
        return fail(a + ": " + (err.empty() ? "needs a value" : err), "kiln run");
      }
    } else if (a == "--size") {
      if (!value(&v) || !calib::parse_size(v, &pre.height, &pre.width, &err)) return fail("--size: " + err, "kiln run");
      size_given = true;
      given.insert("size");
    } else if (a == "--layout") {
      given.insert("layout");
      if (!value(&v) || !calib::parse_layout(v, &pre.layout, &err)) return fail("--layout: " + err, "kiln run");
    } else if (a == "--gray") {
      given.insert("gray");
      pre.gray = true;
    } else if (a == "--topk") {
      if (!value(&v) || (topk = std::atoi(v.c_str())) < 1) return fail("--topk needs a positive number", "kiln run");
    } else if (a == "--threads") {
      if (!value(&v) || (threads = std::atoi(v.c_str())) < 1) return fail("--threads needs a positive number", "kiln run");
    } else if (a == "--repeat") {
      if (!value(&v) || (repeat = std::atoi(v.c_str())) < 1) return fail("--repeat needs a positive number", "kiln run");
    } else if (a == "--save-outputs") {
      if (!value(&save_dir)) return fail("--save-outputs needs a folder", "kiln run");
    } else if (a == "--save-kiln") {
      if (!value(&save_kiln_path)) return fail("--save-kiln needs a file", "kiln run");
    } else if (a == "--json") {
      json = true;
    } else if (a == "--dump") {
      dump = true;
    } else if (!a.empty() && a[0] == '-') {
      return fail("unknown option '" + a + "'", "kiln run");
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      return fail("unexpected argument '" + a + "'", "kiln run");
    }
  }
  if (model_path.empty()) return fail("missing MODEL; see kiln run --help", "kiln run");
  if (!pre.validate(&err)) return fail(err, "kiln run");
  LoadedModel loaded;
  if (!load_model_file(model_path, &loaded, &err)) return fail(err, model_path);
  const std::shared_ptr<const Model> model = loaded.model;
  if (loaded.is_kiln) {  // the preprocessing `kiln quantize` recorded, where the command line gives none
    for (const auto& [key, val] : loaded.file.metadata.preprocessing) {
      if (val.empty() || given.count(key)) continue;
      if (!set_preprocess_option(key, val, false, &pre, &err)) {
        return fail("the model's recorded preprocessing '" + key + "' is invalid: " + err, model_path);
      }
      if (key == "size") size_given = true;
    }
    if (!pre.validate(&err)) return fail(err, model_path);
  }
  if (dump) std::printf("%s", dump_graph(model->logical_graph()).c_str());
  if (!save_kiln_path.empty()) {
    KilnMetadata meta = loaded.is_kiln ? loaded.file.metadata : KilnMetadata();
    if (!loaded.is_kiln) {  // record where the graph came from, as `kiln quantize` does
      std::array<uint8_t, 32> hash{};
      if (!sha256_file(model_path, &hash, &err)) return fail(err, model_path);
      meta.source_model_sha256.assign(hash.begin(), hash.end());
      meta.source_model_name = base_name(model_path);
    }
    // Atomic (temporary file + rename): an interrupted run never leaves a half-written file.
    if (!save_kiln(model->logical_graph(), meta, save_kiln_path, &err)) return fail(err, save_kiln_path);
  }
  if (inputs.empty()) {
    if (dump || !save_kiln_path.empty()) return 0;
    return fail("no --input given; see kiln run --help", "kiln run");
  }
  const std::vector<std::string> in_names = model->input_names();
  Session session(model, threads);
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name, file = inputs[i];
    const size_t eq = file.find('=');
    if (eq != std::string::npos && std::find(in_names.begin(), in_names.end(), file.substr(0, eq)) != in_names.end()) {
      name = file.substr(0, eq);
      file = file.substr(eq + 1);
    } else {
      if (i >= in_names.size()) return fail("more inputs given than the model has", "kiln run");
      name = in_names[i];
    }
    calib::FloatTensor t;
    if (ends_with(file, ".npy")) {
      if (!calib::read_npy_float(file, &t, &err)) return fail(err, file);
    } else {
      calib::ImagePreprocess p = pre;
      const Value& iv = model->graph().values[model->graph().inputs[std::find(in_names.begin(), in_names.end(), name) -
                                                                     in_names.begin()]];
      if (!size_given && iv.shape.size() == 4) {  // the model's fixed H and W
        const bool nhwc = p.layout == calib::Layout::nhwc;
        const int64_t h = iv.shape[nhwc ? 1 : 2], w = iv.shape[nhwc ? 2 : 3];
        if (h > 0 && w > 0) {
          p.height = static_cast<int>(h);
          p.width = static_cast<int>(w);
        }
      }
      if (!calib::load_image(file, p, &t, &err)) return fail(err, file);
    }
    Tensor x(DType::f32, Shape(t.shape.begin(), t.shape.end()));
    std::copy(t.data.begin(), t.data.end(), x.mutable_data<float>());
    if (std::string e = session.set_input(name, x); !e.empty()) return fail(e, file);
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (std::string e = session.run(); !e.empty()) return fail(e, model_path);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (repeat > 0) {  // the first run planned; these reuse the plan
    std::vector<double> times;
    for (int r = 0; r < repeat; ++r) {
      const auto t1 = std::chrono::steady_clock::now();
      if (std::string e = session.run(); !e.empty()) return fail(e, model_path);
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
    }
    std::sort(times.begin(), times.end());
    ms = times[times.size() / 2];
  }
  const std::vector<std::string> out_names = model->output_names();
  if (json) std::printf("{\"model\": \"%s\", \"time_ms\": %.3f, \"arena_bytes\": %zu, \"outputs\": [", json_escape(model_path).c_str(), ms, session.arena_bytes());
  for (size_t o = 0; o < out_names.size(); ++o) {
    const Tensor* y = session.output(out_names[o]);
    if (!y) return fail("output '" + out_names[o] + "' missing", model_path);
    std::vector<float> vals(y->elements());
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = y->float_at(i);
    if (!save_dir.empty()) {
      calib::FloatTensor ft;
      ft.shape.assign(y->shape().begin(), y->shape().end());
      ft.data = vals;
      const std::string path = save_dir + "/" + safe_file_name(out_names[o]) + ".npy";
      if (!calib::write_npy(path, ft, &err)) return fail(err, path);
    }
    // Top-K over the last axis of each row.
    const size_t cols = y->rank() ? static_cast<size_t>(y->shape().back()) : 1;
    const size_t rows = cols ? vals.size() / cols : 0;
    const size_t k = std::min<size_t>(static_cast<size_t>(topk), cols);
    if (json) {
      std::printf("%s{\"name\": \"%s\", \"shape\": %s, \"topk\": [", o ? ", " : "", json_escape(out_names[o]).c_str(),
                  shape_string(y->shape()).c_str());
    } else {
      std::printf("output %s %s\n", out_names[o].c_str(), shape_string(y->shape()).c_str());
    }
    for (size_t r = 0; r < rows && r < 16; ++r) {
      std::vector<size_t> idx(cols);
      std::iota(idx.begin(), idx.end(), 0);
      const float* row = vals.data() + r * cols;
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](size_t a, size_t b) { return row[a] > row[b]; });
      if (json) std::printf("%s[", r ? ", " : "");
      for (size_t j = 0; j < k; ++j) {
        if (json) std::printf("%s{\"class\": %zu, \"score\": %.6g}", j ? ", " : "", idx[j], row[idx[j]]);
        else std::printf("  %s#%zu class %zu  %.6g\n", rows > 1 ? ("row " + std::to_string(r) + " ").c_str() : "", j + 1, idx[j], row[idx[j]]);
      }
      if (json) std::printf("]");
    }
    if (json) std::printf("]}");
  }
  if (json) std::printf("]}\n");
  else std::printf("time %.3f ms%s, arena %zu bytes\n", ms, repeat > 0 ? " (median)" : " (first run, with planning)", session.arena_bytes());
  return 0;
}

}  // namespace kiln::cli
