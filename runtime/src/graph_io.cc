// Format (all integers little-endian):
//   magic "KILNGRF1"
//   u32 value count; per value: str name, u8 dtype, u8 flags (1 = shape known, 2 = constant),
//       u32 rank, i64 dims[rank], if constant: u64 byte count, bytes
//   u32 node count; per node: str name, str op, u32 n, i32 inputs[n], u32 n, i32 outputs[n],
//       u32 attribute count; per attribute: str key, u8 kind, payload (i64 | f32 | str |
//       u32 n + i64[n] | u32 n + f32[n])
//   u32 n, i32 graph inputs[n]; u32 n, i32 graph outputs[n]
// where str is u32 length + bytes.
#include "kiln/runtime/graph_io.h"

#include <cstring>

namespace kiln {
namespace {

struct Writer {
  std::string out;
  template <class T> void pod(T v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    pod<uint32_t>(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void ids(const std::vector<int>& v) {
    pod<uint32_t>(static_cast<uint32_t>(v.size()));
    for (int i : v) pod<int32_t>(i);
  }
};

struct Reader {
  const char* p;
  const char* end;
  bool ok = true;
  template <class T> T pod() {
    T v{};
    if (static_cast<size_t>(end - p) < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
  size_t count(size_t elem) {  // a u32 count that must fit in what is left
    const uint32_t n = pod<uint32_t>();
    if (!ok || static_cast<size_t>(end - p) / (elem ? elem : 1) < n) {
      ok = false;
      return 0;
    }
    return n;
  }
  std::string str() {
    const size_t n = count(1);
    if (!ok) return {};
    std::string s(p, n);
    p += n;
    return s;
  }
  std::vector<int> ids(size_t limit) {
    const size_t n = count(4);
    std::vector<int> v;
    for (size_t i = 0; ok && i < n; ++i) {
      const int32_t id = pod<int32_t>();
      if (id < -1 || id >= static_cast<int64_t>(limit)) ok = false;
      v.push_back(id);
    }
    return v;
  }
};

}  // namespace

bool is_graph_file(const void* bytes, size_t size) {
  return size >= 8 && std::memcmp(bytes, kGraphMagic, 8) == 0;
}

std::string serialize_graph(const Graph& g) {
  Writer w;
  w.out.append(kGraphMagic, 8);
  w.pod<uint32_t>(static_cast<uint32_t>(g.values.size()));
  for (const Value& v : g.values) {
    w.str(v.name);
    w.pod<uint8_t>(static_cast<uint8_t>(v.constant ? v.constant->dtype() : v.dtype));
    w.pod<uint8_t>(static_cast<uint8_t>((v.shape_known ? 1 : 0) | (v.constant ? 2 : 0)));
    const Shape& s = v.constant ? v.constant->shape() : v.shape;
    w.pod<uint32_t>(static_cast<uint32_t>(s.size()));
    for (int64_t d : s) w.pod<int64_t>(d);
    if (v.constant) {
      w.pod<uint64_t>(v.constant->bytes());
      w.out.append(static_cast<const char*>(v.constant->raw()), v.constant->bytes());
    }
  }
  w.pod<uint32_t>(static_cast<uint32_t>(g.nodes.size()));
  for (const Node& n : g.nodes) {
    w.str(n.name);
    w.str(n.op);
    w.ids(n.inputs);
    w.ids(n.outputs);
    w.pod<uint32_t>(static_cast<uint32_t>(n.attrs.size()));
    for (const auto& [k, a] : n.attrs) {
      w.str(k);
      w.pod<uint8_t>(static_cast<uint8_t>(a.kind));
      switch (a.kind) {
        case Attr::Kind::i: w.pod<int64_t>(a.i); break;
        case Attr::Kind::f: w.pod<float>(a.f); break;
        case Attr::Kind::s: w.str(a.s); break;
        case Attr::Kind::ints:
          w.pod<uint32_t>(static_cast<uint32_t>(a.ints.size()));
          for (int64_t x : a.ints) w.pod<int64_t>(x);
          break;
        case Attr::Kind::floats:
          w.pod<uint32_t>(static_cast<uint32_t>(a.floats.size()));
          for (float x : a.floats) w.pod<float>(x);
          break;
      }
    }
  }
  w.ids(g.inputs);
  w.ids(g.outputs);
  return w.out;
}

bool deserialize_graph(const void* bytes, size_t size, Graph* out, std::string* error) {
  if (!is_graph_file(bytes, size)) {
    *error = "not a kiln graph file (bad magic)";
    return false;
  }
  Reader r{static_cast<const char*>(bytes) + 8, static_cast<const char*>(bytes) + size};
  Graph g;
  const size_t nv = r.count(10);
  for (size_t i = 0; r.ok && i < nv; ++i) {
    Value v;
    v.name = r.str();
    const uint8_t dt = r.pod<uint8_t>();
    const uint8_t flags = r.pod<uint8_t>();
    if (dt > static_cast<uint8_t>(DType::s64)) r.ok = false;
    v.dtype = static_cast<DType>(dt);
    v.shape_known = flags & 1;
    const size_t rank = r.count(8);
    for (size_t d = 0; r.ok && d < rank; ++d) {
      const int64_t x = r.pod<int64_t>();
      if (x < kSymbolicDim || x > (int64_t{1} << 40)) r.ok = false;
      v.shape.push_back(x);
    }
    if (r.ok && (flags & 2)) {
      const uint64_t nb = r.pod<uint64_t>();
      for (int64_t d : v.shape) r.ok = r.ok && d >= 0;
      if (!r.ok || nb != dtype_bytes(v.dtype, shape_elements(v.shape)) || nb > static_cast<uint64_t>(r.end - r.p)) {
        r.ok = false;
        break;
      }
      Tensor t(v.dtype, v.shape);
      if (nb) std::memcpy(t.mutable_raw(), r.p, nb);
      r.p += nb;
      v.constant = std::move(t);
      v.shape_known = true;
    }
    g.values.push_back(std::move(v));
  }
  const size_t nn = r.ok ? r.count(20) : 0;
  for (size_t i = 0; r.ok && i < nn; ++i) {
    Node n;
    n.name = r.str();
    n.op = r.str();
    n.inputs = r.ids(g.values.size());
    n.outputs = r.ids(g.values.size());
    for (int o : n.outputs) r.ok = r.ok && o >= 0;
    const size_t na = r.count(5);
    for (size_t j = 0; r.ok && j < na; ++j) {
      std::string key = r.str();
      const uint8_t kind = r.pod<uint8_t>();
      Attr a;
      switch (kind) {
        case 0: a = Attr::of_int(r.pod<int64_t>()); break;
        case 1: a = Attr::of_float(r.pod<float>()); break;
        case 2: a = Attr::of_string(r.str()); break;
        case 3: {
          const size_t c = r.count(8);
          for (size_t k = 0; r.ok && k < c; ++k) a.ints.push_back(r.pod<int64_t>());
          a.kind = Attr::Kind::ints;
          break;
        }
        case 4: {
          const size_t c = r.count(4);
          for (size_t k = 0; r.ok && k < c; ++k) a.floats.push_back(r.pod<float>());
          a.kind = Attr::Kind::floats;
          break;
        }
        default: r.ok = false;
      }
      n.attrs[key] = std::move(a);
    }
    g.nodes.push_back(std::move(n));
  }
  if (r.ok) g.inputs = r.ids(g.values.size());
  if (r.ok) g.outputs = r.ids(g.values.size());
  for (int v : g.inputs) r.ok = r.ok && v >= 0;
  for (int v : g.outputs) r.ok = r.ok && v >= 0;
  if (!r.ok || r.p != r.end) {
    *error = "corrupt or truncated kiln graph file";
    return false;
  }
  // Each value is written by at most one node and never also an input or constant.
  std::vector<int> writers(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    for (int o : n.outputs) ++writers[o];
  }
  for (int v : g.inputs) ++writers[v];
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (writers[i] + (g.values[i].constant ? 1 : 0) > 1) {
      *error = "corrupt kiln graph file: value '" + g.values[i].name + "' has several producers";
      return false;
    }
  }
  *out = std::move(g);
  return true;
}

}  // namespace kiln
