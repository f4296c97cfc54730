#include "kiln_test_util.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kiln_generated.h"

namespace kiln::test {
namespace {

template <class T>
Tensor make(DType dt, Shape shape, T seed) {
  Tensor t(dt, std::move(shape));
  auto* p = static_cast<uint8_t*>(t.mutable_raw());
  for (size_t i = 0; i < t.bytes(); ++i) p[i] = static_cast<uint8_t>(seed + 31 * i + (i >> 5));
  return t;
}

std::string str(const Attr& a) {
  std::string s = std::to_string(static_cast<int>(a.kind)) + ":" + std::to_string(a.i) + ":" + std::to_string(a.f) + ":" + a.s;
  for (auto x : a.ints) s += "," + std::to_string(x);
  for (auto x : a.floats) s += "," + std::to_string(x);
  return s;
}

}  // namespace

Graph sample_graph() {
  Graph g;
  Value x;
  x.name = "input";
  x.shape = {kSymbolicDim, 3, 8, 8};
  x.shape_known = true;
  x.dtype = DType::u8;
  x.quant.scales = {0.0125f};
  x.quant.zero_points = {128};
  const int in = g.add_value(x);

  Tensor w = make(DType::s8, {4, 3, 3, 3}, 7);
  const int wi = g.add_constant("conv.weight", w);
  g.values[wi].quant.scales = {0.01f, 0.02f, 0.03f, 0.04f};
  g.values[wi].quant.zero_points = {0, 0, 0, 0};
  g.values[wi].quant.axis = 0;
  const int bi = g.add_constant("conv.bias", make(DType::s32, {4}, 3));
  Value c;
  c.name = "conv.out";
  c.dtype = DType::u8;
  c.shape = {kSymbolicDim, 4, 8, 8};
  c.shape_known = true;
  c.layout = Layout::nhwc;
  c.quant.scales = {0.05f};
  c.quant.zero_points = {0};
  c.quant.bits = 4;
  const int co = g.add_value(c);
  Node conv;
  conv.name = "conv";
  conv.op = "Conv";
  conv.inputs = {in, wi, bi};
  conv.outputs = {co};
  conv.attrs["pads"] = Attr::of_ints({1, 1, 1, 1});
  conv.attrs["group"] = Attr::of_int(1);
  conv.attrs["auto_pad"] = Attr::of_string("NOTSET");
  conv.attrs["alpha"] = Attr::of_float(0.5f);
  conv.attrs["scales"] = Attr::of_floats({1.5f, -2.0f});
  g.nodes.push_back(conv);

  Value r;
  r.name = "relu.out";
  r.shape = {kSymbolicDim, 4, 8, 8};
  const int ro = g.add_value(r);  // float, shape unknown, not quantized: a float island
  Node relu;
  relu.name = "relu";
  relu.op = "Relu";
  relu.inputs = {co};
  relu.outputs = {ro};
  g.nodes.push_back(relu);

  const int shape = g.add_constant("flat.shape", make(DType::s64, {2}, 1));
  const int w4 = g.add_constant("fc.weight4", make(DType::s4, {10, 255}, 9));  // odd count: s4 rounds up
  g.values[w4].quant.scales = {0.5f};
  g.values[w4].quant.bits = 4;
  const int wf = g.add_constant("fc.weight", make(DType::f32, {256, 10}, 5));
  const int empty = g.add_constant("empty", Tensor(DType::f32, {0, 3}));
  Value y;
  y.name = "logits";
  y.shape = {kSymbolicDim, 10};
  y.shape_known = true;
  const int yo = g.add_value(y);
  Node fc;
  fc.name = "fc";
  fc.op = "kiln.QGemm";
  fc.inputs = {ro, wf, -1, shape, w4, empty};
  fc.outputs = {yo};
  g.nodes.push_back(fc);
  g.inputs = {in};
  g.outputs = {yo};
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int o : g.nodes[i].outputs) g.values[o].producer = static_cast<int>(i);
  }
  return g;
}

KilnMetadata sample_metadata() {
  KilnMetadata m;
  m.source_model_sha256.assign(32, 0);
  for (int i = 0; i < 32; ++i) m.source_model_sha256[i] = static_cast<uint8_t>(i * 7 + 1);
  m.source_model_name = "sample.onnx";
  m.calibration_method = "brecq";
  m.calibration_settings = {{"iters", "20000"}, {"granularity", "block"}};
  m.weight_bits = 4;
  m.activation_bits = 8;
  m.preprocessing = {{"mean", "0.485,0.456,0.406"}, {"size", "224"}, {"layout", "NCHW"}};
  m.extra = {{"note", "a \"quoted\"\nline"}};
  return m;
}

