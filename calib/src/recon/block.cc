#include "kiln/calib/recon/block.h"

#include <algorithm>
#include <cmath>

#include "kiln/calib/activation_observer.h"
#include "kiln/calib/weight_quant.h"
#include "kiln/kernels/f32/elementwise.h"

namespace kiln::calib::recon {
namespace {

void add_into(std::vector<float>& dst, const float* src, size_t count) {
  for (size_t i = 0; i < count; ++i) dst[i] += src[i];
}

bool weighted(LayerKind k) { return k == LayerKind::conv || k == LayerKind::gemm; }

// Activations oneDNN's eltwise layer runs (the rest run on the runtime's f32 kernels, as Q's float
// path evaluates its lookup tables, with their derivatives below).
bool onednn_activation(ActKind a) { return a == ActKind::relu || a == ActKind::clip || a == ActKind::hardswish; }

FusedActivation fused_of(const LayerSpec& s) {
  if (s.act == ActKind::relu) return FusedActivation::relu;
  if (s.act == ActKind::clip && s.act_lo == 0.0f && s.act_hi == 6.0f) return FusedActivation::relu6;
  if (s.act == ActKind::clip && s.act_lo >= 0.0f) return FusedActivation::relu;
  return FusedActivation::none;
}

}  // namespace

std::string Block::init(std::vector<LayerSpec> layers, std::vector<Dims> input_dims) {
  if (layers.empty()) return "block without layers";
  if (input_dims.empty()) return "block without inputs";
  layers_ = std::move(layers);
  input_dims_ = std::move(input_dims);
  dims_ = input_dims_;
  const size_t nl = layers_.size(), ni = input_dims_.size();
  conv_.clear();
  conv_.resize(nl);
  ip_.clear();
  ip_.resize(nl);
  pool_.clear();
  pool_.resize(nl);
  act_.clear();
  act_.resize(nl);
  quant_enabled_ = quantized_ = false;
  for (size_t l = 0; l < nl; ++l) {
    LayerSpec& s = layers_[l];
    const std::string where = " (layer '" + s.name + "')";
    const int self = static_cast<int>(ni + l);
    if (s.inputs.empty()) return "layer without inputs" + where;
    for (int v : s.inputs) {
      if (v < 0 || v >= self) return "layer input is not an earlier value" + where;
    }
    const Dims x = dims_[s.inputs[0]];
    Dims out;
    std::string err;
    switch (s.kind) {
      case LayerKind::conv: {
        if (s.inputs.size() > 2) return "conv takes x and an optional residual" + where;
        if (x.c != s.conv.in_c) return "conv input channels do not match" + where;
        if (!(err = conv_[l].init(s.conv)).empty()) return err + where;
        out = {s.conv.out_h(x.h), s.conv.out_w(x.w), s.conv.out_c};
        if (out.h == 0 || out.w == 0) return "conv kernel larger than its padded input" + where;
        if (s.weight.size() != s.conv.weight_elements()) return "conv weight size mismatch" + where;
        if (s.inputs.size() == 2) {
          const Dims r = dims_[s.inputs[1]];
          if (r.h != out.h || r.w != out.w || r.c != out.c) return "residual shape differs from the output" + where;
        }
        if (!s.bias.empty() && s.bias.size() != s.conv.out_c) return "conv bias size mismatch" + where;
        break;
      }
      case LayerKind::gemm:
        if (s.inputs.size() != 1) return "gemm takes one input" + where;
        if (!(err = ip_[l].init(x.elements(), s.gemm_out)).empty()) return err + where;
        if (s.weight.size() != s.gemm_out * x.elements()) return "gemm weight size mismatch" + where;
        if (!s.bias.empty() && s.bias.size() != s.gemm_out) return "gemm bias size mismatch" + where;
        out = {1, 1, s.gemm_out};
        break;
      case LayerKind::add: {
        if (s.inputs.size() != 2) return "add takes two inputs" + where;
        const Dims b = dims_[s.inputs[1]];
        if (b.h != x.h || b.w != x.w || b.c != x.c) return "add operands differ in shape" + where;
        out = x;
        break;
      }
      case LayerKind::max_pool:
      case LayerKind::avg_pool:
      case LayerKind::global_avg_pool:
        if (s.inputs.size() != 1) return "pooling takes one input" + where;
        s.pool.channels = x.c;
        if (s.kind == LayerKind::global_avg_pool) {
          s.pool = PoolGeometry{};
          s.pool.kind = PoolKind::avg_include_pad;
          s.pool.channels = x.c;
          s.pool.kernel_h = x.h;
          s.pool.kernel_w = x.w;
        } else if (s.kind == LayerKind::max_pool) {
          s.pool.kind = PoolKind::max;
        }
        if (!(err = pool_[l].init(s.pool)).empty()) return err + where;
        out = {s.pool.out_h(x.h), s.pool.out_w(x.w), x.c};
        if (out.h == 0 || out.w == 0) return "pooling window larger than its padded input" + where;
        break;
      case LayerKind::concat:
        out = {x.h, x.w, 0};
        for (int v : s.inputs) {
          if (dims_[v].h != x.h || dims_[v].w != x.w) return "concat inputs differ in size" + where;
          out.c += dims_[v].c;
        }
        break;
      case LayerKind::activation:
        if (s.inputs.size() != 1 || s.act == ActKind::none) return "an activation layer takes one input" + where;
        out = x;
        break;
      case LayerKind::mul: {
        if (s.inputs.size() != 2) return "mul takes two inputs" + where;
        const Dims b = dims_[s.inputs[1]];
        const bool same = b.h == x.h && b.w == x.w && b.c == x.c, gate = b.h == 1 && b.w == 1 && b.c == x.c;
        if (!same && !gate) return "mul: the second operand is neither the first's shape nor [1, 1, C]" + where;
        out = x;
        break;
      }
    }
    if (onednn_activation(s.act)) {
      act_[l].init(s.act == ActKind::relu ? EltwiseKind::relu
                   : s.act == ActKind::clip ? EltwiseKind::clip
                                            : EltwiseKind::hardswish,
                   s.act_lo, s.act_hi);
    }
    dims_.push_back(out);
  }
  const size_t nv = dims_.size();
  in_ptr_.assign(ni, nullptr);
  in_q_.assign(ni, {});
  pre_.assign(nl, {});
  post_.assign(nl, {});
  val_.assign(nv, {});
  keep_float_.assign(nv, {});
  weff_.assign(nl, {});
  beff_.assign(nl, {});
  dval_.assign(nv, {});
  wgrad_.assign(nl, {});
  bgrad_.assign(nl, {});
  ada_.assign(nl, {});
  lsq_.assign(nv, std::nullopt);
  vgrad_.assign(nl, {});
  sgrad_.assign(nv, 0.0);
  return "";
}

std::string Block::enable_quantization(const BlockQuantOptions& o, const std::vector<const float*>& calib_inputs,
                                       size_t n) {
  const size_t ni = num_inputs(), nl = layers_.size();
  std::string err;
  for (size_t l = 0; l < nl; ++l) {
    const LayerSpec& s = layers_[l];
    if (!weighted(s.kind)) continue;
    const size_t channels = s.kind == LayerKind::conv ? s.conv.out_c : s.gemm_out;
    const size_t per = s.weight.size() / channels;
    WeightQuantOptions wo;
    wo.bits = s.wbits ? s.wbits : o.wbits;
    std::vector<QuantParams> params;
    if (!choose_weight_params_per_channel(s.weight.data(), channels, per, wo, &params, &err))
      return err + " (layer '" + s.name + "')";
    if (!(err = ada_[l].init(s.weight.data(), channels, per, params)).empty()) return err + " (layer '" + s.name + "')";
    vgrad_[l].assign(ada_[l].size(), 0.0f);
  }
  // Activation ranges from float forwards over the calibration inputs, kObserveBatch samples at a
  // time (one forward over all of them held every intermediate activation of every sample: GBs
  // for a 224x224 network). The first pass finds each value's largest magnitude, so that the
  // second pass's histograms bin exactly as one call over all samples would.
  quantized_ = false;
  quant_enabled_ = false;
  for (size_t i = 0; i < ni; ++i) {
    lsq_[i].reset();
    if (i < o.input_params.size() && o.input_params[i]) {
      lsq_[i].emplace();
      lsq_[i]->init(*o.input_params[i]);
    }
  }
  std::vector<std::optional<ActivationObserver>> obs(nl);
  for (size_t l = 0; l < nl; ++l) {
    lsq_[ni + l].reset();
    const LayerSpec& s = layers_[l];
    if (!o.quantize_activations || s.kind == LayerKind::max_pool) continue;  // max pool keeps its input's codes
    if (l + 1 == nl && !o.quantize_output) continue;
    ActivationObserverOptions ao;
    ao.method = RangeMethod::mse;
    ao.bits = s.abits ? s.abits : o.abits;
    ao.activation = fused_of(s);
    obs[l].emplace(ao);
  }
  std::vector<float> absmax(nl, 0.0f);
  std::vector<const float*> in(ni);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t s0 = 0; s0 < n; s0 += kObserveBatch) {
      const size_t nb = std::min(kObserveBatch, n - s0);
      for (size_t i = 0; i < ni; ++i) in[i] = calib_inputs[i] + s0 * dims_[i].elements();
      if (!(err = forward(in, nb)).empty()) return err;
      for (size_t l = 0; l < nl; ++l) {
        if (!obs[l]) continue;
        const float* x = val_[ni + l].data();
        const size_t count = nb * dims_[ni + l].elements();
        if (pass == 1) {
          obs[l]->observe(x, count);
          continue;
        }
        float m = absmax[l];
        for (size_t k = 0; k < count; ++k) m = std::isfinite(x[k]) ? std::max(m, std::fabs(x[k])) : m;
        absmax[l] = m;
      }
    }
    if (pass == 0) {
      for (size_t l = 0; l < nl; ++l) {
        if (obs[l]) obs[l]->expect_magnitude(absmax[l]);
      }
    }
  }
  for (size_t l = 0; l < nl; ++l) {
    if (!obs[l]) continue;
    QuantParams p;
    if (!obs[l]->params(&p, &err)) return err + " (layer '" + layers_[l].name + "')";
    lsq_[ni + l].emplace();
    lsq_[ni + l]->init(p);
  }
  quantize_inputs_ = o.quantize_inputs;
  quant_enabled_ = quantized_ = true;
  return "";
}

