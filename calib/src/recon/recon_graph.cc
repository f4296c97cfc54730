#include "kiln/calib/recon/recon_graph.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "kiln/calib/activation_observer.h"
#include "kiln/calib/recon/kept_unit.h"

namespace kiln::calib::recon {
namespace {

// Samples in logical order -> reconstruction layout (NHWC for images, [n, C, H, W] -> [n, H, W, C]).
bool to_recon_layout(const Value& v, const Shape& sample, const std::vector<float>& in, size_t n,
                     std::vector<float>* out, std::string* error) {
  size_t per = 1;
  for (int64_t d : sample) per *= static_cast<size_t>(d);
  if (in.size() != n * per) {
    *error = "calibration samples do not match the input shape of '" + v.name + "'";
    return false;
  }
  if (sample.size() != 3 || sample[0] == 1) {
    *out = in;
    return true;
  }
  const size_t c = static_cast<size_t>(sample[0]), hw = per / c;
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

// Gives unit u's block (built by build_block, graph values `gv`) the plan's bits and enables its
// quantizers (MSE weight scales; LSQ ranges observed on the float inputs `fin`).
bool prepare_block(const Graph& g, const ReconUnit& u, const GraphReconOptions& o,
                   const std::map<std::string, QuantParams>& known_params,
                   const std::vector<const std::vector<float>*>& fin, size_t n, Block* b, const std::vector<int>* gv,
                   std::string* error) {
  for (size_t l = 0; l < b->layers().size(); ++l) {
    LayerSpec& s = b->mutable_layers()[l];
    s.wbits = bits_of(o.layer_wbits, s.name, o.wbits);
    s.abits = bits_of(o.value_abits, g.values[(*gv)[b->num_inputs() + l]].name, o.abits);
  }
  BlockQuantOptions qo;
  qo.wbits = o.wbits;
  qo.abits = o.abits;
  qo.quantize_activations = o.quantize_activations;
  qo.quantize_inputs = false;  // inputs arrive quantized already; QDrop mixes float values in
  for (int v : u.inputs) {  // learned parameters first, then those the plan observed
    const std::string& name = g.values[code_source(g, v, o.code_moving ? &*o.code_moving : nullptr)].name;
    auto it = known_params.find(name);
    auto ob = o.observed_params.find(name);
    if (it != known_params.end()) qo.input_params.emplace_back(it->second);
    else if (ob != o.observed_params.end()) qo.input_params.emplace_back(ob->second);
    else qo.input_params.emplace_back(std::nullopt);
  }
  const size_t calib_n = std::min<size_t>(n, 256);
  std::vector<const float*> calib;
  for (auto* f : fin) calib.push_back(f->data());
  if (!(*error = b->enable_quantization(qo, calib, calib_n)).empty()) {
    *error += " (unit '" + u.name + "')";
    return false;
  }
  return true;
}

void softmax(const float* z, size_t k, std::vector<double>* p) {
  p->resize(k);
  float mx = z[0];
  for (size_t i = 1; i < k; ++i) mx = std::max(mx, z[i]);
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) sum += ((*p)[i] = std::exp(static_cast<double>(z[i]) - mx));
  for (size_t i = 0; i < k; ++i) (*p)[i] /= sum;
}

// The Fisher weights (|g| + 1)^2 of unit `ui`'s output for all n samples (fp16, like the targets): the
// quantized network runs from unit ui's quantized inputs to the logits (unit ui: `cur`, at nearest
// rounding; later units: `probes`), the KL gradient at the logits runs back to unit ui's output.
std::string fisher_weights(const Graph& g, const std::vector<ReconUnit>& units, size_t ui, Block& cur,
                           std::vector<std::unique_ptr<Block>>& probes, std::map<int, std::vector<float>>& qvals,
                           const std::vector<float>& float_logits, size_t n, const GraphReconOptions& o,
                           std::vector<uint16_t>* out, double* mean) {
  const size_t U = units.size(), batch = std::max<size_t>(1, o.eval_batch);
  auto block_of = [&](size_t j) -> Block& { return j == ui ? cur : *probes[j]; };
  for (size_t j = ui; j < U; ++j) {
    block_of(j).set_quantized(true);
    block_of(j).set_hard(true);
    block_of(j).set_drop(0.0f, 0, 0);
  }
  const size_t oe = cur.output_dims().elements();
  const size_t classes = block_of(U - 1).output_dims().elements();
  out->assign(n * oe, 0);
  double total = 0.0;
  std::vector<double> pq, pf;
  for (size_t s0 = 0; s0 < n; s0 += batch) {
    const size_t nb = std::min(batch, n - s0);
    std::map<int, std::vector<float>> vq, dq;  // this batch: quantized values of units >= ui, their gradients
    for (size_t j = ui; j < U; ++j) {
      Block& b = block_of(j);
      std::vector<const float*> in;
      for (size_t i = 0; i < units[j].inputs.size(); ++i) {
        const int v = units[j].inputs[i];
        if (vq.count(v)) {
          in.push_back(vq[v].data());
        } else if (qvals.count(v)) {
          in.push_back(qvals[v].data() + s0 * b.dims(i).elements());
        } else {
          return "Fisher pass: input '" + g.values[v].name + "' of unit '" + units[j].name + "' is not available";
        }
      }
      std::string err = b.forward(in, nb);
      if (!err.empty()) return err;
      const size_t e = b.output_dims().elements();
      vq[units[j].output].assign(b.output(), b.output() + nb * e);
    }
    std::vector<float>& dz = dq[units[U - 1].output];
    dz.assign(nb * classes, 0.0f);
    const float* zq = vq[units[U - 1].output].data();
    for (size_t r = 0; r < nb; ++r) {
      softmax(zq + r * classes, classes, &pq);
      softmax(float_logits.data() + (s0 + r) * classes, classes, &pf);
      for (size_t k = 0; k < classes; ++k)
        dz[r * classes + k] = static_cast<float>((pq[k] - pf[k]) / static_cast<double>(o.fisher_batch));
    }
    for (size_t j = U - 1; j > ui; --j) {
      auto it = dq.find(units[j].output);
      if (it == dq.end()) continue;  // nothing downstream reads it
      Block& b = block_of(j);
      std::string err = b.backward(it->second.data());
      if (!err.empty()) return err;
      for (size_t i = 0; i < units[j].inputs.size(); ++i) {
        const std::vector<float>& gi = b.input_grad(i);
        std::vector<float>& acc = dq[units[j].inputs[i]];
        if (acc.empty()) acc.assign(gi.size(), 0.0f);
        for (size_t k = 0; k < gi.size(); ++k) acc[k] += gi[k];
      }
    }
    auto it = dq.find(units[ui].output);
    for (size_t k = 0; k < nb * oe; ++k) {
      const double gk = it == dq.end() ? 0.0 : it->second[k];
      const double w = (std::fabs(gk) + 1.0) * (std::fabs(gk) + 1.0);
      total += w;
      (*out)[s0 * oe + k] = float_to_half(static_cast<float>(w));
    }
  }
  *mean = total / static_cast<double>(n * oe);
  return "";
}

}  // namespace

bool reconstruct_graph(const Graph& g, const std::vector<float>& samples, size_t n, const GraphReconOptions& o,
                       GraphReconResult* out, std::string* error) {
  *out = GraphReconResult{};
  if (n == 0 || g.inputs.size() != 1 || g.outputs.empty()) {
    *error = "reconstruction needs samples and a graph with one input";
    return false;
  }
  UnitContext ctx;
  ctx.keep = o.keep_float;
  std::vector<ReconUnit> units;
  if (!list_units(g, o.granularity, &units, error, &ctx)) return false;
  const size_t batch = std::max<size_t>(1, o.eval_batch);
  const int in_id = g.inputs[0], net_output = g.outputs[0];
  const std::set<int> outputs(g.outputs.begin(), g.outputs.end());
  if (!ctx.batched[in_id] ||
      !std::all_of(g.outputs.begin(), g.outputs.end(), [&](int v) { return ctx.batched[v] != 0; })) {
    *error = "reconstruction needs a graph whose input and outputs hold one slice per sample";
    return false;
  }

  // Kept units run as float sub-models (their quantized layers nearest-rounded at the plan's bits).
  KeptUnitOptions ko;
  ko.threads = o.recon.threads;
  ko.batch = batch;
  ko.value_params = o.observed_params;
  ko.weights = o.weights;
  ko.code_moving = o.code_moving ? &*o.code_moving : nullptr;
  ko.float_values = o.float_values ? &*o.float_values : nullptr;
  ko.float_readers = o.float_readers ? &*o.float_readers : nullptr;
  auto held_float = [&](int v) { return o.float_values && o.float_values->count(g.values[v].name); };
  ko.layer_wbits = o.layer_wbits;
  if (ko.layer_wbits.empty()) {  // no plan: every layer at wbits
    for (const Node& node : g.nodes) {
      if ((node.op == "Conv" || node.op == "Gemm" || node.op == "MatMul") && !o.keep_float.count(node.name)) {
        ko.layer_wbits[node.name] = o.wbits;
      }
    }
  }
  for (size_t ui = 0; ui < units.size(); ++ui) {  // kept units are built when reached; checked now
    if (units[ui].trained) continue;
    if (o.fisher) {
      *error = "the Fisher loss needs every unit trained; " + units[ui].reason;
      return false;
    }
    KeptUnit probe;
    if (!(*error = probe.init(g, units[ui], ctx, ko)).empty()) return false;
  }

  std::map<int, std::vector<float>> fvals, qvals;  // graph value -> data of all samples (reconstruction layout)
  if (!to_recon_layout(g.values[in_id], ctx.sample_shape[in_id], samples, n, &fvals[in_id], error)) return false;

  // The graph input's quantizer (fixed; observed by MSE on the samples), unless the plan keeps it float.
  const std::string& in_name = g.values[in_id].name;
  if (o.quantize_activations && (o.observed_params.empty() || o.observed_params.count(in_name))) {
    ActivationObserverOptions ao;
    ao.method = RangeMethod::mse;
    ao.bits = bits_of(o.value_abits, in_name, o.abits);
    ActivationObserver obs(ao);
    obs.observe(fvals[in_id].data(), fvals[in_id].size());
    QuantParams p;
    if (!obs.params(&p, error)) return false;
    out->activation_params[in_name] = p;
    if (held_float(in_id)) {  // Q quantizes it in front of each integer op that reads it
      qvals[in_id] = fvals[in_id];
    } else {
      LsqQuantizer q;
      q.init(p);
      qvals[in_id].resize(fvals[in_id].size());
      q.forward(fvals[in_id].data(), qvals[in_id].data(), fvals[in_id].size());
    }
  } else {
    qvals[in_id] = fvals[in_id];
  }

  // Fisher loss: every unit's quantized stand-in (nearest rounding) for the passes from a unit to the
  // logits, built over a first float pass of the whole network; replaced by the reconstructed unit
  // once it is done.
  std::vector<std::unique_ptr<Block>> probes;
  if (o.fisher) {
    if (o.fisher_batch == 0) {
      *error = "reconstruction: the Fisher batch must be positive";
      return false;
    }
    if (g.outputs.size() != 1 || units.empty() || units.back().output != net_output) {
      *error = "the Fisher loss needs one output (the logits), produced by the last unit";
      return false;
    }
    for (const ReconUnit& u : units) {
      std::vector<const std::vector<float>*> fin;
      for (int v : u.inputs) {
        if (!fvals.count(v)) {
          *error = "unit input '" + g.values[v].name + "' is not produced by an earlier unit (unit '" + u.name + "')";
          return false;
        }
        fin.push_back(&fvals[v]);
      }
      auto b = std::make_unique<Block>();
      std::vector<int> gv;
      if (!build_block(g, u, b.get(), error, &gv, &ctx)) return false;
      // The float pass first: prepare_block switches quantization on, and these are the float
      // network's values (the next probes' inputs, every unit's targets and the float logits).
      if (!(*error = run_all(*b, fin, n, batch, &fvals[u.output])).empty()) return false;
      if (!prepare_block(g, u, o, out->activation_params, fin, n, b.get(), &gv, error)) return false;
      probes.push_back(std::move(b));
    }
  }

  // The last unit that reads each value: after it, the value's float and quantized copies (all n
  // samples) are freed, so memory holds the live values only and not every activation of the
  // network (a 224x224 MobileNetV2 keeps ~45 MB per sample otherwise). The network's output stays
  // (output_mse, the Fisher passes' float logits).
  std::map<int, size_t> last_use;
  for (size_t ui = 0; ui < units.size(); ++ui) {
    for (int v : units[ui].inputs) last_use[v] = ui;
  }

  for (size_t ui = 0; ui < units.size(); ++ui) {
    const ReconUnit& u = units[ui];
    const std::string where = " (unit '" + u.name + "')";
    std::vector<const std::vector<float>*> fin, qin;
    for (int v : u.inputs) {
      if (!fvals.count(v) || !qvals.count(v)) {
        *error = "unit input '" + g.values[v].name + "' is not produced by an earlier unit" + where;
        return false;
      }
      fin.push_back(&fvals[v]);
      qin.push_back(&qvals[v]);
    }
    auto release_inputs = [&] {
      for (int v : u.inputs) {
        if (last_use[v] == ui && !outputs.count(v)) {
          fvals.erase(v);
          qvals.erase(v);
        }
      }
    };
    if (!u.trained) {  // evaluated both ways, not trained
      // Values that carry an earlier value's codes use its parameters, learned ones included.
      for (const auto& [name, p] : out->activation_params) ko.value_params[name] = p;
      KeptUnit kept;
      if (!(*error = kept.init(g, u, ctx, ko)).empty()) return false;
      std::vector<std::vector<float>*> fo, qo;
      for (int v : u.outputs) {
        fo.push_back(&fvals[v]);
        qo.push_back(&qvals[v]);
      }
      if (!(*error = kept.run(false, fin, n, fo)).empty() || !(*error = kept.run(true, qin, n, qo)).empty()) {
        *error += where;
        return false;
      }
      UnitReport r;
      r.name = u.name;
      r.kept = true;
      r.reason = u.reason;
      out->units.push_back(r);
      release_inputs();
      continue;
    }
    // Blocks read codes: a value Q holds as floats is quantized in front of them.
    std::vector<std::vector<float>> coded_inputs(u.inputs.size());
    for (size_t i = 0; i < u.inputs.size(); ++i) {
      const int v = u.inputs[i];
      if (!held_float(v)) continue;
      const std::string& name = g.values[v].name;
      auto lp = out->activation_params.find(name);
      auto op = o.observed_params.find(name);
      if (lp == out->activation_params.end() && op == o.observed_params.end()) continue;
      const QuantParams& p = lp != out->activation_params.end() ? lp->second : op->second;
      coded_inputs[i].resize(qin[i]->size());
      fake_quantize(qin[i]->data(), coded_inputs[i].data(), qin[i]->size(), p);
      qin[i] = &coded_inputs[i];
    }
    auto owned = std::make_unique<Block>();
    Block& b = *owned;
    std::vector<int> gv;
    if (!build_block(g, u, &b, error, &gv, &ctx)) return false;
    // Float pass (before quantization is enabled, the block is float): the targets, and what the
    // next units read from the float network. The Fisher setup ran it already.
    if (!fvals.count(u.output) && !(*error = run_all(b, fin, n, batch, &fvals[u.output])).empty()) return false;
    const std::vector<float>& target = fvals[u.output];
    // Quantizers: weights by MSE, activations by MSE over (a bounded number of) float samples.
    if (!prepare_block(g, u, o, out->activation_params, fin, n, &b, &gv, error)) return false;
    ReconData data;
    data.samples = n;
    for (auto* q : qin) data.inputs.push_back(*q);
    if (o.qdrop) {
      for (auto* f : fin) data.float_inputs.push_back(*f);
    }
    data.targets.resize(target.size());
    for (size_t i = 0; i < target.size(); ++i) data.targets[i] = float_to_half(target[i]);
    double fisher_mean = 0.0;
    if (o.fisher) {
      if (!(*error = fisher_weights(g, units, ui, b, probes, qvals, fvals[net_output], n, o, &data.fisher,
                                    &fisher_mean))
               .empty()) {
        *error += where;
        return false;
      }
    }
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
    UnitReport report;
    report.name = u.name;
    report.layers = b.layers().size();
    report.nearest_loss = rr.initial_loss;
    report.final_loss = rr.final_loss;
    report.fisher_mean = fisher_mean;
    report.reverted = rr.reverted;
    out->units.push_back(report);
    // The hard-rounded quantized unit's outputs feed the next units.
    b.set_quantized(true);
    if (!(*error = run_all(b, qin, n, batch, &qvals[u.output])).empty()) return false;
    // What freeze needs (the block is kept as the reconstructed stand-in of later Fisher passes).
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
    if (o.fisher) probes[ui] = std::move(owned);
    release_inputs();
  }
  double se = 0.0;  // over every output
  for (int v : outputs) {
    if (!fvals.count(v) || !qvals.count(v)) continue;
    const std::vector<float>& f = fvals[v];
    const std::vector<float>& q = qvals[v];
    for (size_t i = 0; i < f.size(); ++i) se += (static_cast<double>(q[i]) - f[i]) * (static_cast<double>(q[i]) - f[i]);
  }
  out->output_mse = se / static_cast<double>(n);
  return true;
}

}  // namespace kiln::calib::recon
