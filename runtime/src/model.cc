#include "kiln/runtime/model.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kiln/runtime/memory_planner.h"
#include "kiln/runtime/op_registry.h"
#include "kiln/runtime/passes.h"
#include "kiln/thread_pool.h"

namespace kiln {

std::shared_ptr<const Model> Model::create(Graph graph, std::string* error, const ModelOptions& options) {
  std::shared_ptr<Model> m(new Model());
  for (const Node& n : graph.nodes) {
    const OpDef* op = find_op(n.op);
    if (!op) {
      *error = "unsupported op (" + n.label() + ")";
      return nullptr;
    }
    for (const auto& [k, a] : n.attrs) {
      if (!op_accepts_attribute(*op, k)) {
        *error = "unsupported attribute '" + k + "' (" + n.label() + ")";
        return nullptr;
      }
    }
  }
  std::string e;
  if (options.canonicalize) {
    e = canonicalize(graph);
  } else if (graph.sort(&e)) {
    e = annotate_shapes(graph);
  }
  if (!e.empty()) {
    *error = e;
    return nullptr;
  }
  m->logical_ = graph;
  if (e = assign_layouts(graph); !e.empty()) {
    *error = e;
    return nullptr;
  }
  m->prepared_.resize(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const OpDef* op = find_op(graph.nodes[i].op);
    if (op->prepare) {
      if (e = op->prepare(graph.nodes[i], graph, &m->prepared_[i]); !e.empty()) {
        *error = e + " (" + graph.nodes[i].label() + ")";
        return nullptr;
      }
    }
  }
  m->graph_ = std::move(graph);
  return m;
}

std::vector<std::string> Model::input_names() const {
  std::vector<std::string> n;
  for (int v : graph_.inputs) n.push_back(graph_.values[v].name);
  return n;
}

std::vector<std::string> Model::output_names() const {
  std::vector<std::string> n;
  for (int v : graph_.outputs) n.push_back(graph_.values[v].name);
  return n;
}

Session::Session(std::shared_ptr<const Model> model, int threads)
    : model_(std::move(model)), pool_(std::make_unique<ThreadPool>(threads)) {
  const Graph& g = model_->graph();
  inputs_.resize(g.inputs.size());
  outputs_.resize(g.outputs.size());
}

Session::~Session() = default;

void Session::set_profiling(bool on) {
  profiling_ = on;
  if (!on) return;
  const Graph& g = model_->graph();
  profile_.assign(g.nodes.size(), NodeProfile{});
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    profile_[i].name = g.nodes[i].name;
    profile_[i].op = g.nodes[i].op;
  }
}

std::string Session::set_input(const std::string& name, const Tensor& t) {
  const Graph& g = model_->graph();
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value& v = g.values[g.inputs[i]];
    if (v.name != name) continue;
    if (t.dtype() != v.dtype) {
      return "input '" + name + "' is " + dtype_name(v.dtype) + ", got " + dtype_name(t.dtype());
    }
    bool ok = t.shape().size() == v.shape.size();
    for (size_t d = 0; ok && d < v.shape.size(); ++d) {
      ok = t.shape()[d] > 0 && (v.shape[d] == kSymbolicDim || v.shape[d] == t.shape()[d]);
    }
    if (!ok) {
      return "input '" + name + "' has shape " + shape_string(t.shape()) + ", the model expects " + shape_string(v.shape);
    }
    if (t.layout() != Layout::plain && t.rank() == 4) return "inputs must be in NCHW (plain) order";
    inputs_[i] = t.clone();
    return "";
  }
  return "the model has no input named '" + name + "'";
}

const Tensor* Session::output(const std::string& name) const {
  const Graph& g = model_->graph();
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    if (g.values[g.outputs[i]].name == name) return outputs_[i].raw() || outputs_[i].elements() == 0 ? &outputs_[i] : nullptr;
  }
  return nullptr;
}

