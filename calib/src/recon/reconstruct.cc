#include "kiln/calib/recon/reconstruct.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace kiln::calib::recon {
namespace {

struct Adam {
  std::vector<float> m, v;
  float lr = 1e-3f;
  void init(size_t n, float rate) {
    m.assign(n, 0.0f);
    v.assign(n, 0.0f);
    lr = rate;
  }
  // One step on params from grads; t is the 1-based step.
  template <class P, class G>
  void step(P* params, const G* grads, size_t n, int t) {
    constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.0f - std::pow(b1, static_cast<float>(t)), c2 = 1.0f - std::pow(b2, static_cast<float>(t));
    for (size_t i = 0; i < n; ++i) {
      const float g = static_cast<float>(grads[i]);
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      params[i] -= static_cast<P>(lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps));
    }
  }
};

// Gathers rows `idx` of each input into contiguous batch buffers (QDrop: float inputs mixed in;
// `mask` is scratch for the choices).
void gather(const ReconData& d, const Block& block, const std::vector<size_t>& idx, float mix_p, uint64_t seed,
            uint64_t step, std::vector<std::vector<float>>* bufs, std::vector<uint8_t>* mask) {
  bufs->resize(d.inputs.size());
  for (size_t i = 0; i < d.inputs.size(); ++i) {
    const size_t e = block.dims(i).elements();
    std::vector<float>& b = (*bufs)[i];
    b.resize(idx.size() * e);
    const bool mix = mix_p > 0.0f && i < d.float_inputs.size() && !d.float_inputs[i].empty();
    if (mix) {
      mask->resize(idx.size() * e);
      QDropSampler(seed ^ (0xa5a5ull + i), step, mix_p).fill(0, mask->size(), mask->data());
    }
    for (size_t r = 0; r < idx.size(); ++r) {
      const float* q = d.inputs[i].data() + idx[r] * e;
      float* br = b.data() + r * e;
      std::memcpy(br, q, e * sizeof(float));
      if (!mix) continue;
      const float* f = d.float_inputs[i].data() + idx[r] * e;
      const uint8_t* m = mask->data() + r * e;
      for (size_t k = 0; k < e; ++k) {  // both loads unconditional, so the select vectorises
        const float fv = f[k], qv = br[k];
        br[k] = m[k] ? fv : qv;
      }
    }
  }
}

