// Dispatch of the quantized element-wise kernels (elementwise.h) to the per-ISA variants.
#include "kiln/kernels/q/elementwise.h"

#include "kiln/kernels/isa.h"
#include "q/q_variants.h"

namespace kiln::kernels::q {
namespace detail {

#if !defined(KILN_HAVE_AVX2)
const Variant* avx2_variant() { return nullptr; }
#endif
#if !defined(KILN_HAVE_NEONDOT)
const Variant* neon_variant() { return nullptr; }
#endif

const Variant& variant_for(Isa isa) {
  const Variant* v = nullptr;
  switch (isa) {
    case Isa::avx2:
    case Isa::avx512vnni:
      // The AVX2 code needs only AVX2 (every AVX-512 CPU has it; the emulated lane runs on AVX2).
      if (cpu_supports(Isa::avx2)) v = avx2_variant();
      break;
    case Isa::neondot:
    case Isa::i8mm:
      v = neon_variant();  // plain NEON: the aarch64 baseline
      break;
    case Isa::ref:
      break;
  }
  return v ? *v : ref_variant();
}

}  // namespace detail

void quantize(Isa isa, const float* x, uint8_t* y, size_t n, float scale, const QOut& o) {
  detail::variant_for(isa).quantize(x, y, n, scale, o);
}
void dequantize(Isa isa, const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale) {
  detail::variant_for(isa).dequantize(x, y, n, zero_point, scale);
}
void requantize(Isa isa, const uint8_t* x, uint8_t* y, size_t n, int32_t zero_point_in, float multiplier,
                const QOut& o) {
  detail::variant_for(isa).requantize(x, y, n, zero_point_in, multiplier, o);
}
void lut(Isa isa, const uint8_t* x, uint8_t* y, size_t n, const uint8_t table[256]) {
  detail::variant_for(isa).lut(x, y, n, table);
}
void add(Isa isa, const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
         const AddParams& p) {
  detail::variant_for(isa).add(a, a_step, b, b_step, y, n, p);
}
void mul(Isa isa, const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
         const MulParams& p) {
  detail::variant_for(isa).mul(a, a_step, b, b_step, y, n, p);
}
const char* variant_name(Isa isa) { return detail::variant_for(isa).name; }

}  // namespace kiln::kernels::q
