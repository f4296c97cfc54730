#include "kiln/format/inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kiln/format/sha256.h"

namespace kiln {
namespace {

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::string json_shape(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += s[i] == kSymbolicDim ? std::string("\"N\"") : std::to_string(s[i]);
  }
  return out + "]";
}

std::string json_map(const std::map<std::string, std::string>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ",";
    out += json_string(k) + ":" + json_string(v);
  }
  return out + "}";
}

std::string human_bytes(uint64_t b) {
  if (b < 1024) return std::to_string(b) + " B";
  if (b < (1u << 20)) return fmt("%.1f KiB", b / 1024.0);
  return fmt("%.2f MiB", b / 1048576.0);
}

// The summary of one value as a layer sees it.
struct ValueInfo {
  const Value* v;
  bool quantized() const { return !v->quant.empty(); }
  DType dtype() const { return v->constant ? v->constant->dtype() : v->dtype; }
  const Shape& shape() const { return v->constant ? v->constant->shape() : v->shape; }
  std::string bits() const { return quantized() ? std::to_string(v->quant.bits) : std::string("float"); }
  // Magnitudes: per-channel weight scales may be negative (codes of -w).
  float min_scale() const {
    float m = INFINITY;
    for (float s : v->quant.scales) m = std::min(m, std::fabs(s));
    return m;
  }
  float max_scale() const {
    float m = 0.0f;
    for (float s : v->quant.scales) m = std::max(m, std::fabs(s));
    return m;
  }

  std::string scales_text() const {
    if (!quantized()) return "-";
    const QuantParams& q = v->quant;
    const int zp = q.zero_points.empty() ? 0 : q.zero_points[0];
    if (q.scales.size() == 1) return "s=" + fmt("%.6g", q.scales[0]) + " zp=" + std::to_string(zp);
    return "per-channel[" + std::to_string(q.scales.size()) + "] axis " + std::to_string(q.axis) + " s=" +
           fmt("%.4g", min_scale()) + ".." + fmt("%.4g", max_scale());
  }
  std::string json() const {
    std::string out = "{\"name\":" + json_string(v->name) + ",\"dtype\":\"" + dtype_name(dtype()) +
                      "\",\"shape\":" + json_shape(shape()) + ",\"constant\":" + (v->constant ? "true" : "false");
    if (v->constant) out += ",\"bytes\":" + std::to_string(v->constant->bytes());
    if (quantized()) {
      const QuantParams& q = v->quant;
      out += ",\"quant\":{\"bits\":" + std::to_string(q.bits) + ",\"axis\":" + std::to_string(q.axis) +
             ",\"scales\":" + std::to_string(q.scales.size()) + ",\"scale_min\":" + fmt("%.9g", min_scale()) +
             ",\"scale_max\":" + fmt("%.9g", max_scale()) +
             ",\"zero_point\":" + std::to_string(q.zero_points.empty() ? 0 : q.zero_points[0]) + "}";
    } else {
      out += ",\"quant\":null";
    }
    return out + "}";
  }
};

struct LayerInfo {
  size_t params = 0, bytes = 0, blob_bytes = 0;
  bool is_float = true;
  std::string weight_bits = "-", act_bits = "float";
};

LayerInfo layer_info(const Graph& g, const Node& n, const std::vector<KernelBlob>& blobs) {
  LayerInfo l;
  for (int i : n.inputs) {
    if (i < 0 || !g.values[i].constant) continue;
    const Value& v = g.values[i];
    l.params += v.constant->elements();
    l.bytes += v.constant->bytes();
    // The first constant input is reported as the weight (Conv's W, Gemm's B, ...).
    if (l.weight_bits == "-") l.weight_bits = ValueInfo{&v}.bits();
    if (!v.quant.empty()) l.is_float = false;
  }
  for (int o : n.outputs) {
    if (!g.values[o].quant.empty()) {
      l.is_float = false;
      l.act_bits = std::to_string(g.values[o].quant.bits);
    }
  }
  for (const KernelBlob& b : blobs) l.blob_bytes += b.data.bytes();
  return l;
}

std::string blob_text(const KernelBlob& b) {
  return b.kind + "(" + (b.isa.empty() ? std::string("any") : b.isa) + " " + std::to_string(b.mr) + "x" +
         std::to_string(b.nr) + "x" + std::to_string(b.kr) + ", " + human_bytes(b.data.bytes()) + ")";
}

