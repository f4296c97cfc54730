#include "layer_spec.h"

#include <limits>
#include <vector>

namespace kiln::calib::recon {
namespace {

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

bool conv_spec(const Graph& g, const Node& n, LayerSpec* s, std::string* error) {
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
  s->kind = LayerKind::conv;
  s->conv.in_c = static_cast<size_t>(ws[1] * groups);
  s->conv.out_c = static_cast<size_t>(ws[0]);
  s->conv.groups = static_cast<size_t>(groups);
  s->conv.kernel_h = static_cast<size_t>(ks[0]);
  s->conv.kernel_w = static_cast<size_t>(ks[1]);
  s->conv.stride_h = static_cast<size_t>(st[0]);
  s->conv.stride_w = static_cast<size_t>(st[1]);
  s->conv.dilation_h = static_cast<size_t>(dl[0]);
  s->conv.dilation_w = static_cast<size_t>(dl[1]);
  s->conv.pad_top = static_cast<size_t>(pads[0]);
  s->conv.pad_left = static_cast<size_t>(pads[1]);
  s->conv.pad_bottom = static_cast<size_t>(pads[2]);
  s->conv.pad_right = static_cast<size_t>(pads[3]);
  s->weight = floats_of(*w);
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    const Tensor* b = g.constant_of(n.inputs[2]);
    if (!b || b->elements() != s->conv.out_c) {
      *error = n.label() + ": bias must be a constant of out_c elements";
      return false;
    }
    s->bias = floats_of(*b);
  }
  return set_activation(n, s, error);
}

bool gemm_spec(const Graph& g, const Node& n, LayerSpec* s, std::string* error) {
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
  s->weight.resize(nout * k);
  for (size_t o = 0; o < nout; ++o) {
    for (size_t j = 0; j < k; ++j) s->weight[o * k + j] = tb ? wf[o * k + j] : wf[j * nout + o];
  }
  s->kind = LayerKind::gemm;
  s->gemm_out = nout;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
    const Tensor* b = g.constant_of(n.inputs[2]);
    if (!b || b->elements() != nout) {
      *error = n.label() + ": bias must be a constant of N elements";
      return false;
    }
    s->bias = floats_of(*b);
  }
  return set_activation(n, s, error);
}

bool pool_spec(const Node& n, LayerSpec* s, std::string* error) {
  const std::vector<int64_t> ks = n.get_ints("kernel_shape", {});
  const std::vector<int64_t> st = n.get_ints("strides", {1, 1});
  const std::vector<int64_t> pads = n.get_ints("pads", {0, 0, 0, 0});
  const std::vector<int64_t> dl = n.get_ints("dilations", {1, 1});
  if (ks.size() != 2 || st.size() != 2 || pads.size() != 4 || n.get_string("auto_pad", "NOTSET") != "NOTSET" ||
      n.get_int("ceil_mode", 0) != 0 || dl != std::vector<int64_t>{1, 1}) {
    *error = n.label() + ": only 2-D pooling with explicit pads, floor mode and no dilation";
    return false;
  }
  s->kind = n.op == "MaxPool" ? LayerKind::max_pool : LayerKind::avg_pool;
  s->pool.kind = n.op == "MaxPool"                        ? PoolKind::max
                 : n.get_int("count_include_pad", 0) != 0 ? PoolKind::avg_include_pad
                                                          : PoolKind::avg_exclude_pad;
  s->pool.kernel_h = static_cast<size_t>(ks[0]);
  s->pool.kernel_w = static_cast<size_t>(ks[1]);
  s->pool.stride_h = static_cast<size_t>(st[0]);
  s->pool.stride_w = static_cast<size_t>(st[1]);
  s->pool.pad_top = static_cast<size_t>(pads[0]);
  s->pool.pad_left = static_cast<size_t>(pads[1]);
  s->pool.pad_bottom = static_cast<size_t>(pads[2]);
  s->pool.pad_right = static_cast<size_t>(pads[3]);
  return true;
}

}  // namespace

