// Quantized pooling over NHWC uint8 tensors ([batch, h, w, channels]): max pool (codes compared,
// padding never wins), average pool (count_include_pad either way) and global average pool, each
// qops.h's spec (q_avg with q_avg_multiplier(multiplier, count)). Geometry is the fp32 pooling's
// Pool2dParams (ONNX semantics, ceil_mode included). `isa` picks the variant as in elementwise.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/kernels/f32/pool.h"
#include "kiln/kernels/isa.h"
#include "kiln/kernels/parallel.h"
#include "kiln/kernels/qops.h"

namespace kiln::kernels::q {

// A window that covers padding only (impossible with valid ONNX pads) yields code 0.
std::string max_pool(Isa isa, const f32::Pool2dParams& p, const uint8_t* x, uint8_t* y, TaskRunner* runner);

// sum = sum over the window of (x - zero_point_in); count as ONNX AveragePool (dilations must be 1);
// y = q_avg(sum, q_avg_multiplier(multiplier, count), o).
std::string avg_pool(Isa isa, const f32::Pool2dParams& p, const uint8_t* x, uint8_t* y, int32_t zero_point_in,
                     float multiplier, const QOut& o, TaskRunner* runner);

// y[b, c] = q_avg(sum over hw of (x[b, ., c] - zero_point_in), q_avg_multiplier(multiplier, hw), o).
// hw must be at most 2^23 (the int32 sum cannot overflow).
std::string global_avg_pool(Isa isa, const uint8_t* x, uint8_t* y, size_t batch, size_t hw, size_t channels,
                            int32_t zero_point_in, float multiplier, const QOut& o, TaskRunner* runner);

}  // namespace kiln::kernels::q
