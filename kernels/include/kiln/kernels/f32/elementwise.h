// Element-wise fp32 kernels: unary functions and the same-shape / scalar / row-broadcast forms of
// binary arithmetic. General N-d broadcasting is built on top of these by the runtime.
#pragma once

#include <cstddef>

#include "kiln/kernels/f32/common.h"

namespace kiln::kernels::f32 {

// y[i] = f(x[i]) for i < n. y may equal x (in place).
void unary(const Activation& f, const float* x, float* y, size_t n, const Exec& exec = {});

enum class BinaryOp { add, sub, mul, div, max, min, pow };

// y[i] = a[i] op b[i]. y may alias a or b.
void binary(BinaryOp op, const float* a, const float* b, float* y, size_t n, const Exec& exec = {});
// y[i] = a[i] op b   (scalar on the right)
void binary_scalar_rhs(BinaryOp op, const float* a, float b, float* y, size_t n, const Exec& exec = {});
// y[i] = a op b[i]   (scalar on the left)
void binary_scalar_lhs(BinaryOp op, float a, const float* b, float* y, size_t n, const Exec& exec = {});
// y[r * n + i] = a[r * n + i] op b[i]   for r < rows (b broadcast along rows, e.g. a bias over NHWC)
void binary_row_rhs(BinaryOp op, const float* a, const float* b, float* y, size_t rows, size_t n,
                    const Exec& exec = {});
// y[r * n + i] = a[i] op b[r * n + i]
void binary_row_lhs(BinaryOp op, const float* a, const float* b, float* y, size_t rows, size_t n,
                    const Exec& exec = {});

}  // namespace kiln::kernels::f32
