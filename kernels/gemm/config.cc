// The per-ISA GEMM configuration table: tile sizes, packing and micro-kernels as plain data.
#include "gemm/ukernels.h"
#include "kiln/kernels/gemm.h"

namespace kiln::kernels {
namespace {

GemmConfig make(Isa isa, int wbits, size_t mr, size_t nr, size_t kr, GemmPackLayout layout, int32_t wsum_factor,
                const char* gemm_name, const char* igemm_name, GemmUkernelFn gemm, IgemmUkernelFn igemm) {
  GemmConfig c;
  c.isa = isa;
  c.wbits = wbits;
  c.mr = mr;
  c.nr = nr;
  c.kr = kr;
  c.k_align = wbits == 4 ? 2 * kr : kr;
  c.layout = layout;
  c.bias_wsum_factor = wsum_factor;
  c.gemm_name = gemm_name;
  c.igemm_name = igemm_name;
  c.gemm = gemm;
  c.igemm = igemm;
  return c;
}

[[maybe_unused]] GemmConfig with_packed_a(GemmConfig c, GemmPackARowFn pack, GemmPackedUkernelFn gemm,
                                          const char* gemm_name, size_t row_align) {
  c.pack_a_row = pack;
  c.gemm_packed_a = gemm;
  c.gemm_packed_a_name = gemm_name;
  c.a_row_align = row_align;
  return c;
}

[[maybe_unused]] GemmConfig with_wide_b(GemmConfig c, GemmWidenBlockFn widen, GemmWideBytesFn bytes,
                                       GemmWideUkernelFn gemm, const char* gemm_name, IgemmWideUkernelFn igemm,
                                       const char* igemm_name) {
  c.widen_block = widen;
  c.wide_block_bytes = bytes;
  c.gemm_wide = gemm;
  c.gemm_wide_name = gemm_name;
  c.igemm_wide = igemm;
  c.igemm_wide_name = igemm_name;
  return c;
}

[[maybe_unused]] GemmConfig with_k_align(GemmConfig c, size_t k_align) {
  c.k_align = k_align;
  return c;
}

#define KILN_GEMM_CONFIG(isa, wbits, mr, nr, kr, layout, factor, gemm_fn, igemm_fn) \
  make(isa, wbits, mr, nr, kr, layout, factor, #gemm_fn, #igemm_fn, gemm_fn, igemm_fn)

const GemmConfig kRef8 = KILN_GEMM_CONFIG(Isa::ref, 8, 4, 8, 4, GemmPackLayout::kgroup, 0,
                                          gemm_u8s8_4x8c4__ref, igemm_u8s8_4x8c4__ref);
const GemmConfig kRef4 = KILN_GEMM_CONFIG(Isa::ref, 4, 4, 8, 4, GemmPackLayout::kgroup, 0,
                                          gemm_u8s4_4x8c4__ref, igemm_u8s4_4x8c4__ref);
#if defined(KILN_HAVE_AVX2)
// int8: exact through int16 pairs and vpmaddwd (see the kernel), A widened once per GEMM by the
// packed-A path; int4: vpmaddubsw, which cannot saturate with |w| <= 8, on B widened to int8 once
// per block and task when the task has several row tiles.
const GemmConfig kAvx2_8 = with_packed_a(KILN_GEMM_CONFIG(Isa::avx2, 8, 6, 16, 4, GemmPackLayout::avx2_int16pair, 0,
                                                          gemm_u8s8_6x16c4__avx2, igemm_u8s8_6x16c4__avx2),
                                         pack_a_u8_c4__avx2, gemm_pa_u8s8_6x16c4__avx2, "gemm_pa_u8s8_6x16c4__avx2", 16);
const GemmConfig kAvx2_4 =
    with_wide_b(KILN_GEMM_CONFIG(Isa::avx2, 4, 4, 16, 4, GemmPackLayout::kgroup, 0, gemm_u8s4_4x16c4__avx2,
                                 igemm_u8s4_4x16c4__avx2),
                gemm_widen_block_u8s4__avx2, gemm_wide_block_bytes_u8s4__avx2, gemm_wide_u8s4_4x16c4__avx2,
                "gemm_wide_u8s4_4x16c4__avx2", igemm_wide_u8s4_4x16c4__avx2, "igemm_wide_u8s4_4x16c4__avx2");
#endif
#if defined(KILN_HAVE_AVX512VNNI)
const GemmConfig kVnni8 = KILN_GEMM_CONFIG(Isa::avx512vnni, 8, 8, 32, 4, GemmPackLayout::kgroup, 0,
                                           gemm_u8s8_8x32c4__avx512vnni, igemm_u8s8_8x32c4__avx512vnni);
const GemmConfig kVnni4 = KILN_GEMM_CONFIG(Isa::avx512vnni, 4, 8, 32, 4, GemmPackLayout::kgroup, 0,
                                           gemm_u8s4_8x32c4__avx512vnni, igemm_u8s4_8x32c4__avx512vnni);
#endif
#if defined(KILN_HAVE_NEONDOT)
// sdot is int8 x int8: A is fed as a ^ 0x80 = a - 128, and 128 * sum(w) goes into the bias.
// K is padded to 16: one 16-byte A load feeds four sdot-by-lane groups.
const GemmConfig kDot8 = with_k_align(KILN_GEMM_CONFIG(Isa::neondot, 8, 4, 16, 4, GemmPackLayout::kgroup, 128,
                                                       gemm_u8s8_4x16c4__neondot, igemm_u8s8_4x16c4__neondot), 16);
const GemmConfig kDot4 = with_k_align(KILN_GEMM_CONFIG(Isa::neondot, 4, 4, 16, 4, GemmPackLayout::kgroup, 128,
                                                       gemm_u8s4_4x16c4__neondot, igemm_u8s4_4x16c4__neondot), 16);
#endif
#if defined(KILN_HAVE_I8MM)
const GemmConfig kMm8 = KILN_GEMM_CONFIG(Isa::i8mm, 8, 4, 16, 8, GemmPackLayout::kgroup, 0,
                                         gemm_u8s8_4x16c8__i8mm, igemm_u8s8_4x16c8__i8mm);
const GemmConfig kMm4 = KILN_GEMM_CONFIG(Isa::i8mm, 4, 4, 16, 8, GemmPackLayout::kgroup, 0,
                                         gemm_u8s4_4x16c8__i8mm, igemm_u8s4_4x16c8__i8mm);
#endif

}  // namespace

const GemmConfig* gemm_config(Isa isa, int wbits) {
  if (wbits != 4 && wbits != 8) return nullptr;
  const bool w8 = wbits == 8;
  switch (isa) {
    case Isa::ref: return w8 ? &kRef8 : &kRef4;
#if defined(KILN_HAVE_AVX2)
    case Isa::avx2: return w8 ? &kAvx2_8 : &kAvx2_4;
#endif
#if defined(KILN_HAVE_AVX512VNNI)
    case Isa::avx512vnni: return w8 ? &kVnni8 : &kVnni4;
#endif
#if defined(KILN_HAVE_NEONDOT)
    case Isa::neondot: return w8 ? &kDot8 : &kDot4;
#endif
#if defined(KILN_HAVE_I8MM)
    case Isa::i8mm: return w8 ? &kMm8 : &kMm4;
#endif
    default: return nullptr;
  }
}

const GemmConfig* gemm_config_for_cpu(int wbits, std::string* error) {
  const IsaChoice choice = choose_isa();
  if (!choice.ok) {
    if (error) *error = choice.error;
    return nullptr;
  }
  const GemmConfig* c = gemm_config(choice.isa, wbits);
  if (c == nullptr && error) *error = "no GEMM kernels for wbits=" + std::to_string(wbits);
  return c;
}

GemmEpilogue make_gemm_epilogue(const RequantParams& p, GemmOutput output) {
  GemmEpilogue e;
  e.output = output;
  e.zero_point = p.zero_point;
  e.qmin = p.qmin;
  e.qmax = p.qmax;
  e.activation = p.activation;
  e.out_scale = p.out_scale;
  e.hardswish_multiplier = p.hardswish_multiplier;
  e.residual_zero_point = p.residual_zero_point;
  e.residual_multiplier = p.residual_multiplier;
  return e;
}

}  // namespace kiln::kernels
