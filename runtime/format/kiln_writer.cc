// Writes .kiln files (layout in kiln_file.h). Deterministic: the same graph, blobs and metadata give
// the same bytes.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "kiln/format/kiln_file.h"
#include "kiln_generated.h"
#include "kiln_version.h"

namespace kiln {
namespace {

namespace fb = kiln::fb;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

size_t align_up(size_t x) { return (x + kKilnAlignment - 1) / kKilnAlignment * kKilnAlignment; }

// Where each constant and blob goes in the data region (offsets relative to its start).
struct DataPlan {
  std::vector<fb::DataRef> constants;           // per value (only meaningful for constants)
  std::vector<std::vector<fb::DataRef>> blobs;  // per node, per blob
  size_t size = 0;

  fb::DataRef place(size_t bytes) {
    const size_t offset = align_up(size);
    size = offset + bytes;
    return fb::DataRef(offset, bytes);
  }
};

bool check_graph(const Graph& g, const NodeBlobs* blobs, std::string* error) {
  const int nv = static_cast<int>(g.values.size());
  for (const Value& v : g.values) {
    if (v.name.empty()) {
      *error = "cannot save: a value has no name";
      return false;
    }
    if (v.constant && v.constant->raw() == nullptr && v.constant->bytes() != 0) {
      *error = "cannot save: constant '" + v.name + "' has no data";
      return false;
    }
  }
  for (const Node& n : g.nodes) {
    if (n.dead) {
      *error = "cannot save: " + n.label() + " is dead (call Graph::compact() first)";
      return false;
    }
    for (int i : n.inputs) {
      if (i < -1 || i >= nv) {
        *error = "cannot save: " + n.label() + " reads value " + std::to_string(i) + " (out of range)";
        return false;
      }
    }
    for (int o : n.outputs) {
      if (o < 0 || o >= nv) {
        *error = "cannot save: " + n.label() + " writes value " + std::to_string(o) + " (out of range)";
        return false;
      }
    }
  }
  for (const std::vector<int>* ids : {&g.inputs, &g.outputs}) {
    for (int v : *ids) {
      if (v < 0 || v >= nv) {
        *error = "cannot save: graph input/output " + std::to_string(v) + " is out of range";
        return false;
      }
    }
  }
  if (blobs && blobs->size() > g.nodes.size()) {
    *error = "cannot save: kernel blobs given for more nodes than the graph has";
    return false;
  }
  if (blobs) {
    for (const auto& list : *blobs) {
      for (const KernelBlob& b : list) {
        if (b.kind.empty() || (b.data.raw() == nullptr && b.data.bytes() != 0)) {
          *error = "cannot save: a kernel blob has no kind or no data";
          return false;
        }
      }
    }
  }
  return true;
}

Offset<flatbuffers::Vector<Offset<fb::KeyValue>>> key_values(FlatBufferBuilder& b,
                                                              const std::map<std::string, std::string>& m) {
  std::vector<Offset<fb::KeyValue>> kv;
  for (const auto& [k, v] : m) {
    const auto key = b.CreateString(k);
    const auto val = b.CreateString(v);
    kv.push_back(fb::CreateKeyValue(b, key, val));
  }
  return b.CreateVector(kv);
}

Offset<fb::Metadata> metadata(FlatBufferBuilder& b, const KilnMetadata& m) {
  const std::string version = m.kiln_version.empty() ? std::string(KILN_VERSION_STRING) : m.kiln_version;
  const auto ver = b.CreateString(version);
  const auto sha = b.CreateVector(m.source_model_sha256);
  const auto src = b.CreateString(m.source_model_name);
  const auto method = b.CreateString(m.calibration_method);
  const auto settings = key_values(b, m.calibration_settings);
  const auto pre = key_values(b, m.preprocessing);
  const auto extra = key_values(b, m.extra);
  return fb::CreateMetadata(b, ver, sha, src, method, settings, m.weight_bits, m.activation_bits, pre, extra);
}

Offset<fb::Value> value(FlatBufferBuilder& b, const Value& v, const fb::DataRef* data) {
  const Tensor* c = v.constant ? &*v.constant : nullptr;
  Offset<fb::QuantParams> quant = 0;
  if (!v.quant.empty()) {
    const auto scales = b.CreateVector(v.quant.scales);
    const auto zps = b.CreateVector(v.quant.zero_points);
    quant = fb::CreateQuantParams(b, scales, zps, v.quant.axis, v.quant.bits);
  }
  // A constant's own dtype and shape are what its bytes mean, so they are what gets written.
  const Shape& shape = c ? c->shape() : v.shape;
  const DType dtype = c ? c->dtype() : v.dtype;
  const auto name = b.CreateString(v.name);
  const auto dims = b.CreateVector(shape);
  return fb::CreateValue(b, name, static_cast<fb::DType>(dtype), dims,
                         c ? true : v.shape_known, static_cast<fb::Layout>(v.layout), quant, c ? data : nullptr,
                         static_cast<fb::Layout>(c ? c->layout() : Layout::plain));
}

Offset<fb::Attribute> attribute(FlatBufferBuilder& b, const std::string& name, const Attr& a) {
  // Children first (FlatBuffers builds bottom-up).
  const auto n = b.CreateString(name);
  Offset<flatbuffers::String> s = 0;
  Offset<flatbuffers::Vector<int64_t>> ints = 0;
  Offset<flatbuffers::Vector<float>> floats = 0;
  if (a.kind == Attr::Kind::s) s = b.CreateString(a.s);
  if (a.kind == Attr::Kind::ints) ints = b.CreateVector(a.ints);
  if (a.kind == Attr::Kind::floats) floats = b.CreateVector(a.floats);
  return fb::CreateAttribute(b, n, static_cast<fb::AttrKind>(a.kind), a.kind == Attr::Kind::i ? a.i : 0,
                             a.kind == Attr::Kind::f ? a.f : 0.0f, s, ints, floats);
}

Offset<fb::KernelBlob> blob(FlatBufferBuilder& b, const KernelBlob& k, const fb::DataRef& data) {
  const auto kind = b.CreateString(k.kind);
  const auto isa = b.CreateString(k.isa);
  const auto config = key_values(b, k.config);
  return fb::CreateKernelBlob(b, kind, isa, k.mr, k.nr, k.kr, k.sr, config, &data);
}

Offset<fb::Node> node(FlatBufferBuilder& b, const Node& n, const std::vector<KernelBlob>* blobs,
                      const std::vector<fb::DataRef>* refs) {
  std::vector<Offset<fb::Attribute>> attrs;
  for (const auto& [k, a] : n.attrs) attrs.push_back(attribute(b, k, a));
  std::vector<Offset<fb::KernelBlob>> bl;
  if (blobs) {
    for (size_t i = 0; i < blobs->size(); ++i) bl.push_back(blob(b, (*blobs)[i], (*refs)[i]));
  }
  const auto name = b.CreateString(n.name);
  const auto op = b.CreateString(n.op);
  const auto ins = b.CreateVector(n.inputs);
  const auto outs = b.CreateVector(n.outputs);
  const auto at = b.CreateVector(attrs);
  const auto bv = b.CreateVector(bl);
  return fb::CreateNode(b, name, op, ins, outs, at, bv);
}

void build(FlatBufferBuilder& b, const Graph& g, const KilnMetadata& m, const NodeBlobs* blobs,
           const DataPlan& plan, uint64_t data_offset) {
  b.Clear();
  const auto meta = metadata(b, m);
  std::vector<Offset<fb::Value>> values;
  for (size_t i = 0; i < g.values.size(); ++i) values.push_back(value(b, g.values[i], &plan.constants[i]));
  std::vector<Offset<fb::Node>> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const bool has = blobs && i < blobs->size();
    nodes.push_back(node(b, g.nodes[i], has ? &(*blobs)[i] : nullptr, has ? &plan.blobs[i] : nullptr));
  }
  // Every child is built in a statement of its own: the evaluation order of function arguments is
  // unspecified (gcc and clang differ), and the bytes of a .kiln must not depend on the compiler.
  const auto vals = b.CreateVector(values);
  const auto nds = b.CreateVector(nodes);
  const auto ins = b.CreateVector(g.inputs);
  const auto outs = b.CreateVector(g.outputs);
  const auto root = fb::CreateModel(b, kKilnFormatMajor, kKilnFormatMinor, meta, vals, nds, ins, outs, data_offset,
                                    plan.size);
  fb::FinishModelBuffer(b, root);
}

void put64(std::string* out, size_t at, uint64_t v) { std::memcpy(out->data() + at, &v, 8); }

}  // namespace

