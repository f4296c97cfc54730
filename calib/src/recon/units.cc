#include "kiln/calib/recon/units.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace kiln::calib::recon {
namespace {

bool is_weighted(const Node& n) { return n.op == "Conv" || n.op == "Gemm"; }

bool is_supported(const Node& n) {
  static const std::set<std::string> ops{"Conv",    "Gemm",        "Add",     "MaxPool", "AveragePool",
                                         "GlobalAveragePool", "Concat", "Flatten", "Reshape", "Relu"};
  return ops.count(n.op) != 0;
}

// Values reachable backwards from v through producers (v included), constants excluded.
std::set<int> ancestors(const Graph& g, int v) {
  std::set<int> seen;
  std::vector<int> stack{v};
  while (!stack.empty()) {
    const int x = stack.back();
    stack.pop_back();
    if (x < 0 || g.values[x].constant || !seen.insert(x).second) continue;
    const int p = g.values[x].producer;
    if (p >= 0) {
      for (int in : g.nodes[p].inputs) stack.push_back(in);
    }
  }
  return seen;
}

// The nodes of the residual unit ending at fused conv `j`: descendants of the fork, ancestors of j.
std::vector<int> residual_unit_nodes(const Graph& g, int j) {
  const Node& c = g.nodes[j];
  const std::set<int> a = ancestors(g, c.inputs[0]), b = ancestors(g, c.inputs[3]);
  int fork = -1, fork_prod = -2;
  for (int v : a) {
    if (b.count(v) && g.values[v].producer > fork_prod) {
      fork = v;
      fork_prod = g.values[v].producer;
    }
  }
  std::vector<int> nodes;
  if (fork < 0) return {j};  // two independent inputs: only the conv itself
  std::set<int> anc = a;
  anc.insert(b.begin(), b.end());
  for (int i = fork_prod + 1; i < j; ++i) {
    const Node& n = g.nodes[i];
    if (n.dead || n.outputs.empty() || !anc.count(n.outputs[0])) continue;
    nodes.push_back(i);
  }
  nodes.push_back(j);
  return nodes;
}

void finish_unit(const Graph& g, ReconUnit* u) {
  std::sort(u->nodes.begin(), u->nodes.end());
  std::set<int> produced;
  for (int i : u->nodes) {
    for (int o : g.nodes[i].outputs) produced.insert(o);
  }
  u->inputs.clear();
  u->weighted = 0;
  u->residual = false;
  for (int i : u->nodes) {
    const Node& n = g.nodes[i];
    if (is_weighted(n)) ++u->weighted;
    if (n.op == "Conv" && n.inputs.size() > 3 && n.inputs[3] >= 0) u->residual = true;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (v < 0 || g.values[v].constant || produced.count(v)) continue;
      if (std::find(u->inputs.begin(), u->inputs.end(), v) == u->inputs.end()) u->inputs.push_back(v);
    }
  }
  u->output = u->nodes.empty() ? -1 : g.nodes[u->nodes.back()].outputs[0];
  if (u->name.empty()) {
    for (int i : u->nodes) {
      if (is_weighted(g.nodes[i])) {
        u->name = g.nodes[i].name;
        break;
      }
    }
  }
}

// Spatial height of a value (NCHW), 1 for rank-2 values, 0 when unknown.
int64_t height_of(const Graph& g, int v) {
  const Value& val = g.values[v];
  if (!val.shape_known) return 0;
  if (val.shape.size() == 4) return val.shape[2];
  return val.shape.size() == 2 ? 1 : 0;
}

