// The reference variant: qops.h's scalar functions, one element at a time.
#include <algorithm>

#include "q/q_variants.h"

namespace kiln::kernels::q::detail {
namespace {

void quantize_ref(const float* x, uint8_t* y, size_t n, float scale, const QOut& o) {
  for (size_t i = 0; i < n; ++i) y[i] = q_quantize(x[i], scale, o);
}
void dequantize_ref(const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale) {
  for (size_t i = 0; i < n; ++i) y[i] = q_dequantize(x[i], zero_point, scale);
}
void requantize_ref(const uint8_t* x, uint8_t* y, size_t n, int32_t zi, float m, const QOut& o) {
  for (size_t i = 0; i < n; ++i) y[i] = q_requantize(x[i], zi, m, o);
}
void lut_ref(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table) {
  for (size_t i = 0; i < n; ++i) y[i] = table[x[i]];
}
void add_ref(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const AddParams& p) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = q_add(a[i * as], p.a_zero_point, p.a_multiplier, b[i * bs], p.b_zero_point, p.b_multiplier, p.out);
  }
}
void mul_ref(const uint8_t* a, size_t as, const uint8_t* b, size_t bs, uint8_t* y, size_t n, const MulParams& p) {
  for (size_t i = 0; i < n; ++i) y[i] = q_mul(a[i * as], p.a_zero_point, b[i * bs], p.b_zero_point, p.multiplier, p.out);
}
void max_taps_ref(uint8_t* y, const uint8_t* const* x, size_t taps, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint8_t m = x[0][i];
    for (size_t t = 1; t < taps; ++t) m = std::max(m, x[t][i]);
    y[i] = m;
  }
}
void sum_row_ref(int32_t* acc, const uint8_t* x, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += x[i];
}
void avg_finish_ref(const int32_t* sum, uint8_t* y, size_t n, int32_t sub, float wm, const QOut& o) {
  for (size_t i = 0; i < n; ++i) y[i] = q_avg(sum[i] - sub, wm, o);
}

}  // namespace

const Variant& ref_variant() {
  static const Variant v{"ref",        quantize_ref, dequantize_ref, requantize_ref, lut_ref,
                         add_ref,      mul_ref,      max_taps_ref,    sum_row_ref,    avg_finish_ref};
  return v;
}

}  // namespace kiln::kernels::q::detail