std::string blob_json(const KernelBlob& b) {
  return "{\"kind\":" + json_string(b.kind) + ",\"isa\":" + json_string(b.isa) + ",\"mr\":" + std::to_string(b.mr) +
         ",\"nr\":" + std::to_string(b.nr) + ",\"kr\":" + std::to_string(b.kr) + ",\"sr\":" + std::to_string(b.sr) +
         ",\"config\":" + json_map(b.config) + ",\"bytes\":" + std::to_string(b.data.bytes()) + "}";
}

struct Totals {
  size_t params = 0, blob_bytes = 0, float_layers = 0;
  std::map<std::string, size_t> bytes_by_dtype;
};

Totals totals(const KilnFile& f) {
  Totals t;
  for (const Value& v : f.graph.values) {
    if (!v.constant) continue;
    t.params += v.constant->elements();
    t.bytes_by_dtype[dtype_name(v.constant->dtype())] += v.constant->bytes();
  }
  for (size_t i = 0; i < f.graph.nodes.size(); ++i) {
    const std::vector<KernelBlob> none;
    const auto& blobs = i < f.blobs.size() ? f.blobs[i] : none;
    for (const KernelBlob& b : blobs) t.blob_bytes += b.data.bytes();
    if (layer_info(f.graph, f.graph.nodes[i], blobs).is_float) ++t.float_layers;
  }
  return t;
}

std::string text(const KilnFile& f, const std::string& label) {
  const Graph& g = f.graph;
  const KilnMetadata& m = f.metadata;
  std::string out = "file:         " + label + " (" + human_bytes(f.file_size) + ", format " +
                    std::to_string(f.format_major) + "." + std::to_string(f.format_minor) + ", written by kiln " +
                    m.kiln_version + ")\n";
  out += "source model: " + (m.source_model_name.empty() ? std::string("-") : m.source_model_name);
  if (!m.source_model_sha256.empty()) out += " sha256 " + hex_string(m.source_model_sha256.data(), 32);
  out += "\ncalibration:  " + (m.calibration_method.empty() ? std::string("none (float)") : m.calibration_method);
  for (const auto& [k, v] : m.calibration_settings) out += " " + k + "=" + v;
  out += "\nbits:         weights " + (m.weight_bits ? std::to_string(m.weight_bits) : std::string("float")) +
         ", activations " + (m.activation_bits ? std::to_string(m.activation_bits) : std::string("float")) + "\n";
  if (!m.preprocessing.empty()) {
    out += "preprocess:  ";
    for (const auto& [k, v] : m.preprocessing) out += " " + k + "=" + v;
    out += "\n";
  }
  for (const auto& [what, ids] : {std::pair{"input ", &g.inputs}, std::pair{"output", &g.outputs}}) {
    for (int id : *ids) {
      const ValueInfo vi{&g.values[id]};
      out += std::string(what) + "        " + vi.v->name + " " + dtype_name(vi.dtype()) + " " +
             shape_string(vi.shape()) + " " + vi.scales_text() + "\n";
    }
  }
  out += "layers:\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %4s  %-28s %-18s %5s %5s  %-22s %-36s %10s %10s\n", "#", "name", "op", "w", "a",
                "output", "output scales", "params", "bytes");
  out += line;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::vector<KernelBlob> none;
    const auto& blobs = i < f.blobs.size() ? f.blobs[i] : none;
    const LayerInfo l = layer_info(g, n, blobs);
    const Value* out0 = n.outputs.empty() ? nullptr : &g.values[n.outputs[0]];
    const std::string shape = out0 ? shape_string(out0->shape) : "-";
    const std::string scales = out0 ? ValueInfo{out0}.scales_text() : "-";
    std::snprintf(line, sizeof line, "  %4zu  %-28s %-18s %5s %5s  %-22s %-36s %10zu %10s%s\n", i, n.name.c_str(),
                  n.op.c_str(), l.weight_bits.c_str(), l.act_bits.c_str(), shape.c_str(), scales.c_str(), l.params,
                  human_bytes(l.bytes + l.blob_bytes).c_str(), l.is_float ? "  float" : "");
    out += line;
    for (int in : n.inputs) {
      if (in < 0 || !g.values[in].constant) continue;
      const ValueInfo vi{&g.values[in]};
      out += "          const " + vi.v->name + " " + dtype_name(vi.dtype()) + " " + shape_string(vi.shape()) + " " +
             vi.scales_text() + "\n";
    }
    for (const KernelBlob& b : blobs) out += "          blob " + blob_text(b) + "\n";
  }
  const Totals t = totals(f);
  out += "totals:       " + std::to_string(g.nodes.size()) + " layers (" + std::to_string(t.float_layers) +
         " float), " + std::to_string(t.params) + " parameters, constants";
  for (const auto& [d, b] : t.bytes_by_dtype) out += " " + d + " " + human_bytes(b);
  out += ", kernel blobs " + human_bytes(t.blob_bytes) + ", file " + human_bytes(f.file_size) + "\n";
  return out;
}

