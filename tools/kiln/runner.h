// One interface over the two ways a command runs a model: the runtime's Session (float models and
// the integer Q model) and QFloatSession (the calibration-time simulation of a .kiln's Q graph).
#pragma once

#include <memory>
#include <string>

#include "kiln/calib/qfloat.h"
#include "kiln/runtime/model.h"

namespace kiln::cli {

class Runner {
 public:
  virtual ~Runner() = default;
  virtual bool set_input(const std::string& name, const Tensor& t, std::string* error) = 0;
  virtual bool run(std::string* error) = 0;
  virtual const Tensor* output(const std::string& name) const = 0;
};

std::unique_ptr<Runner> make_session_runner(std::shared_ptr<const Model> model, int threads);
// QFloat over a Q graph; null with a message when the graph cannot be simulated.
std::unique_ptr<Runner> make_qfloat_runner(const Graph& q_graph, int threads, std::string* error);

}  // namespace kiln::cli
