#include "kiln/calib/recon/units.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "kiln/calib/plan.h"
#include "kiln/runtime/shape_inference.h"
#include "layer_spec.h"

namespace kiln::calib::recon {
namespace {

bool is_weighted(const Node& n) { return n.op == "Conv" || n.op == "Gemm"; }

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

// Fills inputs, outputs, counts and the name of a unit from its nodes. Kept units re-run the
// producers of values that are not per-sample (shape arithmetic) instead of reading them.
void finish_unit(const Graph& g, const UnitContext& ctx, const std::vector<std::vector<int>>& readers,
                 ReconUnit* u) {
  std::sort(u->nodes.begin(), u->nodes.end());
  u->nodes.erase(std::unique(u->nodes.begin(), u->nodes.end()), u->nodes.end());
  std::set<int> members(u->nodes.begin(), u->nodes.end());
  u->recompute.clear();
  if (!u->trained) {  // pull in the producers of non-per-sample inputs, transitively
    std::vector<int> stack(u->nodes.begin(), u->nodes.end());
    while (!stack.empty()) {
      const Node& n = g.nodes[stack.back()];
      stack.pop_back();
      for (int v : n.inputs) {
        if (v < 0 || g.values[v].constant || ctx.batched[v]) continue;
        const int p = g.values[v].producer;
        if (p >= 0 && members.insert(p).second) {
          u->recompute.push_back(p);
          stack.push_back(p);
        }
      }
    }
    std::sort(u->recompute.begin(), u->recompute.end());
  }
  std::set<int> produced;
  for (int i : members) {
    for (int o : g.nodes[i].outputs) produced.insert(o);
  }
  u->inputs.clear();
  u->outputs.clear();
  u->weighted = 0;
  u->residual = false;
  std::vector<int> all(members.begin(), members.end());
  for (int i : all) {
    const Node& n = g.nodes[i];
    for (int v : n.inputs) {
      if (v < 0 || g.values[v].constant || produced.count(v)) continue;
      if (std::find(u->inputs.begin(), u->inputs.end(), v) == u->inputs.end()) u->inputs.push_back(v);
    }
  }
  const std::set<int> outs(g.outputs.begin(), g.outputs.end());
  for (int i : u->nodes) {
    const Node& n = g.nodes[i];
    if (is_weighted(n)) ++u->weighted;
    if (n.op == "Conv" && n.inputs.size() > 3 && n.inputs[3] >= 0) u->residual = true;
    for (int o : n.outputs) {
      if (o < 0 || !ctx.batched[o]) continue;
      bool escapes = outs.count(o) != 0;
      for (int r : readers[o]) escapes = escapes || !std::binary_search(u->nodes.begin(), u->nodes.end(), r);
      if (escapes) u->outputs.push_back(o);
    }
  }
  if (u->trained) {
    u->output = u->nodes.empty() ? -1 : g.nodes[u->nodes.back()].outputs[0];
  } else {
    u->output = u->outputs.empty() ? -1 : u->outputs.back();
  }
  if (u->name.empty()) {
    for (int i : u->nodes) {
      if (is_weighted(g.nodes[i]) || !u->trained) {
        u->name = g.nodes[i].name;
        break;
      }
    }
    if (u->name.empty() && !u->nodes.empty()) u->name = g.nodes[u->nodes.front()].name;
  }
}

// Spatial height of a per-sample value (1 for [K] samples), 0 when unknown.
int64_t height_of(const UnitContext& ctx, int v) {
  if (v < 0 || !ctx.batched[v]) return 0;
  const Shape& s = ctx.sample_shape[v];
  if (s.size() == 3) return s[1];
  return s.size() == 1 ? 1 : 0;
}

// Collects nodes into units while walking the graph: trained units as the granularity's rule
// says, every run of nodes that cannot be trained as one kept unit.
struct UnitWriter {
  const Graph& g;
  const UnitContext& ctx;
  const std::vector<std::vector<int>>& readers;
  std::vector<ReconUnit>* out;
  ReconUnit kept;

