// Quantized element-wise kernels over plain uint8 buffers: quantize, dequantize, requantize, lookup
// tables, add and mul with broadcasting along one contiguous run. Each is qops.h's scalar function
// applied per element; the SIMD variants (AVX2 for the x86 ISAs, NEON for the Arm ones) reproduce
// it bit for bit. `isa` picks the variant (Isa::ref: the scalar reference).
//
// Preconditions (the runtime checks them before calling): 0 <= qmin <= qmax <= 255 and the zero
// points in [0, 255], so every result code fits a byte without wrapping.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/isa.h"
#include "kiln/kernels/qops.h"

namespace kiln::kernels::q {

// y[i] = q_quantize(x[i], scale, o)
void quantize(Isa isa, const float* x, uint8_t* y, size_t n, float scale, const QOut& o);
// y[i] = q_dequantize(x[i], zero_point, scale)
void dequantize(Isa isa, const uint8_t* x, float* y, size_t n, int32_t zero_point, float scale);
// y[i] = q_requantize(x[i], zero_point_in, multiplier, o)
void requantize(Isa isa, const uint8_t* x, uint8_t* y, size_t n, int32_t zero_point_in, float multiplier,
                const QOut& o);
// y[i] = table[x[i]]
void lut(Isa isa, const uint8_t* x, uint8_t* y, size_t n, const uint8_t table[256]);

struct AddParams {
  int32_t a_zero_point = 0;
  float a_multiplier = 1.0f;
  int32_t b_zero_point = 0;
  float b_multiplier = 1.0f;
  QOut out;
};
struct MulParams {
  int32_t a_zero_point = 0;
  int32_t b_zero_point = 0;
  float multiplier = 1.0f;
  QOut out;
};

// One contiguous run of a broadcast: y[i] = q_add(a[i * a_step], b[i * b_step]) for i < n, where
// each step is 0 (a broadcast scalar) or 1.
void add(Isa isa, const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
         const AddParams& p);
// y[i] = q_mul(a[i * a_step], b[i * b_step]), steps 0 or 1.
void mul(Isa isa, const uint8_t* a, size_t a_step, const uint8_t* b, size_t b_step, uint8_t* y, size_t n,
         const MulParams& p);

// The variant `isa` runs on ("ref", "avx2", "neon"): for tests and benchmarks.
const char* variant_name(Isa isa);

}  // namespace kiln::kernels::q
