// Per-layer overrides (quantize.h's load_overrides) parsed from text: a JSON object of objects, or
// the YAML subset `name: {float: true, wbits: 4, abits: 8}` (flow style) or the block form
//   name:
//     float: true
// Keys of a layer: float (or keep_float) true/false, wbits, abits (2..8).
#pragma once

#include <map>
#include <string>

#include "kiln/calib/quantize.h"

namespace kiln::calib {

bool parse_overrides(const std::string& text, std::map<std::string, LayerOverride>* out, std::string* error);

}  // namespace kiln::calib
