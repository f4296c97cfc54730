// Physical layouts: 4-D activations are NHWC around the ops that want it (conv, pooling, resize),
// ops that work on any layout (element-wise, concat, slice, pad) keep what they get, and
// layout-sensitive ops (reshape, transpose, softmax, matmul, ...) and graph outputs get NCHW.
// Conversions are kiln.Relayout nodes, one per value and direction.
#include <map>

#include "kiln/runtime/op_registry.h"
#include "kiln/runtime/passes.h"

namespace kiln {

std::string assign_layouts(Graph& g) {
  std::string err;
  if (!g.sort(&err)) return err;
  for (Value& v : g.values) v.layout = Layout::plain;
  std::vector<Node> out;
  out.reserve(g.nodes.size());
  std::map<std::pair<int, Layout>, int> converted;
  auto is4d = [&](int v) { return v >= 0 && g.values[v].shape_known && g.values[v].shape.size() == 4; };
  // The id of value v in layout l, inserting a kiln.Relayout node if needed.
  auto in_layout = [&](int v, Layout l) -> int {
    if (g.values[v].layout == l) return v;
    auto it = converted.find({v, l});
    if (it != converted.end()) return it->second;
    Value nv = g.values[v];
    nv.name = g.unique_name(nv.name + (l == Layout::nhwc ? "__nhwc" : "__nchw"));
    nv.layout = l;
    nv.constant.reset();
    const int id = g.add_value(std::move(nv));
    Node r;
    r.name = g.values[id].name;
    r.op = "kiln.Relayout";
    r.inputs = {v};
    r.outputs = {id};
    r.attrs["to"] = Attr::of_string(l == Layout::nhwc ? "nhwc" : "nchw");
    out.push_back(std::move(r));
    converted[{v, l}] = id;
    return id;
  };
  for (Node& n : g.nodes) {
    const OpDef* op = find_op(n.op);
    if (!op) return "unsupported op (" + n.label() + ")";
    Layout out_layout = Layout::plain;
    switch (op->layout) {
      case LayoutRule::plain:
        for (int& v : n.inputs) {
          if (is4d(v)) v = in_layout(v, Layout::plain);
        }
        break;
      case LayoutRule::nhwc:
        for (int& v : n.inputs) {
          if (is4d(v) && !g.values[v].constant) v = in_layout(v, Layout::nhwc);
        }
        out_layout = Layout::nhwc;
        break;
      case LayoutRule::same:
        if (n.op == "kiln.Relayout") {
          out_layout = n.get_string("to", "") == "nhwc" ? Layout::nhwc : Layout::plain;
        } else if (!op->shape_only && !n.inputs.empty() && n.inputs[0] >= 0) {
          out_layout = g.values[n.inputs[0]].layout;
        }
        break;
      case LayoutRule::broadcast:
      case LayoutRule::concat:
        for (int v : n.inputs) {
          if (is4d(v) && g.values[v].layout == Layout::nhwc) out_layout = Layout::nhwc;
        }
        break;
    }
    for (int v : n.outputs) g.values[v].layout = is4d(v) ? out_layout : Layout::plain;
    out.push_back(std::move(n));
  }
  g.nodes = std::move(out);
  // Graph outputs are NCHW under their own names.
  for (int& o : g.outputs) {
    if (g.values[o].layout == Layout::plain) continue;
    Value& v = g.values[o];
    const std::string name = v.name;
    v.name = g.unique_name(name + "__nhwc");
    Value nv = g.values[o];
    nv.name = name;
    nv.layout = Layout::plain;
    const int id = g.add_value(std::move(nv));
    Node r;
    r.name = name + "__to_nchw";
    r.op = "kiln.Relayout";
    r.inputs = {o};
    r.outputs = {id};
    r.attrs["to"] = Attr::of_string("nchw");
    g.nodes.push_back(std::move(r));
    o = id;
  }
  if (!g.sort(&err)) return err;
  return "";
}

}  // namespace kiln
