// Shared pieces of the convolution tests: random operands for a shape, an epilogue description,
// a test TaskRunner, and the comparison of a conv_run output with conv_ref.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernels/conv.h"
#include "kiln/kernels/conv_shape.h"
#include "kiln/kernels/isa.h"
#include "kiln/kernels/parallel.h"
#include "kiln/kernels/requant.h"

namespace kiln::kernels::testing {

enum class Epilogue : uint8_t { plain, relu6_clamp, hardswish, residual, residual_hardswish };
enum class Values : uint8_t { random, max_pos, max_neg, alternate };

struct ConvCase {
  ConvShape shape;
  int weight_bits = 8;
  int32_t input_zero_point = 128;
  int32_t output_zero_point = 100;
  Epilogue epilogue = Epilogue::plain;
  Values values = Values::random;
  bool tie_multipliers = false;  // powers of two: exact .5 products test round-half-even
  float multiplier_scale = 1.0f;  // > 1: accumulator * multiplier beyond int32 (kernels must clamp first)
  uint32_t seed = 1;
  std::string describe() const;
};

struct ConvOperands {
  std::vector<uint8_t> input;
  std::vector<int8_t> weights;  // OHWI
  std::vector<int32_t> bias;
  std::vector<float> multiplier;
  std::vector<uint8_t> residual;  // dense like the output, when the case has one
  RequantParams params;           // points into this object: do not copy it out
};

void make_operands(const ConvCase& tc, ConvOperands* ops);

// Runs every TaskRunner task, last index first, on the calling thread while claiming two threads:
// exercises a driver's task split without threads in the test.
class ReversedRunner final : public TaskRunner {
 public:
  int threads() const override { return 2; }
  void run(size_t count, TaskFn task, void* context) override {
    for (size_t i = count; i-- > 0;) task(context, i);
  }
};

// Every ISA this build has and this CPU (or emulator) runs.
std::vector<Isa> runnable_isas();

// Packs and runs the case on `isa` (threads: through ReversedRunner) and compares with conv_ref
// exactly; returns the path the driver chose.
ConvPath expect_matches_reference(const ConvCase& tc, Isa isa, bool threaded = false);

}  // namespace kiln::kernels::testing