void Block::set_hard(bool hard) {
  for (auto& a : ada_) a.set_hard(hard);
}

void Block::zero_grads() {
  for (auto& g : vgrad_) std::fill(g.begin(), g.end(), 0.0f);
  std::fill(sgrad_.begin(), sgrad_.end(), 0.0);
}

void Block::effective_params(size_t l) {
  const LayerSpec& s = layers_[l];
  weff_[l].resize(s.weight.size());
  const size_t channels = s.kind == LayerKind::conv ? s.conv.out_c : s.gemm_out;
  beff_[l].assign(channels, 0.0f);
  if (!s.bias.empty()) std::copy(s.bias.begin(), s.bias.end(), beff_[l].begin());
  if (!quantized_) {
    std::copy(s.weight.begin(), s.weight.end(), weff_[l].begin());
    return;
  }
  ada_[l].soft_weights(weff_[l].data());
  // QFloat's bias: int32 round(b / (s_in s_w[c])), back in real units; s_in is the input quantizer's.
  const std::optional<LsqQuantizer>& qin = lsq_[s.inputs[0]];
  if (qin && !s.bias.empty()) {
    for (size_t c = 0; c < channels; ++c) {
      const float unit = qin->scale() * ada_[l].params()[c].scale;
      beff_[l][c] = unit * std::nearbyint(s.bias[c] / unit);
    }
  }
}

