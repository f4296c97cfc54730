// The fp32 kernels written once over a vector type V (VecAvx2, VecAvx512, VecNeon) and instantiated
// by each ISA's source (x86/avx2/f32_kernels_avx2.cc, ...). Everything here has internal linkage
// and uses no standard-library templates: each instantiation is compiled with its own ISA flags and
// must never be merged with another ISA's copy by the linker.
//
// V provides: T, N, load, store, load_partial, store_partial, set1, broadcast, zero, add, sub, mul,
// div, max, min, fma (a*b+c), fnma (c-a*b), sqrt, bit_and/or/xor, exp2_from_magic, hsum, hmax.
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "f32/f32_kernels.h"

namespace kiln::kernels::f32::detail {
namespace {

// ---------------------------------------------------------------- vector math
// exp(x) after Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, degree-6 polynomial; ~2 ulp.
// Inputs are clamped to the range where the result is a normal float.
template <class V>
inline typename V::T vexp(typename V::T x) {
  using T = typename V::T;
  x = V::min(V::max(x, V::set1(-87.3365f)), V::set1(88.3762f));
  const T magic = V::set1(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const T t = V::fma(x, V::set1(1.44269504088896341f), magic);
  const T n = V::sub(t, magic);
  T r = V::fnma(n, V::set1(0.693359375f), x);
  r = V::fnma(n, V::set1(-2.12194440e-4f), r);
  T p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::mul(p, V::exp2_from_magic(t));
}

template <class V>
inline typename V::T vsigmoid(typename V::T x) {
  const typename V::T one = V::set1(1.0f);
  return V::div(one, V::add(one, vexp<V>(V::sub(V::zero(), x))));
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); absolute error ~1e-7.
template <class V>
inline typename V::T vtanh(typename V::T x) {
  using T = typename V::T;
  const T sign_mask = V::set1(-0.0f);
  const T ax = V::bit_xor(x, V::bit_and(x, sign_mask));  // |x|
  const T e = vexp<V>(V::mul(ax, V::set1(-2.0f)));
  const T one = V::set1(1.0f);
  const T t = V::div(V::sub(one, e), V::add(one, e));
  return V::bit_or(t, V::bit_and(x, sign_mask));
}

// erf after Abramowitz & Stegun 7.1.26; absolute error below 1.5e-7.
template <class V>
inline typename V::T verf(typename V::T x) {
  using T = typename V::T;
  const T sign_mask = V::set1(-0.0f);
  const T ax = V::bit_xor(x, V::bit_and(x, sign_mask));  // |x|
  const T one = V::set1(1.0f);
  const T t = V::div(one, V::fma(V::set1(0.3275911f), ax, one));
  T p = V::set1(1.061405429f);
  p = V::fma(p, t, V::set1(-1.453152027f));
  p = V::fma(p, t, V::set1(1.421413741f));
  p = V::fma(p, t, V::set1(-0.284496736f));
  p = V::fma(p, t, V::set1(0.254829592f));
  p = V::mul(p, t);
  const T e = vexp<V>(V::sub(V::zero(), V::mul(ax, ax)));
  const T y = V::fnma(p, e, one);
  return V::bit_or(y, V::bit_and(x, sign_mask));
}

// ---------------------------------------------------------------- element-wise
template <class V, class F>
inline void map1(const float* x, float* y, size_t n, F f) {
  size_t i = 0;
  for (; i + 2 * V::N <= n; i += 2 * V::N) {
    const typename V::T a = f(V::load(x + i));
    const typename V::T b = f(V::load(x + i + V::N));
    V::store(y + i, a);
    V::store(y + i + V::N, b);
  }
  for (; i + V::N <= n; i += V::N) V::store(y + i, f(V::load(x + i)));
  if (i < n) V::store_partial(y + i, f(V::load_partial(x + i, n - i)), n - i);
}

template <class V, class F>
inline void map2(const float* a, const float* b, float* y, size_t n, F f) {
  size_t i = 0;
  for (; i + V::N <= n; i += V::N) V::store(y + i, f(V::load(a + i), V::load(b + i)));
  if (i < n) V::store_partial(y + i, f(V::load_partial(a + i, n - i), V::load_partial(b + i, n - i)), n - i);
}

template <class V>
void unary_impl(const Activation& f, const float* x, float* y, size_t n) {
  using T = typename V::T;
  switch (f.op) {
    case UnaryOp::identity:
      if (x != y) map1<V>(x, y, n, [](T v) { return v; });
      return;
    case UnaryOp::relu: {
      const T z = V::zero();
      map1<V>(x, y, n, [z](T v) { return V::max(v, z); });
      return;
    }
    case UnaryOp::clip: {
      const T lo = V::set1(f.a), hi = V::set1(f.b);
      map1<V>(x, y, n, [lo, hi](T v) { return V::min(V::max(v, lo), hi); });
      return;
    }
    case UnaryOp::leaky_relu: {
      const T z = V::zero(), s = V::set1(f.a);
      map1<V>(x, y, n, [z, s](T v) { return V::fma(s, V::min(v, z), V::max(v, z)); });
      return;
    }
    case UnaryOp::sigmoid:
      map1<V>(x, y, n, [](T v) { return vsigmoid<V>(v); });
      return;
    case UnaryOp::silu:
      map1<V>(x, y, n, [](T v) { return V::mul(v, vsigmoid<V>(v)); });
      return;
    case UnaryOp::tanh:
      map1<V>(x, y, n, [](T v) { return vtanh<V>(v); });
      return;
    case UnaryOp::erf:
      map1<V>(x, y, n, [](T v) { return verf<V>(v); });
      return;
    case UnaryOp::gelu_erf:
      map1<V>(x, y, n, [](T v) {
        const T e = verf<V>(V::mul(v, V::set1(0.70710678118654752f)));
        return V::mul(V::mul(V::set1(0.5f), v), V::add(V::set1(1.0f), e));
      });
      return;
    case UnaryOp::gelu_tanh:
      // 0.5 x (1 + tanh(u)) = x * sigmoid(2u)
      map1<V>(x, y, n, [](T v) {
        const T v3 = V::mul(V::mul(v, v), v);
        const T u = V::mul(V::set1(0.79788456080286536f), V::fma(V::set1(0.044715f), v3, v));
        return V::mul(v, vsigmoid<V>(V::add(u, u)));
      });
      return;
    case UnaryOp::hardsigmoid: {
      const T al = V::set1(f.a), be = V::set1(f.b), z = V::zero(), one = V::set1(1.0f);
      map1<V>(x, y, n, [=](T v) { return V::min(V::max(V::add(V::mul(al, v), be), z), one); });
      return;
    }
    case UnaryOp::hardswish: {
      const T sixth = V::set1(1.0f / 6.0f), half = V::set1(0.5f), z = V::zero(), one = V::set1(1.0f);
      map1<V>(x, y, n, [=](T v) { return V::mul(v, V::min(V::max(V::add(V::mul(v, sixth), half), z), one)); });
      return;
    }
    case UnaryOp::sqrt:
      map1<V>(x, y, n, [](T v) { return V::sqrt(v); });
      return;
    case UnaryOp::exp:
      map1<V>(x, y, n, [](T v) { return vexp<V>(v); });
      return;
    case UnaryOp::square:
      map1<V>(x, y, n, [](T v) { return V::mul(v, v); });
      return;
    case UnaryOp::neg: {
      const T s = V::set1(-0.0f);
      map1<V>(x, y, n, [s](T v) { return V::bit_xor(v, s); });
      return;
    }
    case UnaryOp::abs: {
      const T s = V::set1(-0.0f);
      map1<V>(x, y, n, [s](T v) { return V::bit_xor(v, V::bit_and(v, s)); });
      return;
    }
    case UnaryOp::reciprocal: {
      const T one = V::set1(1.0f);
      map1<V>(x, y, n, [one](T v) { return V::div(one, v); });
      return;
    }
    case UnaryOp::pow:
      if (f.a == 2.0f) {
        map1<V>(x, y, n, [](T v) { return V::mul(v, v); });
      } else if (f.a == 1.0f) {
        if (x != y) map1<V>(x, y, n, [](T v) { return v; });
      } else if (f.a == 0.5f) {
        map1<V>(x, y, n, [](T v) { return V::sqrt(v); });
      } else {
        for (size_t i = 0; i < n; ++i) y[i] = powf(x[i], f.a);
      }
      return;
    case UnaryOp::log:
      for (size_t i = 0; i < n; ++i) y[i] = logf(x[i]);
      return;
  }
}

template <class V, class F>
inline void binary_with(BinaryOp op, F&& run) {
  using T = typename V::T;
  switch (op) {
    case BinaryOp::add: run([](T a, T b) { return V::add(a, b); }); return;
    case BinaryOp::sub: run([](T a, T b) { return V::sub(a, b); }); return;
    case BinaryOp::mul: run([](T a, T b) { return V::mul(a, b); }); return;
    case BinaryOp::div: run([](T a, T b) { return V::div(a, b); }); return;
    case BinaryOp::max: run([](T a, T b) { return V::max(a, b); }); return;
    case BinaryOp::min: run([](T a, T b) { return V::min(a, b); }); return;
    case BinaryOp::pow: return;  // scalar, handled by the caller
  }
}

template <class V>
void binary_impl(BinaryOp op, const float* a, const float* b, float* y, size_t n) {
  if (op == BinaryOp::pow) {
    for (size_t i = 0; i < n; ++i) y[i] = powf(a[i], b[i]);
    return;
  }
  binary_with<V>(op, [&](auto f) { map2<V>(a, b, y, n, f); });
}

template <class V>
void binary_scalar_impl(BinaryOp op, const float* a, float s, float* y, size_t n, bool scalar_on_left) {
  using T = typename V::T;
  if (op == BinaryOp::pow) {
    for (size_t i = 0; i < n; ++i) y[i] = scalar_on_left ? powf(s, a[i]) : powf(a[i], s);
    return;
  }
  const T sv = V::set1(s);
  if (scalar_on_left) {
    binary_with<V>(op, [&](auto f) { map1<V>(a, y, n, [&](T v) { return f(sv, v); }); });
  } else {
    binary_with<V>(op, [&](auto f) { map1<V>(a, y, n, [&](T v) { return f(v, sv); }); });
  }
}

// ---------------------------------------------------------------- GEMM micro-kernel
template <class V, size_t MR, size_t NV>
void gemm_ukernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, const float* bias, bool load_c,
                  const float* clamp) {
  using T = typename V::T;
  constexpr size_t NR = NV * V::N;
  T acc[MR][NV];
  T init[NV];
#pragma GCC unroll 8
  for (size_t j = 0; j < NV; ++j) init[j] = bias ? V::load(bias + j * V::N) : V::zero();
#pragma GCC unroll 16
  for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) acc[i][j] = load_c ? V::add(V::load(c + i * ldc + j * V::N), init[j]) : init[j];
  }
  for (size_t k = 0; k < kc; ++k) {
    T bv[NV];
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) bv[j] = V::load(b + j * V::N);
#pragma GCC unroll 16
    for (size_t i = 0; i < MR; ++i) {
      const T ai = V::broadcast(a + i);
#pragma GCC unroll 8
      for (size_t j = 0; j < NV; ++j) acc[i][j] = V::fma(ai, bv[j], acc[i][j]);
    }
    a += MR;
    b += NR;
  }
  if (clamp) {
    const T vlo = V::broadcast(clamp), vhi = V::broadcast(clamp + 1);
#pragma GCC unroll 16
    for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
      for (size_t j = 0; j < NV; ++j) acc[i][j] = V::min(V::max(acc[i][j], vlo), vhi);
    }
  }