bool layer_spec_of(const Graph& g, const Node& n, LayerSpec* s, std::string* error) {
  *s = LayerSpec{};
  s->name = n.name;
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.size() != 1) {
    *error = n.label() + ": one input and one output expected";
    return false;
  }
  if (n.op == "Conv") return conv_spec(g, n, s, error);
  if (n.op == "Gemm") return gemm_spec(g, n, s, error);
  if (n.op == "MaxPool" || n.op == "AveragePool") return pool_spec(n, s, error);
  if (n.op == "Add") {
    if (n.inputs.size() != 2) {
      *error = n.label() + ": Add of two values expected";
      return false;
    }
    s->kind = LayerKind::add;
    return true;
  }
  if (n.op == "Relu") {  // a lone ReLU (not fused): a 1x1 max pooling with the ReLU activation
    s->kind = LayerKind::max_pool;
    s->pool.kind = PoolKind::max;
    s->act = ActKind::relu;
    return true;
  }
  if (n.op == "Mul") {
    if (n.inputs.size() != 2) {
      *error = n.label() + ": Mul of two values expected";
      return false;
    }
    s->kind = LayerKind::mul;
    return true;
  }
  if (n.op == "Sigmoid" || n.op == "kiln.Silu" || n.op == "HardSigmoid" || n.op == "HardSwish" || n.op == "Tanh" ||
      n.op == "LeakyRelu" || n.op == "Clip" || n.op == "Gelu") {
    s->kind = LayerKind::activation;
    if (n.op == "Gelu") {
      if (n.get_string("approximate", "none") != "none") {
        *error = n.label() + ": only the erf form of Gelu";
        return false;
      }
      s->act = ActKind::gelu;
    }
    if (n.op == "Sigmoid") s->act = ActKind::sigmoid;
    if (n.op == "kiln.Silu") s->act = ActKind::silu;
    if (n.op == "Tanh") s->act = ActKind::tanh;
    if (n.op == "HardSwish") s->act = ActKind::hardswish;
    if (n.op == "HardSigmoid") {
      s->act = ActKind::hardsigmoid;
      s->act_alpha = n.get_float("alpha", 0.2f);
      s->act_beta = n.get_float("beta", 0.5f);
    }
    if (n.op == "LeakyRelu") {
      s->act = ActKind::leaky_relu;
      s->act_alpha = n.get_float("alpha", 0.01f);
    }
    if (n.op == "Clip") {  // bounds from constant inputs 1, 2 (opset >= 11) or attributes
      s->act = ActKind::clip;
      s->act_lo = n.get_float("min", std::numeric_limits<float>::lowest());
      s->act_hi = n.get_float("max", std::numeric_limits<float>::max());
      for (size_t k : {size_t{1}, size_t{2}}) {
        if (n.inputs.size() <= k || n.inputs[k] < 0) continue;
        const Tensor* t = g.constant_of(n.inputs[k]);
        if (!t || t->elements() != 1) {
          *error = n.label() + ": Clip bounds must be constant scalars";
          return false;
        }
        (k == 1 ? s->act_lo : s->act_hi) = t->float_at(0);
      }
    }
    return true;
  }
  if (n.op == "GlobalAveragePool") {
    s->kind = LayerKind::global_avg_pool;
    return true;
  }
  if (n.op == "Concat") {
    const int64_t axis = n.get_int("axis", 1);
    if (axis != 1 && axis != -3) {
      *error = n.label() + ": only channel concatenation";
      return false;
    }
    s->kind = LayerKind::concat;
    return true;
  }
  *error = "reconstruction does not support " + n.label();
  return false;
}

void permute_flatten_columns(const Dims& d, LayerSpec* s) {
  const size_t nout = s->gemm_out, k = s->weight.size() / nout;
  std::vector<float> p(s->weight.size());
  for (size_t o = 0; o < nout; ++o)
    for (size_t c = 0; c < d.c; ++c)
      for (size_t y = 0; y < d.h * d.w; ++y) p[o * k + y * d.c + c] = s->weight[o * k + c * d.h * d.w + y];
  s->weight = std::move(p);
  s->flatten_hw = d.h * d.w;
}

}  // namespace kiln::calib::recon
