#include <cmath>

#include "kiln/runtime/op_registry.h"
#include "kiln/runtime/passes.h"
#include "kiln/runtime/shape_inference.h"

namespace kiln {

namespace {
bool static_shape(const Value& v) {
  if (!v.shape_known) return false;
  for (int64_t d : v.shape) {
    if (d < 0) return false;
  }
  return true;
}
}  // namespace

std::string fold_constants(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  for (Node& n : g.nodes) {
    if (n.dead) continue;
    const OpDef* op = find_op(n.op);
    if (!op) return "unsupported op (" + n.label() + ")";
    if (op->prepare) continue;
    bool foldable = true;
    InferContext c{n, {}, {}, {}, {}, {}};
    for (int v : n.inputs) {
      if (v < 0) {
        c.in_types.push_back(DType::f32);
        c.in_shapes.push_back({});
        c.in_values.push_back(nullptr);
        continue;
      }
      const Value& val = g.values[v];
      if (op->shape_only ? !static_shape(val) : !val.constant) foldable = false;
      c.in_types.push_back(val.dtype);
      c.in_shapes.push_back(val.constant ? val.constant->shape() : val.shape);
      c.in_values.push_back(val.constant ? &*val.constant : nullptr);
    }
    // Gather(Shape(x), const) picking only static dims of x.
    if (!foldable && n.op == "Gather" && n.inputs.size() == 2 && g.values[n.inputs[0]].producer >= 0 &&
        g.values[n.inputs[1]].constant) {
      const Node& sh = g.nodes[g.values[n.inputs[0]].producer];
      if (!sh.dead && sh.op == "Shape" && !sh.has("start") && !sh.has("end") && g.values[sh.inputs[0]].shape_known) {
        const Shape& xs = g.values[sh.inputs[0]].shape;
        const Tensor& idx = *g.values[n.inputs[1]].constant;
        bool ok = true;
        std::vector<int64_t> picked;
        for (size_t i = 0; i < idx.elements() && ok; ++i) {
          int64_t k = idx.int_at(i);
          if (k < 0) k += static_cast<int64_t>(xs.size());
          ok = k >= 0 && k < static_cast<int64_t>(xs.size()) && xs[k] >= 0;
          if (ok) picked.push_back(xs[k]);
        }
        if (ok) {
          Tensor t(DType::s64, idx.shape());
          for (size_t i = 0; i < picked.size(); ++i) t.mutable_data<int64_t>()[i] = picked[i];
          const int out = n.outputs[0];
          g.values[out].constant = std::move(t);
          g.values[out].dtype = DType::s64;
          g.values[out].shape = idx.shape();
          g.values[out].shape_known = true;
          g.values[out].producer = -1;
          n.dead = true;
        }
      }
      continue;
    }
    if (!foldable) continue;
    if (std::string e = op->infer(c); !e.empty()) return e + " (" + n.label() + ")";
    std::vector<Tensor> outs;
    outs.reserve(n.outputs.size());
    RunContext r{n, c.in_values, {}, nullptr, nullptr};
    std::vector<Tensor> shape_views;
    if (op->shape_only) {
      shape_views.reserve(c.in_shapes.size());
      for (size_t i = 0; i < c.in_shapes.size(); ++i) {
        shape_views.push_back(Tensor::view(c.in_types[i], c.in_shapes[i], Layout::plain, nullptr));
        r.in[i] = &shape_views.back();
      }
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      outs.emplace_back(c.out_types[o], c.out_shapes[o]);
      r.out.push_back(&outs.back());
    }
    if (std::string e = op->run(r); !e.empty()) return e + " (" + n.label() + ")";
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      Value& v = g.values[n.outputs[o]];
      v.dtype = outs[o].dtype();
      v.shape = outs[o].shape();
      v.shape_known = true;
      v.constant = std::move(outs[o]);
      v.producer = -1;
    }
    n.dead = true;
  }
  g.compact();
  return "";
}

std::string eliminate_dead_code(Graph& g) {
  // Identity and Dropout pass their input through.
  for (Node& n : g.nodes) {
    if (n.dead || (n.op != "Identity" && n.op != "Dropout") || n.outputs.size() != 1 || n.inputs.empty()) continue;
    const int out = n.outputs[0];
    bool is_output = false;
    for (int v : g.outputs) is_output = is_output || v == out;
    if (is_output) continue;
    g.replace_uses(out, n.inputs[0]);
    n.dead = true;
  }
  for (bool changed = true; changed;) {
    changed = false;
    const std::vector<int> uses = g.use_counts();
    for (Node& n : g.nodes) {
      if (n.dead) continue;
      bool used = false;
      for (int v : n.outputs) used = used || uses[v] > 0;
      if (!used) {
        n.dead = true;
        changed = true;
      }
    }
  }
  g.compact();
  return "";
}

std::string canonicalize(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  if (std::string e = annotate_shapes(g); !e.empty()) return e;
  if (std::string e = fold_constants(g); !e.empty()) return e;
  if (std::string e = eliminate_dead_code(g); !e.empty()) return e;
  if (std::string e = recognise_patterns(g); !e.empty()) return e;
  if (std::string e = fold_batchnorm(g); !e.empty()) return e;
  if (std::string e = eliminate_dead_code(g); !e.empty()) return e;
  if (std::string e = annotate_shapes(g); !e.empty()) return e;
  if (std::string e = resolve_auto_pad(g); !e.empty()) return e;
  if (std::string e = fuse_activations(g); !e.empty()) return e;
  if (std::string e = eliminate_dead_code(g); !e.empty()) return e;
  if (!g.sort(&err)) return err;
  return annotate_shapes(g);
}

}  // namespace kiln