  void push(ReconUnit u) {
    finish_unit(g, ctx, readers, &u);
    if (!u.nodes.empty()) out->push_back(std::move(u));
  }
  void keep(int node, const std::string& why) {
    if (kept.nodes.empty()) {
      kept.trained = false;
      kept.reason = g.nodes[node].label() + ": " + why;
    }
    kept.nodes.push_back(node);
  }
  void flush_kept() {
    if (kept.nodes.empty()) return;
    push(std::move(kept));
    kept = ReconUnit{};
  }
  // Routes node i: one that cannot be trained closes the open trained unit (`flush`) and joins the
  // kept run; a trainable one closes the kept run. True when the caller goes on with the node.
  template <class Flush>
  bool route(int i, bool ok, const std::string& why, Flush&& flush) {
    if (!ok) {
      flush();
      keep(i, why);
      return false;
    }
    flush_kept();
    return true;
  }
};

void layer_units(const Graph& g, const std::vector<char>& ok, const std::vector<std::string>& why, UnitWriter& w) {
  // One weighted layer per unit. An unweighted node (pool, add, concat) joins the unit before it,
  // so that the unit's output is what the next layers read; a Flatten / Reshape joins the layer
  // after it (a Gemm needs to see the flatten to read NHWC data in the graph's NCHW order).
  std::vector<int> reshapes, leading;  // leading: unweighted nodes before the unit's first weighted one
  ReconUnit cur;
  auto flush = [&] {
    std::vector<int>& into = cur.nodes.empty() ? leading : cur.nodes;
    into.insert(into.end(), reshapes.begin(), reshapes.end());
    reshapes.clear();
    if (cur.nodes.empty()) std::swap(cur.nodes, leading);
    if (!cur.nodes.empty()) w.push(std::move(cur));
    cur = ReconUnit{};
  };
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const Node& n = g.nodes[i];
    if (n.dead || !w.route(i, ok[i], why[i], flush)) continue;
    if (is_weighted(n)) {
      if (!cur.nodes.empty()) w.push(std::move(cur));
      cur = ReconUnit{};
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
  flush();
  w.flush_kept();
}

// Squeeze-excitation branches: GlobalAveragePool(x) -> a single-reader chain (1x1 convs, gates,
// reshapes) -> Mul(x, gate). Their nodes: a block keeps them with the x they gate, and their
// weighted layers do not count toward a block's three.
std::vector<char> se_branch_nodes(const Graph& g, const std::vector<std::vector<int>>& readers) {
  std::vector<char> se(g.nodes.size(), 0);
  for (size_t p = 0; p < g.nodes.size(); ++p) {
    const Node& n = g.nodes[p];
    if (n.dead || n.op != "GlobalAveragePool" || n.inputs.empty() || n.outputs.size() != 1) continue;
    const int x = n.inputs[0];
    std::vector<int> chain{static_cast<int>(p)};
    for (int v = n.outputs[0]; readers[v].size() == 1;) {
      const int r = readers[v][0];
      const Node& rn = g.nodes[r];
      if (rn.op == "Mul") {
        const bool joins = rn.inputs.size() == 2 && ((rn.inputs[0] == x && rn.inputs[1] == v) ||
                                                     (rn.inputs[1] == x && rn.inputs[0] == v));
        if (joins && chain.size() > 1) {
          for (int c : chain) se[c] = 1;
        }
        break;
      }
      if (rn.dead || rn.outputs.size() != 1) break;
      chain.push_back(r);
      v = rn.outputs[0];
    }
  }
  return se;
}

void block_units(const Graph& g, const std::vector<char>& ok, const std::vector<std::string>& why, UnitWriter& w) {
  const int nn = static_cast<int>(g.nodes.size());
  const std::vector<char> se = se_branch_nodes(g, w.readers);
  std::vector<int> unit_of(nn, -1);
  std::vector<std::vector<int>> residual_units;
  for (int j = 0; j < nn; ++j) {
    const Node& n = g.nodes[j];
    if (n.dead || !ok[j] || n.op != "Conv" || n.inputs.size() < 4 || n.inputs[3] < 0) continue;
    std::vector<int> nodes = residual_unit_nodes(g, j);
    if (std::any_of(nodes.begin(), nodes.end(), [&](int i) { return !ok[i]; })) continue;  // walked node by node
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
    size_t wn = 0;
    for (int i : current.nodes) wn += is_weighted(g.nodes[i]) ? 1 : 0;
    if (wn == 0 && !w.out->empty()) {  // only unweighted nodes: they belong to the previous unit
      ReconUnit& prev = w.out->back();
      prev.nodes.insert(prev.nodes.end(), current.nodes.begin(), current.nodes.end());
      finish_unit(g, w.ctx, w.readers, &prev);
    } else {
      w.push(std::move(current));
    }
    current = ReconUnit{};
  };
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    if (n.dead || !w.route(i, ok[i], why[i], flush)) continue;
    if (unit_of[i] >= 0) {
      if (emitted[unit_of[i]]) continue;
      flush();
      emitted[unit_of[i]] = true;
      ReconUnit u;
      for (int k : residual_units[unit_of[i]]) {
        if (unit_of[k] == unit_of[i]) u.nodes.push_back(k);
      }
      w.push(std::move(u));
      continue;
    }
    if (is_weighted(n) && !se[i]) {
      size_t wn = 0;
      for (int k : current.nodes) wn += is_weighted(g.nodes[k]) && !se[k] ? 1 : 0;
      if (wn == 3) flush();
      current.nodes.insert(current.nodes.end(), pending.begin(), pending.end());
      pending.clear();
      current.nodes.push_back(i);
    } else {
      pending.push_back(i);
    }
  }
  flush();
  w.flush_kept();
}

// Splits trained units so that each hands only its last node's value to the rest of the graph, and
// turns trained units without a weighted layer (left by splits or a kept run) into kept ones.
void split_escaping(const Graph& g, const UnitContext& ctx, const std::vector<std::vector<int>>& readers,
                    std::vector<ReconUnit>* units) {
  std::vector<ReconUnit> done;
  std::vector<ReconUnit> todo(units->rbegin(), units->rend());  // a stack in order
  while (!todo.empty()) {
    ReconUnit u = std::move(todo.back());
    todo.pop_back();
    if (!u.trained) {
      done.push_back(std::move(u));
      continue;
    }
    size_t cut = u.nodes.size();
    for (size_t k = 0; k + 1 < u.nodes.size() && cut == u.nodes.size(); ++k) {
      for (int o : g.nodes[u.nodes[k]].outputs) {
        if (std::find(u.outputs.begin(), u.outputs.end(), o) != u.outputs.end()) cut = k + 1;
      }
    }
    if (cut == u.nodes.size()) {
      if (u.weighted == 0) {
        // Unweighted ops (a pooling and flatten after a head) join the trained unit whose output is
        // all they read, when nothing else reads it; otherwise they are kept.
        ReconUnit* into = nullptr;
        if (u.inputs.size() == 1) {
          for (auto it = done.rbegin(); it != done.rend() && !into; ++it) {
            if (!it->trained || it->output != u.inputs[0]) continue;
            const bool only_here =
                std::find(g.outputs.begin(), g.outputs.end(), it->output) == g.outputs.end() &&
                std::all_of(readers[it->output].begin(), readers[it->output].end(), [&](int r) {
                  return std::find(u.nodes.begin(), u.nodes.end(), r) != u.nodes.end();
                });
            if (only_here) into = &*it;
          }
        }
        if (into) {
          into->nodes.insert(into->nodes.end(), u.nodes.begin(), u.nodes.end());
          finish_unit(g, ctx, readers, into);
          continue;
        }
        u.trained = false;
        u.reason = "no weighted layer between the ops around it";
        finish_unit(g, ctx, readers, &u);
      }
      done.push_back(std::move(u));
      continue;
    }
    ReconUnit a, b;
    a.nodes.assign(u.nodes.begin(), u.nodes.begin() + static_cast<std::ptrdiff_t>(cut));
    b.nodes.assign(u.nodes.begin() + static_cast<std::ptrdiff_t>(cut), u.nodes.end());
    finish_unit(g, ctx, readers, &a);
    finish_unit(g, ctx, readers, &b);
    todo.push_back(std::move(b));
    todo.push_back(std::move(a));
  }
  // Adjacent kept units become one (fewer float sub-models to run).
  units->clear();
  for (ReconUnit& u : done) {
    if (!u.trained && !units->empty() && !units->back().trained) {
      ReconUnit& prev = units->back();
      prev.nodes.insert(prev.nodes.end(), u.nodes.begin(), u.nodes.end());
      finish_unit(g, ctx, readers, &prev);
      continue;
    }
    units->push_back(std::move(u));
  }
}

// Orders units so that each reads only values of earlier units (stable); false on a cycle.
bool order_units(const Graph& g, std::vector<ReconUnit>* units, std::string* error) {
  std::map<int, size_t> producer_unit;
  for (size_t k = 0; k < units->size(); ++k) {
    for (int i : (*units)[k].nodes) {
      for (int o : g.nodes[i].outputs) producer_unit[o] = k;
    }
  }
  std::vector<ReconUnit> sorted;
  std::vector<bool> placed(units->size(), false);
  std::set<int> available(g.inputs.begin(), g.inputs.end());
  while (sorted.size() < units->size()) {
    bool progress = false;
    for (size_t k = 0; k < units->size(); ++k) {
      if (placed[k]) continue;
      const ReconUnit& u = (*units)[k];
      const bool ready = std::all_of(u.inputs.begin(), u.inputs.end(), [&](int v) {
        return available.count(v) || !producer_unit.count(v);
      });
      if (!ready) continue;
      placed[k] = true;
      progress = true;
      for (int i : u.nodes) {
        for (int o : g.nodes[i].outputs) available.insert(o);
      }
      sorted.push_back(u);
      break;  // restart from the first unplaced unit: keeps the order stable
    }
    if (!progress) {
      *error = "reconstruction units depend on each other in a cycle";
      return false;
    }
  }
  *units = std::move(sorted);
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

bool annotate_batched_values(const Graph& g, UnitContext* ctx, std::string* error) {
  // Shapes at a concrete batch the model cannot have by accident (7 when the batch is symbolic):
  // values whose first dimension is that batch, computed from the input, hold one slice per sample.
  std::vector<Shape> in_shapes;
  int64_t batch = 0;
  for (int v : g.inputs) {
    Shape s = g.values[v].shape;
    if (!g.values[v].shape_known || s.empty()) {
      *error = "reconstruction needs the input '" + g.values[v].name + "' to have a known shape";
      return false;
    }
    if (s[0] == kSymbolicDim) s[0] = 7;
    if (batch == 0) batch = s[0];
    for (int64_t& d : s) {
      if (d == kSymbolicDim) {
        *error = "reconstruction needs the input '" + g.values[v].name + "' to have known sizes after the batch";
        return false;
      }
    }
    in_shapes.push_back(s);
  }
  ShapeState st;
  if (std::string e = propagate_shapes(g, in_shapes, &st); !e.empty()) {
    *error = "reconstruction: shape inference: " + e;
    return false;
  }
  ctx->batched.assign(g.values.size(), 0);
  ctx->sample_shape.assign(g.values.size(), {});
  ctx->rows.assign(g.values.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (!st.has[v] || g.values[v].constant || st.known[v] || st.types[v] != kiln::DType::f32) continue;
    const Shape& s = st.shapes[v];
    if (s.empty() || s[0] != batch) continue;
    ctx->batched[v] = 1;
    ctx->sample_shape[v].assign(s.begin() + 1, s.end());
  }
  // Row views: a Reshape of per-sample [..., d] tensors to [batch * T, d], and the Gemm over them.
  for (const Node& n : g.nodes) {
    if (n.dead || n.inputs.empty() || n.inputs[0] < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
    const int x = n.inputs[0], y = n.outputs[0];
    if (!st.has[y] || ctx->batched[y] || st.types[y] != kiln::DType::f32 || st.shapes[y].size() != 2) continue;
    const int64_t r = st.shapes[y][0], d = st.shapes[y][1];
    if (r <= 0 || r % batch != 0) continue;
    const int64_t t = r / batch;
    if ((n.op == "Reshape" || n.op == "Flatten") && ctx->batched[x] && ctx->sample_shape[x].size() >= 2 &&
        ctx->sample_shape[x].back() == d) {
      int64_t e = 1;
      for (int64_t k : ctx->sample_shape[x]) e *= k;
      if (e == t * d) {
        ctx->rows[y] = t;
        ctx->sample_shape[y] = {t, d};
      }
    } else if (n.op == "Gemm" && ctx->rows[x] == t) {
      ctx->rows[y] = t;
      ctx->sample_shape[y] = {t, d};
    }
  }
  return true;
}

namespace {

// A block's dims of a per-sample value: images NHWC, [T, d] as 1 x T pixels of d channels.
Dims block_dims(const UnitContext& ctx, int v) {
  const Shape& s = ctx.sample_shape[v];
  if (s.size() == 3) return {static_cast<size_t>(s[1]), static_cast<size_t>(s[2]), static_cast<size_t>(s[0])};
  if (s.size() == 2) return {1, static_cast<size_t>(s[0]), static_cast<size_t>(s[1])};
  return {1, 1, s.empty() ? 1 : static_cast<size_t>(s[0])};
}

}  // namespace

bool node_trainable(const Graph& g, int node, const UnitContext& ctx, std::string* why) {
  const Node& n = g.nodes[node];
  static const std::set<std::string> ops{"Conv",      "Gemm",        "Add",     "Mul",      "MaxPool",
                                         "AveragePool", "GlobalAveragePool", "Concat", "Flatten", "Reshape",
                                         "Relu",      "Sigmoid",     "kiln.Silu", "HardSigmoid", "HardSwish",
                                         "Tanh",      "LeakyRelu",   "Clip",      "Gelu"};
  if (ctx.keep.count(n.name)) {
    *why = "kept float by the plan";
    return false;
  }
  if (!ops.count(n.op)) {
    *why = "no block layer for " + n.op;
    return false;
  }
  // Values a block holds: per-sample images [C, H, W], vectors [K], matrices [T, d], and row views.
  auto block_value = [&](int v) {
    const size_t r = ctx.sample_shape[v].size();
    return (ctx.batched[v] && r >= 1 && r <= 3) || ctx.rows[v] > 0;
  };
  auto image = [&](int v) { return ctx.batched[v] && ctx.sample_shape[v].size() == 3; };
  if (n.inputs.empty() || n.inputs[0] < 0) {
    *why = "no data input";
    return false;
  }
  if (n.outputs.size() != 1 || n.outputs[0] < 0 || !block_value(n.outputs[0])) {
    *why = "its output is not a per-sample [C, H, W], [T, d] or [K] tensor";
    return false;
  }
  // Which inputs carry data (the rest must be constants: weights, bias, shape).
  size_t data_inputs = 1;
  if (n.op == "Add" || n.op == "Mul" || n.op == "Concat") data_inputs = n.inputs.size();
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const int v = n.inputs[k];
    if (v < 0) continue;
    const bool data = k < data_inputs || (n.op == "Conv" && k == 3);
    if (data && (g.values[v].constant || !block_value(v))) {
      *why = "input '" + g.values[v].name + "' is not a per-sample [C, H, W], [T, d] or [K] tensor";
      return false;
    }
    if (!data && !g.values[v].constant) {
      *why = "input '" + g.values[v].name + "' is not a constant";
      return false;
    }
  }
  const int x = n.inputs[0], y = n.outputs[0];
  const Shape& out = ctx.sample_shape[y];
  if (n.op == "Flatten" || n.op == "Reshape") {  // aliases: each sample's elements stay in order
    const bool flatten = ctx.batched[y] && out.size() == 1 && ctx.batched[x];
    const bool to_rows = ctx.rows[y] > 0;
    const bool from_rows = ctx.rows[x] > 0 && ctx.batched[y] && out.size() >= 2 && out == ctx.sample_shape[x];
    if (!flatten && !to_rows && !from_rows) {
      *why = "only a flatten to [N, K] or a GEMM's row view is an alias a block can follow";
      return false;
    }
    return true;
  }
  const bool spatial = n.op == "Conv" || n.op == "MaxPool" || n.op == "AveragePool" ||
                       n.op == "GlobalAveragePool" || n.op == "Concat";
  if (spatial && !image(x)) {
    *why = "input '" + g.values[x].name + "' is not a per-sample [C, H, W] image";
    return false;
  }
  if (n.op == "Gemm" && !(ctx.batched[x] && ctx.sample_shape[x].size() == 1) && ctx.rows[x] == 0) {
    *why = "a Gemm over neither [K] samples nor a row view";
    return false;
  }
  if (n.op == "Gelu" && n.get_string("approximate", "none") != "none") {
    *why = "only the erf form of Gelu";
    return false;
  }
  if (n.op == "Add") {
    if (n.inputs.size() != 2 || ctx.sample_shape[n.inputs[0]] != out || ctx.sample_shape[n.inputs[1]] != out) {
      *why = "only an Add of two tensors of the same shape";
      return false;
    }
    return true;
  }
  if (n.op == "Mul") {  // same shapes, or a [C, 1, 1] gate on a [C, H, W] image (either order)
    if (n.inputs.size() != 2) {
      *why = "only a Mul of two tensors";
      return false;
    }
    const Shape& a = ctx.sample_shape[n.inputs[0]];
    const Shape& b = ctx.sample_shape[n.inputs[1]];
    auto gate_of = [&](const Shape& img, const Shape& gte) {
      return img.size() == 3 && gte.size() == 3 && gte[0] == img[0] && gte[1] == 1 && gte[2] == 1;
    };
    if (!(a == out && b == out) && !(a == out && gate_of(a, b)) && !(b == out && gate_of(b, a))) {
      *why = "only a Mul of same-shaped tensors or a per-channel gate";
      return false;
    }
    return true;
  }
  if (n.op == "Concat") {
    const Shape& a = ctx.sample_shape[n.inputs[0]];
    for (int v : n.inputs) {
      const Shape& b = ctx.sample_shape[v];
      if (a.size() != 3 || b.size() != 3 || b[1] != a[1] || b[2] != a[2]) {
        *why = "only a channel concatenation of images";
        return false;
      }
    }
  }
  LayerSpec s;
  return layer_spec_of(g, n, &s, why);
}

bool list_units(const Graph& g, Granularity granularity, std::vector<ReconUnit>* out, std::string* error,
                UnitContext* context) {
  out->clear();
  UnitContext local;
  UnitContext& ctx = context ? *context : local;
  if (ctx.batched.size() != g.values.size() && !annotate_batched_values(g, &ctx, error)) return false;
  std::vector<std::vector<int>> readers(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].dead) continue;
    for (int v : g.nodes[i].inputs) {
      if (v >= 0) readers[v].push_back(static_cast<int>(i));
    }
  }
  std::vector<char> ok(g.nodes.size(), 0);
  std::vector<std::string> why(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!g.nodes[i].dead) ok[i] = node_trainable(g, static_cast<int>(i), ctx, &why[i]);
  }
  // A row view never leaves a trained unit (units hand on per-sample values): a node producing one
  // is trained only if everything reading it is (to a fixpoint).
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!ok[i] || n.outputs.size() != 1 || n.outputs[0] < 0 || ctx.rows[n.outputs[0]] == 0) continue;
      for (int r : readers[n.outputs[0]]) {
        if (ok[r]) continue;
        ok[i] = 0;
        why[i] = "its row view is read by " + g.nodes[r].label() + ", which a block cannot learn";
        changed = true;
        break;
      }
    }
  }
  UnitWriter w{g, ctx, readers, out, {}};
  if (granularity == Granularity::layer) {
    layer_units(g, ok, why, w);
  } else {
    std::vector<ReconUnit> blocks;
    UnitWriter bw{g, ctx, readers, &blocks, {}};
    block_units(g, ok, why, bw);
    if (granularity == Granularity::block) {
      *out = std::move(blocks);
    } else {
      // stage: consecutive trained blocks while the output resolution stays the same; net: all
      // consecutive trained blocks. Kept units stay apart.
      ReconUnit cur;
      int64_t cur_h = -1;
      size_t merged = 0;
      auto close = [&] {
        if (cur.nodes.empty()) return;
        const std::string first = g.nodes[cur.nodes.front()].name;
        cur.name = granularity == Granularity::stage ? "stage" + std::to_string(out->size()) + ":" + first
                                                     : "net" + std::to_string(merged++) + ":" + first;
        w.push(std::move(cur));
        cur = ReconUnit{};
      };
      for (ReconUnit& b : blocks) {
        if (!b.trained) {
          close();
          out->push_back(std::move(b));
          continue;
        }
        const int64_t h = height_of(ctx, b.output);
        if (granularity == Granularity::stage && !cur.nodes.empty() && (h != cur_h || h == 0)) close();
        cur.nodes.insert(cur.nodes.end(), b.nodes.begin(), b.nodes.end());
        cur_h = h;
      }
      close();
      if (granularity == Granularity::net && merged == 1) {
        for (ReconUnit& u : *out) {
          if (u.trained) u.name = "net";
        }
      }
    }
  }
  split_escaping(g, ctx, readers, out);
  return order_units(g, out, error);
}

