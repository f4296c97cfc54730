// A kept reconstruction unit (units.h): nodes no block can learn, run on the float runtime as a
// small sub-model of their own. Reconstruction runs it twice per unit: as the float network, and
// as the quantized one, where every value the plan quantizes is fake-quantized with its observed
// parameters (what the Q graph's integer ops compute, up to rounding of the float ops; a value Q
// keeps float is fake-quantized only where an integer op reads it) and every quantized layer's
// weights are nearest-rounded per channel and its bias rounded to freeze's int32 codes of
// s_in * s_w (what freeze gives a layer that is not reconstructed). Values cross the unit's boundary in reconstruction layout: [n, H, W, C] for
// images, the logical order otherwise.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kiln/calib/quant_params.h"
#include "kiln/calib/recon/units.h"
#include "kiln/calib/weight_quant.h"
#include "kiln/runtime/model.h"

namespace kiln::calib::recon {

struct KeptUnitOptions {
  int threads = 1;
  size_t batch = 64;                                 // samples per run (a static model batch wins)
  std::map<std::string, QuantParams> value_params;   // quantized values (by name) and their parameters
  std::map<std::string, int> layer_wbits;            // quantized layers (by node name) and their weight bits
  WeightQuantOptions weights;                        // how their weights are rounded (bits from layer_wbits)
  const std::set<std::string>* code_moving = nullptr;  // see code_source (units.h)
  // The plan's values the Q graph holds as floats (graph inputs, float islands' outputs) and the
  // nodes that read floats (float islands). Null: every value is held as codes, every node reads them.
  const std::set<std::string>* float_values = nullptr;
  const std::set<std::string>* float_readers = nullptr;
};

class KeptUnit {
 public:
  KeptUnit();
  ~KeptUnit();
  KeptUnit(const KeptUnit&) = delete;
  KeptUnit& operator=(const KeptUnit&) = delete;

  std::string init(const Graph& g, const ReconUnit& unit, const UnitContext& context, const KeptUnitOptions& options);
  // inputs[i]: n samples of unit.inputs[i]; outputs[k] receives n samples of unit.outputs[k].
  std::string run(bool quantized, const std::vector<const std::vector<float>*>& inputs, size_t n,
                  std::vector<std::vector<float>*>& outputs);

 private:
  struct Side;
  std::unique_ptr<Side> float_, quant_;
  std::vector<Shape> in_shapes_;   // per input: the sample shape
  std::vector<Shape> out_shapes_;  // per output: the sample shape
  size_t static_batch_ = 0;        // > 0: every run has exactly this batch
  size_t batch_ = 64;
};

}  // namespace kiln::calib::recon
