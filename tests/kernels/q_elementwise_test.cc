// Quantized element-wise and pooling kernels (kernels/q/*.h) on every ISA this build and CPU run,
// against a direct evaluation of qops.h's scalar spec: exact equality, over run lengths that cover
// every SIMD tail, broadcast steps, extreme codes, zero points and clamps, NaN/inf inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kiln/kernels/q/elementwise.h"
#include "kiln/kernels/q/pool.h"

namespace kiln::kernels {
namespace {

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : compiled_isas()) {
    if (cpu_supports(i)) v.push_back(i);
  }
  return v;
}

const std::vector<size_t> kLengths = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 47, 64, 77};

std::vector<uint8_t> random_codes(std::mt19937& rng, size_t n, bool extremes) {
  std::vector<uint8_t> v(n);
  std::uniform_int_distribution<int> d(0, 255);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(d(rng));
  if (extremes && n >= 2) {
    v[0] = 0;
    v[n - 1] = 255;
  }
  return v;
}

// A few output clamps: full range, ReLU-like, a narrow window, 4-bit.
std::vector<QOut> outs() {
  return {{128, 0, 255}, {0, 0, 255}, {37, 37, 200}, {255, 0, 255}, {3, 0, 15}};
}

TEST(QKernels, Quantize) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 40.0f);
  for (Isa isa : isas()) {
    for (const QOut& o : outs()) {
      for (float scale : {0.05f, 0.7f, 3.0f}) {
        for (size_t n : kLengths) {
          std::vector<float> x(n);
          for (float& v : x) v = nd(rng);
          const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(), -0.0f, 1e30f, -1e30f,
                                    2.5f * scale, 0.5f * scale, -1.5f * scale};
          for (size_t i = 0; i < n && i < 9; ++i) x[(i * 5) % n] = specials[i];
          std::vector<uint8_t> y(n + 1, 0xAB);
          q::quantize(isa, x.data(), y.data(), n, scale, o);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(y[i], q_quantize(x[i], scale, o)) << isa_name(isa) << " n=" << n << " i=" << i << " x=" << x[i];
          }
          EXPECT_EQ(y[n], 0xAB) << "wrote past the end";
        }
      }
    }
  }
}

TEST(QKernels, DequantizeAndRequantize) {
  std::mt19937 rng(2);
  for (Isa isa : isas()) {
    for (size_t n : kLengths) {
      const std::vector<uint8_t> x = random_codes(rng, n, true);
      for (int32_t zp : {0, 1, 128, 255}) {
        std::vector<float> f(n);
        q::dequantize(isa, x.data(), f.data(), n, zp, 0.0173f);
        for (size_t i = 0; i < n; ++i) {
          const float want = q_dequantize(x[i], zp, 0.0173f);
          ASSERT_EQ(std::memcmp(&f[i], &want, 4), 0) << isa_name(isa) << " n=" << n << " i=" << i;
        }
        for (const QOut& o : outs()) {
          for (float m : {0.37f, 1.0f, 2.5f, 0.5f}) {
            std::vector<uint8_t> y(n);
            q::requantize(isa, x.data(), y.data(), n, zp, m, o);
            for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], q_requantize(x[i], zp, m, o)) << isa_name(isa) << " i=" << i;
          }
        }
      }
    }
  }
}

TEST(QKernels, Lut) {
  std::mt19937 rng(3);
  uint8_t table[256];
  for (int i = 0; i < 256; ++i) table[i] = static_cast<uint8_t>((i * 97 + 13) & 255);
  for (Isa isa : isas()) {
    for (size_t n : kLengths) {
      const std::vector<uint8_t> x = random_codes(rng, n, true);
      std::vector<uint8_t> y(n);
      q::lut(isa, x.data(), y.data(), n, table);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], table[x[i]]);
    }
  }
}

TEST(QKernels, AddAndMulWithBroadcastSteps) {
  std::mt19937 rng(4);
  for (Isa isa : isas()) {
    for (size_t n : kLengths) {
      const std::vector<uint8_t> a = random_codes(rng, std::max<size_t>(n, 1), true);
      const std::vector<uint8_t> b = random_codes(rng, std::max<size_t>(n, 1), true);
      for (size_t as : {0, 1}) {
        for (size_t bs : {0, 1}) {
          for (const QOut& o : outs()) {
            q::AddParams ap{200, 0.61f, 3, 1.37f, o};
            q::MulParams mp{7, 250, 0.013f, o};
            std::vector<uint8_t> ya(n), ym(n);
            q::add(isa, a.data(), as, b.data(), bs, ya.data(), n, ap);
            q::mul(isa, a.data(), as, b.data(), bs, ym.data(), n, mp);
            for (size_t i = 0; i < n; ++i) {
              ASSERT_EQ(ya[i], q_add(a[i * as], 200, 0.61f, b[i * bs], 3, 1.37f, o)) << isa_name(isa) << " i=" << i;
              ASSERT_EQ(ym[i], q_mul(a[i * as], 7, b[i * bs], 250, 0.013f, o)) << isa_name(isa) << " i=" << i;
            }
          }
        }
      }
    }
  }
}