std::string Session::plan() {
  const Graph& g = model_->graph();
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs_) shapes.push_back(t.shape());
  if (std::string e = propagate_shapes(g, shapes, &shapes_); !e.empty()) return e;
  const size_t nv = g.values.size();
  kind_.assign(nv, 0);
  input_slot_.assign(nv, -1);
  for (size_t i = 0; i < nv; ++i) {
    if (g.values[i].constant) kind_[i] = 1;
    else if (shapes_.known[i]) kind_[i] = 2;
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    kind_[g.inputs[i]] = 3;
    input_slot_[g.inputs[i]] = static_cast<int>(i);
  }
  // Lifetimes of the values computed at run time, by node index.
  std::vector<int> buffer_of(nv, -1);
  std::vector<BufferLifetime> buffers;
  const int end = static_cast<int>(g.nodes.size());
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    if (shapes_.evaluated[ni]) continue;
    for (int v : g.nodes[ni].outputs) {
      if (kind_[v] != 0) continue;
      kind_[v] = 4;
      buffer_of[v] = static_cast<int>(buffers.size());
      buffers.push_back({dtype_bytes(shapes_.types[v], shape_elements(shapes_.shapes[v])), static_cast<int>(ni),
                         static_cast<int>(ni)});
    }
    for (int v : g.nodes[ni].inputs) {
      if (v >= 0 && buffer_of[v] >= 0) buffers[buffer_of[v]].last = static_cast<int>(ni);
    }
  }
  for (int v : g.outputs) {
    if (buffer_of[v] >= 0) buffers[buffer_of[v]].last = end;
  }
  const MemoryPlan mp = plan_memory(buffers);
  arena_bytes_ = mp.arena_bytes;
  void* mem = std::aligned_alloc(64, (arena_bytes_ + 64) / 64 * 64);
  if (!mem) return "cannot allocate " + std::to_string(arena_bytes_) + " bytes for the arena";
  arena_ = std::shared_ptr<void>(mem, std::free);
  views_.assign(nv, Tensor());
  for (size_t v = 0; v < nv; ++v) {
    if (buffer_of[v] < 0) continue;
    views_[v] = Tensor::view(shapes_.types[v], shapes_.shapes[v], g.values[v].layout,
                             static_cast<char*>(mem) + mp.offsets[buffer_of[v]]);
  }
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const int v = g.outputs[i];
    outputs_[i] = Tensor(shapes_.types[v], shapes_.shapes[v]);
  }
  planned_shapes_ = shapes;
  planned_ = true;
  return "";
}

std::string Session::run() {
  const Graph& g = model_->graph();
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].raw() == nullptr) return "input '" + g.values[g.inputs[i]].name + "' was not set";
  }
  bool same = planned_;
  for (size_t i = 0; same && i < inputs_.size(); ++i) same = inputs_[i].shape() == planned_shapes_[i];
  if (!same) {
    if (std::string e = plan(); !e.empty()) {
      planned_ = false;
      return e;
    }
  }
  if (observer_) {
    for (size_t i = 0; i < inputs_.size(); ++i) observer_(g.inputs[i], g.values[g.inputs[i]].name, inputs_[i]);
  }
  auto tensor_of = [&](int v) -> const Tensor* {
    switch (kind_[v]) {
      case 1: return &*g.values[v].constant;
      case 2: return &*shapes_.known[v];
      case 3: return &inputs_[input_slot_[v]];
      case 4: return &views_[v];
      default: return nullptr;
    }
  };
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    if (shapes_.evaluated[ni]) continue;
    const Node& n = g.nodes[ni];
    RunContext c{n, {}, {}, pool_.get(), model_->prepared(ni)};
    for (int v : n.inputs) c.in.push_back(v >= 0 ? tensor_of(v) : nullptr);
    for (int v : n.outputs) c.out.push_back(&views_[v]);
    const OpDef* op = find_op(n.op);
    if (profiling_) {
      const auto t0 = std::chrono::steady_clock::now();
      std::string e = op->run(c);
      const auto t1 = std::chrono::steady_clock::now();
      profile_[ni].total_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
      ++profile_[ni].runs;
      if (!e.empty()) return e + " (" + n.label() + ")";
    } else if (std::string e = op->run(c); !e.empty()) {
      return e + " (" + n.label() + ")";
    }
    if (observer_) {
      for (int v : n.outputs) {
        if (v >= 0 && kind_[v] == 4) observer_(v, g.values[v].name, views_[v]);
      }
    }
  }
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const Tensor* t = tensor_of(g.outputs[i]);
    if (!t) return "output '" + g.values[g.outputs[i]].name + "' was not computed";
    if (t->bytes()) std::memcpy(outputs_[i].mutable_raw(), t->raw(), t->bytes());
  }
  return "";
}

}  // namespace kiln
