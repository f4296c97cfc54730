// Q-graph element-wise ops: kiln.Quantize, kiln.Dequantize, kiln.Requantize, kiln.QAdd, kiln.QMul
// (numpy broadcasting over any physical layout) and kiln.QLut, on the kernels of
// kiln/kernels/q/elementwise.h. Quantization parameters come from the graph's values at prepare
// time (QState), clamps and multipliers from the attributes the freezer wrote.
#include "kiln/kernels/q/elementwise.h"
#include "ops/q_util.h"

namespace kiln::ops {
namespace {

namespace q = kernels::q;

std::string infer_unary_to(InferContext& c, DType in, DType out) {
  if (std::string e = need_inputs(c, 1, 1); !e.empty()) return e;
  if (std::string e = need_type(c, 0, in, "input"); !e.empty()) return e;
  c.out_types = {out};
  c.out_shapes = {c.in_shapes[0]};
  return "";
}

// ---- kiln.Quantize: f32 -> u8
std::string infer_quantize(InferContext& c) { return infer_unary_to(c, DType::f32, DType::u8); }
std::string prepare_quantize(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {}, true, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string run_quantize(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  const float* x = c.in[0]->data<float>();
  uint8_t* y = c.out[0]->mutable_data<uint8_t>();
  for_ranges(c.runner, c.out[0]->elements(), 64, [&](size_t b, size_t e) {
    q::quantize(s->isa, x + b, y + b, e - b, s->out.scale, s->qout);
  });
  return "";
}

// ---- kiln.Dequantize: u8 -> f32
std::string infer_dequantize(InferContext& c) { return infer_unary_to(c, DType::u8, DType::f32); }
std::string prepare_dequantize(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {0}, false, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string run_dequantize(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  q::dequantize(s->isa, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<float>(), c.out[0]->elements(),
                s->in[0].zero_point, s->in[0].scale);
  return "";
}

// ---- kiln.Requantize and kiln.QLut: u8 -> u8, same layout
std::string infer_u8_unary(InferContext& c) { return infer_unary_to(c, DType::u8, DType::u8); }
std::string prepare_u8_unary(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {0}, true, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string run_requantize(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  q::requantize(s->isa, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<uint8_t>(), c.out[0]->elements(),
                s->in[0].zero_point, c.node.get_float("multiplier", 1.0f), s->qout);
  return "";
}

std::string infer_lut(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 2); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input"); !e.empty()) return e;
  if (std::string e = need_type(c, 1, DType::u8, "table"); !e.empty()) return e;
  if (shape_elements(c.in_shapes[1]) != 256) return "the table must have 256 entries";
  if (!c.in_values[1]) return "the table must be a constant";
  c.out_types = {DType::u8};
  c.out_shapes = {c.in_shapes[0]};
  return "";
}
std::string prepare_lut(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  if (n.inputs.size() != 2 || !g.constant_of(n.inputs[1])) return "the table must be a constant";
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {}, false, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}
std::string run_lut(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  if (c.in[1]->elements() != 256) return "the table must have 256 entries";
  q::lut(s->isa, c.in[0]->data<uint8_t>(), c.out[0]->mutable_data<uint8_t>(), c.out[0]->elements(),
         c.in[1]->data<uint8_t>());
  return "";
}

// ---- kiln.QAdd / kiln.QMul with broadcasting
std::string infer_qbinary(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 2); !e.empty()) return e;
  if (std::string e = need_type(c, 0, DType::u8, "input a"); !e.empty()) return e;
  if (std::string e = need_type(c, 1, DType::u8, "input b"); !e.empty()) return e;
  Shape s;
  if (!broadcast_shapes(c.in_shapes[0], c.in_shapes[1], &s)) {
    return "shapes " + shape_string(c.in_shapes[0]) + " and " + shape_string(c.in_shapes[1]) + " do not broadcast";
  }
  c.out_types = {DType::u8};
  c.out_shapes = {s};
  return "";
}
std::string prepare_qbinary(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  std::shared_ptr<QState> s;
  if (std::string e = q_state(n, g, {0, 1}, true, &s); !e.empty()) return e;
  *state = std::move(s);
  return "";
}

// Calls row(a, a_step, b, b_step, y, n) over contiguous runs of y's innermost physical dimension;
// steps are 0 (broadcast) or 1. Runs whose operands are strided otherwise go one element at a time.
template <class Row>
void for_each_run(const Tensor& a, const Tensor& b, Tensor& y, Row&& row) {
  const uint8_t* pa = a.data<uint8_t>();
  const uint8_t* pb = b.data<uint8_t>();
  uint8_t* py = y.mutable_data<uint8_t>();
  const size_t total = y.elements();
  if (total == 0) return;
  const bool dense_a = a.shape() == y.shape() && (a.layout() == y.layout() || a.rank() != 4);
  const bool dense_b = b.shape() == y.shape() && (b.layout() == y.layout() || b.rank() != 4);
  if ((dense_a || a.elements() == 1) && (dense_b || b.elements() == 1)) {
    row(pa, dense_a ? 1 : 0, pb, dense_b ? 1 : 0, py, total);
    return;
  }
  const int r = y.rank();
  const std::vector<int64_t> la = broadcast_strides(a.shape(), a.layout(), r);
  const std::vector<int64_t> lb = broadcast_strides(b.shape(), b.layout(), r);
  const std::vector<int64_t> ly = logical_strides(y.shape(), y.layout());
  const std::vector<int> order = physical_order(r, y.layout());
  const int inner = order[r - 1];
  const int64_t n = y.shape()[inner];
  const int64_t as = la[inner], bs = lb[inner];
  const bool runs = (as == 0 || as == 1) && (bs == 0 || bs == 1) && ly[inner] == 1;
  std::vector<int64_t> idx(r, 0);
  for (size_t done = 0; done < total;) {
    int64_t oa = 0, ob = 0, oy = 0;
    for (int d = 0; d < r; ++d) {
      oa += idx[d] * la[d];
      ob += idx[d] * lb[d];
      oy += idx[d] * ly[d];
    }
    if (runs) {
      row(pa + oa, static_cast<size_t>(as), pb + ob, static_cast<size_t>(bs), py + oy, static_cast<size_t>(n));
    } else {
      for (int64_t i = 0; i < n; ++i) row(pa + oa + i * as, 0, pb + ob + i * bs, 0, py + oy + i * ly[inner], 1);
    }
    done += static_cast<size_t>(n);
    for (int k = r - 2; k >= 0; --k) {
      const int d = order[k];
      if (++idx[d] < y.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

std::string run_qadd(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  q::AddParams p;
  p.a_zero_point = s->in[0].zero_point;
  p.b_zero_point = s->in[1].zero_point;
  p.a_multiplier = c.node.get_float("a_multiplier", 1.0f);
  p.b_multiplier = c.node.get_float("b_multiplier", 1.0f);
  p.out = s->qout;
  for_each_run(*c.in[0], *c.in[1], *c.out[0], [&](const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n) {
    q::add(s->isa, a, as, b, bs, y, n, p);
  });
  return "";
}

std::string run_qmul(RunContext& c) {
  const QState* s = q_state_of(c);
  if (!s) return "not prepared";
  q::MulParams p;
  p.a_zero_point = s->in[0].zero_point;
  p.b_zero_point = s->in[1].zero_point;
  p.multiplier = c.node.get_float("multiplier", 1.0f);
  p.out = s->qout;
  for_each_run(*c.in[0], *c.in[1], *c.out[0], [&](const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n) {
    q::mul(s->isa, a, as, b, bs, y, n, p);
  });
  return "";
}

}  // namespace

void add_q_elementwise_ops(std::vector<OpDef>& ops) {
  ops.push_back({"kiln.Quantize", infer_quantize, run_quantize, LayoutRule::same, prepare_quantize, "qmin,qmax"});
  ops.push_back({"kiln.Dequantize", infer_dequantize, run_dequantize, LayoutRule::same, prepare_dequantize, ""});
  ops.push_back({"kiln.Requantize", infer_u8_unary, run_requantize, LayoutRule::same, prepare_u8_unary,
                 "multiplier,qmin,qmax"});
  ops.push_back({"kiln.QAdd", infer_qbinary, run_qadd, LayoutRule::broadcast, prepare_qbinary,
                 "a_multiplier,b_multiplier,qmin,qmax"});
  ops.push_back({"kiln.QMul", infer_qbinary, run_qmul, LayoutRule::broadcast, prepare_qbinary, "multiplier,qmin,qmax"});
  ops.push_back({"kiln.QLut", infer_lut, run_lut, LayoutRule::same, prepare_lut, "function"});
}

}  // namespace kiln::ops
