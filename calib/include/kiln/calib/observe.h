// Activation ranges of a lowered Float' graph (plan.h): the graph runs on the float runtime over the
// calibration samples in batches, a Session value observer feeding one ActivationObserver per
// planned value. Memory holds one batch of samples and the observers' statistics.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kiln/calib/data/sample_source.h"
#include "kiln/calib/plan.h"
#include "kiln/calib/quant_params.h"
#include "kiln/calib/quantize.h"
#include "kiln/runtime/graph.h"

namespace kiln::calib {

struct ObservedRanges {
  std::vector<std::optional<QuantParams>> params;  // per value of the lowered graph (observed ones)
  size_t samples = 0;                              // samples actually run
};

// Reads up to options.samples samples (rewinding `source` first). The batch is options.batch, or the
// model's static batch dimension when it has one. Errors name the sample or the value.
bool observe_activations(const Graph& lowered, const Plan& plan, SampleSource& source, const QuantizeOptions& options,
                         ObservedRanges* out, std::string* error);

}  // namespace kiln::calib