bool block_units(const Graph& g, std::vector<ReconUnit>* out, std::string* error) {
  const int nn = static_cast<int>(g.nodes.size());
  std::vector<int> unit_of(nn, -1);
  std::vector<std::vector<int>> residual_units;
  for (int j = 0; j < nn; ++j) {
    const Node& n = g.nodes[j];
    if (n.dead || n.op != "Conv" || n.inputs.size() < 4 || n.inputs[3] < 0) continue;
    std::vector<int> nodes = residual_unit_nodes(g, j);
    const int id = static_cast<int>(residual_units.size());
    for (int i : nodes) {
      if (unit_of[i] < 0) unit_of[i] = id;  // nested units (rare) stay with the first
    }
    residual_units.push_back(std::move(nodes));
  }
  ReconUnit current;
  std::vector<int> pending;
  std::vector<bool> emitted(residual_units.size(), false);
  auto flush = [&] {
    current.nodes.insert(current.nodes.end(), pending.begin(), pending.end());
    pending.clear();
    if (current.nodes.empty()) return;
    size_t w = 0;
    for (int i : current.nodes) w += is_weighted(g.nodes[i]) ? 1 : 0;
    if (w == 0 && !out->empty()) {  // only unweighted nodes: they belong to the previous unit
      out->back().nodes.insert(out->back().nodes.end(), current.nodes.begin(), current.nodes.end());
      finish_unit(g, &out->back());
    } else {
      finish_unit(g, &current);
      out->push_back(current);
    }
    current = ReconUnit{};
  };
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    if (n.dead) continue;
    if (!is_supported(n)) {
      *error = "reconstruction does not support " + n.label() + " inside a unit";
      return false;
    }
    if (unit_of[i] >= 0) {
      if (emitted[unit_of[i]]) continue;
      flush();
      emitted[unit_of[i]] = true;
      ReconUnit u;
      for (int k : residual_units[unit_of[i]]) {
        if (unit_of[k] == unit_of[i]) u.nodes.push_back(k);
      }
      finish_unit(g, &u);
      out->push_back(u);
      continue;
    }
    if (is_weighted(n)) {
      size_t w = 0;
      for (int k : current.nodes) w += is_weighted(g.nodes[k]) ? 1 : 0;
      if (w == 3) flush();
      current.nodes.insert(current.nodes.end(), pending.begin(), pending.end());
      pending.clear();
      current.nodes.push_back(i);
    } else {
      pending.push_back(i);
    }
  }
  flush();
  return true;
}

}  // namespace

bool parse_granularity(const std::string& text, Granularity* out, std::string* error) {
  if (text == "layer") *out = Granularity::layer;
  else if (text == "block") *out = Granularity::block;
  else if (text == "stage") *out = Granularity::stage;
  else if (text == "net") *out = Granularity::net;
  else {
    *error = "unknown granularity '" + text + "' (layer, block, stage or net)";
    return false;
  }
  return true;
}

const char* granularity_name(Granularity g) {
  switch (g) {
    case Granularity::layer: return "layer";
    case Granularity::block: return "block";
    case Granularity::stage: return "stage";
    case Granularity::net: return "net";
  }
  return "?";
}

bool list_units(const Graph& g, Granularity granularity, std::vector<ReconUnit>* out, std::string* error) {
  out->clear();
  if (granularity == Granularity::layer) {
    // One weighted layer per unit. An unweighted node (pool, add, concat) joins the unit before it,
    // so that the unit's output is what the next layers read; a Flatten / Reshape joins the layer
    // after it (a Gemm needs to see the flatten to read NHWC data in the graph's NCHW order).
    std::vector<int> reshapes;
    ReconUnit cur;
    std::vector<int> leading;  // unweighted nodes before the first weighted one
    auto flush = [&] {
      if (cur.nodes.empty()) return;
      finish_unit(g, &cur);
      out->push_back(cur);
      cur = ReconUnit{};
    };
    for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
      const Node& n = g.nodes[i];
      if (n.dead) continue;
      if (!is_supported(n)) {
        *error = "reconstruction does not support " + n.label() + " inside a unit";
        return false;
      }
      if (is_weighted(n)) {
        flush();
        cur.nodes = leading;
        leading.clear();
        cur.nodes.insert(cur.nodes.end(), reshapes.begin(), reshapes.end());
        reshapes.clear();
        cur.nodes.push_back(i);
      } else if (n.op == "Flatten" || n.op == "Reshape") {
        reshapes.push_back(i);
      } else {
        std::vector<int>& into = cur.nodes.empty() ? leading : cur.nodes;
        into.insert(into.end(), reshapes.begin(), reshapes.end());
        reshapes.clear();
        into.push_back(i);
      }
    }
    cur.nodes.insert(cur.nodes.end(), reshapes.begin(), reshapes.end());
    flush();
    return true;
  }
  std::vector<ReconUnit> blocks;
  if (!block_units(g, &blocks, error)) return false;
  if (granularity == Granularity::block) {
    *out = std::move(blocks);
    return true;
  }
  if (granularity == Granularity::net) {
    ReconUnit u;
    u.name = "net";
    for (const ReconUnit& b : blocks) u.nodes.insert(u.nodes.end(), b.nodes.begin(), b.nodes.end());
    finish_unit(g, &u);
    if (!u.nodes.empty()) out->push_back(u);
    return true;
  }
  // stage: merge consecutive blocks while the output resolution stays the same.
  ReconUnit cur;
  int64_t cur_h = -1;
  for (const ReconUnit& b : blocks) {
    const int64_t h = b.output >= 0 ? height_of(g, b.output) : 0;
    if (!cur.nodes.empty() && (h != cur_h || h == 0)) {
      cur.name = "stage" + std::to_string(out->size()) + ":" + g.nodes[cur.nodes.front()].name;
      finish_unit(g, &cur);
      out->push_back(cur);
      cur = ReconUnit{};
    }
    cur.nodes.insert(cur.nodes.end(), b.nodes.begin(), b.nodes.end());
    cur_h = h;
  }
  if (!cur.nodes.empty()) {
    cur.name = "stage" + std::to_string(out->size()) + ":" + g.nodes[cur.nodes.front()].name;
    finish_unit(g, &cur);
    out->push_back(cur);
  }
  return true;
}

