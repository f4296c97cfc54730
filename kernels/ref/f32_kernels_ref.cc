// The portable scalar fp32 kernels: the reference every SIMD variant is tested against, and the
// path of KILN_ISA=ref and of CPUs without a vector path. Plain loops, libm for the functions.
#include <cmath>
#include <cstddef>

#include "f32/f32_kernels.h"

namespace kiln::kernels::f32::detail {
namespace {

constexpr size_t kMr = 4;
constexpr size_t kNr = 8;

void gemm_4x8__ref(size_t kc, const float* a, const float* b, float* c, size_t ldc, const float* bias, bool load_c,
                   const float* clamp) {
  float acc[kMr][kNr];
  for (size_t i = 0; i < kMr; ++i) {
    for (size_t j = 0; j < kNr; ++j) acc[i][j] = (load_c ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
  }
  for (size_t k = 0; k < kc; ++k) {
    for (size_t i = 0; i < kMr; ++i) {
      for (size_t j = 0; j < kNr; ++j) acc[i][j] += a[k * kMr + i] * b[k * kNr + j];
    }
  }
  for (size_t i = 0; i < kMr; ++i) {
    for (size_t j = 0; j < kNr; ++j) {
      float v = acc[i][j];
      if (clamp) {
        v = v > clamp[0] ? v : clamp[0];
        v = v < clamp[1] ? v : clamp[1];
      }
      c[i * ldc + j] = v;
    }
  }
}

template <size_t kMr>
void igemm_x8__ref(size_t ks, size_t kc, const float* const* a, size_t a_offset, const float* b, float* c, size_t ldc,
                   const float* bias, bool load_c, const float* clamp) {
  float acc[kMr][kNr];
  for (size_t i = 0; i < kMr; ++i) {
    for (size_t j = 0; j < kNr; ++j) acc[i][j] = (load_c ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
  }
  for (size_t t = 0; t < ks; ++t) {
    for (size_t k = 0; k < kc; ++k) {
      for (size_t i = 0; i < kMr; ++i) {
        for (size_t j = 0; j < kNr; ++j) acc[i][j] += a[t * kMr + i][a_offset + k] * b[(t * kc + k) * kNr + j];
      }
    }
  }
  for (size_t i = 0; i < kMr; ++i) {
    for (size_t j = 0; j < kNr; ++j) {
      float v = acc[i][j];
      if (clamp) {
        v = v > clamp[0] ? v : clamp[0];
        v = v < clamp[1] ? v : clamp[1];
      }
      c[i * ldc + j] = v;
    }
  }
}

float clampf(float x, float lo, float hi) {
  const float v = x > lo ? x : lo;
  return v < hi ? v : hi;
}

float unary_one(const Activation& f, float x) {
  switch (f.op) {
    case UnaryOp::identity: return x;
    case UnaryOp::relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::clip: return clampf(x, f.a, f.b);
    case UnaryOp::leaky_relu: return x >= 0.0f ? x : f.a * x;
    case UnaryOp::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case UnaryOp::silu: return x * (1.0f / (1.0f + std::exp(-x)));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::erf: return std::erf(x);
    case UnaryOp::gelu_erf: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case UnaryOp::gelu_tanh:
      return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case UnaryOp::hardsigmoid: return clampf(f.a * x + f.b, 0.0f, 1.0f);
    case UnaryOp::hardswish: return x * clampf(x / 6.0f + 0.5f, 0.0f, 1.0f);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::pow: return f.a == 2.0f ? x * x : std::pow(x, f.a);
    case UnaryOp::neg: return -x;
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::reciprocal: return 1.0f / x;
    case UnaryOp::log: return std::log(x);
  }
  return x;
}

void unary__ref(const Activation& f, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = unary_one(f, x[i]);
}

float binary_one(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::max: return a > b ? a : b;
    case BinaryOp::min: return a < b ? a : b;
    case BinaryOp::pow: return std::pow(a, b);
  }
  return a;
}

void binary__ref(BinaryOp op, const float* a, const float* b, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = binary_one(op, a[i], b[i]);
}

void binary_scalar__ref(BinaryOp op, const float* a, float s, float* y, size_t n, bool scalar_on_left) {
  for (size_t i = 0; i < n; ++i) y[i] = scalar_on_left ? binary_one(op, s, a[i]) : binary_one(op, a[i], s);
}

void dwconv_row__ref(const DwconvRow& r) {
  const size_t C = r.channels;
  for (size_t ow = 0; ow < r.out_w; ++ow) {
    for (size_t c = 0; c < C; ++c) {
      float acc = r.bias[c];
      for (size_t kh = 0; kh < r.kernel_h; ++kh) {
        const long ih = r.ih0 + static_cast<long>(kh * r.dilation_h);
        if (ih < 0 || ih >= static_cast<long>(r.in_h)) continue;
        for (size_t kw = 0; kw < r.kernel_w; ++kw) {
          const long iw = r.iw0 + static_cast<long>(ow * r.stride_w + kw * r.dilation_w);
          if (iw < 0 || iw >= static_cast<long>(r.in_w)) continue;
          acc += r.x[(static_cast<size_t>(ih) * r.in_w + static_cast<size_t>(iw)) * C + c] *
                 r.w[(kh * r.kernel_w + kw) * C + c];
        }
      }
      r.y[ow * C + c] = clampf(acc, r.lo, r.hi);
    }
  }
}

void softmax_row__ref(const float* x, float* y, size_t n) {
  if (n == 0) return;
  float m = x[0];
  for (size_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  for (size_t i = 0; i < n; ++i) y[i] /= s;
}

void layer_norm_row__ref(const float* x, const float* gamma, const float* beta, float* y, size_t n, float epsilon) {
  if (n == 0) return;
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += x[i];
  const float mean = s / static_cast<float>(n);
  float q = 0.0f;
  for (size_t i = 0; i < n; ++i) q += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(q / static_cast<float>(n) + epsilon);
  for (size_t i = 0; i < n; ++i) {
    float v = (x[i] - mean) * rstd;
    if (gamma) v *= gamma[i];
    if (beta) v += beta[i];
    y[i] = v;
  }
}

F32Kernels make_ref() {
  F32Kernels k{};
  k.isa = Isa::ref;
  k.mr = kMr;
  k.nr = kNr;
  k.gemm = gemm_4x8__ref;
  k.imr = kMr;
  k.igemm = igemm_x8__ref<kMr>;
  k.igemm_rows[1] = igemm_x8__ref<1>;
  k.igemm_rows[2] = igemm_x8__ref<2>;
  k.igemm_rows[3] = igemm_x8__ref<3>;
  k.igemm_rows[4] = igemm_x8__ref<4>;
  k.unary = unary__ref;
  k.binary = binary__ref;
  k.binary_scalar = binary_scalar__ref;
  k.dwconv_row = dwconv_row__ref;
  k.softmax_row = softmax_row__ref;
  k.layer_norm_row = layer_norm_row__ref;
  return k;
}

}  // namespace

const F32Kernels& kernels_ref() {
  static const F32Kernels k = make_ref();
  return k;
}

}  // namespace kiln::kernels::f32::detail
