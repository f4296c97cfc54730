// Gemm and MatMul on the fp32 sgemm kernels. Constant B matrices are packed once at load.
#include <cstring>
#include <memory>

#include "kiln/kernels/f32/gemm.h"
#include "ops/op_util.h"

namespace kiln::ops {
namespace {

namespace f32 = kernels::f32;

// ---- Gemm: Y = alpha * op(A) * op(B) + beta * C
std::string infer_gemm(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 3); !e.empty()) return e;
  for (size_t i = 0; i < c.inputs(); ++i) {
    if (c.present(i) && c.in_types[i] != DType::f32) return "float Gemm needs f32 tensors";
  }
  const Shape& a = c.in_shapes[0];
  const Shape& b = c.in_shapes[1];
  if (a.size() != 2 || b.size() != 2) return "A and B must be 2-D";
  const bool ta = c.node.get_int("transA", 0), tb = c.node.get_int("transB", 0);
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) return "inner dimensions differ: " + shape_string(a) + " x " + shape_string(b);
  if (c.present(2)) {
    Shape out;
    if (!broadcast_shapes(c.in_shapes[2], {m, n}, &out) || out != Shape{m, n}) return "C does not broadcast to [M, N]";
  }
  std::string err;
  f32::Activation act;
  if (!node_activation(c.node, &act, &err)) return err;
  c.out_types = {DType::f32};
  c.out_shapes = {{m, n}};
  return "";
}

struct GemmState {
  f32::SgemmPackedB b;       // empty when B is not a constant
  std::vector<float> bias;   // beta * C when C is a constant row vector [N] or [1, N]
  bool c_is_bias = false;
  f32::Activation act;
};

std::string prepare_gemm(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  auto s = std::make_shared<GemmState>();
  std::string err;
  if (!node_activation(n, &s->act, &err)) return err;
  const bool tb = n.get_int("transB", 0);
  const float alpha = n.get_float("alpha", 1.0f), beta = n.get_float("beta", 1.0f);
  if (const Tensor* b = g.constant_of(n.inputs[1])) {
    const size_t k = tb ? b->shape()[1] : b->shape()[0], nn = tb ? b->shape()[0] : b->shape()[1];
    if (std::string e = f32::sgemm_pack_b(k, nn, b->data<float>(), tb ? k : nn, tb, &s->b, f32::default_isa(), alpha);
        !e.empty()) {
      return e;
    }
  }
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    const Tensor* cc = g.constant_of(n.inputs[2]);
    if (cc && (cc->rank() == 1 || (cc->rank() == 2 && cc->shape()[0] == 1)) && cc->elements() > 1) {
      s->c_is_bias = true;
      s->bias.resize(cc->elements());
      for (size_t i = 0; i < s->bias.size(); ++i) s->bias[i] = beta * cc->data<float>()[i];
    }
  }
  if (!s->c_is_bias && s->act.op != f32::UnaryOp::identity && n.inputs.size() > 2 && n.inputs[2] >= 0) {
    return "a fused activation needs C to be a constant bias row";
  }
  *state = std::move(s);
  return "";
}

std::string run_gemm(RunContext& c) {
  const auto* s = static_cast<const GemmState*>(c.prepared);
  if (!s) return "gemm was not prepared";
  const Tensor& a = *c.in[0];
  Tensor& y = *c.out[0];
  const bool ta = c.node.get_int("transA", 0), tb = c.node.get_int("transB", 0);
  const float alpha = c.node.get_float("alpha", 1.0f), beta = c.node.get_float("beta", 1.0f);
  const size_t m = y.shape()[0], n = y.shape()[1];
  const size_t k = ta ? a.shape()[0] : a.shape()[1];
  float* py = y.mutable_data<float>();
  bool accumulate = false;
  const Tensor* cc = c.in.size() > 2 ? c.in[2] : nullptr;
  if (cc && !s->c_is_bias) {
    // Y starts as beta * broadcast(C); the product is accumulated onto it.
    const std::vector<int64_t> st = broadcast_strides(cc->shape(), cc->layout(), 2);
    for (size_t i = 0; i < m; ++i) {
      for (size_t j = 0; j < n; ++j) py[i * n + j] = beta * cc->data<float>()[i * st[0] + j * st[1]];
    }
    accumulate = true;
  }
  const float* bias = s->c_is_bias ? s->bias.data() : nullptr;
  if (!s->b.empty()) {
    f32::sgemm_packed(m, a.data<float>(), ta ? m : k, ta, s->b, bias, py, n, s->act, c.runner, accumulate);
    return "";
  }
  // B is an activation: pack it per call (alpha is folded into the packing).
  f32::SgemmPackedB pb;
  const Tensor& b = *c.in[1];
  if (std::string e = f32::sgemm_pack_b(k, n, b.data<float>(), tb ? k : n, tb, &pb, f32::default_isa(), alpha); !e.empty()) {
    return e;
  }
  f32::sgemm_packed(m, a.data<float>(), ta ? m : k, ta, pb, bias, py, n, s->act, c.runner, accumulate);
  return "";
}

