#include "conv_plan.h"

#include <algorithm>
#include <string_view>

#include "kiln/kernels/dwconv.h"

namespace kiln::kernels::conv_detail {
namespace {

size_t round_up64(size_t n) { return (n + 63) / 64 * 64; }

uint32_t fnv1a(uint32_t h, std::string_view text) {
  for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

uint32_t kernel_id(std::string_view a, std::string_view b = {}) {
  return fnv1a(fnv1a(fnv1a(2166136261u, a), "/"), b);
}

std::string_view dwconv_kernel_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "dwconv__ref";
    case Isa::avx2: return "dwconv_c32__avx2";
    case Isa::avx512vnni: return "dwconv_c64__avx512vnni";
    case Isa::neondot:
    case Isa::i8mm: return "dwconv_c16__neondot";
  }
  return "";
}

// The dedicated first-layer kernel of an ISA, if this build has one.
void choose_first_kernel(Isa isa, ConvPlan* plan) {
  (void)isa;
  (void)plan;
#if defined(KILN_HAVE_AVX2)
  if (isa == Isa::avx2) {
    plan->first_kernel = conv_first_2x32c4__avx2, plan->first_mr = 2;
    plan->first_layout = ConvFirstLayout::int16pair32;
    plan->kernel_id = kernel_id("conv_first_2x32c4__avx2");
  }
#endif
#if defined(KILN_HAVE_AVX512VNNI)
  if (isa == Isa::avx512vnni) {
    plan->first_kernel = conv_first_6x64c4__avx512vnni, plan->first_mr = 6;
    plan->first_layout = ConvFirstLayout::kgroup64;
    plan->kernel_id = kernel_id("conv_first_6x64c4__avx512vnni");
  }
#endif
}

}  // namespace

bool isa_runs(Isa isa) {
  bool compiled = false;
  for (Isa c : compiled_isas()) compiled = compiled || c == isa;
  return compiled && cpu_supports(isa);
}

std::string make_conv_plan(const ConvShape& s, Isa isa, int weight_bits, ConvPlan* plan) {
  std::string error = conv_shape_error(s);
  if (!error.empty()) return error;
  if (weight_bits != 8 && weight_bits != 4) return "weights must be 8-bit or 4-bit";
  if (!isa_runs(isa)) return "this build or CPU cannot run " + std::string(isa_name(isa)) + " kernels";
  ConvPlan pl;
  const size_t taps = static_cast<size_t>(s.taps()), gic = static_cast<size_t>(s.group_in_c());
  const size_t goc = static_cast<size_t>(s.group_out_c()), oc = static_cast<size_t>(s.out_c);
  const GemmConfig* cfg = gemm_config(isa, weight_bits);
  const bool has_gemm = cfg != nullptr && cfg->gemm != nullptr && cfg->igemm != nullptr;
  if (s.is_depthwise()) {
    pl.path = ConvPath::depthwise;
    const bool rows = dwconv_row_mode(isa, static_cast<size_t>(s.kernel_h), static_cast<size_t>(s.kernel_w),
                                     static_cast<size_t>(s.stride_w));
    pl.dw_row_kernel_w = rows ? static_cast<size_t>(s.kernel_w) : 0;
    pl.kernel_id = kernel_id(dwconv_kernel_name(isa), rows ? "rows" : "");
    pl.size[kPacked] = dwconv_packed_size(isa, oc, taps, pl.dw_row_kernel_w);
  } else if (has_gemm) {
    if (s.groups == 1 && s.kernel_h == 1 && s.kernel_w == 1) {
      pl.path = ConvPath::gemm_1x1;
      pl.ks = 1, pl.kc = gic;
    } else if (s.groups == 1 && s.in_c <= 4 && s.kernel_w > 1) {
      pl.path = ConvPath::first_layer;
      pl.ks = static_cast<size_t>(s.kernel_h), pl.kc = static_cast<size_t>(s.kernel_w) * gic;
      choose_first_kernel(isa, &pl);
    } else {
      pl.path = ConvPath::igemm;
      pl.ks = taps, pl.kc = gic;
    }
    if (pl.first_kernel != nullptr) {
      pl.size[kPacked] = conv_first_packed_size(pl.first_layout, goc, pl.ks, pl.kc);
    } else {
      pl.gemm = cfg;
      // The GEMM packed bytes are identified by the config's fields (conv_blob.h), not its kernel
      // names: any mr, any micro-kernel of the config reads them.
      pl.kernel_id = kernel_id("gemm_packed_weights");
      pl.group_bytes = packed_gemm_size(*cfg, goc, pl.ks, pl.kc);
      pl.group_stride = round_up64(pl.group_bytes);
      pl.size[kGroupWeights] = pl.group_stride * static_cast<size_t>(s.groups);
    }
  } else {
    pl.path = ConvPath::reference;
    pl.kernel_id = kernel_id("conv_ref");
    pl.size[kRefWeights] = oc * taps * gic;
    pl.size[kRefBias] = oc * sizeof(int32_t);
  }
  // The zero row covers one input pixel and one reduction segment, plus slack for vector reads.
  pl.size[kZeroRow] = std::max(static_cast<size_t>(s.in_c), pl.kc) + 64;
  pl.size[kMultipliers] = oc * sizeof(float);
  size_t at = kConvBlobHeaderBytes;
  for (size_t i = 0; i < kSectionCount; ++i) {
    pl.offset[i] = at;
    at = round_up64(at + pl.size[i]);
  }
  pl.total = at;
  *plan = pl;
  return {};
}

}  // namespace kiln::kernels::conv_detail
