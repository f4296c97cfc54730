// kiln's own checks of a verified .kiln FlatBuffer, done while building the graph: the FlatBuffers
// Verifier only proves that the table structure is in bounds; everything that gives the numbers
// meaning (enum ranges, sizes, offsets, indices, names, producers, order) is checked here.
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_set>

#include "kiln_decode.h"
#include "kiln_generated.h"

namespace kiln::detail {
namespace {

constexpr size_t kMaxRank = 32;
constexpr int64_t kMaxDim = int64_t{1} << 40;

struct Reader {
  const KilnContainer& c;
  const uint8_t* region;  // start of the data region in memory
  const std::shared_ptr<const void>& owner;
  std::string* error;

  bool fail(const std::string& where, const std::string& what) {
    *error = "invalid .kiln file: " + where + ": " + what;
    return false;
  }

  // FlatBuffers 2.0.8's Verifier aligns a vector's length prefix (4 bytes) but not its 8-byte
  // elements; reading a misaligned int64 is undefined behaviour, so those vectors are checked here.
  bool aligned(const std::string& where, const flatbuffers::Vector<int64_t>* v) {
    // An empty vector has no elements to read (FlatBuffers does not align its data pointer).
    if (v && v->size() != 0 && reinterpret_cast<uintptr_t>(v->data()) % alignof(int64_t) != 0) {
      return fail(where, "misaligned 64-bit vector");
    }
    return true;
  }

  // Bytes of `count` elements of `t`, or false on overflow.
  static bool byte_size(DType t, const Shape& shape, size_t* bytes) {
    uint64_t n = 1;
    for (int64_t d : shape) {
      if (d < 0) return false;
      if (d != 0 && n > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) return false;
      n *= static_cast<uint64_t>(d);
    }
    *bytes = dtype_bytes(t, static_cast<size_t>(n));
    return true;
  }

  bool data_ref(const std::string& where, const fb::DataRef* ref, size_t want, const uint8_t** ptr) {
    if (ref == nullptr) return fail(where, "no data reference");
    const uint64_t off = ref->offset(), size = ref->size();
    if (off % kKilnAlignment != 0) return fail(where, "data offset " + std::to_string(off) + " is not 64-byte aligned");
    if (off > c.data_size || size > c.data_size - off) {
      return fail(where, "data [" + std::to_string(off) + ", +" + std::to_string(size) +
                             ") lies outside the data region (" + std::to_string(c.data_size) + " bytes)");
    }
    if (size != want) {
      return fail(where, "data is " + std::to_string(size) + " bytes, its shape and type need " + std::to_string(want));
    }
    *ptr = region + off;
    return true;
  }

  bool key_values(const std::string& where, const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>* kv,
                  std::map<std::string, std::string>* out) {
    if (!kv) return true;
    for (const fb::KeyValue* e : *kv) {
      const std::string key = e->key()->str();
      if (!out->emplace(key, e->value() ? e->value()->str() : std::string()).second) {
        return fail(where, "duplicate key '" + key + "'");
      }
    }
    return true;
  }

  bool quant(const std::string& where, const fb::QuantParams* q, const Value& v, QuantParams* out) {
    if (!q) return true;
    if (!q->scales() || q->scales()->size() == 0) return fail(where, "quantization parameters without scales");
    // Per-tensor scales are positive. Per-channel (weight) scales may be negative: a channel stored as
    // the codes of -w uses the lopsided low-bit code range better (DESIGN.md, Numerics).
    for (float s : *q->scales()) {
      if (q->axis() < 0 && (!std::isfinite(s) || s <= 0.0f)) {
        return fail(where, "quantization scale " + std::to_string(s) + " is not a positive number");
      }
      if (!std::isfinite(s) || s == 0.0f) {
        return fail(where, "quantization scale " + std::to_string(s) + " is not a non-zero number");
      }
    }
    const size_t ns = q->scales()->size();
    if (q->zero_points() && q->zero_points()->size() != 0 && q->zero_points()->size() != ns) {
      return fail(where, std::to_string(q->zero_points()->size()) + " zero points for " + std::to_string(ns) + " scales");
    }
    const int axis = q->axis();
    if (axis == -1 && ns != 1) return fail(where, "per-tensor quantization with " + std::to_string(ns) + " scales");
    if (axis < -1 || (axis >= 0 && static_cast<size_t>(axis) >= v.shape.size())) {
      return fail(where, "quantization axis " + std::to_string(axis) + " for rank " + std::to_string(v.shape.size()));
    }
    if (axis >= 0 && v.shape_known && v.shape[axis] >= 0 && static_cast<size_t>(v.shape[axis]) != ns) {
      return fail(where, std::to_string(ns) + " scales for " + std::to_string(v.shape[axis]) + " channels");
    }
    if (q->bits() < 1 || q->bits() > 32) return fail(where, "quantization bits " + std::to_string(q->bits()));
    out->scales.assign(q->scales()->begin(), q->scales()->end());
    if (q->zero_points() && q->zero_points()->size()) {
      out->zero_points.assign(q->zero_points()->begin(), q->zero_points()->end());
    }
    out->axis = axis;
    out->bits = q->bits();
    return true;
  }