// ---- MatMul (numpy semantics, batched with broadcasting)
struct MatMulDims {
  Shape out;
  int64_t m, k, n;
  Shape batch_a, batch_b, batch;  // batch dims of A, B, and the broadcast result
};

std::string matmul_dims(const Shape& a0, const Shape& b0, MatMulDims* d) {
  if (a0.empty() || b0.empty()) return "MatMul of a scalar";
  Shape a = a0, b = b0;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  d->m = a[a.size() - 2];
  d->k = a[a.size() - 1];
  d->n = b[b.size() - 1];
  if (b[b.size() - 2] != d->k) return "inner dimensions differ: " + shape_string(a0) + " x " + shape_string(b0);
  d->batch_a.assign(a.begin(), a.end() - 2);
  d->batch_b.assign(b.begin(), b.end() - 2);
  if (!broadcast_shapes(d->batch_a, d->batch_b, &d->batch)) return "batch dimensions do not broadcast";
  d->out = d->batch;
  if (a0.size() > 1) d->out.push_back(d->m);
  if (b0.size() > 1) d->out.push_back(d->n);
  return "";
}

std::string infer_matmul(InferContext& c) {
  if (std::string e = need_inputs(c, 2, 2); !e.empty()) return e;
  if (c.in_types[0] != DType::f32 || c.in_types[1] != DType::f32) return "float MatMul needs f32 tensors";
  MatMulDims d;
  if (std::string e = matmul_dims(c.in_shapes[0], c.in_shapes[1], &d); !e.empty()) return e;
  c.out_types = {DType::f32};
  c.out_shapes = {d.out};
  return "";
}

struct MatMulState {
  f32::SgemmPackedB b;  // a constant 2-D (or 1-D) B, packed
};

std::string prepare_matmul(const Node& n, const Graph& g, std::shared_ptr<const void>* state) {
  auto s = std::make_shared<MatMulState>();
  const Tensor* b = g.constant_of(n.inputs[1]);
  if (b && (b->rank() == 2 || b->rank() == 1)) {
    const size_t k = b->shape()[0], nn = b->rank() == 2 ? b->shape()[1] : 1;
    if (std::string e = f32::sgemm_pack_b(k, nn, b->data<float>(), nn, false, &s->b); !e.empty()) return e;
  }
  *state = std::move(s);
  return "";
}

std::string run_matmul(RunContext& c) {
  const auto* s = static_cast<const MatMulState*>(c.prepared);
  const Tensor& a = *c.in[0];
  const Tensor& b = *c.in[1];
  float* py = c.out[0]->mutable_data<float>();
  MatMulDims d;
  if (std::string e = matmul_dims(a.shape(), b.shape(), &d); !e.empty()) return e;
  const size_t batch_a = shape_elements(d.batch_a);
  if (s && !s->b.empty()) {  // one GEMM over all rows of A
    f32::sgemm_packed(batch_a * d.m, a.data<float>(), d.k, false, s->b, nullptr, py, d.n, {}, c.runner);
    return "";
  }
  const size_t mk = d.m * d.k, kn = d.k * d.n, mn = d.m * d.n;
  const f32::Exec ex{f32::default_isa(), c.runner};
  if (d.batch_a == d.batch && (d.batch_b == d.batch || shape_elements(d.batch_b) == 1)) {
    f32::sgemm_batched(shape_elements(d.batch), d.m, d.n, d.k, a.data<float>(), mk, false, b.data<float>(),
                       shape_elements(d.batch_b) == 1 ? 0 : kn, false, py, mn, ex);
    return "";
  }
  // General broadcast of batch dims: one GEMM per output batch entry.
  const int r = static_cast<int>(d.batch.size());
  const std::vector<int64_t> sa = broadcast_strides(d.batch_a, Layout::plain, r);
  const std::vector<int64_t> sb = broadcast_strides(d.batch_b, Layout::plain, r);
  std::vector<int64_t> idx(r, 0);
  for (size_t i = 0; i < shape_elements(d.batch); ++i) {
    int64_t oa = 0, ob = 0;
    for (int k = 0; k < r; ++k) {
      oa += idx[k] * sa[k];
      ob += idx[k] * sb[k];
    }
    f32::sgemm(d.m, d.n, d.k, a.data<float>() + oa * mk, d.k, false, b.data<float>() + ob * kn, d.n, false, nullptr,
               py + i * mn, d.n, {}, ex);
    for (int k = r - 1; k >= 0; --k) {
      if (++idx[k] < d.batch[k]) break;
      idx[k] = 0;
    }
  }
  return "";
}

}  // namespace

void add_linear_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Gemm", infer_gemm, run_gemm, LayoutRule::plain, prepare_gemm,
                 "alpha,beta,transA,transB,activation,act_a,act_b"});
  ops.push_back({"MatMul", infer_matmul, run_matmul, LayoutRule::plain, prepare_matmul, ""});
}

}  // namespace kiln::ops
