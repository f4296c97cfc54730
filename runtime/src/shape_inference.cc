#include "kiln/runtime/shape_inference.h"

#include "kiln/runtime/op_registry.h"

namespace kiln {

std::string propagate_shapes(const Graph& g, const std::vector<Shape>& input_shapes, ShapeState* st) {
  const size_t nv = g.values.size();
  st->shapes.assign(nv, {});
  st->types.assign(nv, DType::f32);
  st->has.assign(nv, false);
  st->known.assign(nv, std::nullopt);
  st->evaluated.assign(g.nodes.size(), false);
  for (size_t i = 0; i < nv; ++i) {
    if (g.values[i].constant) {
      st->shapes[i] = g.values[i].constant->shape();
      st->types[i] = g.values[i].constant->dtype();
      st->has[i] = true;
    }
  }
  if (input_shapes.size() != g.inputs.size()) return "expected " + std::to_string(g.inputs.size()) + " input shapes";
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const int v = g.inputs[i];
    st->shapes[v] = input_shapes[i];
    st->types[v] = g.values[v].dtype;
    st->has[v] = true;
  }
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    const OpDef* op = find_op(n.op);
    if (!op) return "unsupported op (" + n.label() + ")";
    InferContext c{n, {}, {}, {}, {}, {}};
    bool all_known = true;
    for (int v : n.inputs) {
      if (v < 0) {
        c.in_types.push_back(DType::f32);
        c.in_shapes.push_back({});
        c.in_values.push_back(nullptr);
        continue;
      }
      if (!st->has[v]) return "input '" + g.values[v].name + "' has no shape (" + n.label() + ")";
      c.in_types.push_back(st->types[v]);
      c.in_shapes.push_back(st->shapes[v]);
      const Tensor* known = g.values[v].constant ? &*g.values[v].constant : st->known[v] ? &*st->known[v] : nullptr;
      c.in_values.push_back(known);
      all_known = all_known && known;
    }
    if (std::string e = op->infer(c); !e.empty()) return e + " (" + n.label() + ")";
    if (c.out_shapes.size() != n.outputs.size() || c.out_types.size() != n.outputs.size()) {
      return "op produced the wrong number of outputs (" + n.label() + ")";
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      int64_t elements;
      if (!shape_elements_checked(c.out_shapes[o], &elements)) {
        return "output shape " + shape_string(c.out_shapes[o]) + " is too large (" + n.label() + ")";
      }
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      st->shapes[n.outputs[o]] = c.out_shapes[o];
      st->types[n.outputs[o]] = c.out_types[o];
      st->has[n.outputs[o]] = true;
    }
    // Evaluate now when the result is fixed by what is known (ops with load-time state excepted).
    if ((all_known || op->shape_only) && op->prepare == nullptr) {
      RunContext r{n, c.in_values, {}, nullptr, nullptr};
      std::vector<Tensor> outs;
      outs.reserve(n.outputs.size());
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        outs.emplace_back(c.out_types[o], c.out_shapes[o], g.values[n.outputs[o]].layout);
        r.out.push_back(&outs.back());
      }
      std::vector<Tensor> shape_views;
      if (op->shape_only) {  // Shape reads only its input's shape: give it a data-less view
        shape_views.reserve(n.inputs.size());
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          shape_views.push_back(Tensor::view(c.in_types[i], c.in_shapes[i], Layout::plain, nullptr));
          r.in[i] = &shape_views.back();
        }
      }
      if (std::string e = op->run(r); !e.empty()) return e + " (" + n.label() + ")";
      for (size_t o = 0; o < n.outputs.size(); ++o) st->known[n.outputs[o]] = std::move(outs[o]);
      st->evaluated[ni] = true;
    }
  }
  return "";
}

std::string annotate_shapes(Graph& g) {
  ShapeState s1, s2;
  for (int batch : {1, 2}) {
    std::vector<Shape> in;
    for (int v : g.inputs) {
      if (!g.values[v].shape_known) return "input '" + g.values[v].name + "' has no declared shape";
      Shape s = g.values[v].shape;
      // Open sizes after the batch (dynamic H, W, sequence length) are probed at 64 and 128: at 1 and
      // 2 a network's pooling or striding would shrink them below its kernels.
      for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == kSymbolicDim) s[k] = k == 0 ? batch : 64 * batch;
      }
      int64_t elements;
      if (!shape_elements_checked(s, &elements)) {
        return "input '" + g.values[v].name + "' has an invalid or too large shape " + shape_string(s);
      }
      in.push_back(s);
    }
    if (std::string e = propagate_shapes(g, in, batch == 1 ? &s1 : &s2); !e.empty()) return e;
  }
  for (size_t i = 0; i < g.values.size(); ++i) {
    Value& v = g.values[i];
    if (v.constant || !s1.has[i]) continue;
    v.dtype = s1.types[i];
    v.shape = s1.shapes[i];
    if (s2.shapes[i].size() == v.shape.size()) {
      for (size_t d = 0; d < v.shape.size(); ++d) {
        if (s2.shapes[i][d] != v.shape[d]) v.shape[d] = kSymbolicDim;
      }
    }
    v.shape_known = true;
  }
  return "";
}

}  // namespace kiln