std::string Block::activation_forward(size_t l, size_t count, const float* x, float* y) const {
  const LayerSpec& s = layers_[l];
  if (onednn_activation(s.act)) return const_cast<EltwiseLayer&>(act_[l]).forward(count, x, y);
  using A = kernels::f32::Activation;
  A f;
  switch (s.act) {
    case ActKind::sigmoid: f = A::sigmoid(); break;
    case ActKind::silu: f = A::silu(); break;
    case ActKind::hardsigmoid: f = A::hardsigmoid(s.act_alpha, s.act_beta); break;
    case ActKind::tanh: f = A::of(kernels::f32::UnaryOp::tanh); break;
    case ActKind::leaky_relu: f = A::leaky_relu(s.act_alpha); break;
    case ActKind::gelu: f = A::of(kernels::f32::UnaryOp::gelu_erf); break;
    default: return "unknown activation";
  }
  kernels::f32::unary(f, x, y, count);
  return "";
}

// d *= f'(x), in place. Sigmoid and tanh come from the runtime's vector kernels into a scratch
// buffer; every loop is branch-free so that it vectorises.
void Block::activation_backward(size_t l, size_t count, const float* x, float* d) const {
  const LayerSpec& s = layers_[l];
  const float a = s.act_alpha, b = s.act_beta;
  std::vector<float>& t = act_scratch_;
  using A = kernels::f32::Activation;
  switch (s.act) {
    case ActKind::sigmoid:
      t.resize(count);
      kernels::f32::unary(A::sigmoid(), x, t.data(), count);
      for (size_t i = 0; i < count; ++i) d[i] *= t[i] * (1.0f - t[i]);
      break;
    case ActKind::silu:
      t.resize(count);
      kernels::f32::unary(A::sigmoid(), x, t.data(), count);
      for (size_t i = 0; i < count; ++i) d[i] *= t[i] * (1.0f + x[i] * (1.0f - t[i]));
      break;
    case ActKind::hardsigmoid:
      for (size_t i = 0; i < count; ++i) {
        const float u = a * x[i] + b;
        d[i] *= u > 0.0f && u < 1.0f ? a : 0.0f;
      }
      break;
    case ActKind::tanh:
      t.resize(count);
      kernels::f32::unary(A::of(kernels::f32::UnaryOp::tanh), x, t.data(), count);
      for (size_t i = 0; i < count; ++i) d[i] *= 1.0f - t[i] * t[i];
      break;
    case ActKind::leaky_relu:
      for (size_t i = 0; i < count; ++i) d[i] *= x[i] >= 0.0f ? 1.0f : a;
      break;
    case ActKind::gelu: {  // d/dx x Phi(x) = Phi(x) + x phi(x)
      t.resize(count);
      for (size_t i = 0; i < count; ++i) t[i] = x[i] * 0.70710678f;  // Phi(x) = (1 + erf(x / sqrt 2)) / 2
      kernels::f32::unary(A::of(kernels::f32::UnaryOp::erf), t.data(), t.data(), count);
      for (size_t i = 0; i < count; ++i) {
        const float phi = 0.39894228f * std::exp(-0.5f * x[i] * x[i]);
        d[i] *= 0.5f * (1.0f + t[i]) + x[i] * phi;
      }
      break;
    }
    default:
      break;
  }
}

