// Softmax, layer normalisation and mean reduction over one axis. A tensor is viewed as
// [outer, n, inner] with the reduced axis in the middle; inner = 1 is the fast, contiguous case.
#pragma once

#include <cstddef>

#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {

// Numerically stable softmax over the middle axis: y = exp(x - max) / sum(exp(x - max)).
void softmax(const float* x, float* y, size_t outer, size_t n, size_t inner, const Exec& exec = {});

// Layer normalisation over the last `n` elements of each of `rows` rows (ONNX LayerNormalization
// with its axis folded so that the normalised axes are the trailing n):
//   y = (x - mean) / sqrt(var + epsilon) * gamma + beta,  var the biased variance.
// gamma and beta have n elements; either may be null (1 and 0).
void layer_norm(const float* x, const float* gamma, const float* beta, float* y, size_t rows, size_t n,
                float epsilon, const Exec& exec = {});

// y[o * inner + i] = mean over j < n of x[(o * n + j) * inner + i].
void reduce_mean(const float* x, float* y, size_t outer, size_t n, size_t inner, const Exec& exec = {});

}  // namespace kiln::kernels::f32
