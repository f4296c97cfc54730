#include <cstdio>
#include <string>

#include "command.h"
#include "kiln/kernels/isa.h"
#include "kiln/kernels/selfcheck.h"

namespace kiln::cli {

int run_selfcheck(int argc, char** argv) {
  if (argc > 1) {
    if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::printf("usage: kiln selfcheck\n\nRuns every kernel path this CPU supports on edge-case\n"
                  "operands and compares it with the scalar reference, exactly.\n");
      return 0;
    }
    return fail(std::string("unknown option '") + argv[1] + "'", "kiln selfcheck");
  }
  bool all_ok = true;
  for (const kernels::SelfCheckResult& r : kernels::run_selfcheck()) {
    std::printf("%-11s %s  %s\n", std::string(kernels::isa_name(r.isa)).c_str(), r.ok ? "ok  " : "FAIL",
                r.detail.c_str());
    all_ok = all_ok && r.ok;
  }
  if (!all_ok) return fail("a kernel path disagrees with the reference");
  return 0;
}

}  // namespace kiln::cli
