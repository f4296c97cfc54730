// Element-wise entry points: split long arrays into chunks over threads, run the ISA's kernels.
#include "f32/f32_kernels.h"
#include "kiln/kernels/f32/elementwise.h"

namespace kiln::kernels::f32 {
namespace {

constexpr size_t kChunk = 16384;  // elements per task: large enough to amortise the hand-off

template <class F>
void chunked(const Exec& exec, size_t n, F&& f) {
  const size_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(exec.runner, chunks, [&](size_t c) {
    const size_t begin = c * kChunk;
    f(begin, n - begin < kChunk ? n - begin : kChunk);
  });
}

}  // namespace

void unary(const Activation& f, const float* x, float* y, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  chunked(exec, n, [&](size_t b, size_t len) { k.unary(f, x + b, y + b, len); });
}

void binary(BinaryOp op, const float* a, const float* b, float* y, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  chunked(exec, n, [&](size_t s, size_t len) { k.binary(op, a + s, b + s, y + s, len); });
}

void binary_scalar_rhs(BinaryOp op, const float* a, float b, float* y, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  chunked(exec, n, [&](size_t s, size_t len) { k.binary_scalar(op, a + s, b, y + s, len, false); });
}

void binary_scalar_lhs(BinaryOp op, float a, const float* b, float* y, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  chunked(exec, n, [&](size_t s, size_t len) { k.binary_scalar(op, b + s, a, y + s, len, true); });
}

void binary_row_rhs(BinaryOp op, const float* a, const float* b, float* y, size_t rows, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  const size_t per_task = n >= kChunk ? 1 : kChunk / (n == 0 ? 1 : n);
  parallel_for(exec.runner, (rows + per_task - 1) / per_task, [&](size_t t) {
    for (size_t r = t * per_task; r < rows && r < (t + 1) * per_task; ++r) k.binary(op, a + r * n, b, y + r * n, n);
  });
}

void binary_row_lhs(BinaryOp op, const float* a, const float* b, float* y, size_t rows, size_t n, const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  const size_t per_task = n >= kChunk ? 1 : kChunk / (n == 0 ? 1 : n);
  parallel_for(exec.runner, (rows + per_task - 1) / per_task, [&](size_t t) {
    for (size_t r = t * per_task; r < rows && r < (t + 1) * per_task; ++r) k.binary(op, a, b + r * n, y + r * n, n);
  });
}

}  // namespace kiln::kernels::f32