std::string describe_units(const Graph& g, const std::vector<ReconUnit>& units) {
  std::ostringstream s;
  for (size_t i = 0; i < units.size(); ++i) {
    const ReconUnit& u = units[i];
    s << i << " " << u.name << ": " << u.nodes.size() << " nodes, " << u.weighted << " weighted";
    if (u.residual) s << ", residual";
    s << " (";
    for (size_t k = 0; k < u.nodes.size(); ++k) s << (k ? " " : "") << g.nodes[u.nodes[k]].op;
    s << ")\n";
  }
  return s.str();
}

namespace {

bool dims_of(const Graph& g, int v, Dims* d, std::string* error) {
  const Value& val = g.values[v];
  if (!val.shape_known) {
    *error = "shape of '" + val.name + "' unknown";
    return false;
  }
  if (val.shape.size() == 4) {
    *d = {static_cast<size_t>(val.shape[2]), static_cast<size_t>(val.shape[3]), static_cast<size_t>(val.shape[1])};
  } else if (val.shape.size() == 2) {
    *d = {1, 1, static_cast<size_t>(val.shape[1])};
  } else {
    *error = "value '" + val.name + "' is neither NCHW nor [N, C]";
    return false;
  }
  return true;
}

std::vector<float> floats_of(const Tensor& t) {
  std::vector<float> out(t.elements());
  for (size_t i = 0; i < out.size(); ++i) out[i] = t.float_at(i);
  return out;
}

bool set_activation(const Node& n, LayerSpec* s, std::string* error) {
  const std::string act = n.get_string("activation", "");
  if (act.empty()) return true;
  if (act == "relu") {
    s->act = ActKind::relu;
  } else if (act == "clip") {
    s->act = ActKind::clip;
    s->act_lo = n.get_float("act_a", 0.0f);
    s->act_hi = n.get_float("act_b", 6.0f);
  } else if (act == "hardswish") {
    s->act = ActKind::hardswish;
  } else {
    *error = "activation '" + act + "' is not supported by reconstruction (" + n.label() + ")";
    return false;
  }
  return true;
}

}  // namespace

