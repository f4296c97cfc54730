// sgemm: every ISA against a double-precision loop over M/N/K tails, transposes, bias, activations,
// accumulation, Gemm's alpha and batched MatMul; threads give identical results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "f32_test_util.h"
#include "kiln/kernels/f32/gemm.h"

namespace kiln::kernels::f32 {
namespace {

using testing::expect_close;
using testing::random_floats;
using testing::runnable_isas;

struct Problem {
  size_t m, n, k;
  bool ta, tb;
};

// C = A * B + bias (+ C0), in double, with the matching error bound per element.
void reference(const Problem& p, const std::vector<float>& a, const std::vector<float>& b, const float* bias,
               const std::vector<float>* c0, std::vector<double>* c, std::vector<double>* bound) {
  c->assign(p.m * p.n, 0.0);
  bound->assign(p.m * p.n, 0.0);
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t j = 0; j < p.n; ++j) {
      double s = bias ? bias[j] : 0.0, mag = bias ? std::fabs(bias[j]) : 0.0;
      if (c0) s += (*c0)[i * p.n + j], mag += std::fabs((*c0)[i * p.n + j]);
      for (size_t kk = 0; kk < p.k; ++kk) {
        const double av = p.ta ? a[kk * p.m + i] : a[i * p.k + kk];
        const double bv = p.tb ? b[j * p.k + kk] : b[kk * p.n + j];
        s += av * bv;
        mag += std::fabs(av * bv);
      }
      (*c)[i * p.n + j] = s;
      (*bound)[i * p.n + j] = mag;
    }
  }
}

