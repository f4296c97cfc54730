#include "kiln/runtime/graph.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <unordered_map>

namespace kiln {

int64_t Node::get_int(const std::string& a, int64_t fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.kind == Attr::Kind::f ? static_cast<int64_t>(it->second.f)
                                                                         : it->second.i;
}
float Node::get_float(const std::string& a, float fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.kind == Attr::Kind::i ? static_cast<float>(it->second.i)
                                                                         : it->second.f;
}
std::string Node::get_string(const std::string& a, const std::string& fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.s;
}
std::vector<int64_t> Node::get_ints(const std::string& a, std::vector<int64_t> fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.ints;
}
std::vector<float> Node::get_floats(const std::string& a, std::vector<float> fallback) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? fallback : it->second.floats;
}
std::string Node::label() const { return op + " '" + name + "'"; }

int Graph::add_value(Value v) {
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::add_constant(std::string name, Tensor t) {
  Value v;
  v.name = std::move(name);
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.shape_known = true;
  v.constant = std::move(t);
  return add_value(std::move(v));
}

int Graph::find_value(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string Graph::unique_name(const std::string& base) {
  std::set<std::string> names;
  for (const Value& v : values) names.insert(v.name);
  if (!names.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (!names.count(n)) return n;
  }
}

std::vector<int> Graph::use_counts() const {
  std::vector<int> uses(values.size(), 0);
  for (const Node& n : nodes) {
    if (n.dead) continue;
    for (int v : n.inputs) {
      if (v >= 0) ++uses[v];
    }
  }
  for (int v : outputs) ++uses[v];
  return uses;
}

void Graph::replace_uses(int from, int to) {
  for (Node& n : nodes) {
    for (int& v : n.inputs) {
      if (v == from) v = to;
    }
  }
  for (int& v : outputs) {
    if (v == from) v = to;
  }
}

void Graph::compact() {
  std::vector<bool> used(values.size(), false);
  std::vector<Node> live;
  for (Node& n : nodes) {
    if (n.dead) continue;
    for (int v : n.inputs) {
      if (v >= 0) used[v] = true;
    }
    for (int v : n.outputs) used[v] = true;
    live.push_back(std::move(n));
  }
  for (int v : inputs) used[v] = true;
  for (int v : outputs) used[v] = true;
  std::vector<int> remap(values.size(), -1);
  std::vector<Value> kept;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!used[i]) continue;
    remap[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(values[i]));
  }
  auto fix = [&](std::vector<int>& ids) {
    for (int& v : ids) {
      if (v >= 0) v = remap[v];
    }
  };
  for (Node& n : live) {
    fix(n.inputs);
    fix(n.outputs);
  }
  fix(inputs);
  fix(outputs);
  values = std::move(kept);
  nodes = std::move(live);
  for (Value& v : values) v.producer = -1;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int v : nodes[i].outputs) values[v].producer = static_cast<int>(i);
  }
}

bool Graph::sort(std::string* error) {
  std::vector<bool> ready(values.size(), false);
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].constant) ready[i] = true;
  }
  for (int v : inputs) ready[v] = true;
  std::vector<Node> order;
  std::vector<bool> placed(nodes.size(), false);
  size_t live = 0;
  for (const Node& n : nodes) live += !n.dead;
  // Repeated sweeps keep the original order where it is already topological.
  while (order.size() < live) {
    bool progress = false;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (placed[i] || nodes[i].dead) continue;
      bool ok = true;
      for (int v : nodes[i].inputs) ok = ok && (v < 0 || ready[v]);
      if (!ok) continue;
      for (int v : nodes[i].outputs) ready[v] = true;
      placed[i] = true;
      order.push_back(std::move(nodes[i]));
      progress = true;
    }
    if (!progress) {
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (placed[i] || nodes[i].dead) continue;
        for (int v : nodes[i].inputs) {
          if (v >= 0 && !ready[v]) {
            *error = "graph has a cycle or reads a value nothing produces: '" + values[v].name + "' (" +
                     nodes[i].label() + ")";
            break;
          }
        }
        break;
      }
      return false;
    }
  }
  nodes = std::move(order);
  for (Value& v : values) v.producer = -1;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int v : nodes[i].outputs) values[v].producer = static_cast<int>(i);
  }
  for (int v : outputs) {
    if (!ready[v]) {
      *error = "graph output '" + values[v].name + "' is never produced";
      return false;
    }
  }
  return true;
}

namespace {
std::string attr_string(const Attr& a) {
  char buf[64];
  std::string s;
  switch (a.kind) {
    case Attr::Kind::i: return std::to_string(a.i);
    case Attr::Kind::f: std::snprintf(buf, sizeof buf, "%g", a.f); return buf;
    case Attr::Kind::s: return "\"" + a.s + "\"";
    case Attr::Kind::ints:
      for (size_t i = 0; i < a.ints.size(); ++i) {
        if (i) s += ',';  // not (i ? "," : "") + ...: gcc 12 reports a false -Wrestrict on that
        s += std::to_string(a.ints[i]);
      }
      return "[" + s + "]";
    case Attr::Kind::floats:
      for (size_t i = 0; i < a.floats.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%s%g", i ? "," : "", a.floats[i]);
        s += buf;
      }
      return "[" + s + "]";
  }
  return "";
}

std::string value_string(const Graph& g, int id) {
  if (id < 0) return "-";
  const Value& v = g.values[id];
  std::string s = "%" + v.name + ":" + dtype_name(v.dtype);
  if (v.shape_known) s += shape_string(v.shape);
  if (v.layout == Layout::nhwc) s += "nhwc";
  if (v.constant) s += "(const)";
  return s;
}
}  // namespace

std::string dump_graph(const Graph& g) {
  std::string out = "graph: " + std::to_string(g.nodes.size()) + " nodes\n";
  for (int v : g.inputs) out += "  input  " + value_string(g, v) + "\n";
  for (int v : g.outputs) out += "  output " + value_string(g, v) + "\n";
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    std::string line = "  ";
    for (size_t i = 0; i < n.outputs.size(); ++i) line += (i ? ", " : "") + value_string(g, n.outputs[i]);
    line += " = " + n.op + "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) line += (i ? ", " : "") + value_string(g, n.inputs[i]);
    line += ")";
    if (!n.attrs.empty()) {
      line += " {";
      bool first = true;
      for (const auto& [k, a] : n.attrs) {
        line += (first ? "" : ", ") + k + "=" + attr_string(a);
        first = false;
      }
      line += "}";
    }
    out += line + "  # " + n.name + "\n";
  }
  return out;
}

}  // namespace kiln
