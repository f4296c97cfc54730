#include "kiln/calib/observe.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "kiln/calib/activation_observer.h"
#include "kiln/runtime/model.h"

namespace kiln::calib {

bool observe_activations(const Graph& lowered, const Plan& plan, SampleSource& source, const QuantizeOptions& options,
                         ObservedRanges* out, std::string* error) {
  std::string e;
  ModelOptions mo;
  mo.canonicalize = false;  // the lowered graph is run as it is, so that every planned value exists
  std::shared_ptr<const Model> model = Model::create(lowered, &e, mo);
  if (!model) {
    *error = "calibration model: " + e;
    return false;
  }
  if (lowered.inputs.empty()) {
    *error = "the model has no inputs";
    return false;
  }
  // Source inputs -> model inputs ("" names the model's only input).
  const std::vector<std::string>& names = source.input_names();
  std::vector<int> input_value(names.size(), -1);
  for (size_t i = 0; i < names.size(); ++i) {
    for (int v : lowered.inputs) {
      if (lowered.values[v].name == names[i] || (names[i].empty() && lowered.inputs.size() == 1)) input_value[i] = v;
    }
    if (input_value[i] < 0) {
      *error = "the data gives input '" + names[i] + "' but the model has no such input";
      return false;
    }
  }
  if (names.size() != lowered.inputs.size()) {
    *error = "the model has " + std::to_string(lowered.inputs.size()) + " inputs, the data gives " +
             std::to_string(names.size());
    return false;
  }
  const Shape& first = lowered.values[lowered.inputs[0]].shape;
  const int64_t static_batch = !first.empty() && first[0] > 0 ? first[0] : 0;
  const size_t batch = static_batch ? static_cast<size_t>(static_batch) : std::max<size_t>(1, options.batch);

  std::map<std::string, int> by_name;
  for (size_t v = 0; v < lowered.values.size(); ++v) by_name[lowered.values[v].name] = static_cast<int>(v);
  std::vector<std::unique_ptr<ActivationObserver>> observers(lowered.values.size());
  for (size_t v = 0; v < lowered.values.size(); ++v) {
    if (!plan.observe[v]) continue;
    ActivationObserverOptions o = options.observer;
    o.method = options.activation_method;
    o.bits = plan.value_bits[v];
    o.activation = plan.value_ahead[v];
    observers[v] = std::make_unique<ActivationObserver>(o);
  }
  Session session(model, options.threads);
  session.set_value_observer([&](int, const std::string& name, const Tensor& t) {
    auto it = by_name.find(name);
    if (it == by_name.end() || !observers[it->second] || t.dtype() != kiln::DType::f32) return;
    observers[it->second]->observe(t.data<float>(), t.elements());  // order does not matter: any layout
  });

  if (!source.rewind(&e)) {
    *error = e;
    return false;
  }
  const size_t total = std::min(options.samples, source.size());
  size_t done = 0;
  SampleBatch b;
  while (done < total) {
    const size_t want = static_batch ? batch : std::min(batch, total - done);
    if (!source.next(want, &b, &e)) {
      *error = e;
      return false;
    }
    if (b.count == 0) break;
    if (static_batch && b.count != batch) {
      if (done) break;  // a partial last batch cannot run on a fixed-batch model: dropped
      *error = "the model's batch is fixed at " + std::to_string(batch) + " but the data has only " +
               std::to_string(b.count) + " samples";
      return false;
    }
    if (b.inputs.size() != names.size()) {
      *error = "the data source gave " + std::to_string(b.inputs.size()) + " inputs, expected " +
               std::to_string(names.size());
      return false;
    }
    for (size_t i = 0; i < names.size(); ++i) {
      const FloatTensor& ft = b.inputs[i];
      Tensor t(kiln::DType::f32, Shape(ft.shape.begin(), ft.shape.end()));
      if (t.elements() != ft.data.size()) {
        *error = "sample batch for input '" + names[i] + "' has inconsistent size";
        return false;
      }
      std::memcpy(t.mutable_raw(), ft.data.data(), ft.data.size() * sizeof(float));
      if (e = session.set_input(lowered.values[input_value[i]].name, t); !e.empty()) {
        *error = e + (b.origins.empty() ? "" : " (sample " + b.origins[0] + ")");
        return false;
      }
    }
    if (e = session.run(); !e.empty()) {
      *error = "calibration run: " + e + (b.origins.empty() ? "" : " (batch from " + b.origins[0] + ")");
      return false;
    }
    done += b.count;
    if (options.progress) options.progress("observe", done, total);
  }
  if (done == 0) {
    *error = "no calibration samples";
    return false;
  }
  out->samples = done;
  out->params.assign(lowered.values.size(), std::nullopt);
  for (size_t v = 0; v < lowered.values.size(); ++v) {
    if (!observers[v] || observers[v]->empty()) continue;
    QuantParams qp;
    if (!observers[v]->params(&qp, &e)) {
      *error = "value '" + lowered.values[v].name + "': " + e;
      return false;
    }
    out->params[v] = qp;
  }
  return true;
}

}  // namespace kiln::calib
