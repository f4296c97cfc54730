#include "kiln/kernels/dwconv.h"

namespace kiln::kernels {

DwConvFn dwconv_for(Isa isa) {
  switch (isa) {
    case Isa::ref: return dwconv__ref;
#if defined(KILN_HAVE_AVX2)
    case Isa::avx2: return dwconv_c32__avx2;
#endif
#if defined(KILN_HAVE_AVX512VNNI)
    case Isa::avx512vnni: return dwconv_c64__avx512vnni;
#endif
#if defined(KILN_HAVE_NEONDOT)
    case Isa::neondot:
    case Isa::i8mm: return dwconv_c16__neondot;
#endif
    default: return nullptr;
  }
}

}  // namespace kiln::kernels
