#include "kiln/kernels/isa.h"

#include <array>
#include <cstdlib>

#include "kiln/kernels/cpu_features.h"

namespace kiln::kernels {
namespace {

constexpr std::array<Isa, 5> kAllIsas = {Isa::ref, Isa::avx2, Isa::avx512vnni, Isa::neondot, Isa::i8mm};

constexpr Isa kCompiled[] = {
#if defined(KILN_HAVE_AVX512VNNI)
    Isa::avx512vnni,
#endif
#if defined(KILN_HAVE_AVX2)
    Isa::avx2,
#endif
#if defined(KILN_HAVE_I8MM)
    Isa::i8mm,
#endif
#if defined(KILN_HAVE_NEONDOT)
    Isa::neondot,
#endif
    Isa::ref,
};

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::neondot: return "neondot";
    case Isa::i8mm: return "i8mm";
  }
  return "unknown";
}

bool parse_isa(std::string_view name, Isa* out) {
  for (Isa isa : kAllIsas) {
    if (isa_name(isa) == name) {
      *out = isa;
      return true;
    }
  }
  return false;
}

std::span<const Isa> compiled_isas() { return kCompiled; }

bool avx512_is_emulated() {
#if defined(KILN_AVX512_EMULATED)
  return true;
#else
  return false;
#endif
}

bool cpu_supports(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::ref: return true;
    case Isa::avx2: return f.avx2 && f.fma;
    case Isa::avx512vnni:
      if (avx512_is_emulated()) return f.avx2 && f.fma;
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
    case Isa::neondot: return f.dotprod;
    case Isa::i8mm: return f.dotprod && f.i8mm;
  }
  return false;
}

IsaChoice choose_isa(std::string_view forced) {
  IsaChoice choice;
  if (forced.empty()) {
    for (Isa isa : compiled_isas()) {
      if (cpu_supports(isa)) {
        choice.ok = true;
        choice.isa = isa;
        return choice;
      }
    }
    choice.error = "no compiled ISA runs on this CPU";  // unreachable: ref always runs
    return choice;
  }
  choice.forced = true;
  Isa isa;
  if (!parse_isa(forced, &isa)) {
    choice.error = "KILN_ISA=" + std::string(forced) +
                   " is not an ISA kiln knows (ref, avx2, avx512vnni, neondot, i8mm)";
    return choice;
  }
  bool compiled = false;
  for (Isa c : compiled_isas()) compiled = compiled || c == isa;
  if (!compiled) {
    choice.error = "KILN_ISA=" + std::string(forced) + ": this build of kiln has no " +
                   std::string(isa_name(isa)) + " kernels";
    return choice;
  }
  if (!cpu_supports(isa)) {
    choice.error = "KILN_ISA=" + std::string(forced) + ": this CPU cannot run " +
                   std::string(isa_name(isa)) + " kernels (CPU features: " +
                   cpu_features().to_string() + ")";
    return choice;
  }
  choice.ok = true;
  choice.isa = isa;
  return choice;
}

IsaChoice choose_isa() {
  const char* env = std::getenv("KILN_ISA");
  return choose_isa(env ? std::string_view(env) : std::string_view());
}

}  // namespace kiln::kernels
