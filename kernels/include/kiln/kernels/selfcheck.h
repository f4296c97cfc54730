// A quick check that every ISA path this CPU can run computes what the reference computes.
#pragma once

#include <string>
#include <vector>

#include "kiln/kernels/isa.h"

namespace kiln::kernels {

struct SelfCheckResult {
  Isa isa = Isa::ref;
  bool ok = false;
  std::string detail;  // what was compared, or the first mismatch
};

// Runs each compiled ISA that the CPU supports on edge-case operands against the reference.
std::vector<SelfCheckResult> run_selfcheck();

}  // namespace kiln::kernels
