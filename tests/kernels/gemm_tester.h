// A generic tester for the GEMM and igemm micro-kernels (in the spirit of XNNPACK's
// gemm-microkernel-tester): builds operands for one case, packs them with the config's packer,
// runs the micro-kernel (or the driver) and compares every output element, exactly, with an
// oracle that works on the UNPACKED weights and calls requant.h's requantize(). Convolution tests
// reuse it through GemmCase::ks (igemm) and gemm_oracle().
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/gemm.h"
#include "kiln/kernels/parallel.h"

namespace kiln::kernels::testing {

enum class Operands : uint8_t {
  random,     // uniform over the whole legal range
  max_pos,    // A = 255, B = +127 (int4: +7): the vpmaddubsw saturation corner
  max_neg,    // A = 255, B = -127 (int4: -8)
  alternate,  // A alternating 255 / 0, B alternating max / min
};

struct GemmCase {
  size_t m = 1, n = 1, k = 1;
  size_t ks = 1;           // igemm only: segments per row
  size_t a_stride = 0;     // 0: k (gemm) / kc (igemm rows)
  size_t c_stride = 0;     // 0: n
  int32_t a_zero_point = 128;
  int32_t c_zero_point = 128;
  int32_t qmin = 0, qmax = 255;
  Activation activation = Activation::none;
  bool residual = false;
  GemmOutput output = GemmOutput::u8;
  Operands operands = Operands::random;
  bool tie_multipliers = false;  // power-of-two multipliers: exact .5 products test round-half-even
  float multiplier_scale = 1.0f;  // e.g. 1e9: products far beyond the int32 range, both signs
  bool igemm_zero_rows = true;   // igemm: point some segments at the zero row
  size_t a_offset = 0;           // igemm: byte offset applied to non-zero pointers
  uint32_t seed = 1;

  std::string describe() const;
};

// The operands of one case (deterministic in the seed).
struct GemmOperands {
  std::vector<int8_t> w;         // [ks][kc][n] row-major: element (p, k, c) at (p * k + k_) * n + c
  std::vector<int32_t> bias;     // n
  std::vector<float> multiplier; // n
  std::vector<uint8_t> a;        // gemm: m rows of a_stride; igemm: the pool the pointers point into
  std::vector<uint8_t> residual; // m rows of n, when the case has one
  float residual_multiplier = 0.0f;
  int32_t residual_zero_point = 0;
  float out_scale = 1.0f;
};

GemmOperands make_operands(const GemmCase& tc, int wbits);
GemmEpilogue make_epilogue(const GemmCase& tc, const GemmOperands& ops);

// The oracle: rows[m][p] points at the kc values of segment p of row m (ks = 1 for gemm).
// Writes m * n elements of the output type (row stride n) into `out` (bytes).
void gemm_oracle(const GemmCase& tc, const GemmOperands& ops, const std::vector<std::vector<const uint8_t*>>& rows,
                 std::vector<uint8_t>* out);

// One micro-kernel call (tc.m <= mr, tc.n <= nr) of config.gemm, against the oracle.
::testing::AssertionResult check_gemm_ukernel(const GemmConfig& config, const GemmCase& tc);
// One micro-kernel call of config.igemm (tc.k is kc, tc.ks segments per row).
::testing::AssertionResult check_igemm_ukernel(const GemmConfig& config, const GemmCase& tc);
// gemm_run over any m, n, with `runner` (nullptr: inline).
::testing::AssertionResult check_gemm_driver(const GemmConfig& config, const GemmCase& tc, TaskRunner* runner);

// The configs this build has and this CPU (or emulator) runs, both weight widths.
std::vector<const GemmConfig*> runnable_configs();

}  // namespace kiln::kernels::testing
