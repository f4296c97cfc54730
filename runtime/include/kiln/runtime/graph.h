// The graph IR: values (tensors flowing between nodes, or constants), nodes (an op with attributes),
// and the graph (its inputs, outputs and nodes in topological order). Shapes are logical (ONNX
// order); a dimension may be kSymbolicDim (the batch). Ops are named as in ONNX; kiln's own ops are
// prefixed "kiln." (see op_registry.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/runtime/tensor.h"

namespace kiln {

struct Attr {
  enum class Kind : uint8_t { i = 0, f = 1, s = 2, ints = 3, floats = 4 };
  Kind kind = Kind::i;
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;

  static Attr of_int(int64_t v) { Attr a; a.kind = Kind::i; a.i = v; return a; }
  static Attr of_float(float v) { Attr a; a.kind = Kind::f; a.f = v; return a; }
  static Attr of_string(std::string v) { Attr a; a.kind = Kind::s; a.s = std::move(v); return a; }
  static Attr of_ints(std::vector<int64_t> v) { Attr a; a.kind = Kind::ints; a.ints = std::move(v); return a; }
  static Attr of_floats(std::vector<float> v) { Attr a; a.kind = Kind::floats; a.floats = std::move(v); return a; }
};

struct Value {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;               // logical; kSymbolicDim for the batch
  bool shape_known = false;  // false until shape inference has run (or for unknown-rank inputs)
  Layout layout = Layout::plain;
  std::optional<Tensor> constant;  // weights, folded constants
  QuantParams quant;
  int producer = -1;  // index of the node writing it, -1 for inputs and constants
};

// Bytes a kernel prepared ahead of time for one node (packed weights with folded biases and
// multipliers, a serialised PackedConv, ...), with the kernel configuration they were packed for.
// Stored in .kiln files; after loading, `data` points into the file's mapping.
struct KernelBlob {
  std::string kind;  // what the bytes are: "gemm_packed", "conv_packed", ...
  std::string isa;   // the ISA they were packed for ("avx512vnni", "neondot", "ref", ...)
  int32_t mr = 0, nr = 0, kr = 0, sr = 0;
  std::map<std::string, std::string> config;
  Tensor data;  // u8, shape {bytes}
};

struct Node {
  std::string name;
  std::string op;
  std::vector<int> inputs;  // value ids; -1 for an omitted optional input
  std::vector<int> outputs;
  std::map<std::string, Attr> attrs;
  bool dead = false;  // removed by a pass; dropped by Graph::compact()
  std::vector<KernelBlob> blobs;  // prepacked kernel data (kiln.QConv / kiln.QGemm); travels with the node

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t get_int(const std::string& a, int64_t fallback) const;
  float get_float(const std::string& a, float fallback) const;
  std::string get_string(const std::string& a, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& a, std::vector<int64_t> fallback = {}) const;
  std::vector<float> get_floats(const std::string& a, std::vector<float> fallback = {}) const;
  // "Conv 'conv1'": how errors name a node.
  std::string label() const;
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order
  std::vector<int> inputs;   // value ids the caller sets
  std::vector<int> outputs;  // value ids the caller reads

  int add_value(Value v);
  int add_constant(std::string name, Tensor t);
  int find_value(const std::string& name) const;  // -1 if absent
  // A fresh value name based on `base` (unique in this graph).
  std::string unique_name(const std::string& base);

  const Tensor* constant_of(int value) const {
    return value >= 0 && values[value].constant ? &*values[value].constant : nullptr;
  }
  // Number of live nodes reading each value (graph outputs count once).
  std::vector<int> use_counts() const;
  // Replaces every read of `from` (by nodes and graph outputs) with `to`.
  void replace_uses(int from, int to);
  // Recomputes Value::producer, drops dead nodes and values nothing refers to, renumbers.
  void compact();
  // Sorts live nodes topologically (stable). False with a message if there is a cycle or a read of
  // a value nobody produces.
  bool sort(std::string* error);
};

// A readable listing: inputs, outputs, then one line per node with attributes and shapes.
std::string dump_graph(const Graph& g);

}  // namespace kiln
