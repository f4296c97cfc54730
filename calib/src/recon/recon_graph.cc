#include "kiln/calib/recon/recon_graph.h"

#include <algorithm>

#include "kiln/calib/activation_observer.h"

namespace kiln::calib::recon {
namespace {

// NCHW samples -> NHWC (what blocks read); rank-2 inputs are unchanged.
bool to_nhwc(const Value& v, const std::vector<float>& in, size_t n, std::vector<float>* out, std::string* error) {
  if (!v.shape_known || (v.shape.size() != 4 && v.shape.size() != 2)) {
    *error = "graph input '" + v.name + "' must be NCHW or [N, K] with a known shape";
    return false;
  }
  size_t per = 1;
  for (size_t d = 1; d < v.shape.size(); ++d) per *= static_cast<size_t>(v.shape[d]);
  if (in.size() != n * per) {
    *error = "calibration samples do not match the input shape of '" + v.name + "'";
    return false;
  }
  if (v.shape.size() == 2 || v.shape[1] == 1) {
    *out = in;
    return true;
  }
  const size_t c = static_cast<size_t>(v.shape[1]), hw = per / c;
  out->resize(in.size());
  for (size_t s = 0; s < n; ++s)
    for (size_t k = 0; k < c; ++k)
      for (size_t p = 0; p < hw; ++p) (*out)[s * per + p * c + k] = in[s * per + k * hw + p];
  return true;
}

// Runs `block` over all n samples in batches; returns its output [n, out elements].
std::string run_all(Block& b, const std::vector<const std::vector<float>*>& inputs, size_t n, size_t batch,
                    std::vector<float>* out) {
  const size_t oe = b.output_dims().elements();
  out->resize(n * oe);
  for (size_t s0 = 0; s0 < n; s0 += batch) {
    const size_t nb = std::min(batch, n - s0);
    std::vector<const float*> in;
    for (size_t i = 0; i < inputs.size(); ++i) in.push_back(inputs[i]->data() + s0 * b.dims(i).elements());
    std::string err = b.forward(in, nb);
    if (!err.empty()) return err;
    std::copy(b.output(), b.output() + nb * oe, out->begin() + static_cast<std::ptrdiff_t>(s0 * oe));
  }
  return "";
}

int bits_of(const std::map<std::string, int>& m, const std::string& name, int fallback) {
  auto it = m.find(name);
  return it == m.end() ? fallback : it->second;
}

}  // namespace

bool reconstruct_graph(const Graph& g, const std::vector<float>& samples, size_t n, const GraphReconOptions& o,
                       GraphReconResult* out, std::string* error) {
  *out = GraphReconResult{};
  if (n == 0 || g.inputs.size() != 1 || g.outputs.size() != 1) {
    *error = "reconstruction needs samples and a graph with one input and one output";
    return false;
  }
  std::vector<ReconUnit> units;
  if (!list_units(g, o.granularity, &units, error)) return false;
  const size_t batch = std::max<size_t>(1, o.eval_batch);
  std::map<int, std::vector<float>> fvals, qvals;  // graph value -> NHWC data of all samples
  const int in_id = g.inputs[0];
  if (!to_nhwc(g.values[in_id], samples, n, &fvals[in_id], error)) return false;

  // The graph input's quantizer (fixed; observed by MSE on the samples).
  if (o.quantize_activations) {
    ActivationObserverOptions ao;
    ao.method = RangeMethod::mse;
    ao.bits = bits_of(o.value_abits, g.values[in_id].name, o.abits);
    ActivationObserver obs(ao);
    obs.observe(fvals[in_id].data(), fvals[in_id].size());
    QuantParams p;
    if (!obs.params(&p, error)) return false;
    out->activation_params[g.values[in_id].name] = p;
    LsqQuantizer q;
    q.init(p);
    qvals[in_id].resize(fvals[in_id].size());
    q.forward(fvals[in_id].data(), qvals[in_id].data(), fvals[in_id].size());
  } else {
    qvals[in_id] = fvals[in_id];
  }

  for (size_t ui = 0; ui < units.size(); ++ui) {
    const ReconUnit& u = units[ui];
    const std::string where = " (unit '" + u.name + "')";
    Block b;
    std::vector<int> gv;
    if (!build_block(g, u, &b, error, &gv)) return false;
    for (size_t l = 0; l < b.layers().size(); ++l) {
      LayerSpec& s = b.mutable_layers()[l];
      s.wbits = bits_of(o.layer_wbits, s.name, o.wbits);
      s.abits = bits_of(o.value_abits, g.values[gv[b.num_inputs() + l]].name, o.abits);
    }
    std::vector<const std::vector<float>*> fin, qin;
    for (int v : u.inputs) {
      if (!fvals.count(v) || !qvals.count(v)) {
        *error = "unit input '" + g.values[v].name + "' is not produced by an earlier unit" + where;
        return false;
      }
      fin.push_back(&fvals[v]);
      qin.push_back(&qvals[v]);
    }
    // Float pass: the targets.
    std::vector<float> target;
    if (!(*error = run_all(b, fin, n, batch, &target)).empty()) return false;
    // Quantizers: weights by MSE, activations by MSE over (a bounded number of) float samples.
    BlockQuantOptions qo;
    qo.wbits = o.wbits;
    qo.abits = o.abits;
    qo.quantize_activations = o.quantize_activations;
    qo.quantize_inputs = false;  // qvals are quantized already; QDrop mixes float values in
    for (int v : u.inputs) {
      auto it = out->activation_params.find(g.values[v].name);
      qo.input_params.push_back(it == out->activation_params.end() ? std::nullopt
                                                                   : std::optional<QuantParams>(it->second));
    }
    const size_t calib_n = std::min<size_t>(n, 256);
    std::vector<const float*> calib;
    for (auto* f : fin) calib.push_back(f->data());
    if (!(*error = b.enable_quantization(qo, calib, calib_n)).empty()) {
      *error += where;
      return false;
    }
    ReconData data;
    data.samples = n;
    for (auto* q : qin) data.inputs.push_back(*q);
    if (o.qdrop) {
      for (auto* f : fin) data.float_inputs.push_back(*f);
    }
    data.targets.resize(target.size());
    for (size_t i = 0; i < target.size(); ++i) data.targets[i] = float_to_half(target[i]);
    ReconOptions ro = o.recon;
    if (o.qdrop) ro.input_mix_prob = ro.drop_prob;
    if (o.progress) {
      ro.progress = [&, ui](int it, double loss) { o.progress(ui, units.size(), u.name, it, loss); };
    }
    ReconResult rr;
    if (!(*error = reconstruct(b, data, ro, &rr)).empty()) {
      *error += where;
      return false;
    }
    out->units.push_back({u.name, b.layers().size(), rr.initial_loss, rr.final_loss});
    // Outputs of the float and of the hard-rounded quantized unit feed the next units.
    b.set_quantized(false);
    if (!(*error = run_all(b, fin, n, batch, &fvals[u.output])).empty()) return false;
    b.set_quantized(true);
    if (!(*error = run_all(b, qin, n, batch, &qvals[u.output])).empty()) return false;
    // What freeze needs.
    for (size_t l = 0; l < b.layers().size(); ++l) {
      const LayerSpec& s = b.layers()[l];
      const AdaRoundQuantizer& a = b.adaround()[l];
      if (a.size() == 0) continue;
      std::vector<int8_t> codes(a.size());
      a.hard_codes(codes.data());
      if (s.kind == LayerKind::gemm && s.flatten_hw > 1) {  // back to the NCHW flatten order of the graph
        const size_t k = s.weight.size() / s.gemm_out, c = k / s.flatten_hw, hw = s.flatten_hw;
        std::vector<int8_t> p(codes.size());
        for (size_t r = 0; r < s.gemm_out; ++r)
          for (size_t ch = 0; ch < c; ++ch)
            for (size_t y = 0; y < hw; ++y) p[r * k + ch * hw + y] = codes[r * k + y * c + ch];
        codes = std::move(p);
      }
      out->weight_codes[s.name] = std::move(codes);
      out->weight_params[s.name] = a.params();
    }
    for (size_t v = b.num_inputs(); v < b.num_values(); ++v) {
      if (b.lsq()[v]) out->activation_params[g.values[gv[v]].name] = b.lsq()[v]->params();
    }
  }
  const int last = units.empty() ? -1 : units.back().output;
  if (last >= 0) {
    const std::vector<float>& f = fvals[last];
    const std::vector<float>& q = qvals[last];
    double se = 0.0;
    for (size_t i = 0; i < f.size(); ++i) se += (static_cast<double>(q[i]) - f[i]) * (static_cast<double>(q[i]) - f[i]);
    out->output_mse = se / static_cast<double>(n);
  }
  return true;
}

}  // namespace kiln::calib::recon