  bool value(size_t index, const fb::Value* fv, Value* v) {
    v->name = fv->name()->str();
    const std::string where = "value " + std::to_string(index) + " ('" + v->name + "')";
    if (v->name.empty()) return fail(where, "empty name");
    const auto dt = static_cast<uint8_t>(fv->dtype());
    if (dt > static_cast<uint8_t>(DType::s64)) return fail(where, "unknown element type " + std::to_string(dt));
    v->dtype = static_cast<DType>(dt);
    if (static_cast<uint8_t>(fv->layout()) > 1 || static_cast<uint8_t>(fv->constant_layout()) > 1) {
      return fail(where, "unknown layout");
    }
    v->layout = static_cast<Layout>(fv->layout());
    if (!aligned(where, fv->shape())) return false;
    if (fv->shape()) {
      if (fv->shape()->size() > kMaxRank) return fail(where, "rank " + std::to_string(fv->shape()->size()));
      for (int64_t d : *fv->shape()) {
        if (d < kSymbolicDim || d > kMaxDim) return fail(where, "dimension " + std::to_string(d));
        v->shape.push_back(d);
      }
    }
    v->shape_known = fv->shape_known();
    if (fv->constant()) {
      size_t bytes = 0;
      if (!byte_size(v->dtype, v->shape, &bytes)) {
        return fail(where, "constant shape " + shape_string(v->shape) + " is symbolic or too large");
      }
      const uint8_t* p = nullptr;
      if (!data_ref(where, fv->constant(), bytes, &p)) return false;
      Tensor t(v->dtype, v->shape, owner, p);
      t.set_layout(static_cast<Layout>(fv->constant_layout()));
      v->constant = std::move(t);
      v->shape_known = true;
    }
    return quant(where, fv->quant(), *v, &v->quant);
  }

  bool attribute(const std::string& where, const fb::Attribute* fa, Attr* a) {
    const auto kind = static_cast<uint8_t>(fa->kind());
    if (kind > static_cast<uint8_t>(Attr::Kind::floats)) return fail(where, "unknown attribute kind " + std::to_string(kind));
    a->kind = static_cast<Attr::Kind>(kind);
    switch (a->kind) {
      case Attr::Kind::i: a->i = fa->i(); break;
      case Attr::Kind::f: a->f = fa->f(); break;
      case Attr::Kind::s: a->s = fa->s() ? fa->s()->str() : std::string(); break;
      case Attr::Kind::ints:
        if (!aligned(where, fa->ints())) return false;
        if (fa->ints()) a->ints.assign(fa->ints()->begin(), fa->ints()->end());
        break;
      case Attr::Kind::floats:
        if (fa->floats()) a->floats.assign(fa->floats()->begin(), fa->floats()->end());
        break;
    }
    return true;
  }

  bool blob(const std::string& where, const fb::KernelBlob* fbb, KernelBlob* b) {
    b->kind = fbb->kind()->str();
    if (b->kind.empty()) return fail(where, "kernel blob without a kind");
    b->isa = fbb->isa() ? fbb->isa()->str() : std::string();
    b->mr = fbb->mr();
    b->nr = fbb->nr();
    b->kr = fbb->kr();
    b->sr = fbb->sr();
    if (!key_values(where + ", blob '" + b->kind + "'", fbb->config(), &b->config)) return false;
    const uint8_t* p = nullptr;
    const uint64_t size = fbb->data()->size();
    if (!data_ref(where + ", blob '" + b->kind + "'", fbb->data(), size, &p)) return false;
    b->data = Tensor(DType::u8, Shape{static_cast<int64_t>(size)}, owner, p);
    return true;
  }

  // Indices of graph inputs or outputs: in range, unique.
  bool ids(const char* what, const flatbuffers::Vector<int32_t>* in, size_t nv, std::vector<int>* out) {
    if (!in) return true;
    std::unordered_set<int> seen;
    for (int32_t id : *in) {
      if (id < 0 || static_cast<size_t>(id) >= nv) return fail(std::string("graph ") + what, "value index " + std::to_string(id) + " out of range");
      if (!seen.insert(id).second) return fail(std::string("graph ") + what, "value " + std::to_string(id) + " listed twice");
      out->push_back(id);
    }
    return true;
  }