int code_source(const Graph& g, int v, const std::set<std::string>* moving) {
  for (int guard = 0; v >= 0 && guard < 1000; ++guard) {
    const int p = g.values[v].producer;
    if (p < 0 || g.nodes[p].inputs.empty()) break;
    if (moving ? !moving->count(g.nodes[p].name) : !moves_codes(g.nodes[p].op)) break;
    v = g.nodes[p].inputs[0];
  }
  return v;
}

std::string describe_units(const Graph& g, const std::vector<ReconUnit>& units) {
  std::ostringstream s;
  for (size_t i = 0; i < units.size(); ++i) {
    const ReconUnit& u = units[i];
    s << i << " " << u.name << ": " << u.nodes.size() << " nodes, " << u.weighted << " weighted";
    if (u.residual) s << ", residual";
    if (!u.trained) s << ", kept (" << u.reason << ")";
    s << " (";
    for (size_t k = 0; k < u.nodes.size(); ++k) s << (k ? " " : "") << g.nodes[u.nodes[k]].op;
    s << ")\n";
  }
  return s.str();
}

namespace {

bool graph_dims(const Graph& g, int v, Dims* d, std::string* error) {
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

}  // namespace

bool build_block(const Graph& g, const ReconUnit& unit, Block* block, std::string* error,
                 std::vector<int>* graph_values, const UnitContext* ctx) {
  auto dims_of = [&](const Graph& gr, int v, Dims* d, std::string* err) {
    if (ctx && (ctx->batched[v] || ctx->rows[v] > 0)) {
      *d = block_dims(*ctx, v);
      return true;
    }
    return graph_dims(gr, v, d, err);
  };
  if (!unit.trained) {
    *error = "unit '" + unit.name + "' is kept, not a block";
    return false;
  }
  std::map<int, int> bv;  // graph value -> block value
  std::map<int, Dims> flat_src;  // graph value -> dims of the h x w > 1 NCHW tensor it flattens
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
    int x = 0;
    if (n.inputs.empty() || !input_of(n.inputs[0], &x)) {
      if (error->empty()) *error = n.label() + " without input";
      return false;
    }
    if (n.op == "Flatten" || n.op == "Reshape") {  // NHWC buffer unchanged; remember for a Gemm
      bv[n.outputs[0]] = x;
      Dims d;
      if (!dims_of(g, n.inputs[0], &d, error)) return false;
      const bool rows = ctx && (ctx->rows[n.inputs[0]] > 0 || ctx->rows[n.outputs[0]] > 0);
      auto src = flat_src.find(n.inputs[0]);  // a flatten of a flatten keeps the first's order
      if (src != flat_src.end()) flat_src[n.outputs[0]] = src->second;
      else if (d.h * d.w > 1 && !rows) flat_src[n.outputs[0]] = d;
      continue;
    }
    LayerSpec s;
    if (!layer_spec_of(g, n, &s, error)) return false;
    s.inputs = {x};
    if (n.op == "Conv" && n.inputs.size() > 3 && n.inputs[3] >= 0) {
      int r = 0;
      if (!input_of(n.inputs[3], &r)) return false;
      s.inputs.push_back(r);
    } else if (n.op == "Add") {
      int b = 0;
      if (n.inputs.size() != 2 || !input_of(n.inputs[1], &b)) {
        if (error->empty()) *error = n.label() + ": Add of two unit values expected";
        return false;
      }
      s.inputs.push_back(b);
    } else if (n.op == "Mul") {
      int b = 0;
      if (n.inputs.size() != 2 || !input_of(n.inputs[1], &b)) {
        if (error->empty()) *error = n.label() + ": Mul of two unit values expected";
        return false;
      }
      Dims da, db;
      if (!dims_of(g, n.inputs[0], &da, error) || !dims_of(g, n.inputs[1], &db, error)) return false;
      if (da.h * da.w == 1 && db.h * db.w > 1) std::swap(x, b);  // the gate goes second
      s.inputs = {x, b};
    } else if (n.op == "Concat") {
      s.inputs.clear();
      for (int v : n.inputs) {
        int b = 0;
        if (!input_of(v, &b)) return false;
        s.inputs.push_back(b);
      }
    } else if (n.op == "Gemm") {
      if (ctx && ctx->rows[n.inputs[0]] > 0) {  // a GEMM over rows: a 1x1 convolution of [1, T, K] samples
        const size_t k = s.weight.size() / s.gemm_out;
        s.kind = LayerKind::conv;
        s.conv = ConvGeometry{};
        s.conv.in_c = k;
        s.conv.out_c = s.gemm_out;
      } else {
        auto fs = flat_src.find(n.inputs[0]);
        if (fs != flat_src.end()) permute_flatten_columns(fs->second, &s);
      }
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
