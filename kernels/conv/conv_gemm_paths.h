// The convolution paths that run on engineer A's GEMM / igemm micro-kernels, and the workspace
// bookkeeping every path shares (internal to the driver).
#pragma once

#include <string>

#include "conv_plan.h"
#include "kiln/kernels/conv.h"

namespace kiln::kernels::conv_detail {

// Writes the packed GEMM weights of every group (plan.gemm set) at `dst` (plan.size[kGroupWeights]
// bytes, 64-byte aligned), or the dedicated first-layer kernel's packing (plan.first_kernel set).
std::string pack_gemm_sections(const ConvShape& s, const ConvPlan& plan, const int8_t* weights, const int32_t* bias,
                               const float* multiplier, int32_t input_zero_point, uint8_t* packed,
                               uint8_t* group_weights);

// Whether ws's indirection buffer was built for this convolution, input address and mr; when not,
// records that it is about to be (the caller then builds it).
bool workspace_is_current(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, size_t mr);

std::string run_gemm_1x1(const PackedConv& cv, const uint8_t* input, uint8_t* output, const RequantParams& p,
                         TaskRunner* runner);
std::string run_igemm(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                      const RequantParams& p, TaskRunner* runner);
std::string run_first_layer(const PackedConv& cv, ConvWorkspace& ws, const uint8_t* input, uint8_t* output,
                            const RequantParams& p, TaskRunner* runner);

}  // namespace kiln::kernels::conv_detail
