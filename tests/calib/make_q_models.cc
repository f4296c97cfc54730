// Writes the committed Q-graph test models for the lanes without the ONNX importer (aarch64):
//   <out>/<model>_w8a8.kiln, <model>_w4a8.kiln   quantize_graph's Q graph, no kernel blobs (small)
//   <out>/<model>_w8a8.codes.npy, ...             QFloat's u8 output codes (the value feeding the
//                                                 final kiln.Dequantize) on <models>/<model>.input.npy
// Calibration: the committed input's samples plus deterministic perturbations (as the host tests).
//
//   kiln_make_q_models <tests/models> <tests/models/q> [model ...]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "calib/test_quantize_source.h"
#include "kiln/calib/data/npy.h"
#include "kiln/calib/qfloat.h"
#include "kiln/calib/quantize.h"
#include "kiln/format/kiln_file.h"
#include "kiln/onnx/importer.h"
#include "kiln/runtime/model.h"

namespace kc = kiln::calib;

namespace {

kc::testing::VectorSource calibration_source(const kc::FloatTensor& in, size_t count) {
  const size_t batch = static_cast<size_t>(in.shape[0]);
  const size_t per = in.data.size() / batch;
  double sum = 0, sq = 0;
  for (float v : in.data) sum += v, sq += static_cast<double>(v) * v;
  const double mean = sum / static_cast<double>(in.data.size());
  const float sd = static_cast<float>(std::sqrt(std::max(0.0, sq / static_cast<double>(in.data.size()) - mean * mean)));
  kc::testing::Lcg rng(42);
  std::vector<std::vector<float>> samples;
  for (size_t i = 0; i < count; ++i) {
    const float* s = in.data.data() + (i % batch) * per;
    std::vector<float> x(s, s + per);
    if (i >= batch) {
      for (float& v : x) v += 0.1f * sd * rng.next();
    }
    samples.push_back(std::move(x));
  }
  return kc::testing::VectorSource(std::vector<int64_t>(in.shape.begin() + 1, in.shape.end()), samples);
}

// QFloat's codes of the value feeding the graph's (only) output Dequantize.
bool qfloat_codes(const kiln::Graph& q, const kc::FloatTensor& in, kc::TypedArray* out, std::string* e) {
  std::unique_ptr<kc::QFloatSession> s;
  if (!kc::QFloatSession::create(q, &s, e)) return false;
  kiln::Tensor t(kiln::DType::f32, kiln::Shape(in.shape.begin(), in.shape.end()));
  std::memcpy(t.mutable_raw(), in.data.data(), in.data.size() * sizeof(float));
  if (!s->set_input(q.values[q.inputs[0]].name, t, e) || !s->run(e)) return false;
  const kiln::Value& o = q.values[q.outputs[0]];
  if (o.producer < 0 || q.nodes[o.producer].op != "kiln.Dequantize") return *e = "output is not dequantized", false;
  const std::string codes = q.values[q.nodes[o.producer].inputs[0]].name;
  const kiln::Tensor* c = s->value(codes);
  if (!c || c->dtype() != kiln::DType::u8) return *e = "QFloat has no codes for '" + codes + "'", false;
  out->dtype = kc::DType::u8;
  out->shape = c->shape();
  out->bytes.assign(c->data<uint8_t>(), c->data<uint8_t>() + c->elements());
  return true;
}

bool make(const std::string& models, const std::string& out_dir, const std::string& model, std::string* e) {
  kiln::Graph g;
  if (!kiln::onnx::import_model_file(models + "/" + model + ".onnx", &g, e)) return false;
  auto m = kiln::Model::create(g, e);
  if (!m) return false;
  kc::FloatTensor input;
  if (!kc::read_npy_float(models + "/" + model + ".input.npy", &input, e)) return false;
  for (int wbits : {8, 4}) {
    kc::testing::VectorSource src = calibration_source(input, 8);
    kc::QuantizeOptions o;
    o.wbits = wbits;
    o.samples = 8;
    o.batch = 4;
    o.pack_blobs = false;
    kc::QuantizeResult r;
    if (!kc::quantize_graph(m->logical_graph(), src, o, &r, e)) return false;
    const std::string base = out_dir + "/" + model + "_w" + std::to_string(wbits) + "a8";
    kiln::KilnMetadata meta;
    meta.source_model_name = model + ".onnx";
    meta.calibration_method = r.settings["quantize.activation_method"];
    meta.calibration_settings = r.settings;
    meta.weight_bits = wbits;
    meta.activation_bits = 8;
    if (!kiln::save_kiln(r.q, meta, base + ".kiln", e)) return false;
    kc::TypedArray codes;
    if (!qfloat_codes(r.q, input, &codes, e)) return false;
    if (!kc::write_npy(base + ".codes.npy", codes, e)) return false;
    std::printf("wrote %s.kiln and %s.codes.npy\n", base.c_str(), base.c_str());
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <tests/models> <out folder> [model ...]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> models;
  for (int i = 3; i < argc; ++i) models.push_back(argv[i]);
  if (models.empty()) models = {"efficientnet_like", "unet_like", "transformer_op13"};
  for (const std::string& model : models) {
    std::string e;
    if (!make(argv[1], argv[2], model, &e)) {
      std::fprintf(stderr, "%s: %s\n", model.c_str(), e.c_str());
      return 1;
    }
  }
  return 0;
}