#pragma GCC unroll 16
  for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) V::store(c + i * ldc + j * V::N, acc[i][j]);
  }
}

template <class V, size_t MR, size_t NV>
void igemm_ukernel(size_t ks, size_t kc, const float* const* a, size_t a_offset, const float* b, float* c, size_t ldc,
                   const float* bias, bool load_c, const float* clamp) {
  using T = typename V::T;
  constexpr size_t NR = NV * V::N;
  T acc[MR][NV];
  T init[NV];
#pragma GCC unroll 8
  for (size_t j = 0; j < NV; ++j) init[j] = bias ? V::load(bias + j * V::N) : V::zero();
#pragma GCC unroll 16
  for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) acc[i][j] = load_c ? V::add(V::load(c + i * ldc + j * V::N), init[j]) : init[j];
  }
  for (size_t t = 0; t < ks; ++t) {
    const float* ap[MR];
#pragma GCC unroll 16
    for (size_t i = 0; i < MR; ++i) ap[i] = a[i] + a_offset;
    a += MR;
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; ++k) {
      T bv[NV];
#pragma GCC unroll 8
      for (size_t j = 0; j < NV; ++j) bv[j] = V::load(b + j * V::N);
#pragma GCC unroll 16
      for (size_t i = 0; i < MR; ++i) {
        const T ai = V::broadcast(ap[i] + k);
#pragma GCC unroll 8
        for (size_t j = 0; j < NV; ++j) acc[i][j] = V::fma(ai, bv[j], acc[i][j]);
      }
      b += NR;
    }
  }
  if (clamp) {
    const T vlo = V::broadcast(clamp), vhi = V::broadcast(clamp + 1);
#pragma GCC unroll 16
    for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
      for (size_t j = 0; j < NV; ++j) acc[i][j] = V::min(V::max(acc[i][j], vlo), vhi);
    }
  }
