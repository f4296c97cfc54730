#include <cstdio>
#include <cstring>
#include <string>

#include "command.h"
#include "kiln/kernels/cpu_features.h"
#include "kiln/kernels/isa.h"
#include "kiln/kiln.h"

namespace kiln::cli {

int run_info(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: kiln info\n\nPrints the kiln version, the kernel ISAs this build contains, the\n"
                  "CPU's features and the kernel path chosen (KILN_ISA overrides the choice).\n");
      return 0;
    }
    return fail(std::string("unknown option '") + argv[i] + "'", "kiln info");
  }
  using namespace kiln::kernels;
  std::string compiled;
  for (Isa isa : compiled_isas()) {
    if (!compiled.empty()) compiled += ' ';
    compiled += isa_name(isa);
    if (isa == Isa::avx512vnni && avx512_is_emulated()) compiled += "(emulated)";
  }
  std::printf("kiln %s\n", kiln_version());
  std::printf("compiled isas: %s\n", compiled.c_str());
  std::printf("cpu features:  %s\n", cpu_features().to_string().c_str());
  const IsaChoice choice = choose_isa();
  if (!choice.ok) return fail(choice.error);
  std::printf("kernel path:   %s%s\n", std::string(isa_name(choice.isa)).c_str(),
              choice.forced ? " (forced by KILN_ISA)" : "");
  return 0;
}

}  // namespace kiln::cli