// Direct evaluation of the pooling spec over NHWC codes.
std::vector<uint8_t> spec_pool(const f32::Pool2dParams& p, const std::vector<uint8_t>& x, bool average, int32_t zi,
                               float m, const QOut& o) {
  const size_t oh = p.out_h(), ow = p.out_w(), C = p.channels;
  std::vector<uint8_t> y(p.batch * oh * ow * C);
  for (size_t b = 0; b < p.batch; ++b) {
    for (size_t r = 0; r < oh; ++r) {
      for (size_t c0 = 0; c0 < ow; ++c0) {
        for (size_t c = 0; c < C; ++c) {
          const long hs = static_cast<long>(r * p.stride_h) - static_cast<long>(p.pad_top);
          const long ws = static_cast<long>(c0 * p.stride_w) - static_cast<long>(p.pad_left);
          int best = 0;
          int32_t sum = 0;
          long real = 0, padded = 0;
          for (size_t kh = 0; kh < p.kernel_h; ++kh) {
            for (size_t kw = 0; kw < p.kernel_w; ++kw) {
              const long ih = hs + static_cast<long>(kh * p.dilation_h), iw = ws + static_cast<long>(kw * p.dilation_w);
              const bool in_padded = ih < static_cast<long>(p.in_h + p.pad_bottom) && iw < static_cast<long>(p.in_w + p.pad_right);
              if (ih < 0 || iw < 0 || ih >= static_cast<long>(p.in_h) || iw >= static_cast<long>(p.in_w)) {
                padded += in_padded ? 1 : 0;
                continue;
              }
              const uint8_t v = x[((b * p.in_h + ih) * p.in_w + iw) * C + c];
              best = std::max<int>(best, v);
              sum += v - zi;
              ++real;
              ++padded;
            }
          }
          uint8_t out;
          if (!average) {
            out = static_cast<uint8_t>(best);
          } else {
            const long count = p.count_include_pad ? padded : real;
            out = q_avg(sum, q_avg_multiplier(m, static_cast<int32_t>(count)), o);
          }
          y[((b * oh + r) * ow + c0) * C + c] = out;
        }
      }
    }
  }
  return y;
}

TEST(QKernels, Pools) {
  std::mt19937 rng(5);
  struct Case { size_t h, w, c, k, s, pad; bool ceil, include; };
  const Case cases[] = {{5, 6, 3, 3, 1, 1, false, false}, {7, 7, 40, 3, 2, 1, true, true},
                        {8, 5, 33, 2, 2, 0, false, false}, {6, 6, 17, 3, 2, 1, true, false},
                        {4, 9, 64, 3, 3, 2, false, true}};
  for (Isa isa : isas()) {
    for (const Case& cs : cases) {
      f32::Pool2dParams p;
      p.batch = 2;
      p.in_h = cs.h; p.in_w = cs.w; p.channels = cs.c;
      p.kernel_h = p.kernel_w = cs.k;
      p.stride_h = p.stride_w = cs.s;
      p.pad_top = p.pad_left = cs.pad;
      p.pad_bottom = p.pad_right = cs.pad;
      p.ceil_mode = cs.ceil;
      p.count_include_pad = cs.include;
      ASSERT_EQ(p.validate(), "");
      const std::vector<uint8_t> x = random_codes(rng, p.batch * cs.h * cs.w * cs.c, true);
      std::vector<uint8_t> y(p.batch * p.out_h() * p.out_w() * cs.c);
      ASSERT_EQ(q::max_pool(isa, p, x.data(), y.data(), nullptr), "");
      EXPECT_EQ(y, spec_pool(p, x, false, 0, 0, {})) << isa_name(isa) << " max " << cs.h << "x" << cs.w;
      for (const QOut& o : outs()) {
        ASSERT_EQ(q::avg_pool(isa, p, x.data(), y.data(), 117, 0.83f, o, nullptr), "");
        EXPECT_EQ(y, spec_pool(p, x, true, 117, 0.83f, o)) << isa_name(isa) << " avg " << cs.h << "x" << cs.w;
      }
    }
  }
}

TEST(QKernels, GlobalAvgPool) {
  std::mt19937 rng(6);
  for (Isa isa : isas()) {
    for (size_t hw : {1, 7, 49}) {
      for (size_t c : {1, 15, 16, 33, 300}) {
        const size_t batch = 2;
        const std::vector<uint8_t> x = random_codes(rng, batch * hw * c, true);
        for (const QOut& o : outs()) {
          std::vector<uint8_t> y(batch * c);
          ASSERT_EQ(q::global_avg_pool(isa, x.data(), y.data(), batch, hw, c, 93, 1.21f, o, nullptr), "");
          for (size_t b = 0; b < batch; ++b) {
            for (size_t ch = 0; ch < c; ++ch) {
              int32_t sum = 0;
              for (size_t i = 0; i < hw; ++i) sum += x[(b * hw + i) * c + ch] - 93;
              ASSERT_EQ(y[b * c + ch], q_avg(sum, q_avg_multiplier(1.21f, static_cast<int32_t>(hw)), o))
                  << isa_name(isa) << " hw=" << hw << " c=" << c;
            }
          }
        }
      }
    }
  }
}

TEST(QKernels, VariantNamesAndBadArguments) {
  EXPECT_STREQ(q::variant_name(Isa::ref), "ref");
  // The SIMD variants are the ones tested above on CPUs that have them.
  for (Isa isa : isas()) {
    if (isa == Isa::avx2 || isa == Isa::avx512vnni) {
      EXPECT_STREQ(q::variant_name(isa), "avx2");
    }
    if (isa == Isa::neondot || isa == Isa::i8mm) {
      EXPECT_STREQ(q::variant_name(isa), "neon");
    }
  }
  f32::Pool2dParams p;  // empty input
  uint8_t b[4] = {};
  EXPECT_NE(q::max_pool(Isa::ref, p, b, b, nullptr), "");
  EXPECT_NE(q::global_avg_pool(Isa::ref, b, b, 1, 1, 1, 0, 1.0f, QOut{0, 5, 4}, nullptr), "");
  EXPECT_NE(q::global_avg_pool(Isa::ref, b, b, 1, 0, 1, 0, 1.0f, QOut{}, nullptr), "");
}

}  // namespace
}  // namespace kiln::kernels