#pragma GCC unroll 16
  for (size_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) V::store(c + i * ldc + j * V::N, acc[i][j]);
  }
}

// ---------------------------------------------------------------- depthwise convolution
// KH/KW = 0: sizes read from the row description; otherwise fixed (3x3 and 5x5 fast paths).
template <class V, size_t KH, size_t KW>
void dwconv_row_impl(const DwconvRow& r) {
  using T = typename V::T;
  const size_t kh_n = KH ? KH : r.kernel_h;
  const size_t kw_n = KW ? KW : r.kernel_w;
  const size_t C = r.channels;
  const long in_h = static_cast<long>(r.in_h), in_w = static_cast<long>(r.in_w);
  const T vlo = V::set1(r.lo), vhi = V::set1(r.hi);
  for (size_t ow = 0; ow < r.out_w; ++ow) {
    const long iw_base = r.iw0 + static_cast<long>(ow * r.stride_w);
    float* yp = r.y + ow * C;
    // Valid kernel rows/columns for this output pixel.
    size_t kh_lo = 0, kh_hi = kh_n, kw_lo = 0, kw_hi = kw_n;
    while (kh_lo < kh_n && r.ih0 + static_cast<long>(kh_lo * r.dilation_h) < 0) ++kh_lo;
    while (kh_hi > kh_lo && r.ih0 + static_cast<long>((kh_hi - 1) * r.dilation_h) >= in_h) --kh_hi;
    while (kw_lo < kw_n && iw_base + static_cast<long>(kw_lo * r.dilation_w) < 0) ++kw_lo;
    while (kw_hi > kw_lo && iw_base + static_cast<long>((kw_hi - 1) * r.dilation_w) >= in_w) --kw_hi;
    size_t c0 = 0;
    for (; c0 + 2 * V::N <= C; c0 += 2 * V::N) {
      T acc0 = V::load(r.bias + c0), acc1 = V::load(r.bias + c0 + V::N);
      for (size_t kh = kh_lo; kh < kh_hi; ++kh) {
        const float* xrow = r.x + static_cast<size_t>(r.ih0 + static_cast<long>(kh * r.dilation_h)) * r.in_w * C;
        const float* wrow = r.w + kh * kw_n * C;
        for (size_t kw = kw_lo; kw < kw_hi; ++kw) {
          const float* xp = xrow + static_cast<size_t>(iw_base + static_cast<long>(kw * r.dilation_w)) * C + c0;
          const float* wp = wrow + kw * C + c0;
          acc0 = V::fma(V::load(xp), V::load(wp), acc0);
          acc1 = V::fma(V::load(xp + V::N), V::load(wp + V::N), acc1);
        }
      }
      V::store(yp + c0, V::min(V::max(acc0, vlo), vhi));
      V::store(yp + c0 + V::N, V::min(V::max(acc1, vlo), vhi));
    }
    for (; c0 < C; c0 += V::N) {
      const size_t cn = C - c0 < V::N ? C - c0 : V::N;
      T acc = V::load_partial(r.bias + c0, cn);
      for (size_t kh = kh_lo; kh < kh_hi; ++kh) {
        const float* xrow = r.x + static_cast<size_t>(r.ih0 + static_cast<long>(kh * r.dilation_h)) * r.in_w * C;
        const float* wrow = r.w + kh * kw_n * C;
        for (size_t kw = kw_lo; kw < kw_hi; ++kw) {
          const float* xp = xrow + static_cast<size_t>(iw_base + static_cast<long>(kw * r.dilation_w)) * C + c0;
          const float* wp = wrow + kw * C + c0;
          acc = V::fma(V::load_partial(xp, cn), V::load_partial(wp, cn), acc);
        }
      }
      V::store_partial(yp + c0, V::min(V::max(acc, vlo), vhi), cn);
    }
  }
}

