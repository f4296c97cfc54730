// The per-ISA row primitives behind kiln/kernels/q/*.h (kernels-internal). Every variant computes
// exactly qops.h's scalar functions; the drivers (q_elementwise.cc, q_pool.cc) pick one by ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/q/elementwise.h"

namespace kiln::kernels::q::detail {

struct Variant {
  const char* name;
  void (*quantize)(const float* x, uint8_t* y, size_t n, float scale, const QOut& o);
  void (*dequantize)(const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale);
  void (*requantize)(const uint8_t* x, uint8_t* y, size_t n, int32_t zero_point_in, float multiplier, const QOut& o);
  void (*lut)(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* table);
  void (*add)(const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
              const AddParams& p);
  void (*mul)(const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
              const MulParams& p);
  // y[c] = max over t < taps of x[t][c] (taps >= 1): a max-pool window in one call
  void (*max_taps)(uint8_t* y, const uint8_t* const* x, size_t taps, size_t n);
  // acc[c] += x[c]
  void (*sum_row)(int32_t* acc, const uint8_t* x, size_t n);
  // y[c] = q_avg(sum[c] - sub, window_multiplier, o)
  void (*avg_finish)(const int32_t* sum, uint8_t* y, size_t n, int32_t sub, float window_multiplier, const QOut& o);
};

const Variant& ref_variant();
const Variant* avx2_variant();  // null when this build has no AVX2 code
const Variant* neon_variant();  // null when this build has no NEON code
// The variant for `isa`: AVX2 for avx2/avx512vnni, NEON for neondot/i8mm, else the reference.
const Variant& variant_for(Isa isa);

}  // namespace kiln::kernels::q::detail