// The float rounding bound of a k-term sum: (k + 2) unit roundoffs of the sum of magnitudes.
void check(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& bound, size_t k,
           const std::string& what) {
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 6e-8 * static_cast<double>(k + 2) * bound[i] + 1e-7;
    if (std::fabs(got[i] - want[i]) > tol && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
}

TEST(F32Sgemm, TailsTransposesAndBiasOnEveryIsa) {
  const size_t ms[] = {1, 2, 3, 4, 5, 6, 7, 13, 37};  // every row-tile remainder of MR 4, 6 and 8
  const size_t ns[] = {1, 7, 16, 33, 70};
  const size_t ks[] = {0, 1, 9, 300, 530};
  uint32_t seed = 1;
  size_t count = 0;
  for (Isa isa : runnable_isas()) {
    for (size_t m : ms) {
      for (size_t n : ns) {
        for (size_t k : ks) {
          // Transposed A takes the packed-A path, plain A the in-place (igemm) path.
          ++count;
          const Problem p{m, n, k, count % 3 == 1, count % 2 == 0};
          const auto a = random_floats(m * k, seed++);
          const auto b = random_floats(k * n, seed++);
          const auto bias = random_floats(n, seed++);
          const bool with_bias = (m + n) % 2 == 0;
          std::vector<double> want, bound;
          reference(p, a, b, with_bias ? bias.data() : nullptr, nullptr, &want, &bound);
          std::vector<float> c(m * n, 123.0f);
          sgemm(m, n, k, a.data(), p.ta ? m : k, p.ta, b.data(), p.tb ? k : n, p.tb, with_bias ? bias.data() : nullptr,
                c.data(), n, {}, Exec{isa, nullptr});
          check(c, want, bound, k,
                testing::isa_label(isa) + " m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        }
      }
    }
  }
}

TEST(F32Sgemm, LeadingDimensionsAccumulateAlphaAndClamp) {
  for (Isa isa : runnable_isas()) {
    const size_t m = 19, n = 35, k = 41, lda = 50, ldb = 40, ldc = 44;
    const auto a = random_floats(m * lda, 11);
    const auto b = random_floats(k * ldb, 12);
    auto c = random_floats(m * ldc, 13);
    const auto c_in = c;
    SgemmPackedB packed;
    ASSERT_EQ(sgemm_pack_b(k, n, b.data(), ldb, false, &packed, isa, 0.5f), "");
    sgemm_packed(m, a.data(), lda, false, packed, nullptr, c.data(), ldc, Activation::clip(-0.5f, 0.75f), nullptr, true);
    for (size_t i = 0; i < m; ++i) {
      for (size_t j = 0; j < ldc; ++j) {
        if (j >= n) {
          EXPECT_EQ(c[i * ldc + j], c_in[i * ldc + j]) << "wrote outside C";
          continue;
        }
        double s = c_in[i * ldc + j];
        for (size_t kk = 0; kk < k; ++kk) s += 0.5 * a[i * lda + kk] * b[kk * ldb + j];
        s = std::min(std::max(s, -0.5), 0.75);
        EXPECT_NEAR(c[i * ldc + j], s, 1e-5) << testing::isa_label(isa) << " " << i << "," << j;
      }
    }
  }
}

TEST(F32Sgemm, SimdMatchesRefWithEveryActivation) {
  const Activation acts[] = {Activation::relu(), Activation::relu6(), Activation::leaky_relu(0.1f),
                             Activation::hardswish(), Activation::sigmoid(), Activation::silu(),
                             Activation::of(UnaryOp::gelu_erf), Activation::of(UnaryOp::tanh)};
  const size_t m = 23, n = 37, k = 29;
  const auto a = random_floats(m * k, 21, -2.0f, 2.0f);
  const auto b = random_floats(k * n, 22);
  const auto bias = random_floats(n, 23);
  for (const Activation& act : acts) {
    std::vector<float> want(m * n);
    sgemm(m, n, k, a.data(), k, false, b.data(), n, false, bias.data(), want.data(), n, act, Exec{Isa::ref, nullptr});
    for (Isa isa : runnable_isas()) {
      std::vector<float> got(m * n);
      sgemm(m, n, k, a.data(), k, false, b.data(), n, false, bias.data(), got.data(), n, act, Exec{isa, nullptr});
      expect_close(got, testing::to_double(want), 2e-5, 2e-5,
                   testing::isa_label(isa) + " act " + std::to_string(static_cast<int>(act.op)));
    }
  }
}

TEST(F32Sgemm, ThreadsGiveIdenticalResults) {
  testing::TestRunner runner(3);
  const size_t m = 150, n = 70, k = 520;
  const auto a = random_floats(m * k, 31);
  const auto b = random_floats(k * n, 32);
  for (Isa isa : runnable_isas()) {
    std::vector<float> one(m * n), many(m * n);
    sgemm(m, n, k, a.data(), k, false, b.data(), n, false, nullptr, one.data(), n, Activation::relu(), Exec{isa, nullptr});
    sgemm(m, n, k, a.data(), k, false, b.data(), n, false, nullptr, many.data(), n, Activation::relu(), Exec{isa, &runner});
    EXPECT_EQ(one, many) << testing::isa_label(isa);
  }
}

TEST(F32Sgemm, BatchedSharedAndPerProblemB) {
  const size_t batch = 3, m = 5, n = 9, k = 6;
  const auto a = random_floats(batch * m * k, 41);
  const auto b = random_floats(batch * k * n, 42);
  testing::TestRunner runner(2);
  for (Isa isa : runnable_isas()) {
    for (size_t stride_b : {size_t{0}, k * n}) {
      for (bool tb : {false, true}) {
        std::vector<float> c(batch * m * n);
        sgemm_batched(batch, m, n, k, a.data(), m * k, false, b.data(), stride_b, tb, c.data(), m * n, Exec{isa, &runner});
        std::vector<double> want(batch * m * n);
        for (size_t t = 0; t < batch; ++t) {
          const float* bt = b.data() + t * stride_b;
          for (size_t i = 0; i < m; ++i) {
            for (size_t j = 0; j < n; ++j) {
              double s = 0;
              for (size_t kk = 0; kk < k; ++kk) s += double(a[t * m * k + i * k + kk]) * (tb ? bt[j * k + kk] : bt[kk * n + j]);
              want[(t * m + i) * n + j] = s;
            }
          }
        }
        expect_close(c, want, 1e-5, 1e-5, testing::isa_label(isa) + " batched");
      }
    }
  }
}

TEST(F32Sgemm, PackRejectsBadArguments) {
  SgemmPackedB packed;
  const float b[4] = {1, 2, 3, 4};
  EXPECT_NE(sgemm_pack_b(2, 2, b, 1, false, &packed), "");
  EXPECT_NE(sgemm_pack_b(2, 2, nullptr, 2, false, &packed), "");
  EXPECT_NE(sgemm_pack_b(2, 2, b, 2, false, nullptr), "");
  EXPECT_EQ(sgemm_pack_b(2, 2, b, 2, false, &packed), "");
  EXPECT_FALSE(packed.empty());
}

}  // namespace
}  // namespace kiln::kernels::f32
