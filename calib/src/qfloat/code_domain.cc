// Code-domain convolution and GEMM: the integer kernels' accumulation, computed in fp32 over
// integer-valued floats (exact while every partial sum stays below 2^24 in magnitude) on the
// runtime's f32 kernels. Reconstruction runs the same math with soft weight codes.
#include <cmath>
#include <limits>
#include <vector>

#include "kiln/calib/qfloat.h"

namespace kiln::calib {

namespace f32 = kernels::f32;

std::string CodeConv::prepare(const f32::Conv2dParams& p, const float* w_ohwi) {
  if (w_ohwi == nullptr) return "code conv: missing weights";
  if (p.groups == 0 || p.in_c % p.groups || p.out_c % p.groups) return "code conv: channels not divisible by groups";
  const size_t ig = p.in_c / p.groups, kh = p.kernel_h, kw = p.kernel_w;
  // ONNX order for the f32 packer: OHWI -> OIHW.
  std::vector<float> oihw(p.out_c * ig * kh * kw);
  for (size_t o = 0; o < p.out_c; ++o) {
    for (size_t y = 0; y < kh; ++y) {
      for (size_t x = 0; x < kw; ++x) {
        for (size_t i = 0; i < ig; ++i) oihw[((o * ig + i) * kh + y) * kw + x] = w_ohwi[((o * kh + y) * kw + x) * ig + i];
      }
    }
  }
  return f32::conv2d_pack(p, oihw.data(), nullptr, &packed_);
}

std::string CodeConv::accumulate(size_t batch, size_t in_h, size_t in_w, const float* x_codes, float x_zero_point,
                                 float* acc, kernels::TaskRunner* runner) const {
  if (packed_.empty()) return "code conv: not prepared";
  f32::Conv2dParams p = packed_.params;
  p.batch = batch;
  p.in_h = in_h;
  p.in_w = in_w;
  if (std::string e = p.validate(); !e.empty()) return e;
  // Centre the codes: padding then contributes exactly 0, like the integer kernel's code zx.
  const size_t n = batch * in_h * in_w * p.in_c;
  std::vector<float> centred(n);
  for (size_t i = 0; i < n; ++i) centred[i] = x_codes[i] - x_zero_point;
  return f32::conv2d(p, packed_, centred.data(), acc, f32::Activation::none(), runner, nullptr);
}

std::string CodeGemm::prepare(size_t k, size_t n, const float* w_nk) {
  if (w_nk == nullptr || k == 0 || n == 0) return "code gemm: empty weights";
  return f32::sgemm_pack_b(k, n, w_nk, k, /*b_transposed=*/true, &packed_);
}

void CodeGemm::accumulate(size_t m, const float* x_codes, float x_zero_point, float* acc,
                          kernels::TaskRunner* runner) const {
  const size_t k = packed_.k;
  std::vector<float> centred(m * k);
  for (size_t i = 0; i < m * k; ++i) centred[i] = x_codes[i] - x_zero_point;
  f32::sgemm_packed(m, centred.data(), k, false, packed_, nullptr, acc, packed_.n, f32::Activation::none(), runner);
}

int32_t code_accumulator(float acc, int32_t bias) {
  if (std::isnan(acc)) return bias;
  constexpr double lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  double v = std::nearbyint(static_cast<double>(acc)) + static_cast<double>(bias);
  v = v < lo ? lo : (v > hi ? hi : v);
  return static_cast<int32_t>(v);
}

}  // namespace kiln::calib
