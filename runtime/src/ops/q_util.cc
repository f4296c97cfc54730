#include "ops/q_util.h"

#include <cmath>

namespace kiln::ops {

std::string q_params_of(const Graph& g, int v, const char* what, QParams* out) {
  if (v < 0 || v >= static_cast<int>(g.values.size())) return std::string(what) + " is missing";
  const Value& val = g.values[v];
  const QuantParams& q = val.quant;
  if (q.scales.size() != 1) return std::string(what) + " '" + val.name + "' has no per-tensor quantization parameters";
  const int32_t zp = q.zero_points.empty() ? 0 : q.zero_points[0];
  if (q.zero_points.size() > 1) return std::string(what) + " '" + val.name + "' has several zero points";
  if (zp < 0 || zp > 255) return std::string(what) + " '" + val.name + "' has a zero point out of [0, 255]";
  if (!(q.scales[0] > 0.0f) || !std::isfinite(q.scales[0])) {
    return std::string(what) + " '" + val.name + "' has a scale that is not positive and finite";
  }
  if (q.bits < 1 || q.bits > 8) return std::string(what) + " '" + val.name + "' has bits out of [1, 8]";
  out->scale = q.scales[0];
  out->zero_point = zp;
  out->bits = q.bits;
  return "";
}

std::string q_out_of(const Node& n, const QParams& out, kernels::QOut* o) {
  const int64_t top = (int64_t{1} << out.bits) - 1;
  const int64_t lo = n.get_int("qmin", 0), hi = n.get_int("qmax", top);
  if (lo < 0 || hi > 255 || lo > hi) return "qmin/qmax must satisfy 0 <= qmin <= qmax <= 255";
  o->zero_point = out.zero_point;
  o->qmin = static_cast<int32_t>(lo);
  o->qmax = static_cast<int32_t>(hi);
  return "";
}

std::string q_isa(kernels::Isa* isa) {
  const kernels::IsaChoice c = kernels::choose_isa();
  if (!c.ok) return c.error;
  *isa = c.isa;
  return "";
}

std::string q_state(const Node& n, const Graph& g, const std::vector<int>& quantized_inputs, bool quantized_output,
                    std::shared_ptr<QState>* out) {
  auto s = std::make_shared<QState>();
  if (std::string e = q_isa(&s->isa); !e.empty()) return e;
  s->in.resize(n.inputs.size());
  for (int i : quantized_inputs) {
    if (i >= static_cast<int>(n.inputs.size()) || n.inputs[i] < 0) continue;
    const std::string what = "input " + std::to_string(i);
    if (std::string e = q_params_of(g, n.inputs[i], what.c_str(), &s->in[i]); !e.empty()) return e;
  }
  if (quantized_output) {
    if (n.outputs.empty()) return "no output";
    if (std::string e = q_params_of(g, n.outputs[0], "output", &s->out); !e.empty()) return e;
    if (std::string e = q_out_of(n, s->out, &s->qout); !e.empty()) return e;
  }
  *out = std::move(s);
  return "";
}

std::string need_type(const InferContext& c, size_t i, DType t, const char* what) {
  if (i >= c.inputs() || !c.present(i)) return std::string(what) + " is required";
  if (c.in_types[i] != t) {
    return std::string(what) + " must be " + dtype_name(t) + ", not " + dtype_name(c.in_types[i]);
  }
  return "";
}

}  // namespace kiln::ops