std::string check_data(const Block& block, const ReconData& d) {
  if (d.samples == 0) return "reconstruction without samples";
  if (d.inputs.size() != block.num_inputs()) return "reconstruction data: wrong number of block inputs";
  for (size_t i = 0; i < d.inputs.size(); ++i) {
    if (d.inputs[i].size() != d.samples * block.dims(i).elements()) return "reconstruction data: input size mismatch";
    if (i < d.float_inputs.size() && !d.float_inputs[i].empty() && d.float_inputs[i].size() != d.inputs[i].size())
      return "reconstruction data: float input size mismatch";
  }
  const size_t out = d.samples * block.output_dims().elements();
  if (d.targets.size() != out) return "reconstruction data: target size mismatch";
  if (!d.fisher.empty() && d.fisher.size() != out) return "reconstruction data: Fisher weight size mismatch";
  return "";
}

}  // namespace

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) return static_cast<uint16_t>(sign | (mag > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (mag >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (mag < 0x38800000u) {  // subnormal half (or zero): scale into the 2^-24 grid, round to even
    float a;
    std::memcpy(&a, &mag, 4);
    const float q = std::nearbyint(a * 16777216.0f);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(q));
  }
  // normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even
  const uint32_t rounded = mag + 0xfffu + ((mag >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

std::string evaluate_loss(Block& block, const ReconData& data, size_t batch, double* loss) {
  std::string err = check_data(block, data);
  if (!err.empty()) return err;
  const size_t oe = block.output_dims().elements();
  double total = 0.0;
  std::vector<std::vector<float>> bufs;
  std::vector<uint8_t> mask;
  std::vector<size_t> idx;
  for (size_t s0 = 0; s0 < data.samples; s0 += batch) {
    const size_t nb = std::min(batch, data.samples - s0);
    idx.resize(nb);
    for (size_t r = 0; r < nb; ++r) idx[r] = s0 + r;
    gather(data, block, idx, 0.0f, 0, 0, &bufs, &mask);
    std::vector<const float*> in;
    for (auto& b : bufs) in.push_back(b.data());
    if (!(err = block.forward(in, nb)).empty()) return err;
    const float* y = block.output();
    for (size_t k = 0; k < nb * oe; ++k) {
      const double dlt = static_cast<double>(y[k]) - half_to_float(data.targets[s0 * oe + k]);
      total += dlt * dlt;
    }
  }
  *loss = total / static_cast<double>(data.samples * block.output_dims().h * block.output_dims().w);
  return "";
}

std::string reconstruct(Block& block, const ReconData& data, const ReconOptions& o, ReconResult* result) {
  if (!block.quantization_enabled()) return "reconstruction of a block without quantizers";
  std::string err = check_data(block, data);
  if (!err.empty()) return err;
  if (o.iters < 0 || o.batch == 0) return "reconstruction: negative iterations or empty batch";
  set_compute_threads(o.threads);
  block.set_quantized(true);
  block.set_drop(0.0f, 0, 0);
  const size_t batch = std::min(o.batch, data.samples);

  block.set_hard(true);
  if (!(err = evaluate_loss(block, data, batch, &result->initial_loss)).empty()) return err;
  block.set_hard(false);
  // The starting point (nearest rounding, observed steps), restored if training does not beat it.
  std::vector<std::vector<float>> v0;
  for (auto& a : block.adaround()) v0.push_back(a.v());
  std::vector<float> s0;
  for (auto& q : block.lsq()) s0.push_back(q ? q->scale() : 0.0f);

  const size_t nl = block.layers().size(), nv = block.num_values();
  std::vector<Adam> adam_v(nl);
  for (size_t l = 0; l < nl; ++l) adam_v[l].init(block.adaround()[l].size(), o.lr_adaround);
  std::vector<Adam> adam_s(nv);
  for (size_t v = 0; v < nv; ++v) adam_s[v].init(1, o.lr_scale);

  std::mt19937_64 rng(o.seed);
  std::vector<size_t> idx(batch);
  std::vector<std::vector<float>> bufs;
  std::vector<uint8_t> mask;
  const size_t oe = block.output_dims().elements(), pixels = block.output_dims().h * block.output_dims().w;
  std::vector<float> dout(batch * oe), tgt(oe), wgt(oe, 1.0f), sq(oe);  // per-sample scratch, reused
  const int warm = static_cast<int>(o.warmup * static_cast<float>(o.iters));
  for (int t = 0; t < o.iters; ++t) {
    for (size_t r = 0; r < batch; ++r) idx[r] = static_cast<size_t>(rng() % data.samples);
    // QDrop up to drop_until of the run; the last iterations see the unit fully quantized.
    const float pscale = static_cast<float>(t) < o.drop_until * static_cast<float>(o.iters) ? 1.0f : 0.0f;
    gather(data, block, idx, o.input_mix_prob * pscale, o.seed, static_cast<uint64_t>(t), &bufs, &mask);
    std::vector<const float*> in;
    for (auto& b : bufs) in.push_back(b.data());
    block.set_drop(o.drop_prob * pscale, o.seed, static_cast<uint64_t>(t));
    if (!(err = block.forward(in, batch)).empty()) return err;
    const float* y = block.output();
    double loss = 0.0;
    const float inv_b = 1.0f / static_cast<float>(batch * pixels);
    for (size_t r = 0; r < batch; ++r) {
      const uint16_t* t16 = data.targets.data() + idx[r] * oe;
      for (size_t k = 0; k < oe; ++k) tgt[k] = half_to_float(t16[k]);
      if (!data.fisher.empty()) {
        const uint16_t* f16 = data.fisher.data() + idx[r] * oe;
        for (size_t k = 0; k < oe; ++k) wgt[k] = half_to_float(f16[k]);
      }
      const float* yr = y + r * oe;
      float* dr = dout.data() + r * oe;
      for (size_t k = 0; k < oe; ++k) {  // vectorised: no reduction in here
        const float dlt = yr[k] - tgt[k];
        sq[k] = wgt[k] * dlt * dlt;
        dr[k] = 2.0f * wgt[k] * dlt * inv_b;
      }
      loss += sum_in_order(sq.data(), oe);
    }
    loss /= static_cast<double>(batch * pixels);
    block.zero_grads();
    if (!(err = block.backward(dout.data())).empty()) return err;
    if (t >= warm && o.lambda > 0.0f) {
      const float rel = o.iters > warm ? static_cast<float>(t - warm) / static_cast<float>(o.iters - warm) : 1.0f;
      const float beta = o.beta_end + (o.beta_start - o.beta_end) * std::max(0.0f, 1.0f - rel);
      for (size_t l = 0; l < nl; ++l) {
        if (block.adaround()[l].size() == 0) continue;
        block.adaround()[l].regularizer(o.lambda, beta, block.adaround_grad()[l].data());
      }
    }
    for (size_t l = 0; l < nl; ++l) {
      AdaRoundQuantizer& a = block.adaround()[l];
      if (a.size() != 0) adam_v[l].step(a.v().data(), block.adaround_grad()[l].data(), a.size(), t + 1);
    }
    if (o.lr_scale > 0.0f) {
      // Cosine annealing to 0 over the run (QDrop's official schedule): the steps settle at the end,
      // where a constant step would leave them wherever the last noisy (QDrop: dropped) batches put them.
      const float scale_lr = cosine_annealed(o.lr_scale, t, o.iters);
      for (size_t v = 0; v < nv; ++v) {
        if (!block.lsq_learned(v)) continue;
        LsqQuantizer& q = *block.lsq()[v];
        float s = q.scale();
        adam_s[v].lr = scale_lr;
        adam_s[v].step(&s, &block.lsq_grad()[v], 1, t + 1);
        q.set_scale(s);
      }
    }
    if (o.progress && o.progress_every > 0 && (t + 1) % o.progress_every == 0) o.progress(t + 1, loss);
  }
  block.set_drop(0.0f, 0, 0);
  block.set_hard(true);
  if (!(err = evaluate_loss(block, data, batch, &result->final_loss)).empty()) return err;
  if (result->final_loss > result->initial_loss) {
    for (size_t l = 0; l < nl; ++l) block.adaround()[l].v() = v0[l];
    for (size_t v = 0; v < nv; ++v) {
      if (block.lsq()[v]) block.lsq()[v]->set_scale(s0[v]);
    }
    result->final_loss = result->initial_loss;
    result->reverted = true;
  }
  result->iterations = o.iters;
  if (o.progress) o.progress(o.iters, result->final_loss);
  return "";
}

}  // namespace kiln::calib::recon