template <class V>
void dwconv_row_dispatch(const DwconvRow& r) {
  if (r.kernel_h == 3 && r.kernel_w == 3) return dwconv_row_impl<V, 3, 3>(r);
  if (r.kernel_h == 5 && r.kernel_w == 5) return dwconv_row_impl<V, 5, 5>(r);
  dwconv_row_impl<V, 0, 0>(r);
}

// ---------------------------------------------------------------- softmax, layer norm
template <class V>
void softmax_row_impl(const float* x, float* y, size_t n) {
  using T = typename V::T;
  if (n == 0) return;
  float m = x[0];
  size_t i = 0;
  if (n >= V::N) {
    T vm = V::load(x);
    for (i = V::N; i + V::N <= n; i += V::N) vm = V::max(vm, V::load(x + i));
    m = V::hmax(vm);
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  const T vmax = V::set1(m);
  T vs = V::zero();
  for (i = 0; i + V::N <= n; i += V::N) {
    const T e = vexp<V>(V::sub(V::load(x + i), vmax));
    V::store(y + i, e);
    vs = V::add(vs, e);
  }
  float s = V::hsum(vs);
  if (i < n) {
    const size_t rest = n - i;
    const T e = vexp<V>(V::sub(V::load_partial(x + i, rest), vmax));
    float buf[V::N];
    V::store(buf, e);
    for (size_t j = 0; j < rest; ++j) {
      y[i + j] = buf[j];
      s += buf[j];
    }
  }
  const T inv = V::set1(1.0f / s);
  map1<V>(y, y, n, [inv](T v) { return V::mul(v, inv); });
}

template <class V>
void layer_norm_row_impl(const float* x, const float* gamma, const float* beta, float* y, size_t n, float epsilon) {
  using T = typename V::T;
  if (n == 0) return;
  T vs = V::zero();
  size_t i = 0;
  for (; i + V::N <= n; i += V::N) vs = V::add(vs, V::load(x + i));
  float s = V::hsum(vs);
  for (; i < n; ++i) s += x[i];
  const float mean = s / static_cast<float>(n);
  const T vmean = V::set1(mean);
  T vq = V::zero();
  for (i = 0; i + V::N <= n; i += V::N) {
    const T d = V::sub(V::load(x + i), vmean);
    vq = V::fma(d, d, vq);
  }
  float q = V::hsum(vq);
  for (; i < n; ++i) q += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / sqrtf(q / static_cast<float>(n) + epsilon);
  const T vr = V::set1(rstd);
  for (i = 0; i < n; i += V::N) {
    const size_t cn = n - i < V::N ? n - i : V::N;
    T v = V::mul(V::sub(V::load_partial(x + i, cn), vmean), vr);
    if (gamma) v = V::mul(v, V::load_partial(gamma + i, cn));
    if (beta) v = V::add(v, V::load_partial(beta + i, cn));
    V::store_partial(y + i, v, cn);
  }
}

template <class V, size_t NV, size_t... R>
void fill_igemm_rows(F32Kernels* k, std::index_sequence<R...>) {
  ((k->igemm_rows[R + 1] = igemm_ukernel<V, R + 1, NV>), ...);
}

template <class V, size_t MR, size_t NV, size_t IMR>
F32Kernels make_kernels(Isa isa) {
  static_assert(IMR <= kMaxIgemmRows);
  F32Kernels k{};
  k.isa = isa;
  k.mr = MR;
  k.nr = NV * V::N;
  k.gemm = gemm_ukernel<V, MR, NV>;
  k.imr = IMR;
  k.igemm = igemm_ukernel<V, IMR, NV>;
  fill_igemm_rows<V, NV>(&k, std::make_index_sequence<IMR>());
  k.unary = unary_impl<V>;
  k.binary = binary_impl<V>;
  k.binary_scalar = binary_scalar_impl<V>;
  k.dwconv_row = dwconv_row_dispatch<V>;
  k.softmax_row = softmax_row_impl<V>;
  k.layer_norm_row = layer_norm_row_impl<V>;
  return k;
}

}  // namespace
}  // namespace kiln::kernels::f32::detail
