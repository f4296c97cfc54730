// Softmax, layer normalisation and mean reduction: rows over threads, the ISA's row kernels when
// the reduced axis is contiguous, plain loops otherwise.
#include <cmath>
#include <vector>

#include "f32/f32_kernels.h"
#include "kiln/kernels/f32/normalize.h"

namespace kiln::kernels::f32 {

void softmax(const float* x, float* y, size_t outer, size_t n, size_t inner, const Exec& exec) {
  if (n == 0 || inner == 0) return;
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  if (inner == 1) {
    parallel_for(exec.runner, outer, [&](size_t o) { k.softmax_row(x + o * n, y + o * n, n); });
    return;
  }
  parallel_for(exec.runner, outer, [&](size_t o) {
    const float* xo = x + o * n * inner;
    float* yo = y + o * n * inner;
    std::vector<float> m(xo, xo + inner), s(inner, 0.0f);
    for (size_t j = 1; j < n; ++j) {
      for (size_t i = 0; i < inner; ++i) m[i] = xo[j * inner + i] > m[i] ? xo[j * inner + i] : m[i];
    }
    for (size_t j = 0; j < n; ++j) {
      for (size_t i = 0; i < inner; ++i) {
        yo[j * inner + i] = std::exp(xo[j * inner + i] - m[i]);
        s[i] += yo[j * inner + i];
      }
    }
    for (size_t j = 0; j < n; ++j) {
      for (size_t i = 0; i < inner; ++i) yo[j * inner + i] /= s[i];
    }
  });
}

void layer_norm(const float* x, const float* gamma, const float* beta, float* y, size_t rows, size_t n, float epsilon,
                const Exec& exec) {
  const detail::F32Kernels& k = detail::kernels_for(exec.isa);
  parallel_for(exec.runner, rows, [&](size_t r) { k.layer_norm_row(x + r * n, gamma, beta, y + r * n, n, epsilon); });
}

void reduce_mean(const float* x, float* y, size_t outer, size_t n, size_t inner, const Exec& exec) {
  const float scale = n == 0 ? 0.0f : 1.0f / static_cast<float>(n);
  parallel_for(exec.runner, outer, [&](size_t o) {
    const float* xo = x + o * n * inner;
    float* yo = y + o * inner;
    if (inner == 1) {
      float s = 0.0f;
      for (size_t j = 0; j < n; ++j) s += xo[j];
      yo[0] = n == 0 ? std::nanf("") : s * scale;
      return;
    }
    for (size_t i = 0; i < inner; ++i) yo[i] = 0.0f;
    for (size_t j = 0; j < n; ++j) {
      for (size_t i = 0; i < inner; ++i) yo[i] += xo[j * inner + i];
    }
    for (size_t i = 0; i < inner; ++i) yo[i] = n == 0 ? std::nanf("") : yo[i] * scale;
  });
}

}  // namespace kiln::kernels::f32
