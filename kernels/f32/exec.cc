// The choice of fp32 kernels: the default ISA, fallbacks, and the per-ISA kernel tables.
#include "f32/f32_kernels.h"
#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {
namespace {

bool compiled(Isa isa) {
  for (Isa c : compiled_isas()) {
    if (c == isa) return true;
  }
  return false;
}

bool runnable(Isa isa) { return compiled(isa) && cpu_supports(isa); }

}  // namespace

Isa usable_isa(Isa isa) {
  switch (isa) {
    case Isa::avx512vnni:
      if (runnable(Isa::avx512vnni)) return Isa::avx512vnni;
      [[fallthrough]];
    case Isa::avx2:
      return runnable(Isa::avx2) ? Isa::avx2 : Isa::ref;
    case Isa::i8mm:
      if (runnable(Isa::i8mm)) return Isa::i8mm;
      [[fallthrough]];
    case Isa::neondot:
      return runnable(Isa::neondot) ? Isa::neondot : Isa::ref;
    case Isa::ref:
      return Isa::ref;
  }
  return Isa::ref;
}

Isa default_isa() {
  static const Isa isa = [] {
    const IsaChoice choice = choose_isa();
    return choice.ok ? usable_isa(choice.isa) : Isa::ref;
  }();
  return isa;
}

namespace detail {

const F32Kernels& kernels_for(Isa isa) {
  switch (usable_isa(isa)) {
#if defined(KILN_HAVE_AVX512VNNI)
    case Isa::avx512vnni: return kernels_avx512();
#endif
#if defined(KILN_HAVE_AVX2)
    case Isa::avx2: return kernels_avx2();
#endif
#if defined(KILN_HAVE_NEONDOT)
    case Isa::neondot:
    case Isa::i8mm: return kernels_neon();
#endif
    default: return kernels_ref();
  }
}

}  // namespace detail
}  // namespace kiln::kernels::f32
