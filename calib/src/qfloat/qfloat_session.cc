// QFloatSession: the simulation graph run by the runtime's Model/Session. Values the caller may ask
// for (keep_values) are made extra outputs of the simulation graph, so the memory planner keeps them
// and the session hands them back in plain layout; u8 values are converted back to codes after run.
#include <map>
#include <set>

#include "kiln/calib/qfloat.h"
#include "sim_ops.h"

namespace kiln::calib {

struct QFloatSession::State {
  Graph sim;
  std::shared_ptr<const Model> model;
  std::unique_ptr<Session> session;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, DType> q_dtype;  // the Q graph's dtype of every readable value (outputs, kept)
  std::map<std::string, std::pair<float, int32_t>> q_params;  // scale and zero point of readable u8 values
  std::set<std::string> input_u8;        // graph inputs that are u8 codes
  std::map<std::string, Tensor> codes;   // u8 values of the last run
  bool ran = false;
};

QFloatSession::QFloatSession() : s_(std::make_unique<State>()) {}
QFloatSession::~QFloatSession() = default;

bool QFloatSession::create(const Graph& q_graph, std::unique_ptr<QFloatSession>* out, std::string* error) {
  return create(q_graph, QFloatOptions{}, out, error);
}

bool QFloatSession::create(const Graph& q_graph, const QFloatOptions& options, std::unique_ptr<QFloatSession>* out,
                           std::string* error) {
  std::unique_ptr<QFloatSession> q(new QFloatSession());
  State& s = *q->s_;
  std::string e;
  if (!make_simulation_graph(q_graph, &s.sim, &e)) {
    *error = "qfloat: " + e;
    return false;
  }
  for (int v : q_graph.inputs) {
    s.inputs.push_back(q_graph.values[v].name);
    if (q_graph.values[v].dtype == DType::u8) s.input_u8.insert(q_graph.values[v].name);
  }
  std::set<int> outs(q_graph.outputs.begin(), q_graph.outputs.end());
  auto readable = [&](int v) {
    const Value& val = q_graph.values[v];
    s.q_dtype[val.name] = val.dtype;
    if (val.dtype == DType::u8 && val.quant.scales.size() == 1) {
      s.q_params[val.name] = {val.quant.scales[0], val.quant.zero_points.empty() ? 0 : val.quant.zero_points[0]};
    }
  };
  for (int v : q_graph.outputs) {
    s.outputs.push_back(q_graph.values[v].name);
    readable(v);
  }
  if (options.keep_values) {
    // Every value some live node writes, and the graph inputs, becomes readable.
    std::set<int> computed(q_graph.inputs.begin(), q_graph.inputs.end());
    for (const Node& n : q_graph.nodes) {
      if (n.dead) continue;
      for (int v : n.outputs) {
        if (v >= 0) computed.insert(v);
      }
    }
    for (int v : computed) {
      if (q_graph.values[v].constant) continue;
      readable(v);
      if (!outs.count(v)) s.sim.outputs.push_back(v);
    }
  }
  ModelOptions mo;
  mo.canonicalize = false;
  s.model = Model::create(s.sim, &e, mo);
  if (!s.model) {
    *error = "qfloat: " + e;
    return false;
  }
  s.session = std::make_unique<Session>(s.model, options.threads);
  *out = std::move(q);
  return true;
}

bool QFloatSession::set_input(const std::string& name, const Tensor& t, std::string* error) {
  State& s = *s_;
  if (s.input_u8.count(name) && t.dtype() == DType::u8) {
    Tensor f(DType::f32, t.shape());
    for (size_t i = 0; i < t.elements(); ++i) f.mutable_data<float>()[i] = static_cast<float>(t.data<uint8_t>()[i]);
    return set_input(name, f, error);
  }
  if (std::string e = s.session->set_input(name, t); !e.empty()) {
    *error = "qfloat: " + e;
    return false;
  }
  return true;
}

bool QFloatSession::run(std::string* error) {
  State& s = *s_;
  s.ran = false;
  s.codes.clear();
  if (std::string e = s.session->run(); !e.empty()) {
    *error = "qfloat: " + e;
    return false;
  }
  for (const auto& [name, dtype] : s.q_dtype) {
    if (dtype != DType::u8) continue;
    const Tensor* f = s.session->output(name);
    if (!f) continue;
    Tensor c(DType::u8, f->shape());
    for (size_t i = 0; i < f->elements(); ++i) c.mutable_data<uint8_t>()[i] = sim::to_code(f->data<float>()[i]);
    s.codes.emplace(name, std::move(c));
  }
  s.ran = true;
  return true;
}

const Tensor* QFloatSession::value(const std::string& name) const {
  const State& s = *s_;
  if (!s.ran) return nullptr;
  auto it = s.q_dtype.find(name);
  if (it == s.q_dtype.end()) return nullptr;
  if (it->second == DType::u8) {
    auto c = s.codes.find(name);
    return c == s.codes.end() ? nullptr : &c->second;
  }
  return s.session->output(name);
}

Tensor QFloatSession::dequantized_value(const std::string& name) const {
  const Tensor* t = value(name);
  if (!t) return Tensor();
  if (t->dtype() != DType::u8) return t->clone();
  auto p = s_->q_params.find(name);
  if (p == s_->q_params.end()) return Tensor();
  Tensor f(DType::f32, t->shape());
  for (size_t i = 0; i < t->elements(); ++i) {
    f.mutable_data<float>()[i] = kernels::q_dequantize(t->data<uint8_t>()[i], p->second.second, p->second.first);
  }
  return f;
}

const Tensor* QFloatSession::output(const std::string& name) const {
  for (const std::string& o : s_->outputs) {
    if (o == name) return value(name);
  }
  return nullptr;
}

std::vector<std::string> QFloatSession::input_names() const { return s_->inputs; }
std::vector<std::string> QFloatSession::output_names() const { return s_->outputs; }
const Graph& QFloatSession::simulation_graph() const { return s_->sim; }

}  // namespace kiln::calib
