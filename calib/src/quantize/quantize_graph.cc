#include <string>

#include "kiln/calib/freeze.h"
#include "kiln/calib/observe.h"
#include "kiln/calib/plan.h"
#include "kiln/calib/quantize.h"
#include "kiln/kernels/isa.h"
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
        *error = "packing " + std::string(kernels::isa_name(isa)) + " blobs: " + e + " (" + q->nodes[i].label() + ")";
        return false;
      }
    }
    if (options.progress) options.progress("pack", ++done, total);
  }
  return true;
}

}  // namespace

bool quantize_graph(const Graph& float_graph, SampleSource& source, const QuantizeOptions& options,
                    QuantizeResult* out, std::string* error) {
  Graph lowered;
  if (!lower_for_quantization(float_graph, options.overrides, &lowered, error)) return false;
  Plan plan;
  if (!make_plan(lowered, options, &plan, error)) return false;
  ObservedRanges ranges;
  if (!observe_activations(lowered, plan, source, options, &ranges, error)) return false;
  QuantizeResult r;
  if (!freeze_q_graph(lowered, plan, ranges, options, &r.q, error)) return false;
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
  if (options.activation_method == RangeMethod::percentile) {
    r.settings["quantize.percentile"] = std::to_string(options.observer.percentile);
  }
  *out = std::move(r);
  return true;
}

}  // namespace kiln::calib