std::string json(const KilnFile& f, const std::string& label) {
  const Graph& g = f.graph;
  const KilnMetadata& m = f.metadata;
  std::string out = "{\"file\":{\"path\":" + json_string(label) + ",\"bytes\":" + std::to_string(f.file_size) +
                    ",\"format\":\"" + std::to_string(f.format_major) + "." + std::to_string(f.format_minor) +
                    "\",\"data_offset\":" + std::to_string(f.data_offset) + ",\"data_bytes\":" +
                    std::to_string(f.data_size) + "},";
  out += "\"metadata\":{\"kiln_version\":" + json_string(m.kiln_version) +
         ",\"source_model\":" + json_string(m.source_model_name) + ",\"source_model_sha256\":" +
         json_string(m.source_model_sha256.empty() ? std::string() : hex_string(m.source_model_sha256.data(), 32)) +
         ",\"calibration_method\":" + json_string(m.calibration_method) +
         ",\"calibration_settings\":" + json_map(m.calibration_settings) +
         ",\"weight_bits\":" + std::to_string(m.weight_bits) + ",\"activation_bits\":" + std::to_string(m.activation_bits) +
         ",\"preprocessing\":" + json_map(m.preprocessing) + ",\"extra\":" + json_map(m.extra) + "},";
  const auto list = [&](const std::vector<int>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) s += ",";
      s += ValueInfo{&g.values[ids[i]]}.json();
    }
    return s + "]";
  };
  out += "\"inputs\":" + list(g.inputs) + ",\"outputs\":" + list(g.outputs) + ",\"layers\":[";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::vector<KernelBlob> none;
    const auto& blobs = i < f.blobs.size() ? f.blobs[i] : none;
    const LayerInfo l = layer_info(g, n, blobs);
    std::vector<int> ins;
    for (int v : n.inputs) {
      if (v >= 0) ins.push_back(v);
    }
    if (i) out += ",";
    out += "{\"index\":" + std::to_string(i) + ",\"name\":" + json_string(n.name) +
           ",\"op\":" + json_string(n.op) + ",\"float\":" + (l.is_float ? "true" : "false") +
           ",\"weight_bits\":" + json_string(l.weight_bits) + ",\"activation_bits\":" + json_string(l.act_bits) +
           ",\"params\":" + std::to_string(l.params) + ",\"bytes\":" + std::to_string(l.bytes) +
           ",\"blob_bytes\":" + std::to_string(l.blob_bytes) + ",\"inputs\":" + list(ins) +
           ",\"outputs\":" + list(n.outputs) + ",\"blobs\":[";
    for (size_t b = 0; b < blobs.size(); ++b) {
      if (b) out += ",";
      out += blob_json(blobs[b]);
    }
    out += "]}";
  }
  const Totals t = totals(f);
  out += "],\"totals\":{\"layers\":" + std::to_string(g.nodes.size()) + ",\"float_layers\":" +
         std::to_string(t.float_layers) + ",\"parameters\":" + std::to_string(t.params) + ",\"bytes_by_dtype\":{";
  bool first = true;
  for (const auto& [d, b] : t.bytes_by_dtype) {
    out += (first ? "\"" : ",\"") + d + "\":" + std::to_string(b);
    first = false;
  }
  out += "},\"blob_bytes\":" + std::to_string(t.blob_bytes) + ",\"file_bytes\":" + std::to_string(f.file_size) + "}}\n";
  return out;
}

}  // namespace

std::string inspect_kiln(const KilnFile& file, const std::string& label, bool as_json) {
  return as_json ? json(file, label) : text(file, label);
}

}  // namespace kiln
