// Q graph -> simulation graph: u8 values become f32 values holding codes; every kiln.Q* node (and
// kiln.Quantize / Dequantize / Requantize) becomes kiln.Sim* nodes that carry, as attributes, the
// zero points and clamps the integer op reads from its values' QuantParams. Pass-through ops and
// float islands stay as they are (they run on the float codes unchanged).
#include <mutex>

#include "kiln/calib/qfloat.h"
#include "sim_ops.h"

namespace kiln::calib {

void register_simulation_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<OpDef> ops;
    sim::add_elementwise_sim_ops(ops);
    sim::add_linear_sim_ops(ops);
    sim::add_pool_sim_ops(ops);
    for (const OpDef& op : ops) {
      std::string e;
      register_op(op, &e);  // fails only on a name clash with a different op: find_op reports it later
    }
  });
}

namespace {

// The per-tensor parameters of a quantized activation.
struct Act {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int bits = 8;
};

class Rewriter {
 public:
  Rewriter(const Graph& q, Graph* sim) : q_(q), g_(*sim) { g_ = q; }

  bool run(std::string* error) {
    const size_t nq = q_.values.size();
    for (size_t v = 0; v < nq; ++v) {
      if (g_.values[v].dtype == DType::u8 && !g_.values[v].constant) g_.values[v].dtype = DType::f32;
    }
    std::vector<Node> old = std::move(g_.nodes);
    g_.nodes.clear();
    for (Node& n : old) {
      if (n.dead) continue;
      if (std::string e = rewrite(std::move(n)); !e.empty()) {
        *error = e;
        return false;
      }
    }
    return true;
  }

 private:
  bool is_u8_activation(int v) const { return v >= 0 && q_.values[v].dtype == DType::u8 && !q_.values[v].constant; }

  std::string act(int v, const Node& n, Act* a) const {
    if (v < 0 || static_cast<size_t>(v) >= q_.values.size()) return "missing value (" + n.label() + ")";
    const Value& val = q_.values[v];
    const QuantParams& qp = val.quant;
    if (val.dtype != DType::u8) return "value '" + val.name + "' is not a u8 activation (" + n.label() + ")";
    if (qp.scales.size() != 1 || !(qp.scales[0] > 0.0f)) {
      return "value '" + val.name + "' has no per-tensor scale (" + n.label() + ")";
    }
    a->scale = qp.scales[0];
    a->zero_point = qp.zero_points.empty() ? 0 : qp.zero_points[0];
    a->bits = qp.bits;
    if (a->zero_point < 0 || a->zero_point > 255 || a->bits < 1 || a->bits > 8) {
      return "value '" + val.name + "' has a bad zero point or bit width (" + n.label() + ")";
    }
    return "";
  }

  // qmin/qmax of the node, defaulting to the output's full code range.
  static void clamp_attrs(const Node& q, const Act& out, Node* s) {
    s->attrs["zero_point"] = Attr::of_int(out.zero_point);
    s->attrs["qmin"] = Attr::of_int(q.get_int("qmin", 0));
    s->attrs["qmax"] = Attr::of_int(q.get_int("qmax", (1 << out.bits) - 1));
  }

  // An f32 copy of a u8 constant (codes), for ops that read it as data.
  int f32_constant(int v) {
    const Tensor& t = *q_.values[v].constant;
    Tensor f(DType::f32, t.shape());
    for (size_t i = 0; i < t.elements(); ++i) f.mutable_data<float>()[i] = static_cast<float>(t.data<uint8_t>()[i]);
    return g_.add_constant(g_.unique_name(q_.values[v].name + "__codes"), std::move(f));
  }

  int new_value(int like, const std::string& suffix) {
    Value v;
    v.name = g_.unique_name(q_.values[like].name + suffix);
    v.dtype = DType::f32;
    v.quant = q_.values[like].quant;
    return g_.add_value(std::move(v));
  }

  void emit(Node n) { g_.nodes.push_back(std::move(n)); }

