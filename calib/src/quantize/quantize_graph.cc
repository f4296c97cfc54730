#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "kiln/calib/freeze.h"
#include "kiln/calib/observe.h"
#include "kiln/calib/plan.h"
#include "kiln/calib/quantize.h"
#include "kiln/kernels/isa.h"
#include "kiln/runtime/model.h"
#include "kiln/runtime/q_blobs.h"

namespace kiln::calib {
namespace {

// Kernel blobs of every kiln.QConv / kiln.QGemm for each ISA asked for (default: the host's choice).
bool attach_blobs(const QuantizeOptions& options, Graph* q, std::string* error) {
  std::vector<kernels::Isa> isas;
  for (const std::string& name : options.pack_isas) {
    kernels::Isa isa;
    if (!kernels::parse_isa(name, &isa)) {
      *error = "unknown ISA '" + name + "' to pack for";
      return false;
    }
    isas.push_back(isa);
  }
  if (isas.empty()) {
    const kernels::IsaChoice c = kernels::choose_isa();
    if (!c.ok) {
      *error = c.error;
      return false;
    }
    isas.push_back(c.isa);
  }
  size_t total = 0, done = 0;
  for (const Node& n : q->nodes) total += n.op == "kiln.QConv" || n.op == "kiln.QGemm";
  for (size_t i = 0; i < q->nodes.size(); ++i) {
    if (q->nodes[i].op != "kiln.QConv" && q->nodes[i].op != "kiln.QGemm") continue;
    for (kernels::Isa isa : isas) {
      if (std::string e = pack_q_node_blobs(*q, static_cast<int>(i), isa); !e.empty()) {
        const std::string label = q->nodes[i].label();
        *error = "packing " + std::string(kernels::isa_name(isa)) + " blobs: " + e;
        if (e.find(label) == std::string::npos) *error += " (" + label + ")";
        return false;
      }
    }
    if (options.progress) options.progress("pack", ++done, total);
  }
  return true;
}

// Reads up to options.samples samples of the (single) graph input as one NCHW float array.
bool read_samples(SampleSource& source, const QuantizeOptions& options, std::vector<float>* out, size_t* n,
                  std::string* error) {
  if (source.input_names().size() != 1) {
    *error = "reconstruction needs a model with one input (the data gives " +
             std::to_string(source.input_names().size()) + ")";
    return false;
  }
  if (!source.rewind(error)) return false;
  out->clear();
  *n = 0;
  const size_t total = std::min(options.samples, source.size());
  SampleBatch b;
  while (*n < total) {
    if (!source.next(std::min<size_t>(64, total - *n), &b, error)) return false;
    if (b.count == 0) break;
    out->insert(out->end(), b.inputs[0].data.begin(), b.inputs[0].data.end());
    *n += b.count;
  }
  if (*n == 0) {
    *error = "no calibration samples";
    return false;
  }
  return true;
}

// Runs reconstruction on the lowered graph (every quantized operation one node; Float' names kept)
// with the plan's bits, and moves the learned activation parameters into `ranges`. Nodes the plan
// keeps float are never trained; values reconstruction does not learn keep their observed ranges.
recon::GraphReconOptions recon_options(const Graph& lowered, const Plan& plan, const QuantizeOptions& options) {
  recon::GraphReconOptions ro = *options.reconstruction;
  ro.wbits = options.wbits;
  ro.abits = options.abits;
  ro.recon.threads = options.threads;
  ro.recon.seed = options.seed;
  ro.weights = options.weights;
  std::set<std::string> moving;
  for (size_t i = 0; i < lowered.nodes.size(); ++i) {
    const Node& n = lowered.nodes[i];
    const NodePlan& np = plan.nodes[i];
    if (np.kind == NodeKind::float_island || ((n.op == "Conv" || n.op == "Gemm") && np.kind != NodeKind::quantized)) {
      ro.keep_float.insert(n.name);
    }
    if (np.kind == NodeKind::quantized && np.wbits) ro.layer_wbits[n.name] = np.wbits;
    if (np.kind == NodeKind::pass_through ||
        (np.kind == NodeKind::quantized && (np.q_op == "kiln.QMaxPool" || np.q_op == "kiln.QResize"))) {
      moving.insert(n.name);
    }
  }
  ro.code_moving = std::move(moving);
  std::set<std::string> float_values, float_readers;
  for (int v : lowered.inputs) float_values.insert(lowered.values[v].name);
  for (size_t i = 0; i < lowered.nodes.size(); ++i) {
    if (plan.nodes[i].kind != NodeKind::float_island) continue;
    float_readers.insert(lowered.nodes[i].name);
    for (int v : lowered.nodes[i].outputs) float_values.insert(lowered.values[v].name);
  }
  ro.float_values = std::move(float_values);
  ro.float_readers = std::move(float_readers);
  for (size_t v = 0; v < lowered.values.size(); ++v) ro.value_abits[lowered.values[v].name] = plan.value_bits[v];
  return ro;
}

bool reconstruct(const Graph& lowered, const Plan& plan, SampleSource& source, const QuantizeOptions& options,
                 ObservedRanges* ranges, recon::GraphReconResult* out, std::string* error) {
  recon::GraphReconOptions ro = recon_options(lowered, plan, options);
  for (size_t v = 0; v < lowered.values.size(); ++v) {
    // Only values the Q graph holds as codes (every f32 activation is observed, float islands' too).
    if (ranges->params[v] && plan.value_bits[v] > 0) ro.observed_params[lowered.values[v].name] = *ranges->params[v];
  }
  std::vector<float> samples;
  size_t n = 0;
  if (!read_samples(source, options, &samples, &n, error)) return false;
  if (!recon::reconstruct_graph(lowered, samples, n, ro, out, error)) return false;
  for (size_t v = 0; v < lowered.values.size(); ++v) {
    auto it = out->activation_params.find(lowered.values[v].name);
    if (it != out->activation_params.end() && ranges->params[v]) ranges->params[v] = it->second;
  }
  return true;
}

}  // namespace

bool bind_open_input_sizes(const Graph& float_graph, const SampleSource& source, Graph* out, std::string* note,
                           std::string* error) {
  note->clear();
  Graph g = float_graph;
  for (size_t i = 0; i < source.input_names().size() && i < g.inputs.size(); ++i) {
    int id = g.inputs[i];
    if (!source.input_names()[i].empty()) id = g.find_value(source.input_names()[i]);
    if (id < 0) continue;
    Value& v = g.values[id];
    const std::vector<int64_t> sample = source.sample_shape(i);
    if (v.shape.size() != sample.size() + 1) continue;
    bool open = false;
    for (size_t d = 1; d < v.shape.size(); ++d) open = open || v.shape[d] == kSymbolicDim;
    if (!open) continue;
    std::string sizes;
    for (size_t d = 1; d < v.shape.size(); ++d) {
      v.shape[d] = sample[d - 1];
      if (d > 1) sizes += 'x';
      sizes += std::to_string(sample[d - 1]);
    }
    if (!note->empty()) *note += "; ";
    *note += "input '";
    *note += v.name;
    *note += "' has open sizes, bound to ";
    *note += sizes;
    *note += " (the data's)";
  }
  if (note->empty()) {
    *out = std::move(g);
    return true;
  }
  auto m = Model::create(std::move(g), error);
  if (!m) return false;
  *out = m->logical_graph();
  return true;
}

bool quantize_graph(const Graph& unbound_graph, SampleSource& source, const QuantizeOptions& options,
                    QuantizeResult* out, std::string* error) {
  Graph float_graph;
  std::string bound;
  if (!bind_open_input_sizes(unbound_graph, source, &float_graph, &bound, error)) return false;
  Graph lowered;
  if (!lower_for_quantization(float_graph, options.overrides, &lowered, error)) return false;
  Plan plan;
  if (!make_plan(lowered, options, &plan, error)) return false;
  ObservedRanges ranges;
  if (!observe_activations(lowered, plan, source, options, &ranges, error)) return false;
  QuantizeResult r;
  recon::GraphReconResult learned;
  if (options.reconstruction) {
    if (!reconstruct(lowered, plan, source, options, &ranges, &learned, error)) return false;
    r.units = learned.units;
    r.reconstruction_output_mse = learned.output_mse;
  }
  if (!freeze_q_graph(lowered, plan, ranges, options, &r.q, error, options.reconstruction ? &learned : nullptr)) {
    return false;
  }
  if (options.pack_blobs && !attach_blobs(options, &r.q, error)) return false;
  std::string isas;
  for (const std::string& i : options.pack_isas) isas += (isas.empty() ? "" : ",") + i;
  r.settings["quantize.packed_isas"] = !options.pack_blobs ? "none" : isas.empty() ? "host" : isas;
  r.layers = plan.layers;
  r.settings["quantize.activation_method"] = range_method_name(options.activation_method);
  r.settings["quantize.weight_method"] = options.weights.method == WeightRangeMethod::mse ? "mse" : "absmax";
  r.settings["quantize.wbits"] = std::to_string(options.wbits);
  r.settings["quantize.abits"] = std::to_string(options.abits);
  r.settings["quantize.first_last_8bit"] = options.first_last_8bit ? "true" : "false";
  r.settings["quantize.samples"] = std::to_string(ranges.samples);
  r.settings["quantize.batch"] = std::to_string(options.batch);
  r.settings["quantize.seed"] = std::to_string(options.seed);
  r.settings["quantize.overrides"] = std::to_string(options.overrides.size());
  if (!bound.empty()) r.settings["quantize.bound_sizes"] = bound;
  if (const auto& rc = options.reconstruction) {
    r.settings["recon.granularity"] = recon::granularity_name(rc->granularity);
    r.settings["recon.iters"] = std::to_string(rc->recon.iters);
    r.settings["recon.batch"] = std::to_string(rc->recon.batch);
    r.settings["recon.lr"] = std::to_string(rc->recon.lr_adaround);
    r.settings["recon.lr_scale"] = std::to_string(rc->recon.lr_scale);
    r.settings["recon.lambda"] = std::to_string(rc->recon.lambda);
    r.settings["recon.drop_prob"] = std::to_string(rc->recon.drop_prob);
    r.settings["recon.qdrop"] = rc->qdrop ? "true" : "false";
    r.settings["recon.drop_until"] = std::to_string(rc->recon.drop_until);
    r.settings["recon.loss"] = rc->fisher ? "fisher" : "mse";
  }
  if (options.activation_method == RangeMethod::percentile) {
    r.settings["quantize.percentile"] = std::to_string(options.observer.percentile);
  }
  *out = std::move(r);
  return true;
}

bool describe_reconstruction_units(const Graph& float_graph, const QuantizeOptions& options, std::string* listing,
                                   size_t* count, std::string* error) {
  if (!options.reconstruction) {
    *error = "no reconstruction method chosen";
    return false;
  }
  Graph lowered;
  if (!lower_for_quantization(float_graph, options.overrides, &lowered, error)) return false;
  Plan plan;
  if (!make_plan(lowered, options, &plan, error)) return false;
  const recon::GraphReconOptions ro = recon_options(lowered, plan, options);
  recon::UnitContext ctx;
  ctx.keep = ro.keep_float;
  std::vector<recon::ReconUnit> units;
  if (!recon::list_units(lowered, ro.granularity, &units, error, &ctx)) return false;
  *listing = recon::describe_units(lowered, units);
  *count = units.size();
  return true;
}

}  // namespace kiln::calib
