#include "kiln/kernels/dot.h"

namespace kiln::kernels {

DotU8S8Fn dot_u8s8_for(Isa isa) {
  switch (isa) {
    case Isa::ref: return dot_u8s8__ref;
#if defined(KILN_HAVE_AVX2)
    case Isa::avx2: return dot_u8s8__avx2;
#endif
#if defined(KILN_HAVE_AVX512VNNI)
    case Isa::avx512vnni: return dot_u8s8__avx512vnni;
#endif
#if defined(KILN_HAVE_NEONDOT)
    case Isa::neondot: return dot_u8s8__neondot;
#endif
#if defined(KILN_HAVE_I8MM)
    case Isa::i8mm: return dot_u8s8__i8mm;
#endif
    default: return nullptr;
  }
}

}  // namespace kiln::kernels
