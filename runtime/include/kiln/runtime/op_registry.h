// The op registry: for each op the runtime knows, its shape inference, its float execution, the
// physical layouts it accepts, and an optional load-time preparation (weight packing) whose result
// is shared read-only by every session of a model.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/kernels/parallel.h"
#include "kiln/runtime/graph.h"

namespace kiln {

struct InferContext {
  const Node& node;
  std::vector<DType> in_types;
  std::vector<Shape> in_shapes;            // concrete
  std::vector<const Tensor*> in_values;    // known values (constants, plan-time results) or null
  std::vector<DType> out_types;            // filled by infer (sized to node.outputs)
  std::vector<Shape> out_shapes;
  size_t inputs() const { return in_shapes.size(); }
  bool present(size_t i) const { return i < node.inputs.size() && node.inputs[i] >= 0; }
};

struct RunContext {
  const Node& node;
  std::vector<const Tensor*> in;  // null for an omitted optional input
  std::vector<Tensor*> out;       // allocated by the executor with the inferred shapes and layouts
  kernels::TaskRunner* runner = nullptr;
  const void* prepared = nullptr;  // the op's PrepareFn result, or null
};

// Physical layouts an op reads and writes (the layout pass inserts kiln.Relayout nodes to match).
enum class LayoutRule : uint8_t {
  plain,      // every 4-D input and output plain (NCHW)
  nhwc,       // 4-D data input 0 and 4-D outputs NHWC; other inputs plain
  same,       // unary: output takes input 0's layout
  broadcast,  // element-wise with broadcasting: 4-D inputs share the output's layout
  concat,     // all 4-D inputs share the output's layout
};

// All return "" on success, otherwise the reason (the caller adds the node's name).
using InferFn = std::string (*)(InferContext& ctx);
using RunFn = std::string (*)(RunContext& ctx);
// Builds load-time state from the node and its constant inputs (for example packed weights).
using PrepareFn = std::string (*)(const Node& node, const Graph& graph, std::shared_ptr<const void>* state);

struct OpDef {
  const char* name;
  InferFn infer;
  RunFn run;
  LayoutRule layout = LayoutRule::plain;
  PrepareFn prepare = nullptr;
  const char* attributes = "";  // the attributes it understands, comma-separated
  bool shape_only = false;      // output depends on input shapes only (Shape): known at plan time
};

// The op named `name`: a built-in one, else one added by register_op; null if none. Thread-safe.
const OpDef* find_op(std::string_view name);
// The built-in ops (those of the runtime library itself; registered extensions are not listed).
const std::vector<OpDef>& all_ops();
// Extension point for ops defined outside the runtime library (calib's kiln.Sim* simulation ops):
// adds `op` (its name and attribute strings must outlive the process, e.g. literals). Thread-safe;
// lookups never lock. Registering a name again with the same infer/run functions is a no-op and
// succeeds; a different definition under a taken name, or more than 256 extensions, fails with a
// message.
bool register_op(const OpDef& op, std::string* error);
// Whether `attr` is one of the op's understood attributes.
bool op_accepts_attribute(const OpDef& op, std::string_view attr);

}  // namespace kiln