std::string Block::forward(const std::vector<const float*>& inputs, size_t n) {
  if (inputs.size() != num_inputs()) return "block forward: wrong number of inputs";
  if (n == 0) return "block forward: empty batch";
  n_ = n;
  for (size_t i = 0; i < num_inputs(); ++i) {
    if (quantized_ && lsq_[i] && quantize_inputs_) {
      in_q_[i].resize(n * dims_[i].elements());
      lsq_[i]->forward(inputs[i], in_q_[i].data(), in_q_[i].size());
      in_ptr_[i] = in_q_[i].data();
    } else {
      in_ptr_[i] = inputs[i];
    }
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    std::string err = layer_forward(l, n);
    if (!err.empty()) return err + " (layer '" + layers_[l].name + "')";
  }
  return "";
}

std::string Block::layer_forward(size_t l, size_t n) {
  const LayerSpec& s = layers_[l];
  const size_t v = num_inputs() + l;
  const Dims x = dims_[s.inputs[0]], out = dims_[v];
  const size_t count = n * out.elements();
  std::vector<float>& pre = pre_[l];
  pre.resize(count);
  const float* X = value(s.inputs[0]);
  std::string err;
  switch (s.kind) {
    case LayerKind::conv:
      effective_params(l);
      err = conv_[l].forward(n, x.h, x.w, X, weff_[l].data(), beff_[l].data(), pre.data());
      if (err.empty() && s.inputs.size() == 2) {
        const float* r = value(s.inputs[1]);
        for (size_t i = 0; i < count; ++i) pre[i] += r[i];
      }
      break;
    case LayerKind::gemm:
      effective_params(l);
      err = ip_[l].forward(n, X, weff_[l].data(), beff_[l].data(), pre.data());
      break;
    case LayerKind::add: {
      const float* b = value(s.inputs[1]);
      for (size_t i = 0; i < count; ++i) pre[i] = X[i] + b[i];
      break;
    }
    case LayerKind::max_pool:
    case LayerKind::avg_pool:
    case LayerKind::global_avg_pool:
      err = pool_[l].forward(n, x.h, x.w, X, pre.data());
      break;
    case LayerKind::concat: {
      const size_t pixels = n * out.h * out.w;
      size_t off = 0;
      for (int in : s.inputs) {
        const float* src = value(in);
        const size_t c = dims_[in].c;
        for (size_t p = 0; p < pixels; ++p) std::copy(src + p * c, src + (p + 1) * c, pre.data() + p * out.c + off);
        off += c;
      }
      break;
    }
    case LayerKind::activation:
      std::copy(X, X + count, pre.begin());
      break;
    case LayerKind::mul: {
      const float* b = value(s.inputs[1]);
      const size_t bc = dims_[s.inputs[1]].elements();  // c for a gate, the whole sample otherwise
      const size_t per = out.elements(), c = out.c;
      for (size_t smp = 0; smp < n; ++smp) {
        const float* xs = X + smp * per;
        const float* bs = b + smp * bc;
        float* ps = pre.data() + smp * per;
        if (bc == per) {
          for (size_t i = 0; i < per; ++i) ps[i] = xs[i] * bs[i];
        } else {
          for (size_t px = 0; px < per; px += c) {
            for (size_t k = 0; k < c; ++k) ps[px + k] = xs[px + k] * bs[k];
          }
        }
      }
      break;
    }
  }
  if (!err.empty()) return err;
  std::vector<float>& post = post_[l];
  if (s.act != ActKind::none) {
    post.resize(count);
    if (!(err = activation_forward(l, count, pre.data(), post.data())).empty()) return err;
  } else {
    post = pre;
  }
  std::vector<float>& y = val_[v];
  y.resize(count);
  if (quantized_ && lsq_[v]) {
    // QDrop: this step's choices for this value, drawn once and kept for backward (empty: no drop).
    std::vector<uint8_t>& keep = keep_float_[v];
    keep.resize(drop_p_ > 0.0f ? count : 0);
    if (!keep.empty()) QDropSampler(drop_seed_ ^ (0x51ed27ull * (v + 1)), drop_step_, drop_p_).fill(0, count, keep.data());
    lsq_[v]->forward(post.data(), y.data(), count, keep.empty() ? nullptr : keep.data());
  } else {
    std::copy(post.begin(), post.end(), y.begin());
  }
  return "";
}