bool serialize_kiln(const Graph& g, const KilnMetadata& m, std::string* out, std::string* error,
                    const KilnSaveOptions& options) {
  if (!check_graph(g, options.blobs, error)) return false;
  // The blobs written for node i: the caller's (*options.blobs)[i] where given and non-empty (the
  // older per-index form), else the node's own. Copies share the tensors' storage.
  NodeBlobs node_blobs(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const bool given = options.blobs && i < options.blobs->size() && !(*options.blobs)[i].empty();
    node_blobs[i] = given ? (*options.blobs)[i] : g.nodes[i].blobs;
  }
  if (!check_graph(g, &node_blobs, error)) return false;
  const NodeBlobs* blobs = &node_blobs;
  if (!m.source_model_sha256.empty() && m.source_model_sha256.size() != 32) {
    *error = "cannot save: source_model_sha256 must be 32 bytes";
    return false;
  }
  DataPlan plan;
  plan.constants.resize(g.values.size(), fb::DataRef(0, 0));
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (g.values[i].constant) plan.constants[i] = plan.place(g.values[i].constant->bytes());
  }
  {
    for (const auto& list : *blobs) {
      plan.blobs.emplace_back();
      for (const KernelBlob& k : list) plan.blobs.back().push_back(plan.place(k.data.bytes()));
    }
  }
  plan.size = align_up(plan.size);

  // The FlatBuffer holds data_offset, which depends on its own size. Every scalar has a fixed
  // width and data_offset is never 0 (never omitted), so the second build has the first's size.
  FlatBufferBuilder b(1 << 16);
  uint64_t data_offset = kKilnAlignment;
  for (int pass = 0; pass < 3; ++pass) {
    build(b, g, m, blobs, plan, data_offset);
    if (align_up(b.GetSize()) == data_offset) break;
    data_offset = align_up(b.GetSize());
  }
  if (align_up(b.GetSize()) != data_offset) {
    *error = "internal error: the FlatBuffer's size did not settle";
    return false;
  }
  const size_t data_end = data_offset + plan.size;
  out->assign(data_end + kKilnTrailerBytes, '\0');
  std::memcpy(out->data(), b.GetBufferPointer(), b.GetSize());
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (v.constant && v.constant->bytes()) {
      std::memcpy(out->data() + data_offset + plan.constants[i].offset(), v.constant->raw(), v.constant->bytes());
    }
  }
  {
    for (size_t n = 0; n < blobs->size(); ++n) {
      for (size_t k = 0; k < (*blobs)[n].size(); ++k) {
        const Tensor& t = (*blobs)[n][k].data;
        if (t.bytes()) std::memcpy(out->data() + data_offset + plan.blobs[n][k].offset(), t.raw(), t.bytes());
      }
    }
  }
  put64(out, data_end, b.GetSize());
  put64(out, data_end + 8, kiln_checksum(out->data(), data_end + 8));
  std::memcpy(out->data() + data_end + 24, kKilnTrailerMagic, 8);
  return true;
}

namespace {

bool write_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool save_kiln(const Graph& g, const KilnMetadata& m, const std::string& path, std::string* error,
               const KilnSaveOptions& options) {
  std::string bytes;
  if (!serialize_kiln(g, m, &bytes, error, options)) {
    *error = path + ": " + *error;
    return false;
  }
  // A unique temporary name in the destination folder (so the rename is atomic), created 0666 less
  // the umask like any ordinary file (mkstemp would give 0600, and changing the umask is racy).
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    *error = path + ": cannot create a temporary file: " + std::strerror(errno);
    return false;
  }
  bool ok = write_all(fd, bytes);
  int err = ok ? 0 : errno;
  if (ok && options.fsync && ::fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    *error = path + ": cannot write: " + std::strerror(err);
    return false;
  }
  if (options.fsync) {
    const int dir = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return true;
}

}  // namespace kiln
