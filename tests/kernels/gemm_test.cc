// Every GEMM / igemm micro-kernel this build has and this CPU runs, exactly against the oracle:
// every sub-tile, K tails and large K, strides, zero points, clamping, every epilogue, extreme
// operands; then the driver over M/N tails on one and two threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gemm_tester.h"
#include "kiln/kernels/pack.h"

namespace kiln::kernels::testing {
namespace {

// A two-thread TaskRunner of the test's own (the kernels tests do not link the runtime).
class TwoThreads final : public TaskRunner {
 public:
  int threads() const override { return 2; }
  void run(size_t count, TaskFn task, void* context) override {
    std::thread other([&] {
      for (size_t i = 1; i < count; i += 2) task(context, i);
    });
    for (size_t i = 0; i < count; i += 2) task(context, i);
    other.join();
  }
};

std::vector<size_t> k_edges(const GemmConfig& c) {
  std::set<size_t> ks = {1, c.kr - 1, c.kr, c.kr + 1, c.k_align, c.k_align + 1, 2 * c.k_align + 3};
  ks.erase(0);
  return {ks.begin(), ks.end()};
}

class GemmKernels : public ::testing::TestWithParam<const GemmConfig*> {};

TEST_P(GemmKernels, EverySubTileAndKTail) {
  const GemmConfig& c = *GetParam();
  for (size_t k : k_edges(c)) {
    for (size_t m = 1; m <= c.mr; ++m) {
      for (size_t n = 1; n <= c.nr; ++n) {
        GemmCase tc;
        tc.m = m;
        tc.n = n;
        tc.k = k;
        tc.seed = static_cast<uint32_t>(m * 1000 + n);
        ASSERT_TRUE(check_gemm_ukernel(c, tc));
      }
    }
  }
}

TEST_P(GemmKernels, KSweepAndLargeK) {
  const GemmConfig& c = *GetParam();
  std::vector<size_t> ks;
  for (size_t k = 1; k <= 4 * c.k_align + 1; ++k) ks.push_back(k);
  for (size_t k : {61, 100, 257, 1000, 4099}) ks.push_back(k);
  for (size_t k : ks) {
    GemmCase tc;
    tc.m = c.mr;
    tc.n = c.nr;
    tc.k = k;
    ASSERT_TRUE(check_gemm_ukernel(c, tc));
  }
  // K = 8192 at the saturation corners: 255 * 127 * 8192 = 265 million, far past int16.
  for (Operands o : {Operands::max_pos, Operands::max_neg}) {
    GemmCase tc;
    tc.m = c.mr;
    tc.n = c.nr;
    tc.k = 8192;
    tc.a_zero_point = 0;
    tc.operands = o;
    tc.output = GemmOutput::i32;
    ASSERT_TRUE(check_gemm_ukernel(c, tc));
  }
}

TEST_P(GemmKernels, ExtremeOperandsAndZeroPoints) {
  const GemmConfig& c = *GetParam();
  for (Operands o : {Operands::max_pos, Operands::max_neg, Operands::alternate, Operands::random}) {
    for (int32_t za : {0, 128, 255}) {
      for (int32_t zo : {0, 128, 255}) {
        for (GemmOutput out : {GemmOutput::i32, GemmOutput::u8}) {
          GemmCase tc;
          tc.m = c.mr;
          tc.n = c.nr - 1;
          tc.k = 3 * c.k_align + 1;
          tc.operands = o;
          tc.a_zero_point = za;
          tc.c_zero_point = zo;
          tc.output = out;
          ASSERT_TRUE(check_gemm_ukernel(c, tc));
        }
      }
    }
  }
}

TEST_P(GemmKernels, EpiloguesClampsAndStrides) {
  const GemmConfig& c = *GetParam();
  const std::pair<int32_t, int32_t> clamps[] = {{0, 255}, {128, 255}, {128, 134}, {10, 200}, {0, 15}};
  uint32_t seed = 1;
  for (auto [qmin, qmax] : clamps) {
    for (Activation act : {Activation::none, Activation::hardswish}) {
      for (bool residual : {false, true}) {
        for (bool ties : {false, true}) {
          // K with a tail, and K a whole number of k-groups (the kernels' fast paths).
          for (size_t k : {2 * c.k_align + 5, 4 * c.k_align}) {
            for (float scale : {1.0f, 1e9f}) {  // 1e9: products far beyond the int32 range
              for (size_t m : {size_t{1}, c.mr}) {
                GemmCase tc;
                tc.m = m;
                tc.n = c.nr;
                tc.k = k;
                tc.qmin = qmin;
                tc.qmax = qmax;
                tc.activation = act;
                tc.residual = residual;
                tc.tie_multipliers = ties;
                tc.multiplier_scale = ties ? 1.0f : scale;
                tc.a_stride = tc.k + 5;
                tc.c_stride = tc.n + 3;
                tc.seed = ++seed;
                ASSERT_TRUE(check_gemm_ukernel(c, tc));
              }
            }
          }
        }
      }
    }
  }
  for (GemmOutput out : {GemmOutput::i32, GemmOutput::f32}) {
    for (size_t n : {size_t{1}, c.nr / 2 + 1, c.nr}) {
      GemmCase tc;
      tc.m = c.mr;
      tc.n = n;
      tc.k = 37;
      tc.output = out;
      tc.c_stride = n + 2;
      ASSERT_TRUE(check_gemm_ukernel(c, tc));
    }
  }
}

TEST_P(GemmKernels, IndirectGemm) {
  const GemmConfig& c = *GetParam();
  uint32_t seed = 1;
  for (size_t ks : {1, 2, 9}) {
    for (size_t m : {size_t{1}, c.mr - 1, c.mr}) {
      if (m == 0) continue;
      for (size_t n : {size_t{1}, c.nr - 1, c.nr}) {
        for (size_t k : {size_t{1}, c.kr + 1, 3 * c.k_align - 1}) {
          GemmCase tc;
          tc.m = m;
          tc.n = n;
          tc.k = k;
          tc.ks = ks;
          tc.a_offset = seed % 2 ? 17 : 0;
          tc.a_zero_point = seed % 3 == 0 ? 255 : 128;
          tc.residual = seed % 4 == 0;
          tc.seed = ++seed;
          ASSERT_TRUE(check_igemm_ukernel(c, tc));
        }
      }
    }
  }
  for (Operands o : {Operands::max_pos, Operands::max_neg}) {
    GemmCase tc;
    tc.m = c.mr;
    tc.n = c.nr;
    tc.k = 515;
    tc.ks = 9;
    tc.a_zero_point = 0;
    tc.operands = o;
    tc.output = GemmOutput::i32;
    ASSERT_TRUE(check_igemm_ukernel(c, tc));
  }
}

TEST_P(GemmKernels, DriverTailsAndThreads) {
  const GemmConfig& c = *GetParam();
  TwoThreads two;
  uint32_t seed = 1;
  for (size_t m : {size_t{1}, c.mr + 1, 3 * c.mr - 1, size_t{37}}) {
    for (size_t n : {size_t{1}, c.nr - 1, 2 * c.nr + 3, size_t{67}}) {
      for (TaskRunner* runner : {static_cast<TaskRunner*>(nullptr), static_cast<TaskRunner*>(&two)}) {
        GemmCase tc;
        tc.m = m;
        tc.n = n;
        tc.k = 3 * c.k_align + 1;
        tc.residual = seed % 2 == 0;
        tc.a_stride = seed % 3 == 0 ? tc.k + 9 : 0;
        tc.c_stride = seed % 3 == 1 ? n + 4 : 0;
        tc.seed = ++seed;
        ASSERT_TRUE(check_gemm_driver(c, tc, runner));
      }
    }
  }
}

// Tasks with several row tiles run the widened-B kernel where the config has one: long K with
// tails, odd row counts, column tails, one and two threads.
TEST_P(GemmKernels, DriverSeveralRowTilesLongK) {
  const GemmConfig& c = *GetParam();
  TwoThreads two;
  uint32_t seed = 40;
  for (size_t k : {size_t{1027}, size_t{2061}}) {
    for (TaskRunner* runner : {static_cast<TaskRunner*>(nullptr), static_cast<TaskRunner*>(&two)}) {
      GemmCase tc;
      tc.m = 4 * c.mr + 1;
      tc.n = 3 * c.nr + 5;
      tc.k = k;
      tc.residual = seed % 2 == 0;
      tc.a_stride = seed % 3 == 0 ? k + 7 : 0;
      tc.seed = ++seed;
      ASSERT_TRUE(check_gemm_driver(c, tc, runner));
    }
  }
}

// gemm_run splits the rows when the packed B is small (<= 256 KiB) and the column blocks when it is
// larger: both partitions, with row and column tails, on one and two threads.
TEST_P(GemmKernels, DriverRowAndColumnPartitions) {
  const GemmConfig& c = *GetParam();
  TwoThreads two;
  uint32_t seed = 70;
  // k = 2064: whole k-groups, so the VNNI asm tiles run, the half-width one on the column tails.
  for (size_t k : {size_t{2061}, size_t{2064}}) {
   for (size_t n : {2 * c.nr + 3, size_t{167}}) {  // B of 3 blocks; B of 167 columns x 2061 k > 256 KiB
    for (TaskRunner* runner : {static_cast<TaskRunner*>(nullptr), static_cast<TaskRunner*>(&two)}) {
      GemmCase tc;
      tc.m = 9 * c.mr + 2;
      tc.n = n;
      tc.k = k;
      tc.residual = seed % 2 == 1;
      tc.seed = ++seed;
      ASSERT_TRUE(check_gemm_driver(c, tc, runner));
    }
   }
  }
}

// Configs with a packed-A path run M in row chunks when the packed rows would pass the driver's
// scratch limit (4 MiB: 252 rows of K = 8192 for AVX2): cross one chunk boundary, on two threads.
TEST_P(GemmKernels, DriverPackedARowChunks) {
  const GemmConfig& c = *GetParam();
  if (c.pack_a_row == nullptr) GTEST_SKIP() << "no packed-A path";
  TwoThreads two;
  GemmCase tc;
  tc.m = 4 * 1024 * 1024 / packed_a_row_bytes(c, 8192) + c.mr + 1;
  tc.n = c.nr + 3;
  tc.k = 8192;
  tc.residual = true;
  ASSERT_TRUE(check_gemm_driver(c, tc, &two));
}

std::string config_name(const ::testing::TestParamInfo<const GemmConfig*>& info) {
  return std::string(isa_name(info.param->isa)) + "_w" + std::to_string(info.param->wbits);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmKernels, ::testing::ValuesIn(runnable_configs()), config_name);

TEST(GemmConfigTable, EveryCompiledIsaHasBothWidthsAndTheCpuChoiceRuns) {
  for (Isa isa : compiled_isas()) {
    for (int wbits : {4, 8}) {
      const GemmConfig* c = gemm_config(isa, wbits);
      ASSERT_NE(c, nullptr) << isa_name(isa) << " w" << wbits;
      EXPECT_EQ(c->isa, isa);
      EXPECT_EQ(c->wbits, wbits);
      EXPECT_NE(c->gemm, nullptr);
      EXPECT_NE(c->igemm, nullptr);
      EXPECT_EQ(c->k_align % c->kr, 0u);
    }
  }
  EXPECT_EQ(gemm_config(Isa::ref, 2), nullptr);
  std::string error;
  const GemmConfig* chosen = gemm_config_for_cpu(8, &error);
  ASSERT_NE(chosen, nullptr) << error;
  EXPECT_TRUE(cpu_supports(chosen->isa));
  // Runs on every lane: the lanes set KILN_EXPECT_ISA to the ISA dispatch must pick there.
  if (const char* expect = std::getenv("KILN_EXPECT_ISA"); expect != nullptr && std::getenv("KILN_ISA") == nullptr) {
    EXPECT_EQ(isa_name(chosen->isa), std::string_view(expect));
  }
}

TEST(GemmPack, RejectsBadWeightsAndSizes) {
  const GemmConfig* c8 = gemm_config(Isa::ref, 8);
  const GemmConfig* c4 = gemm_config(Isa::ref, 4);
  std::vector<int8_t> w = {1, -128, 3, 4};
  GemmWeightsSource src;
  src.w = w.data();
  src.n = 2;
  src.kc = 2;
  src.c_stride = 1;
  src.k_stride = 2;
  AlignedBuffer buf(packed_gemm_size(*c8, 2, 1, 2));
  EXPECT_NE(pack_gemm_weights(*c8, src, buf.data(), buf.size()), "");  // -128 is not a legal int8 weight
  w[1] = 8;
  EXPECT_NE(pack_gemm_weights(*c4, src, buf.data(), buf.size()), "");  // 8 is not int4
  w[1] = 7;
  EXPECT_EQ(pack_gemm_weights(*c4, src, buf.data(), buf.size()), "");
  EXPECT_NE(pack_gemm_weights(*c8, src, buf.data(), 3), "");  // too small
  src.kc = 0;
  EXPECT_NE(pack_gemm_weights(*c8, src, buf.data(), buf.size()), "");
  src.kc = 2;
  src.input_zero_point = 256;
  EXPECT_NE(pack_gemm_weights(*c8, src, buf.data(), buf.size()), "");
}

TEST(GemmDriver, RejectsBadProblems) {
  const GemmConfig* c = gemm_config(Isa::ref, 8);
  uint8_t a[4] = {}, out[4] = {};
  AlignedBuffer w(packed_gemm_size(*c, 2, 1, 2));
  GemmProblem pb;
  pb.m = 2;
  pb.n = 2;
  pb.k = 2;
  pb.a = a;
  pb.a_stride = 1;  // < k
  pb.packed = w.data();
  pb.c = out;
  pb.c_stride = 2;
  EXPECT_NE(gemm_run(*c, pb, nullptr), "");
  pb.a_stride = 2;
  pb.c = nullptr;
  EXPECT_NE(gemm_run(*c, pb, nullptr), "");
  pb.c = out;
  pb.residual = a;
  pb.residual_stride = 2;
  pb.epilogue.output = GemmOutput::i32;
  EXPECT_NE(gemm_run(*c, pb, nullptr), "");
  pb.residual = nullptr;
  pb.epilogue.output = GemmOutput::u8;  // out holds 2 x 2 bytes
  EXPECT_EQ(gemm_run(*c, pb, nullptr), "");
}

}  // namespace
}  // namespace kiln::kernels::testing