  std::string rewrite(Node n) {
    const std::string& op = n.op;
    const int in0 = n.inputs.empty() ? -1 : n.inputs[0];
    const int out0 = n.outputs.empty() ? -1 : n.outputs[0];
    if (op.rfind("kiln.Q", 0) == 0 || op == "kiln.Quantize" || op == "kiln.Dequantize" || op == "kiln.Requantize") {
      if (in0 < 0 || out0 < 0) return "missing input or output (" + n.label() + ")";
    }
    Act x, y;
    Node s;
    s.name = n.name;
    s.inputs = n.inputs;
    s.outputs = n.outputs;
    auto need = [&](int v, Act* a) { return act(v, n, a); };
    if (op == "kiln.Quantize") {
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = "kiln.SimQuantize";
      s.attrs["scale"] = Attr::of_float(y.scale);
      clamp_attrs(n, y, &s);
    } else if (op == "kiln.Dequantize") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      s.op = "kiln.SimDequantize";
      s.attrs["scale"] = Attr::of_float(x.scale);
      s.attrs["zero_point"] = Attr::of_int(x.zero_point);
    } else if (op == "kiln.Requantize") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = "kiln.SimRequantize";
      s.attrs["in_zero_point"] = Attr::of_int(x.zero_point);
      s.attrs["multiplier"] = Attr::of_float(n.get_float("multiplier", x.scale / y.scale));
      clamp_attrs(n, y, &s);
    } else if (op == "kiln.QConv" || op == "kiln.QGemm") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = op == "kiln.QConv" ? "kiln.SimConv" : "kiln.SimGemm";
      for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "group", "wbits", "activation",
                            "hardswish_multiplier", "residual_multiplier"}) {
        if (n.has(a)) s.attrs[a] = n.attrs.at(a);
      }
      s.attrs["in_zero_point"] = Attr::of_int(x.zero_point);
      s.attrs["out_scale"] = Attr::of_float(y.scale);
      clamp_attrs(n, y, &s);
      if (op == "kiln.QConv" && n.inputs.size() > 4 && n.inputs[4] >= 0) {
        Act r;
        if (std::string e = need(n.inputs[4], &r); !e.empty()) return e;
        s.attrs["residual_zero_point"] = Attr::of_int(r.zero_point);
        if (!n.has("residual_multiplier")) return "a residual needs residual_multiplier (" + n.label() + ")";
      }
    } else if (op == "kiln.QAdd" || op == "kiln.QMul") {
      Act b;
      if (n.inputs.size() != 2) return "expects two inputs (" + n.label() + ")";
      if (std::string e = need(in0, &x); !e.empty()) return e;
      if (std::string e = need(n.inputs[1], &b); !e.empty()) return e;
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = op == "kiln.QAdd" ? "kiln.SimAdd" : "kiln.SimMul";
      s.attrs["a_zero_point"] = Attr::of_int(x.zero_point);
      s.attrs["b_zero_point"] = Attr::of_int(b.zero_point);
      if (op == "kiln.QAdd") {
        s.attrs["a_multiplier"] = Attr::of_float(n.get_float("a_multiplier", x.scale / y.scale));
        s.attrs["b_multiplier"] = Attr::of_float(n.get_float("b_multiplier", b.scale / y.scale));
      } else {
        s.attrs["multiplier"] = Attr::of_float(n.get_float("multiplier", x.scale * b.scale / y.scale));
      }
      clamp_attrs(n, y, &s);
    } else if (op == "kiln.QConcat") {
      if (std::string e = need(out0, &y); !e.empty()) return e;
      const std::vector<float> m = n.get_floats("multipliers");
      if (!m.empty() && m.size() != n.inputs.size()) return "multipliers do not match the inputs (" + n.label() + ")";
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (std::string e = need(n.inputs[i], &x); !e.empty()) return e;
        if (m.empty() || m[i] == 0.0f) continue;
        Node r;
        r.name = n.name + "__requantize" + std::to_string(i);
        r.op = "kiln.SimRequantize";
        r.inputs = {n.inputs[i]};
        r.outputs = {new_value(n.inputs[i], "__rq")};
        r.attrs["in_zero_point"] = Attr::of_int(x.zero_point);
        r.attrs["multiplier"] = Attr::of_float(m[i]);
        clamp_attrs(n, y, &r);
        s.inputs[i] = r.outputs[0];
        emit(std::move(r));
      }
      s.op = "Concat";
      s.attrs["axis"] = Attr::of_int(n.get_int("axis", 0));
    } else if (op == "kiln.QMaxPool") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      s.op = "MaxPool";
      copy_accepted(n, &s);
    } else if (op == "kiln.QAvgPool" || op == "kiln.QGlobalAvgPool") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = op == "kiln.QAvgPool" ? "kiln.SimAvgPool" : "kiln.SimGlobalAvgPool";
      if (op == "kiln.QAvgPool") {
        for (const char* a : {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides", "dilations"}) {
          if (n.has(a)) s.attrs[a] = n.attrs.at(a);
        }
      }
      s.attrs["in_zero_point"] = Attr::of_int(x.zero_point);
      s.attrs["multiplier"] = Attr::of_float(n.get_float("multiplier", x.scale / y.scale));
      clamp_attrs(n, y, &s);
    } else if (op == "kiln.QResize") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      if (std::string e = need(out0, &y); !e.empty()) return e;
      s.op = "Resize";
      copy_accepted(n, &s);
      const std::string mode = n.get_string("mode", "nearest");
      if (mode == "linear" || mode == "bilinear") {
        // The f32 resize of the codes, then q_from_interpolated_code.
        const int interp = new_value(out0, "__interpolated");
        s.outputs = {interp};
        Node f;
        f.name = n.name + "__codes";
        f.op = "kiln.SimFromInterpolated";
        f.inputs = {interp};
        f.outputs = {out0};
        clamp_attrs(n, y, &f);
        emit(std::move(s));
        emit(std::move(f));
        return "";
      }
    } else if (op == "kiln.QLut") {
      if (std::string e = need(in0, &x); !e.empty()) return e;
      s.op = "kiln.SimLut";
      if (n.has("function")) s.attrs["function"] = n.attrs.at("function");
    } else if (op.rfind("kiln.Q", 0) == 0) {
      return "unsupported quantized op (" + n.label() + ")";
    } else {
      // Pass-through ops on codes and float islands: unchanged, on f32.
      s = n;
      if (s.op == "Pad" && is_u8_activation(in0)) {
        if (std::string e = need(in0, &x); !e.empty()) return e;
        s.attrs["value"] = Attr::of_float(static_cast<float>(x.zero_point));  // padding is code zx
        if (s.inputs.size() > 2) s.inputs[2] = -1;
      }
      for (int& v : s.inputs) {
        if (v >= 0 && static_cast<size_t>(v) < q_.values.size() && q_.values[v].constant &&
            q_.values[v].dtype == DType::u8) {
          v = f32_constant(v);
        }
      }
    }
    emit(std::move(s));
    return "";
  }

  static void copy_accepted(const Node& q, Node* s) {
    const OpDef* op = find_op(s->op);
    for (const auto& [k, a] : q.attrs) {
      if (op && op_accepts_attribute(*op, k)) s->attrs[k] = a;
    }
  }

  const Graph& q_;
  Graph& g_;
};

}  // namespace

bool make_simulation_graph(const Graph& q_graph, Graph* sim, std::string* error) {
  register_simulation_ops();
  Rewriter r(q_graph, sim);
  return r.run(error);
}

}  // namespace kiln::calib
