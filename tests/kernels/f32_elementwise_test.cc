// Unary and binary element-wise kernels: every ISA against libm in double, over lengths that hit
// the vector tails, wide input ranges (saturation of exp/sigmoid/tanh), and in-place use.
#include <gtest/gtest.h>

#include <cmath>

#include "f32_test_util.h"
#include "kiln/kernels/f32/elementwise.h"

namespace kiln::kernels::f32 {
namespace {

using testing::random_floats;
using testing::runnable_isas;

double unary_double(const Activation& f, double x) {
  switch (f.op) {
    case UnaryOp::identity: return x;
    case UnaryOp::relu: return x > 0 ? x : 0;
    case UnaryOp::clip: return std::min(std::max(x, double(f.a)), double(f.b));
    case UnaryOp::leaky_relu: return x >= 0 ? x : f.a * x;
    case UnaryOp::sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::silu: return x / (1 + std::exp(-x));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::erf: return std::erf(x);
    case UnaryOp::gelu_erf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::hardsigmoid: return std::min(std::max(f.a * x + f.b, 0.0), 1.0);
    case UnaryOp::hardswish: return x * std::min(std::max(x / 6 + 0.5, 0.0), 1.0);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::pow: return std::pow(x, double(f.a));
    case UnaryOp::neg: return -x;
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::reciprocal: return 1 / x;
    case UnaryOp::log: return std::log(x);
  }
  return x;
}

struct UnaryCase {
  Activation f;
  float lo, hi;        // input range
  double atol, rtol;   // against double precision
};

TEST(F32Unary, EveryOpOnEveryIsa) {
  const UnaryCase cases[] = {
      {Activation::none(), -5, 5, 0, 0},
      {Activation::relu(), -5, 5, 0, 0},
      {Activation::relu6(), -9, 9, 0, 0},
      {Activation::clip(-0.3f, 0.4f), -1, 1, 0, 0},
      {Activation::leaky_relu(0.01f), -5, 5, 0, 1e-7},
      {Activation::sigmoid(), -30, 30, 2e-7, 2e-6},
      {Activation::silu(), -30, 30, 2e-7, 2e-6},
      {Activation::of(UnaryOp::tanh), -12, 12, 3e-7, 2e-6},
      {Activation::of(UnaryOp::erf), -6, 6, 3e-7, 2e-6},
      {Activation::of(UnaryOp::gelu_erf), -8, 8, 3e-7, 2e-6},
      {Activation::of(UnaryOp::gelu_tanh), -8, 8, 3e-7, 2e-6},
      {Activation::hardsigmoid(0.2f, 0.5f), -6, 6, 1e-7, 1e-6},
      {Activation::hardswish(), -8, 8, 1e-7, 1e-6},
      {Activation::of(UnaryOp::sqrt), 0, 100, 0, 1e-7},
      {Activation::of(UnaryOp::exp), -80, 80, 1e-30, 2e-6},
      {Activation::of(UnaryOp::square), -100, 100, 0, 1e-7},
      {Activation::pow(2.0f), -100, 100, 0, 1e-7},
      {Activation::pow(3.0f), -10, 10, 1e-6, 1e-6},
      {Activation::pow(0.5f), 0, 10, 0, 1e-7},
      {Activation::of(UnaryOp::neg), -5, 5, 0, 0},
      {Activation::of(UnaryOp::abs), -5, 5, 0, 0},
      {Activation::of(UnaryOp::reciprocal), 0.5f, 5, 0, 1e-7},
      {Activation::of(UnaryOp::log), 0.01f, 100, 1e-7, 1e-6},
  };
  uint32_t seed = 1;
  for (const UnaryCase& c : cases) {
    for (size_t n : {size_t{1}, size_t{7}, size_t{33}, size_t{1000}}) {
      const auto x = random_floats(n, seed++, c.lo, c.hi);
      std::vector<double> want(n);
      for (size_t i = 0; i < n; ++i) want[i] = unary_double(c.f, x[i]);
      for (Isa isa : runnable_isas()) {
        std::vector<float> y(n);
        unary(c.f, x.data(), y.data(), n, Exec{isa, nullptr});
        testing::expect_close(y, want, c.atol, c.rtol + 1.2e-7,
                              testing::isa_label(isa) + " op " + std::to_string(static_cast<int>(c.f.op)));
        std::vector<float> inplace = x;
        unary(c.f, inplace.data(), inplace.data(), n, Exec{isa, nullptr});
        EXPECT_EQ(inplace, y) << "in place differs";
      }
    }
  }
}

double binary_double(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::max: return std::max(a, b);
    case BinaryOp::min: return std::min(a, b);
    case BinaryOp::pow: return std::pow(a, b);
  }
  return 0;
}

TEST(F32Binary, SameShapeScalarAndRowBroadcast) {
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                          BinaryOp::max, BinaryOp::min, BinaryOp::pow};
  testing::TestRunner runner(2);
  for (BinaryOp op : ops) {
    const size_t rows = 5, n = 19;
    const auto a = random_floats(rows * n, 10, 0.5f, 2.0f);
    const auto b = random_floats(rows * n, 11, 0.5f, 2.0f);
    const float s = 1.375f;
    const double rtol = op == BinaryOp::pow ? 1e-6 : 1e-7;
    for (Isa isa : runnable_isas()) {
      const Exec exec{isa, &runner};
      const std::string what = testing::isa_label(isa) + " op " + std::to_string(static_cast<int>(op));
      std::vector<float> y(rows * n);
      std::vector<double> want(rows * n);
      binary(op, a.data(), b.data(), y.data(), rows * n, exec);
      for (size_t i = 0; i < y.size(); ++i) want[i] = binary_double(op, a[i], b[i]);
      testing::expect_close(y, want, 0, rtol, what + " same shape");
      binary_scalar_rhs(op, a.data(), s, y.data(), rows * n, exec);
      for (size_t i = 0; i < y.size(); ++i) want[i] = binary_double(op, a[i], s);
      testing::expect_close(y, want, 0, rtol, what + " scalar rhs");
      binary_scalar_lhs(op, s, b.data(), y.data(), rows * n, exec);
      for (size_t i = 0; i < y.size(); ++i) want[i] = binary_double(op, s, b[i]);
      testing::expect_close(y, want, 0, rtol, what + " scalar lhs");
      binary_row_rhs(op, a.data(), b.data(), y.data(), rows, n, exec);
      for (size_t i = 0; i < y.size(); ++i) want[i] = binary_double(op, a[i], b[i % n]);
      testing::expect_close(y, want, 0, rtol, what + " row rhs");
      binary_row_lhs(op, a.data(), b.data(), y.data(), rows, n, exec);
      for (size_t i = 0; i < y.size(); ++i) want[i] = binary_double(op, a[i % n], b[i]);
      testing::expect_close(y, want, 0, rtol, what + " row lhs");
    }
  }
}

TEST(F32Unary, LongArraysSplitOverThreads) {
  testing::TestRunner runner(3);
  const size_t n = 50000;
  const auto x = random_floats(n, 77, -4.0f, 4.0f);
  for (Isa isa : runnable_isas()) {
    std::vector<float> one(n), many(n);
    unary(Activation::of(UnaryOp::gelu_erf), x.data(), one.data(), n, Exec{isa, nullptr});
    unary(Activation::of(UnaryOp::gelu_erf), x.data(), many.data(), n, Exec{isa, &runner});
    EXPECT_EQ(one, many);
  }
}

}  // namespace
}  // namespace kiln::kernels::f32