std::string Block::backward(const float* d_output) {
  const size_t nv = num_values();
  for (size_t v = 0; v < nv; ++v) dval_[v].assign(n_ * dims_[v].elements(), 0.0f);
  std::copy(d_output, d_output + dval_[nv - 1].size(), dval_[nv - 1].begin());
  for (size_t l = layers_.size(); l-- > 0;) {
    std::string err = layer_backward(l, n_);
    if (!err.empty()) return err + " (layer '" + layers_[l].name + "')";
  }
  // Fixed input quantizers: straight-through inside their range, no scale gradient kept.
  for (size_t i = 0; i < num_inputs(); ++i) {
    if (!(quantized_ && lsq_[i] && quantize_inputs_)) continue;
    double unused = 0.0;
    // x for the range test is the raw input; in_q_ holds quantized values which are always in range.
    lsq_[i]->backward(in_q_[i].data(), dval_[i].data(), dval_[i].data(), dval_[i].size(), 1, &unused);
  }
  return "";
}

std::string Block::layer_backward(size_t l, size_t n) {
  const LayerSpec& s = layers_[l];
  const size_t v = num_inputs() + l;
  const Dims x = dims_[s.inputs[0]], out = dims_[v];
  const size_t count = n * out.elements();
  std::string err;
  // Through the output quantizer.
  std::vector<float>& d = scratch_;
  d.resize(count);
  if (quantized_ && lsq_[v]) {
    const std::vector<uint8_t>& keep = keep_float_[v];
    lsq_[v]->backward(post_[l].data(), dval_[v].data(), d.data(), count, out.elements(), &sgrad_[v],
                      keep.size() == count ? keep.data() : nullptr);
  } else {
    std::copy(dval_[v].begin(), dval_[v].end(), d.begin());
  }
  if (onednn_activation(s.act)) {
    if (!(err = act_[l].backward(count, pre_[l].data(), d.data(), d.data())).empty()) return err;
  } else if (s.act != ActKind::none) {
    activation_backward(l, count, pre_[l].data(), d.data());
  }
  const int xin = s.inputs[0];
  std::vector<float>& dx = scratch2_;
  dx.resize(n * x.elements());
  switch (s.kind) {
    case LayerKind::conv:
    case LayerKind::gemm: {
      wgrad_[l].resize(s.weight.size());
      bgrad_[l].resize(s.kind == LayerKind::conv ? s.conv.out_c : s.gemm_out);
      if (s.kind == LayerKind::conv) {
        if (!(err = conv_[l].backward_data(n, x.h, x.w, d.data(), weff_[l].data(), dx.data())).empty()) return err;
        if (!(err = conv_[l].backward_weights(n, x.h, x.w, value(xin), d.data(), wgrad_[l].data(), bgrad_[l].data()))
                 .empty())
          return err;
        if (s.inputs.size() == 2) add_into(dval_[s.inputs[1]], d.data(), count);
      } else {
        if (!(err = ip_[l].backward_data(n, d.data(), weff_[l].data(), dx.data())).empty()) return err;
        if (!(err = ip_[l].backward_weights(n, value(xin), d.data(), wgrad_[l].data(), bgrad_[l].data())).empty())
          return err;
      }
      add_into(dval_[xin], dx.data(), dx.size());
      if (quantized_ && !ada_[l].hard()) ada_[l].backward(wgrad_[l].data(), vgrad_[l].data());
      break;
    }
    case LayerKind::add:
      add_into(dval_[xin], d.data(), count);
      add_into(dval_[s.inputs[1]], d.data(), count);
      break;
    case LayerKind::max_pool:
    case LayerKind::avg_pool:
    case LayerKind::global_avg_pool:
      if (!(err = pool_[l].backward(n, x.h, x.w, d.data(), dx.data())).empty()) return err;
      add_into(dval_[xin], dx.data(), dx.size());
      break;
    case LayerKind::concat: {
      const size_t pixels = n * out.h * out.w;
      size_t off = 0;
      for (int in : s.inputs) {
        const size_t c = dims_[in].c;
        std::vector<float>& g = dval_[in];
        for (size_t p = 0; p < pixels; ++p) {
          for (size_t k = 0; k < c; ++k) g[p * c + k] += d[p * out.c + off + k];
        }
        off += c;
      }
      break;
    }
    case LayerKind::activation:
      add_into(dval_[xin], d.data(), count);
      break;
    case LayerKind::mul: {
      const int yin = s.inputs[1];
      const float* X = value(xin);
      const float* b = value(yin);
      const size_t bc = dims_[yin].elements(), per = out.elements(), c = out.c;
      std::vector<float>& gx = dval_[xin];
      std::vector<float>& gb = dval_[yin];
      for (size_t smp = 0; smp < n; ++smp) {
        const float* xs = X + smp * per;
        const float* bs = b + smp * bc;
        const float* ds = d.data() + smp * per;
        float* gxs = gx.data() + smp * per;
        float* gbs = gb.data() + smp * bc;
        if (bc == per) {
          for (size_t i = 0; i < per; ++i) {
            gxs[i] += ds[i] * bs[i];
            gbs[i] += ds[i] * xs[i];
          }
        } else {
          for (size_t px = 0; px < per; px += c) {
            for (size_t k = 0; k < c; ++k) {
              gxs[px + k] += ds[px + k] * bs[k];
              gbs[k] += ds[px + k] * xs[px + k];
            }
          }
        }
      }
      break;
    }
  }
  return "";
}

}  // namespace kiln::calib::recon