bool build_block(const Graph& g, const ReconUnit& unit, Block* block, std::string* error,
                 std::vector<int>* graph_values) {
  std::map<int, int> bv;  // graph value -> block value
  std::map<int, bool> nchw_flat;  // graph value -> flattened from an h x w > 1 NCHW tensor (dims of the source)
  std::map<int, Dims> flat_src;
  std::vector<Dims> in_dims;
  for (int v : unit.inputs) {
    Dims d;
    if (!dims_of(g, v, &d, error)) return false;
    bv[v] = static_cast<int>(in_dims.size());
    in_dims.push_back(d);
  }
  std::vector<LayerSpec> layers;
  const int ni = static_cast<int>(in_dims.size());
  if (graph_values) graph_values->assign(unit.inputs.begin(), unit.inputs.end());
  auto input_of = [&](int v, int* out) {
    auto it = bv.find(v);
    if (it == bv.end()) {
      *error = "value '" + g.values[v].name + "' not available inside the unit";
      return false;
    }
    *out = it->second;
    return true;
  };
  for (int i : unit.nodes) {
    const Node& n = g.nodes[i];
    LayerSpec s;
    s.name = n.name;
    int x = 0;
    if (n.inputs.empty() || !input_of(n.inputs[0], &x)) {
      if (error->empty()) *error = n.label() + " without input";
      return false;
    }
    if (n.op == "Flatten" || n.op == "Reshape") {  // NHWC buffer unchanged; remember for a Gemm
      bv[n.outputs[0]] = x;
      Dims d;
      if (!dims_of(g, n.inputs[0], &d, error)) return false;
      if (d.h * d.w > 1) flat_src[n.outputs[0]] = d;
      continue;
    }
    s.inputs = {x};
    if (n.op == "Conv") {
      const Tensor* w = g.constant_of(n.inputs.size() > 1 ? n.inputs[1] : -1);
      if (!w || w->rank() != 4) {
        *error = n.label() + ": weights are not a constant OIHW tensor";
        return false;
      }
      const auto ws = w->shape();
      const std::vector<int64_t> ks = n.get_ints("kernel_shape", {ws[2], ws[3]});
      const std::vector<int64_t> st = n.get_ints("strides", {1, 1}), dl = n.get_ints("dilations", {1, 1});
      const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
      if (n.get_string("auto_pad", "NOTSET") != "NOTSET" || pads.size() != 4 || ks.size() != 2 || st.size() != 2 ||
          dl.size() != 2) {
        *error = n.label() + ": only explicit 2-D pads are supported by reconstruction";
        return false;
      }
      const int64_t groups = n.get_int("group", 1);
      s.kind = LayerKind::conv;
      s.conv.in_c = static_cast<size_t>(ws[1] * groups);
      s.conv.out_c = static_cast<size_t>(ws[0]);
      s.conv.groups = static_cast<size_t>(groups);
      s.conv.kernel_h = static_cast<size_t>(ks[0]);
      s.conv.kernel_w = static_cast<size_t>(ks[1]);
      s.conv.stride_h = static_cast<size_t>(st[0]);
      s.conv.stride_w = static_cast<size_t>(st[1]);
      s.conv.dilation_h = static_cast<size_t>(dl[0]);
      s.conv.dilation_w = static_cast<size_t>(dl[1]);
      s.conv.pad_top = static_cast<size_t>(pads[0]);
      s.conv.pad_left = static_cast<size_t>(pads[1]);
      s.conv.pad_bottom = static_cast<size_t>(pads[2]);
      s.conv.pad_right = static_cast<size_t>(pads[3]);
      s.weight = floats_of(*w);
      if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
        const Tensor* b = g.constant_of(n.inputs[2]);
        if (!b) {
          *error = n.label() + ": bias is not constant";
          return false;
        }
        s.bias = floats_of(*b);
      }
      if (n.inputs.size() > 3 && n.inputs[3] >= 0) {
        int r = 0;
        if (!input_of(n.inputs[3], &r)) return false;
        s.inputs.push_back(r);
      }
      if (!set_activation(n, &s, error)) return false;
    } else if (n.op == "Gemm") {
      const Tensor* w = g.constant_of(n.inputs.size() > 1 ? n.inputs[1] : -1);
      if (!w || w->rank() != 2 || n.get_int("transA", 0) != 0 || n.get_float("alpha", 1.0f) != 1.0f ||
          n.get_float("beta", 1.0f) != 1.0f) {
        *error = n.label() + ": only Gemm with constant weights, no transA, alpha = beta = 1";
        return false;
      }
      const bool tb = n.get_int("transB", 0) != 0;
      const size_t nout = static_cast<size_t>(tb ? w->shape()[0] : w->shape()[1]);
      const size_t k = static_cast<size_t>(tb ? w->shape()[1] : w->shape()[0]);
      std::vector<float> wf = floats_of(*w);
      s.weight.resize(nout * k);
      for (size_t o = 0; o < nout; ++o) {
        for (size_t j = 0; j < k; ++j) s.weight[o * k + j] = tb ? wf[o * k + j] : wf[j * nout + o];
      }
      auto fs = flat_src.find(n.inputs[0]);
      if (fs != flat_src.end()) {  // column j of NCHW flatten (c, y, x) -> NHWC (y, x, c)
        const Dims d = fs->second;
        std::vector<float> p(s.weight.size());
        for (size_t o = 0; o < nout; ++o)
          for (size_t c = 0; c < d.c; ++c)
            for (size_t y = 0; y < d.h * d.w; ++y) p[o * k + y * d.c + c] = s.weight[o * k + c * d.h * d.w + y];
        s.weight = std::move(p);
        s.flatten_hw = d.h * d.w;
      }
      s.kind = LayerKind::gemm;
      s.gemm_out = nout;
      if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
        const Tensor* b = g.constant_of(n.inputs[2]);
        if (!b || b->elements() != nout) {
          *error = n.label() + ": bias must be a constant of N elements";
          return false;
        }
        s.bias = floats_of(*b);
      }
      if (!set_activation(n, &s, error)) return false;
    } else if (n.op == "Add") {
      int b = 0;
      if (n.inputs.size() != 2 || !input_of(n.inputs[1], &b)) {
        if (error->empty()) *error = n.label() + ": Add of two unit values expected";
        return false;
      }
      s.kind = LayerKind::add;
      s.inputs.push_back(b);
    } else if (n.op == "Relu") {  // a lone ReLU (not fused): an add with zero is not available, use pooling 1x1
      s.kind = LayerKind::max_pool;
      s.pool.kind = PoolKind::max;
      s.act = ActKind::relu;
    } else if (n.op == "GlobalAveragePool") {
      s.kind = LayerKind::global_avg_pool;
    } else if (n.op == "MaxPool" || n.op == "AveragePool") {
      const std::vector<int64_t> ks = n.get_ints("kernel_shape", {});
      const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
      const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
      if (ks.size() != 2 || st.size() != 2 || pads.size() != 4 || n.get_string("auto_pad", "NOTSET") != "NOTSET" ||
          n.get_int("ceil_mode", 0) != 0) {
        *error = n.label() + ": only 2-D pooling with explicit pads and floor mode";
        return false;
      }
      s.kind = n.op == "MaxPool" ? LayerKind::max_pool : LayerKind::avg_pool;
      s.pool.kind = n.op == "MaxPool"                        ? PoolKind::max
                    : n.get_int("count_include_pad", 0) != 0 ? PoolKind::avg_include_pad
                                                             : PoolKind::avg_exclude_pad;
      s.pool.kernel_h = static_cast<size_t>(ks[0]);
      s.pool.kernel_w = static_cast<size_t>(ks[1]);
      s.pool.stride_h = static_cast<size_t>(st[0]);
      s.pool.stride_w = static_cast<size_t>(st[1]);
      s.pool.pad_top = static_cast<size_t>(pads[0]);
      s.pool.pad_left = static_cast<size_t>(pads[1]);
      s.pool.pad_bottom = static_cast<size_t>(pads[2]);
      s.pool.pad_right = static_cast<size_t>(pads[3]);
    } else if (n.op == "Concat") {
      if (n.get_int("axis", 1) != 1) {
        *error = n.label() + ": only channel concatenation";
        return false;
      }
      s.kind = LayerKind::concat;
      s.inputs.clear();
      for (int v : n.inputs) {
        int b = 0;
        if (!input_of(v, &b)) return false;
        s.inputs.push_back(b);
      }
    } else {
      *error = "reconstruction does not support " + n.label();
      return false;
    }
    bv[n.outputs[0]] = ni + static_cast<int>(layers.size());
    if (graph_values) graph_values->push_back(n.outputs[0]);
    layers.push_back(std::move(s));
  }
  if (layers.empty()) {
    *error = "unit '" + unit.name + "' has no layers";
    return false;
  }
  const std::string err = block->init(std::move(layers), std::move(in_dims));
  if (!err.empty()) {
    *error = err;
    return false;
  }
  return true;
}

}  // namespace kiln::calib::recon