NodeBlobs sample_blobs() {
  NodeBlobs b(3);
  KernelBlob pw;
  pw.kind = "packed_weights";
  pw.isa = "avx512vnni";
  pw.mr = 4;
  pw.nr = 16;
  pw.kr = 4;
  pw.config = {{"k_padded", "28"}};
  pw.data = make(DType::u8, {200}, 11);
  b[0].push_back(pw);
  KernelBlob bias;
  bias.kind = "bias_s32";
  bias.data = make(DType::u8, {16}, 13);
  b[0].push_back(bias);
  KernelBlob lut;
  lut.kind = "lut";
  lut.isa = "ref";
  lut.data = make(DType::u8, {256}, 17);
  b[2].push_back(lut);
  return b;
}

std::string graph_difference(const Graph& a, const Graph& b) {
  if (a.values.size() != b.values.size()) return "value count";
  if (a.nodes.size() != b.nodes.size()) return "node count";
  if (a.inputs != b.inputs || a.outputs != b.outputs) return "graph inputs/outputs";
  for (size_t i = 0; i < a.values.size(); ++i) {
    const Value &x = a.values[i], &y = b.values[i];
    const std::string v = "value " + x.name + ": ";
    if (x.name != y.name) return v + "name";
    if (x.producer != y.producer) return v + "producer";
    if (x.layout != y.layout) return v + "layout";
    if (x.quant.scales != y.quant.scales || x.quant.zero_points != y.quant.zero_points || x.quant.axis != y.quant.axis ||
        (!x.quant.empty() && x.quant.bits != y.quant.bits)) {
      return v + "quant";
    }
    if (x.constant.has_value() != y.constant.has_value()) return v + "constness";
    if (x.constant) {
      const Tensor &s = *x.constant, &t = *y.constant;
      if (s.dtype() != t.dtype() || s.shape() != t.shape() || s.layout() != t.layout()) return v + "constant type";
      if (s.bytes() && std::memcmp(s.raw(), t.raw(), s.bytes()) != 0) return v + "constant bytes";
    } else {
      if (x.dtype != y.dtype || x.shape != y.shape || x.shape_known != y.shape_known) return v + "type";
    }
  }
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node &x = a.nodes[i], &y = b.nodes[i];
    const std::string n = "node " + x.name + ": ";
    if (x.name != y.name || x.op != y.op) return n + "name/op";
    if (x.inputs != y.inputs || x.outputs != y.outputs) return n + "edges";
    if (x.attrs.size() != y.attrs.size()) return n + "attribute count";
    for (const auto& [k, at] : x.attrs) {
      if (!y.attrs.count(k) || str(at) != str(y.attrs.at(k))) return n + "attribute " + k;
    }
  }
  return "";
}

std::string sample_file_bytes() {
  const NodeBlobs blobs = sample_blobs();
  KilnSaveOptions o;
  o.blobs = &blobs;
  std::string bytes, error;
  EXPECT_TRUE(serialize_kiln(sample_graph(), sample_metadata(), &bytes, &error, o)) << error;
  return bytes;
}

std::unique_ptr<fb::ModelT> unpack(const std::string& file) { return fb::UnPackModel(file.data()); }

std::string data_region_of(const std::string& file) {
  const fb::Model* m = fb::GetModel(file.data());
  return file.substr(m->data_offset(), m->data_size());
}

std::string reassemble(fb::ModelT& model, const std::string& data_region) {
  flatbuffers::FlatBufferBuilder b;
  uint64_t offset = 64;
  for (int pass = 0; pass < 3; ++pass) {
    model.data_offset = offset;
    model.data_size = data_region.size();
    b.Clear();
    fb::FinishModelBuffer(b, fb::Model::Pack(b, &model));
    const uint64_t need = (b.GetSize() + 63) / 64 * 64;
    if (need == offset) break;
    offset = need;
  }
  std::string out(offset + data_region.size() + kKilnTrailerBytes, '\0');
  std::memcpy(out.data(), b.GetBufferPointer(), b.GetSize());
  std::memcpy(out.data() + offset, data_region.data(), data_region.size());
  const size_t end = offset + data_region.size();
  const uint64_t fb_size = b.GetSize();
  std::memcpy(out.data() + end, &fb_size, 8);
  const uint64_t sum = kiln_checksum(out.data(), end + 8);
  std::memcpy(out.data() + end + 8, &sum, 8);
  std::memcpy(out.data() + end + 24, kKilnTrailerMagic, 8);
  return out;
}

bool load_bytes(const std::string& bytes, KilnFile* out, std::string* error, bool verify_checksum) {
  KilnLoadOptions o;
  o.verify_checksum = verify_checksum;
  return load_kiln_copy(bytes.data(), bytes.size(), out, error, o);
}

}  // namespace kiln::test
