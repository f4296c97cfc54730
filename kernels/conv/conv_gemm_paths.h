// The convolution paths that run on engineer A's GEMM / igemm micro-kernels (internal to the driver).
#pragma once

#include <string>

#include "kiln/kernels/conv.h"

namespace kiln::kernels::conv_detail {

// Picks gemm_1x1, first_layer or igemm for a non-depthwise shape and packs its weights; returns
// false (and leaves cv alone) when this ISA and bit width have no GEMM configuration.
bool pack_gemm_path(PackedConv& cv, const int8_t* weights, const int32_t* bias, std::string* error);

std::string run_gemm_1x1(PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                         TaskRunner* runner);
std::string run_igemm(PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                      TaskRunner* runner);
std::string run_first_layer(PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                            TaskRunner* runner);

}  // namespace kiln::kernels::conv_detail