  bool graph(KilnFile* f) {
    const fb::Model* m = c.root;
    Graph& g = f->graph;
    const size_t nv = m->values() ? m->values()->size() : 0;
    g.values.resize(nv);
    std::unordered_set<std::string> names;
    for (size_t i = 0; i < nv; ++i) {
      if (!value(i, m->values()->Get(static_cast<flatbuffers::uoffset_t>(i)), &g.values[i])) return false;
      if (!names.insert(g.values[i].name).second) {
        return fail("value " + std::to_string(i), "name '" + g.values[i].name + "' is used twice");
      }
    }
    if (!ids("inputs", m->inputs(), nv, &g.inputs) || !ids("outputs", m->outputs(), nv, &g.outputs)) return false;
    // available: a constant, a graph input or already written by an earlier node.
    std::vector<char> available(nv, 0);
    for (size_t i = 0; i < nv; ++i) available[i] = g.values[i].constant ? 1 : 0;
    for (int v : g.inputs) {
      if (available[v]) return fail("graph inputs", "value '" + g.values[v].name + "' is a constant");
      available[v] = 1;
    }
    const size_t nn = m->nodes() ? m->nodes()->size() : 0;
    g.nodes.resize(nn);
    f->blobs.assign(nn, {});
    for (size_t i = 0; i < nn; ++i) {
      const fb::Node* fn = m->nodes()->Get(static_cast<flatbuffers::uoffset_t>(i));
      Node& n = g.nodes[i];
      n.name = fn->name() ? fn->name()->str() : std::string();
      n.op = fn->op()->str();
      const std::string where = "node " + std::to_string(i) + " (" + n.label() + ")";
      if (n.op.empty()) return fail(where, "empty op");
      if (fn->inputs()) {
        for (int32_t id : *fn->inputs()) {
          if (id < -1 || id >= static_cast<int64_t>(nv)) return fail(where, "input value index " + std::to_string(id) + " out of range");
          if (id >= 0 && !available[id]) {
            return fail(where, "reads '" + g.values[id].name + "' before any node writes it (not in topological order)");
          }
          n.inputs.push_back(id);
        }
      }
      if (fn->outputs()) {
        for (int32_t id : *fn->outputs()) {
          if (id < 0 || id >= static_cast<int64_t>(nv)) return fail(where, "output value index " + std::to_string(id) + " out of range");
          if (available[id]) return fail(where, "writes '" + g.values[id].name + "', which already has a producer");
          available[id] = 1;
          g.values[id].producer = static_cast<int>(i);
          n.outputs.push_back(id);
        }
      }
      if (fn->attrs()) {
        for (const fb::Attribute* fa : *fn->attrs()) {
          const std::string key = fa->name()->str();
          Attr a;
          if (!attribute(where + ", attribute '" + key + "'", fa, &a)) return false;
          if (!n.attrs.emplace(key, std::move(a)).second) return fail(where, "attribute '" + key + "' given twice");
        }
      }
      if (fn->blobs()) {
        for (const fb::KernelBlob* fbb : *fn->blobs()) {
          KernelBlob b;
          if (!blob(where, fbb, &b)) return false;
          f->blobs[i].push_back(b);
          n.blobs.push_back(std::move(b));
        }
      }
    }
    for (int v : g.outputs) {
      if (!available[v]) return fail("graph outputs", "'" + g.values[v].name + "' is never written");
    }
    return true;
  }

  bool metadata(KilnMetadata* out) {
    const fb::Metadata* m = c.root->metadata();
    if (!m) return true;
    const auto str = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
    out->kiln_version = str(m->kiln_version());
    if (m->source_model_sha256() && m->source_model_sha256()->size()) {
      if (m->source_model_sha256()->size() != 32) return fail("metadata", "source model SHA-256 is not 32 bytes");
      out->source_model_sha256.assign(m->source_model_sha256()->begin(), m->source_model_sha256()->end());
    }
    out->source_model_name = str(m->source_model_name());
    out->calibration_method = str(m->calibration_method());
    out->weight_bits = m->weight_bits();
    out->activation_bits = m->activation_bits();
    return key_values("metadata calibration settings", m->calibration_settings(), &out->calibration_settings) &&
           key_values("metadata preprocessing", m->preprocessing(), &out->preprocessing) &&
           key_values("metadata extra", m->extra(), &out->extra);
  }
};

}  // namespace

bool read_graph(const KilnContainer& c, const uint8_t* bytes, const std::shared_ptr<const void>& owner,
                KilnFile* out, std::string* error) {
  Reader r{c, bytes + c.data_offset, owner, error};
  KilnFile f;
  if (!r.graph(&f) || !r.metadata(&f.metadata)) return false;
  f.format_major = c.major;
  f.format_minor = c.minor;
  f.data_offset = c.data_offset;
  f.data_size = c.data_size;
  *out = std::move(f);
  return true;
}

}  // namespace kiln::detail
